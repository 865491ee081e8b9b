//! Undo: a deactivation, a soft delete or a merge — or a bulk job of these — taken back from
//! what its audit entries recorded, while nothing since depends on it. An undo is planned
//! like any operation (what comes back, what cannot and why), applied in one transaction and
//! audited (`undo`). Erasures are not undoable: their data is gone by design.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value as Json};

use offboard_model::model::Operation;
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::StoreError;

use crate::audit::{self, Act, Entry, NewEntry};
use crate::kernel::{effect, load_ids};
use crate::ops::{status_change, DeactivateOptions};
use crate::plan::Outcome;
use crate::sql::{ph, q};
use crate::{Allowed, Engine, EngineError};

/// One customer of an undo: what happens to it, and why not when it does not.
#[derive(Debug, Clone, Serialize)]
pub struct UndoCustomer {
    pub id: i64,
    pub number: String,
    pub name: String,
    /// `comes back` or `stays`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// What an undo does (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize)]
pub struct UndoPlan {
    /// The audit entries of the operation undone (first and last).
    pub entries: (i64, i64),
    pub operation: String,
    pub dry_run: bool,
    pub undone: usize,
    pub refused: usize,
    pub customers: Vec<UndoCustomer>,
    pub effects: BTreeMap<String, BTreeMap<String, i64>>,
    /// What the undo decided, as a digest (as a plan's): an undo given the fingerprint of the
    /// preview a person confirmed refuses when it would now differ.
    pub fingerprint: String,
}

impl UndoPlan {
    /// A digest of what the undo decides: its entries, each customer and whether it comes
    /// back, the effects — not whether it was a dry run.
    pub fn fingerprint_of(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.entries.0.to_le_bytes());
        h.update(self.entries.1.to_le_bytes());
        h.update(self.operation.as_bytes());
        for c in &self.customers {
            h.update(c.id.to_le_bytes());
            h.update(c.outcome.as_bytes());
        }
        h.update(
            serde_json::to_string(&self.effects)
                .unwrap_or_default()
                .as_bytes(),
        );
        crate::plan::short_digest(h)
    }
}

/// What an operation's group is taken back as: an undo in it makes it an undo, else the
/// most specific operation in it (a move-to's group also holds the deactivations it made).
const PRECEDENCE: [&str; 9] = [
    "undo",
    "merge",
    "move-to",
    "transfer",
    "purge",
    "erase",
    "forget",
    "delete",
    "deactivate",
];

/// The entries of the operation that wrote entry `seq`, and its name: every entry with its
/// operation id (one transaction), of the operation undo takes back. Entries from before
/// operation ids were kept fall back to the old rule: same time, actor and operation,
/// contiguous.
fn operation_entries(db: &mut dyn Db, seq: i64) -> Result<(String, Vec<Entry>), StoreError> {
    let d = db.dialect();
    let Some(one) = audit::entry_at(db, seq)? else {
        return Err(StoreError::NotFound(format!(
            "there is no audit entry {seq}"
        )));
    };
    if let Some(group) = one.op {
        let all = audit::entries_where(
            db,
            &format!(" WHERE a.op = {}", ph(d, 1)),
            &[Value::Int(group)],
        )?;
        let op = PRECEDENCE
            .iter()
            .find(|p| all.iter().any(|e| e.operation == **p))
            .map_or_else(|| one.operation.clone(), |p| p.to_string());
        let mut out: Vec<Entry> = all.into_iter().filter(|e| e.operation == op).collect();
        out.sort_by_key(|e| e.seq);
        return Ok((op, out));
    }
    let at = offboard_model::DateTime::parse(&one.at)
        .map_or(Value::Text(one.at.clone()), Value::DateTime);
    let all = audit::entries_where(
        db,
        &format!(
            " WHERE a.at = {} AND a.actor = {} AND a.operation = {} AND a.op IS NULL",
            ph(d, 1),
            ph(d, 2),
            ph(d, 3)
        ),
        &[
            at,
            Value::Text(one.actor.clone()),
            Value::Text(one.operation.clone()),
        ],
    )?;
    // Contiguous around `seq`: one append.
    let mut out: Vec<Entry> = Vec::new();
    let mut sorted = all;
    sorted.sort_by_key(|e| e.seq);
    let at = sorted.iter().position(|e| e.seq == seq).unwrap_or(0);
    let mut lo = at;
    while lo > 0 && sorted[lo - 1].seq == sorted[lo].seq - 1 {
        lo -= 1;
    }
    let mut hi = at;
    while hi + 1 < sorted.len() && sorted[hi + 1].seq == sorted[hi].seq + 1 {
        hi += 1;
    }
    out.extend(sorted.drain(lo..=hi));
    Ok((one.operation, out))
}

