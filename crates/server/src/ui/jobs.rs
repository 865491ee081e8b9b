//! The jobs page: what runs in the background, what waits its turn and what finished — each
//! with its progress, who asked and when, and Cancel for one that has not committed.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use offboard_model::model::Operation;
use offboard_store::jobs::Job;

use super::{render, ui, when, Viewer};
use crate::lifecycle::Command;
use crate::{ApiError, AppState};

/// Jobs a page lists, newest first.
const SHOWN: u64 = 100;

/// The phases of a lifecycle job, in order (the progress bar walks them).
const PHASES: [&str; 6] = [
    "candidates",
    "blockers",
    "orphan_fixpoint",
    "effects",
    "audit",
    "commit",
];

/// What a job does, as a title: "Cleanup of the recycle bin", "Deactivation".
pub(crate) fn title(operation: &str) -> String {
    match operation {
        "purge" => "Cleanup of the recycle bin".to_string(),
        "deactivate" => "Deactivation".to_string(),
        "reactivate" => "Reactivation".to_string(),
        "delete" => "Deletion".to_string(),
        "undelete" => "Undeletion".to_string(),
        "record_delete" => "Deletion of records".to_string(),
        "schedule" => "Scheduled runs".to_string(),
        other => crate::ui::customers::human(other),
    }
}

/// A job's title, saying so when it only previews ("Cleanup of the recycle bin (preview)").
pub(crate) fn job_title(job: &Job) -> String {
    let preview = job.request.get("dry_run") == Some(&serde_json::Value::Bool(true));
    let title = title(&job.operation);
    if preview {
        format!("{title} (preview)")
    } else {
        title
    }
}

/// The phase a running job is in, in words.
pub(crate) fn phase_text(phase: &str) -> String {
    match phase {
        "candidates" => "Reading the customers".to_string(),
        "blockers" => "Checking what blocks each customer".to_string(),
        "orphan_fixpoint" => "Checking what would be left without its customer".to_string(),
        "effects" => "Erasing".to_string(),
        "audit" => "Writing the audit log".to_string(),
        "commit" => "Saving".to_string(),
        other => other.to_string(),
    }
}

/// How far a job is, 0–100: the phases passed, and within a phase its own count.
pub(crate) fn percent(job: &Job) -> f64 {
    if job.status.is_final() {
        return 100.0;
    }
    let phase = job.phase.as_deref().unwrap_or_default();
    let at = PHASES.iter().position(|p| *p == phase).unwrap_or(0) as f64;
    let within = if job.progress.total > 0 {
        job.progress.done as f64 / job.progress.total as f64
    } else {
        0.0
    };
    ((at + within) / PHASES.len() as f64 * 100.0).round()
}

/// Whether the viewer may cancel `job`: it has not finished, and they hold the permission of
/// its operation (as the API's `DELETE /api/v1/jobs/{id}` asks).
pub(crate) fn may_cancel(e: &offboard_engine::Engine<'_>, job: &Job) -> bool {
    !job.status.is_final()
        && !job.cancel_requested
        && Command::from_job(&job.operation, &job.request).is_ok_and(|c| c.allow(e).is_ok())
}

/// `GET /jobs`: running and queued first, then the finished, newest first.
pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let book = state.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let jobs = book.with_book(|b| Ok(b.list(None, None, SHOWN)?))?;
        let rows: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                json!({
                    "id": j.id,
                    "title": job_title(j),
                    "status": j.status.name(),
                    "running": !j.status.is_final(),
                    "cancelling": j.cancel_requested && !j.status.is_final(),
                    "phase": j.phase.as_deref().map(phase_text),
                    "progress": j.progress,
                    "percent": percent(j),
                    "actor": j.actor,
                    "created": when(&j.created_at),
                    "finished": j.finished_at.as_deref().map(when),
                    "may_cancel": may_cancel(e, j),
                })
            })
            .collect();
        Ok((Viewer::of(e), rows))
    })
    .await;
    let (viewer, mut rows) = match result {
        Ok(v) => v,
        Err(page) => return page,
    };
    // Unfinished first (the list is newest first within each group).
    rows.sort_by_key(|r| !r["running"].as_bool().unwrap_or(false));
    let running = rows.iter().any(|r| r["running"] == true);
    let page = render(
        "jobs.html",
        "Jobs",
        Some(&viewer),
        json!({ "jobs": rows, "running": running, "shown": SHOWN }),
    );
    // Without scripts the page follows the running jobs by reloading itself.
    following(page, running, "2")
}

/// A page that follows unfinished jobs reloads itself every `seconds` (without scripts too).
fn following(mut page: Response, running: bool, seconds: &'static str) -> Response {
    if running {
        page.headers_mut().insert(
            axum::http::header::REFRESH,
            axum::http::HeaderValue::from_static(seconds),
        );
    }
    page
}

/// `GET /jobs/{id}`: a background job's progress (the page reloads itself while it runs), then
/// its report.
pub async fn job_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let book = state.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let job = book
            .with_book(|b| Ok(b.get(id)?))?
            .ok_or_else(|| ApiError::not_found(format!("there is no job {id}")))?;
        let may_cancel = may_cancel(e, &job);
        Ok((Viewer::of(e), job, may_cancel))
    })
    .await;
    let (actor, job, may_cancel) = match result {
        Ok(v) => v,
        Err(page) => return page,
    };
    let running = !job.status.is_final();
    let phase_text = phase_text(job.phase.as_deref().unwrap_or_default());
    let percent = percent(&job);
    let plan = job.plan.clone().unwrap_or(Value::Null);
    let counts: Vec<(String, i64)> = plan
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_i64().map(|n| (k.clone(), n)))
        .collect();
    // A schedule job ran several schedules: one line each.
    let lines: Vec<String> = plan
        .get("schedules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|o| {
            format!(
                "{}: {}",
                o["label"].as_str().unwrap_or_default(),
                o["message"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let page = super::changed(render(
        "job.html",
        &format!("{} (job {id})", job_title(&job)),
        Some(&actor),
        json!({
            "job": job,
            "started": job.started_at.as_deref().map(super::when),
            "finished": job.finished_at.as_deref().map(super::when),
            "running": running,
            "may_cancel": may_cancel,
            "phase_text": phase_text,
            "percent": percent,
            "counts": counts,
            "lines": lines,
            "error": job.error.as_ref().and_then(|e| e.get("message")).and_then(Value::as_str),
        }),
    ));
    following(page, running, "1")
}

/// `POST /jobs/{id}/cancel`: a queued job is cancelled at once, a running one at its next
/// step (its transaction rolls back); back to the job's page.
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let book = state.clone();
    let result = ui(&state, &headers, move |e| {
        let job = book
            .with_book(|b| Ok(b.get(id)?))?
            .ok_or_else(|| ApiError::not_found(format!("there is no job {id}")))?;
        Command::from_job(&job.operation, &job.request)?.allow(e)?;
        book.with_book(|b| Ok(b.cancel(id)?))
    })
    .await;
    match result {
        Ok(_) => {
            state.jobs_signal().wake();
            super::changed(Redirect::to(&format!("/jobs/{id}")).into_response())
        }
        Err(page) => page,
    }
}
