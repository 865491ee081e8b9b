//! Forget now, purge later: when something that must legally stay (an unpaid invoice, an
//! open order) blocks a person's erasure, their personal data is masked at once — every field
//! the model marks personal, of the customer and of its records along owner chains — their
//! identifying values go on the no-resurrection blocklist, and the customer keeps its number
//! and its financial history. The next purge erases it once nothing blocks it.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use offboard_model::model::Operation;
use offboard_model::{DateTime, FieldType, Value};
use offboard_store::db::ph;
use offboard_store::records::customer_path;

use crate::audit::{self, Act, NewEntry};
use crate::sql::{fill_set, q, temp_set};
use crate::{Engine, EngineError};

/// The set a forget works on (one customer).
const SET: &str = "ob_forget";

/// What a forget masked (or, in a dry run, would mask).
#[derive(Debug, Clone, Serialize)]
pub struct ForgetReport {
    pub customer: i64,
    pub number: String,
    pub dry_run: bool,
    /// Rows masked per table (`customers`, then each record kind with personal fields).
    pub masked: BTreeMap<String, u64>,
    /// The columns masked, `table.column`.
    pub columns: Vec<String>,
    /// Identifying values put on the blocklist.
    pub blocked_values: u64,
    /// What could not be scrubbed from the files after it committed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// What the plan decided, as a short digest: `--plan` / `"plan"` binds an apply to it.
    pub fingerprint: String,
}

/// What a forgotten customer's name becomes.
pub const FORGOTTEN_NAME: &str = "Forgotten customer";

