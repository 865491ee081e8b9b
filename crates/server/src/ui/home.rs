//! The home page a manager opens in the morning: customers by status, the recycle bin and its
//! next cleanup, open privacy requests with their due dates, jobs that run or wait, schedule
//! runs waiting for approval and the latest operations — each linking to its page. What the
//! viewer may not see (the audit log, requests) is left out, not refused.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{json, Value};

use offboard_engine::schedule::RunState;
use offboard_model::model::{Operation, ScheduleRun};
use offboard_store::privacy::RequestFilter;

use super::{render, ui, when, Viewer};
use crate::AppState;

/// Operations shown under "Latest operations".
const RECENT: usize = 8;

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let book = state.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let counts = e.read().stats()?.customers;
        let viewer = Viewer::of(e);
        // The next cleanup: the schedule that purges, when the model has one.
        let cleanup = e
            .schedules()?
            .into_iter()
            .find(|s| s.schedule.run == ScheduleRun::Purge)
            .map(|s| {
                json!({
                    "label": s.schedule.label,
                    "due": s.due,
                    "next": s.next.as_deref().map(when),
                    "waiting": s.waiting,
                })
            });
        let reviews: Vec<Value> = e
            .schedule_runs(None, Some(RunState::Review), 20)?
            .iter()
            .map(|r| json!({ "id": r.id, "schedule": r.schedule, "customers": r.customers.len() }))
            .collect();
        let requests: Option<Vec<Value>> = if e.allow(Operation::Edit).is_ok() {
            let mut open = e.requests(&RequestFilter {
                open: true,
                ..RequestFilter::default()
            })?;
            open.sort_by(|a, b| a.due_on.cmp(&b.due_on));
            Some(
                open.iter()
                    .map(|r| {
                        json!({
                            "id": r.id,
                            "type": r.kind.name(),
                            "status": r.status.name(),
                            "number": r.customer_number,
                            "due": when(&r.due_on),
                            "overdue": r.overdue,
                        })
                    })
                    .collect(),
            )
        } else {
            None
        };
        let jobs: Vec<Value> = book
            .with_book(|b| Ok(b.list(None, None, 50)?))?
            .iter()
            .filter(|j| !j.status.is_final())
            .map(|j| {
                json!({
                    "id": j.id,
                    "title": super::jobs::job_title(j),
                    "status": j.status.name(),
                    "percent": super::jobs::percent(j),
                    "actor": j.actor,
                })
            })
            .collect();
        // The latest operations, one line each however many customers they touched.
        let recent: Option<Vec<Value>> = if e.allow(Operation::Audit).is_ok() {
            let entries = e.read().audit(None, Some(500))?;
            let mut ops: Vec<(i64, Value, usize)> = Vec::new();
            for entry in &entries {
                let key = entry.op.unwrap_or(entry.seq);
                let full = ops.len() >= RECENT;
                match ops.iter_mut().find(|(k, _, _)| *k == key) {
                    Some((_, _, n)) => *n += usize::from(entry.customer_id.is_some()),
                    None if !full => ops.push((
                        key,
                        json!({
                            "seq": key,
                            "operation": crate::ui::customers::human(&entry.operation),
                            "actor": entry.actor,
                            "at": when(&entry.at),
                            "number": entry.customer_number,
                            "name": entry.customer_name,
                        }),
                        usize::from(entry.customer_id.is_some()),
                    )),
                    None => {}
                }
            }
            Some(
                ops.into_iter()
                    .map(|(_, mut v, n)| {
                        v["customers"] = json!(n);
                        v
                    })
                    .collect(),
            )
        } else {
            None
        };
        Ok((viewer, counts, cleanup, reviews, requests, jobs, recent))
    })
    .await;
    let (viewer, counts, cleanup, reviews, requests, jobs, recent) = match result {
        Ok(v) => v,
        Err(page) => return page,
    };
    let overdue = requests
        .as_ref()
        .map_or(0, |r| r.iter().filter(|r| r["overdue"] == true).count());
    render(
        "home.html",
        "Today",
        Some(&viewer),
        json!({
            "counts": counts,
            "cleanup": cleanup,
            "reviews": reviews,
            "requests": requests,
            "overdue": overdue,
            "jobs": jobs,
            "recent": recent,
        }),
    )
}
