//! The plan: one JSON shape for every operation (docs/design.md), what `--json` prints.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use offboard_model::model::Operation;

/// What happens to one customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Proceeds,
    Blocked,
    Skipped,
    /// A delete that deactivated the customer instead (legal's "move to customer" when
    /// something had to stay).
    Deactivated,
}

/// Why a customer is blocked: one rule, how many rows, their summed amount, a few ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    pub rule: String,
    pub message: String,
    pub count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    pub ids: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerPlan {
    pub id: i64,
    pub number: String,
    pub name: String,
    /// The customer's kind (for dialogs that differ by kind; not part of the plan's JSON).
    #[serde(skip)]
    pub kind: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<Blocker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A plan, computed for a dry run and executed by apply. As JSON it carries the count named
/// after the operation (`"purged": 12`) right after `candidates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub operation: Operation,
    pub dry_run: bool,
    pub candidates: usize,
    /// The count named after the operation (`purged`, `deactivated`, ...).
    pub done: usize,
    pub blocked: usize,
    pub skipped: usize,
    /// Customers a delete deactivated instead (counted only where there are some).
    pub deactivated: usize,
    pub blocked_by_rule: BTreeMap<String, usize>,
    /// Rows affected per table: `{"order": {"detached": 12}, "note": {"removed": 30}}`.
    pub effects: BTreeMap<String, BTreeMap<String, i64>>,
    pub customers: Vec<CustomerPlan>,
    /// Where the time went, in milliseconds per phase (blockers, orphan_fixpoint, effects,
    /// audit; candidates: selecting and reading them, building the plan; commit).
    pub timings: BTreeMap<String, f64>,
    /// What the caller should know after it committed (an erasure whose old pages a reader
    /// still holds in SQLite's write-ahead log).
    pub notes: Vec<String>,
    /// A merge's choices: the survivor, each field's candidates and winner, the conflicts
    /// and how they were resolved.
    pub merge: Option<serde_json::Value>,
    /// The last audit entry an applied operation wrote: what `undo` takes.
    pub audit_entry: Option<i64>,
    /// What the plan decided, as a short digest (see [`Plan::fingerprint_of`]): an apply
    /// given the fingerprint of the plan a person confirmed refuses when it would differ.
    pub fingerprint: String,
}