impl Engine<'_> {
    /// Masks every personal field of customer `id` and of its records (permission `purge`,
    /// the erasures' own), in one transaction, audited without any personal value.
    pub fn forget(&mut self, id: i64, dry_run: bool) -> Result<ForgetReport, EngineError> {
        let allowed = self.allow(Operation::Purge)?;
        self.forget_as(&allowed, id, dry_run)
    }

    /// [`Engine::forget`] on a proof already taken (a privacy request's run).
    pub(crate) fn forget_as(
        &mut self,
        allowed: &crate::Allowed,
        id: i64,
        dry_run: bool,
    ) -> Result<ForgetReport, EngineError> {
        let mut report = self.forget_in_one(allowed, id, dry_run)?;
        if !dry_run {
            // Committed: the files forget the old values too (SQLite: the index merged, the
            // write-ahead log emptied).
            if let Some(note) = offboard_store::scrub::after_erasure(self.store.db()) {
                report.notes.push(note);
            }
        }
        if self.store.dialect() == offboard_store::Dialect::Postgres {
            // PostgreSQL keeps the old row versions in its files until the tables are
            // rewritten, as after an erasure (or says when the model's compaction will).
            let model = self.store.shared_model();
            let note = if let Some(s) = model
                .schedules
                .iter()
                .find(|s| s.run == offboard_model::model::ScheduleRun::Compact)
            {
                Some(format!(
                    "the masked values leave PostgreSQL's files when schedule `{}` next compacts the tables (every {})",
                    s.id,
                    s.every.name()
                ))
            } else {
                let tables: Vec<String> = report
                    .masked
                    .iter()
                    .filter(|(_, n)| **n > 0)
                    .map(|(t, _)| t.clone())
                    .collect();
                self.rewrite_tables_note(tables, dry_run)
            };
            report.notes.extend(note);
        }
        Ok(report)
    }

    fn forget_in_one(
        &mut self,
        _allowed: &crate::Allowed,
        id: i64,
        dry_run: bool,
    ) -> Result<ForgetReport, EngineError> {
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let mut binding = self.binding("forget", dry_run);
        let mut one =
            |s: &mut offboard_store::Store| -> Result<ForgetReport, offboard_store::StoreError> {
                let c = s.customer(id)?;
                let done = forget_set(&model, s.db(), &actor, &[(id, c.number.clone())], false)?;
                let mut report = ForgetReport {
                    customer: id,
                    number: c.number,
                    dry_run,
                    masked: done.masked,
                    columns: done.columns,
                    blocked_values: done.blocked_values,
                    notes: Vec::new(),
                    fingerprint: String::new(),
                };
                report.fingerprint = crate::plan::fingerprint_json(&report);
                binding.check(&report.fingerprint, &report)?;
                Ok(report)
            };
        if !dry_run {
            let result = self.store.atomically(&mut one);
            return binding.finish(result);
        }
        // A dry run is the apply, rolled back: it reports what the apply would (how many
        // values the blocklist would take, which a count could not tell), never less.
        self.store.db().begin()?;
        let report = one(self.store);
        self.store.db().rollback()?;
        Ok(report?)
    }

    /// Logs that a backup was brought back here (`details`: the backup, where its log ends,
    /// what was re-applied); needs `purge`, the erasures' permission.
    pub fn record_restore(&mut self, details: serde_json::Value) -> Result<(), EngineError> {
        self.allow(Operation::Purge)?;
        let actor = self.actor.name.clone();
        let entry = NewEntry {
            customer_id: None,
            customer_number: None,
            customer_name: None,
            reason: None,
            details,
        };
        self.store
            .atomically(|s| audit::append(s.db(), &actor, Act::Restore, &[entry]))?;
        Ok(())
    }

    /// Forgets many customers at once (a restore re-applying the forgets logged after its
    /// backup): set-based, one statement per table, one transaction; those of `ids` that do
    /// not exist are left out. Returns how many were forgotten.
    pub fn forget_customers(&mut self, ids: &[i64]) -> Result<usize, EngineError> {
        self.allow(Operation::Purge)?;
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let n = self.store.atomically(|s| {
            let db = s.db();
            temp_set(db, SET)?;
            fill_set(db, SET, ids)?;
            let rows = db.query(
                &format!("SELECT id, number FROM customers WHERE id IN (SELECT id FROM {SET}) ORDER BY id"),
                &[],
                &[FieldType::Int, FieldType::Text],
            )?;
            let found: Vec<(i64, String)> = rows
                .iter()
                .map(|r| {
                    (
                        r[0].as_i64().unwrap_or(0),
                        r[1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            if found.is_empty() {
                return Ok::<usize, offboard_store::StoreError>(0);
            }
            forget_set(&model, db, &actor, &found, false)?;
            Ok(found.len())
        })?;
        if n > 0 {
            let _ = offboard_store::scrub::after_erasure(self.store.db());
        }
        Ok(n)
    }
}

/// What a forget of a set of customers masked.
struct Forgotten {
    masked: BTreeMap<String, u64>,
    columns: Vec<String>,
    blocked_values: u64,
}

/// Masks the personal fields of `customers` (id, number) and of their records, blocklists
/// their identifying values, marks them forgotten and logs one entry each — set-based.
fn forget_set(
    model: &offboard_model::Model,
    db: &mut dyn offboard_store::Db,
    actor: &str,
    customers: &[(i64, String)],
    dry_run: bool,
) -> Result<Forgotten, offboard_store::StoreError> {
    let d = db.dialect();
    let mut masked = BTreeMap::new();
    let mut columns = Vec::new();
    let ids: Vec<i64> = customers.iter().map(|(id, _)| *id).collect();
    temp_set(db, SET)?;
    fill_set(db, SET, &ids)?;
    let blocked_values = if dry_run {
        0
    } else {
        offboard_store::blocklist::block_customers(model, db, SET, "forgotten")?
    };
    // The customers' own columns: the name says it was forgotten (a name is required), the
    // rest is emptied.
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for col in model.customer.personal.iter().cloned().chain(
        model
            .customer
            .fields
            .iter()
            .filter(|f| f.personal)
            .map(|f| f.name.clone()),
    ) {
        columns.push(format!("customers.{col}"));
        if col == "name" {
            params.push(Value::Text(FORGOTTEN_NAME.into()));
            sets.push(format!("{} = {}", q(&col), ph(d, params.len())));
        } else {
            sets.push(format!("{} = NULL", q(&col)));
        }
    }
    if !sets.is_empty() {
        let n = if dry_run {
            ids.len() as u64
        } else {
            // Their old values leave the search index's pages as they are masked, or by a
            // merge after the commit.
            let erasing = offboard_store::search::before_erasing(db, ids.len() as u64)?;
            let n = db.execute(
                &format!(
                    "UPDATE customers SET {} WHERE id IN (SELECT id FROM {SET})",
                    sets.join(", ")
                ),
                &params,
            )?;
            offboard_store::search::end_erasing(db, erasing)?;
            n
        };
        masked.insert("customers".to_string(), n);
    }
    // Each record kind's personal fields, for the customers' records along owner chains: one
    // statement per kind.
    for kind in &model.records {
        let personal: Vec<&str> = kind
            .fields
            .iter()
            .filter(|f| f.personal)
            .map(|f| f.name.as_str())
            .collect();
        if personal.is_empty() {
            continue;
        }
        columns.extend(personal.iter().map(|f| format!("{}.{f}", kind.name)));
        let (from, cust) = customer_path(model, kind);
        let mine = format!("SELECT r.id FROM {from} WHERE {cust} IN (SELECT id FROM {SET})");
        let n = if dry_run {
            db.query_value(
                &format!("SELECT count(*) FROM ({mine}) t"),
                &[],
                FieldType::Int,
            )?
            .and_then(|v| v.as_i64())
            .unwrap_or(0) as u64
        } else {
            let assigns: Vec<String> = personal
                .iter()
                .map(|f| format!("{} = NULL", q(f)))
                .collect();
            db.execute(
                &format!(
                    "UPDATE {} SET {} WHERE id IN ({mine})",
                    q(&kind.name),
                    assigns.join(", ")
                ),
                &[],
            )?
        };
        if n > 0 {
            masked.insert(kind.name.clone(), n);
        }
    }
    if !dry_run {
        // The audit log forgets the personal values it kept of these customers.
        audit::forget_customers(db, SET)?;
        crate::bin::forget_binned(db, SET)?;
        db.execute(
            &format!(
                "INSERT INTO offboard_forgotten (customer_id, forgotten_at) SELECT id, {} FROM {SET} WHERE 1 = 1 ON CONFLICT (customer_id) DO NOTHING",
                ph(d, 1)
            ),
            &[Value::DateTime(DateTime::now())],
        )?;
        // The log says that each was forgotten, by whom and when — by number, without a
        // name or any other personal value.
        let entries: Vec<NewEntry> = customers
            .iter()
            .map(|(id, number)| NewEntry {
                customer_id: Some(*id),
                customer_number: Some(number.clone()),
                customer_name: None,
                reason: None,
                details: if customers.len() == 1 {
                    json!({ "masked": masked, "blocklisted": blocked_values })
                } else {
                    json!({ "masked_with": customers.len() - 1, "blocklisted": blocked_values })
                },
            })
            .collect();
        audit::append(db, actor, Act::Forget, &entries)?;
    }
    Ok(Forgotten {
        masked,
        columns,
        blocked_values,
    })
}
