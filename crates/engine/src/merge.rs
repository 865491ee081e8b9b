//! Merging duplicates: any number of them into one survivor, field by field. The plan shows,
//! for every field, each candidate value and the one that wins (the one asked for; else the
//! survivor's; else the most recent non-empty one), every record that moves, every customer
//! link repointed, and every conflict with the rule that resolves it (numbers counted per
//! owner continue after the survivor's; an ordered kind's records are kept, in order). The
//! merged-away customers leave tombstones (`offboard_merged`): their ids and numbers resolve
//! to the survivor and are not given again.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use offboard_model::model::{Model, Operation, Status, Target};
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::Db;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::kernel::{effect, load_ids, plan_of, Cand};
use crate::moves::{move_rows, repoint, Which};
use crate::plan::{Outcome, Plan};
use crate::sql::{fill_set, ph, q, temp_set};
use crate::{Engine, EngineError};

/// The set of merged-away customers.
const DUPS: &str = "ob_merge_dups";

/// The customer columns a merge chooses a value for: name, email, the model's fields and the
/// links to other customers (number, kind, status and dates are the survivor's).
pub fn mergeable(model: &Model) -> Vec<(String, FieldType)> {
    let mut out = vec![
        ("name".to_string(), FieldType::Text),
        ("email".to_string(), FieldType::Text),
    ];
    out.extend(model.customer.fields.iter().map(|f| (f.name.clone(), f.ty)));
    out.extend(
        model
            .customer
            .links
            .iter()
            .map(|l| (l.link.column.clone(), FieldType::Int)),
    );
    out
}

fn empty(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty())
}

