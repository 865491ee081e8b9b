//! Counts: customers by status, records by kind.

use std::collections::BTreeMap;

use serde::Serialize;

use offboard_model::model::Status;
use offboard_model::FieldType;

use crate::db::q;
use crate::error::StoreError;
use crate::Store;

/// `offboard stats --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub customers: CustomerCounts,
    pub records: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CustomerCounts {
    pub active: i64,
    pub deactivated: i64,
    pub deleted: i64,
}

impl Store {
    pub fn stats(&mut self) -> Result<Stats, StoreError> {
        let kinds: Vec<String> = self
            .model()
            .records
            .iter()
            .map(|r| r.name.clone())
            .collect();
        let db = self.db();
        let mut customers = CustomerCounts::default();
        for row in db.query(
            "SELECT status, count(*) FROM customers GROUP BY status",
            &[],
            &[FieldType::Text, FieldType::Int],
        )? {
            let n = row[1].as_i64().unwrap_or(0);
            match row[0].as_str().and_then(Status::parse) {
                Some(Status::Active) => customers.active = n,
                Some(Status::Deactivated) => customers.deactivated = n,
                Some(Status::Deleted) => customers.deleted = n,
                None => {}
            }
        }
        let mut records = BTreeMap::new();
        for k in kinds {
            let n = db.query_i64(&format!("SELECT count(*) FROM {}", q(&k)), &[])?;
            records.insert(k, n);
        }
        Ok(Stats { customers, records })
    }
}
