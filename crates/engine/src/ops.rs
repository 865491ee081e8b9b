//! The lifecycle operations. Each runs in one transaction: candidates into a temporary set,
//! blockers computed set-based, the plan built; a dry run stops there (rolled back), apply
//! executes the plan's effects with one statement per table and writes the audit entries.

use std::collections::{BTreeMap, HashMap};

use offboard_model::model::{DeleteMode, Model, Operation, PurgeMode, RuleSubject};
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::Db;
use offboard_store::records::customer_path;
use offboard_store::{Dialect, StoreError};

use crate::audit::{self, NewEntry};
use crate::blockers::{complete_explanations, rule_blockers, split_rules, Blockers};
use crate::erase::erase;
use crate::plan::{Blocker, CustomerPlan, Outcome, Plan};
use crate::sql::{analyze, fill_set, ph, q, temp_set};
use crate::{Allowed, Engine, EngineError};

pub(crate) const CAND: &str = "offboard_cand";
pub(crate) const GO: &str = "offboard_go";

/// What to do with open items a rule lets the user resolve (open activities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenItems {
    Complete,
    Remove,
}

#[derive(Debug, Clone, Default)]
pub struct DeactivateOptions {
    pub reason: Option<String>,
    pub open_items: Option<OpenItems>,
}

/// A candidate as read before anything changes.
pub(crate) struct Cand {
    pub(crate) id: i64,
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) status: String,
}

fn candidates(db: &mut dyn Db) -> Result<Vec<Cand>, StoreError> {
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
                status: t(&r[4]),
            }
        })
        .collect())
}

/// Where an operation is, as it goes: called with each phase as it ends ("blockers",
/// "orphan_fixpoint", "effects", "audit"), so an interface can show progress.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Wall time per phase of an operation, in milliseconds, for the plan's `timings`.
pub(crate) struct Phases<'a> {
    last: std::time::Instant,
    done: BTreeMap<String, f64>,
    report: Progress<'a>,
}

impl<'a> Phases<'a> {
    pub(crate) fn start(report: Progress<'a>) -> Phases<'a> {
        Phases {
            last: std::time::Instant::now(),
            done: BTreeMap::new(),
            report,
        }
    }

    pub(crate) fn mark(&mut self, phase: &str) {
        let now = std::time::Instant::now();
        self.done
            .insert(phase.into(), (now - self.last).as_secs_f64() * 1000.0);
        self.last = now;
        (self.report)(phase);
    }

    pub(crate) fn done(self) -> BTreeMap<String, f64> {
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
fn lock(db: &mut dyn Db, dry_run: bool) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres && !dry_run {
        db.query(&format!("SELECT id FROM customers WHERE id IN (SELECT id FROM {CAND}) ORDER BY id FOR UPDATE"), &[], &[FieldType::Int])?;
    }
    Ok(())
}

/// Builds a plan from each candidate's decision; `rules` are the rule ids the operation checks
/// (listed in `blocked_by_rule` even when they block no one).
pub(crate) fn plan_of(
    op: &str,
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
                outcome,
                blockers,
                why,
            }
        })
        .collect();
    let mut plan = Plan {
        operation: op.into(),
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
/// no write lock.
pub(crate) fn run(
    db: &mut dyn Db,
    dry_run: bool,
    f: impl FnOnce(&mut dyn Db) -> Result<Plan, StoreError>,
) -> Result<Plan, EngineError> {
    run_as(db, dry_run, false, f)
}

/// [`run`] for operations whose dry run writes and rolls back (moving data): it takes the
/// write lock like apply.
pub(crate) fn run_writing(
    db: &mut dyn Db,
    dry_run: bool,
    f: impl FnOnce(&mut dyn Db) -> Result<Plan, StoreError>,
) -> Result<Plan, EngineError> {
    run_as(db, dry_run, true, f)
}

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

/// What an operation did to each customer's records: customer → kind → what → rows.
pub(crate) type PerCustomer = HashMap<i64, BTreeMap<String, BTreeMap<String, i64>>>;

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
    for r in db.query(select, params, &[FieldType::Int, FieldType::Int])? {
        if let (Some(id), Some(n)) = (r[0].as_i64(), r[1].as_i64()) {
            *out.entry(id)
                .or_default()
                .entry(kind.to_string())
                .or_default()
                .entry(what.to_string())
                .or_insert(0) += n;
        }
    }
    Ok(())
}

