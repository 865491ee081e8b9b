//! Moving a customer's data to another customer: transfer (transferable kinds, links
//! repointed), merge (everything moves, the duplicate goes) and delete with "move to customer"
//! (transfer, then erase — or deactivate instead when something had to stay).

use offboard_model::model::{Model, Operation, Status, Target};
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::blockers::{rule_blockers, Blockers};
use crate::erase::erase;
use crate::kernel::{effect, load_ids, plan_of, Cand, CAND};
use crate::ops::{status_change, DeactivateOptions};
use crate::plan::{Outcome, Plan};
use crate::sql::{ph, q};
use crate::{Allowed, Engine, EngineError};

/// Which of the source's records move.
pub(crate) enum Which<'a> {
    /// Transferable kinds, optionally only these.
    Transferable(Option<&'a [String]>),
    /// Everything (a merge of duplicates).
    All,
}

/// Moves records and repoints links from `from` to `to`; returns what stayed (kind, rows,
/// why). Customers linked to `from` (contacts, subsidiaries) are repointed unless only some
/// record kinds were asked for.
pub(crate) fn move_rows(
    model: &Model,
    db: &mut dyn Db,
    from: i64,
    to: i64,
    which: &Which,
    plan: &mut Plan,
) -> Result<Vec<(String, i64, &'static str)>, StoreError> {
    let d = db.dialect();
    let params = [Value::Int(to), Value::Int(from)];
    let mut stayed = Vec::new();
    for kind in model
        .records
        .iter()
        .filter(|k| k.owner.target == Target::Customer)
    {
        let (moves, why) = match which {
            Which::All => (true, ""),
            Which::Transferable(_) if !kind.transferable => (false, "cannot be moved"),
            Which::Transferable(Some(only)) if !only.contains(&kind.name) => (false, "not chosen"),
            Which::Transferable(_) => (true, ""),
        };
        let col = q(&kind.owner.column);
        if moves {
            let n = db.execute(
                &format!(
                    "UPDATE {} SET {col} = {} WHERE {col} = {}",
                    q(&kind.name),
                    ph(d, 1),
                    ph(d, 2)
                ),
                &params,
            )?;
            effect(plan, &kind.name, "moved", n);
        } else {
            let n = db.query_i64(
                &format!(
                    "SELECT count(*) FROM {} WHERE {col} = {}",
                    q(&kind.name),
                    ph(d, 1)
                ),
                &[Value::Int(from)],
            )?;
            if n > 0 {
                effect(plan, &kind.name, "stayed", n as u64);
                stayed.push((kind.name.clone(), n, why));
            }
        }
    }
    if matches!(which, Which::All) {
        for kind in &model.records {
            for link in kind.links.iter().filter(|l| l.target == Target::Customer) {
                let col = q(&link.column);
                let n = db.execute(
                    &format!(
                        "UPDATE {} SET {col} = {} WHERE {col} = {}",
                        q(&kind.name),
                        ph(d, 1),
                        ph(d, 2)
                    ),
                    &params,
                )?;
                effect(plan, &kind.name, "repointed", n);
            }
        }
    }
    if matches!(which, Which::Transferable(Some(_))) {
        return Ok(stayed);
    }
    for cl in &model.customer.links {
        let col = q(&cl.link.column);
        let n = db.execute(
            &format!(
                "UPDATE customers SET {col} = {} WHERE {col} = {} AND id <> {}",
                ph(d, 1),
                ph(d, 2),
                ph(d, 1)
            ),
            &params,
        )?;
        effect(plan, "customers", "repointed", n);
        // The target's own link to `from` would point at itself: it is cleared.
        let n = db.execute(
            &format!(
                "UPDATE customers SET {col} = NULL WHERE id = {} AND {col} = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &params,
        )?;
        effect(plan, "customers", "cleared", n);
    }
    Ok(stayed)
}

/// The ids of `from`'s transferable records (of `kinds` when given), per kind: what a
/// transfer or a move-to moves, kept for an undo.
fn transferable_ids(
    model: &Model,
    db: &mut dyn Db,
    from: i64,
    kinds: Option<&[String]>,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    let d = db.dialect();
    let mut out = serde_json::Map::new();
    for kind in model.records.iter().filter(|k| {
        k.owner.target == Target::Customer
            && k.transferable
            && kinds.is_none_or(|only| only.contains(&k.name))
    }) {
        let ids: Vec<i64> = db
            .query(
                &format!(
                    "SELECT id FROM {} WHERE {} = {}",
                    q(&kind.name),
                    q(&kind.owner.column),
                    ph(d, 1)
                ),
                &[Value::Int(from)],
                &[FieldType::Int],
            )?
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect();
        if !ids.is_empty() {
            out.insert(kind.name.clone(), serde_json::json!(ids));
        }
    }
    Ok(out)
}

/// Adds another plan's effects to `plan` (what moved before an erasure or deactivation).
fn add_effects(plan: &mut Plan, other: &Plan) {
    for (table, e) in &other.effects {
        for (what, n) in e {
            effect(plan, table, what, *n as u64);
        }
    }
}

/// How many records of `kind` in words: "3 invoices", "1 fund movement".
fn counted(model: &Model, kind: &str, n: i64) -> String {
    match model.record(kind) {
        Some(k) => k.count_words(n),
        None => format!("{n} {kind}"),
    }
}

/// "3 invoices (cannot be moved), 1 note (not chosen)".
fn stayed_text(model: &Model, stayed: &[(String, i64, &str)]) -> String {
    stayed
        .iter()
        .map(|(k, n, why)| format!("{} ({why})", counted(model, k, *n)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn single(op: Operation, dry_run: bool, c: &Cand, outcome: Outcome, why: Option<String>) -> Plan {
    plan_of(op, dry_run, std::slice::from_ref(c), &[], &|_| {
        (outcome, Vec::new(), why.clone())
    })
}

/// The customers whose links to `from` a move repoints to `to` (contact persons,
/// subsidiaries, bill-to), read before the move: their audit entries, one each naming the
/// link. Refuses the move when a link would point at a customer of a kind it may not (a
/// contact person's company made a person), as editing the link would be.
pub(crate) fn repoint(
    model: &Model,
    db: &mut dyn Db,
    from: &Cand,
    to: &Cand,
) -> Result<Vec<NewEntry>, StoreError> {
    let d = db.dialect();
    let mut out = Vec::new();
    for cl in &model.customer.links {
        let rows = db.query(
            &format!(
                "SELECT id, number, name FROM customers WHERE {} = {} AND id <> {} ORDER BY id",
                q(&cl.link.column),
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Int(from.id), Value::Int(to.id)],
            &[FieldType::Int, FieldType::Text, FieldType::Text],
        )?;
        let fits = cl.target_kinds.is_empty() || cl.target_kinds.contains(&to.kind);
        if !fits && !rows.is_empty() {
            return Err(StoreError::Refused(format!(
                "{} customer(s) link to {} ({}) as their {}, which must be a {}; {} ({}) is a {}: nothing was moved",
                rows.len(),
                from.id,
                from.name,
                cl.link.name,
                cl.target_kinds.join(" or "),
                to.id,
                to.name,
                to.kind
            )));
        }
        for r in rows {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            out.push(NewEntry::customer(
                r[0].as_i64().unwrap_or(0),
                &text(&r[1]),
                &text(&r[2]),
                None,
                serde_json::json!({
                    "link": cl.link.name,
                    "repointed": { "from": from.id, "from_number": from.number, "to": to.id, "to_number": to.number },
                }),
            ));
        }
    }
    Ok(out)
}

/// Audit entries of records moved from one customer to another: one on each side, naming
/// the other by id and number — never its name: each entry is kept with its own customer's
/// personal part, which the other's erasure would not find.
fn move_entries(from: &Cand, to: &Cand, moved: &Plan) -> Vec<NewEntry> {
    vec![
        NewEntry::customer(
            from.id,
            &from.number,
            &from.name,
            None,
            serde_json::json!({ "to": to.id, "to_number": to.number, "effects": moved.effects }),
        ),
        NewEntry::customer(
            to.id,
            &to.number,
            &to.name,
            None,
            serde_json::json!({ "from": from.id, "from_number": from.number, "effects": moved.effects }),
        ),
    ]
}

/// Refuses a move of records away from `from` while the model's transfer rules block it.
pub(crate) fn transfer_blockers(
    model: &Model,
    db: &mut dyn Db,
    from: i64,
) -> Result<(), EngineError> {
    crate::sql::temp_set(db, CAND)?;
    crate::sql::fill_set(db, CAND, &[from])?;
    let mut blockers: Blockers = Default::default();
    let rules: Vec<_> = model.rules_for(Operation::Transfer).collect();
    rule_blockers(model, db, &rules, CAND, None, &mut blockers)?;
    match blockers.remove(&from) {
        Some(b) => Err(EngineError::Refused(format!(
            "customer {from}'s records cannot be moved: {}",
            b.iter()
                .map(|x| x.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ))),
        None => Ok(()),
    }
}

/// Loads source and target, refusing a target that cannot receive records.
fn pair(db: &mut dyn Db, from: i64, to: i64, dry_run: bool) -> Result<(Cand, Cand), StoreError> {
    if from == to {
        return Err(StoreError::Invalid(format!(
            "customer {from} cannot be moved to itself"
        )));
    }
    let mut both = load_ids(db, &[from, to], dry_run)?;
    let target_at = both.iter().position(|c| c.id == to).unwrap_or(0);
    let target = both.remove(target_at);
    let source = both.remove(0);
    if target.status != Status::Active {
        return Err(StoreError::Refused(format!(
            "customer {to} ({}) is {}: records can only move to an active customer",
            target.name, target.status
        )));
    }
    Ok((source, target))
}

impl Engine<'_> {
    /// Moves the transferable records of `from` (only `kinds` when given) to `to` and repoints
    /// customers linked to `from`; reports what stayed.
    pub fn transfer(
        &mut self,
        from: i64,
        to: i64,
        kinds: Option<&[String]>,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        self.allow(Operation::Transfer)?;
        let model = self.store.shared_model();
        if let Some(k) = kinds.and_then(|ks| {
            ks.iter()
                .find(|k| model.record(k).is_none_or(|r| !r.transferable))
        }) {
            return Err(EngineError::Refused(format!(
                "`{k}` is not a transferable record kind of the {} model",
                model.name
            )));
        }
        self.within(dry_run, true, |ctx, tx| {
            let actor = ctx.actor;
            let (source, target) = pair(tx, from, to, dry_run)?;
            let mut blockers: Blockers = Default::default();
            let rules: Vec<_> = model.rules_for(Operation::Transfer).collect();
            rule_blockers(&model, tx, &rules, CAND, None, &mut blockers)?;
            blockers.remove(&to);
            if let Some(b) = blockers.remove(&from) {
                let mut plan = single(
                    Operation::Transfer,
                    dry_run,
                    &source,
                    Outcome::Blocked,
                    None,
                );
                plan.customers[0].blockers = b;
                plan.tally();
                return Ok(plan);
            }
            // Customers linked to the source move along unless only some kinds were asked for.
            let repointed = match kinds {
                None => repoint(&model, tx, &source, &target)?,
                Some(_) => Vec::new(),
            };
            let mut plan = single(
                Operation::Transfer,
                dry_run,
                &source,
                Outcome::Proceeds,
                None,
            );
            // Which records move, for an undo: read before they do.
            let moved_ids = if dry_run {
                serde_json::Map::new()
            } else {
                transferable_ids(&model, tx, from, kinds)?
            };
            let stayed = move_rows(&model, tx, from, to, &Which::Transferable(kinds), &mut plan)?;
            if !stayed.is_empty() {
                plan.customers[0].why = Some(format!("stayed: {}", stayed_text(&model, &stayed)));
            }
            if !dry_run {
                let mut entries = move_entries(&source, &target, &plan);
                entries[0].details["moved_ids"] = serde_json::Value::Object(moved_ids);
                audit::append(
                    tx,
                    actor,
                    Act::Op(Operation::Transfer),
                    &[entries, repointed].concat(),
                )?;
            }
            Ok(plan)
        })
    }

    /// Merges a duplicate into another customer: every record and link moves, the duplicate
    /// goes (a tombstone resolves its id and number to the survivor). See
    /// [`Engine::merge_many`].
    pub fn merge(&mut self, source: i64, into: i64, dry_run: bool) -> Result<Plan, EngineError> {
        self.merge_many(&[source], into, &std::collections::BTreeMap::new(), dry_run)
    }

    /// Hard delete with "move to customer": transferable data moves to `to`; the customer is
    /// then erased, or, when something could not move, deactivated instead (its deactivation
    /// blockers apply) and the plan says what stayed and why.
    ///
    /// Planned first: when the customer can be neither erased nor deactivated, nothing moves
    /// and the plan says why.
    pub fn delete_moving(
        &mut self,
        id: i64,
        to: i64,
        reason: Option<String>,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        let delete = self.allow(Operation::Delete)?;
        self.allow(Operation::Transfer)?;
        // A customer in the recycle bin is deleted already: moving its data and "deleting" it
        // again would claim a change that does not happen.
        if let Some(c) = self.store.find_customer(id)? {
            if c.status == offboard_model::model::Status::Deleted {
                return Err(EngineError::Refused(format!(
                    "customer {} {} is in the recycle bin already: undelete it first, or transfer its records",
                    c.number, c.name
                )));
            }
        }
        // Deactivating instead is a deactivation: it needs that permission when it happens,
        // and takes the reasons managers set last.
        let deactivate = self.allow(Operation::Deactivate).ok();
        self.store.refresh_settings()?;
        let plan = self.delete_moving_run(&delete, deactivate.as_ref(), id, to, &reason, true)?;
        if dry_run {
            return Ok(plan);
        }
        if plan.customers.iter().any(|c| c.outcome == Outcome::Blocked) {
            // Nothing is applied: the answer is the plan, as the dry run gave it.
            return Ok(Plan {
                dry_run: false,
                ..plan
            });
        }
        self.delete_moving_run(&delete, deactivate.as_ref(), id, to, &reason, false)
    }

    fn delete_moving_run(
        &mut self,
        delete: &Allowed,
        deactivate: Option<&Allowed>,
        id: i64,
        to: i64,
        reason: &Option<String>,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        self.within(dry_run, true, |ctx, tx| {
            let (model, actor) = (ctx.model, ctx.actor);
            let (source, target) = pair(tx, id, to, dry_run)?;
            let repointed = repoint(model, tx, &source, &target)?;
            let mut moved = single(Operation::Delete, dry_run, &source, Outcome::Proceeds, None);
            // Which records move, for an undo (when the customer is deactivated instead).
            let moved_ids = transferable_ids(model, tx, id, None)?;
            let stayed = move_rows(model, tx, id, to, &Which::Transferable(None), &mut moved)?;
            let cands = load_ids(tx, &[id], dry_run)?;
            let mut plan = erase(delete, ctx, tx, &cands, false)?;
            // What moved, on both sides, when the delete (or the deactivation instead) is applied.
            let record_moves = |tx: &mut dyn Db| match dry_run {
                true => Ok(()),
                false => {
                    let mut entries = move_entries(&source, &target, &moved);
                    entries[0].details["moved_ids"] = serde_json::Value::Object(moved_ids.clone());
                    audit::append(
                        tx,
                        actor,
                        Act::MoveTo,
                        &[entries, repointed.clone()].concat(),
                    )
                }
            };
            if plan.done == 1 {
                add_effects(&mut plan, &moved);
                let erased = plan
                    .effects
                    .get("customers")
                    .and_then(|e| e.get("removed"))
                    .is_some_and(|n| *n > 0);
                if erased && !dry_run {
                    // The source was erased a moment ago (the model's delete erases): its side
                    // of the move is written without its name, as its erasure's own entry is.
                    let mut entries = move_entries(&source, &target, &moved);
                    entries[0].customer_name = None;
                    entries[0].details["moved_ids"] =
                        serde_json::Value::Object(moved_ids.clone());
                    audit::append(tx, actor, Act::MoveTo, &[entries, repointed.clone()].concat())?;
                } else {
                    record_moves(tx)?;
                }
                return Ok(plan);
            }
            let why = if stayed.is_empty() {
                let reasons: Vec<String> = plan.customers[0]
                    .blockers
                    .iter()
                    .map(|b| b.message.clone())
                    .collect();
                format!("deactivated instead: {}", reasons.join("; "))
            } else {
                let list: Vec<String> =
                    stayed.iter().map(|(k, n, _)| counted(model, k, *n)).collect();
                format!(
                    "deactivated instead: {} cannot be moved to another customer",
                    list.join(", ")
                )
            };
            let cands = load_ids(tx, &[id], dry_run)?;
            let Some(deactivate) = deactivate else {
                return Err(StoreError::Refused(format!(
                    "customer {id} cannot be erased ({}), and {actor} may not deactivate it instead; nothing was moved",
                    why.trim_start_matches("deactivated instead: ")
                )));
            };
            let mut instead = status_change(
                deactivate,
                ctx,
                tx,
                Operation::Deactivate,
                &cands,
                &DeactivateOptions {
                    reason: reason.clone(),
                    open_items: None,
                    ..Default::default()
                },
            )?;
            instead.operation = Operation::Delete;
            let c = &mut instead.customers[0];
            match c.outcome {
                // Deactivated instead (or it was already): the data moved, the customer stays.
                Outcome::Proceeds | Outcome::Skipped | Outcome::Deactivated => {
                    c.outcome = Outcome::Deactivated;
                    c.blockers = plan.customers[0].blockers.clone();
                    c.why = Some(why);
                    add_effects(&mut instead, &moved);
                    record_moves(tx)?;
                }
                // Something changed since the plan: moving the data now would leave it moved
                // from a customer that stays; the whole operation is undone instead.
                Outcome::Blocked if !dry_run => {
                    return Err(StoreError::Refused(format!(
                        "customer {id} can no longer be deleted or deactivated ({}); nothing was moved",
                        c.blockers
                            .iter()
                            .map(|b| b.message.as_str())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )));
                }
                // Nothing would move: the plan keeps only what would stay.
                Outcome::Blocked => {
                    c.why = Some(format!(
                        "cannot be deleted, and cannot be deactivated instead: {}",
                        why.trim_start_matches("deactivated instead: ")
                    ));
                    for (table, e) in &moved.effects {
                        if let Some(n) = e.get("stayed") {
                            effect(&mut instead, table, "stayed", *n as u64);
                        }
                    }
                }
            }
            instead.tally();
            Ok(instead)
        })
    }
}
