//! Provable erasure in the files offboard controls. SQLite: `secure_delete` (checked on every
//! connection, `sqlite.rs`) zeroes freed pages; after an erasure the full-text index's segments
//! are merged (an erased name would otherwise linger in old segments where SQLite predates FTS5's
//! `secure-delete`) and the write-ahead log is checkpointed and truncated, so no older copy of
//! an erased page stays in `FILE-wal`. PostgreSQL keeps dead rows in the table files until they
//! are rewritten: `compact` rewrites the tables (`VACUUM FULL`), rebuilds their statistics and
//! takes a checkpoint.

use std::time::{Duration, Instant};

use offboard_model::rule::Dialect;
use offboard_model::FieldType;

use crate::db::{q, Db};
use crate::{Store, StoreError};

/// How long a checkpoint waits for readers of the write-ahead log.
const WAIT: Duration = Duration::from_secs(5);

/// Scrubs after an erasure committed: what could not be done, in words (`None`: all done).
pub fn after_erasure(db: &mut dyn Db) -> Option<String> {
    if db.dialect() != Dialect::Sqlite {
        return None;
    }
    if let Err(e) = crate::search::forget_erased(db) {
        return Some(format!(
            "the search index could not be merged ({e}); erased names may stay in its pages until `offboard compact`"
        ));
    }
    match checkpoint(db) {
        Ok(None) => None,
        Ok(Some(busy)) => Some(busy),
        Err(e) => Some(format!(
            "the write-ahead log could not be emptied ({e}); run `offboard compact`"
        )),
    }
}

/// SQLite: copies the write-ahead log into the database file and truncates it, waiting up to
/// [`WAIT`] for readers; `Some` says who holds it when they do not let go.
pub fn checkpoint(db: &mut dyn Db) -> Result<Option<String>, StoreError> {
    let started = Instant::now();
    loop {
        let row = db.query(
            "PRAGMA wal_checkpoint(TRUNCATE)",
            &[],
            &[FieldType::Int, FieldType::Int, FieldType::Int],
        )?;
        let busy = row.first().and_then(|r| r[0].as_i64()).unwrap_or(0);
        if busy == 0 {
            return Ok(None);
        }
        if started.elapsed() >= WAIT {
            return Ok(Some(format!(
                "another connection to the database file (a server, or an `offboard` command still reading) kept reading for {}s, so the write-ahead log still holds older pages of the erased rows; run `offboard compact` when it is done",
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `compact` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Compacted {
    /// The tables rewritten (PostgreSQL) or the file (SQLite).
    pub rewritten: Vec<String>,
    /// What it locked, and for how long, in seconds.
    pub locked: Vec<(String, f64)>,
    pub note: Option<String>,
}

impl Store {
    /// Rewrites what holds erased data, on demand: SQLite merges the search index, `VACUUM`s
    /// the file (the whole file is locked while it is rewritten) and truncates the write-ahead
    /// log; PostgreSQL rewrites every customer, record and audit table with `VACUUM (FULL,
    /// ANALYZE)` — each holds an ACCESS EXCLUSIVE lock on its table while it is rewritten —
    /// and takes a `CHECKPOINT`.
    pub fn compact(&mut self) -> Result<Compacted, StoreError> {
        let model = self.shared_model();
        let db = self.db();
        let mut locked = Vec::new();
        match db.dialect() {
            Dialect::Sqlite => {
                crate::search::forget_erased(db)?;
                let started = Instant::now();
                db.batch("VACUUM")?;
                locked.push((
                    "the database file".to_string(),
                    started.elapsed().as_secs_f64(),
                ));
                let note = checkpoint(db)?;
                Ok(Compacted {
                    rewritten: vec!["the database file".into()],
                    locked,
                    note,
                })
            }
            Dialect::Postgres => {
                let mut tables: Vec<String> = vec!["customers".into()];
                tables.extend(model.records.iter().map(|k| k.name.clone()));
                tables.extend(
                    [
                        "offboard_audit",
                        "offboard_audit_personal",
                        "offboard_blocklist",
                        "offboard_forgotten",
                    ]
                    .iter()
                    .map(|t| t.to_string()),
                );
                for t in &tables {
                    let started = Instant::now();
                    db.batch(&format!("VACUUM (FULL, ANALYZE) {}", q(t)))?;
                    locked.push((t.clone(), started.elapsed().as_secs_f64()));
                }
                // A checkpoint writes the rewritten files out; it needs a superuser (or
                // pg_checkpoint); without one it is said, not failed.
                let note = db.batch("CHECKPOINT").err().map(|e| {
                    format!("no CHECKPOINT was taken ({e}); the server's next one writes the files")
                });
                Ok(Compacted {
                    rewritten: tables,
                    locked,
                    note,
                })
            }
        }
    }
}