/// The audit entry of a customer the plan processed.
pub(crate) fn entry(
    c: &CustomerPlan,
    reason: Option<String>,
    details: serde_json::Value,
) -> NewEntry {
    NewEntry::customer(c.id, &c.number, &c.name, reason, details)
}

impl Engine<'_> {
    /// Deactivates customers: rules for `deactivate` checked for each (customers deactivated
    /// together do not block each other), open items resolved as chosen, reason and date set.
    pub fn deactivate(
        &mut self,
        ids: &[i64],
        opts: &DeactivateOptions,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Deactivate)?;
        // Resolving open items changes records: completing edits them, removing deletes
        // them, each as the kind's permissions allow.
        if let Some(choice) = opts.open_items {
            let op = match choice {
                OpenItems::Complete => Operation::RecordEdit,
                OpenItems::Remove => Operation::RecordDelete,
            };
            let model = self.store.shared_model();
            for rule in model
                .rules_for(Operation::Deactivate)
                .filter(|r| r.resolve.is_some())
            {
                if let RuleSubject::Records { kind, .. } = &rule.subject {
                    self.allow_record(op, kind)?;
                }
            }
        }
        self.set_status(
            &allowed,
            "deactivate",
            Operation::Deactivate,
            ids,
            opts,
            dry_run,
        )
    }

    /// Soft delete (to the recycle bin), or per the model: inactivate (`delete = "deactivate"`)
    /// or erase at once, restricted (`delete = "hard"`).
    pub fn delete(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Delete)?;
        match self.store.model().delete {
            DeleteMode::Soft => self.set_status(
                &allowed,
                "delete",
                Operation::Delete,
                ids,
                &DeactivateOptions::default(),
                dry_run,
            ),
            DeleteMode::Deactivate => {
                let opts = DeactivateOptions::default();
                self.set_status(
                    &allowed,
                    "delete",
                    Operation::Deactivate,
                    ids,
                    &opts,
                    dry_run,
                )
            }
            DeleteMode::Hard => {
                let model = self.store.shared_model();
                let actor = self.actor.name.clone();
                let db = self.store.db();
                let report = &mut *self.progress;
                run(db, dry_run, |tx| {
                    let cands = load_ids(tx, ids, dry_run)?;
                    erase(
                        &model,
                        tx,
                        &actor,
                        "delete",
                        Operation::Delete,
                        &cands,
                        false,
                        dry_run,
                        report,
                    )
                })
            }
        }
    }

    /// Returns customers to active and clears the reason and date.
    pub fn reactivate(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Reactivate)?;
        self.set_status(
            &allowed,
            "reactivate",
            Operation::Reactivate,
            ids,
            &DeactivateOptions::default(),
            dry_run,
        )
    }

    /// Brings deleted customers back to the status they had.
    pub fn undelete(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Undelete)?;
        self.set_status(
            &allowed,
            "undelete",
            Operation::Undelete,
            ids,
            &DeactivateOptions::default(),
            dry_run,
        )
    }

    /// Erases the deleted customers (older than the retention), each unless blocked, or all
    /// or none when the model says so.
    pub fn purge(&mut self, dry_run: bool) -> Result<Plan, EngineError> {
        self.allow(Operation::Purge)?;
        let model = self.store.shared_model();
        if model.purge == PurgeMode::None {
            return Err(EngineError::Refused(format!(
                "the {} model has no purge (purge = \"none\"): deleted customers are kept",
                model.name
            )));
        }
        let actor = self.actor.name.clone();
        let cutoff = DateTime::from_seconds(
            DateTime::now().seconds() - i64::from(model.purge_retention_days) * 86_400,
        );
        let db = self.store.db();
        let report = &mut *self.progress;
        run(db, dry_run, |tx| {
            temp_set(tx, CAND)?;
            tx.execute(
                &format!("INSERT INTO {CAND} (id) SELECT id FROM customers WHERE status = 'deleted' AND (deleted_at IS NULL OR deleted_at <= {})", ph(tx.dialect(), 1)),
                &[Value::DateTime(cutoff)],
            )?;
            analyze(tx, CAND)?;
            lock(tx, dry_run)?;
            // Under the lock: a customer undeleted while the set was filled is no longer
            // deleted, and is not erased.
            tx.execute(
                &format!("DELETE FROM {CAND} WHERE id NOT IN (SELECT id FROM customers WHERE status = 'deleted')"),
                &[],
            )?;
            let cands = candidates(tx)?;
            erase(
                &model,
                tx,
                &actor,
                "purge",
                Operation::Purge,
                &cands,
                model.purge == PurgeMode::AllOrNothing,
                dry_run,
                report,
            )
        })
    }

    fn set_status(
        &mut self,
        _: &Allowed,
        name: &str,
        op: Operation,
        ids: &[i64],
        opts: &DeactivateOptions,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let db = self.store.db();
        let report = &mut *self.progress;
        run(db, dry_run, |tx| {
            let cands = load_ids(tx, ids, dry_run)?;
            status_change(&model, tx, &actor, name, op, &cands, opts, dry_run, report)
        })
    }
}

