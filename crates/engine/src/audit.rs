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
    /// The operation the entry belongs to: the sequence number of the first entry that
    /// operation (one transaction) wrote. None for entries written before it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<i64>,
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
    /// One API token revoked (the entry names its id, never the secret).
    RevokeToken,
    /// A user disabled (kept, but unable to log in or use a token) or enabled again.
    DisableUser,
    EnableUser,
    /// A user removed with their tokens and sessions.
    RemoveUser,
    /// A kind's deactivation reasons edited (or set back to the model file's).
    SetReasons,
    /// A value taken off the no-resurrection blocklist (the log keeps the field, not the value).
    LiftBlock,
    /// A customer's personal data masked (forget now, purge later).
    Forget,
    /// A schedule's run approved or rejected by a reviewer.
    Review,
    /// A backup brought back, with the erasures and forgets logged after it re-applied.
    Restore,
    /// Entries from before personal values were kept apart, redacted for an erasure or a
    /// forget, and the chain sealed again from the first of them.
    Reseal,
    /// An operation taken back.
    Undo,
    /// Records brought back from the records recycle bin.
    RestoreRecords,
    /// Everything held about a customer handed out (the right of access).
    Access,
    /// A step of a privacy request (logged, verified, run, extended, refused, completed).
    Request,
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
            Act::RevokeToken => "revoke-token",
            Act::DisableUser => "disable-user",
            Act::EnableUser => "enable-user",
            Act::RemoveUser => "remove-user",
            Act::SetReasons => "set-reasons",
            Act::LiftBlock => "lift-block",
            Act::Forget => "forget",
            Act::Review => "review",
            Act::Restore => "restore",
            Act::Reseal => "reseal",
            Act::Undo => "undo",
            Act::RestoreRecords => "restore-records",
            Act::Access => "access",
            Act::Request => "privacy-request",
        }
    }
}

impl Act {
    /// What the log is about besides the lifecycle operations, by the names it keeps.
    /// (A new kind of entry fails to compile in [`Act::listed`] until it is added here too.)
    const OTHERS: [Act; 26] = [
        Act::MoveTo,
        Act::CreateCustomer,
        Act::EditCustomer,
        Act::CreateRecord,
        Act::EditRecord,
        Act::DeleteRecords,
        Act::Import,
        Act::AddUser,
        Act::SetRole,
        Act::SetPassword,
        Act::CreateToken,
        Act::RevokeTokens,
        Act::RevokeToken,
        Act::DisableUser,
        Act::EnableUser,
        Act::RemoveUser,
        Act::SetReasons,
        Act::LiftBlock,
        Act::Forget,
        Act::Review,
        Act::Restore,
        Act::Reseal,
        Act::Access,
        Act::Undo,
        Act::RestoreRecords,
        Act::Request,
    ];

    /// Every kind of entry, matched exhaustively: the reminder to list a new one in
    /// [`Act::OTHERS`].
    #[cfg(test)]
    fn listed(self) -> bool {
        match self {
            Act::Op(_) => true,
            Act::MoveTo
            | Act::CreateCustomer
            | Act::EditCustomer
            | Act::CreateRecord
            | Act::EditRecord
            | Act::DeleteRecords
            | Act::Import
            | Act::AddUser
            | Act::SetRole
            | Act::SetPassword
            | Act::CreateToken
            | Act::RevokeTokens
            | Act::RevokeToken
            | Act::DisableUser
            | Act::EnableUser
            | Act::RemoveUser
            | Act::SetReasons
            | Act::LiftBlock
            | Act::Forget
            | Act::Review
            | Act::Restore
            | Act::Reseal
            | Act::Access
            | Act::Undo
            | Act::RestoreRecords
            | Act::Request => Act::OTHERS.contains(&self),
        }
    }

