//! Privacy requests as records (`offboard_privacy_requests`): what a data-protection officer
//! logs, verifies, runs and closes. The workflow and its rules are the engine's
//! (`offboard_engine::privacy`); this is the table.

use serde::{Deserialize, Serialize};

use offboard_model::{Date, DateTime, FieldType, Value};

use crate::db::{ph, Db};
use crate::StoreError;

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A copy of everything held (art. 15).
    Access,
    /// Erase me (art. 17): erased, or forgotten where something must legally stay.
    Erasure,
    /// Correct what is wrong (art. 16).
    Correction,
    /// Stop using my data (art. 18, 21): forgotten and blocked from coming back.
    Restriction,
}

impl RequestKind {
    pub const ALL: [RequestKind; 4] = [
        RequestKind::Access,
        RequestKind::Erasure,
        RequestKind::Correction,
        RequestKind::Restriction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Access => "access",
            RequestKind::Erasure => "erasure",
            RequestKind::Correction => "correction",
            RequestKind::Restriction => "restriction",
        }
    }

    pub fn parse(s: &str) -> Option<RequestKind> {
        RequestKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Where a request stands: received → verified → in progress → completed, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Received,
    /// The person's identity was verified (method and who, recorded).
    Verified,
    /// Run: what it asked was done; waiting to be closed with a receipt.
    InProgress,
    Completed,
    Refused,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::Received,
        RequestStatus::Verified,
        RequestStatus::InProgress,
        RequestStatus::Completed,
        RequestStatus::Refused,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RequestStatus::Received => "received",
            RequestStatus::Verified => "verified",
            RequestStatus::InProgress => "in_progress",
            RequestStatus::Completed => "completed",
            RequestStatus::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<RequestStatus> {
        RequestStatus::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Completed or refused: nothing more happens to it.
    pub fn is_closed(self) -> bool {
        matches!(self, RequestStatus::Completed | RequestStatus::Refused)
    }
}

/// A request as stored.
#[derive(Debug, Clone, Serialize)]
pub struct PrivacyRequest {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: RequestKind,
    pub status: RequestStatus,
    pub customer_id: Option<i64>,
    pub customer_number: Option<String>,
    /// The email or phone the request came with (cleared by the retention).
    pub contact: Option<String>,
    /// The name the person gave (cleared by the retention).
    pub requester: Option<String>,
    pub received_on: String,
    /// The legal due date: 30 days after it was received, 90 once extended.
    pub due_on: String,
    /// Open and past its due date (today, UTC).
    pub overdue: bool,
    pub extended_because: Option<String>,
    pub logged_by: String,
    pub logged_at: String,
    pub assignee: Option<String>,
    pub verified_method: Option<String>,
    pub verified_by: Option<String>,
    pub verified_at: Option<String>,
    /// What running it did (erased, kept and why, forgotten, exported).
    pub outcome: Option<serde_json::Value>,
    pub closed_by: Option<String>,
    pub closed_at: Option<String>,
    pub refusal: Option<String>,
    /// The receipt handed to the person at completion (no personal value in it).
    pub receipt: Option<serde_json::Value>,
    pub notes: Option<String>,
    /// When the contact, the name and the notes were cleared.
    pub redacted_at: Option<String>,
}

/// A request as logged.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub kind: RequestKind,
    pub customer_id: Option<i64>,
    pub customer_number: Option<String>,
    pub contact: Option<String>,
    pub requester: Option<String>,
    pub received_on: Date,
    pub due_on: Date,
    pub logged_by: String,
    pub assignee: Option<String>,
    pub notes: Option<String>,
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub status: Option<RequestStatus>,
    pub kind: Option<RequestKind>,
    /// Only open requests past their due date.
    pub overdue: bool,
    /// Only open requests (not completed or refused).
    pub open: bool,
    pub customer_id: Option<i64>,
}

const COLUMNS: &str = "id, kind, status, customer_id, customer_number, contact, requester, received_on, due_on, extended_because, logged_by, logged_at, assignee, verified_method, verified_by, verified_at, outcome, closed_by, closed_at, refusal, receipt, notes, redacted_at";

fn types() -> Vec<FieldType> {
    let mut t = vec![
        FieldType::Int,
        FieldType::Text,
        FieldType::Text,
        FieldType::Int,
    ];
    t.extend(std::iter::repeat_n(FieldType::Text, 19));
    t
}

