//! Background jobs: `GET /api/v1/jobs`, `GET /api/v1/jobs/{id}`, `DELETE /api/v1/jobs/{id}`,
//! and the runner that works through the queue.
//!
//! A job is a row of the job book (see `offboard_store::jobs`). One runner per database takes
//! the oldest queued job, runs its [`Command`] through the engine on a connection of its own,
//! writes each step to the book as the operation reaches it (another connection reads it
//! while the job's transaction is open), and stops at the next step when a cancellation is
//! asked for (the transaction rolls back). The job's result is written inside its
//! transaction, so a job that was running when its server died is known not to have
//! committed: `interrupted`, nothing of it applied. One job runs at a time per database
//! (PostgreSQL: an advisory lock held by the runner), so a second one queues instead of
//! meeting a lock.

use std::sync::{Arc, Condvar, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::{Actor, Engine, Step};
use offboard_model::model::{Operation, Role};
use offboard_model::Model;
use offboard_store::jobs::{Job, JobBook, JobPlan, JobStatus};
use offboard_store::{Database, StoreError};

use crate::api::{act, Caller};
use crate::lifecycle::Command;
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", get(list))
        .route("/api/v1/jobs/{id}", get(show).delete(cancel))
}

/// What the request handlers and the runner share: the wake-up call and the stop signal.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<Wake>,
    cond: Condvar,
}

#[derive(Default)]
struct Wake {
    /// A job was queued or cancelled since the runner last looked.
    pending: bool,
    /// The server is stopping: finish the running job, start no other.
    stop: bool,
}

impl Signal {
    pub(crate) fn wake(&self) {
        if let Ok(mut w) = self.state.lock() {
            w.pending = true;
            self.cond.notify_all();
        }
    }

    pub(crate) fn stop(&self) {
        if let Ok(mut w) = self.state.lock() {
            w.stop = true;
            self.cond.notify_all();
        }
    }

    fn stopping(&self) -> bool {
        self.state.lock().map(|w| w.stop).unwrap_or(true)
    }

    /// Waits until woken or `timeout` passes; whether to stop.
    pub(crate) fn wait(&self, timeout: std::time::Duration) -> bool {
        let Ok(w) = self.state.lock() else {
            return true;
        };
        let (mut w, _) = match self
            .cond
            .wait_timeout_while(w, timeout, |w| !w.pending && !w.stop)
        {
            Ok(r) => r,
            Err(_) => return true,
        };
        w.pending = false;
        w.stop
    }
}

/// How a job looks in the API: the book's row.
pub(crate) fn job_json(job: &Job) -> Value {
    serde_json::to_value(job).unwrap_or(Value::Null)
}

/// Queues `command` for `actor`, once the actor's permission for it is checked.
pub(crate) async fn submit(
    state: &AppState,
    caller: Caller,
    command: Command,
) -> Result<Response, ApiError> {
    let book_state = state.clone();
    let job = act(state, caller, move |e| {
        command.allow(e)?;
        let a = e.actor().clone();
        book_state.with_book(|book| {
            Ok(book.submit(command.name(), &a.name, a.role.name(), &command.request())?)
        })
    })
    .await?;
    state.jobs_signal().wake();
    let location = format!("/api/v1/jobs/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job_json(&job)),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    operation: Option<String>,
    limit: Option<u64>,
}

/// `GET /api/v1/jobs`: newest first; `status` and `operation` filter.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown job status `{s}`; statuses are: {}",
                JobStatus::ALL.map(|j| j.name()).join(", ")
            ))
        })?),
    };
    if let Some(o) = p.operation.as_deref() {
        if !Command::NAMES.contains(&o) {
            return Err(ApiError::bad_request(format!(
                "unknown operation `{o}`; operations are: {}",
                Command::NAMES.join(", ")
            )));
        }
    }
    let book_state = state.clone();
    act(&state, caller, move |e| {
        e.allow(Operation::View)?;
        let jobs = book_state.with_book(|book| {
            Ok(book.list(status, p.operation.as_deref(), p.limit.unwrap_or(100))?)
        })?;
        Ok(Json(json!(jobs.iter().map(job_json).collect::<Vec<_>>())))
    })
    .await
}

/// `GET /api/v1/jobs/{id}`.
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let book_state = state.clone();
    act(&state, caller, move |e| {
        e.allow(Operation::View)?;
        let job = book_state.with_book(|book| Ok(book.get(id)?))?;
        job.map(|j| Json(job_json(&j)))
            .ok_or_else(|| ApiError::not_found(format!("there is no job {id}")))
    })
    .await
}