/// The undo entry that took back entries `first`–`last`, if one did.
fn undone_by(db: &mut dyn Db, first: i64, last: i64) -> Result<Option<i64>, StoreError> {
    let d = db.dialect();
    Ok(db
        .query_value(
            &format!(
                "SELECT min(seq) FROM offboard_audit WHERE operation = 'undo' AND seq > {} AND details LIKE {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[
                Value::Int(last),
                Value::Text(format!("%\"undoes\":[{first},{last}]%")),
            ],
            FieldType::Int,
        )?
        .and_then(|v| v.as_i64()))
}

/// Later entries about these customers, by customer: (seq, operation) of the first one that
/// still counts. Undo is a stack: a later operation taken back since, on a customer its undo
/// brought back, no longer stands in the way, nor does the undo itself (its entries share its
/// operation id); one that did not come back for a customer still does for that customer.
fn later_changes(
    db: &mut dyn Db,
    after: i64,
    ids: &[i64],
) -> Result<BTreeMap<i64, (i64, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let d = db.dialect();
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The undos since, each with the entries it took back.
    let undos: Vec<(Option<i64>, i64, i64)> = db
        .query(
            &format!(
                "SELECT op, details FROM offboard_audit WHERE operation = 'undo' AND seq > {}",
                ph(d, 1)
            ),
            &[Value::Int(after)],
            &[FieldType::Int, FieldType::Text],
        )?
        .iter()
        .filter_map(|r| {
            let details: Json = serde_json::from_str(r[1].as_str()?).ok()?;
            // An entry about a customer keeps its details masked (numbers stay as they are).
            let range = details.get("masked").unwrap_or(&details)["undoes"].as_array()?;
            let (first, last) = (range.first()?.as_i64()?, range.get(1)?.as_i64()?);
            (first > after).then_some((r[0].as_i64(), first, last))
        })
        .collect();
    let rows = db.query(
        &format!(
            "SELECT customer_id, seq, operation, op FROM offboard_audit WHERE seq > {} AND customer_id IN ({list}) ORDER BY seq",
            ph(d, 1)
        ),
        &[Value::Int(after)],
        &[FieldType::Int, FieldType::Int, FieldType::Text, FieldType::Int],
    )?;
    // Which undo operations wrote about which customer (it came back, or was restored).
    let undo_ops: BTreeSet<i64> = undos.iter().filter_map(|u| u.0).collect();
    let touched: BTreeSet<(i64, i64)> = rows
        .iter()
        .filter_map(|r| Some((r[3].as_i64()?, r[0].as_i64()?)))
        .filter(|(op, _)| undo_ops.contains(op))
        .collect();
    let mut out = BTreeMap::new();
    for r in &rows {
        let (Some(c), Some(s)) = (r[0].as_i64(), r[1].as_i64()) else {
            continue;
        };
        if out.contains_key(&c) {
            continue;
        }
        let op = r[3].as_i64();
        let taken_back = undos.iter().any(|(undo_op, first, last)| {
            undo_op.is_some_and(|u| {
                (op == Some(u)) || ((*first..=*last).contains(&s) && touched.contains(&(u, c)))
            })
        });
        if !taken_back {
            out.insert(c, (s, r[2].as_str().unwrap_or_default().to_string()));
        }
    }
    Ok(out)
}

