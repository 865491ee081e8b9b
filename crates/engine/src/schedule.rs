//! Retention that runs: the model's `[[schedule]]`s, each run once per period (an hour, a
//! day, an ISO week, a month) by `offboard schedule run` (cron-friendly: a second call in the
//! same period does nothing) or the server's scheduler.
//!
//! A run selects its customers inside the operation's own transaction — the schedule's
//! condition and age as one set-based INSERT into the candidate set, checked again under the
//! lock — plans them exactly as the operation does (rules, blockers, effects), applies the
//! plan and records the run in `offboard_schedule_runs`, all in one transaction: a run either
//! happened, recorded, or did not happen at all. A schedule the model sends for review
//! records the customers it proposes instead; a manager's approval applies the operation to
//! those of them that still match, a rejection closes the run.

use serde::Serialize;
use serde_json::{json, Value as Json};

use offboard_model::model::{DeleteMode, Operation, PurgeMode, Schedule, ScheduleRun};
use offboard_model::rule::SqlContext;
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::Db;
use offboard_store::{Dialect, StoreError};

use crate::audit::{self, Act, NewEntry};
use crate::erase::erase;
use crate::kernel::{candidates, lock, CAND};
use crate::ops::{status_change, DeactivateOptions};
use crate::plan::{Outcome, Plan};
use crate::sql::{analyze, fill_set, ph, q, temp_set};
use crate::{Allowed, Engine, EngineError};

/// The customers an approval may still act on.
const PROPOSED: &str = "ob_proposed";

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// It ran (or found nothing to do).
    Done,
    /// It waits for a manager's approval.
    Review,
    Approved,
    Rejected,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Done => "done",
            RunState::Review => "review",
            RunState::Approved => "approved",
            RunState::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> RunState {
        match s {
            "review" => RunState::Review,
            "approved" => RunState::Approved,
            "rejected" => RunState::Rejected,
            _ => RunState::Done,
        }
    }
}

/// One run of a schedule, as `offboard_schedule_runs` keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub id: i64,
    pub schedule: String,
    pub period: String,
    pub ran_at: String,
    pub actor: String,
    pub state: RunState,
    /// The customers it acted on (or, waiting for review, proposes).
    pub customers: Vec<i64>,
    /// What it did: the operation's counts (or, for review, what it would do).
    pub report: Json,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

/// A schedule and where it stands now.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleState {
    pub schedule: Schedule,
    pub description: String,
    /// The period it is in now (`2026-12-01`, `2026-W49`).
    pub period: String,
    /// Whether a run now would run it (it has not run in this period).
    pub due: bool,
    /// When it is next due, when it is not now.
    pub next: Option<String>,
    pub last: Option<Run>,
    /// A run of it that waits for approval.
    pub waiting: Option<i64>,
}

/// What running a schedule did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub schedule: String,
    pub label: String,
    pub run: ScheduleRun,
    pub period: String,
    pub outcome: RunKind,
    /// The run's row, when it was recorded.
    pub run_id: Option<i64>,
    /// The operation's plan (or the compaction's report).
    #[serde(skip_serializing_if = "Json::is_null")]
    pub plan: Json,
    /// In words, for a report or a log line.
    pub message: String,
}

/// What happened to a schedule in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// It ran and its run is recorded.
    Ran,
    /// It already ran in this period.
    NotDue,
    /// Its proposal waits for approval.
    ForReview,
    /// An earlier proposal still waits, so none is made now.
    Waiting,
    /// A dry run: the plan says what it would do.
    DryRun,
    /// It could not run; `message` says why. Nothing of it was applied.
    Failed,
}