/// `DELETE /api/v1/jobs/{id}`: cancels a job that has not committed. A queued one is
/// cancelled at once; a running one at its next step, and its transaction rolls back. The
/// caller needs the permission of the job's operation.
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let book_state = state.clone();
    let job = act(&state, caller, move |e| {
        let job = book_state
            .with_book(|book| Ok(book.get(id)?))?
            .ok_or_else(|| ApiError::not_found(format!("there is no job {id}")))?;
        Command::from_job(&job.operation, &job.request)?.allow(e)?;
        let job = book_state.with_book(|book| Ok(book.cancel(id)?))?;
        Ok(job)
    })
    .await?;
    state.jobs_signal().wake();
    Ok(Json(job_json(&job)))
}

/// What the runner needs: where the database is, its model, and how to be told.
pub(crate) struct Runner {
    pub(crate) url: String,
    pub(crate) model: Model,
    pub(crate) signal: Arc<Signal>,
    /// A pause as each phase begins (for demonstrations and tests of progress and cancellation).
    pub(crate) step_delay: std::time::Duration,
    /// The lists' cached totals, stale once a job changed something.
    pub(crate) counts: Arc<crate::requests::CountCache>,
}

impl Runner {
    /// Works through the queue until told to stop (the running job finishes first).
    pub(crate) fn run(self) {
        loop {
            match self.serve_queue() {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(error = %e, "the job runner failed; it starts again");
                    if self.signal.wait(std::time::Duration::from_secs(2)) {
                        return;
                    }
                }
            }
        }
    }

    fn serve_queue(&self) -> Result<(), StoreError> {
        let mut book = JobBook::open(&self.url)?;
        // Another server's runner may be at work on this database: wait for its lock.
        while !book.become_runner()? {
            if self.signal.wait(std::time::Duration::from_secs(1)) {
                return Ok(());
            }
        }
        let mut store = Database::open(&self.url)?.applied(self.model.clone());
        // Plans kept before the book held no personal values lose them now.
        let stripped = book.strip_personal(store.db(), &self.model)?;
        if stripped > 0 {
            tracing::info!(stripped, "job plans rewritten without personal values");
        }
        // No runner works now: a job still marked running died with its server.
        let interrupted = book.recover(store.db())?;
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "jobs were running when the server stopped; nothing of them was applied"
            );
        }
        loop {
            if self.signal.stopping() {
                return Ok(());
            }
            match book.claim_next()? {
                Some(job) => self.run_job(&mut book, &mut store, job)?,
                None => {
                    if self.signal.wait(std::time::Duration::from_secs(1)) {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn run_job(
        &self,
        book: &mut JobBook,
        store: &mut offboard_store::Store,
        job: Job,
    ) -> Result<(), StoreError> {
        tracing::info!(job = job.id, operation = %job.operation, actor = %job.actor, "job started");
        let id = job.id;
        let result = (|| {
            let command = Command::from_job(&job.operation, &job.request)?;
            let role = Role::parse(&job.role).ok_or_else(|| {
                ApiError::internal(format!("the job's role `{}` is unknown", job.role))
            })?;
            let actor = Actor {
                name: job.actor.clone(),
                role,
            };
            let delay = self.step_delay;
            let mut phase = String::new();
            let mut report = |step: &Step<'_>| {
                if let Err(e) = book.progress(id, step.phase, step.done as i64, step.total as i64) {
                    tracing::warn!(job = id, error = %e, "cannot record the job's progress");
                }
                // The pause comes once per phase, as it begins (a phase reports many steps).
                if !delay.is_zero() && phase != step.phase {
                    phase = step.phase.to_string();
                    std::thread::sleep(delay);
                }
                !book.cancel_requested(id).unwrap_or(false)
            };
            let model = &self.model;
            let mut record = |db: &mut dyn offboard_store::Db, plan: &Value| {
                offboard_store::jobs::record_result(db, id, &JobPlan::of(plan, model))
            };
            let mut engine = Engine::new(store, actor);
            engine.on_progress(&mut report);
            engine.on_commit(&mut record);
            command.execute(&mut engine)
        })();
        // A connection left inside a transaction (a failure) is not used again.
        if *store.db().depth() != 0 {
            *store = Database::open(&self.url)?.applied(self.model.clone());
        }
        // What the book keeps holds no personal value (`JobPlan`), the error's details
        // neither.
        let kept = |plan: &Value| JobPlan::of(plan, &self.model);
        let error_json = |e: &ApiError| json!({ "status": e.status.as_u16(), "code": e.code, "message": e.message, "details": kept(&e.details).json() });
        match result {
            Ok(plan) => book.finish(id, JobStatus::Succeeded, Some(&kept(&plan)), None)?,
            Err(e) if e.code == "cancelled" => {
                book.finish(id, JobStatus::Cancelled, None, Some(&error_json(&e)))?
            }
            Err(e) => {
                // A plan that changed nothing, or blocked records: the plan is in the details.
                let plan = (e.details.get("operation").is_some()).then(|| kept(&e.details));
                book.finish(id, JobStatus::Failed, plan.as_ref(), Some(&error_json(&e)))?
            }
        }
        self.counts.changed();
        tracing::info!(job = id, "job finished");
        Ok(())
    }
}