/// What a deactivation did to its customers' open items, taken back for those that come
/// back: the removed ones out of the records bin (their own ids and values), the completed
/// ones reopened (their fields as they were). Returns (kind, what, rows); a dry run counts.
fn open_items_back(
    model: &offboard_model::Model,
    tx: &mut dyn Db,
    entries: &[Entry],
    plan: &crate::plan::Plan,
    dry_run: bool,
) -> Result<Vec<(String, &'static str, u64)>, StoreError> {
    let coming: BTreeSet<i64> = plan
        .customers
        .iter()
        .filter(|c| c.outcome == Outcome::Proceeds)
        .map(|c| c.id)
        .collect();
    let mut out = Vec::new();
    for k in &model.records {
        let mut removed: Vec<i64> = Vec::new();
        // before-values (as JSON text) → the rows that held them
        let mut reopen: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for e in entries
            .iter()
            .filter(|e| e.customer_id.is_some_and(|c| coming.contains(&c)))
        {
            let r = &e.details["records"][&k.name];
            removed.extend(
                r["removed_ids"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Json::as_i64),
            );
            for row in r["completed_rows"].as_array().into_iter().flatten() {
                if let Some(id) = row["id"].as_i64() {
                    reopen
                        .entry(row["before"].to_string())
                        .or_default()
                        .push(id);
                }
            }
        }
        if !removed.is_empty() {
            let list = removed
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            let d = tx.dialect();
            let rows = tx.query(
                &format!(
                    "SELECT id, data FROM offboard_deleted_records WHERE kind = {} AND record_id IN ({list})",
                    ph(d, 1)
                ),
                &[Value::Text(k.name.clone())],
                &[FieldType::Int, FieldType::Text],
            )?;
            if !dry_run && !rows.is_empty() {
                let cols = k.columns();
                let spec: Vec<(String, FieldType)> =
                    cols.iter().map(|c| (c.name.clone(), c.ty)).collect();
                let mut sink = tx.bulk(&k.name, &spec)?;
                for r in &rows {
                    let data: Json = r[1]
                        .as_str()
                        .and_then(|t| serde_json::from_str(t).ok())
                        .unwrap_or(Json::Null);
                    let values: Vec<Value> = cols
                        .iter()
                        .map(|c| crate::bin::cell(&data[&c.name], c.ty))
                        .collect();
                    sink.write(&values)?;
                }
                sink.finish()?;
                let entries_list = rows
                    .iter()
                    .filter_map(|r| r[0].as_i64())
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                tx.execute(
                    &format!("DELETE FROM offboard_deleted_records WHERE id IN ({entries_list})"),
                    &[],
                )?;
            }
            out.push((k.name.clone(), "restored", rows.len() as u64));
        }
        let mut reopened = 0u64;
        for (before, ids) in &reopen {
            let was: serde_json::Map<String, Json> =
                serde_json::from_str(before).unwrap_or_default();
            let d = tx.dialect();
            let mut params = Vec::new();
            let mut sets = Vec::new();
            for (f, v) in &was {
                let ty = k.field(f).map_or(FieldType::Text, |x| x.ty);
                params.push(crate::bin::cell(v, ty));
                sets.push(format!("{} = {}", q(f), ph(d, params.len())));
            }
            if sets.is_empty() {
                continue;
            }
            let list = ids
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            reopened += if dry_run {
                ids.len() as u64
            } else {
                tx.execute(
                    &format!(
                        "UPDATE {} SET {} WHERE id IN ({list})",
                        q(&k.name),
                        sets.join(", ")
                    ),
                    &params,
                )?
            };
        }
        if reopened > 0 {
            out.push((k.name.clone(), "reopened", reopened));
        }
    }
    Ok(out)
}