/// Deactivate, reactivate, soft delete, undelete: who proceeds, then one UPDATE.
#[allow(clippy::too_many_arguments)]
pub(crate) fn status_change(
    model: &Model,
    db: &mut dyn Db,
    actor: &str,
    name: &str,
    op: Operation,
    cands: &[Cand],
    opts: &DeactivateOptions,
    dry_run: bool,
    report: Progress<'_>,
) -> Result<Plan, StoreError> {
    let from: &[&str] = match op {
        Operation::Deactivate => &["active"],
        Operation::Reactivate => &["deactivated"],
        Operation::Delete => &["active", "deactivated"],
        _ => &["deleted"],
    };
    let skip = |c: &Cand| -> Option<String> {
        if !from.contains(&c.status.as_str()) {
            return Some(match (op, c.status.as_str()) {
                (Operation::Reactivate, "active") => "already active".into(),
                (_, "deleted") => "is deleted".into(),
                (_, "active") => "is active".into(),
                (_, s) => format!("already {s}"),
            });
        }
        if let (Operation::Deactivate, Some(r)) = (op, &opts.reason) {
            let list = model.customer.reasons_for(&c.kind);
            if !list.is_empty() && !list.contains(r) {
                return Some(format!(
                    "\"{r}\" is not a reason for a {}; reasons: {}",
                    c.kind,
                    list.join(", ")
                ));
            }
        }
        None
    };
    // A deactivation needs a reason where the model keeps a list for the customer's kind
    // (an erp delete, which only inactivates, and legal's deactivate-instead do not ask). A
    // dry run without one shows what would block, as the deactivate dialog does first.
    if name == "deactivate" && opts.reason.is_none() && !dry_run {
        let needing: Vec<&Cand> = cands
            .iter()
            .filter(|c| skip(c).is_none() && !model.customer.reasons_for(&c.kind).is_empty())
            .collect();
        if let Some(c) = needing.first() {
            return Err(StoreError::Invalid(format!(
                "a deactivation needs a reason: {} customer(s), e.g. {} {} ({}), are of a kind with a list; reasons for a {}: {}",
                needing.len(),
                c.id,
                c.number,
                c.name,
                c.kind,
                model.customer.reasons_for(&c.kind).join(", ")
            )));
        }
    }
    let mut clock = Phases::start(report);
    let mut blockers: Blockers = HashMap::new();
    if op == Operation::Deactivate {
        // Who could proceed, before blockers: the candidates less the skipped ones.
        temp_set(db, GO)?;
        db.execute(&format!("INSERT INTO {GO} (id) SELECT id FROM {CAND}"), &[])?;
        analyze(db, GO)?;
        let skipped: Vec<i64> = cands
            .iter()
            .filter(|c| skip(c).is_some())
            .map(|c| c.id)
            .collect();
        remove_ids(db, GO, skipped.iter())?;
        let (plain, on_customers) = split_rules(model, Operation::Deactivate);
        rule_blockers(model, db, &plain, GO, None, &mut blockers)?;
        let resolvable: Vec<_> = model
            .rules_for(Operation::Deactivate)
            .filter(|r| r.resolve.is_some())
            .collect();
        if opts.open_items.is_none() {
            let mut open = HashMap::new();
            rule_blockers(model, db, &resolvable, GO, None, &mut open)?;
            for (id, list) in open {
                for mut b in list {
                    b.message = format!("{}: choose to complete or remove them", b.message);
                    blockers.entry(id).or_default().push(b);
                }
            }
        }
        // Customers deactivated together do not block each other; one that stays blocks.
        remove_ids(db, GO, blockers.keys())?;
        loop {
            let mut more = HashMap::new();
            rule_blockers(model, db, &on_customers, GO, Some(GO), &mut more)?;
            more.retain(|id, _| !blockers.contains_key(id));
            if more.is_empty() {
                break;
            }
            remove_ids(db, GO, more.keys())?;
            blockers.extend(more);
        }
        complete_explanations(model, db, &on_customers, GO, &mut blockers)?;
    }
    let rule_ids: Vec<String> = if op == Operation::Deactivate {
        model.rules_for(op).map(|r| r.id.clone()).collect()
    } else {
        Vec::new()
    };
    let mut plan = plan_of(name, dry_run, cands, &rule_ids, &|c| match skip(c) {
        Some(why) => (Outcome::Skipped, vec![], Some(why)),
        None => match blockers.get(&c.id) {
            Some(b) => (Outcome::Blocked, b.clone(), None),
            None => (Outcome::Proceeds, vec![], None),
        },
    });
    clock.mark("blockers");
    if op != Operation::Deactivate {
        // (A deactivation's set already holds exactly those that proceed.)
        fill_go(db, &plan)?;
    }
    let d = db.dialect();
    // Effects of resolving open items.
    let mut per_customer = PerCustomer::new();
    if let (Operation::Deactivate, Some(choice)) = (op, opts.open_items) {
        for rule in model
            .rules_for(Operation::Deactivate)
            .filter(|r| r.resolve.is_some())
        {
            let RuleSubject::Records { kind, .. } = &rule.subject else {
                continue;
            };
            let Some(k) = model.record(kind) else {
                continue;
            };
            let (from, cust) = customer_path(model, k);
            let column = |_: Option<&str>, n: &str| format!("r.{}", q(n));
            let ctx = offboard_model::rule::SqlContext {
                dialect: d,
                column: &column,
                count_expr: "r.id".into(),
            };
            let mut params = Vec::new();
            let when = rule
                .when
                .as_ref()
                .map_or("1 = 1".to_string(), |w| w.to_sql(&ctx, &mut params));
            let rows = format!(
                "SELECT r.id FROM {from} WHERE {cust} IN (SELECT id FROM {GO}) AND ({when})"
            );
            let what = match choice {
                OpenItems::Remove => "removed",
                OpenItems::Complete => "completed",
            };
            let changes = !(choice == OpenItems::Complete
                && rule.resolve.as_ref().is_some_and(|r| r.complete.is_empty()));
            if !dry_run && changes {
                count_per_customer(
                    db,
                    &format!("SELECT {cust}, count(*) FROM {from} WHERE {cust} IN (SELECT id FROM {GO}) AND ({when}) GROUP BY {cust}"),
                    &params,
                    kind,
                    what,
                    &mut per_customer,
                )?;
            }
            let n = match (choice, &rule.resolve) {
                // Completing changes nothing when the rule names no field to set.
                (OpenItems::Complete, Some(res)) if res.complete.is_empty() => 0,
                // A dry run counts what would change.
                _ if dry_run => db
                    .query_i64(&format!("SELECT count(*) FROM ({rows}) x"), &params)?
                    .max(0) as u64,
                (OpenItems::Remove, _) => db.execute(
                    &format!("DELETE FROM {} WHERE id IN ({rows})", q(kind)),
                    &params,
                )?,
                (OpenItems::Complete, Some(res)) => {
                    let mut sets = Vec::new();
                    for (f, v) in &res.complete {
                        params.push(v.clone());
                        sets.push(format!("{} = {}", q(f), ph(d, params.len())));
                    }
                    if sets.is_empty() {
                        0
                    } else {
                        db.execute(
                            &format!(
                                "UPDATE {} SET {} WHERE id IN ({rows})",
                                q(kind),
                                sets.join(", ")
                            ),
                            &params,
                        )?
                    }
                }
                _ => 0,
            };
            effect(
                &mut plan,
                kind,
                if choice == OpenItems::Remove {
                    "removed"
                } else {
                    "completed"
                },
                n,
            );
        }
    }
    let today = Value::Date(DateTime::now().date());
    let (sql, params): (String, Vec<Value>) = match op {
        Operation::Deactivate => (
            format!("UPDATE customers SET status = 'deactivated', deactivated_on = {}, deactivation_reason = {} WHERE id IN (SELECT id FROM {GO})", ph(d, 1), ph(d, 2)),
            vec![today, opts.reason.clone().map_or(Value::Null, Value::Text)],
        ),
        Operation::Reactivate => (
            format!("UPDATE customers SET status = 'active', deactivated_on = NULL, deactivation_reason = NULL WHERE id IN (SELECT id FROM {GO})"),
            vec![],
        ),
        Operation::Delete => (
            format!("UPDATE customers SET status_before_delete = status, status = 'deleted', deleted_at = {} WHERE id IN (SELECT id FROM {GO})", ph(d, 1)),
            vec![Value::DateTime(DateTime::now())],
        ),
        _ => (
            format!("UPDATE customers SET status = COALESCE(status_before_delete, CASE WHEN deactivated_on IS NULL AND deactivation_reason IS NULL THEN 'active' ELSE 'deactivated' END), status_before_delete = NULL, deleted_at = NULL WHERE id IN (SELECT id FROM {GO})"),
            vec![],
        ),
    };
    // A dry run knows the count without writing it.
    let n = if dry_run {
        plan.done as u64
    } else {
        db.execute(&sql, &params)?
    };
    let key = plan.done_key();
    effect(&mut plan, "customers", &key, n);
    // What each customer became (an undeleted one: the status it had before).
    let new_status = match op {
        Operation::Deactivate => "deactivated",
        Operation::Reactivate => "active",
        Operation::Delete => "deleted",
        _ => "restored",
    };
    clock.mark("effects");
    if !dry_run {
        let entries: Vec<NewEntry> = plan
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Proceeds)
            .map(|c| {
                let mut details = serde_json::json!({ "status": new_status });
                if let Some(records) = per_customer.get(&c.id) {
                    details["records"] = serde_json::json!(records);
                }
                entry(
                    c,
                    opts.reason.clone().filter(|_| op == Operation::Deactivate),
                    details,
                )
            })
            .collect();
        audit::append(db, actor, name, &entries)?;
    }
    clock.mark("audit");
    plan.timings = clock.done();
    Ok(plan)
}