    /// Every name an entry's operation may have, to filter the log by.
    pub fn names() -> Vec<&'static str> {
        // The lifecycle's operations; the others (view, users, ...) write entries of their own
        // kinds (set-role, ...) or none.
        let lifecycle = [
            Operation::Deactivate,
            Operation::Reactivate,
            Operation::Delete,
            Operation::Undelete,
            Operation::Purge,
            Operation::Transfer,
            Operation::Merge,
        ];
        let mut names: Vec<&'static str> = lifecycle
            .iter()
            .map(|o| o.name())
            .chain(Act::OTHERS.iter().map(|a| a.name()))
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// The first day a filter keeps: `from`, narrowed to the last `days` days (today included)
/// when those are given. `None` when neither is; fewer than one day is refused.
pub fn first_day(
    from: Option<offboard_model::value::Date>,
    days: Option<i32>,
) -> Result<Option<offboard_model::value::Date>, StoreError> {
    let Some(days) = days else {
        return Ok(from);
    };
    if days < 1 {
        return Err(StoreError::Invalid(
            "days count back from today, today included: 1 or more".into(),
        ));
    }
    let today = DateTime::now().date();
    let since = offboard_model::value::Date::from_days(today.days() - (days - 1));
    Ok(Some(from.map_or(since, |f| {
        if f.days() > since.days() {
            f
        } else {
            since
        }
    })))
}

/// Refuses an operation name the log never keeps (a typo would otherwise list nothing).
pub fn check_operation_name(name: &str) -> Result<(), StoreError> {
    let names = Act::names();
    if names.contains(&name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "no operation is called `{name}`; the log's operations are: {}",
            names.join(", ")
        )))
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
    group: Option<i64>,
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
    // The operation id is chained too (entries from before it existed hash as they did).
    if let Some(g) = group {
        let part = g.to_string();
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// Where an entry's personal values go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Personal {
    /// Kept apart from the chain, under a salted digest the chain covers (forgotten with the
    /// customer).
    KeptApart,
    /// Not kept at all: the entry that records an erasure names no personal value.
    Dropped,
}

/// A JSON value with every string masked: what the chain keeps of an entry's details about a
/// customer (numbers, flags and the shape stay).
fn masked(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::String(_) => J::String("·".into()),
        J::Array(a) => J::Array(a.iter().map(masked).collect()),
        J::Object(o) => J::Object(o.iter().map(|(k, v)| (k.clone(), masked(v))).collect()),
        other => other.clone(),
    }
}

/// `n` random salts (hex), from the operating system's random source in one read.
fn salts(n: usize) -> Result<Vec<String>, StoreError> {
    Ok(offboard_store::credentials::random_vec(n * 16)?
        .chunks(16)
        .map(hex)
        .collect())
}

/// The digest the chain keeps of an entry's personal part.
fn personal_digest(salt: &str, data: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update([0u8]);
    h.update(data.as_bytes());
    hex(&h.finalize())
}

/// Appends entries (inside the caller's transaction). An entry about a customer keeps its
/// personal values (the name, the details) apart from the chain.
pub fn append(
    db: &mut dyn Db,
    actor: &str,
    act: Act,
    entries: &[NewEntry],
) -> Result<(), StoreError> {
    append_as(db, actor, act, entries, Personal::KeptApart)
}

/// What an erased customer's tombstone keeps in the entry that records its erasure (the
/// model's `[privacy] tombstone`): its name, and the names of the customers it linked to by
/// these links.
#[derive(Debug, Clone, Default)]
pub struct Tombstone {
    pub name: bool,
    pub links: Vec<String>,
}

/// [`append`] for the entries that record an erasure: they keep no personal value beyond the
/// model's tombstone.
pub fn append_erased(
    db: &mut dyn Db,
    actor: &str,
    act: Act,
    entries: &[NewEntry],
    keep: &Tombstone,
) -> Result<(), StoreError> {
    let kept: Vec<NewEntry> = entries
        .iter()
        .map(|e| {
            let mut details = masked(&e.details);
            for l in &keep.links {
                if let Some(v) = e.details.get("links").and_then(|ls| ls.get(l)) {
                    details["links"][l] = v.clone();
                }
            }
            NewEntry {
                customer_id: e.customer_id,
                customer_number: e.customer_number.clone(),
                customer_name: e.customer_name.clone().filter(|_| keep.name),
                reason: e.reason.clone(),
                details,
            }
        })
        .collect();
    append_as(db, actor, act, &kept, Personal::Dropped)
}

/// [`append`] for entries that hold no personal value by construction (a privacy request's
/// steps: ids, types, dates): kept whole in the chain, with no part kept apart — so a step
/// logged after the person was erased leaves nothing of theirs behind.
pub fn append_impersonal(
    db: &mut dyn Db,
    actor: &str,
    act: Act,
    entries: &[NewEntry],
) -> Result<(), StoreError> {
    let plain: Vec<NewEntry> = entries
        .iter()
        .map(|e| NewEntry {
            customer_name: None,
            ..e.clone()
        })
        .collect();
    append_as(db, actor, act, &plain, Personal::Dropped)
}

