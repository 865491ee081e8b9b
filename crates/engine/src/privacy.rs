//! Privacy requests a data-protection officer runs (GDPR art. 12, 15–18, 21): logged by anyone
//! who may edit (a clerk takes the call), then — with the `privacy` permission — the person's
//! identity verified, the request run through the operations that already exist (the access
//! document; an erasure, or a forget where something must legally stay; a correction; a
//! forget-and-block), and closed with a receipt: what was done and on which ground, sealed
//! with the audit chain's hash at completion so `offboard audit verify --receipt FILE` can
//! prove it later. Each step is an audit entry.
//!
//! A request is due 30 days after it was received, 90 once extended (with a reason). Its
//! contact, name and notes are personal: an erasure or restriction request drops them as it
//! completes, the others when they have been closed for the model's `[privacy]
//! keep_requests_days`; what proves the request was answered stays.

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use offboard_model::model::Operation;
use offboard_model::{Date, DateTime, Value};
use offboard_store::privacy::{
    self as table, NewRequest, PrivacyRequest, RequestFilter, RequestKind, RequestStatus, Set,
};

use crate::audit::{self, Act, NewEntry};
use crate::{Allowed, Engine, EngineError};

/// Days the law gives to answer (GDPR art. 12(3): one month).
pub const DUE_DAYS: i32 = 30;
/// Days once extended (by two further months).
pub const EXTENDED_DAYS: i32 = 90;

/// Who a new request is about.
#[derive(Debug, Clone)]
pub enum Person {
    /// A customer, by id.
    Customer(i64),
    /// An email or phone that finds them (or finds nobody: a request about no one held).
    Contact(String),
}

/// A request as it is logged.
#[derive(Debug, Clone)]
pub struct LogRequest {
    pub kind: RequestKind,
    pub person: Person,
    /// The name the person gave.
    pub requester: Option<String>,
    /// When it reached the business (default: today).
    pub received_on: Option<Date>,
    pub assignee: Option<String>,
    pub notes: Option<String>,
}

/// What running a request did (and, for access, the package to hand out).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub request: PrivacyRequest,
    /// For access: everything held about the person (the document to send).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<serde_json::Value>,
}

/// What checking a receipt found.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptCheck {
    pub request: i64,
    /// The receipt's own hash matches its contents.
    pub sealed: bool,
    /// The audit entry it names is in the log with the hash it names, and the chain is intact.
    pub in_chain: bool,
    /// The request in the database holds this same receipt.
    pub on_record: bool,
    pub problems: Vec<String>,
}

impl ReceiptCheck {
    pub fn ok(&self) -> bool {
        self.sealed && self.in_chain && self.on_record
    }
}

impl Allowed {
    /// What a privacy request's run may do to its one person: the erasure, forget, access
    /// document or correction the request asks for, on the `privacy` permission's proof.
    fn for_request(privacy: &Allowed, op: Operation) -> Allowed {
        debug_assert_eq!(privacy.op, Operation::Privacy);
        Allowed { op, kind: None }
    }
}