fn today() -> String {
    DateTime::now().date().to_string()
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn json(v: &Value) -> Option<serde_json::Value> {
    v.as_str().and_then(|s| serde_json::from_str(s).ok())
}

fn decode(r: &[Value]) -> Result<PrivacyRequest, StoreError> {
    let bad = |what: &str| StoreError::Invalid(format!("privacy request: bad {what}"));
    let kind = r[1]
        .as_str()
        .and_then(RequestKind::parse)
        .ok_or_else(|| bad("type"))?;
    let status = r[2]
        .as_str()
        .and_then(RequestStatus::parse)
        .ok_or_else(|| bad("status"))?;
    let due_on = text(&r[8]).unwrap_or_default();
    Ok(PrivacyRequest {
        id: r[0].as_i64().ok_or_else(|| bad("id"))?,
        kind,
        status,
        customer_id: r[3].as_i64(),
        customer_number: text(&r[4]),
        contact: text(&r[5]),
        requester: text(&r[6]),
        received_on: text(&r[7]).unwrap_or_default(),
        overdue: !status.is_closed() && due_on < today(),
        due_on,
        extended_because: text(&r[9]),
        logged_by: text(&r[10]).unwrap_or_default(),
        logged_at: text(&r[11]).unwrap_or_default(),
        assignee: text(&r[12]),
        verified_method: text(&r[13]),
        verified_by: text(&r[14]),
        verified_at: text(&r[15]),
        outcome: json(&r[16]),
        closed_by: text(&r[17]),
        closed_at: text(&r[18]),
        refusal: text(&r[19]),
        receipt: json(&r[20]),
        notes: text(&r[21]),
        redacted_at: text(&r[22]),
    })
}

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
}

/// Logs a request; its id.
pub fn insert(db: &mut dyn Db, new: &NewRequest) -> Result<i64, StoreError> {
    let d = db.dialect();
    let marks: Vec<String> = (1..=12).map(|n| ph(d, n)).collect();
    let sql = format!(
        "INSERT INTO offboard_privacy_requests (kind, status, customer_id, customer_number, contact, requester, received_on, due_on, logged_by, logged_at, assignee, notes) VALUES ({}) RETURNING id",
        marks.join(", ")
    );
    db.query_i64(
        &sql,
        &[
            Value::Text(new.kind.name().into()),
            Value::Text(RequestStatus::Received.name().into()),
            new.customer_id.map_or(Value::Null, Value::Int),
            opt(&new.customer_number),
            opt(&new.contact),
            opt(&new.requester),
            Value::Text(new.received_on.to_string()),
            Value::Text(new.due_on.to_string()),
            Value::Text(new.logged_by.clone()),
            Value::Text(DateTime::now().to_string()),
            opt(&new.assignee),
            opt(&new.notes),
        ],
    )
}

/// One request.
pub fn get(db: &mut dyn Db, id: i64) -> Result<Option<PrivacyRequest>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM offboard_privacy_requests WHERE id = {}",
        ph(db.dialect(), 1)
    );
    let rows = db.query(&sql, &[Value::Int(id)], &types())?;
    rows.first().map(|r| decode(r)).transpose()
}

/// Requests, the most urgent first (open ones by due date, then closed ones newest first).
pub fn list(db: &mut dyn Db, f: &RequestFilter) -> Result<Vec<PrivacyRequest>, StoreError> {
    let d = db.dialect();
    let mut conds = Vec::new();
    let mut params = Vec::new();
    if let Some(s) = f.status {
        params.push(Value::Text(s.name().into()));
        conds.push(format!("status = {}", ph(d, params.len())));
    }
    if let Some(k) = f.kind {
        params.push(Value::Text(k.name().into()));
        conds.push(format!("kind = {}", ph(d, params.len())));
    }
    if let Some(c) = f.customer_id {
        params.push(Value::Int(c));
        conds.push(format!("customer_id = {}", ph(d, params.len())));
    }
    if f.open || f.overdue {
        conds.push("status NOT IN ('completed', 'refused')".into());
    }
    if f.overdue {
        params.push(Value::Text(today()));
        conds.push(format!("due_on < {}", ph(d, params.len())));
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM offboard_privacy_requests {} ORDER BY CASE WHEN status IN ('completed', 'refused') THEN 1 ELSE 0 END, CASE WHEN status IN ('completed', 'refused') THEN '' ELSE due_on END, id DESC",
        if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        }
    );
    db.query(&sql, &params, &types())?
        .iter()
        .map(|r| decode(r))
        .collect()
}