/// Forgets what the log holds of these customers' personal data (their entries' kept-apart
/// parts, salts included); the chain still verifies. Entries written before the log kept
/// personal values apart (a database from an older offboard) still hold them in the chain:
/// those of these customers are redacted and the chain is sealed again from the first of
/// them (see [`reseal`]).
pub fn forget_customers(db: &mut dyn Db, set: &str) -> Result<u64, StoreError> {
    reseal(db, set)?;
    // The duplicates merged into them are the same persons: their parts go too.
    db.execute(
        &format!(
            "DELETE FROM offboard_audit_personal WHERE customer_id IN ({})",
            offboard_store::blocklist::with_merged(set)
        ),
        &[],
    )
}

/// Redacts the legacy entries (their details not in the `{"masked": ...}` form) about the
/// customers of `set` — the name emptied, every string of the details masked — and computes
/// the chain again from the first redacted entry to the head, in one pass and one UPDATE. The
/// log then records a `reseal` entry naming the redacted entries and the head before, so an
/// auditor holding the old head can tell what changed. Nothing happens when there are none
/// (every entry this version writes is in the new form).
fn reseal(db: &mut dyn Db, set: &str) -> Result<(), StoreError> {
    let legacy: Vec<i64> = db
        .query(
            &format!("SELECT seq FROM offboard_audit WHERE customer_id IN (SELECT id FROM {set}) AND details NOT LIKE '{{\"masked\":%' ORDER BY seq"),
            &[],
            &[FieldType::Int],
        )?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    let Some(&first) = legacy.first() else {
        return Ok(());
    };
    if db.dialect() == Dialect::Postgres {
        db.batch("SELECT pg_advisory_xact_lock(7204532)")?;
    }
    let old_head = get_meta(db, "audit_head")?.unwrap_or_else(|| GENESIS.to_string());
    let d = db.dialect();
    let mut prev = db
        .query_value(
            &format!(
                "SELECT prev_hash FROM offboard_audit WHERE seq = {}",
                crate::sql::ph(d, 1)
            ),
            &[Value::Int(first)],
            FieldType::Text,
        )?
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| GENESIS.to_string());
    let redacted: std::collections::HashSet<i64> = legacy.iter().copied().collect();
    // The new hashes (and, for the redacted, the new name and details), into a temporary
    // table, then one UPDATE.
    let temp = "ob_reseal";
    let (int, txt) = match d {
        Dialect::Sqlite => ("INTEGER", "TEXT"),
        Dialect::Postgres => ("BIGINT", "TEXT"),
    };
    db.batch(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {temp} (seq {int} PRIMARY KEY, redact {int} NOT NULL, details {txt} NOT NULL, prev_hash {txt} NOT NULL, hash {txt} NOT NULL)"
    ))?;
    db.batch(&format!("DELETE FROM {temp}"))?;
    let mut rows: Vec<Vec<Value>> = Vec::new();
    db.query_each(
        &format!(
            "SELECT {COLUMNS} FROM offboard_audit WHERE seq >= {} ORDER BY seq",
            crate::sql::ph(d, 1)
        ),
        &[Value::Int(first)],
        &TYPES,
        &mut |r| {
            let e = entry(r);
            let redact = redacted.contains(&e.seq);
            let (name, details) = if redact {
                (
                    None,
                    serde_json::json!({ "masked": masked(&e.details), "redacted": true })
                        .to_string(),
                )
            } else {
                (e.customer_name.clone(), e.details.to_string())
            };
            let h = hash(
                &prev,
                e.seq,
                &e.at,
                &e.actor,
                &e.operation,
                e.customer_id,
                e.customer_number.as_deref(),
                name.as_deref(),
                e.reason.as_deref(),
                &details,
                e.op,
            );
            rows.push(vec![
                Value::Int(e.seq),
                Value::Int(i64::from(redact)),
                Value::Text(details),
                Value::Text(prev.clone()),
                Value::Text(h.clone()),
            ]);
            prev = h;
            Ok(())
        },
    )?;
    let cols: Vec<(String, FieldType)> = [
        ("seq", FieldType::Int),
        ("redact", FieldType::Int),
        ("details", FieldType::Text),
        ("prev_hash", FieldType::Text),
        ("hash", FieldType::Text),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), *t))
    .collect();
    let mut sink = db.bulk(temp, &cols)?;
    for r in &rows {
        sink.write(r)?;
    }
    sink.finish()?;
    db.batch(&format!(
        "UPDATE offboard_audit SET prev_hash = r.prev_hash, hash = r.hash, \
         customer_name = CASE WHEN r.redact = 1 THEN NULL ELSE offboard_audit.customer_name END, \
         details = CASE WHEN r.redact = 1 THEN r.details ELSE offboard_audit.details END \
         FROM {temp} r WHERE r.seq = offboard_audit.seq"
    ))?;
    set_meta(db, "audit_head", &prev)?;
    // The reseal is itself logged: which entries were redacted, and the head before.
    append_as(
        db,
        "offboard",
        Act::Reseal,
        &[NewEntry {
            customer_id: None,
            customer_number: None,
            customer_name: None,
            reason: None,
            details: serde_json::json!({
                "redacted": legacy,
                "from": first,
                "previous_head": old_head,
            }),
        }],
        Personal::KeptApart,
    )
}

