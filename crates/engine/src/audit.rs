//! The audit log: append-only and hash-chained. Each entry's hash covers its content and the
//! previous entry's hash; the newest hash and the count are kept in `offboard_meta`, so an
//! edited, removed or truncated log is detected by [`verify`].

use serde::Serialize;
use sha2::{Digest, Sha256};

use offboard_model::model::Operation;
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::{ph, Db};
use offboard_store::meta::{get_meta, set_meta};
use offboard_store::{Dialect, StoreError};

/// One entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub customer_id: Option<i64>,
    pub customer_number: Option<String>,
    pub customer_name: Option<String>,
    pub reason: Option<String>,
    pub details: serde_json::Value,
}

impl NewEntry {
    /// An entry about one customer, with its id, number and name as they were.
    pub fn customer(
        id: i64,
        number: &str,
        name: &str,
        reason: Option<String>,
        details: serde_json::Value,
    ) -> NewEntry {
        NewEntry {
            customer_id: Some(id),
            customer_number: Some(number.to_string()),
            customer_name: Some(name.to_string()),
            reason,
            details,
        }
    }
}

/// An entry as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub operation: String,
    pub customer_id: Option<i64>,
    pub customer_number: Option<String>,
    pub customer_name: Option<String>,
    pub reason: Option<String>,
    pub details: serde_json::Value,
    pub hash: String,
}

/// What an audit entry records: a lifecycle operation, or another change. Stored by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// A lifecycle operation (deactivate, delete, purge, transfer, merge, ...).
    Op(Operation),
    /// Records moved to another customer as part of a delete with "move to customer".
    MoveTo,
    CreateCustomer,
    EditCustomer,
    CreateRecord,
    EditRecord,
    DeleteRecords,
    Import,
    AddUser,
    SetRole,
    SetPassword,
    CreateToken,
    RevokeTokens,
    /// A kind's deactivation reasons edited (or set back to the model file's).
    SetReasons,
    /// A value taken off the no-resurrection blocklist (the log keeps the field, not the value).
    LiftBlock,
    /// A customer's personal data masked (forget now, purge later).
    Forget,
}

impl Act {
    /// The name the log keeps (`deactivate`, `move-to`, `edit-record`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Act::Op(op) => op.name(),
            Act::MoveTo => "move-to",
            Act::CreateCustomer => "create",
            Act::EditCustomer => "edit",
            Act::CreateRecord => "create-record",
            Act::EditRecord => "edit-record",
            Act::DeleteRecords => "delete-records",
            Act::Import => "import",
            Act::AddUser => "add-user",
            Act::SetRole => "set-role",
            Act::SetPassword => "set-password",
            Act::CreateToken => "create-token",
            Act::RevokeTokens => "revoke-tokens",
            Act::SetReasons => "set-reasons",
            Act::LiftBlock => "lift-block",
            Act::Forget => "forget",
        }
    }
}

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[allow(clippy::too_many_arguments)]
fn hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    op: &str,
    cid: Option<i64>,
    number: Option<&str>,
    name: Option<&str>,
    reason: Option<&str>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        at,
        actor,
        op,
        &cid.map(|c| c.to_string()).unwrap_or_default(),
        number.unwrap_or("\u{0}"),
        name.unwrap_or("\u{0}"),
        reason.unwrap_or("\u{0}"),
        details,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Appends entries (inside the caller's transaction).
pub fn append(
    db: &mut dyn Db,
    actor: &str,
    act: Act,
    entries: &[NewEntry],
) -> Result<(), StoreError> {
    let operation = act.name();
    if entries.is_empty() {
        return Ok(());
    }
    if db.dialect() == Dialect::Postgres {
        // One writer of the chain at a time.
        db.batch("SELECT pg_advisory_xact_lock(7204532)")?;
    }
    let mut prev = get_meta(db, "audit_head")?.unwrap_or_else(|| GENESIS.to_string());
    let mut seq = get_meta(db, "audit_count")?
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let at = DateTime::now();
    let at_text = at.to_string();
    let cols: Vec<(String, FieldType)> = [
        ("seq", FieldType::Int),
        ("at", FieldType::DateTime),
        ("actor", FieldType::Text),
        ("operation", FieldType::Text),
        ("customer_id", FieldType::Int),
        ("customer_number", FieldType::Text),
        ("customer_name", FieldType::Text),
        ("reason", FieldType::Text),
        ("details", FieldType::Text),
        ("prev_hash", FieldType::Text),
        ("hash", FieldType::Text),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), *t))
    .collect();
    let mut sink = db.bulk("offboard_audit", &cols)?;
    let text = |o: &Option<String>| o.clone().map_or(Value::Null, Value::Text);
    for e in entries {
        seq += 1;
        let details = e.details.to_string();
        let h = hash(
            &prev,
            seq,
            &at_text,
            actor,
            operation,
            e.customer_id,
            e.customer_number.as_deref(),
            e.customer_name.as_deref(),
            e.reason.as_deref(),
            &details,
        );
        sink.write(&[
            Value::Int(seq),
            Value::DateTime(at),
            Value::Text(actor.into()),
            Value::Text(operation.into()),
            e.customer_id.map_or(Value::Null, Value::Int),
            text(&e.customer_number),
            text(&e.customer_name),
            text(&e.reason),
            Value::Text(details),
            Value::Text(prev.clone()),
            Value::Text(h.clone()),
        ])?;
        prev = h;
    }
    sink.finish()?;
    set_meta(db, "audit_head", &prev)?;
    set_meta(db, "audit_count", &seq.to_string())
}