/// A fingerprint's text: the first 8 bytes of the digest, as 16 hex digits (plans and undo
/// previews alike).
pub(crate) fn short_digest(h: sha2::Sha256) -> String {
    use sha2::Digest;
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The fingerprint of a plan that is not a lifecycle operation's (a records delete or
/// restore, a forget): a digest of its JSON without what differs between a dry run and the
/// apply that does what it showed (`dry_run`, `fingerprint`, `notes`, `audit_entry`).
pub(crate) fn fingerprint_json(plan: &impl Serialize) -> String {
    use sha2::{Digest, Sha256};
    let mut v = serde_json::to_value(plan).unwrap_or_default();
    if let Some(m) = v.as_object_mut() {
        for k in ["dry_run", "fingerprint", "notes", "audit_entry"] {
            m.remove(k);
        }
    }
    let mut h = Sha256::new();
    h.update(v.to_string().as_bytes());
    short_digest(h)
}

/// An apply bound to the plan a person confirmed ([`crate::Engine::expect_plan`]), for the
/// plans that are not a lifecycle operation's: checked inside the apply's transaction, before
/// it commits; a different plan rolls it back and comes out as
/// [`EngineError::Changed`](crate::EngineError::Changed).
pub(crate) struct Binding {
    what: &'static str,
    expected: Option<String>,
    changed: Option<(String, serde_json::Value)>,
}

impl Binding {
    pub(crate) fn new(what: &'static str, expected: Option<String>) -> Binding {
        Binding {
            what,
            expected,
            changed: None,
        }
    }

    /// Refuses (rolling the transaction back) when `plan` is not the one confirmed.
    pub(crate) fn check(
        &mut self,
        fingerprint: &str,
        plan: &impl Serialize,
    ) -> Result<(), offboard_store::StoreError> {
        match &self.expected {
            Some(e) if e != fingerprint => {
                self.changed = Some((
                    fingerprint.to_string(),
                    serde_json::to_value(plan).unwrap_or_default(),
                ));
                Err(offboard_store::StoreError::Refused(
                    "the plan changed".into(),
                ))
            }
            _ => Ok(()),
        }
    }

    /// The transaction's result, or the refusal with the new plan when the check refused.
    pub(crate) fn finish<T, E: Into<crate::EngineError>>(
        self,
        result: Result<T, E>,
    ) -> Result<T, crate::EngineError> {
        match self.changed {
            Some((now, plan)) => Err(crate::EngineError::Changed {
                what: self.what,
                expected: self.expected.unwrap_or_default(),
                now,
                plan,
            }),
            None => result.map_err(Into::into),
        }
    }
}

impl Plan {
    /// A digest of what the plan decides: the operation, each customer and its outcome, the
    /// counts, the rules that block, the effects per table and a merge's choices — not when
    /// it was computed, how long it took or whether it was a dry run. A dry run and the apply
    /// that does what it showed have the same one. Hashed as it is read (a purge's plan can
    /// list a million customers), 16 hex digits.
    pub fn fingerprint_of(&self) -> String {
        use sha2::{Digest, Sha256};
        fn put(h: &mut Sha256, bytes: &[u8]) {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let mut h = Sha256::new();
        put(&mut h, self.operation.name().as_bytes());
        for n in [
            self.candidates,
            self.done,
            self.blocked,
            self.skipped,
            self.deactivated,
        ] {
            put(&mut h, &(n as u64).to_le_bytes());
        }
        for (rule, n) in &self.blocked_by_rule {
            put(&mut h, rule.as_bytes());
            put(&mut h, &(*n as u64).to_le_bytes());
        }
        for (table, what) in &self.effects {
            put(&mut h, table.as_bytes());
            for (k, n) in what {
                put(&mut h, k.as_bytes());
                put(&mut h, &n.to_le_bytes());
            }
        }
        for c in &self.customers {
            h.update(c.id.to_le_bytes());
            h.update([c.outcome as u8]);
        }
        if let Some(m) = &self.merge {
            put(&mut h, m.to_string().as_bytes());
        }
        crate::plan::short_digest(h)
    }

    /// The past participle naming the operation's count.
    pub fn done_key(&self) -> &'static str {
        match self.operation {
            Operation::Delete => "deleted",
            Operation::Undelete => "undeleted",
            Operation::Reactivate => "reactivated",
            Operation::Deactivate => "deactivated",
            Operation::Purge => "purged",
            Operation::Transfer => "moved",
            Operation::Merge => "merged",
            Operation::RecordDelete => "deleted",
            _ => "done",
        }
    }

    /// The plan as a JSON value, with the operation's count (`"purged": 12`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Whether applying it changed nothing: every candidate blocked or skipped.
    pub fn changed_nothing(&self) -> bool {
        self.customers
            .iter()
            .all(|c| matches!(c.outcome, Outcome::Blocked | Outcome::Skipped))
    }

    /// Fills in the counts from the customers' outcomes.
    pub(crate) fn tally(&mut self) {
        self.candidates = self.customers.len();
        self.done = self
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Proceeds)
            .count();
        self.deactivated = self
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Deactivated)
            .count();
        self.blocked = self
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Blocked)
            .count();
        self.skipped = self
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Skipped)
            .count();
        // Every rule the operation checks is listed, at zero when it blocked no one.
        let mut by_rule: BTreeMap<String, usize> = self
            .blocked_by_rule
            .keys()
            .map(|k| (k.clone(), 0))
            .collect();
        for c in &self.customers {
            for b in &c.blockers {
                *by_rule.entry(b.rule.clone()).or_insert(0) += 1;
            }
        }
        self.blocked_by_rule = by_rule;
    }
}

/// Written straight to the output (a plan can list a million customers): docs/design.md's shape,
/// the operation's count named after it.
impl Serialize for Plan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("operation", self.operation.name())?;
        m.serialize_entry("dry_run", &self.dry_run)?;
        m.serialize_entry("candidates", &self.candidates)?;
        m.serialize_entry(self.done_key(), &self.done)?;
        m.serialize_entry("blocked", &self.blocked)?;
        m.serialize_entry("skipped", &self.skipped)?;
        if self.deactivated > 0 && self.done_key() != "deactivated" {
            m.serialize_entry("deactivated", &self.deactivated)?;
        }
        m.serialize_entry("blocked_by_rule", &self.blocked_by_rule)?;
        m.serialize_entry("effects", &self.effects)?;
        m.serialize_entry("customers", &self.customers)?;
        if !self.timings.is_empty() {
            m.serialize_entry("timings", &self.timings)?;
        }
        if !self.notes.is_empty() {
            m.serialize_entry("notes", &self.notes)?;
        }
        if let Some(merge) = &self.merge {
            m.serialize_entry("merge", merge)?;
        }
        if let Some(seq) = &self.audit_entry {
            m.serialize_entry("audit_entry", seq)?;
        }
        if !self.fingerprint.is_empty() {
            m.serialize_entry("fingerprint", &self.fingerprint)?;
        }
        m.end()
    }
}
