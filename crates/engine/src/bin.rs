//! The records recycle bin: records deleted for good are kept in `offboard_deleted_records`
//! (their values as JSON) — listed per customer and restored in order, as ERPNext's "Deleted
//! Documents" — until a purge takes them past the model's retention or their customer is
//! erased or forgotten.

use serde::Serialize;
use serde_json::{json, Value as Json};

use offboard_model::model::Operation;
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::Db;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::sql::{ph, q};
use crate::{Engine, EngineError};

/// Whose rows they were and each row's values, per customer (as the audit entries of a
/// deletion name them): `(customer id, number, name, records)`.
pub(crate) type KeptRows = Vec<(Value, Value, Value, Vec<Json>)>;

/// Keeps the rows of kind `k` whose ids `ids_sql` selects (with `params`) in the records bin,
/// each as it is now, before the caller deletes them: one read and one bulk insert, however
/// many. Every path that deletes records for good goes through here (a record deletion, a
/// deactivation that removes open activities), so nothing is removed without a way back
/// until an erasure or a forget empties the bin.
pub(crate) fn keep(
    model: &offboard_model::Model,
    tx: &mut dyn Db,
    k: &offboard_model::model::RecordKind,
    ids_sql: &str,
    params: &[Value],
    actor: &str,
) -> Result<KeptRows, StoreError> {
    let (from, cust) = offboard_store::records::customer_path(model, k);
    let cols = k.columns();
    let list: Vec<String> = cols.iter().map(|c| format!("r.{}", q(&c.name))).collect();
    let mut types = vec![FieldType::Int, FieldType::Text, FieldType::Text];
    types.extend(cols.iter().map(|c| c.ty));
    let rows = tx.query(
        &format!("SELECT {cust}, c.number, c.name, {} FROM {from} LEFT JOIN customers c ON c.id = {cust} WHERE r.id IN ({ids_sql}) ORDER BY {cust}, r.id", list.join(", ")),
        params,
        &types,
    )?;
    let mut by_customer: KeptRows = Vec::new();
    let mut binned: Vec<Vec<Value>> = Vec::new();
    let now = DateTime::now().to_string();
    for mut r in rows {
        let values: Vec<Value> = r.split_off(3);
        let record: serde_json::Map<String, Json> = cols
            .iter()
            .zip(values)
            .map(|(c, v)| (c.name.clone(), serde_json::to_value(&v).unwrap_or_default()))
            .collect();
        let [cid, number, name]: [Value; 3] = match r.try_into() {
            Ok(a) => a,
            Err(_) => continue,
        };
        binned.push(vec![
            Value::Text(k.name.clone()),
            record
                .get("id")
                .and_then(Json::as_i64)
                .map_or(Value::Null, Value::Int),
            cid.clone(),
            record
                .get(&k.owner.column)
                .and_then(Json::as_i64)
                .map_or(Value::Null, Value::Int),
            Value::Text(Json::Object(record.clone()).to_string()),
            Value::Text(now.clone()),
            Value::Text(actor.to_string()),
        ]);
        match by_customer.last_mut() {
            Some(last) if last.0 == cid => last.3.push(record.into()),
            _ => by_customer.push((cid, number, name, vec![record.into()])),
        }
    }
    if !binned.is_empty() {
        let cols: Vec<(String, FieldType)> = [
            ("kind", FieldType::Text),
            ("record_id", FieldType::Int),
            ("customer_id", FieldType::Int),
            ("owner_id", FieldType::Int),
            ("data", FieldType::Text),
            ("deleted_at", FieldType::Text),
            ("deleted_by", FieldType::Text),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
        let mut sink = tx.bulk("offboard_deleted_records", &cols)?;
        for row in &binned {
            sink.write(row)?;
        }
        sink.finish()?;
    }
    Ok(by_customer)
}

/// A record in the bin.
#[derive(Debug, Clone, Serialize)]
pub struct Binned {
    /// The bin entry's id (what `restore` takes).
    pub id: i64,
    pub kind: String,
    pub record_id: i64,
    pub customer_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub record: Json,
    pub deleted_at: String,
    pub deleted_by: String,
}

/// What a restore did (or would do), entry by entry.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub dry_run: bool,
    pub restored: usize,
    pub refused: usize,
    pub entries: Vec<RestoredEntry>,
    /// What the plan decided, as a short digest: `--plan` / `"plan"` binds an apply to it.
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoredEntry {
    pub id: i64,
    pub kind: String,
    pub record_id: i64,
    /// `restored` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

const COLUMNS: &str = "id, kind, record_id, customer_id, owner_id, data, deleted_at, deleted_by";
const TYPES: [FieldType; 8] = [
    FieldType::Int,
    FieldType::Text,
    FieldType::Int,
    FieldType::Int,
    FieldType::Int,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
];

fn binned(r: &[Value]) -> Binned {
    let t = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Binned {
        id: r[0].as_i64().unwrap_or(0),
        kind: t(&r[1]),
        record_id: r[2].as_i64().unwrap_or(0),
        customer_id: r[3].as_i64(),
        owner_id: r[4].as_i64(),
        record: serde_json::from_str(r[5].as_str().unwrap_or("null")).unwrap_or(Json::Null),
        deleted_at: t(&r[6]),
        deleted_by: t(&r[7]),
    }
}

/// The bin entries of customers in `set` go: an erasure or a forget.
pub(crate) fn forget_binned(db: &mut dyn Db, set: &str) -> Result<u64, StoreError> {
    db.execute(
        &format!(
            "DELETE FROM offboard_deleted_records WHERE customer_id IN (SELECT id FROM {set})"
        ),
        &[],
    )
}

/// The bin entries deleted at or before `cutoff` go: a purge past the model's retention (a
/// dry run counts them, so its plan says what the apply's does). Those of the customers the
/// purge erases (the set `erased`) went with them already and are not counted again.
pub(crate) fn purge_binned(
    db: &mut dyn Db,
    cutoff: DateTime,
    erased: &str,
    dry_run: bool,
) -> Result<u64, StoreError> {
    let cond = format!(
        "FROM offboard_deleted_records WHERE deleted_at <= {} AND (customer_id IS NULL OR customer_id NOT IN (SELECT id FROM {erased}))",
        ph(db.dialect(), 1)
    );
    let at = [Value::Text(cutoff.to_string())];
    if dry_run {
        return Ok(db
            .query_i64(&format!("SELECT count(*) {cond}"), &at)?
            .max(0) as u64);
    }
    db.execute(&format!("DELETE {cond}"), &at)
}

/// A JSON value back into a column's value.
pub(crate) fn cell(v: &Json, ty: FieldType) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (ty, n.as_i64()) {
            (FieldType::Money, Some(i)) => Value::Money(i),
            (_, Some(i)) => Value::Int(i),
            _ => Value::Null,
        },
        Json::String(s) => Value::parse_cell(ty, s).unwrap_or(Value::Text(s.clone())),
        other => Value::Text(other.to_string()),
    }
}

