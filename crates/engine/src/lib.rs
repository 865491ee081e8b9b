//! offboard's lifecycle engine: every operation first computes a [`Plan`] (per customer:
//! proceeds, blocked with reasons, or skipped; and the effects), which is the dry run; apply
//! executes exactly that plan in the same transaction. Permissions are checked for an
//! [`Actor`] before anything is read; every change is written to the hash-chained audit log.
//!
//! All work is set-based SQL over a temporary candidate table: blockers as one grouped query
//! per rule, the orphan fixpoint as repeated set deletions, effects as one statement per table.
#![forbid(unsafe_code)]

mod access;
pub mod audit;
pub mod bin;
mod blockers;
mod edits;
mod erase;
pub mod forget;
mod kernel;
pub mod merge;
mod moves;
mod ops;
pub mod plan;
pub mod privacy;
mod read;
pub mod records;
pub mod restore;
pub mod schedule;
mod sql;
pub mod undo;

use offboard_model::model::{Operation, Role};
use offboard_store::{Store, StoreError};

pub use kernel::{Progress, Step};
pub use ops::{DeactivateOptions, OpenItems};
pub use plan::{Blocker, CustomerPlan, Outcome, Plan};
pub use read::Reader;

/// Who runs an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
}

impl Actor {
    /// The local administrator the CLI acts as unless told otherwise.
    pub fn local_admin() -> Actor {
        Actor {
            name: "local-admin".into(),
            role: Role::Admin,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{actor} ({role}) may not {op}; the model allows it to: {allowed}")]
    Forbidden {
        actor: String,
        role: &'static str,
        op: String,
        allowed: String,
    },
    /// The request cannot be carried out as asked (a reason not in the list, no purge here).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The apply was given the fingerprint of the plan a person confirmed, and what it would
    /// do now differs (the data changed, or the request did): nothing was changed; the new
    /// plan is here to show instead.
    #[error("the plan changed since it was shown (it was {expected}, it is now {}): nothing was changed; look at the new plan and confirm it again", .plan.fingerprint)]
    PlanChanged { expected: String, plan: Box<Plan> },
    /// The same for a plan that is not a lifecycle operation's (`what`: "records delete",
    /// "records restore", "forget"); `plan` is the new one, as its JSON.
    #[error("the {what} changed since it was shown (it was {expected}, it is now {now}): nothing was changed; look at it again and confirm")]
    Changed {
        what: &'static str,
        expected: String,
        now: String,
        plan: serde_json::Value,
    },
    /// The same for an undo: the preview confirmed is not what it would do now.
    #[error("the undo changed since it was shown (it was {expected}, it is now {}): nothing was changed; look at it again and confirm", .plan.fingerprint)]
    UndoChanged {
        expected: String,
        plan: Box<undo::UndoPlan>,
    },
}

/// Proof that the actor may run an operation (on records: on that kind): the engine's
/// changing paths take one, and only [`Engine::allow`] and [`Engine::allow_record`] make one,
/// so no change runs unchecked.
#[derive(Debug)]
pub struct Allowed {
    op: Operation,
    kind: Option<String>,
}

impl Allowed {
    /// The operation that was allowed.
    pub fn operation(&self) -> Operation {
        self.op
    }

    /// The record kind it was allowed on, for record operations.
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }
}

/// What an applied operation calls inside its transaction before it commits, with the plan
/// as JSON (see [`Engine::on_commit`]).
pub type CommitHook<'a> = dyn FnMut(&mut dyn offboard_store::Db, &serde_json::Value) -> Result<(), StoreError>
    + Send
    + 'a;

/// The engine over one store, acting for one actor.
pub struct Engine<'s> {
    store: &'s mut Store,
    actor: Actor,
    /// Told each step of a lifecycle operation as it is reached; `false` cancels it.
    progress: &'s mut (dyn FnMut(&Step<'_>) -> bool + Send),
    /// Called inside an applied operation's transaction, after it did its work and before
    /// it commits, with the plan as JSON (a background job records its result there).
    on_commit: Option<&'s mut CommitHook<'s>>,
    /// Written inside the next applied operation's transaction, before it commits (a
    /// schedule's run record): taken by that operation.
    also: Option<Also>,
    /// The fingerprint of the plan the person confirmed: the next applied operation refuses
    /// (rolls back) when its own plan differs.
    expected_plan: Option<String>,
}