/// A column a step of the workflow sets (named here, never by a caller's string).
#[derive(Debug, Clone, Copy)]
pub enum Set {
    Status,
    CustomerId,
    CustomerNumber,
    DueOn,
    ExtendedBecause,
    Assignee,
    VerifiedMethod,
    VerifiedBy,
    VerifiedAt,
    Outcome,
    ClosedBy,
    ClosedAt,
    Refusal,
    Receipt,
    Notes,
}

impl Set {
    fn column(self) -> &'static str {
        match self {
            Set::Status => "status",
            Set::CustomerId => "customer_id",
            Set::CustomerNumber => "customer_number",
            Set::DueOn => "due_on",
            Set::ExtendedBecause => "extended_because",
            Set::Assignee => "assignee",
            Set::VerifiedMethod => "verified_method",
            Set::VerifiedBy => "verified_by",
            Set::VerifiedAt => "verified_at",
            Set::Outcome => "outcome",
            Set::ClosedBy => "closed_by",
            Set::ClosedAt => "closed_at",
            Set::Refusal => "refusal",
            Set::Receipt => "receipt",
            Set::Notes => "notes",
        }
    }
}

/// Sets columns of request `id` in one statement.
pub fn update(db: &mut dyn Db, id: i64, sets: &[(Set, Value)]) -> Result<(), StoreError> {
    let d = db.dialect();
    let mut params: Vec<Value> = Vec::new();
    let mut parts = Vec::new();
    for (s, v) in sets {
        params.push(v.clone());
        parts.push(format!("{} = {}", s.column(), ph(d, params.len())));
    }
    params.push(Value::Int(id));
    let sql = format!(
        "UPDATE offboard_privacy_requests SET {} WHERE id = {}",
        parts.join(", "),
        ph(d, params.len())
    );
    db.execute(&sql, &params)?;
    Ok(())
}

/// Clears the contact, the name and the notes of request `id` (what is personal in it),
/// keeping what proves it was done.
pub fn redact(db: &mut dyn Db, id: i64) -> Result<(), StoreError> {
    let d = db.dialect();
    db.execute(
        &format!(
            "UPDATE offboard_privacy_requests SET contact = NULL, requester = NULL, notes = NULL, redacted_at = {} WHERE id = {}",
            ph(d, 1),
            ph(d, 2)
        ),
        &[Value::Text(DateTime::now().to_string()), Value::Int(id)],
    )?;
    Ok(())
}

/// The retention of requests: those closed before `cutoff` lose their contact, name and
/// notes. How many.
pub fn redact_closed_before(db: &mut dyn Db, cutoff: &DateTime) -> Result<u64, StoreError> {
    let d = db.dialect();
    db.execute(
        &format!(
            "UPDATE offboard_privacy_requests SET contact = NULL, requester = NULL, notes = NULL, redacted_at = {} \
             WHERE status IN ('completed', 'refused') AND redacted_at IS NULL AND closed_at < {}",
            ph(d, 1),
            ph(d, 2)
        ),
        &[
            Value::Text(DateTime::now().to_string()),
            Value::Text(cutoff.to_string()),
        ],
    )
}

/// Customers with `value` (an email, a phone) in one of the model's identifying customer
/// columns, ignoring case.
pub fn customers_with(
    db: &mut dyn Db,
    model: &offboard_model::Model,
    value: &str,
) -> Result<Vec<i64>, StoreError> {
    let columns: Vec<String> = model
        .personal_columns()
        .into_iter()
        .filter(|p| p.table == "customers" && p.identifying)
        .map(|p| p.column)
        .collect();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let d = db.dialect();
    let conds: Vec<String> = columns
        .iter()
        .map(|c| format!("lower({}) = lower({})", crate::db::q(c), ph(d, 1)))
        .collect();
    let sql = format!(
        "SELECT id FROM customers WHERE {} ORDER BY id",
        conds.join(" OR ")
    );
    Ok(db
        .query(&sql, &[Value::Text(value.to_string())], &[FieldType::Int])?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect())
}
