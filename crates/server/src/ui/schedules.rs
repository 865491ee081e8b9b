//! The Schedules page: what runs by itself (the model's `[[schedule]]`s, when each is due,
//! what its last run did), the review queue — each waiting run with the customers it
//! proposes, approved or rejected by whoever holds the schedule's review role — and the
//! recent runs.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use offboard_engine::schedule::{Run, RunState};
use offboard_model::model::{Operation, View};
use offboard_store::customers::ListQuery;

use super::{render, ui, ui_heavy, when, Viewer};
use crate::lifecycle::{Command, ScheduleBody};
use crate::AppState;

/// How many of a waiting run's customers the page lists by name.
const SHOWN: usize = 50;

/// What a form on the page did, said at its top.
enum Said {
    Done(String),
    Refused(String),
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    schedules_page(&state, &headers, None).await
}

async fn schedules_page(state: &AppState, headers: &HeaderMap, said: Option<Said>) -> Response {
    let refused = matches!(said, Some(Said::Refused(_)));
    let result = ui(state, headers, |e| {
        let schedules = e.schedules()?;
        let waiting = e.schedule_runs(None, Some(RunState::Review), 20)?;
        let recent = e.schedule_runs(None, None, 20)?;
        let may_run = e.allow(Operation::Purge).is_ok();
        let role = e.actor().role;
        // The customers each waiting run proposes, by name (one query per run, a page's few).
        let mut proposed = Vec::new();
        for run in &waiting {
            let ids: Vec<i64> = run.customers.iter().take(SHOWN).copied().collect();
            let mut rows = Vec::new();
            let query = ListQuery {
                ids: Some(ids),
                ..ListQuery::view(View::All)
            };
            // The date the schedule goes by (a last order, a deactivation), as a reviewer
            // checks it beside the status and the reason.
            let since = schedules
                .iter()
                .find(|s| s.schedule.id == run.schedule)
                .and_then(|s| s.schedule.since.clone());
            e.read().list_customers(&query, &mut |c| {
                let day = |v: &offboard_model::Value| match v.to_cell() {
                    t if t.is_empty() => "–".to_string(),
                    t => when(&t),
                };
                let since_value = since.as_deref().map(|f| match f {
                    "deactivated_on" => day(&c.deactivated_on),
                    "deleted_at" => day(&c.deleted_at),
                    "created_at" => day(&c.created_at),
                    other => c
                        .fields
                        .get(other)
                        .and_then(Value::as_str)
                        .map_or_else(|| "–".to_string(), when),
                });
                rows.push(json!({
                    "id": c.id, "number": c.number, "name": c.name,
                    "status": c.status.name(), "kind": c.kind,
                    "deactivated": day(&c.deactivated_on),
                    "reason": c.deactivation_reason,
                    "since": since_value,
                }));
                Ok(())
            })?;
            let since_label = since
                .as_deref()
                .filter(|f| *f != "deactivated_on")
                .map(super::customers::human);
            let review = schedules
                .iter()
                .find(|s| s.schedule.id == run.schedule)
                .map(|s| s.schedule.review.clone())
                .unwrap_or_default();
            let decides = review.contains(&role);
            let reviewer = review.first().map_or("manager", |r| r.name());
            // What the approval does now, and the plan the button binds it to.
            let now = if decides {
                e.approval_preview(run.id).ok()
            } else {
                None
            };
            let label = schedules
                .iter()
                .find(|s| s.schedule.id == run.schedule)
                .map_or_else(|| run.schedule.clone(), |s| s.schedule.label.clone());
            proposed.push((
                run.clone(),
                rows,
                decides,
                reviewer,
                (label, since_label),
                now,
            ));
        }
        Ok((Viewer::of(e), schedules, proposed, recent, may_run))
    })
    .await;
    let (viewer, schedules, proposed, recent, may_run) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let schedules: Vec<Value> = schedules
        .iter()
        .map(|s| {
            json!({
                "id": s.schedule.id,
                "label": s.schedule.label,
                "description": s.description,
                "due": s.due,
                "next": s.next.as_deref().map(when),
                "waiting": s.waiting,
                "last": s.last.as_ref().map(run_view),
            })
        })
        .collect();
    let waiting: Vec<Value> = proposed
        .iter()
        .map(
            |(run, rows, decides, reviewer, (label, since_label), now)| {
                let mut v = run_view(run);
                if let Some(now) = now {
                    v["now"] = json!(now.message);
                    v["plan"] = now.plan["fingerprint"].clone();
                }
                v["customers"] = json!(rows);
                v["more"] = json!(run.customers.len().saturating_sub(rows.len()));
                v["count"] = json!(run.customers.len());
                v["decides"] = json!(decides);
                v["reviewer"] = json!(reviewer);
                v["label"] = json!(label);
                v["since_label"] = json!(since_label);
                v
            },
        )
        .collect();
    let said = said.map(|s| match s {
        Said::Done(m) => json!({ "ok": true, "message": m }),
        Said::Refused(m) => json!({ "ok": false, "message": m }),
    });
    let mut page = render(
        "schedules.html",
        "Schedules",
        Some(&viewer),
        json!({
            "schedules": schedules,
            "waiting": waiting,
            "recent": recent.iter().map(run_view).collect::<Vec<_>>(),
            "may_run": may_run,
            "said": said,
        }),
    );
    if refused {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

/// A run as the page shows it: when, what it did in words.
fn run_view(r: &Run) -> Value {
    let report = &r.report;
    let n = |k: &str| report.get(k).and_then(Value::as_i64).unwrap_or(0);
    let what = match report.get("operation").and_then(Value::as_str) {
        Some(op) => {
            let done = match op {
                "purge" => n("purged"),
                "delete" => n("deleted"),
                "deactivate" => n("deactivated"),
                _ => n("done"),
            };
            let verb = match op {
                "purge" => "erased",
                "delete" => "deleted",
                "deactivate" => "deactivated",
                _ => "done",
            };
            let mut s = if r.state == RunState::Review {
                let verb = match op {
                    "purge" => "erase",
                    other => other,
                };
                format!(
                    "{verb} {} customer{}",
                    r.customers.len(),
                    if r.customers.len() == 1 { "" } else { "s" }
                )
            } else {
                format!("{done} {verb}")
            };
            if n("blocked") > 0 {
                s.push_str(&format!(", {} blocked", n("blocked")));
            }
            s
        }
        None => match report.get("rewritten").and_then(Value::as_array) {
            Some(t) => format!("rewrote {} table(s)", t.len()),
            None => String::new(),
        },
    };
    json!({
        "id": r.id,
        "schedule": r.schedule,
        "period": period_words(&r.period),
        "at": when(&r.ran_at),
        "actor": r.actor,
        "state": r.state.name(),
        "what": what,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.as_deref().map(when),
    })
}

/// `POST /schedules/runs/{id}/approve`.
pub async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Response {
    let expected = super::operations::planned(&body);
    // An approval applies the run to every customer listed: the reviewer ticks that they
    // looked first.
    let checked = super::field(&super::form(&body), "confirm").as_deref() == Some("yes");
    let result = ui_heavy(&state, &headers, move |e| {
        if !checked {
            e.allow(offboard_model::model::Operation::View)?;
            return Ok(Said::Refused(format!(
                "Run {id} was not approved: tick that you have checked its customers first."
            )));
        }
        e.expect_plan(expected);
        Ok(match e.approve_run(id) {
            Ok(o) => Said::Done(format!(
                "Approved run {id} of “{}”: {}.",
                o.label, o.message
            )),
            Err(err) => refused(err)?,
        })
    })
    .await;
    state.counts().changed();
    match result {
        Ok(said) => super::changed(schedules_page(&state, &headers, Some(said)).await),
        Err(page) => page,
    }
}

/// `POST /schedules/runs/{id}/reject`.
pub async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        Ok(match e.reject_run(id) {
            Ok(r) => Said::Done(format!(
                "Rejected run {id} of {}: nothing was applied to its {} customer{}.",
                r.schedule,
                r.customers.len(),
                if r.customers.len() == 1 { "" } else { "s" }
            )),
            Err(err) => refused(err)?,
        })
    })
    .await;
    match result {
        Ok(said) => schedules_page(&state, &headers, Some(said)).await,
        Err(page) => page,
    }
}

