//! The engine's shared kernel: the candidate set and its lock, the phases and their timings,
//! the plan built from each candidate's decision, the transaction an operation runs in, and the
//! helpers its steps share. Every lifecycle operation (`ops.rs`, `erase.rs`, `moves.rs`) is
//! written on top of this; none of them depends on another's file.

use std::collections::{BTreeMap, HashMap};

use offboard_model::model::{Model, Operation, Status};
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::{Dialect, StoreError};

use crate::audit::NewEntry;
use crate::plan::{Blocker, CustomerPlan, Outcome, Plan};
use crate::sql::{analyze, fill_set, temp_set};
use crate::EngineError;

pub(crate) const CAND: &str = "offboard_cand";
pub(crate) const GO: &str = "offboard_go";

/// What every step of an operation needs to know: the model, who acts, whether it is a dry
/// run, and where to report progress.
pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a Model,
    pub(crate) actor: &'a str,
    pub(crate) dry_run: bool,
    pub(crate) report: Progress<'a>,
}

/// A candidate as read before anything changes.
#[derive(Debug, Clone)]
pub(crate) struct Cand {
    pub(crate) id: i64,
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: Status,
}

pub(crate) fn candidates(db: &mut dyn Db) -> Result<Vec<Cand>, StoreError> {
    let rows = db.query(
        &format!("SELECT c.id, c.number, c.name, c.kind, c.status FROM customers c WHERE c.id IN (SELECT id FROM {CAND}) ORDER BY c.id"),
        &[],
        &[FieldType::Int, FieldType::Text, FieldType::Text, FieldType::Text, FieldType::Text],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = |v: &Value| v.as_str().unwrap_or_default().to_string();
            Cand {
                id: r[0].as_i64().unwrap_or(0),
                number: t(&r[1]),
                name: t(&r[2]),
                kind: t(&r[3]),
                status: r[4]
                    .as_str()
                    .and_then(Status::parse)
                    .unwrap_or(Status::Active),
            }
        })
        .collect())
}

/// Where an operation is: the phase it has begun (candidates, blockers, orphan_fixpoint,
/// effects, audit, commit) and, where the phase has a count, `done` of `total` (customers,
/// tables, rounds).
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    pub phase: &'a str,
    pub done: u64,
    pub total: u64,
}