/// One `undo` entry per customer the undo touched, each read as it is after the undo (so a
/// duplicate that is back is named): every side of a merge, a transfer or a move — the
/// customers the undo checks for later changes are the customers it writes about, so each
/// one's own story (`audit --customer`) ends with the undo.
fn undo_entries(
    db: &mut dyn Db,
    actor: &str,
    involved: &[i64],
    details: Json,
) -> Result<(), StoreError> {
    let mut ids: Vec<i64> = involved.iter().copied().filter(|i| *i > 0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let rows = db.query(
        &format!("SELECT id, number, name FROM customers WHERE id IN ({list}) ORDER BY id"),
        &[],
        &[FieldType::Int, FieldType::Text, FieldType::Text],
    )?;
    let entries: Vec<NewEntry> = rows
        .iter()
        .map(|r| {
            NewEntry::customer(
                r[0].as_i64().unwrap_or(0),
                r[1].as_str().unwrap_or_default(),
                r[2].as_str().unwrap_or_default(),
                None,
                details.clone(),
            )
        })
        .collect();
    audit::append(db, actor, Act::Undo, &entries)
}

impl Engine<'_> {
    /// Undoes the operation that wrote audit entry `seq` (any of its entries). An apply bound
    /// by [`Engine::expect_plan`] to a preview's fingerprint refuses, changing nothing, when
    /// the undo would now do something else.
    pub fn undo(&mut self, seq: i64, dry_run: bool) -> Result<UndoPlan, EngineError> {
        let expected = if dry_run {
            None
        } else {
            self.expected_plan.take()
        };
        if let Some(expected) = expected {
            // Bound: the undo is applied and compared inside one transaction, which commits
            // only when it did what the preview showed — nothing can change in between.
            self.store.db().begin()?;
            let mut plan = match self.undo_run(seq, false) {
                Ok(p) => p,
                Err(e) => {
                    let _ = self.store.db().rollback();
                    return Err(e);
                }
            };
            plan.fingerprint = plan.fingerprint_of();
            if plan.fingerprint != expected {
                self.store.db().rollback()?;
                plan.dry_run = true;
                return Err(EngineError::UndoChanged {
                    expected,
                    plan: Box::new(plan),
                });
            }
            self.store.db().commit()?;
            return Ok(plan);
        }
        let mut plan = self.undo_run(seq, dry_run)?;
        plan.fingerprint = plan.fingerprint_of();
        Ok(plan)
    }

    fn undo_run(&mut self, seq: i64, dry_run: bool) -> Result<UndoPlan, EngineError> {
        self.allow(Operation::View)?;
        let (op, entries) = operation_entries(self.store.db(), seq)?;
        let (first, last) = (
            entries.first().map_or(seq, |e| e.seq),
            entries.last().map_or(seq, |e| e.seq),
        );
        // A merge, a transfer or a move comes back once: the undo's entry says so.
        if matches!(op.as_str(), "merge" | "transfer" | "move-to") {
            if let Some(by) = undone_by(self.store.db(), first, last)? {
                return Err(EngineError::Refused(format!(
                    "entries {first}–{last} ({op}) were undone already, by entry {by}"
                )));
            }
        }
        // A delete that erased (the model's delete is hard) is an erasure.
        if op == "delete" && self.store.model().delete == offboard_model::model::DeleteMode::Hard {
            return Err(EngineError::Refused(format!(
                "entry {seq} records a delete that erased (the {} model deletes for good): an erasure cannot be undone",
                self.store.model().name
            )));
        }
        match op.as_str() {
            "deactivate" | "delete" => {
                let inverse = if op == "deactivate" {
                    Operation::Reactivate
                } else {
                    Operation::Undelete
                };
                let allowed = self.allow(inverse)?;
                self.undo_status(&allowed, &entries, (first, last), &op, dry_run)
            }
            "merge" => {
                self.allow(Operation::Merge)?;
                self.undo_merge(&entries, (first, last), dry_run)
            }
            "transfer" => {
                self.allow(Operation::Transfer)?;
                self.undo_transfer(&entries, (first, last), dry_run)
            }
            "move-to" => {
                self.allow(Operation::Transfer)?;
                let reactivate = self.allow(Operation::Reactivate)?;
                self.undo_move_to(&reactivate, &entries, (first, last), dry_run)
            }
            "purge" | "erase" | "forget" => Err(EngineError::Refused(format!(
                "entry {seq} records an erasure ({op}): it cannot be undone — the data is gone by design"
            ))),
            "undo" => Err(EngineError::Refused(format!(
                "entry {seq} is itself an undo; redo the operation instead"
            ))),
            other => Err(EngineError::Refused(format!(
                "entry {seq} records `{other}`, which undo does not take back; undo takes back a deactivation, a delete to the recycle bin, a transfer, a move to another customer or a merge"
            ))),
        }
    }

    /// A deactivation or a soft delete: its customers come back (reactivated, undeleted),
    /// except those changed since and those whose undelete would collide.
    fn undo_status(
        &mut self,
        allowed: &Allowed,
        entries: &[Entry],
        range: (i64, i64),
        op: &str,
        dry_run: bool,
    ) -> Result<UndoPlan, EngineError> {
        let ids: Vec<i64> = entries.iter().filter_map(|e| e.customer_id).collect();
        let later = later_changes(self.store.db(), range.1, &ids)?;
        let undone = undone_by(self.store.db(), range.0, range.1)?;
        let present: BTreeSet<i64> = {
            let list = ids
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",");
            if list.is_empty() {
                BTreeSet::new()
            } else {
                self.store
                    .db()
                    .query(
                        &format!("SELECT id FROM customers WHERE id IN ({list})"),
                        &[],
                        &[FieldType::Int],
                    )?
                    .iter()
                    .filter_map(|r| r[0].as_i64())
                    .collect()
            }
        };
        let mut customers = Vec::new();
        let mut back = Vec::new();
        for e in entries {
            let Some(id) = e.customer_id else { continue };
            let why = if !present.contains(&id) {
                Some("it no longer exists (erased or merged since)".to_string())
            } else {
                later.get(&id).map(|(s, o)| match undone {
                    // Brought back by an undo of this very operation.
                    Some(by) if *s <= by && matches!(o.as_str(), "reactivate" | "undelete") => {
                        format!("it came back already (entry {s}, by the undo in entry {by})")
                    }
                    _ => format!("it was changed since (entry {s}: {o}); undo that first"),
                })
            };
            if why.is_none() {
                back.push(id);
            }
            customers.push(UndoCustomer {
                id,
                number: e.customer_number.clone().unwrap_or_default(),
                name: e.customer_name.clone().unwrap_or_default(),
                outcome: if why.is_none() { "comes back" } else { "stays" },
                why,
            });
        }
        let inverse = allowed.operation();
        let none = DeactivateOptions::default();
        let range_json = json!([range.0, range.1]);
        let op_name = op.to_string();
        let model = self.store.shared_model();
        let plan = self.within(dry_run, false, |ctx, tx| {
            let cands = load_ids(tx, &back, ctx.dry_run)?;
            let mut plan = status_change(allowed, ctx, tx, inverse, &cands, &none)?;
            if op_name == "deactivate" {
                open_items_back(&model, tx, entries, &plan, ctx.dry_run)?
                    .into_iter()
                    .for_each(|(kind, what, n)| effect(&mut plan, &kind, what, n));
            }
            if !ctx.dry_run && plan.done > 0 {
                audit::append(
                    tx,
                    ctx.actor,
                    Act::Undo,
                    &[NewEntry {
                        customer_id: None,
                        customer_number: None,
                        customer_name: None,
                        reason: None,
                        details: json!({ "undoes": range_json, "operation": op_name, "customers": plan.done }),
                    }],
                )?;
            }
            Ok(plan)
        });
        let plan = match plan {
            Ok(p) => p,
            // Nobody could come back: the plan says why for each.
            Err(EngineError::Store(StoreError::NotFound(_))) if back.is_empty() => {
                return Ok(UndoPlan {
                    entries: range,
                    operation: op.to_string(),
                    dry_run,
                    undone: 0,
                    refused: customers.len(),
                    customers,
                    effects: BTreeMap::new(),
                    fingerprint: String::new(),
                })
            }
            Err(e) => return Err(e),
        };
        // What the inverse operation itself refused (an undelete's collisions).
        for c in &mut customers {
            if let Some(p) = plan.customers.iter().find(|p| p.id == c.id) {
                if p.outcome != Outcome::Proceeds {
                    c.outcome = "stays";
                    c.why = Some(p.why.clone().unwrap_or_else(|| {
                        p.blockers
                            .iter()
                            .map(|b| b.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    }));
                }
            }
        }
        let undone = customers
            .iter()
            .filter(|c| c.outcome == "comes back")
            .count();
        Ok(UndoPlan {
            entries: range,
            operation: op.to_string(),
            dry_run,
            undone,
            refused: customers.len() - undone,
            customers,
            effects: plan.effects.clone(),
            fingerprint: String::new(),
        })
    }

    /// A merge: the duplicates come back with their numbers, their records and links, and the
    /// survivor gets its values back — all or nothing, and only while none of them was
    /// changed since.
    fn undo_merge(
        &mut self,
        entries: &[Entry],
        range: (i64, i64),
        dry_run: bool,
    ) -> Result<UndoPlan, EngineError> {
        let Some(survivor) = entries.iter().find(|e| e.details.get("merged").is_some()) else {
            return Err(EngineError::Refused(format!(
                "entries {}–{} do not record what the merge changed",
                range.0, range.1
            )));
        };
        let undo = survivor.details.get("undo").cloned().unwrap_or(Json::Null);
        if undo.is_null() || undo.get("rows").is_none() {
            return Err(EngineError::Refused(format!(
                "the merge of entry {} kept no record of what it changed (a merge before this version, or the survivor's data was erased since): it cannot be undone",
                survivor.seq
            )));
        }
        let into = survivor.customer_id.unwrap_or(0);
        let dups: Vec<i64> = undo["duplicates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["id"].as_i64())
            .collect();
        let mut involved = dups.clone();
        involved.push(into);
        for d in undo["duplicates"].as_array().into_iter().flatten() {
            for (k, ids) in d["links"].as_object().into_iter().flatten() {
                if k.starts_with("customers.") {
                    involved.extend(
                        ids.as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Json::as_i64),
                    );
                }
            }
        }
        let later = later_changes(self.store.db(), range.1, &involved)?;
        let mut customers: Vec<UndoCustomer> = entries
            .iter()
            .filter(|e| e.customer_id.is_some_and(|c| dups.contains(&c)))
            .map(|e| UndoCustomer {
                id: e.customer_id.unwrap_or(0),
                number: e.customer_number.clone().unwrap_or_default(),
                name: e.customer_name.clone().unwrap_or_default(),
                outcome: "comes back",
                why: None,
            })
            .collect();
        if let Some(refused) =
            changed_since(&later, range, "merge", "merge", &mut customers, dry_run)
        {
            return Ok(refused);
        }
        // A duplicate comes back with its email only while no other customer holds it now
        // (an undelete's own check): the survivor gets its values back, so it does not count.
        let d = self.store.db().dialect();
        for row in undo["rows"].as_array().into_iter().flatten() {
            let (Some(id), Some(email)) = (
                row["id"].as_str().and_then(|t| t.parse::<i64>().ok()),
                row["email"].as_str().filter(|e| !e.is_empty()),
            ) else {
                continue;
            };
            let holder = self.store.db().query(
                &format!(
                    "SELECT id, number, name FROM customers WHERE lower(email) = lower({}) AND id <> {} AND id <> {} LIMIT 1",
                    ph(d, 1),
                    ph(d, 2),
                    ph(d, 3)
                ),
                &[Value::Text(email.to_string()), Value::Int(id), Value::Int(into)],
                &[FieldType::Int, FieldType::Text, FieldType::Text],
            )?;
            if let Some(h) = holder.first() {
                let why = format!(
                    "its email {email} is now held by {} {} (id {}); a merge comes back whole or not at all",
                    h[1].to_cell(),
                    h[2].to_cell(),
                    h[0].to_cell()
                );
                return Ok(refuse_whole(range, "merge", &why, &mut customers, dry_run));
            }
        }
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let mut add = |t: &str, what: &str, n: u64| {
            if n > 0 {
                *effects
                    .entry(t.to_string())
                    .or_default()
                    .entry(what.to_string())
                    .or_insert(0) += n as i64;
            }
        };
        let range_json = json!([range.0, range.1]);
        let result = self.store.atomically(|s| {
            let db = s.db();
            let d = db.dialect();
            let cols = model.customer.columns();
            // The duplicates' rows, as they were, their tombstones gone.
            for row in undo["rows"].as_array().into_iter().flatten() {
                let mut names = Vec::new();
                let mut params = Vec::new();
                for c in &cols {
                    let text = row[&c.name].as_str().unwrap_or_default();
                    let v = if text.is_empty() {
                        Value::Null
                    } else {
                        Value::parse_cell(c.ty, text).unwrap_or(Value::Text(text.into()))
                    };
                    names.push(q(&c.name));
                    params.push(v);
                }
                let ps: Vec<String> = (1..=params.len()).map(|i| ph(d, i)).collect();
                db.execute(
                    &format!(
                        "DELETE FROM offboard_merged WHERE id = {}",
                        ph(d, 1)
                    ),
                    &[params[0].clone()],
                )?;
                db.execute(
                    &format!(
                        "INSERT INTO customers ({}) VALUES ({})",
                        names.join(", "),
                        ps.join(", ")
                    ),
                    &params,
                )?;
                add("customers", "restored", 1);
            }
            for dup in undo["duplicates"].as_array().into_iter().flatten() {
                let Some(id) = dup["id"].as_i64() else { continue };
                for (kind, ids) in dup["moved"].as_object().into_iter().flatten() {
                    let Some(k) = model.record(kind) else { continue };
                    let list = id_list(ids);
                    let n = db.execute(
                        &format!(
                            "UPDATE {} SET {} = {} WHERE id IN ({list})",
                            q(kind),
                            q(&k.owner.column),
                            ph(d, 1)
                        ),
                        &[Value::Int(id)],
                    )?;
                    add(kind, "moved back", n);
                }
                for (key, ids) in dup["links"].as_object().into_iter().flatten() {
                    let Some((table, column)) = key.split_once('.') else {
                        continue;
                    };
                    let list = id_list(ids);
                    let n = db.execute(
                        &format!(
                            "UPDATE {} SET {} = {} WHERE id IN ({list})",
                            q(table),
                            q(column),
                            ph(d, 1)
                        ),
                        &[Value::Int(id)],
                    )?;
                    add(table, "repointed back", n);
                }
                for (kind, pairs) in dup["renumbered"].as_object().into_iter().flatten() {
                    let Some(n) = model.record(kind).and_then(|k| k.numbered.clone()) else {
                        continue;
                    };
                    let numbers: Vec<(i64, Value)> = pairs
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| {
                            let (rid, old) = (p[0].as_i64()?, p[1].as_str()?);
                            Some((
                                rid,
                                if n.text {
                                    Value::Text(old.into())
                                } else {
                                    old.parse().map(Value::Int).unwrap_or(Value::Null)
                                },
                            ))
                        })
                        .collect();
                    crate::sql::renumber(db, kind, &n.field, &numbers)?;
                }
                let tomb = undo_ids(&dup["tombstones"]);
                if !tomb.is_empty() {
                    db.execute(
                        &format!(
                            "UPDATE offboard_merged SET into_id = {} WHERE id IN ({})",
                            ph(d, 1),
                            tomb
                        ),
                        &[Value::Int(id)],
                    )?;
                }
            }
            // The survivor's values as they were.
            let mut sets = Vec::new();
            let mut params = Vec::new();
            for (col, v) in undo["survivor"].as_object().into_iter().flatten() {
                let ty = cols
                    .iter()
                    .find(|c| &c.name == col)
                    .map_or(FieldType::Text, |c| c.ty);
                let text = v.as_str().unwrap_or_default();
                params.push(if text.is_empty() {
                    Value::Null
                } else {
                    Value::parse_cell(ty, text).unwrap_or(Value::Text(text.into()))
                });
                sets.push(format!("{} = {}", q(col), ph(d, params.len())));
            }
            if !sets.is_empty() {
                params.push(Value::Int(into));
                db.execute(
                    &format!(
                        "UPDATE customers SET {} WHERE id = {}",
                        sets.join(", "),
                        ph(d, params.len())
                    ),
                    &params,
                )?;
            }
            if dry_run {
                return Err(StoreError::Cancelled("dry run".into()));
            }
            undo_entries(
                db,
                &actor,
                &involved,
                json!({ "undoes": range_json, "operation": "merge", "restored": dups, "into": into }),
            )?;
            Ok(())
        });
        match result {
            Ok(()) | Err(StoreError::Cancelled(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(UndoPlan {
            entries: range,
            operation: "merge".into(),
            dry_run,
            undone: customers.len(),
            refused: 0,
            customers,
            effects,
            fingerprint: String::new(),
        })
    }
}

impl Engine<'_> {
    /// A transfer: its records move back and the customers it repointed point back — whole or
    /// not at all, and only while none of the customers was changed since.
    fn undo_transfer(
        &mut self,
        entries: &[Entry],
        range: (i64, i64),
        dry_run: bool,
    ) -> Result<UndoPlan, EngineError> {
        let (source, moved, repointed) = moved_of(entries, range, "transfer")?;
        let from = source.customer_id.unwrap_or(0);
        let to = source.details["to"].as_i64().unwrap_or(0);
        let mut involved = vec![from, to];
        involved.extend(repointed.iter().map(|r| r.0));
        let later = later_changes(self.store.db(), range.1, &involved)?;
        let mut customers = vec![UndoCustomer {
            id: from,
            number: source.customer_number.clone().unwrap_or_default(),
            name: source.customer_name.clone().unwrap_or_default(),
            outcome: "comes back",
            why: None,
        }];
        if let Some(refused) = changed_since(
            &later,
            range,
            "transfer",
            "transfer",
            &mut customers,
            dry_run,
        ) {
            return Ok(refused);
        }
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let range_json = json!([range.0, range.1]);
        let result = self.store.atomically(|s| {
            let db = s.db();
            effects = move_back(&model, db, &moved, &repointed, from, to)?;
            if dry_run {
                return Err(StoreError::Cancelled("dry run".into()));
            }
            undo_entries(
                db,
                &actor,
                &involved,
                json!({ "undoes": range_json, "operation": "transfer", "from": to, "to": from }),
            )
        });
        match result {
            Ok(()) | Err(StoreError::Cancelled(_)) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(UndoPlan {
            entries: range,
            operation: "transfer".into(),
            dry_run,
            undone: 1,
            refused: 0,
            customers,
            effects,
            fingerprint: String::new(),
        })
    }
}

/// Moves a transfer's (or a move-to's) records back from `to` to `from` — those still with
/// `to` — and points the customers it repointed back; what it did, per table.
fn move_back(
    model: &offboard_model::Model,
    db: &mut dyn Db,
    moved: &Json,
    repointed: &[(i64, String, i64)],
    from: i64,
    to: i64,
) -> Result<BTreeMap<String, BTreeMap<String, i64>>, StoreError> {
    let d = db.dialect();
    let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (kind, ids) in moved.as_object().into_iter().flatten() {
        let Some(k) = model.record(kind) else {
            continue;
        };
        let owner = q(&k.owner.column);
        let n = db.execute(
            &format!(
                "UPDATE {} SET {owner} = {} WHERE id IN ({}) AND {owner} = {}",
                q(kind),
                ph(d, 1),
                id_list(ids),
                ph(d, 2)
            ),
            &[Value::Int(from), Value::Int(to)],
        )?;
        if n > 0 {
            *effects
                .entry(kind.clone())
                .or_default()
                .entry("moved back".into())
                .or_insert(0) += n as i64;
        }
    }
    for (id, link, back) in repointed {
        let Some(cl) = model.customer.links.iter().find(|l| &l.link.name == link) else {
            continue;
        };
        let col = q(&cl.link.column);
        let n = db.execute(
            &format!(
                "UPDATE customers SET {col} = {} WHERE id = {} AND {col} = {}",
                ph(d, 1),
                ph(d, 2),
                ph(d, 3)
            ),
            &[Value::Int(*back), Value::Int(*id), Value::Int(to)],
        )?;
        if n > 0 {
            *effects
                .entry("customers".into())
                .or_default()
                .entry("repointed back".into())
                .or_insert(0) += n as i64;
        }
    }
    Ok(effects)
}

/// What a transfer or a move-to recorded: the source's entry, the records moved, the
/// customers repointed (customer, link, back to).
type Moved<'a> = (&'a Entry, Json, Vec<(i64, String, i64)>);

fn moved_of<'a>(
    entries: &'a [Entry],
    range: (i64, i64),
    what: &str,
) -> Result<Moved<'a>, EngineError> {
    let Some(source) = entries.iter().find(|e| e.details.get("to").is_some()) else {
        return Err(EngineError::Refused(format!(
            "entries {}–{} do not record what the {what} moved",
            range.0, range.1
        )));
    };
    let Some(moved) = source.details.get("moved_ids").cloned() else {
        return Err(EngineError::Refused(format!(
            "the {what} of entry {} kept no record of which records moved (one before this version): it cannot be undone",
            source.seq
        )));
    };
    let repointed = entries
        .iter()
        .filter_map(|e| {
            let r = e.details.get("repointed")?;
            Some((
                e.customer_id?,
                e.details["link"].as_str()?.to_string(),
                r["from"].as_i64()?,
            ))
        })
        .collect();
    Ok((source, moved, repointed))
}

