//! The lifecycle operations. Each runs in one transaction: candidates into a temporary set,
//! blockers computed set-based, the plan built; a dry run stops there (rolled back), apply
//! executes the plan's effects with one statement per table and writes the audit entries.

use std::collections::HashMap;

use offboard_model::model::{DeleteMode, Operation, PurgeMode, RuleSubject, Status};
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::Db;
use offboard_store::records::customer_path;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::blockers::{complete_explanations, rule_blockers, split_rules, Blockers};
use crate::erase::erase;
use crate::kernel::{
    candidates, count_per_customer, effect, entry, fill_go, load_ids, lock, plan_of, remove_ids,
    Cand, Ctx, PerCustomer, Phases, CAND, GO,
};
use crate::plan::{CustomerPlan, Outcome, Plan};
use crate::sql::{analyze, ph, q, temp_set};
use crate::{Allowed, Engine, EngineError};

/// What to do with open items a rule lets the user resolve (open activities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpenItems {
    Complete,
    Remove,
}

#[derive(Debug, Clone, Default)]
pub struct DeactivateOptions {
    /// The reason for every customer, unless its kind has its own in `reasons`.
    pub reason: Option<String>,
    /// A reason per customer kind, for a selection of several kinds whose lists differ
    /// (legal: companies and persons): kind → reason.
    pub reasons: std::collections::BTreeMap<String, String>,
    pub open_items: Option<OpenItems>,
    /// A preview before the reason is chosen (the web UI's deactivate dialog plans first and
    /// asks for the reason beside the plan): a missing reason is not refused. Every other
    /// dry run refuses what its apply would refuse.
    pub preview: bool,
}