fn append_as(
    db: &mut dyn Db,
    actor: &str,
    act: Act,
    entries: &[NewEntry],
    personal: Personal,
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
    // Every entry one transaction writes is one operation, named by its first entry.
    let group = if *db.depth() > 0 {
        *db.audit_op().get_or_insert(seq + 1)
    } else {
        seq + 1
    };
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
        ("op", FieldType::Int),
    ]
    .iter()
    .map(|(n, t)| (n.to_string(), *t))
    .collect();
    let about_customers = entries.iter().filter(|e| e.customer_id.is_some()).count();
    let mut salt = if personal == Personal::KeptApart {
        salts(about_customers)?.into_iter()
    } else {
        Vec::new().into_iter()
    };
    let mut apart: Vec<Vec<Value>> = Vec::new();
    let mut sink = db.bulk("offboard_audit", &cols)?;
    let text = |o: &Option<String>| o.clone().map_or(Value::Null, Value::Text);
    for e in entries {
        seq += 1;
        // About a customer: the chain keeps the shape of the details with strings masked,
        // and (kept apart) a salted digest of the name and the full details.
        let (name, details) = match e.customer_id {
            // An erasure's entry: the tombstone's values only, already chosen.
            Some(_) if personal == Personal::Dropped => (
                e.customer_name.clone(),
                serde_json::json!({ "masked": e.details }).to_string(),
            ),
            Some(cid) => {
                let mut chained = serde_json::json!({ "masked": masked(&e.details) });
                if let Some(s) = salt.next() {
                    let data = serde_json::json!({ "name": e.customer_name, "details": e.details })
                        .to_string();
                    chained["personal"] = serde_json::Value::String(personal_digest(&s, &data));
                    apart.push(vec![
                        Value::Int(seq),
                        Value::Int(cid),
                        Value::Text(s),
                        Value::Text(data),
                    ]);
                }
                (None, chained.to_string())
            }
            None => (e.customer_name.clone(), e.details.to_string()),
        };
        let h = hash(
            &prev,
            seq,
            &at_text,
            actor,
            operation,
            e.customer_id,
            e.customer_number.as_deref(),
            name.as_deref(),
            e.reason.as_deref(),
            &details,
            Some(group),
        );
        sink.write(&[
            Value::Int(seq),
            Value::DateTime(at),
            Value::Text(actor.into()),
            Value::Text(operation.into()),
            e.customer_id.map_or(Value::Null, Value::Int),
            text(&e.customer_number),
            text(&name),
            text(&e.reason),
            Value::Text(details),
            Value::Text(prev.clone()),
            Value::Text(h.clone()),
            Value::Int(group),
        ])?;
        prev = h;
    }
    sink.finish()?;
    if !apart.is_empty() {
        let cols: Vec<(String, FieldType)> = [
            ("seq", FieldType::Int),
            ("customer_id", FieldType::Int),
            ("salt", FieldType::Text),
            ("data", FieldType::Text),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), *t))
        .collect();
        let mut sink = db.bulk("offboard_audit_personal", &cols)?;
        for row in &apart {
            sink.write(row)?;
        }
        sink.finish()?;
    }
    set_meta(db, "audit_head", &prev)?;
    set_meta(db, "audit_count", &seq.to_string())
}