/// Told each [`Step`] as the operation reaches it; answering `false` cancels the operation
/// there (its transaction rolls back, nothing is changed).
pub type Progress<'a> = &'a mut dyn FnMut(&Step<'_>) -> bool;

/// Tells `report` a step; a `false` answer is the cancellation.
pub(crate) fn tell(
    report: &mut dyn FnMut(&Step<'_>) -> bool,
    step: Step<'_>,
) -> Result<(), StoreError> {
    if report(&step) {
        Ok(())
    } else {
        Err(StoreError::Cancelled(format!(
            "cancelled in its {} phase; nothing was changed",
            step.phase
        )))
    }
}

/// The operation's phases as they go: each one's wall time in milliseconds (the plan's
/// `timings`), and each begun phase told to the progress report.
pub(crate) struct Phases<'a> {
    last: std::time::Instant,
    current: (&'static str, u64),
    /// How far the current phase is (in its own steps: rules checked, rounds, tables changed,
    /// entries written).
    at: u64,
    done: BTreeMap<String, f64>,
    report: Progress<'a>,
}

impl<'a> Phases<'a> {
    /// Begins the first phase, with `total` things to go through.
    pub(crate) fn start(
        report: Progress<'a>,
        phase: &'static str,
        total: u64,
    ) -> Result<Phases<'a>, StoreError> {
        // The candidates are read by now (the operation's first step, [`run_as`]).
        tell(
            &mut *report,
            Step {
                phase: "candidates",
                done: 1,
                total: 1,
            },
        )?;
        tell(
            &mut *report,
            Step {
                phase,
                done: 0,
                total,
            },
        )?;
        Ok(Phases {
            last: std::time::Instant::now(),
            current: (phase, total),
            at: 0,
            done: BTreeMap::new(),
            report,
        })
    }

    /// Tells how far the current phase is.
    pub(crate) fn advance(&mut self, done: u64) -> Result<(), StoreError> {
        let (phase, total) = self.current;
        self.at = done.min(total);
        tell(
            &mut *self.report,
            Step {
                phase,
                done: self.at,
                total,
            },
        )
    }

    /// One more step of the current phase done.
    pub(crate) fn tick(&mut self) -> Result<(), StoreError> {
        self.advance(self.at + 1)
    }

    /// Does `step` for each of `items`, each one a step of the current phase (as the rules a
    /// blockers phase checks one by one).
    pub(crate) fn each<T>(
        &mut self,
        items: &[T],
        mut step: impl FnMut(&T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in items {
            step(item)?;
            self.tick()?;
        }
        Ok(())
    }

    /// A phase whose length is not known beforehand (the orphan fixpoint's rounds): `done`
    /// steps are done and at least one more is to come.
    pub(crate) fn advance_open(&mut self, done: u64) -> Result<(), StoreError> {
        self.current.1 = done + 1;
        self.advance(done)
    }

    /// The open phase is over after `done` steps.
    pub(crate) fn finish_open(&mut self, done: u64) -> Result<(), StoreError> {
        self.current.1 = done;
        self.advance(done)
    }

    fn close(&mut self) {
        let now = std::time::Instant::now();
        self.done.insert(
            self.current.0.into(),
            (now - self.last).as_secs_f64() * 1000.0,
        );
        self.last = now;
    }

    /// Ends the current phase and begins `phase`.
    pub(crate) fn next(&mut self, phase: &'static str, total: u64) -> Result<(), StoreError> {
        self.close();
        self.current = (phase, total);
        self.at = 0;
        tell(
            &mut *self.report,
            Step {
                phase,
                done: 0,
                total,
            },
        )
    }

    /// Ends the last phase: the timings.
    pub(crate) fn done(mut self) -> BTreeMap<String, f64> {
        self.close();
        self.done
    }
}

/// Removes ids from a temporary set, set-based.
pub(crate) fn remove_ids<'a>(
    db: &mut dyn Db,
    set: &str,
    ids: impl Iterator<Item = &'a i64>,
) -> Result<(), StoreError> {
    const DROP: &str = "offboard_drop";
    let ids: Vec<i64> = ids.copied().collect();
    if ids.is_empty() {
        return Ok(());
    }
    temp_set(db, DROP)?;
    fill_set(db, DROP, &ids)?;
    db.execute(
        &format!("DELETE FROM {set} WHERE id IN (SELECT id FROM {DROP})"),
        &[],
    )?;
    analyze(db, set)
}

/// One customer's outcome, its blockers and why it was skipped.
type Decision = (Outcome, Vec<Blocker>, Option<String>);

/// Puts explicit ids into the candidate set, locks them (apply, PostgreSQL) and reads them
/// under the lock, so the operation decides on a status no one can change before it commits;
/// unknown ids are an error naming them.
pub(crate) fn load_ids(
    db: &mut dyn Db,
    ids: &[i64],
    dry_run: bool,
) -> Result<Vec<Cand>, StoreError> {
    temp_set(db, CAND)?;
    fill_set(db, CAND, ids)?;
    lock(db, dry_run)?;
    let found = candidates(db)?;
    let present: std::collections::HashSet<i64> = found.iter().map(|c| c.id).collect();
    let missing: Vec<String> = ids
        .iter()
        .filter(|i| !present.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        // A merged-away id is refused by name, never followed to the survivor: a change is
        // done to the customer the person named or to none.
        let merged = db.query(
            &format!(
                "SELECT m.id, m.into_id, c.number, c.name FROM offboard_merged m LEFT JOIN customers c ON c.id = m.into_id WHERE m.id IN ({})",
                missing.join(", ")
            ),
            &[],
            &[FieldType::Int, FieldType::Int, FieldType::Text, FieldType::Text],
        )?;
        if !merged.is_empty() {
            let went: Vec<String> = merged
                .iter()
                .map(|r| {
                    format!(
                        "customer {} was merged into {} {} (id {})",
                        r[0].to_cell(),
                        r[2].to_cell(),
                        r[3].to_cell(),
                        r[1].to_cell()
                    )
                })
                .collect();
            return Err(StoreError::Refused(format!(
                "{}; nothing was done — name the customer it went into if you mean it",
                went.join("; ")
            )));
        }
        return Err(StoreError::NotFound(format!(
            "there is no customer with id {}",
            missing.join(", ")
        )));
    }
    Ok(found)
}

/// In PostgreSQL, locks the candidates so a concurrent new record or operation waits for
/// this one; whatever is read after it (statuses, rules) is what the operation acts on.
/// (SQLite's writing transactions are serial: `BEGIN IMMEDIATE`.) A dry run changes nothing
/// and locks nothing (locking a row writes to it in PostgreSQL).
pub(crate) fn lock(db: &mut dyn Db, dry_run: bool) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres && !dry_run {
        db.query(&format!("SELECT id FROM customers WHERE id IN (SELECT id FROM {CAND}) ORDER BY id FOR UPDATE"), &[], &[FieldType::Int])?;
    }
    Ok(())
}