fn run_of(r: &[Value]) -> Run {
    let t = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Run {
        id: r[0].as_i64().unwrap_or(0),
        schedule: t(&r[1]),
        period: t(&r[2]),
        ran_at: t(&r[3]),
        actor: t(&r[4]),
        state: RunState::parse(r[5].as_str().unwrap_or_default()),
        customers: serde_json::from_str(r[6].as_str().unwrap_or("[]")).unwrap_or_default(),
        report: serde_json::from_str(r[7].as_str().unwrap_or("null")).unwrap_or(Json::Null),
        decided_by: r[8].as_str().map(str::to_string),
        decided_at: r[9].as_str().map(str::to_string),
    }
}

const RUN_COLUMNS: &str =
    "id, schedule, period, ran_at, actor, state, customers, report, decided_by, decided_at";
const RUN_TYPES: [FieldType; 10] = [
    FieldType::Int,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
];

/// The runs, newest first (of one schedule, or waiting for review, when asked).
pub(crate) fn runs(
    db: &mut dyn Db,
    schedule: Option<&str>,
    state: Option<RunState>,
    limit: u64,
) -> Result<Vec<Run>, StoreError> {
    let d = db.dialect();
    let mut params = Vec::new();
    let mut filter = Vec::new();
    if let Some(s) = schedule {
        params.push(Value::Text(s.into()));
        filter.push(format!("schedule = {}", ph(d, params.len())));
    }
    if let Some(s) = state {
        params.push(Value::Text(s.name().into()));
        filter.push(format!("state = {}", ph(d, params.len())));
    }
    let wh = if filter.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", filter.join(" AND "))
    };
    let rows = db.query(
        &format!(
            "SELECT {RUN_COLUMNS} FROM offboard_schedule_runs {wh} ORDER BY id DESC LIMIT {limit}"
        ),
        &params,
        &RUN_TYPES,
    )?;
    Ok(rows.iter().map(|r| run_of(r)).collect())
}

fn run_by_id(db: &mut dyn Db, id: i64) -> Result<Option<Run>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT {RUN_COLUMNS} FROM offboard_schedule_runs WHERE id = {}",
            ph(db.dialect(), 1)
        ),
        &[Value::Int(id)],
        &RUN_TYPES,
    )?;
    Ok(rows.first().map(|r| run_of(r)))
}

/// Records a run (inside the operation's transaction); a second run of the same period is
/// refused by the table's key, so two schedulers racing apply it once.
fn record_run(
    db: &mut dyn Db,
    schedule: &str,
    period: &str,
    actor: &str,
    state: RunState,
    customers: &[i64],
    report: &Json,
) -> Result<i64, StoreError> {
    let d = db.dialect();
    let ps: Vec<String> = (1..=7).map(|i| ph(d, i)).collect();
    let params = [
        Value::Text(schedule.into()),
        Value::Text(period.into()),
        Value::Text(DateTime::now().to_string()),
        Value::Text(actor.into()),
        Value::Text(state.name().into()),
        Value::Text(serde_json::to_string(customers).unwrap_or_else(|_| "[]".into())),
        Value::Text(report.to_string()),
    ];
    let sql = format!(
        "INSERT INTO offboard_schedule_runs (schedule, period, ran_at, actor, state, customers, report) VALUES ({}) RETURNING id",
        ps.join(", ")
    );
    let id = db
        .query_value(&sql, &params, FieldType::Int)?
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    Ok(id)
}