impl DeactivateOptions {
    /// The reason a customer of `kind` is deactivated for.
    pub fn reason_for(&self, kind: &str) -> Option<&String> {
        self.reasons.get(kind).or(self.reason.as_ref())
    }
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
        self.set_status(&allowed, Operation::Deactivate, ids, opts, dry_run)
    }

    /// Soft delete (to the recycle bin), or per the model: inactivate (`delete = "deactivate"`)
    /// or erase at once, restricted (`delete = "hard"`).
    pub fn delete(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Delete)?;
        let none = DeactivateOptions::default();
        match self.store.model().delete {
            DeleteMode::Soft => self.set_status(&allowed, Operation::Delete, ids, &none, dry_run),
            DeleteMode::Deactivate => {
                let mut plan =
                    self.set_status(&allowed, Operation::Deactivate, ids, &none, dry_run)?;
                if plan.done > 0 {
                    let model = self.store.model();
                    plan.notes.push(format!(
                        "a delete in the {} model only deactivates: the customers stay, inactive, with every document; reactivate brings one back",
                        model.name
                    ));
                }
                Ok(plan)
            }
            DeleteMode::Hard => self.within(dry_run, false, |ctx, tx| {
                let cands = load_ids(tx, ids, ctx.dry_run)?;
                erase(&allowed, ctx, tx, &cands, false)
            }),
        }
    }

    /// Returns customers to active and clears the reason and date.
    pub fn reactivate(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Reactivate)?;
        let none = DeactivateOptions::default();
        self.set_status(&allowed, Operation::Reactivate, ids, &none, dry_run)
    }

    /// Brings deleted customers back to the status they had.
    pub fn undelete(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Undelete)?;
        let none = DeactivateOptions::default();
        self.set_status(&allowed, Operation::Undelete, ids, &none, dry_run)
    }

    /// Erases the deleted customers (older than the retention), each unless blocked, or all
    /// or none when the model says so.
    pub fn purge(&mut self, dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Purge)?;
        let model = self.store.shared_model();
        if model.purge == PurgeMode::None {
            return Err(EngineError::Refused(format!(
                "the {} model has no purge (purge = \"none\"): deleted customers are kept",
                model.name
            )));
        }
        let cutoff = DateTime::from_seconds(
            DateTime::now().seconds() - i64::from(model.purge_retention_days) * 86_400,
        );
        self.within(dry_run, false, |ctx, tx| {
            temp_set(tx, CAND)?;
            tx.execute(
                &format!("INSERT INTO {CAND} (id) SELECT id FROM customers WHERE (status = 'deleted' AND (deleted_at IS NULL OR deleted_at <= {})) OR id IN (SELECT customer_id FROM offboard_forgotten)", ph(tx.dialect(), 1)),
                &[Value::DateTime(cutoff)],
            )?;
            analyze(tx, CAND)?;
            lock(tx, ctx.dry_run)?;
            // Under the lock: a customer undeleted while the set was filled is no longer
            // deleted, and is not erased.
            tx.execute(
                &format!("DELETE FROM {CAND} WHERE id NOT IN (SELECT id FROM customers WHERE status = 'deleted') AND id NOT IN (SELECT customer_id FROM offboard_forgotten)"),
                &[],
            )?;
            let cands = candidates(tx)?;
            let mut plan = erase(
                &allowed,
                ctx,
                tx,
                &cands,
                model.purge == PurgeMode::AllOrNothing,
            )?;
            // The records bin past the retention goes with the cleanup.
            let n = crate::bin::purge_binned(tx, cutoff, GO, ctx.dry_run)?;
            crate::kernel::effect(&mut plan, "deleted_records", "removed", n);
            Ok(plan)
        })
    }

    /// An erasure request (GDPR art. 17): erases the named customers, whatever their status,
    /// planned exactly as the purge is (its rules, records that block, the orphan fixpoint,
    /// effects), each unless blocked — what must legally stay (an unpaid invoice, an open
    /// order) blocks it and says why. Needs the `purge` permission; the model's `purge` mode
    /// and retention do not apply (a request is answered now, even where no cleanup runs).
    pub fn erase_customers(&mut self, ids: &[i64], dry_run: bool) -> Result<Plan, EngineError> {
        let allowed = self.allow(Operation::Purge)?;
        self.erase_customers_as(&allowed, ids, dry_run)
    }

    /// [`Engine::erase_customers`] on a proof already taken (a privacy request's run).
    pub(crate) fn erase_customers_as(
        &mut self,
        allowed: &Allowed,
        ids: &[i64],
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        if ids.is_empty() {
            return Err(EngineError::Refused("name the customers to erase".into()));
        }
        self.within(dry_run, false, |ctx, tx| {
            let cands = load_ids(tx, ids, ctx.dry_run)?;
            erase(allowed, ctx, tx, &cands, false)
        })
    }

    /// A status change, shown in the plan as the operation `allowed` permits (an erp delete
    /// that only inactivates is a `delete` that runs `op` = deactivate).
    fn set_status(
        &mut self,
        allowed: &Allowed,
        op: Operation,
        ids: &[i64],
        opts: &DeactivateOptions,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        // The reasons a deactivation checks are the ones managers set last, wherever.
        if op == Operation::Deactivate {
            self.store.refresh_settings()?;
        }
        self.within(dry_run, false, |ctx, tx| {
            let cands = load_ids(tx, ids, ctx.dry_run)?;
            status_change(allowed, ctx, tx, op, &cands, opts)
        })
    }
}

/// Adds a list (`removed_ids`, `completed_rows`) under `kind` to a customer's entry details.
fn note_ids(
    per_customer: &mut PerCustomer,
    cid: Option<i64>,
    kind: &str,
    what: &str,
    list: Vec<serde_json::Value>,
) {
    let Some(cid) = cid else { return };
    let kinds = per_customer.entry(cid).or_default();
    let entry = kinds
        .entry(kind.to_string())
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if let Some(m) = entry.as_object_mut() {
        m.insert(what.to_string(), serde_json::Value::Array(list));
    }
}