/// Builds a plan from each candidate's decision; `rules` are the rule ids the operation checks
/// (listed in `blocked_by_rule` even when they block no one).
pub(crate) fn plan_of(
    op: Operation,
    dry_run: bool,
    cands: &[Cand],
    rules: &[String],
    outcome: &dyn Fn(&Cand) -> Decision,
) -> Plan {
    let customers = cands
        .iter()
        .map(|c| {
            let (outcome, blockers, why) = outcome(c);
            CustomerPlan {
                id: c.id,
                number: c.number.clone(),
                name: c.name.clone(),
                kind: c.kind.clone(),
                outcome,
                blockers,
                why,
            }
        })
        .collect();
    let mut plan = Plan {
        operation: op,
        dry_run,
        candidates: 0,
        done: 0,
        blocked: 0,
        skipped: 0,
        deactivated: 0,
        blocked_by_rule: rules.iter().map(|r| (r.clone(), 0)).collect(),
        effects: BTreeMap::new(),
        customers,
        timings: BTreeMap::new(),
        notes: Vec::new(),
        merge: None,
        audit_entry: None,
        fingerprint: String::new(),
    };
    plan.tally();
    plan
}

/// Writes the proceeding customers' ids into GO.
pub(crate) fn fill_go(db: &mut dyn Db, plan: &Plan) -> Result<(), StoreError> {
    temp_set(db, GO)?;
    let ids: Vec<i64> = plan
        .customers
        .iter()
        .filter(|c| c.outcome == Outcome::Proceeds)
        .map(|c| c.id)
        .collect();
    fill_set(db, GO, &ids)
}

pub(crate) fn effect(plan: &mut Plan, table: &str, what: &str, n: u64) {
    if n > 0 {
        *plan
            .effects
            .entry(table.to_string())
            .or_default()
            .entry(what.to_string())
            .or_insert(0) += n as i64;
    }
}

/// Runs `f` in a transaction: committed on apply, always rolled back on a dry run, so a dry
/// run computes exactly what apply would do and changes nothing. The lifecycle's dry runs
/// read the tables without writing them (they count what apply would change), so they take
/// no write lock; moves (`dry_run_writes`) write and roll back, and take it like apply.
fn run_as(
    db: &mut dyn Db,
    dry_run: bool,
    dry_run_writes: bool,
    f: impl FnOnce(&mut dyn Db) -> Result<Plan, StoreError>,
) -> Result<Plan, EngineError> {
    let start = std::time::Instant::now();
    let mut worked = std::time::Duration::ZERO;
    let timed = |tx: &mut dyn Db| {
        let plan = f(tx);
        worked = start.elapsed();
        plan
    };
    let mut plan = run_with(db, dry_run, dry_run_writes, timed)?;
    // Where the rest of the time went: what the operation's own phases do not cover
    // (selecting and reading the candidates, building the plan), and the commit.
    if !plan.timings.is_empty() {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        let phases: f64 = plan.timings.values().sum();
        plan.timings
            .insert("candidates".into(), (ms(worked) - phases).max(0.0));
        plan.timings
            .insert("commit".into(), ms(start.elapsed() - worked));
    }
    Ok(plan)
}

