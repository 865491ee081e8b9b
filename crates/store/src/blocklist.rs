//! No resurrection: the identifying values (an email, and any field the model marks
//! `identifying = true`) of erased and forgotten persons are kept as keyed digests —
//! HMAC-SHA256 under a key of this database (`offboard_meta`), never the values — and a new
//! customer, an import or an edit that would bring one back is refused. An admin may lift an
//! entry (by giving the value again).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use offboard_model::{DateTime, FieldType, Model, Value};

use crate::credentials::{hex, random_bytes};
use crate::db::{ph, Db};
use crate::migrate::{get_meta, set_meta};
use crate::{Store, StoreError};

const KEY: &str = "blocklist_key";

/// The key digests are made under; made on first use.
fn key(db: &mut dyn Db) -> Result<Vec<u8>, StoreError> {
    if let Some(k) = get_meta(db, KEY)? {
        return Ok(k.into_bytes());
    }
    let k = hex(&random_bytes::<32>()?);
    set_meta(db, KEY, &k)?;
    Ok(k.into_bytes())
}

/// The value as it is compared: trimmed, any case.
fn normalize(value: &str) -> String {
    value.trim().to_lowercase()
}

/// The keyed digest of a column's value.
fn digest(key: &[u8], column: &str, value: &str) -> Result<String, StoreError> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .map_err(|e| StoreError::Invalid(format!("the blocklist key is not usable: {e}")))?;
    mac.update(column.as_bytes());
    mac.update(&[0]);
    mac.update(normalize(value).as_bytes());
    Ok(hex(&mac.finalize().into_bytes()))
}

/// The command that lifts a value of `column`.
fn lift_hint(column: &str) -> String {
    if column == "email" {
        "lift --email VALUE".into()
    } else {
        format!("lift --field {column} --value VALUE")
    }
}

/// The customer columns that identify a person: built-in ones and fields.
pub fn identifying_columns(model: &Model) -> Vec<String> {
    let mut out = model.customer.identifying.clone();
    out.extend(
        model
            .customer
            .fields
            .iter()
            .filter(|f| f.identifying)
            .map(|f| f.name.clone()),
    );
    out
}

/// Adds the identifying values of the customers whose ids are in `set` (a temp table) to the
/// blocklist: read in one query before they are erased or masked. Returns how many entries
/// were added.
pub fn block_customers(
    model: &Model,
    db: &mut dyn Db,
    set: &str,
    why: &str,
) -> Result<u64, StoreError> {
    let cols = identifying_columns(model);
    if cols.is_empty() {
        return Ok(0);
    }
    let select: Vec<String> = cols.iter().map(|c| format!("c.\"{c}\"")).collect();
    let rows = db.query(
        &format!(
            "SELECT {} FROM customers c WHERE c.id IN (SELECT id FROM {set})",
            select.join(", ")
        ),
        &[],
        &vec![FieldType::Text; cols.len()],
    )?;
    let key = key(db)?;
    // Digests made here, loaded in bulk into a temporary table, then added in one statement
    // (a value already on the list stays as it is): no statement per value.
    let mut fresh: Vec<(String, String)> = Vec::new();
    for row in rows {
        for (col, v) in cols.iter().zip(row) {
            if let Some(text) = v.as_str().filter(|t| !t.trim().is_empty()) {
                fresh.push((digest(&key, col, text)?, col.clone()));
            }
        }
    }
    // And every value they had before: an email edited away, a merged duplicate's — what the
    // audit log kept apart about them and the duplicates merged into them, read before the
    // erasure forgets it.
    for (col, text) in earlier_values(db, set, &cols)? {
        fresh.push((digest(&key, &col, &text)?, col));
    }
    if fresh.is_empty() {
        return Ok(0);
    }
    fresh.sort();
    fresh.dedup_by(|a, b| a.0 == b.0);
    db.batch(
        "CREATE TEMPORARY TABLE IF NOT EXISTS ob_block_new (digest TEXT NOT NULL, field TEXT NOT NULL)",
    )?;
    db.execute("DELETE FROM ob_block_new", &[])?;
    let cols = vec![
        ("digest".to_string(), FieldType::Text),
        ("field".to_string(), FieldType::Text),
    ];
    let mut sink = db.bulk("ob_block_new", &cols)?;
    for (d, f) in &fresh {
        sink.write(&[Value::Text(d.clone()), Value::Text(f.clone())])?;
    }
    sink.finish()?;
    let d = db.dialect();
    db.execute(
        &format!(
            "INSERT INTO offboard_blocklist (digest, field, added_at, why) SELECT digest, field, {}, {} FROM ob_block_new WHERE true ON CONFLICT (digest) DO NOTHING",
            ph(d, 1),
            ph(d, 2)
        ),
        &[Value::DateTime(DateTime::now()), Value::Text(why.to_string())],
    )
}