impl Engine<'_> {
    /// A delete with "move to customer" that deactivated instead of erasing: the records go
    /// back and the customer is active again — one transaction, while nothing since depends
    /// on it. One that erased cannot be undone.
    fn undo_move_to(
        &mut self,
        reactivate: &Allowed,
        entries: &[Entry],
        range: (i64, i64),
        dry_run: bool,
    ) -> Result<UndoPlan, EngineError> {
        let (source, moved, repointed) = moved_of(entries, range, "move")?;
        let from = source.customer_id.unwrap_or(0);
        let to = source.details["to"].as_i64().unwrap_or(0);
        let d = self.store.db().dialect();
        let exists = self.store.db().query_i64(
            &format!("SELECT count(*) FROM customers WHERE id = {}", ph(d, 1)),
            &[Value::Int(from)],
        )? > 0;
        if !exists {
            return Err(EngineError::Refused(format!(
                "customer {from} was erased after its data moved (entry {}): an erasure cannot be undone",
                source.seq
            )));
        }
        let mut involved = vec![from, to];
        involved.extend(repointed.iter().map(|r| r.0));
        let later = later_changes(self.store.db(), range.1, &involved)?;
        let mut customers = vec![UndoCustomer {
            id: from,
            number: source.customer_number.clone().unwrap_or_default(),
            name: source.customer_name.clone().unwrap_or_default(),
            outcome: "comes back",
            why: None,
        }];
        if let Some(refused) =
            changed_since(&later, range, "move-to", "move", &mut customers, dry_run)
        {
            return Ok(refused);
        }
        // Reactivated only if this move-to deactivated it: one that was deactivated already
        // stays as it was before the operation (entries older than operation ids: as before).
        let deactivated_here = match source.op {
            None => true,
            Some(group) => {
                self.store.db().query_i64(
                    &format!(
                        "SELECT count(*) FROM offboard_audit WHERE op = {} AND customer_id = {} AND operation = 'deactivate'",
                        ph(d, 1),
                        ph(d, 2)
                    ),
                    &[Value::Int(group), Value::Int(from)],
                )? > 0
            }
        };
        let model = self.store.shared_model();
        let range_json = json!([range.0, range.1]);
        let none = DeactivateOptions::default();
        let mut effects = BTreeMap::new();
        let plan = self.within(dry_run, true, |ctx, tx| {
            effects = move_back(&model, tx, &moved, &repointed, from, to)?;
            let cands = load_ids(tx, &[from], ctx.dry_run)?;
            let plan = if deactivated_here {
                status_change(reactivate, ctx, tx, Operation::Reactivate, &cands, &none)?
            } else {
                // Nothing to reactivate: a plan of no status change (the customer as it is).
                let mut p = status_change(reactivate, ctx, tx, Operation::Reactivate, &[], &none)?;
                p.operation = Operation::Reactivate;
                p
            };
            if !ctx.dry_run {
                undo_entries(
                    tx,
                    ctx.actor,
                    &involved,
                    json!({ "undoes": range_json, "operation": "move-to", "from": to, "to": from }),
                )?;
            }
            Ok(plan)
        })?;
        for (t, e) in &plan.effects {
            for (k, n) in e {
                *effects
                    .entry(t.clone())
                    .or_default()
                    .entry(k.clone())
                    .or_insert(0) += n;
            }
        }
        Ok(UndoPlan {
            entries: range,
            operation: "move-to".into(),
            dry_run,
            undone: 1,
            refused: 0,
            customers,
            effects,
            fingerprint: String::new(),
        })
    }
}

