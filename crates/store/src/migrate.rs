//! Versioned migrations of offboard's own tables: append-only SQL files per backend, embedded.

use offboard_model::rule::Dialect;
use offboard_model::{FieldType, Value};

use crate::db::Db;
use crate::error::StoreError;

const SQLITE: &[&str] = &[
    include_str!("../migrations/sqlite/0001_core.sql"),
    include_str!("../migrations/sqlite/0002_users.sql"),
    include_str!("../migrations/sqlite/0003_credentials.sql"),
    include_str!("../migrations/sqlite/0004_job_results.sql"),
    include_str!("../migrations/sqlite/0005_blocklist.sql"),
    include_str!("../migrations/sqlite/0006_forgotten.sql"),
    include_str!("../migrations/sqlite/0007_audit_personal.sql"),
    include_str!("../migrations/sqlite/0008_schedule_runs.sql"),
    include_str!("../migrations/sqlite/0009_merged.sql"),
    include_str!("../migrations/sqlite/0010_deleted_records.sql"),
    include_str!("../migrations/sqlite/0011_audit_op.sql"),
    include_str!("../migrations/sqlite/0012_privacy_requests.sql"),
    include_str!("../migrations/sqlite/0013_user_disabled.sql"),
];
const POSTGRES: &[&str] = &[
    include_str!("../migrations/postgres/0001_core.sql"),
    include_str!("../migrations/postgres/0002_users.sql"),
    include_str!("../migrations/postgres/0003_credentials.sql"),
    include_str!("../migrations/postgres/0004_job_results.sql"),
    include_str!("../migrations/postgres/0005_blocklist.sql"),
    include_str!("../migrations/postgres/0006_forgotten.sql"),
    include_str!("../migrations/postgres/0007_audit_personal.sql"),
    include_str!("../migrations/postgres/0008_schedule_runs.sql"),
    include_str!("../migrations/postgres/0009_merged.sql"),
    include_str!("../migrations/postgres/0010_deleted_records.sql"),
    include_str!("../migrations/postgres/0011_audit_op.sql"),
    include_str!("../migrations/postgres/0012_privacy_requests.sql"),
    include_str!("../migrations/postgres/0013_user_disabled.sql"),
];

/// Brings offboard's own tables up to the latest version; returns the version found before.
pub fn migrate(db: &mut dyn Db) -> Result<usize, StoreError> {
    let steps = match db.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    // Current already: nothing to write, so no write lock to wait for (a second server or a
    // command starts while a long job holds the database).
    if let Ok(Some(v)) = get_meta(db, "schema_version") {
        if v.parse::<usize>().ok() == Some(steps.len()) {
            return Ok(steps.len());
        }
    }
    db.batch(
        "CREATE TABLE IF NOT EXISTS offboard_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    db.transaction(|tx| {
        if tx.dialect() == Dialect::Postgres {
            // Two processes starting at once must not both migrate.
            tx.batch("SELECT pg_advisory_xact_lock(7204531)")?;
        }
        let found = tx
            .query_value(
                "SELECT value FROM offboard_meta WHERE key = 'schema_version'",
                &[],
                FieldType::Text,
            )?
            .and_then(|v| v.as_str().and_then(|s| s.parse::<usize>().ok()))
            .unwrap_or(0);
        if found > steps.len() {
            return Err(StoreError::Refused(format!(
                "this database has schema version {found}, newer than this offboard ({}); upgrade offboard",
                steps.len()
            )));
        }
        for sql in &steps[found..] {
            tx.batch(sql)?;
        }
        if found < steps.len() {
            set_meta(tx, "schema_version", &steps.len().to_string())?;
        }
        Ok(found)
    })
}

/// Whether the database answers and its own tables are at this offboard's latest version.
pub fn is_current(db: &mut dyn Db) -> Result<bool, StoreError> {
    let latest = match db.dialect() {
        Dialect::Sqlite => SQLITE.len(),
        Dialect::Postgres => POSTGRES.len(),
    };
    let found = get_meta(db, "schema_version")?.and_then(|v| v.parse::<usize>().ok());
    Ok(found == Some(latest))
}

/// Sets a key of `offboard_meta`.
pub fn set_meta(db: &mut dyn Db, key: &str, value: &str) -> Result<(), StoreError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "INSERT INTO offboard_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        Dialect::Postgres => "INSERT INTO offboard_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    };
    db.execute(sql, &[Value::Text(key.into()), Value::Text(value.into())])?;
    Ok(())
}

/// Reads a key of `offboard_meta`.
pub fn get_meta(db: &mut dyn Db, key: &str) -> Result<Option<String>, StoreError> {
    let sql = match db.dialect() {
        Dialect::Sqlite => "SELECT value FROM offboard_meta WHERE key = ?1",
        Dialect::Postgres => "SELECT value FROM offboard_meta WHERE key = $1",
    };
    Ok(db
        .query_value(sql, &[Value::Text(key.into())], FieldType::Text)?
        .and_then(|v| v.as_str().map(str::to_string)))
}