impl Engine<'_> {
    /// Merges `duplicates` into `into` in one transaction; `take` chooses, per field, the
    /// customer whose value the survivor keeps.
    pub fn merge_many(
        &mut self,
        duplicates: &[i64],
        into: i64,
        take: &BTreeMap<String, i64>,
        dry_run: bool,
    ) -> Result<Plan, EngineError> {
        self.allow(Operation::Merge)?;
        let model = self.store.shared_model();
        if duplicates.is_empty() {
            return Err(EngineError::Refused(
                "name the duplicates to merge into the survivor".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in duplicates {
            if *d == into {
                return Err(StoreError::Invalid(format!(
                    "customer {into} cannot be merged into itself"
                ))
                .into());
            }
            if !seen.insert(*d) {
                return Err(StoreError::Invalid(format!("customer {d} is named twice")).into());
            }
        }
        let columns = mergeable(&model);
        for (field, id) in take {
            if !columns.iter().any(|(c, _)| c == field) {
                return Err(StoreError::Invalid(format!(
                    "`{field}` is not a field a merge chooses; fields: {}",
                    columns
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .into());
            }
            if *id != into && !duplicates.contains(id) {
                return Err(StoreError::Invalid(format!(
                    "--take {field}={id}: customer {id} is not one of the customers merged"
                ))
                .into());
            }
        }
        self.within(dry_run, true, |ctx, tx| {
            let (model, actor) = (ctx.model, ctx.actor);
            let mut ids = duplicates.to_vec();
            ids.push(into);
            let cands = load_ids(tx, &ids, dry_run)?;
            let find = |id: i64| cands.iter().find(|c| c.id == id).cloned();
            let Some(target) = find(into) else {
                return Err(StoreError::NotFound(format!("there is no customer with id {into}")));
            };
            if target.status != Status::Active {
                return Err(StoreError::Refused(format!(
                    "customer {into} ({}) is {}: duplicates merge into an active customer",
                    target.name, target.status
                )));
            }
            let dups: Vec<Cand> = duplicates.iter().filter_map(|d| find(*d)).collect();
            if let Some(other) = dups.iter().find(|d| d.kind != target.kind) {
                return Err(StoreError::Refused(format!(
                    "customer {} ({}) is a {} and {} ({}) a {}: only duplicates of one kind merge",
                    other.id, other.name, other.kind, target.id, target.name, target.kind
                )));
            }
            let fields = choose(model, tx, &ids, into, take)?;
            let mut plan = plan_of(Operation::Merge, dry_run, &dups, &[], &|_| {
                (Outcome::Proceeds, Vec::new(), None)
            });
            let mut conflicts = Vec::new();
            let mut repointed = Vec::new();
            // What an undo needs, read before anything changes: the duplicates' rows, which
            // rows move or are repointed, the numbers renumbered, the survivor's values.
            let undo = undo_data(model, tx, &dups, into, &columns)?;
            for dup in &dups {
                repointed.extend(repoint(model, tx, dup, &target)?);
                conflicts.extend(resolve_conflicts(model, tx, dup, &target)?);
                move_rows(model, tx, dup.id, into, &Which::All, &mut plan)?;
            }
            // The survivor takes the chosen values: one UPDATE.
            let changed: Vec<&Json> = fields.iter().filter(|f| f["changes"] == true).collect();
            if !changed.is_empty() {
                let d = tx.dialect();
                let mut sets = Vec::new();
                let mut params = Vec::new();
                for f in &changed {
                    let col = f["field"].as_str().unwrap_or_default();
                    let ty = columns
                        .iter()
                        .find(|(c, _)| c == col)
                        .map_or(FieldType::Text, |(_, t)| *t);
                    params.push(json_value(&f["value"], ty));
                    sets.push(format!("{} = {}", q(col), ph(d, params.len())));
                }
                params.push(Value::Int(into));
                let n = tx.execute(
                    &format!(
                        "UPDATE customers SET {} WHERE id = {}",
                        sets.join(", "),
                        ph(d, params.len())
                    ),
                    &params,
                )?;
                effect(&mut plan, "customers", "updated", n);
            }
            // Tombstones: the duplicates' ids and numbers resolve to the survivor, also those
            // merged into a duplicate before.
            let dup_ids: Vec<i64> = dups.iter().map(|c| c.id).collect();
            temp_set(tx, DUPS)?;
            fill_set(tx, DUPS, &dup_ids)?;
            let d = tx.dialect();
            tx.execute(
                &format!(
                    "INSERT INTO offboard_merged (id, number, into_id, merged_at) SELECT id, number, {}, {} FROM customers WHERE id IN (SELECT id FROM {DUPS})",
                    ph(d, 1),
                    ph(d, 2)
                ),
                &[Value::Int(into), Value::Text(DateTime::now().to_string())],
            )?;
            tx.execute(
                &format!(
                    "UPDATE offboard_merged SET into_id = {} WHERE into_id IN (SELECT id FROM {DUPS})",
                    ph(d, 1)
                ),
                &[Value::Int(into)],
            )?;
            // Links the duplicates themselves hold (their own company, bill-to) go with them.
            let n = tx.execute(
                &format!("DELETE FROM customers WHERE id IN (SELECT id FROM {DUPS})"),
                &[],
            )?;
            effect(&mut plan, "customers", "removed", n);
            // Every record that moves and every link repointed, by id, per duplicate.
            let moves: Vec<Json> = undo["duplicates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| json!({ "customer": d["id"], "records": d["moved"], "links": d["links"] }))
                .collect();
            plan.merge = Some(json!({
                "into": { "id": target.id, "number": target.number, "name": target.name },
                "fields": fields,
                "moves": moves,
                "conflicts": conflicts,
            }));
            if !dry_run {
                let mut entries: Vec<NewEntry> = dups
                    .iter()
                    .map(|dup| {
                        NewEntry::customer(
                            dup.id,
                            &dup.number,
                            &dup.name,
                            None,
                            json!({ "into": target.id, "into_number": target.number, "effects": plan.effects }),
                        )
                    })
                    .collect();
                entries.push(NewEntry::customer(
                    target.id,
                    &target.number,
                    &target.name,
                    None,
                    json!({
                        "merged": dup_ids,
                        "merged_numbers": dups.iter().map(|c| c.number.clone()).collect::<Vec<_>>(),
                        "fields": changed,
                        "conflicts": conflicts,
                        "effects": plan.effects,
                        "undo": undo,
                    }),
                ));
                entries.extend(repointed);
                audit::append(tx, actor, Act::Op(Operation::Merge), &entries)?;
            }
            Ok(plan)
        })
    }
}

fn json_value(v: &Json, ty: FieldType) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::String(s) => Value::parse_cell(ty, s).unwrap_or(Value::Text(s.clone())),
        Json::Number(n) => n.as_i64().map_or(Value::Null, Value::Int),
        Json::Bool(b) => Value::Bool(*b),
        other => Value::Text(other.to_string()),
    }
}

/// Every mergeable field: its candidate values (customer by customer) and the winner.
fn choose(
    model: &Model,
    db: &mut dyn Db,
    ids: &[i64],
    into: i64,
    take: &BTreeMap<String, i64>,
) -> Result<Vec<Json>, StoreError> {
    let columns = mergeable(model);
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let mut types = vec![FieldType::Int, FieldType::Text, FieldType::DateTime];
    types.extend(columns.iter().map(|(_, t)| *t));
    let select: Vec<String> = columns.iter().map(|(c, _)| q(c)).collect();
    // Most recent first: the survivor is looked at first by the rule, then the others.
    let rows = db.query(
        &format!(
            "SELECT id, number, created_at, {} FROM customers WHERE id IN ({list}) ORDER BY created_at DESC, id DESC",
            select.join(", ")
        ),
        &[],
        &types,
    )?;
    let links: Vec<&str> = model
        .customer
        .links
        .iter()
        .map(|l| l.link.column.as_str())
        .collect();
    let mut out = Vec::new();
    for (i, (col, _)) in columns.iter().enumerate() {
        let is_link = links.contains(&col.as_str());
        let candidates: Vec<(i64, String, Value)> = rows
            .iter()
            .map(|r| {
                let mut v = r[3 + i].clone();
                // A link to one of the customers merged would point the survivor at itself:
                // it is no candidate.
                if is_link && v.as_i64().is_some_and(|t| ids.contains(&t)) {
                    v = Value::Null;
                }
                (
                    r[0].as_i64().unwrap_or(0),
                    r[1].as_str().unwrap_or_default().to_string(),
                    v,
                )
            })
            .collect();
        let survivor = candidates.iter().find(|c| c.0 == into);
        let (winner, rule) = match take.get(col) {
            Some(id) => (candidates.iter().find(|c| c.0 == *id), "chosen"),
            None => match survivor.filter(|c| !empty(&c.2)) {
                Some(s) => (Some(s), "the survivor's"),
                None => (
                    candidates.iter().find(|c| !empty(&c.2)),
                    "the most recent non-empty",
                ),
            },
        };
        let Some(winner) = winner else {
            continue;
        };
        // A field no one has a value for is not listed.
        if candidates.iter().all(|c| empty(&c.2)) {
            continue;
        }
        let changes = survivor.is_none_or(|s| s.2 != winner.2);
        out.push(json!({
            "field": col,
            "candidates": candidates.iter().map(|c| json!({ "customer": c.0, "number": c.1, "value": c.2 })).collect::<Vec<_>>(),
            "winner": winner.0,
            "value": winner.2,
            "rule": rule,
            "changes": changes,
        }));
    }
    Ok(out)
}

/// What would collide when `dup`'s records join `to`'s, resolved by a rule the plan shows:
/// numbers counted per owner continue after the survivor's (in their order); an ordered
/// kind's records are all kept, in the kind's order.
fn resolve_conflicts(
    model: &Model,
    db: &mut dyn Db,
    dup: &Cand,
    to: &Cand,
) -> Result<Vec<Json>, StoreError> {
    let d = db.dialect();
    let mut out = Vec::new();
    for kind in model
        .records
        .iter()
        .filter(|k| k.owner.target == Target::Customer)
    {
        let owner = q(&kind.owner.column);
        let table = q(&kind.name);
        let count = |db: &mut dyn Db, id: i64| -> Result<i64, StoreError> {
            db.query_i64(
                &format!("SELECT count(*) FROM {table} WHERE {owner} = {}", ph(d, 1)),
                &[Value::Int(id)],
            )
        };
        let moving = count(db, dup.id)?;
        if moving == 0 {
            continue;
        }
        let staying = count(db, to.id)?;
        if let Some(n) = kind
            .numbered
            .as_ref()
            .filter(|n| n.per_owner && staying > 0)
        {
            let col = q(&n.field);
            if n.text {
                // Text numbers per owner: each moved number's counter continues after the
                // survivor's highest, in order; one UPDATE with the new numbers.
                let rows = db.query(
                    &format!(
                        "SELECT id, {col} FROM {table} WHERE {owner} = {} ORDER BY id",
                        ph(d, 1)
                    ),
                    &[Value::Int(dup.id)],
                    &[FieldType::Int, FieldType::Text],
                )?;
                let theirs = db.query(
                    &format!("SELECT {col} FROM {table} WHERE {owner} = {}", ph(d, 1)),
                    &[Value::Int(to.id)],
                    &[FieldType::Text],
                )?;
                let mut next = theirs
                    .iter()
                    .filter_map(|r| {
                        r[0].as_str()
                            .and_then(offboard_model::model::Numbered::counter)
                    })
                    .max()
                    .unwrap_or(0);
                let mut numbers = Vec::new();
                for r in &rows {
                    let (Some(id), Some(old)) = (r[0].as_i64(), r[1].as_str()) else {
                        continue;
                    };
                    next += 1;
                    numbers.push((
                        id,
                        Value::Text(offboard_model::model::Numbered::with_counter(old, next)),
                    ));
                }
                crate::sql::renumber(db, &kind.name, &n.field, &numbers)?;
            } else {
                let top = db.query_i64(
                    &format!(
                        "SELECT COALESCE(max({col}), 0) FROM {table} WHERE {owner} = {}",
                        ph(d, 1)
                    ),
                    &[Value::Int(to.id)],
                )?;
                let rows = db.query(
                    &format!(
                        "SELECT id, {col} FROM {table} WHERE {owner} = {} AND {col} IS NOT NULL",
                        ph(d, 1)
                    ),
                    &[Value::Int(dup.id)],
                    &[FieldType::Int, FieldType::Int],
                )?;
                let numbers: Vec<(i64, Value)> = rows
                    .iter()
                    .filter_map(|r| Some((r[0].as_i64()?, Value::Int(r[1].as_i64()? + top))))
                    .collect();
                crate::sql::renumber(db, &kind.name, &n.field, &numbers)?;
            }
            out.push(json!({
                "kind": kind.name,
                "conflict": "per-owner numbers",
                "rule": "renumber",
                "message": format!(
                    "{moving} {} of {} {} are numbered per customer, as {} {}'s {staying} are: theirs continue after the survivor's",
                    kind.label.clone().unwrap_or_else(|| kind.name.clone()).to_lowercase(), dup.number, dup.name, to.number, to.name
                ),
            }));
        }
        if !kind.order_by.is_empty() && staying > 0 {
            out.push(json!({
                "kind": kind.name,
                "conflict": "ordered sequence",
                "rule": "keep both",
                "message": format!(
                    "{moving} {} of {} {} join {} {}'s {staying}, all kept, in order of {}",
                    kind.label.clone().unwrap_or_else(|| kind.name.clone()).to_lowercase(), dup.number, dup.name, to.number, to.name, kind.order_by.join(", ")
                ),
            }));
        }
    }
    Ok(out)
}

/// Ids of `sql`'s first column (a row per id).
fn id_column(db: &mut dyn Db, sql: &str, params: &[Value]) -> Result<Vec<i64>, StoreError> {
    Ok(db
        .query(sql, params, &[FieldType::Int])?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect())
}

/// Everything a merge changes, as it was: what `Engine::undo` puts back. Kept in the
/// survivor's audit entry (its personal part: forgotten with the customer).
fn undo_data(
    model: &Model,
    db: &mut dyn Db,
    dups: &[Cand],
    into: i64,
    columns: &[(String, FieldType)],
) -> Result<Json, StoreError> {
    let d = db.dialect();
    let cols = model.customer.columns();
    let names: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
    let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
    let mut rows = Vec::new();
    let mut per_dup = Vec::new();
    for dup in dups {
        let p = [Value::Int(dup.id)];
        let row = db.query(
            &format!(
                "SELECT {} FROM customers WHERE id = {}",
                names.join(", "),
                ph(d, 1)
            ),
            &p,
            &types,
        )?;
        if let Some(r) = row.first() {
            let obj: serde_json::Map<String, Json> = cols
                .iter()
                .zip(r)
                .map(|(c, v)| (c.name.clone(), json!(v.to_cell())))
                .collect();
            rows.push(Json::Object(obj));
        }
        let mut moved = serde_json::Map::new();
        let mut renumbered = serde_json::Map::new();
        for kind in model
            .records
            .iter()
            .filter(|k| k.owner.target == Target::Customer)
        {
            let sql = format!(
                "SELECT id FROM {} WHERE {} = {}",
                q(&kind.name),
                q(&kind.owner.column),
                ph(d, 1)
            );
            let ids = id_column(db, &sql, &p)?;
            if !ids.is_empty() {
                moved.insert(kind.name.clone(), json!(ids));
            }
            if let Some(n) = kind.numbered.as_ref().filter(|n| n.per_owner) {
                let nums = db.query(
                    &format!(
                        "SELECT id, {} FROM {} WHERE {} = {}",
                        q(&n.field),
                        q(&kind.name),
                        q(&kind.owner.column),
                        ph(d, 1)
                    ),
                    &p,
                    &[
                        FieldType::Int,
                        if n.text {
                            FieldType::Text
                        } else {
                            FieldType::Int
                        },
                    ],
                )?;
                if !nums.is_empty() {
                    renumbered.insert(
                        kind.name.clone(),
                        json!(nums
                            .iter()
                            .map(|r| json!([r[0].as_i64(), r[1].to_cell()]))
                            .collect::<Vec<_>>()),
                    );
                }
            }
        }
        let mut links = serde_json::Map::new();
        for kind in &model.records {
            for link in kind.links.iter().filter(|l| l.target == Target::Customer) {
                let sql = format!(
                    "SELECT id FROM {} WHERE {} = {}",
                    q(&kind.name),
                    q(&link.column),
                    ph(d, 1)
                );
                let ids = id_column(db, &sql, &p)?;
                if !ids.is_empty() {
                    links.insert(format!("{}.{}", kind.name, link.column), json!(ids));
                }
            }
        }
        for cl in &model.customer.links {
            let sql = format!(
                "SELECT id FROM customers WHERE {} = {}",
                q(&cl.link.column),
                ph(d, 1)
            );
            let ids = id_column(db, &sql, &p)?;
            if !ids.is_empty() {
                links.insert(format!("customers.{}", cl.link.column), json!(ids));
            }
        }
        let tombstones = id_column(
            db,
            &format!(
                "SELECT id FROM offboard_merged WHERE into_id = {}",
                ph(d, 1)
            ),
            &p,
        )?;
        per_dup.push(json!({
            "id": dup.id,
            "moved": moved,
            "links": links,
            "renumbered": renumbered,
            "tombstones": tombstones,
        }));
    }
    let select: Vec<String> = columns.iter().map(|(c, _)| q(c)).collect();
    let types: Vec<FieldType> = columns.iter().map(|(_, t)| *t).collect();
    let before = db.query(
        &format!(
            "SELECT {} FROM customers WHERE id = {}",
            select.join(", "),
            ph(d, 1)
        ),
        &[Value::Int(into)],
        &types,
    )?;
    let survivor: serde_json::Map<String, Json> = columns
        .iter()
        .zip(before.first().cloned().unwrap_or_default())
        .map(|((c, _), v)| (c.clone(), json!(v.to_cell())))
        .collect();
    Ok(json!({ "rows": rows, "duplicates": per_dup, "survivor": survivor }))
}