/// What an operation writes with itself, from its plan.
type Also = Box<dyn FnOnce(&mut dyn offboard_store::Db, &Plan) -> Result<(), StoreError> + Send>;

impl<'s> Engine<'s> {
    pub fn new(store: &'s mut Store, actor: Actor) -> Engine<'s> {
        Engine {
            store,
            actor,
            // A closure that captures nothing takes no memory: leaking it leaks nothing.
            progress: Box::leak(Box::new(|_: &Step<'_>| true)),
            on_commit: None,
            also: None,
            expected_plan: None,
        }
    }

    /// Binds the next applied operation to the plan a person saw: when the plan it computes
    /// now has another fingerprint, it changes nothing and fails with
    /// [`EngineError::PlanChanged`], carrying the new plan. `None` applies whatever it finds.
    pub fn expect_plan(&mut self, fingerprint: Option<String>) {
        self.expected_plan = fingerprint.filter(|f| !f.trim().is_empty());
    }

    /// The binding of an apply to the plan confirmed (a dry run is never bound).
    pub(crate) fn binding(&mut self, what: &'static str, dry_run: bool) -> plan::Binding {
        let expected = if dry_run {
            None
        } else {
            self.expected_plan.take()
        };
        plan::Binding::new(what, expected)
    }

    /// Calls `report` with each step of a lifecycle operation as it is reached (candidates,
    /// blockers, orphan_fixpoint, effects, audit, commit, with counts where a phase has
    /// them), so a long operation can show where it is; `report` answering `false` cancels
    /// the operation there, and its transaction rolls back.
    pub fn on_progress(&mut self, report: &'s mut (dyn FnMut(&Step<'_>) -> bool + Send)) {
        self.progress = report;
    }

    /// Calls `hook` inside each applied operation's transaction, after its work and before
    /// its commit, with the plan as JSON: what `hook` writes commits with the operation or
    /// not at all (a background job's result).
    pub fn on_commit(&mut self, hook: &'s mut CommitHook) {
        self.on_commit = Some(hook);
    }

    /// Checks the model's permissions for `op`.
    /// The model the engine works with (the reasons as managers set them last).
    pub fn model(&self) -> &offboard_model::Model {
        self.store.model()
    }

    pub fn allow(&self, op: Operation) -> Result<Allowed, EngineError> {
        let roles = self.store.model().permissions.roles(op);
        self.proof(op, None, &roles)
    }

    /// Checks the permission of a record operation on `kind`: the kind's own list in the
    /// model, else the model's `[permissions]`.
    pub fn allow_record(&self, op: Operation, kind: &str) -> Result<Allowed, EngineError> {
        let model = self.store.model();
        let k = offboard_store::records::kind(model, kind)?;
        let roles = model.permissions.record_roles(op, k);
        self.proof(op, Some(kind), &roles)
    }

    fn proof(
        &self,
        op: Operation,
        kind: Option<&str>,
        roles: &[Role],
    ) -> Result<Allowed, EngineError> {
        if roles.contains(&self.actor.role) {
            return Ok(Allowed {
                op,
                kind: kind.map(str::to_string),
            });
        }
        let what = match (op, kind) {
            (Operation::RecordCreate, Some(k)) => format!("add {k} records (record_create)"),
            (Operation::RecordEdit, Some(k)) => format!("edit {k} records (record_edit)"),
            (Operation::RecordDelete, Some(k)) => format!("delete {k} records (record_delete)"),
            (Operation::Privacy, _) => "run privacy requests (privacy)".to_string(),
            (_, Some(k)) => format!("{} ({k})", op.name()),
            (_, None) => op.name().to_string(),
        };
        Err(EngineError::Forbidden {
            actor: self.actor.name.clone(),
            role: self.actor.role.name(),
            op: what,
            allowed: if roles.is_empty() {
                "no role (nobody may)".into()
            } else {
                roles
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    /// A read-only view of the store: interfaces read through it and change only through
    /// the engine's operations.
    pub fn read(&mut self) -> Reader<'_> {
        Reader::new(self.store)
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}