/// Entries as they are read: with their kept-apart part where it still exists (the name and
/// the full details); without it (forgotten, erased), the masked details.
fn read_entries(
    db: &mut dyn Db,
    conds: &str,
    params: &[Value],
    order_limit: &str,
) -> Result<Vec<Entry>, StoreError> {
    let cols: Vec<String> = COLUMNS.split(", ").map(|c| format!("a.{c}")).collect();
    let mut types = TYPES.to_vec();
    types.push(FieldType::Text);
    let sql = format!(
        "SELECT {}, p.data FROM offboard_audit a LEFT JOIN offboard_audit_personal p ON p.seq = a.seq{conds} {order_limit}",
        cols.join(", ")
    );
    Ok(db
        .query(&sql, params, &types)?
        .into_iter()
        .map(|mut r| {
            let data = r.pop().and_then(|v| v.as_str().map(str::to_string));
            let mut e = entry(r);
            match data.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok()) {
                Some(d) => {
                    e.customer_name = d["name"].as_str().map(str::to_string);
                    e.details = d["details"].clone();
                }
                None => {
                    if let Some(m) = e.details.get("masked") {
                        e.details = m.clone();
                    }
                }
            }
            e
        })
        .collect())
}

/// One entry, with its kept-apart part where it still exists.
pub(crate) fn entry_at(db: &mut dyn Db, seq: i64) -> Result<Option<Entry>, StoreError> {
    let p = ph(db.dialect(), 1);
    Ok(
        read_entries(db, &format!(" WHERE a.seq = {p}"), &[Value::Int(seq)], "")?
            .into_iter()
            .next(),
    )
}

/// The entries a condition on `a` (the log) selects, oldest first.
pub(crate) fn entries_where(
    db: &mut dyn Db,
    conds: &str,
    params: &[Value],
) -> Result<Vec<Entry>, StoreError> {
    read_entries(db, conds, params, "ORDER BY a.seq")
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
        op: r.get(11).and_then(Value::as_i64),
    }
}

const COLUMNS: &str = "seq, at, actor, operation, customer_id, customer_number, customer_name, reason, details, hash, prev_hash, op";
const TYPES: [FieldType; 12] = [
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
    FieldType::Int,
];

/// Entries, newest first, optionally for one customer.
pub fn list(
    db: &mut dyn Db,
    customer: Option<i64>,
    limit: Option<u64>,
) -> Result<Vec<Entry>, StoreError> {
    let mut conds = String::new();
    let mut params = Vec::new();
    if let Some(c) = customer {
        params.push(Value::Int(c));
        conds = format!(" WHERE a.customer_id = {}", ph(db.dialect(), 1));
    }
    let order = match limit {
        Some(l) => format!("ORDER BY a.seq DESC LIMIT {l}"),
        None => "ORDER BY a.seq DESC".to_string(),
    };
    read_entries(db, &conds, &params, &order)
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
    let mut params: Vec<Value> = Vec::new();
    let mut conds: Vec<String> = Vec::new();
    let mut add = |cond: &str, v: Value, params: &mut Vec<Value>| {
        params.push(v);
        conds.push(cond.replace('?', &ph(d, params.len())));
    };
    if let Some(c) = filter.customer {
        add("a.customer_id = ?", Value::Int(c), &mut params);
    }
    if let Some(n) = &filter.number {
        add("a.customer_number = ?", Value::Text(n.clone()), &mut params);
    }
    if let Some(o) = &filter.operation {
        add("a.operation = ?", Value::Text(o.clone()), &mut params);
    }
    if let Some(a) = &filter.actor {
        add("a.actor = ?", Value::Text(a.clone()), &mut params);
    }
    if let Some(f) = filter.from {
        add("a.at >= ?", Value::DateTime(f.at_midnight()), &mut params);
    }
    if let Some(t) = filter.to {
        let next = offboard_model::value::Date::from_days(t.days() + 1);
        add("a.at < ?", Value::DateTime(next.at_midnight()), &mut params);
    }
    if let Some(b) = filter.before {
        add("a.seq < ?", Value::Int(b), &mut params);
    }
    let where_ = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let order = match filter.limit {
        Some(l) => format!("ORDER BY a.seq DESC LIMIT {l}"),
        None => "ORDER BY a.seq DESC".to_string(),
    };
    read_entries(db, &where_, &params, &order)
}