fn entry(r: Vec<Value>) -> Entry {
    let t = |v: &Value| v.as_str().map(str::to_string);
    Entry {
        seq: r[0].as_i64().unwrap_or(0),
        at: r[1].to_cell(),
        actor: t(&r[2]).unwrap_or_default(),
        operation: t(&r[3]).unwrap_or_default(),
        customer_id: r[4].as_i64(),
        customer_number: t(&r[5]),
        customer_name: t(&r[6]),
        reason: t(&r[7]),
        details: t(&r[8])
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null),
        hash: t(&r[9]).unwrap_or_default(),
    }
}

const COLUMNS: &str = "seq, at, actor, operation, customer_id, customer_number, customer_name, reason, details, hash, prev_hash";
const TYPES: [FieldType; 11] = [
    FieldType::Int,
    FieldType::DateTime,
    FieldType::Text,
    FieldType::Text,
    FieldType::Int,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
    FieldType::Text,
];

/// Entries, newest first, optionally for one customer.
pub fn list(
    db: &mut dyn Db,
    customer: Option<i64>,
    limit: Option<u64>,
) -> Result<Vec<Entry>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM offboard_audit");
    let mut params = Vec::new();
    if let Some(c) = customer {
        params.push(Value::Int(c));
        sql.push_str(&format!(" WHERE customer_id = {}", ph(db.dialect(), 1)));
    }
    sql.push_str(" ORDER BY seq DESC");
    if let Some(l) = limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    Ok(db
        .query(&sql, &params, &TYPES)?
        .into_iter()
        .map(entry)
        .collect())
}

/// Which audit entries a list shows: any of customer, operation, actor and a date range, and
/// keyset paging (entries before a sequence number, newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub customer: Option<i64>,
    /// By the customer's number as the log recorded it (an erased customer has no id left).
    pub number: Option<String>,
    pub operation: Option<String>,
    pub actor: Option<String>,
    /// From this day on (inclusive).
    pub from: Option<offboard_model::value::Date>,
    /// Up to this day (inclusive).
    pub to: Option<offboard_model::value::Date>,
    /// Only entries older than this one (the next page).
    pub before: Option<i64>,
    pub limit: Option<u64>,
}

