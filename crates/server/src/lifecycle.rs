//! The lifecycle endpoints (`deactivate, reactivate, delete, undelete, purge, transfer,
//! merge`, record deletion): each body is one [`Command`], run at once (the answer is the
//! plan) or, with `"background": true`, queued as a job (`202 Accepted` and its `Location`).
//! A job runs exactly the command the synchronous call would, so its plan is the same.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use offboard_engine::records::RecordSelection;
use offboard_engine::{Allowed, DeactivateOptions, Engine, OpenItems, Plan};
use offboard_model::model::Operation;

use crate::api::{act_heavy, unprocessable, Body, Caller};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/records/{kind}/delete", post(delete_records))
        .route("/api/v1/deactivate", post(deactivate))
        .route("/api/v1/reactivate", post(reactivate))
        .route("/api/v1/delete", post(delete))
        .route("/api/v1/undelete", post(undelete))
        .route("/api/v1/purge", post(purge))
        .route("/api/v1/erase", post(erase))
        .route("/api/v1/transfer", post(transfer))
        .route("/api/v1/merge", post(merge))
        .route("/api/v1/undo", post(undo))
}

/// `POST /records/{kind}/delete`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeleteRecords {
    ids: Option<Vec<i64>>,
    /// Every record under this owner (or, with `from`, from this value of the ordering field).
    owner: Option<i64>,
    from: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// The fingerprint of the dry run the caller confirmed: a different plan deletes nothing.
    #[serde(default)]
    plan: Option<String>,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /deactivate`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeactivateBody {
    customers: Vec<i64>,
    reason: Option<String>,
    /// A reason per customer kind (kind → reason), for a selection of kinds whose lists
    /// differ; a kind not named takes `reason`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    reasons: std::collections::BTreeMap<String, String>,
    /// `complete` or `remove`.
    open_activities: Option<OpenItems>,
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /reactivate`, `POST /undelete`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct CustomersBody {
    customers: Vec<i64>,
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /delete`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    customers: Vec<i64>,
    move_to: Option<i64>,
    /// The deactivation reason, for a move-to that deactivates instead of erasing.
    reason: Option<String>,
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /purge`: the cleanup takes every deleted customer past the retention, none named.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /transfer`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Pair {
    from: i64,
    to: i64,
    kinds: Option<Vec<String>>,
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// `POST /merge`.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// One duplicate (or several in `duplicates`).
    duplicate: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    duplicates: Vec<i64>,
    into: i64,
    /// Field → the customer whose value the survivor keeps.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    take: std::collections::BTreeMap<String, i64>,
    /// The fingerprint of the plan the person confirmed (from a dry run): the apply refuses
    /// with 409 `plan_changed` and the new plan when it would do something else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default, skip_serializing)]
    background: bool,
}

/// One lifecycle call, as asked: what a job stores (`operation` and `request`) and runs.
#[derive(Deserialize, Serialize, Clone, Debug)]
#[serde(tag = "operation", content = "request", rename_all = "snake_case")]
pub enum Command {
    Deactivate(DeactivateBody),
    Reactivate(CustomersBody),
    Delete(DeleteBody),
    Undelete(CustomersBody),
    Purge(PurgeBody),
    /// `POST /erase`: an erasure request for named customers, whatever their status.
    Erase(CustomersBody),
    Transfer(Pair),
    Merge(MergeBody),
    RecordDelete(RecordDeleteJob),
    /// `POST /schedules/run`: the model's due schedules (or one), as the scheduler runs them.
    Schedule(ScheduleBody),
}

/// `POST /schedules/run`.
#[derive(Deserialize, Serialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// Only this schedule (its id).
    pub schedule: Option<String>,
    /// Run even when it already ran in this period.
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub dry_run: bool,
    /// With `schedule`: the fingerprint of its dry run's plan; a different plan applies
    /// nothing (the run fails, saying so).
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default, skip_serializing)]
    pub background: bool,
}

/// Record deletion as a job's request (`kind` and the body's fields).
#[derive(Deserialize, Serialize, Clone, Debug)]
pub struct RecordDeleteJob {
    kind: String,
    ids: Option<Vec<i64>>,
    owner: Option<i64>,
    from: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// The fingerprint of the plan the caller confirmed: a different plan changes nothing.
    #[serde(default)]
    plan: Option<String>,
}

impl Command {
    /// The cleanup, applied (the web UI's big cleanup runs it as a job).
    /// A deactivation from the web UI's dialog, to run as a job.
    pub fn deactivate(customers: Vec<i64>, opts: &offboard_engine::DeactivateOptions) -> Command {
        Command::Deactivate(DeactivateBody {
            customers,
            reason: opts.reason.clone(),
            reasons: opts.reasons.clone(),
            open_activities: opts.open_items,
            plan: None,
            dry_run: false,
            background: true,
        })
    }

    /// A move to the recycle bin (or the model's delete) from the web UI, to run as a job.
    pub fn delete(customers: Vec<i64>) -> Command {
        Command::Delete(DeleteBody {
            customers,
            move_to: None,
            reason: None,
            plan: None,
            dry_run: false,
            background: true,
        })
    }

    pub fn purge() -> Command {
        Command::Purge(PurgeBody {
            plan: None,
            dry_run: false,
            background: true,
        })
    }

    /// The operation's name, as jobs list it.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Deactivate(_) => "deactivate",
            Command::Reactivate(_) => "reactivate",
            Command::Delete(_) => "delete",
            Command::Undelete(_) => "undelete",
            Command::Purge(_) => "purge",
            Command::Erase(_) => "erase",
            Command::Transfer(_) => "transfer",
            Command::Merge(_) => "merge",
            Command::RecordDelete(_) => "record_delete",
            Command::Schedule(_) => "schedule",
        }
    }

    /// The operation names a job can have.
    pub const NAMES: [&'static str; 10] = [
        "deactivate",
        "reactivate",
        "delete",
        "undelete",
        "purge",
        "erase",
        "transfer",
        "merge",
        "record_delete",
        "schedule",
    ];

    /// The command a job stored (`operation` and `request`).
    pub fn from_job(operation: &str, request: &Value) -> Result<Command, ApiError> {
        serde_json::from_value(serde_json::json!({ "operation": operation, "request": request }))
            .map_err(|e| {
                ApiError::internal(format!("the job's request cannot be read any more: {e}"))
            })
    }

    /// The request as a job keeps it.
    pub fn request(&self) -> Value {
        serde_json::to_value(self)
            .ok()
            .and_then(|mut v| v.get_mut("request").map(Value::take))
            .unwrap_or(Value::Null)
    }

    /// What can be refused before anything runs: an empty list, a malformed selection.
    fn check(&self) -> Result<(), ApiError> {
        match self {
            Command::Deactivate(DeactivateBody { customers, .. })
            | Command::Reactivate(CustomersBody { customers, .. })
            | Command::Undelete(CustomersBody { customers, .. })
            | Command::Erase(CustomersBody { customers, .. }) => needs_customers(customers),
            Command::Delete(b) => {
                needs_customers(&b.customers)?;
                if b.move_to.is_some() && b.customers.len() != 1 {
                    return Err(unprocessable("`move_to` takes exactly one customer"));
                }
                Ok(())
            }
            Command::RecordDelete(r) => r.selection().map(|_| ()),
            Command::Merge(b) => match (b.duplicate, b.duplicates.is_empty()) {
                (None, true) => Err(unprocessable(
                    "name the duplicate (`duplicate`) or duplicates (`duplicates`) to merge",
                )),
                (Some(_), false) => {
                    Err(unprocessable("give `duplicate` or `duplicates`, not both"))
                }
                _ => Ok(()),
            },
            Command::Purge(_) | Command::Transfer(_) | Command::Schedule(_) => Ok(()),
        }
    }

    /// The caller's permission for it (a job is refused when asked, not when it runs).
    pub fn allow(&self, e: &Engine<'_>) -> Result<Allowed, ApiError> {
        Ok(match self {
            Command::Deactivate(_) => e.allow(Operation::Deactivate)?,
            Command::Reactivate(_) => e.allow(Operation::Reactivate)?,
            Command::Delete(_) => e.allow(Operation::Delete)?,
            Command::Undelete(_) => e.allow(Operation::Undelete)?,
            // Running the retention schedules is the purge's permission (each schedule's
            // own operation is checked again as it runs).
            Command::Purge(_) | Command::Erase(_) | Command::Schedule(_) => {
                e.allow(Operation::Purge)?
            }
            Command::Transfer(_) => e.allow(Operation::Transfer)?,
            Command::Merge(_) => e.allow(Operation::Merge)?,
            Command::RecordDelete(r) => e.allow_record(Operation::RecordDelete, &r.kind)?,
        })
    }

    /// The fingerprint of the plan the caller confirmed, if it sent one.
    pub fn plan(&self) -> Option<String> {
        match self {
            Command::Deactivate(b) => b.plan.clone(),
            Command::Reactivate(b) | Command::Undelete(b) | Command::Erase(b) => b.plan.clone(),
            Command::Delete(b) => b.plan.clone(),
            Command::Purge(b) => b.plan.clone(),
            Command::Transfer(b) => b.plan.clone(),
            Command::Merge(b) => b.plan.clone(),
            Command::RecordDelete(r) => r.plan.clone(),
            Command::Schedule(b) => b.plan.clone(),
        }
    }

    /// Sets the fingerprint of the plan the person confirmed (the web UI's confirmations).
    pub fn with_plan(mut self, fingerprint: Option<String>) -> Command {
        match &mut self {
            Command::Deactivate(b) => b.plan = fingerprint,
            Command::Reactivate(b) | Command::Undelete(b) | Command::Erase(b) => {
                b.plan = fingerprint
            }
            Command::Delete(b) => b.plan = fingerprint,
            Command::Purge(b) => b.plan = fingerprint,
            Command::Transfer(b) => b.plan = fingerprint,
            Command::Merge(b) => b.plan = fingerprint,
            Command::RecordDelete(r) => r.plan = fingerprint,
            Command::Schedule(b) => b.plan = fingerprint,
        }
        self
    }

    /// Runs it: the answer of the synchronous call (the plan, or the error with the plan in
    /// its details when it changed nothing). An apply given the fingerprint of the plan the
    /// caller saw is bound to it.
    pub fn execute(&self, e: &mut Engine<'_>) -> Result<Value, ApiError> {
        e.expect_plan(self.plan());
        match self {
            Command::Deactivate(b) => {
                let opts = DeactivateOptions {
                    reason: b.reason.clone().filter(|r| !r.is_empty()),
                    reasons: b.reasons.clone(),
                    open_items: b.open_activities,
                    preview: false,
                };
                plan_answer(e.deactivate(&b.customers, &opts, b.dry_run)?)
            }
            Command::Reactivate(b) => plan_answer(e.reactivate(&b.customers, b.dry_run)?),
            Command::Undelete(b) => plan_answer(e.undelete(&b.customers, b.dry_run)?),
            Command::Delete(b) => plan_answer(match (b.move_to, b.customers.as_slice()) {
                (Some(to), [one]) => e.delete_moving(*one, to, b.reason.clone(), b.dry_run)?,
                (Some(_), _) => return Err(unprocessable("`move_to` takes exactly one customer")),
                (None, ids) => e.delete(ids, b.dry_run)?,
            }),
            Command::Purge(b) => plan_answer(e.purge(b.dry_run)?),
            Command::Erase(b) => plan_answer(e.erase_customers(&b.customers, b.dry_run)?),
            Command::Transfer(b) => {
                plan_answer(e.transfer(b.from, b.to, b.kinds.as_deref(), b.dry_run)?)
            }
            Command::Merge(b) => {
                let mut ids: Vec<i64> = b.duplicate.into_iter().collect();
                ids.extend(&b.duplicates);
                plan_answer(e.merge_many(&ids, b.into, &b.take, b.dry_run)?)
            }
            Command::Schedule(b) => {
                let outcomes = e.run_schedules(b.schedule.as_deref(), b.force, b.dry_run)?;
                Ok(
                    serde_json::json!({ "operation": "schedule", "dry_run": b.dry_run, "schedules": outcomes }),
                )
            }
            Command::RecordDelete(r) => {
                let plan = e.delete_records(&r.kind, &r.selection()?, r.dry_run)?;
                let json = serde_json::to_value(&plan).unwrap_or(Value::Null);
                if !plan.dry_run && !plan.blocked.is_empty() {
                    let mut err = ApiError::new(
                        StatusCode::CONFLICT,
                        "blocked",
                        format!(
                            "nothing was deleted: {}",
                            plan.blocked
                                .iter()
                                .map(|b| format!("{} {}: {}", plan.kind, b.id, b.message))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    );
                    err.details = json;
                    return Err(err);
                }
                Ok(json)
            }
        }
    }
}

impl RecordDeleteJob {
    fn selection(&self) -> Result<RecordSelection, ApiError> {
        match (&self.ids, self.owner) {
            (Some(ids), None) if ids.is_empty() => {
                Err(unprocessable("`ids` is empty: list the records to delete"))
            }
            (Some(ids), None) => Ok(RecordSelection::Ids(ids.clone())),
            (None, Some(owner)) => Ok(RecordSelection::Owner {
                owner,
                from: self.from.clone(),
            }),
            _ => Err(unprocessable(
                "give either `ids` or `owner` (with an optional `from`)",
            )),
        }
    }
}

/// Runs a command now (the plan), or queues it as a job (`202 Accepted`, the job, and
/// `Location: /api/v1/jobs/{id}`).
pub(crate) async fn run_command(
    state: &AppState,
    caller: Caller,
    command: Command,
    background: bool,
) -> Result<Response, ApiError> {
    command.check()?;
    if background {
        return crate::jobs::submit(state, caller, command).await;
    }
    // Refused as a whole when the caller may not run it (a viewer's schedule run is a 403,
    // not a 200 with every schedule "failed").
    act_heavy(state, caller, move |e| {
        command.allow(e)?;
        command.execute(e)
    })
    .await
    .map(|plan| Json(plan).into_response())
}

/// The plan as the answer: 200, or 409 (the plan in `details`) when an applied operation
/// changed nothing because every candidate was blocked or skipped.
pub fn plan_answer(plan: Plan) -> Result<Value, ApiError> {
    if plan.dry_run || !plan.changed_nothing() || plan.candidates == 0 {
        return Ok(plan.to_json());
    }
    let reasons: Vec<String> = plan
        .customers
        .iter()
        .take(5)
        .map(|c| {
            let why = match (&c.why, c.blockers.is_empty()) {
                (Some(w), _) => w.clone(),
                (None, false) => c
                    .blockers
                    .iter()
                    .map(|b| b.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                (None, true) => "refused".into(),
            };
            format!("{} {} ({}): {why}", c.id, c.number, c.name)
        })
        .collect();
    let mut err = ApiError::new(
        StatusCode::CONFLICT,
        "nothing_done",
        format!(
            "{} changed nothing: {} blocked, {} skipped — {}{}",
            plan.operation,
            plan.blocked,
            plan.skipped,
            reasons.join("; "),
            if plan.candidates > 5 { "; ..." } else { "" }
        ),
    );
    err.details = plan.to_json();
    Err(err)
}

fn needs_customers(customers: &[i64]) -> Result<(), ApiError> {
    if customers.is_empty() {
        return Err(unprocessable(
            "`customers` is empty: list the ids to work on",
        ));
    }
    Ok(())
}

async fn delete_records(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Body(body): Body<DeleteRecords>,
) -> Result<Response, ApiError> {
    let background = body.background;
    let command = Command::RecordDelete(RecordDeleteJob {
        kind,
        ids: body.ids,
        owner: body.owner,
        from: body.from,
        dry_run: body.dry_run,
        plan: body.plan,
    });
    run_command(&state, caller, command, background).await
}

async fn deactivate(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<DeactivateBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Deactivate(b), background).await
}

async fn reactivate(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CustomersBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Reactivate(b), background).await
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<DeleteBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Delete(b), background).await
}

async fn undelete(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CustomersBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Undelete(b), background).await
}

async fn purge(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<PurgeBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Purge(b), background).await
}

/// `POST /erase`: `{"customers": [1042], "dry_run": true}` — an erasure request.
async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<CustomersBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Erase(b), background).await
}

async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<Pair>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Transfer(b), background).await
}

async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<MergeBody>,
) -> Result<Response, ApiError> {
    let background = b.background;
    run_command(&state, caller, Command::Merge(b), background).await
}

/// `POST /undo`.
#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Any audit entry of the operation to take back.
    entry: i64,
    /// The fingerprint of the undo's preview the caller confirmed: refused (409
    /// `plan_changed`) when the undo would now do something else.
    plan: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /api/v1/undo`: takes back a deactivation, a soft delete or a merge (409 when
/// nothing could come back, with the plan in `details`).
async fn undo(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<UndoBody>,
) -> Result<Response, ApiError> {
    let plan = act_heavy(&state, caller, move |e| {
        e.expect_plan(b.plan.clone());
        Ok(e.undo(b.entry, b.dry_run)?)
    })
    .await?;
    state.counts().changed();
    let json = serde_json::to_value(&plan).unwrap_or(Value::Null);
    if !plan.dry_run && plan.undone == 0 {
        let mut err = ApiError::new(
            StatusCode::CONFLICT,
            "nothing_done",
            format!(
                "nothing was undone: {}",
                plan.customers
                    .iter()
                    .filter_map(|c| c
                        .why
                        .as_ref()
                        .map(|w| format!("{} {}: {w}", c.id, c.number)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        err.details = json;
        return Err(err);
    }
    Ok(Json(json).into_response())
}