fn hash_of(receipt: &serde_json::Value) -> String {
    let mut body = receipt.clone();
    if let Some(m) = body.as_object_mut() {
        m.remove("sha256");
    }
    let mut h = Sha256::new();
    h.update(body.to_string().as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

impl Engine<'_> {
    /// Logs a request (permission `edit`: whoever takes the call). An email or phone is
    /// looked up among the customers; one that finds several is refused, naming them.
    pub fn log_request(&mut self, new: LogRequest) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Edit)?;
        self.redact_expired_requests()?;
        let received = new.received_on.unwrap_or_else(|| DateTime::now().date());
        if received > DateTime::now().date() {
            return Err(EngineError::Refused(format!(
                "the request cannot have been received on {received}, which is after today"
            )));
        }
        let (customer, contact) = match &new.person {
            Person::Customer(id) => (Some(self.store.customer(*id)?), None),
            Person::Contact(c) => {
                let c = c.trim().to_string();
                if c.is_empty() {
                    return Err(EngineError::Refused(
                        "give the person's email or phone, or the customer".into(),
                    ));
                }
                let model = self.store.shared_model();
                let found = offboard_store::privacy::customers_with(self.store.db(), &model, &c)?;
                let customer = match found.as_slice() {
                    [] => None,
                    [one] => Some(self.store.customer(*one)?),
                    many => {
                        let mut numbers = Vec::new();
                        for id in many.iter().take(10) {
                            numbers.push(format!("#{id} ({})", self.store.customer(*id)?.number));
                        }
                        return Err(EngineError::Refused(format!(
                            "{c} finds {} customers: {}; log the request with --customer",
                            many.len(),
                            numbers.join(", ")
                        )));
                    }
                };
                (customer, Some(c))
            }
        };
        if let Some(a) = &new.assignee {
            self.check_assignee(a)?;
        }
        let actor = self.actor.name.clone();
        let row = NewRequest {
            kind: new.kind,
            customer_id: customer.as_ref().map(|c| c.id),
            customer_number: customer.as_ref().map(|c| c.number.clone()),
            contact,
            requester: new.requester.filter(|r| !r.trim().is_empty()),
            received_on: received,
            due_on: Date::from_days(received.days() + DUE_DAYS),
            logged_by: actor.clone(),
            assignee: new.assignee,
            notes: new.notes.filter(|n| !n.trim().is_empty()),
        };
        let id = self.store.atomically(|s| {
            let id = table::insert(s.db(), &row)?;
            let entry = request_entry(
                &row.customer_id,
                &row.customer_number,
                json!({ "request": id, "type": row.kind.name(), "step": "received", "received_on": row.received_on.to_string(), "due_on": row.due_on.to_string() }),
            );
            audit::append_impersonal(s.db(), &actor, Act::Request, &[entry])?;
            Ok::<_, offboard_store::StoreError>(id)
        })?;
        self.request(id)
    }

    /// One request (permission `edit`).
    pub fn request(&mut self, id: i64) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Edit)?;
        table::get(self.store.db(), id)?.ok_or_else(|| {
            EngineError::Store(offboard_store::StoreError::NotFound(format!(
                "there is no privacy request {id}"
            )))
        })
    }

    /// Requests, the most urgent first (permission `edit`).
    pub fn requests(&mut self, filter: &RequestFilter) -> Result<Vec<PrivacyRequest>, EngineError> {
        self.allow(Operation::Edit)?;
        self.redact_expired_requests()?;
        Ok(table::list(self.store.db(), filter)?)
    }

    /// Records how the person's identity was verified (permission `privacy`): nothing is
    /// released or erased before.
    pub fn verify_request(&mut self, id: i64, method: &str) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Privacy)?;
        let r = self.request(id)?;
        if r.status != RequestStatus::Received {
            return Err(EngineError::Refused(format!(
                "request {id} is {}: the identity is verified once, when it was received",
                r.status.name()
            )));
        }
        let method = method.trim();
        if method.is_empty() {
            return Err(EngineError::Refused(
                "say how the identity was verified (--method, e.g. \"ID card seen at the desk\")"
                    .into(),
            ));
        }
        let now = DateTime::now().to_string();
        self.step(
            &r,
            &[
                (Set::Status, text(RequestStatus::Verified.name())),
                (Set::VerifiedMethod, text(method)),
                (Set::VerifiedBy, text(self.actor.name.clone())),
                (Set::VerifiedAt, text(now)),
            ],
            json!({ "step": "verified" }),
        )
    }

    /// Gives the request to a user (permission `privacy`).
    pub fn assign_request(&mut self, id: i64, user: &str) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Privacy)?;
        let r = self.open_request(id)?;
        self.check_assignee(user)?;
        self.step(
            &r,
            &[(Set::Assignee, text(user))],
            json!({ "step": "assigned", "to": user }),
        )
    }

    /// Extends the due date to 90 days after receipt, once, for a reason the log keeps
    /// (permission `privacy`).
    pub fn extend_request(
        &mut self,
        id: i64,
        because: &str,
    ) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Privacy)?;
        let r = self.open_request(id)?;
        if r.extended_because.is_some() {
            return Err(EngineError::Refused(format!(
                "request {id} was extended already (due {}); the law allows one extension",
                r.due_on
            )));
        }
        let because = because.trim();
        if because.is_empty() {
            return Err(EngineError::Refused(
                "say why the request needs more time (--reason)".into(),
            ));
        }
        let received = Date::parse(&r.received_on).ok_or_else(|| {
            EngineError::Refused(format!("request {id} has no valid received date"))
        })?;
        let due = Date::from_days(received.days() + EXTENDED_DAYS).to_string();
        self.step(
            &r,
            &[
                (Set::DueOn, text(due.clone())),
                (Set::ExtendedBecause, text(because)),
            ],
            json!({ "step": "extended", "due_on": due }),
        )
    }

    /// Runs what the request asks through the operations that exist (permission `privacy`;
    /// the identity verified first): access → the access document (returned, its SHA-256
    /// kept); erasure → the erasure, or — when what must legally stay blocks it — a forget,
    /// with the blocking rules kept as the ground; restriction → a forget (masked and
    /// blocklisted); correction → the customer's fields set to `cells`. A dry run changes
    /// nothing and says what it would do.
    pub fn run_request(
        &mut self,
        id: i64,
        cells: &[(String, String)],
        dry_run: bool,
    ) -> Result<RunReport, EngineError> {
        let privacy = self.allow(Operation::Privacy)?;
        let r = self.request(id)?;
        if r.status != RequestStatus::Verified {
            return Err(EngineError::Refused(match r.status {
                RequestStatus::Received => format!(
                    "request {id} is not verified: verify the person's identity first (requests verify-identity {id} --method …)"
                ),
                s => format!("request {id} is {} already: it runs once", s.name()),
            }));
        }
        let Some(customer) = r.customer_id else {
            return Err(EngineError::Refused(format!(
                "request {id} finds no customer: there is nothing to {}; complete it saying so, or refuse it",
                r.kind.name()
            )));
        };
        if r.kind != RequestKind::Correction && !cells.is_empty() {
            return Err(EngineError::Refused(format!(
                "--set is for a correction; request {id} is an {} request",
                r.kind.name()
            )));
        }
        let mut package = None;
        let outcome = match r.kind {
            RequestKind::Access => {
                let allowed = Allowed::for_request(&privacy, Operation::Export);
                let doc = if dry_run {
                    self.access_document_unaudited(&allowed, customer)?
                } else {
                    self.access_document_as(&allowed, customer)?
                };
                let mut held = serde_json::Map::new();
                if let Some(recs) = doc["records"].as_object() {
                    for (k, v) in recs {
                        held.insert(k.clone(), json!(v.as_array().map_or(0, Vec::len)));
                    }
                }
                let sha = hash_of(&json!({ "package": doc }));
                package = Some(doc);
                json!({ "exported": true, "records": held, "package_sha256": sha })
            }
            RequestKind::Erasure => {
                let allowed = Allowed::for_request(&privacy, Operation::Purge);
                let plan = self.erase_customers_as(&allowed, &[customer], dry_run)?;
                let one = plan.customers.iter().find(|c| c.id == customer);
                let erased = plan.done > 0;
                let kept: Vec<serde_json::Value> = one
                    .map(|c| {
                        c.blockers
                            .iter()
                            .map(|b| json!({ "rule": b.rule, "ground": b.message, "count": b.count }))
                            .collect()
                    })
                    .unwrap_or_default();
                let fingerprint = plan.fingerprint.clone();
                if erased {
                    json!({ "erased": true, "effects": plan.effects, "notes": plan.notes, "fingerprint": fingerprint })
                } else {
                    // What must stay blocks the erasure: the person is forgotten instead,
                    // and the next purge erases them once nothing blocks it.
                    let allowed = Allowed::for_request(&privacy, Operation::Purge);
                    let f = self.forget_as(&allowed, customer, dry_run)?;
                    json!({ "erased": false, "kept_because": kept, "forgotten": true, "masked": f.masked, "blocked_values": f.blocked_values, "notes": f.notes, "fingerprint": fingerprint })
                }
            }
            RequestKind::Restriction => {
                let allowed = Allowed::for_request(&privacy, Operation::Purge);
                let f = self.forget_as(&allowed, customer, dry_run)?;
                json!({ "forgotten": true, "masked": f.masked, "blocked_values": f.blocked_values, "notes": f.notes })
            }
            RequestKind::Correction => {
                if cells.is_empty() {
                    return Err(EngineError::Refused(format!(
                        "say what to correct: --set FIELD=VALUE (request {id})"
                    )));
                }
                let fields: Vec<&str> = cells.iter().map(|(f, _)| f.as_str()).collect();
                if !dry_run {
                    let allowed = Allowed::for_request(&privacy, Operation::Edit);
                    self.update_customer_as(&allowed, customer, cells)?;
                }
                json!({ "corrected": fields })
            }
        };
        if dry_run {
            let mut preview = r;
            preview.outcome = Some(outcome);
            return Ok(RunReport {
                request: preview,
                package,
            });
        }
        let after = self.step(
            &r,
            &[
                (Set::Status, text(RequestStatus::InProgress.name())),
                (Set::Outcome, text(outcome.to_string())),
            ],
            json!({ "step": "run", "erased": outcome["erased"], "forgotten": outcome["forgotten"] }),
        )?;
        Ok(RunReport {
            request: after,
            package,
        })
    }

    /// Closes a request that ran — or one that found nobody — with its receipt (permission
    /// `privacy`): the request, the verification, what was done and kept and why, sealed with
    /// the audit chain's head after the completion's own entry.
    pub fn complete_request(&mut self, id: i64) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Privacy)?;
        let r = self.request(id)?;
        let nobody = r.customer_id.is_none() && r.status == RequestStatus::Verified;
        if r.status != RequestStatus::InProgress && !nobody {
            return Err(EngineError::Refused(match r.status {
                RequestStatus::Received | RequestStatus::Verified => {
                    format!("request {id} has not been run: run it first (requests run {id})")
                }
                s => format!("request {id} is {} already", s.name()),
            }));
        }
        let actor = self.actor.name.clone();
        let now = DateTime::now().to_string();
        let outcome = r
            .outcome
            .clone()
            .unwrap_or_else(|| json!({ "found": "no customer held with these details" }));
        self.store.atomically(|s| {
            let entry = request_entry(
                &r.customer_id,
                &r.customer_number,
                json!({ "request": r.id, "type": r.kind.name(), "step": "completed" }),
            );
            audit::append_impersonal(s.db(), &actor, Act::Request, &[entry])?;
            let (seq, hash) = offboard_store::restore::audit_head(s.db())?;
            let mut receipt = json!({
                "receipt": "privacy request completed",
                "request": r.id,
                "type": r.kind.name(),
                "customer": { "id": r.customer_id, "number": r.customer_number },
                "received_on": r.received_on,
                "due_on": r.due_on,
                "extended_because": r.extended_because,
                "identity_verified": { "method": r.verified_method, "by": r.verified_by, "at": r.verified_at },
                "outcome": outcome,
                "completed_at": now,
                "completed_by": actor,
                "audit": { "seq": seq, "hash": hash },
            });
            let sha = hash_of(&receipt);
            receipt["sha256"] = json!(sha);
            table::update(
                s.db(),
                r.id,
                &[
                    (Set::Status, text(RequestStatus::Completed.name())),
                    (Set::ClosedBy, text(actor.clone())),
                    (Set::ClosedAt, text(now.clone())),
                    (Set::Outcome, text(outcome.to_string())),
                    (Set::Receipt, text(receipt.to_string())),
                ],
            )?;
            // An erasure or a restriction leaves nothing personal behind, its own request
            // included.
            if matches!(r.kind, RequestKind::Erasure | RequestKind::Restriction) {
                table::redact(s.db(), r.id)?;
            }
            Ok::<_, offboard_store::StoreError>(())
        })?;
        self.request(id)
    }

    /// Refuses a request, for a reason the person is told (permission `privacy`).
    pub fn refuse_request(&mut self, id: i64, reason: &str) -> Result<PrivacyRequest, EngineError> {
        self.allow(Operation::Privacy)?;
        let r = self.open_request(id)?;
        if r.status == RequestStatus::InProgress {
            return Err(EngineError::Refused(format!(
                "request {id} ran already: complete it"
            )));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(EngineError::Refused(
                "say why the request is refused (--reason); the person is told".into(),
            ));
        }
        let now = DateTime::now().to_string();
        self.step(
            &r,
            &[
                (Set::Status, text(RequestStatus::Refused.name())),
                (Set::Refusal, text(reason)),
                (Set::ClosedBy, text(self.actor.name.clone())),
                (Set::ClosedAt, text(now)),
            ],
            json!({ "step": "refused" }),
        )
    }

    /// Checks a receipt handed out earlier: its seal, the audit entry it names (in an intact
    /// chain) and the request on record (permission `audit`).
    pub fn verify_receipt(
        &mut self,
        receipt: &serde_json::Value,
    ) -> Result<ReceiptCheck, EngineError> {
        self.allow(Operation::Audit)?;
        let mut problems = Vec::new();
        let id = receipt["request"].as_i64().ok_or_else(|| {
            EngineError::Refused("this is not an offboard privacy receipt (no \"request\")".into())
        })?;
        let sealed = receipt["sha256"].as_str() == Some(hash_of(receipt).as_str());
        if !sealed {
            problems.push("its contents do not match its sha256: it was edited".to_string());
        }
        let seq = receipt["audit"]["seq"].as_i64().unwrap_or(-1);
        let hash = receipt["audit"]["hash"].as_str().unwrap_or_default();
        let at = offboard_store::restore::audit_hash(self.store.db(), seq)?;
        let chain = audit::verify(self.store.db())?;
        let in_chain = at.as_deref() == Some(hash) && chain.ok;
        if at.is_none() {
            problems.push(format!("the audit log has no entry {seq}"));
        } else if at.as_deref() != Some(hash) {
            problems.push(format!(
                "audit entry {seq} has another hash than the receipt names"
            ));
        }
        if !chain.ok {
            problems.push("the audit chain is broken".to_string());
        }
        let on_record = match table::get(self.store.db(), id)? {
            Some(r) => {
                r.receipt
                    .as_ref()
                    .and_then(|x| x["sha256"].as_str().map(str::to_string))
                    == receipt["sha256"].as_str().map(str::to_string)
            }
            None => false,
        };
        if !on_record {
            problems.push(format!("privacy request {id} does not hold this receipt"));
        }
        Ok(ReceiptCheck {
            request: id,
            sealed,
            in_chain,
            on_record,
            problems,
        })
    }

    /// The retention of requests: those closed longer than the model's `[privacy]
    /// keep_requests_days` lose their contact, name and notes. How many.
    pub fn redact_expired_requests(&mut self) -> Result<u64, EngineError> {
        let days = i64::from(self.store.model().keep_requests_days);
        let cutoff = DateTime::from_seconds(DateTime::now().seconds() - days * 86_400);
        Ok(table::redact_closed_before(self.store.db(), &cutoff)?)
    }

    fn open_request(&mut self, id: i64) -> Result<PrivacyRequest, EngineError> {
        let r = self.request(id)?;
        if r.status.is_closed() {
            return Err(EngineError::Refused(format!(
                "request {id} is {}: it is closed",
                r.status.name()
            )));
        }
        Ok(r)
    }

    fn check_assignee(&mut self, user: &str) -> Result<(), EngineError> {
        let users = self.store.users()?;
        if !users.iter().any(|u| u.name == user) {
            return Err(EngineError::Refused(format!(
                "there is no user {user}; users: {}",
                users
                    .iter()
                    .map(|u| u.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// One step of the workflow: the request's columns set and the audit entry, together.
    fn step(
        &mut self,
        r: &PrivacyRequest,
        sets: &[(Set, Value)],
        details: serde_json::Value,
    ) -> Result<PrivacyRequest, EngineError> {
        let actor = self.actor.name.clone();
        let mut details = details;
        details["request"] = json!(r.id);
        details["type"] = json!(r.kind.name());
        self.store.atomically(|s| {
            table::update(s.db(), r.id, sets)?;
            let entry = request_entry(&r.customer_id, &r.customer_number, details);
            audit::append_impersonal(s.db(), &actor, Act::Request, &[entry])
        })?;
        self.request(r.id)
    }
}

/// A step's audit entry: ids, type and dates only (no personal value: see
/// [`audit::append_impersonal`]).
fn request_entry(
    customer: &Option<i64>,
    number: &Option<String>,
    details: serde_json::Value,
) -> NewEntry {
    NewEntry {
        customer_id: *customer,
        customer_number: number.clone(),
        customer_name: None,
        reason: None,
        details,
    }
}

/// Who `locate` looks for.
#[derive(Debug, Clone)]
pub enum Target {
    /// A customer by id — one that exists, or one erased (then only what still names it).
    Id(i64),
    /// An email (or any identifying value): wherever it is.
    Value(String),
}

/// Where a person still appears.
#[derive(Debug, Clone, Serialize)]
pub struct Located {
    /// The customer, when the target is one or the value finds one.
    pub customer: Option<serde_json::Value>,
    /// The fields whose values were searched (never the values themselves).
    pub searched: Vec<String>,
    /// Where their values or rows about them are, by the inventory's place: empty once
    /// erased or forgotten.
    pub found: Vec<offboard_store::inventory::Hit>,
    /// Held on purpose for a while (a privacy request until its retention).
    pub kept: Vec<offboard_store::inventory::Hit>,
    /// Hits in no declared place: personal data written where the inventory does not know.
    pub undeclared: Vec<offboard_store::inventory::Hit>,
    /// The byte scan, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<FileScan>,
    /// PostgreSQL: tables an erasure's rewrite had to leave (a reader held them): their files
    /// still hold erased rows until the next rewrite or `offboard compact`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_rewrite: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileScan {
    pub scanned: usize,
    pub found: Vec<offboard_store::inventory::FileHit>,
}

impl Located {
    /// Nothing of the person is left but what is kept on purpose.
    pub fn is_clear(&self) -> bool {
        self.found.is_empty()
            && self.undeclared.is_empty()
            && self.pending_rewrite.is_empty()
            && self.files.as_ref().is_none_or(|f| f.found.is_empty())
    }
}

impl Engine<'_> {
    /// Where a person still appears (permission `privacy`): every column of every table
    /// holding one of their identifying values, every declared place holding rows about
    /// them, the job book, and with `files` the bytes of the database files (SQLite: the
    /// paths given; PostgreSQL: its relation files, read through the server).
    pub fn locate(
        &mut self,
        target: &Target,
        files: Option<&[std::path::PathBuf]>,
        jobs: Option<&mut offboard_store::jobs::JobBook>,
    ) -> Result<Located, EngineError> {
        self.allow(Operation::Privacy)?;
        let model = self.store.shared_model();
        let declared = offboard_store::inventory::places(&model);
        let mut values: Vec<String> = Vec::new();
        let mut searched: Vec<String> = Vec::new();
        let id = match target {
            Target::Id(id) => Some(*id),
            Target::Value(v) => {
                values.push(v.trim().to_string());
                searched.push("the value given".into());
                offboard_store::privacy::customers_with(self.store.db(), &model, v.trim())?
                    .first()
                    .copied()
            }
        };
        let mut customer = None;
        let mut hits = Vec::new();
        if let Some(id) = id {
            match self.store.find_customer(id)? {
                Some(c) => {
                    let row = serde_json::to_value(&c).unwrap_or_default();
                    for p in model
                        .personal_columns()
                        .into_iter()
                        .filter(|p| p.table == "customers")
                    {
                        let v = match p.column.as_str() {
                            "name" => Some(c.name.clone()),
                            "email" => c.email.clone(),
                            col => row[col].as_str().map(str::to_string),
                        };
                        if let Some(v) = v.filter(|v| v != crate::forget::FORGOTTEN_NAME) {
                            if !values.contains(&v) {
                                values.push(v);
                                searched.push(format!("customers.{}", p.column));
                            }
                        }
                    }
                    customer = Some(
                        json!({ "id": c.id, "number": c.number, "name": c.name, "status": c.status }),
                    );
                }
                None => {
                    customer = Some(json!({ "id": id, "erased": true }));
                }
            }
            hits.extend(offboard_store::inventory::about_customer(
                self.store.db(),
                &declared,
                id,
            )?);
        }
        for h in offboard_store::inventory::search(self.store.db(), &declared, &values)? {
            if !hits
                .iter()
                .any(|x| x.table == h.table && x.column == h.column)
            {
                hits.push(h);
            }
        }
        if let Some(book) = jobs {
            if let Some((file, job_hits)) = book.locate(&values)? {
                for mut h in job_hits {
                    h.table = format!("{file}: {}", h.table);
                    hits.push(h);
                }
            }
        }
        // A customer that still exists is found in its own row; that is not a leftover.
        let mut located = Located {
            customer,
            searched,
            found: Vec::new(),
            kept: Vec::new(),
            undeclared: Vec::new(),
            files: None,
            pending_rewrite: offboard_store::scrub::pending(self.store.db())?,
        };
        for h in hits {
            match &h.place {
                None => located.undeclared.push(h),
                Some(p) if p.kept => located.kept.push(h),
                Some(_) => located.found.push(h),
            }
        }
        if let Some(paths) = files {
            let (scanned, found) =
                offboard_store::inventory::scan_files(self.store.db(), paths, &values)?;
            located.files = Some(FileScan { scanned, found });
        }
        Ok(located)
    }
}

/// A receipt as a page a person can read: what they asked, how they were identified, what
/// was done and kept and why, and the seal to check it by.
pub fn receipt_html(r: &PrivacyRequest) -> String {
    fn esc(s: &str) -> String {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    }
    let receipt = r.receipt.clone().unwrap_or_default();
    let outcome = r.outcome.clone().unwrap_or_default();
    let mut done = Vec::new();
    match r.kind {
        RequestKind::Access => {
            done.push("A copy of everything we hold about you was prepared.".to_string());
            if let Some(recs) = outcome["records"].as_object() {
                for (k, n) in recs {
                    done.push(format!("{}: {} record(s)", esc(k), n));
                }
            }
        }
        RequestKind::Erasure if outcome["erased"] == json!(true) => {
            done.push("Your personal data was erased.".into());
        }
        RequestKind::Erasure => {
            done.push(
                "Your personal data was masked (forgotten) and can no longer be used; some records must be kept for now:"
                    .into(),
            );
            for k in outcome["kept_because"].as_array().into_iter().flatten() {
                done.push(format!(
                    "kept: {} — {}",
                    esc(k["rule"].as_str().unwrap_or("")),
                    esc(k["ground"].as_str().unwrap_or(""))
                ));
            }
        }
        RequestKind::Restriction => {
            done.push("Your personal data was masked and blocked from being used again.".into())
        }
        RequestKind::Correction => {
            let fields: Vec<String> = outcome["corrected"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(esc))
                .collect();
            done.push(format!("Corrected: {}", fields.join(", ")));
        }
    }
    if r.customer_id.is_none() {
        done = vec!["We hold no customer with the details you gave.".into()];
    }
    let items: String = done.iter().map(|d| format!("<li>{d}</li>")).collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Privacy request {id}: receipt</title>\
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1d2430}}\
dt{{font-weight:600}}dd{{margin:0 0 .6rem}}code{{word-break:break-all;font-size:.85em}}</style></head><body>\
<h1>Privacy request {id}: {kind}</h1><dl>\
<dt>Customer</dt><dd>{number}</dd>\
<dt>Received</dt><dd>{received} (due {due})</dd>\
<dt>Identity verified</dt><dd>{method} — by {by}, {at}</dd>\
<dt>What was done</dt><dd><ul>{items}</ul></dd>\
<dt>Completed</dt><dd>{completed} by {completed_by}</dd>\
<dt>Seal</dt><dd>audit entry {seq}, chain hash <code>{hash}</code><br>receipt sha256 <code>{sha}</code></dd>\
</dl><p>Check it: <code>offboard audit verify --receipt receipt.json</code></p></body></html>",
        id = r.id,
        kind = r.kind.name(),
        number = esc(r.customer_number.as_deref().unwrap_or("none found")),
        received = esc(&r.received_on),
        due = esc(&r.due_on),
        method = esc(r.verified_method.as_deref().unwrap_or("")),
        by = esc(r.verified_by.as_deref().unwrap_or("")),
        at = esc(r.verified_at.as_deref().unwrap_or("")),
        completed = esc(receipt["completed_at"].as_str().unwrap_or("")),
        completed_by = esc(receipt["completed_by"].as_str().unwrap_or("")),
        seq = receipt["audit"]["seq"],
        hash = esc(receipt["audit"]["hash"].as_str().unwrap_or("")),
        sha = esc(receipt["sha256"].as_str().unwrap_or("")),
    )
}