/// The entries `filter` selects, newest first, in one query (the index on customer_id, or
/// the primary key's order, serves it).
pub fn list_filtered(db: &mut dyn Db, filter: &AuditFilter) -> Result<Vec<Entry>, StoreError> {
    let d = db.dialect();
    let mut sql = format!("SELECT {COLUMNS} FROM offboard_audit");
    let mut params: Vec<Value> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let mut add = |cond: &str, v: Value, params: &mut Vec<Value>| {
        params.push(v);
        conds.push(cond.replace('?', &ph(d, params.len())));
    };
    if let Some(c) = filter.customer {
        add("customer_id = ?", Value::Int(c), &mut params);
    }
    if let Some(n) = &filter.number {
        add("customer_number = ?", Value::Text(n.clone()), &mut params);
    }
    if let Some(o) = &filter.operation {
        add("operation = ?", Value::Text(o.clone()), &mut params);
    }
    if let Some(a) = &filter.actor {
        add("actor = ?", Value::Text(a.clone()), &mut params);
    }
    if let Some(f) = filter.from {
        add("at >= ?", Value::DateTime(f.at_midnight()), &mut params);
    }
    if let Some(t) = filter.to {
        let next = offboard_model::value::Date::from_days(t.days() + 1);
        add("at < ?", Value::DateTime(next.at_midnight()), &mut params);
    }
    if let Some(b) = filter.before {
        add("seq < ?", Value::Int(b), &mut params);
    }
    if !conds.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conds.join(" AND "));
    }
    sql.push_str(" ORDER BY seq DESC");
    if let Some(l) = filter.limit {
        sql.push_str(&format!(" LIMIT {l}"));
    }
    Ok(db
        .query(&sql, &params, &TYPES)?
        .into_iter()
        .map(entry)
        .collect())
}

/// The actors and operations the log holds (for a filter's choices).
pub fn facets(db: &mut dyn Db) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let column = |db: &mut dyn Db, c: &str| -> Result<Vec<String>, StoreError> {
        Ok(db
            .query(
                &format!("SELECT DISTINCT {c} FROM offboard_audit ORDER BY {c}"),
                &[],
                &[FieldType::Text],
            )?
            .into_iter()
            .filter_map(|mut r| match r.pop() {
                Some(Value::Text(t)) => Some(t),
                _ => None,
            })
            .collect())
    };
    Ok((column(db, "actor")?, column(db, "operation")?))
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub entries: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Recomputes the chain from the first entry; reports the first edited, missing or extra entry.
pub fn verify(db: &mut dyn Db) -> Result<Verification, StoreError> {
    let head = get_meta(db, "audit_head")?.unwrap_or_else(|| GENESIS.to_string());
    let count = get_meta(db, "audit_count")?
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    let mut prev = GENESIS.to_string();
    let mut expected_seq = 0i64;
    let mut problem: Option<String> = None;
    db.query_each(
        &format!("SELECT {COLUMNS} FROM offboard_audit ORDER BY seq"),
        &[],
        &TYPES,
        &mut |r| {
            if problem.is_some() {
                return Ok(());
            }
            let stored_prev = r[10].as_str().unwrap_or_default().to_string();
            let e = entry(r);
            expected_seq += 1;
            if e.seq != expected_seq {
                problem = Some(format!(
                    "entry {expected_seq} is missing (the next is {})",
                    e.seq
                ));
                return Ok(());
            }
            let details = e.details.to_string();
            let h = hash(
                &prev,
                e.seq,
                &e.at,
                &e.actor,
                &e.operation,
                e.customer_id,
                e.customer_number.as_deref(),
                e.customer_name.as_deref(),
                e.reason.as_deref(),
                &details,
            );
            if stored_prev != prev || h != e.hash {
                problem = Some(format!(
                    "entry {} was changed: its hash does not match its content",
                    e.seq
                ));
            }
            prev = e.hash;
            Ok(())
        },
    )?;
    if problem.is_none() && (expected_seq != count || prev != head) {
        problem = Some(format!(
            "the log ends at entry {expected_seq}, but {count} entries were written: entries were removed"
        ));
    }
    Ok(Verification {
        ok: problem.is_none(),
        entries: expected_seq,
        problem,
    })
}