/// [`run`] for any result, without timings; `dry_run_writes` when the dry run writes and
/// rolls back (it then takes the write lock like apply).
pub(crate) fn run_with<T>(
    db: &mut dyn Db,
    dry_run: bool,
    dry_run_writes: bool,
    f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
) -> Result<T, EngineError> {
    if !dry_run {
        return Ok(db.transaction(f)?);
    }
    if dry_run_writes {
        db.begin()?;
    } else {
        db.begin_reading()?;
    }
    let result = f(db);
    db.rollback()?;
    Ok(result?)
}

/// What an operation did to each customer's records: customer → `{kind: {what: rows}}`, built
/// as the JSON its audit entry carries (no conversion or copy per entry).
pub(crate) type PerCustomer = HashMap<i64, serde_json::Map<String, serde_json::Value>>;

/// Counts, per customer, the rows `select` (`SELECT customer_id, count(*) ... GROUP BY`)
/// finds, under `kind` and `what`: one grouped query, read before the rows change.
pub(crate) fn count_per_customer(
    db: &mut dyn Db,
    select: &str,
    params: &[Value],
    kind: &str,
    what: &str,
    out: &mut PerCustomer,
) -> Result<(), StoreError> {
    db.query_each(
        select,
        params,
        &[FieldType::Int, FieldType::Int],
        &mut |r| {
            if let (Some(id), Some(n)) = (r[0].as_i64(), r[1].as_i64()) {
                let kinds = out.entry(id).or_default();
                let whats = kinds
                    .entry(kind.to_string())
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(m) = whats.as_object_mut() {
                    let before = m.get(what).and_then(serde_json::Value::as_i64).unwrap_or(0);
                    m.insert(what.to_string(), serde_json::Value::from(before + n));
                }
            }
            Ok(())
        },
    )
}

/// The audit entry of a customer the plan processed.
pub(crate) fn entry(
    c: &CustomerPlan,
    reason: Option<String>,
    details: serde_json::Value,
) -> NewEntry {
    NewEntry::customer(c.id, &c.number, &c.name, reason, details)
}