/// A plan's counts, without the per-customer list (that is the run's `customers`).
fn summary(plan: &Plan) -> Json {
    let mut j = plan.to_json();
    if let Some(o) = j.as_object_mut() {
        o.remove("customers");
        o.remove("timings");
        let blocked: Vec<Json> = plan
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Blocked)
            .take(50)
            .map(|c| {
                json!({
                    "id": c.id,
                    "number": c.number,
                    "why": c.blockers.iter().map(|b| b.message.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        o.insert("blocked_customers".into(), Json::Array(blocked));
    }
    j
}

fn proceeding(plan: &Plan) -> Vec<i64> {
    plan.customers
        .iter()
        .filter(|c| c.outcome == Outcome::Proceeds)
        .map(|c| c.id)
        .collect()
}

/// The plan in words: "3 customers deleted, 1 blocked".
fn in_words(run: ScheduleRun, plan: &Plan, dry_run: bool) -> String {
    let verb = match run {
        ScheduleRun::Deactivate => "deactivated",
        ScheduleRun::Delete => "deleted",
        _ => "erased",
    };
    let n = if dry_run {
        proceeding(plan).len()
    } else {
        plan.done
    };
    let s = if n == 1 { "" } else { "s" };
    let mut out = if dry_run {
        format!("{n} customer{s} would be {verb}")
    } else {
        format!("{n} customer{s} {verb}")
    };
    if plan.blocked > 0 {
        out.push_str(&format!(", {} blocked", plan.blocked));
    }
    out
}

impl Engine<'_> {
    /// Every schedule of the model and where it stands (needs `view`).
    pub fn schedules(&mut self) -> Result<Vec<ScheduleState>, EngineError> {
        self.allow(Operation::View)?;
        let model = self.store.shared_model();
        let now = DateTime::now();
        let db = self.store.db();
        let mut out = Vec::new();
        for s in &model.schedules {
            let period = s.every.period(now);
            let last = runs(db, Some(&s.id), None, 1)?.into_iter().next();
            let due = !ran_in(db, &s.id, &period)?;
            let waiting = runs(db, Some(&s.id), Some(RunState::Review), 1)?
                .first()
                .map(|r| r.id);
            out.push(ScheduleState {
                description: s.describe(),
                schedule: s.clone(),
                period,
                due,
                next: (!due).then(|| s.every.next_start(now).to_string()),
                last,
                waiting,
            });
        }
        Ok(out)
    }

    /// The runs, newest first: of one schedule, or in one state (`review`: the review queue).
    pub fn schedule_runs(
        &mut self,
        schedule: Option<&str>,
        state: Option<RunState>,
        limit: u64,
    ) -> Result<Vec<Run>, EngineError> {
        self.allow(Operation::View)?;
        Ok(runs(self.store.db(), schedule, state, limit)?)
    }

    /// Runs the schedules that are due (each once per period), or only `only`; `force` runs
    /// them even when they ran in this period. A dry run says what each would do and records
    /// nothing. One schedule failing (blocked, refused) does not stop the others.
    pub fn run_schedules(
        &mut self,
        only: Option<&str>,
        force: bool,
        dry_run: bool,
    ) -> Result<Vec<RunOutcome>, EngineError> {
        let model = self.store.shared_model();
        if only.is_none() && self.expected_plan.is_some() {
            return Err(EngineError::Refused(
                "a plan binds the run of one schedule: name it (--id, `schedule`)".into(),
            ));
        }
        if let Some(id) = only {
            if !model.schedules.iter().any(|s| s.id == id) {
                let names: Vec<&str> = model.schedules.iter().map(|s| s.id.as_str()).collect();
                return Err(EngineError::Store(StoreError::NotFound(
                    if names.is_empty() {
                        format!(
                            "there is no schedule `{id}`: the {} model has no [[schedule]]",
                            model.name
                        )
                    } else {
                        format!(
                            "there is no schedule `{id}`; schedules are: {}",
                            names.join(", ")
                        )
                    },
                )));
            }
        }
        let now = DateTime::now();
        if force && !dry_run {
            // Running a schedule again in a period it already ran in overrides the schedule:
            // that takes the schedule's own permission, not only the operation's. Checked
            // for all of them first, so a refused force runs none.
            for s in model
                .schedules
                .iter()
                .filter(|s| only.is_none_or(|o| o == s.id))
            {
                if ran_in(self.store.db(), &s.id, &s.every.period(now))? {
                    self.may_force(s)?;
                }
            }
        }
        let mut out = Vec::new();
        for s in model
            .schedules
            .iter()
            .filter(|s| only.is_none_or(|o| o == s.id))
        {
            let regular = s.every.period(now);
            let ran = ran_in(self.store.db(), &s.id, &regular)?;
            // A forced run in a period that already ran is its own period, numbered (two
            // forced in one second are two runs, not one key twice).
            let period = if ran && force {
                let n = forced_runs(self.store.db(), &s.id, &regular)? + 1;
                format!("{regular} (forced {n}, {now})")
            } else {
                regular
            };
            let base = RunOutcome {
                schedule: s.id.clone(),
                label: s.label.clone(),
                run: s.run,
                period: period.clone(),
                outcome: RunKind::NotDue,
                run_id: None,
                plan: Json::Null,
                message: String::new(),
            };
            if ran && !force && !dry_run {
                out.push(RunOutcome {
                    message: format!(
                        "already ran in {}; next due {}",
                        s.every.period(now),
                        s.every.next_start(now)
                    ),
                    ..base
                });
                continue;
            }
            let outcome = match self.run_one(s, &period, dry_run) {
                Ok(o) => o,
                // Another run of the same schedule and period committed first (two cron
                // jobs at once): its record's key refused ours, and ours rolled back whole.
                Err(EngineError::Store(e)) if e.is_constraint() => RunOutcome {
                    message: format!(
                        "already ran in {} (another run finished it at the same time); next due {}",
                        s.every.period(now),
                        s.every.next_start(now)
                    ),
                    ..base
                },
                Err(e) => RunOutcome {
                    outcome: RunKind::Failed,
                    message: e.to_string(),
                    ..base
                },
            };
            out.push(outcome);
        }
        Ok(out)
    }

    /// Whether the actor may force `s`: the schedule's `force` roles, else its review
    /// roles, else the roles that may both change the settings and run its operation.
    fn may_force(&self, s: &Schedule) -> Result<(), EngineError> {
        let roles = if !s.force.is_empty() {
            s.force.clone()
        } else if !s.review.is_empty() {
            s.review.clone()
        } else {
            // Who may change the settings and run the operation itself.
            let permissions = &self.store.model().permissions;
            let runs = permissions.roles(operation_of(s.run));
            permissions
                .roles(Operation::Settings)
                .into_iter()
                .filter(|r| runs.contains(r))
                .collect()
        };
        if roles.contains(&self.actor.role) {
            return Ok(());
        }
        Err(EngineError::Forbidden {
            actor: self.actor.name.clone(),
            role: self.actor.role.name(),
            op: format!(
                "force schedule `{}` to run again in a period it already ran in",
                s.id
            ),
            allowed: roles
                .iter()
                .map(|r| r.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    fn run_one(
        &mut self,
        s: &Schedule,
        period: &str,
        dry_run: bool,
    ) -> Result<RunOutcome, EngineError> {
        let mut out = RunOutcome {
            schedule: s.id.clone(),
            label: s.label.clone(),
            run: s.run,
            period: period.to_string(),
            outcome: if dry_run {
                RunKind::DryRun
            } else {
                RunKind::Ran
            },
            run_id: None,
            plan: Json::Null,
            message: String::new(),
        };
        let actor = self.actor.name.clone();
        if s.run == ScheduleRun::Compact {
            self.allow(Operation::Purge)?;
            if dry_run {
                let plan = self.store.compact_plan()?;
                out.message = plan.summary();
                out.plan = serde_json::to_value(&plan).unwrap_or(Json::Null);
                return Ok(out);
            }
            let done = self.store.compact()?;
            let report = serde_json::to_value(&done).unwrap_or(Json::Null);
            let id = self.store.atomically(|st| {
                record_run(st.db(), &s.id, period, &actor, RunState::Done, &[], &report)
            })?;
            out.message = format!(
                "rewrote {} (the longest lock: {:.2} s)",
                done.rewritten.join(", "),
                done.locked.iter().map(|(_, t)| *t).fold(0.0, f64::max)
            );
            out.run_id = Some(id);
            out.plan = report;
            return Ok(out);
        }
        if !s.review.is_empty() {
            // The run proposes; a manager approves. While a proposal waits, no other is made.
            if let Some(w) = runs(self.store.db(), Some(&s.id), Some(RunState::Review), 1)?.first()
            {
                out.outcome = RunKind::Waiting;
                out.message = format!(
                    "run {} ({}) still waits for approval; no new proposal is made",
                    w.id, w.period
                );
                return Ok(out);
            }
            let plan = self.scheduled(s, None, true, None)?;
            let ids = proceeding(&plan);
            out.message = in_words(s.run, &plan, true);
            out.plan = plan.to_json();
            if dry_run {
                return Ok(out);
            }
            let state = if ids.is_empty() {
                RunState::Done
            } else {
                RunState::Review
            };
            let report = summary(&plan);
            let id = self.store.atomically(|st| {
                record_run(st.db(), &s.id, period, &actor, state, &ids, &report)
            })?;
            out.run_id = Some(id);
            if state == RunState::Review {
                out.outcome = RunKind::ForReview;
                out.message = format!(
                    "{}; waiting for a {}'s approval",
                    out.message,
                    s.review.first().map_or("manager", |r| r.name())
                );
            }
            return Ok(out);
        }
        let recorded = std::sync::Arc::new(std::sync::Mutex::new(None));
        let record = (!dry_run).then(|| Recording {
            schedule: s.id.clone(),
            period: period.to_string(),
            actor: actor.clone(),
            state: RunState::Done,
            update: None,
            id: recorded.clone(),
        });
        let plan = self.scheduled(s, None, dry_run, record)?;
        out.message = in_words(s.run, &plan, dry_run);
        out.plan = plan.to_json();
        out.run_id = *recorded.lock().map_err(|_| poisoned())?;
        Ok(out)
    }

    /// What approving a run waiting for review would do now (its operation's dry run on the
    /// customers it proposed that still match): the plan whose fingerprint an approval may be
    /// bound to ([`Engine::expect_plan`]). Needs the schedule's review role.
    pub fn approval_preview(&mut self, run_id: i64) -> Result<RunOutcome, EngineError> {
        let (s, run) = self.reviewable(run_id)?;
        let allowed = Allowed {
            op: operation_of(s.run),
            kind: None,
        };
        let plan = self.select_and_run(&allowed, &s, Some(&run.customers), true, None)?;
        Ok(RunOutcome {
            schedule: s.id.clone(),
            label: s.label.clone(),
            run: s.run,
            period: run.period,
            outcome: RunKind::DryRun,
            run_id: Some(run_id),
            message: in_words(s.run, &plan, true),
            plan: plan.to_json(),
        })
    }

    /// Approves a run waiting for review: applies its operation to the customers it proposed
    /// that still match the schedule (checked again under the lock), as the approver, in one
    /// transaction with the run's new state. The approver needs the schedule's review role.
    /// Bound to an [`approval_preview`](Self::approval_preview)'s fingerprint, it applies
    /// nothing when the approval would now do something else.
    pub fn approve_run(&mut self, run_id: i64) -> Result<RunOutcome, EngineError> {
        let (s, run) = self.reviewable(run_id)?;
        let recorded = std::sync::Arc::new(std::sync::Mutex::new(None));
        let record = Recording {
            schedule: s.id.clone(),
            period: run.period.clone(),
            actor: self.actor.name.clone(),
            state: RunState::Approved,
            update: Some(run_id),
            id: recorded.clone(),
        };
        // The review role is the model's permission for the schedule's operation: the
        // approver needs no permission of its own for it (a manager approves an erasure).
        let allowed = Allowed {
            op: operation_of(s.run),
            kind: None,
        };
        let plan = self.select_and_run(&allowed, &s, Some(&run.customers), false, Some(record))?;
        Ok(RunOutcome {
            schedule: s.id.clone(),
            label: s.label.clone(),
            run: s.run,
            period: run.period,
            outcome: RunKind::Ran,
            run_id: Some(run_id),
            message: in_words(s.run, &plan, false),
            plan: plan.to_json(),
        })
    }

    /// Rejects a run waiting for review: nothing is applied, the run is closed, audited.
    pub fn reject_run(&mut self, run_id: i64) -> Result<Run, EngineError> {
        let (s, run) = self.reviewable(run_id)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|st| {
            decide(st.db(), run_id, RunState::Rejected, &actor, None)?;
            audit::append(
                st.db(),
                &actor,
                Act::Review,
                &[review_entry(&s, &run, "rejected")],
            )
        })?;
        Ok(run_by_id(self.store.db(), run_id)?.unwrap_or(run))
    }

    /// The run and its schedule, when it waits for review and the actor may decide on it.
    fn reviewable(&mut self, run_id: i64) -> Result<(Schedule, Run), EngineError> {
        let run = run_by_id(self.store.db(), run_id)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no schedule run {run_id}")))?;
        let model = self.store.shared_model();
        let s = model
            .schedules
            .iter()
            .find(|s| s.id == run.schedule)
            .cloned()
            .ok_or_else(|| {
                EngineError::Refused(format!(
                    "run {run_id} belongs to schedule `{}`, which the model no longer has",
                    run.schedule
                ))
            })?;
        if run.state != RunState::Review {
            return Err(EngineError::Refused(format!(
                "run {run_id} of `{}` is {}, not waiting for review{}",
                s.id,
                run.state.name(),
                run.decided_by
                    .as_ref()
                    .map(|b| format!(" (decided by {b})"))
                    .unwrap_or_default()
            )));
        }
        if !s.review.contains(&self.actor.role) {
            return Err(EngineError::Forbidden {
                actor: self.actor.name.clone(),
                role: self.actor.role.name(),
                op: format!("approve or reject runs of schedule `{}`", s.id),
                allowed: s
                    .review
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok((s, run))
    }

    /// The schedule's operation, planned and (unless `dry_run`) applied to the customers it
    /// selects — only those of `restrict` when given — with the actor's own permission.
    fn scheduled(
        &mut self,
        s: &Schedule,
        restrict: Option<&[i64]>,
        dry_run: bool,
        record: Option<Recording>,
    ) -> Result<Plan, EngineError> {
        let allowed = self.allow(operation_of(s.run))?;
        self.select_and_run(&allowed, s, restrict, dry_run, record)
    }

    fn select_and_run(
        &mut self,
        allowed: &Allowed,
        s: &Schedule,
        restrict: Option<&[i64]>,
        dry_run: bool,
        record: Option<Recording>,
    ) -> Result<Plan, EngineError> {
        let model = self.store.shared_model();
        if s.run == ScheduleRun::Deactivate {
            self.store.refresh_settings()?;
        }
        let run = s.run;
        if run == ScheduleRun::Purge && model.purge == PurgeMode::None {
            return Err(EngineError::Refused(format!(
                "the {} model has no purge (purge = \"none\"): deleted customers are kept",
                model.name
            )));
        }
        let opts = DeactivateOptions {
            reason: s.reason.clone(),
            ..DeactivateOptions::default()
        };
        let now = DateTime::now();
        let d = self.store.db().dialect();
        let (select, params) = selection(d, &model, s, now, restrict.is_some());
        if let Some(r) = record {
            self.also = Some(Box::new(move |db: &mut dyn Db, plan: &Plan| {
                // (The hook runs only when the plan is applied.)
                let ids = proceeding(plan);
                let report = summary(plan);
                let id = match r.update {
                    Some(run_id) => {
                        decide(db, run_id, r.state, &r.actor, Some((&ids, &report)))?;
                        // The approval is logged with what it applied, in the same
                        // transaction as the entries of the operation itself.
                        let entry = NewEntry {
                            customer_id: None,
                            customer_number: None,
                            customer_name: None,
                            reason: None,
                            details: json!({
                                "schedule": r.schedule,
                                "run": run_id,
                                "decision": "approved",
                                "done": plan.done,
                                "blocked": plan.blocked,
                            }),
                        };
                        audit::append(db, &r.actor, Act::Review, &[entry])?;
                        run_id
                    }
                    None => {
                        record_run(db, &r.schedule, &r.period, &r.actor, r.state, &ids, &report)?
                    }
                };
                if let Ok(mut slot) = r.id.lock() {
                    *slot = Some(id);
                }
                Ok(())
            }));
        }
        let result = self.within(dry_run, false, |ctx, tx| {
            temp_set(tx, CAND)?;
            if let Some(ids) = restrict {
                temp_set(tx, PROPOSED)?;
                fill_set(tx, PROPOSED, ids)?;
            }
            tx.execute(&format!("INSERT INTO {CAND} (id) {select}"), &params)?;
            analyze(tx, CAND)?;
            lock(tx, ctx.dry_run)?;
            // Under the lock: whoever no longer matches (reactivated, undeleted, edited while
            // the set was filled) is not taken.
            tx.execute(
                &format!("DELETE FROM {CAND} WHERE id NOT IN ({select})"),
                &params,
            )?;
            let cands = candidates(tx)?;
            let plan = match run {
                ScheduleRun::Purge | ScheduleRun::Erase => erase(
                    allowed,
                    ctx,
                    tx,
                    &cands,
                    run == ScheduleRun::Purge && model.purge == PurgeMode::AllOrNothing,
                )?,
                ScheduleRun::Deactivate => {
                    status_change(allowed, ctx, tx, Operation::Deactivate, &cands, &opts)?
                }
                ScheduleRun::Delete => match model.delete {
                    DeleteMode::Soft => {
                        status_change(allowed, ctx, tx, Operation::Delete, &cands, &opts)?
                    }
                    DeleteMode::Deactivate => {
                        status_change(allowed, ctx, tx, Operation::Deactivate, &cands, &opts)?
                    }
                    DeleteMode::Hard => erase(allowed, ctx, tx, &cands, false)?,
                },
                ScheduleRun::Compact => unreachable_compact()?,
            };
            Ok(plan)
        });
        self.also = None;
        let plan = result?;
        Ok(plan)
    }
}

fn unreachable_compact() -> Result<Plan, StoreError> {
    Err(StoreError::Invalid(
        "a compaction is not an operation on customers".into(),
    ))
}

fn poisoned() -> EngineError {
    EngineError::Refused("the run's record was lost (a thread panicked)".into())
}

/// What an applied scheduled operation records about itself, in its own transaction.
struct Recording {
    schedule: String,
    period: String,
    actor: String,
    state: RunState,
    /// The run waiting for review that this approval closes.
    update: Option<i64>,
    /// The run's id, once written.
    id: std::sync::Arc<std::sync::Mutex<Option<i64>>>,
}

fn decide(
    db: &mut dyn Db,
    run_id: i64,
    state: RunState,
    actor: &str,
    result: Option<(&[i64], &Json)>,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let mut params = vec![
        Value::Text(state.name().into()),
        Value::Text(actor.into()),
        Value::Text(DateTime::now().to_string()),
        Value::Int(run_id),
    ];
    let mut sets = format!(
        "state = {}, decided_by = {}, decided_at = {}",
        ph(d, 1),
        ph(d, 2),
        ph(d, 3)
    );
    if let Some((ids, report)) = result {
        params.push(Value::Text(
            serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()),
        ));
        params.push(Value::Text(report.to_string()));
        sets.push_str(&format!(
            ", customers = {}, report = {}",
            ph(d, 5),
            ph(d, 6)
        ));
    }
    // Only a run still waiting is decided: two managers deciding at once decide it once.
    let n = db.execute(
        &format!(
            "UPDATE offboard_schedule_runs SET {sets} WHERE id = {} AND state = 'review'",
            ph(d, 4)
        ),
        &params,
    )?;
    if n == 0 {
        return Err(StoreError::Refused(format!(
            "run {run_id} was decided by someone else meanwhile"
        )));
    }
    Ok(())
}

fn review_entry(s: &Schedule, run: &Run, decision: &str) -> NewEntry {
    NewEntry {
        customer_id: None,
        customer_number: None,
        customer_name: None,
        reason: None,
        details: json!({
            "schedule": s.id,
            "run": run.id,
            "period": run.period,
            "decision": decision,
            "customers": run.customers.len(),
        }),
    }
}

fn ran_in(db: &mut dyn Db, schedule: &str, period: &str) -> Result<bool, StoreError> {
    let d = db.dialect();
    Ok(db
        .query_value(
            &format!(
                "SELECT COUNT(*) FROM offboard_schedule_runs WHERE schedule = {} AND period = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Text(schedule.into()), Value::Text(period.into())],
            FieldType::Int,
        )?
        .and_then(|v| v.as_i64())
        .unwrap_or(0)
        > 0)
}

/// How many forced runs of `schedule` its period `regular` has had.
fn forced_runs(db: &mut dyn Db, schedule: &str, regular: &str) -> Result<i64, StoreError> {
    let d = db.dialect();
    db.query_i64(
        &format!(
            "SELECT COUNT(*) FROM offboard_schedule_runs WHERE schedule = {} AND period LIKE {}",
            ph(d, 1),
            ph(d, 2)
        ),
        &[
            Value::Text(schedule.into()),
            Value::Text(format!("{regular} (forced %")),
        ],
    )
}

fn operation_of(run: ScheduleRun) -> Operation {
    match run {
        ScheduleRun::Deactivate => Operation::Deactivate,
        ScheduleRun::Delete => Operation::Delete,
        ScheduleRun::Purge | ScheduleRun::Erase | ScheduleRun::Compact => Operation::Purge,
    }
}

/// The SELECT of the customers a schedule takes now: its condition, its age, the statuses
/// its operation acts on (and, for an approval, only the proposed ones).
fn selection(
    d: Dialect,
    model: &offboard_model::Model,
    s: &Schedule,
    now: DateTime,
    restricted: bool,
) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let mut filter: Vec<String> = Vec::new();
    if let Some(rule) = &s.customers {
        let column = |_: Option<&str>, name: &str| format!("c.{}", q(name));
        let ctx = SqlContext {
            dialect: d,
            column: &column,
            count_expr: "c.id".into(),
        };
        filter.push(format!("({})", rule.to_sql(&ctx, &mut params)));
    }
    match s.run {
        ScheduleRun::Deactivate => filter.push("c.status = 'active'".into()),
        ScheduleRun::Delete => filter.push("c.status IN ('active', 'deactivated')".into()),
        ScheduleRun::Purge => {
            let cutoff = DateTime::from_seconds(
                now.seconds() - i64::from(model.purge_retention_days) * 86_400,
            );
            params.push(Value::DateTime(cutoff));
            filter.push(format!(
                "((c.status = 'deleted' AND (c.deleted_at IS NULL OR c.deleted_at <= {})) OR c.id IN (SELECT customer_id FROM offboard_forgotten))",
                ph(d, params.len())
            ));
        }
        ScheduleRun::Erase | ScheduleRun::Compact => {}
    }
    if let (Some(age), Some(since)) = (&s.older_than, &s.since) {
        let cutoff = age.before(now);
        let ty = model
            .customer
            .columns()
            .into_iter()
            .find(|c| &c.name == since)
            .map_or(FieldType::DateTime, |c| c.ty);
        params.push(match ty {
            FieldType::Date => Value::Date(cutoff.date()),
            _ => Value::DateTime(cutoff),
        });
        filter.push(format!("c.{} <= {}", q(since), ph(d, params.len())));
    }
    if restricted {
        filter.push(format!("c.id IN (SELECT id FROM {PROPOSED})"));
    }
    let wh = if filter.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", filter.join(" AND "))
    };
    (format!("SELECT c.id FROM customers c{wh}"), params)
}
