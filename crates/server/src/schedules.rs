//! Retention that runs, over HTTP and on the server's own clock: the schedules' endpoints
//! (list, run, the runs, the review queue's approve and reject) and the scheduler, a thread
//! that queues a `schedule` job whenever one of the model's schedules is due — the job runner
//! runs it like any other job, so it shows in the jobs list with its report.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::schedule::RunState;
use offboard_engine::{Actor, Engine};
use offboard_model::model::Role;
use offboard_model::Model;
use offboard_store::jobs::{JobBook, JobStatus};
use offboard_store::{Database, StoreError};

use crate::api::{act, Body, Caller};
use crate::jobs::Signal;
use crate::lifecycle::{Command, ScheduleBody};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/schedules", get(list))
        .route("/api/v1/schedules/run", post(run))
        .route("/api/v1/schedules/runs", get(runs))
        .route("/api/v1/schedules/runs/{id}/approve", post(approve))
        .route("/api/v1/schedules/runs/{id}/reject", post(reject))
}

/// `GET /api/v1/schedules`: each schedule, whether it is due, its last run, a run waiting.
async fn list(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(
            serde_json::to_value(e.schedules()?).unwrap_or(Value::Null),
        ))
    })
    .await
}

/// `POST /api/v1/schedules/run`: runs the due schedules (or `schedule`; `force` even when it
/// ran in this period; `dry_run` says what each would do), now or as a job.
async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<ScheduleBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    crate::lifecycle::run_command(&state, caller, Command::Schedule(b), background).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunsQuery {
    schedule: Option<String>,
    /// done, review, approved, rejected
    state: Option<String>,
    limit: Option<u64>,
}

/// `GET /api/v1/schedules/runs`: newest first; `state=review` is the review queue.
async fn runs(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = match q.state.as_deref() {
        None => None,
        Some("done") => Some(RunState::Done),
        Some("review") => Some(RunState::Review),
        Some("approved") => Some(RunState::Approved),
        Some("rejected") => Some(RunState::Rejected),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown run state `{other}`; states are: done, review, approved, rejected"
            )))
        }
    };
    act(&state, caller, move |e| {
        let runs = e.schedule_runs(q.schedule.as_deref(), wanted, q.limit.unwrap_or(50))?;
        Ok(Json(serde_json::to_value(runs).unwrap_or(Value::Null)))
    })
    .await
}

/// `?dry_run=true`: what the approval would do now; `?plan=FINGERPRINT`: approve only that.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApproveQuery {
    #[serde(default)]
    dry_run: bool,
    plan: Option<String>,
}

/// `POST /api/v1/schedules/runs/{id}/approve`: applies what the run proposed (those of its
/// customers that still match), as the approver, who needs the schedule's review role.
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<ApproveQuery>,
) -> Result<Json<Value>, ApiError> {
    let out = crate::api::act_heavy(&state, caller, move |e| {
        if q.dry_run {
            return Ok(e.approval_preview(id)?);
        }
        e.expect_plan(q.plan);
        Ok(e.approve_run(id)?)
    })
    .await?;
    state.counts().changed();
    Ok(Json(serde_json::to_value(out).unwrap_or(Value::Null)))
}

/// `POST /api/v1/schedules/runs/{id}/reject`: nothing is applied; the run is closed.
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let run = act(&state, caller, move |e| Ok(e.reject_run(id)?)).await?;
    Ok(Json(json!(run)))
}

/// Who the scheduler's runs are logged as. It has the administrator's role: the model file,
/// which only its owner edits, is what allowed each schedule.
pub(crate) fn scheduler_actor() -> Actor {
    Actor {
        name: "scheduler".into(),
        role: Role::Admin,
    }
}

/// The server's scheduler: every `every`, it looks for due schedules and queues one
/// `schedule` job for them. A schedule that is due but whose run failed is tried again after
/// [`RETRY`], not on every tick.
pub(crate) struct Scheduler {
    pub(crate) url: String,
    pub(crate) model: Model,
    pub(crate) every: Duration,
    pub(crate) signal: Arc<Signal>,
    /// Wakes the job runner once a job is queued.
    pub(crate) jobs: Arc<Signal>,
}

/// How long a due schedule whose job did not run it waits before it is queued again.
const RETRY: Duration = Duration::from_secs(10 * 60);

impl Scheduler {
    pub(crate) fn run(self) {
        let mut queued: HashMap<String, (String, Instant)> = HashMap::new();
        loop {
            if self.signal.wait(self.every) {
                return;
            }
            if let Err(e) = self.tick(&mut queued) {
                tracing::warn!(error = %e, "the scheduler could not look for due schedules");
            }
        }
    }

    fn tick(&self, queued: &mut HashMap<String, (String, Instant)>) -> Result<(), StoreError> {
        let mut store = Database::open(&self.url)?.applied(self.model.clone());
        let states = Engine::new(&mut store, scheduler_actor())
            .schedules()
            .map_err(|e| StoreError::Refused(e.to_string()))?;
        let due: Vec<String> = states
            .iter()
            .filter(|s| s.due && s.waiting.is_none())
            .filter(|s| {
                queued
                    .get(&s.schedule.id)
                    .is_none_or(|(p, at)| *p != s.period || at.elapsed() > RETRY)
            })
            .map(|s| s.schedule.id.clone())
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let mut book = JobBook::open(&self.url)?;
        // A schedule job already waiting or running does the work.
        let pending = book
            .list(Some(JobStatus::Queued), Some("schedule"), 1)?
            .len()
            + book
                .list(Some(JobStatus::Running), Some("schedule"), 1)?
                .len();
        if pending > 0 {
            return Ok(());
        }
        let a = scheduler_actor();
        let command = Command::Schedule(ScheduleBody::default());
        let job = book.submit(command.name(), &a.name, a.role.name(), &command.request())?;
        for s in states.iter().filter(|s| due.contains(&s.schedule.id)) {
            queued.insert(s.schedule.id.clone(), (s.period.clone(), Instant::now()));
        }
        tracing::info!(job = job.id, schedules = %due.join(", "), "schedules due: queued");
        self.jobs.wake();
        Ok(())
    }
}