impl crate::Engine<'_> {
    /// Runs `f` in the operation's transaction ([`run_as`]) with the operation's context.
    pub(crate) fn within(
        &mut self,
        dry_run: bool,
        dry_run_writes: bool,
        f: impl FnOnce(&mut Ctx<'_>, &mut dyn Db) -> Result<Plan, StoreError>,
    ) -> Result<Plan, EngineError> {
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let db = self.store.db();
        let report = &mut *self.progress;
        let on_commit = &mut self.on_commit;
        let also = self.also.take();
        // Only an apply is bound (a dry run inside an operation, as a move-to's planning
        // pass, leaves the binding to the apply that follows).
        let expected = if dry_run {
            None
        } else {
            self.expected_plan.take()
        };
        let mut changed: Option<Plan> = None;
        let result = run_as(db, dry_run, dry_run_writes, |tx: &mut dyn Db| {
            tell(
                &mut *report,
                Step {
                    phase: "candidates",
                    done: 0,
                    total: 1,
                },
            )?;
            let mut ctx = Ctx {
                model: &model,
                actor: &actor,
                dry_run,
                report: &mut *report,
            };
            let entries_before: Option<i64> =
                offboard_store::meta::get_meta(tx, "audit_count")?.and_then(|c| c.parse().ok());
            let mut plan = f(&mut ctx, tx)?;
            plan.fingerprint = plan.fingerprint_of();
            if let Some(expected) = &expected {
                if *expected != plan.fingerprint {
                    changed = Some(plan);
                    return Err(StoreError::Refused("the plan changed".into()));
                }
            }
            if !dry_run {
                // The last entry it wrote, read inside its own transaction (whatever it
                // counted as done: a move-to that deactivated instead wrote entries too).
                let now: Option<i64> =
                    offboard_store::meta::get_meta(tx, "audit_count")?.and_then(|c| c.parse().ok());
                if now > entries_before {
                    plan.audit_entry = now;
                }
            }
            tell(
                &mut *report,
                Step {
                    phase: "commit",
                    done: 0,
                    total: 1,
                },
            )?;
            if let (false, Some(also)) = (dry_run, also) {
                also(tx, &plan)?;
            }
            if let (false, Some(hook)) = (dry_run, on_commit.as_mut()) {
                hook(tx, &plan.to_json())?;
            }
            Ok(plan)
        });
        let plan = match (result, changed) {
            (_, Some(plan)) => {
                return Err(EngineError::PlanChanged {
                    expected: expected.unwrap_or_default(),
                    plan: Box::new(plan),
                })
            }
            (result, None) => result?,
        };
        let erased = plan
            .effects
            .get("customers")
            .and_then(|e| e.get("removed"))
            .is_some_and(|n| *n > 0);
        let mut plan = plan;
        let scrub = std::time::Instant::now();
        if erased && !dry_run {
            // Committed: now the files forget too — the search index's segments merged, and
            // SQLite's write-ahead log emptied into the file whose freed pages secure_delete
            // zeroed. A failure here does not undo the erasure; it is said in the plan.
            if let Some(note) = offboard_store::scrub::after_erasure(self.store.db()) {
                plan.notes.push(note);
            }
        }
        if erased && self.store.dialect() == offboard_store::Dialect::Postgres {
            let note = self.rewrite_note(&model, &plan, dry_run);
            plan.notes.extend(note);
        }
        if erased && !dry_run {
            // The erase step: what the files needed after the commit so the erased rows
            // left them (the index merged, the log truncated; PostgreSQL's rewrite).
            plan.timings
                .insert("scrub".into(), scrub.elapsed().as_secs_f64() * 1000.0);
        }
        Ok(plan)
    }

    /// PostgreSQL keeps erased rows in its table files until they are rewritten: after an
    /// erasure the tables it touched are rewritten at once — or, when the model schedules
    /// the compaction, by that schedule. A dry run says which, what it locks and for about
    /// how long; an applied one what it did.
    fn rewrite_note(
        &mut self,
        model: &offboard_model::Model,
        plan: &Plan,
        dry_run: bool,
    ) -> Option<String> {
        if let Some(s) = model
            .schedules
            .iter()
            .find(|s| s.run == offboard_model::model::ScheduleRun::Compact)
        {
            return Some(format!(
                "the erased rows leave PostgreSQL's files when schedule `{}` next compacts the tables (every {})",
                s.id,
                s.every.name()
            ));
        }
        let tables: Vec<String> = plan
            .effects
            .iter()
            .filter(|(t, e)| {
                (t.as_str() == "customers" || model.record(t).is_some())
                    && e.values().any(|n| *n > 0)
            })
            .map(|(t, _)| t.clone())
            .collect();
        self.rewrite_tables_note(tables, dry_run)
    }

    /// PostgreSQL: rewrites `tables` (and the audit log's kept-apart parts and the records
    /// bin) so values removed or masked leave the files — the erasure's step and a forget's.
    pub(crate) fn rewrite_tables_note(
        &mut self,
        mut tables: Vec<String>,
        dry_run: bool,
    ) -> Option<String> {
        tables.push("offboard_audit_personal".into());
        // The records bin keeps deleted records' values, which an erasure removes too.
        tables.push("offboard_deleted_records".into());
        let result = if dry_run {
            self.store.rewrite_plan(&tables).map(|p| {
                let longest = p
                    .tables
                    .iter()
                    .max_by(|a, b| a.estimated_seconds.total_cmp(&b.estimated_seconds));
                format!(
                    "after it commits, {} are rewritten so the erased rows leave PostgreSQL's files (VACUUM FULL: each locked, no reads or writes, one at a time; the longest {} for about {:.1} s{})",
                    tables.join(", "),
                    longest.map_or("", |t| t.table.as_str()),
                    longest.map_or(0.0, |t| t.estimated_seconds),
                    if p.rate_measured { "" } else { ", at an assumed rate" }
                )
            })
        } else {
            self.store.rewrite_after_erasure(&tables).map(|done| {
                let (t, secs) = done
                    .locked
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .cloned()
                    .unwrap_or_default();
                let mut note = format!(
                    "rewrote {} so the erased rows left PostgreSQL's files (the longest lock: {t}, {secs:.2} s)",
                    done.rewritten.join(", ")
                );
                if let Some(n) = done.note {
                    note.push_str("; ");
                    note.push_str(&n);
                }
                note
            })
        };
        Some(result.unwrap_or_else(|e| {
            format!("the erased rows could not be rewritten out of PostgreSQL's files ({e}); run `offboard compact`")
        }))
    }
}
