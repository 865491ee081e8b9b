//! What an interface may read: a view of the store that only reads. The engine hands this
//! out instead of the store itself, so a handler can show anything and change nothing except
//! through the engine's operations (permission-checked and audited).

use offboard_model::Model;
use offboard_store::customers::{Customer, ListQuery};
use offboard_store::records::Record;
use offboard_store::stats::Stats;
use offboard_store::users::User;
use offboard_store::{Store, StoreError};

use crate::audit::{self, Entry, Verification};

/// A read-only view of the store.
pub struct Reader<'a> {
    store: &'a mut Store,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(store: &'a mut Store) -> Reader<'a> {
        Reader { store }
    }

    pub fn model(&self) -> &Model {
        self.store.model()
    }

    pub fn customer(&mut self, id: i64) -> Result<Customer, StoreError> {
        self.store.customer(id)
    }

    pub fn find_customer(&mut self, id: i64) -> Result<Option<Customer>, StoreError> {
        self.store.find_customer(id)
    }

    pub fn customer_by_number(&mut self, number: &str) -> Result<Option<Customer>, StoreError> {
        self.store.customer_by_number(number)
    }

    /// What a person typed to name a customer (`#ID`, `number:N` or either), for reading or
    /// for changing: the one resolver every interface uses.
    pub fn resolve_customer(
        &mut self,
        text: &str,
        purpose: offboard_store::resolve::Purpose,
    ) -> Result<offboard_store::resolve::Resolved, StoreError> {
        self.store.resolve_customer(text, purpose)
    }

    pub fn list_customers(
        &mut self,
        query: &ListQuery,
        each: &mut dyn FnMut(Customer) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.store.list_customers(query, each)
    }

    pub fn count_customers_capped(
        &mut self,
        query: &ListQuery,
        cap: i64,
    ) -> Result<(i64, bool), StoreError> {
        self.store.count_customers_capped(query, cap)
    }

    pub fn count_customers(&mut self, query: &ListQuery) -> Result<i64, StoreError> {
        self.store.count_customers(query)
    }

    pub fn suggest_customers(
        &mut self,
        text: &str,
        view: offboard_model::model::View,
        limit: u32,
    ) -> Result<Vec<Customer>, StoreError> {
        self.store.suggest_customers(text, view, limit)
    }

    pub fn customer_ids(&mut self, query: &ListQuery) -> Result<Vec<i64>, StoreError> {
        self.store.customer_ids(query)
    }

    pub fn customer_records(
        &mut self,
        kind: &str,
        customer_id: i64,
        limit: Option<u64>,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.store.customer_records(kind, customer_id, limit, each)
    }

    /// Records of a kind under one owner, newest first, at most `limit`, and their count.
    pub fn owner_records(
        &mut self,
        kind: &str,
        owner: i64,
        limit: u64,
    ) -> Result<(Vec<Record>, i64), StoreError> {
        self.store.owner_records(kind, owner, limit)
    }

    /// Records of a kind by id, in one query, in the order given.
    pub fn records_by_ids(&mut self, kind: &str, ids: &[i64]) -> Result<Vec<Record>, StoreError> {
        self.store.records_by_ids(kind, ids)
    }

    /// The customer a record belongs to (along its owner chain).
    pub fn record_customer(&mut self, kind: &str, id: i64) -> Result<Option<i64>, StoreError> {
        self.store.record_customer(kind, id)
    }

    pub fn customer_record_counts(&mut self, id: i64) -> Result<Vec<(String, i64)>, StoreError> {
        self.store.customer_record_counts(id)
    }

    pub fn record(&mut self, kind: &str, id: i64) -> Result<Record, StoreError> {
        self.store.record(kind, id)
    }

    /// The customers of a view with their record counts per kind, as CSV (streamed).
    pub fn export_view_csv(
        &mut self,
        query: &ListQuery,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, StoreError> {
        self.store.export_view_csv(query, out)
    }

    /// The same as a workbook file, in constant memory.
    pub fn export_view_xlsx(
        &mut self,
        query: &ListQuery,
        file: &std::path::Path,
    ) -> Result<u64, StoreError> {
        self.store.export_view_xlsx(query, file)
    }

    /// The customers that link to customer `id`, per customer link (contacts, subsidiaries).
    pub fn linked_customers(
        &mut self,
        id: i64,
        limit: u64,
    ) -> Result<Vec<(String, Vec<Customer>, i64)>, StoreError> {
        self.store.linked_customers(id, limit)
    }

    pub fn stats(&mut self) -> Result<Stats, StoreError> {
        self.store.stats()
    }

    pub fn users(&mut self) -> Result<Vec<User>, StoreError> {
        self.store.users()
    }

    /// The audit log, newest first (of one customer when given), at most `limit` entries.
    pub fn audit(
        &mut self,
        customer: Option<i64>,
        limit: Option<u64>,
    ) -> Result<Vec<Entry>, StoreError> {
        audit::list(self.store.db(), customer, limit)
    }

    /// Audit entries by customer, operation, actor and date range, newest first, paged.
    pub fn audit_filtered(
        &mut self,
        filter: &audit::AuditFilter,
    ) -> Result<Vec<Entry>, StoreError> {
        audit::list_filtered(self.store.db(), filter)
    }

    /// How many entries each operation (numbered by its first entry) wrote.
    pub fn audit_operation_sizes(
        &mut self,
        ops: &[i64],
    ) -> Result<std::collections::BTreeMap<i64, i64>, StoreError> {
        audit::operation_sizes(self.store.db(), ops)
    }

    /// Who last deleted each of these customers (by the audit log).
    pub fn deleted_by(
        &mut self,
        ids: &[i64],
    ) -> Result<std::collections::BTreeMap<i64, String>, StoreError> {
        audit::deleted_by(self.store.db(), ids)
    }

    /// The undos in the audit log: `(first, last, undo)` — entries `first`–`last` were taken
    /// back by the undo whose operation starts at entry `undo`.
    pub fn audit_undone(&mut self) -> Result<Vec<(i64, i64, i64)>, StoreError> {
        audit::undone(self.store.db())
    }

    /// The actors and the operations the audit log holds.
    pub fn audit_facets(&mut self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        audit::facets(self.store.db())
    }

    /// The hash chain of the audit log, checked.
    pub fn verify_audit(&mut self) -> Result<Verification, StoreError> {
        audit::verify(self.store.db())
    }

    /// The customer a merged-away customer resolves to (followed along later merges).
    pub fn merged_into(&mut self, id: i64) -> Result<Option<i64>, StoreError> {
        self.store.merged_into(id)
    }

    /// Possible duplicates, best first (see `offboard_store::duplicates`).
    pub fn duplicates(
        &mut self,
        by: &[offboard_store::duplicates::Signal],
        kind: Option<&str>,
        limit: u64,
    ) -> Result<Vec<offboard_store::duplicates::DuplicatePair>, StoreError> {
        self.store.duplicates(by, kind, limit)
    }
}