/// An operation that comes back whole or not at all, refused while any customer it touched
/// was changed since: every customer stays, and says which entry changed which customer.
fn changed_since(
    later: &BTreeMap<i64, (i64, String)>,
    range: (i64, i64),
    operation: &str,
    what: &str,
    customers: &mut Vec<UndoCustomer>,
    dry_run: bool,
) -> Option<UndoPlan> {
    let (c, (s, o)) = later.iter().next()?;
    let why = format!(
        "customer {c} was changed since (entry {s}: {o}); a {what} comes back whole or not at all"
    );
    Some(refuse_whole(range, operation, &why, customers, dry_run))
}

/// An undo that comes back whole or not at all, refused: every customer stays, for `why`.
fn refuse_whole(
    range: (i64, i64),
    operation: &str,
    why: &str,
    customers: &mut Vec<UndoCustomer>,
    dry_run: bool,
) -> UndoPlan {
    for c in customers.iter_mut() {
        c.outcome = "stays";
        c.why = Some(why.to_string());
    }
    UndoPlan {
        entries: range,
        operation: operation.into(),
        dry_run,
        undone: 0,
        refused: customers.len(),
        customers: std::mem::take(customers),
        effects: BTreeMap::new(),
        fingerprint: String::new(),
    }
}

fn undo_ids(v: &Json) -> String {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_i64)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn id_list(v: &Json) -> String {
    let s = undo_ids(v);
    if s.is_empty() {
        "NULL".into()
    } else {
        s
    }
}