/// The ids of the customers in the temp table `set` and of every customer merged into one of
/// them (followed along later merges): the same persons, as a subquery.
pub fn with_merged(set: &str) -> String {
    format!("WITH RECURSIVE gone(id) AS (SELECT id FROM {set} UNION SELECT m.id FROM offboard_merged m JOIN gone g ON m.into_id = g.id) SELECT id FROM gone")
}

/// The identifying values the audit log's kept-apart parts hold about the customers of
/// `set` and the duplicates merged into them (followed along later merges): wherever a
/// part names an identifying field — as a key (`"email": …`, or `{"before", "after"}`), or
/// as a merge's field choice (`"field": "email"` with its value and candidates).
fn earlier_values(
    db: &mut dyn Db,
    set: &str,
    cols: &[String],
) -> Result<Vec<(String, String)>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT data FROM offboard_audit_personal WHERE customer_id IN ({})",
            with_merged(set)
        ),
        &[],
        &[FieldType::Text],
    )?;
    fn texts(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(t) if !t.trim().is_empty() => out.push(t.clone()),
            serde_json::Value::Array(list) => list.iter().for_each(|x| texts(x, out)),
            serde_json::Value::Object(o) => {
                for k in ["before", "after", "value", "old", "new"] {
                    if let Some(x) = o.get(k) {
                        texts(x, out);
                    }
                }
                if let Some(c) = o.get("candidates") {
                    texts(c, out);
                }
            }
            _ => {}
        }
    }
    fn walk(v: &serde_json::Value, cols: &[String], out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(o) => {
                for (k, x) in o {
                    if cols.contains(k) {
                        let mut found = Vec::new();
                        texts(x, &mut found);
                        out.extend(found.into_iter().map(|t| (k.clone(), t)));
                    }
                }
                if let Some(field) = o.get("field").and_then(|f| f.as_str()) {
                    if cols.iter().any(|c| c == field) {
                        let mut found = Vec::new();
                        texts(v, &mut found);
                        out.extend(found.into_iter().map(|t| (field.to_string(), t)));
                    }
                }
                o.values().for_each(|x| walk(x, cols, out));
            }
            serde_json::Value::Array(list) => list.iter().for_each(|x| walk(x, cols, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for r in rows {
        if let Some(data) = r[0]
            .as_str()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        {
            walk(&data, cols, &mut out);
        }
    }
    out.retain(|(_, t)| !t.contains('\u{b7}') && t.contains(|c: char| c.is_alphanumeric()));
    out.sort();
    out.dedup();
    Ok(out)
}

/// A checker of values against the blocklist, for one write or one whole import: it reads
/// the key once (and no key means an empty list).
pub struct Checker {
    key: Option<Vec<u8>>,
    columns: Vec<String>,
}

impl Checker {
    pub fn new(model: &Model, db: &mut dyn Db) -> Result<Checker, StoreError> {
        Ok(Checker {
            key: get_meta(db, KEY)?.map(String::into_bytes),
            columns: identifying_columns(model),
        })
    }

    /// Refuses `value` of `column` when an erased or forgotten person had it.
    pub fn check(&self, db: &mut dyn Db, column: &str, value: &str) -> Result<(), StoreError> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        if !self.columns.iter().any(|c| c == column) || value.trim().is_empty() {
            return Ok(());
        }
        let found = db.query_value(
            &format!(
                "SELECT why FROM offboard_blocklist WHERE digest = {}",
                ph(db.dialect(), 1)
            ),
            &[Value::Text(digest(key, column, value)?)],
            FieldType::Text,
        )?;
        match found {
            None => Ok(()),
            Some(why) => Err(StoreError::Refused(format!(
                "{column} `{value}` belonged to a person whose data was {} and may not come back; an admin can lift it with `offboard blocklist {}`",
                why.as_str().unwrap_or("erased"),
                lift_hint(column)
            ))),
        }
    }
}

/// The whole blocklist in memory, for an import: each row's values are checked without a
/// query of their own (the list holds digests of erased persons only, so it stays small next
/// to the import).
pub struct Loaded {
    key: Vec<u8>,
    columns: Vec<String>,
    digests: std::collections::HashSet<String>,
}

impl Loaded {
    /// The list, or `None` when it is empty.
    pub fn load(model: &Model, db: &mut dyn Db) -> Result<Option<Loaded>, StoreError> {
        let Some(key) = get_meta(db, KEY)? else {
            return Ok(None);
        };
        let columns = identifying_columns(model);
        if columns.is_empty() {
            return Ok(None);
        }
        let digests: std::collections::HashSet<String> = db
            .query(
                "SELECT digest FROM offboard_blocklist",
                &[],
                &[FieldType::Text],
            )?
            .into_iter()
            .filter_map(|mut r| match r.pop() {
                Some(Value::Text(t)) => Some(t),
                _ => None,
            })
            .collect();
        if digests.is_empty() {
            return Ok(None);
        }
        Ok(Some(Loaded {
            key: key.into_bytes(),
            columns,
            digests,
        }))
    }

    /// Why `value` of `column` may not be imported, if it may not.
    pub fn refuses(&self, column: &str, value: &str) -> Result<Option<String>, StoreError> {
        if !self.columns.iter().any(|c| c == column) || value.trim().is_empty() {
            return Ok(None);
        }
        Ok(self
            .digests
            .contains(&digest(&self.key, column, value)?)
            .then(|| format!(
                "`{value}` belonged to a person whose data was erased or forgotten and may not come back; an admin can lift it with `offboard blocklist {}`",
                lift_hint(column)
            )))
    }
}

impl Store {
    /// Lifts the blocklist entry of `column`'s `value`; whether there was one.
    pub fn lift_blocked(&mut self, column: &str, value: &str) -> Result<bool, StoreError> {
        let model = self.shared_model();
        if !identifying_columns(&model).iter().any(|c| c == column) {
            return Err(StoreError::Invalid(format!(
                "`{column}` is not an identifying column; identifying: {}",
                identifying_columns(&model).join(", ")
            )));
        }
        let db = self.db();
        let Some(k) = get_meta(db, KEY)? else {
            return Ok(false);
        };
        let sql = format!(
            "DELETE FROM offboard_blocklist WHERE digest = {}",
            ph(db.dialect(), 1)
        );
        Ok(db.execute(&sql, &[Value::Text(digest(k.as_bytes(), column, value)?)])? > 0)
    }

    /// How many values the blocklist holds, per column.
    pub fn blocklist_counts(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .db()
            .query(
                "SELECT field, count(*) FROM offboard_blocklist GROUP BY field ORDER BY field",
                &[],
                &[FieldType::Text, FieldType::Int],
            )?
            .into_iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap_or_default().to_string(),
                    r[1].as_i64().unwrap_or(0),
                )
            })
            .collect())
    }
}