/// Deactivate, reactivate, soft delete, undelete: who proceeds, then one UPDATE. The plan is
/// shown as the allowed operation; `op` is the change made.
pub(crate) fn status_change(
    allowed: &Allowed,
    ctx: &mut Ctx<'_>,
    db: &mut dyn Db,
    op: Operation,
    cands: &[Cand],
    opts: &DeactivateOptions,
) -> Result<Plan, StoreError> {
    let (model, actor, dry_run) = (ctx.model, ctx.actor, ctx.dry_run);
    let shown = allowed.operation();
    let from: &[Status] = match op {
        Operation::Deactivate => &[Status::Active],
        Operation::Reactivate => &[Status::Deactivated],
        Operation::Delete => &[Status::Active, Status::Deactivated],
        _ => &[Status::Deleted],
    };
    let skip = |c: &Cand| -> Option<String> {
        if !from.contains(&c.status) {
            return Some(match (op, c.status) {
                (Operation::Reactivate, Status::Active) => "already active".into(),
                // Not in the recycle bin (an erp "delete" only inactivates): said as such.
                (Operation::Undelete, Status::Deactivated) => {
                    "is deactivated, not deleted: reactivate it instead".into()
                }
                (Operation::Undelete, Status::Active) => "is active, not deleted".into(),
                (_, Status::Deleted) => "is deleted".into(),
                (_, Status::Active) => "is active".into(),
                (_, s) => format!("already {s}"),
            });
        }
        if let (Operation::Deactivate, Some(r)) = (op, opts.reason_for(&c.kind)) {
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
    if op == Operation::Deactivate {
        if let Some(kind) = opts
            .reasons
            .keys()
            .find(|k| !model.customer.kinds.contains(k))
        {
            return Err(StoreError::Invalid(format!(
                "`{kind}` is not a customer kind; kinds: {}",
                model.customer.kinds.join(", ")
            )));
        }
    }
    // The blockers phase's steps: each rule checked, and the customers-on-customers round.
    let checks = if matches!(op, Operation::Deactivate | Operation::Delete) {
        model.rules_for(op).count() as u64 + 1
    } else {
        1
    };
    let mut clock = Phases::start(&mut *ctx.report, "blockers", checks)?;
    let mut blockers: Blockers = HashMap::new();
    // A deactivation and a soft delete check their rules (`on = ["deactivate"]`,
    // `on = ["delete"]`); a reactivation and an undelete have none.
    if matches!(op, Operation::Deactivate | Operation::Delete) {
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
        let (plain, on_customers) = split_rules(model, op);
        clock.each(&plain, |rule| {
            rule_blockers(
                model,
                db,
                std::slice::from_ref(rule),
                GO,
                None,
                &mut blockers,
            )
        })?;
        let resolvable: Vec<_> = model
            .rules_for(op)
            .filter(|r| r.resolve.is_some())
            .collect();
        if opts.open_items.is_none() {
            let mut open = HashMap::new();
            clock.each(&resolvable, |rule| {
                rule_blockers(model, db, std::slice::from_ref(rule), GO, None, &mut open)
            })?;
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
    clock.advance(checks)?;
    if op == Operation::Undelete {
        undelete_conflicts(model, db, &mut blockers)?;
    }
    let rule_ids: Vec<String> = if matches!(op, Operation::Deactivate | Operation::Delete) {
        model.rules_for(op).map(|r| r.id.clone()).collect()
    } else {
        Vec::new()
    };
    let mut plan = plan_of(shown, dry_run, cands, &rule_ids, &|c| match skip(c) {
        Some(why) => (Outcome::Skipped, vec![], Some(why)),
        None => match blockers.get(&c.id) {
            Some(b) => (Outcome::Blocked, b.clone(), None),
            None => (Outcome::Proceeds, vec![], None),
        },
    });
    // Those it would deactivate need a reason where their kind keeps a list: a dry run
    // refuses as its apply does (blocked and skipped customers need none).
    if shown == Operation::Deactivate && !(dry_run && opts.preview) {
        let needing: Vec<&CustomerPlan> = plan
            .customers
            .iter()
            .filter(|c| {
                c.outcome == Outcome::Proceeds
                    && opts.reason_for(&c.kind).is_none()
                    && !model.customer.reasons_for(&c.kind).is_empty()
            })
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
    clock.next("effects", plan.done as u64)?;
    if !matches!(op, Operation::Deactivate | Operation::Delete) {
        // (A deactivation's or a delete's set already holds exactly those that proceed.)
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
                (OpenItems::Remove, _) => {
                    // Removed with a way back: into the records bin first, and the ids into
                    // the customer's entry (what an undo restores).
                    let kept = crate::bin::keep(model, db, k, &rows, &params, actor)?;
                    for (cid, _, _, records) in &kept {
                        let ids: Vec<serde_json::Value> =
                            records.iter().map(|r| r["id"].clone()).collect();
                        note_ids(&mut per_customer, cid.as_i64(), kind, "removed_ids", ids);
                    }
                    db.execute(
                        &format!("DELETE FROM {} WHERE id IN ({rows})", q(kind)),
                        &params,
                    )?
                }
                (OpenItems::Complete, Some(res)) => {
                    // What each completed row held before, for an undo to reopen it.
                    let fields: Vec<&String> = res.complete.iter().map(|(f, _)| f).collect();
                    if !fields.is_empty() {
                        let list: Vec<String> =
                            fields.iter().map(|f| format!("r.{}", q(f))).collect();
                        let mut types = vec![FieldType::Int, FieldType::Int];
                        types.extend(
                            fields
                                .iter()
                                .map(|f| k.field(f).map_or(FieldType::Text, |x| x.ty)),
                        );
                        let before = db.query(
                            &format!(
                                "SELECT {cust}, r.id, {} FROM {from} WHERE r.id IN ({rows})",
                                list.join(", ")
                            ),
                            &params,
                            &types,
                        )?;
                        let mut by: HashMap<i64, Vec<serde_json::Value>> = HashMap::new();
                        for row in before {
                            let (Some(cid), Some(id)) = (row[0].as_i64(), row[1].as_i64()) else {
                                continue;
                            };
                            let was: serde_json::Map<String, serde_json::Value> = fields
                                .iter()
                                .zip(&row[2..])
                                .map(|(f, v)| {
                                    ((*f).clone(), serde_json::to_value(v).unwrap_or_default())
                                })
                                .collect();
                            by.entry(cid)
                                .or_default()
                                .push(serde_json::json!({ "id": id, "before": was }));
                        }
                        for (cid, list) in by {
                            note_ids(&mut per_customer, Some(cid), kind, "completed_rows", list);
                        }
                    }
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
        Operation::Deactivate => {
            // One reason for all, or one per kind: a CASE on the kind, in the same statement.
            let mut params = vec![today];
            let mut reason = String::from("CASE kind");
            for (kind, r) in &opts.reasons {
                params.push(Value::Text(kind.clone()));
                params.push(Value::Text(r.clone()));
                reason.push_str(&format!(" WHEN {} THEN {}", ph(d, params.len() - 1), ph(d, params.len())));
            }
            params.push(opts.reason.clone().map_or(Value::Null, Value::Text));
            let reason = if opts.reasons.is_empty() {
                ph(d, params.len())
            } else {
                format!("{reason} ELSE {} END", ph(d, params.len()))
            };
            (
                format!("UPDATE customers SET status = 'deactivated', deactivated_on = {}, deactivation_reason = {reason} WHERE id IN (SELECT id FROM {GO})", ph(d, 1)),
                params,
            )
        }
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
    effect(&mut plan, "customers", key, n);
    clock.advance(plan.done as u64)?;
    // What each customer became (an undeleted one: the status it had before).
    let new_status = match op {
        Operation::Deactivate => Status::Deactivated.name(),
        Operation::Reactivate => Status::Active.name(),
        Operation::Delete => Status::Deleted.name(),
        _ => "restored",
    };
    clock.next("audit", plan.done as u64)?;
    if !dry_run {
        let kinds: HashMap<i64, String> = cands.iter().map(|c| (c.id, c.kind.clone())).collect();
        let entries: Vec<NewEntry> = plan
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Proceeds)
            .map(|c| {
                let mut details = serde_json::json!({ "status": new_status });
                if let Some(records) = per_customer.remove(&c.id) {
                    details["records"] = serde_json::Value::Object(records);
                }
                let kind = kinds.get(&c.id).map(String::as_str).unwrap_or_default();
                entry(
                    c,
                    opts.reason_for(kind)
                        .cloned()
                        .filter(|_| op == Operation::Deactivate),
                    details,
                )
            })
            .collect();
        audit::append(db, actor, Act::Op(shown), &entries)?;
    }
    clock.advance(plan.done as u64)?;
    plan.timings = clock.done();
    Ok(plan)
}

/// What an undelete would collide with, created or changed since the customers went to the
/// recycle bin: an identifying value (an email) another customer now holds (HubSpot's rule),
/// and a customer link (a contact's company) to a customer that is itself in the bin and not
/// undeleted with it — "undelete both". One query per identifying column and per link.
fn undelete_conflicts(
    model: &offboard_model::Model,
    db: &mut dyn Db,
    blockers: &mut Blockers,
) -> Result<(), StoreError> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let types = [
        offboard_model::FieldType::Int,
        offboard_model::FieldType::Int,
        offboard_model::FieldType::Text,
        offboard_model::FieldType::Text,
        offboard_model::FieldType::Text,
    ];
    for col in model
        .personal_columns()
        .into_iter()
        .filter(|p| p.table == "customers" && p.identifying)
    {
        let c = q(&col.column);
        let is_text = model
            .customer
            .columns()
            .iter()
            .any(|k| k.name == col.column && k.ty == offboard_model::FieldType::Text);
        let same = if is_text {
            format!("lower(o.{c}) = lower(c.{c})")
        } else {
            format!("o.{c} = c.{c}")
        };
        let rows = db.query(
            &format!(
                "SELECT c.id, o.id, o.number, o.name, o.status FROM customers c JOIN customers o ON {same} AND o.id <> c.id AND o.status <> 'deleted' WHERE c.id IN (SELECT id FROM {CAND}) AND c.{c} IS NOT NULL ORDER BY c.id, o.id"
            ),
            &[],
            &types,
        )?;
        for r in rows {
            let (id, other) = (r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0));
            blockers.entry(id).or_default().push(crate::plan::Blocker {
                rule: format!("{}-in-use", col.column),
                message: format!(
                    "its {} is now held by {} {} ({}), who is {}",
                    col.column.replace('_', " "),
                    text(&r[2]),
                    text(&r[3]),
                    other,
                    text(&r[4])
                ),
                count: 1,
                amount: None,
                ids: vec![other],
            });
        }
    }
    for cl in &model.customer.links {
        let c = q(&cl.link.column);
        let rows = db.query(
            &format!(
                "SELECT c.id, t.id, t.number, t.name, t.status FROM customers c JOIN customers t ON t.id = c.{c} WHERE c.id IN (SELECT id FROM {CAND}) AND t.status = 'deleted' AND t.id NOT IN (SELECT id FROM {CAND}) ORDER BY c.id"
            ),
            &[],
            &types,
        )?;
        for r in rows {
            let (id, target) = (r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0));
            blockers.entry(id).or_default().push(crate::plan::Blocker {
                rule: format!("{}-in-recycle-bin", cl.link.name),
                message: format!(
                    "its {} {} ({}) is in the recycle bin: undelete both",
                    cl.link.name.replace('_', " "),
                    text(&r[2]),
                    text(&r[3])
                ),
                count: 1,
                amount: None,
                ids: vec![target],
            });
        }
    }
    Ok(())
}