impl Engine<'_> {
    /// The records in the bin, newest first: of one customer, or all.
    pub fn binned_records(&mut self, customer: Option<i64>) -> Result<Vec<Binned>, EngineError> {
        self.allow(Operation::View)?;
        let db = self.store.db();
        let (cond, params) = match customer {
            Some(c) => (
                format!(" WHERE customer_id = {}", ph(db.dialect(), 1)),
                vec![Value::Int(c)],
            ),
            None => (String::new(), Vec::new()),
        };
        Ok(db
            .query(
                &format!("SELECT {COLUMNS} FROM offboard_deleted_records{cond} ORDER BY id DESC LIMIT 1000"),
                &params,
                &TYPES,
            )?
            .iter()
            .map(|r| binned(r))
            .collect())
    }

    /// Restores records from the bin (their own ids and values), in their kind's order, each
    /// unless refused: its owner is gone; its number is in use again; or, for an ordered kind
    /// (lending's processes and payments), it would not be the newest again — an older one
    /// still in the bin comes back first, and none may come back under a newer one.
    pub fn restore_records(
        &mut self,
        entries: &[i64],
        dry_run: bool,
    ) -> Result<Restored, EngineError> {
        if entries.is_empty() {
            return Err(EngineError::Refused(
                "name the bin entries to restore".into(),
            ));
        }
        let model = self.store.shared_model();
        let list = entries
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut rows: Vec<Binned> = self
            .store
            .db()
            .query(
                &format!("SELECT {COLUMNS} FROM offboard_deleted_records WHERE id IN ({list})"),
                &[],
                &TYPES,
            )?
            .iter()
            .map(|r| binned(r))
            .collect();
        for e in entries {
            if !rows.iter().any(|r| r.id == *e) {
                return Err(StoreError::NotFound(format!(
                    "there is no entry {e} in the records bin"
                ))
                .into());
            }
        }
        for r in &rows {
            self.allow_record(Operation::RecordDelete, &r.kind)?;
        }
        // Oldest first in each kind's order, so a run of deleted records comes back in order.
        let order_key = |r: &Binned| -> String {
            model
                .record(&r.kind)
                .and_then(|k| k.order_by.first())
                .map(|f| r.record[f].to_string())
                .unwrap_or_default()
        };
        rows.sort_by(|a, b| {
            (a.kind.clone(), order_key(a), a.record_id).cmp(&(
                b.kind.clone(),
                order_key(b),
                b.record_id,
            ))
        });
        let actor = self.actor.name.clone();
        let mut binding = self.binding("records restore", dry_run);
        let mut fingerprint = String::new();
        let mut out = Vec::new();
        let result = self.store.atomically(|s| {
            let db = s.db();
            let d = db.dialect();
            let mut entries_log: Vec<NewEntry> = Vec::new();
            for r in &rows {
                let Some(k) = model.record(&r.kind) else {
                    out.push(refused(r, format!("the model has no record kind `{}` any more", r.kind)));
                    continue;
                };
                let owner_col = q(&k.owner.column);
                let owner_table = q(k.owner.target.table());
                // Its owner must still be there.
                let owner_there = match r.owner_id {
                    Some(o) => db.query_i64(
                        &format!("SELECT count(*) FROM {owner_table} WHERE id = {}", ph(d, 1)),
                        &[Value::Int(o)],
                    )? > 0,
                    None => true,
                };
                if !owner_there {
                    out.push(refused(r, format!("its owner ({} {}) is gone", k.owner.target.table(), r.owner_id.unwrap_or(0))));
                    continue;
                }
                // An ordered kind: only as the newest again, older binned ones first.
                if let (Some(f), Some(o)) = (k.order_by.first(), r.owner_id) {
                    let mine = cell(&r.record[f], k.field(f).map_or(FieldType::Text, |x| x.ty));
                    let newer = db.query_i64(
                        &format!(
                            "SELECT count(*) FROM {} WHERE {owner_col} = {} AND {} > {}",
                            q(&k.name),
                            ph(d, 1),
                            q(f),
                            ph(d, 2)
                        ),
                        &[Value::Int(o), mine.clone()],
                    )?;
                    if newer > 0 {
                        out.push(refused(r, format!(
                            "{newer} newer {} of the same owner {}: it would not be the newest again",
                            k.name,
                            if newer == 1 { "exists" } else { "exist" }
                        )));
                        continue;
                    }
                    let older_binned = db.query(
                        &format!(
                            "SELECT id, data FROM offboard_deleted_records WHERE kind = {} AND owner_id = {} AND id <> {}",
                            ph(d, 1),
                            ph(d, 2),
                            ph(d, 3)
                        ),
                        &[Value::Text(k.name.clone()), Value::Int(o), Value::Int(r.id)],
                        &[FieldType::Int, FieldType::Text],
                    )?;
                    let first = older_binned.iter().find(|b| {
                        let data: Json = serde_json::from_str(b[1].as_str().unwrap_or("null")).unwrap_or(Json::Null);
                        let theirs = cell(&data[f], k.field(f).map_or(FieldType::Text, |x| x.ty));
                        theirs.sql_cmp(&mine) == Some(std::cmp::Ordering::Less)
                    });
                    if let Some(b) = first {
                        out.push(refused(r, format!(
                            "an older {} of the same owner is still in the bin: restore it first (entry {})",
                            k.name,
                            b[0].as_i64().unwrap_or(0)
                        )));
                        continue;
                    }
                }
                // A number given again since.
                if let Some(n) = &k.numbered {
                    let number = cell(&r.record[&n.field], if n.text { FieldType::Text } else { FieldType::Int });
                    if !number.is_null() {
                        let scope = match (n.per_owner, r.owner_id) {
                            (true, Some(o)) => format!(" AND {owner_col} = {o}"),
                            _ => String::new(),
                        };
                        let used = db.query_i64(
                            &format!("SELECT count(*) FROM {} WHERE {} = {}{scope}", q(&k.name), q(&n.field), ph(d, 1)),
                            std::slice::from_ref(&number),
                        )?;
                        if used > 0 {
                            out.push(refused(r, format!("its number {number} is in use again")));
                            continue;
                        }
                    }
                }
                let cols = k.columns();
                let mut names = Vec::new();
                let mut params = Vec::new();
                for c in &cols {
                    names.push(q(&c.name));
                    params.push(cell(&r.record[&c.name], c.ty));
                }
                let ps: Vec<String> = (1..=params.len()).map(|i| ph(d, i)).collect();
                db.execute(
                    &format!("INSERT INTO {} ({}) VALUES ({})", q(&k.name), names.join(", "), ps.join(", ")),
                    &params,
                )?;
                db.execute(
                    &format!("DELETE FROM offboard_deleted_records WHERE id = {}", ph(d, 1)),
                    &[Value::Int(r.id)],
                )?;
                entries_log.push(NewEntry {
                    customer_id: r.customer_id,
                    customer_number: None,
                    customer_name: None,
                    reason: None,
                    details: json!({ "kind": r.kind, "restored": r.record_id, "record": r.record }),
                });
                out.push(RestoredEntry {
                    id: r.id,
                    kind: r.kind.clone(),
                    record_id: r.record_id,
                    outcome: "restored",
                    why: None,
                });
            }
            fingerprint = crate::plan::fingerprint_json(&out);
            binding.check(&fingerprint, &Restored::of(dry_run, out.clone(), fingerprint.clone()))?;
            if dry_run {
                return Err(StoreError::Cancelled("dry run".into()));
            }
            if !entries_log.is_empty() {
                audit::append(db, &actor, Act::RestoreRecords, &entries_log)?;
            }
            Ok(())
        });
        match binding.finish(result) {
            Ok(()) | Err(EngineError::Store(StoreError::Cancelled(_))) => {}
            Err(e) => return Err(e),
        }
        Ok(Restored::of(dry_run, out, fingerprint))
    }
}

impl Restored {
    fn of(dry_run: bool, entries: Vec<RestoredEntry>, fingerprint: String) -> Restored {
        let restored = entries.iter().filter(|e| e.outcome == "restored").count();
        Restored {
            dry_run,
            restored,
            refused: entries.len() - restored,
            entries,
            fingerprint,
        }
    }
}

fn refused(r: &Binned, why: String) -> RestoredEntry {
    RestoredEntry {
        id: r.id,
        kind: r.kind.clone(),
        record_id: r.record_id,
        outcome: "refused",
        why: Some(why),
    }
}