/// `POST /schedules/run`: the due schedules, queued as a job (needs `purge`).
pub async fn run_now(State(state): State<AppState>, headers: HeaderMap) -> Response {
    super::operations::queue(&state, &headers, |_| {
        Ok(Command::Schedule(ScheduleBody::default()))
    })
    .await
}

/// A refusal said on the page — except a missing permission, which is an error page (403).
fn refused(err: offboard_engine::EngineError) -> Result<Said, crate::ApiError> {
    let err = crate::ApiError::from(err);
    if err.status == axum::http::StatusCode::FORBIDDEN {
        return Err(err);
    }
    Ok(Said::Refused(err.message))
}

/// A run's period as people say it: "week 50, 2026" for `2026-W50`, "December 2026" for
/// `2026-12`, "7 Dec 2026" for a day, "7 Dec 2026, 14:00" for an hour.
fn period_words(period: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    if let Some((year, week)) = period.split_once("-W") {
        if let Ok(w) = week.parse::<u32>() {
            return format!("week {w}, {year}");
        }
    }
    match period.len() {
        7 => match period[5..].parse::<usize>() {
            Ok(m @ 1..=12) => format!("{} {}", MONTHS[m - 1], &period[..4]),
            _ => period.to_string(),
        },
        10 => when(period),
        13 => format!("{}, {}:00", when(&period[..10]), &period[11..]),
        _ => period.to_string(),
    }
}