/// Which operations were taken back, and by which undo: `(first, last, undo)` for each undo
/// in the log — it took back entries `first`–`last`, and its own operation starts at `undo`.
pub fn undone(db: &mut dyn Db) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let rows = db.query(
        "SELECT seq, op, details FROM offboard_audit WHERE operation = 'undo' ORDER BY seq",
        &[],
        &[FieldType::Int, FieldType::Int, FieldType::Text],
    )?;
    let mut out: Vec<(i64, i64, i64)> = Vec::new();
    for r in rows {
        let (Some(seq), Some(text)) = (r[0].as_i64(), r[2].as_str()) else {
            continue;
        };
        let undo = r[1].as_i64().unwrap_or(seq);
        let Ok(details) = serde_json::from_str::<serde_json::Value>(text) else {
            continue;
        };
        // An entry about a customer keeps its details masked (numbers stay as they are).
        let range = details.get("masked").unwrap_or(&details)["undoes"].clone();
        if let (Some(first), Some(last)) = (range[0].as_i64(), range[1].as_i64()) {
            if !out.iter().any(|(f, l, _)| (*f, *l) == (first, last)) {
                out.push((first, last, undo));
            }
        }
    }
    Ok(out)
}

/// How many entries each of these operations wrote (an operation is numbered by its first
/// entry); operations not in the log are left out.
pub fn operation_sizes(
    db: &mut dyn Db,
    ops: &[i64],
) -> Result<std::collections::BTreeMap<i64, i64>, StoreError> {
    if ops.is_empty() {
        return Ok(Default::default());
    }
    let list = ops.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Ok(db
        .query(
            &format!("SELECT op, count(*) FROM offboard_audit WHERE op IN ({list}) GROUP BY op"),
            &[],
            &[FieldType::Int, FieldType::Int],
        )?
        .iter()
        .filter_map(|r| Some((r[0].as_i64()?, r[1].as_i64()?)))
        .collect())
}

/// Who last deleted each of these customers, by the log (a customer imported as deleted has
/// no entry, and is left out).
pub fn deleted_by(
    db: &mut dyn Db,
    ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, String>, StoreError> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let mut out = std::collections::BTreeMap::new();
    for r in db.query(
        &format!(
            "SELECT customer_id, actor FROM offboard_audit \
             WHERE operation = 'delete' AND customer_id IN ({list}) ORDER BY seq"
        ),
        &[],
        &[FieldType::Int, FieldType::Text],
    )? {
        if let (Some(id), Some(actor)) = (r[0].as_i64(), r[1].as_str()) {
            out.insert(id, actor.to_string());
        }
    }
    Ok(out)
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
                e.op,
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
    // The kept-apart personal parts: each must match the digest its chained entry keeps.
    if problem.is_none() {
        db.query_each(
            "SELECT p.seq, p.salt, p.data, a.details FROM offboard_audit_personal p JOIN offboard_audit a ON a.seq = p.seq ORDER BY p.seq",
            &[],
            &[FieldType::Int, FieldType::Text, FieldType::Text, FieldType::Text],
            &mut |r| {
                if problem.is_some() {
                    return Ok(());
                }
                let t = |v: &Value| v.as_str().unwrap_or_default().to_string();
                let kept: serde_json::Value =
                    serde_json::from_str(&t(&r[3])).unwrap_or(serde_json::Value::Null);
                if kept["personal"].as_str() != Some(personal_digest(&t(&r[1]), &t(&r[2])).as_str()) {
                    problem = Some(format!(
                        "the personal part of entry {} was changed: it does not match the digest the chain keeps",
                        r[0].as_i64().unwrap_or(0)
                    ));
                }
                Ok(())
            },
        )?;
    }
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

#[cfg(test)]
mod names_tests {
    use super::{Act, Operation};

    #[test]
    fn every_kind_of_entry_can_be_filtered_by_its_name() {
        let names = Act::names();
        for a in Act::OTHERS {
            assert!(a.listed());
            assert!(names.contains(&a.name()), "{}", a.name());
        }
        for op in [
            Operation::Deactivate,
            Operation::Delete,
            Operation::Purge,
            Operation::Merge,
        ] {
            assert!(names.contains(&Act::Op(op).name()));
        }
        assert!(!names.contains(&"view"), "view writes no entry: {names:?}");
        assert!(super::check_operation_name("merge").is_ok());
        let refused = super::check_operation_name("marge").map_err(|e| e.to_string());
        assert!(
            matches!(&refused, Err(m) if m.contains("no operation is called `marge`")),
            "{refused:?}"
        );
    }
}
