//! Provable erasure in the files offboard controls. SQLite: `secure_delete` (checked on every
//! connection, `sqlite.rs`) zeroes freed pages; the full-text index loses an erased name either
//! as the erasure deletes it (FTS5's `secure-delete`, for an erasure of a few) or by a merge of
//! its segments after a bigger one commits (`search::before_erasing`); then the write-ahead
//! log is checkpointed and truncated, so no older copy of an erased page stays in `FILE-wal`. PostgreSQL keeps dead rows in the table files until they
//! are rewritten: `compact` rewrites the tables (`VACUUM FULL`), rebuilds their statistics and
//! takes a checkpoint. Two things keep old row versions alive past a rewrite, and both are
//! handled: a snapshot older than the erasure (a rewrite first waits for those to end,
//! [`wait_for_older_snapshots`]) and the planner's statistics, whose earlier samples stay in
//! `pg_statistic`'s file until it is rewritten too.

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

/// PostgreSQL: waits up to [`WAIT`] until no snapshot older than now is held in this database
/// (or by a session still connecting, which counts for every database) and no transaction
/// that wrote, in any database, is older than now — its id lowers the horizon of every
/// snapshot taken meanwhile, the `VACUUM FULL`'s own included. A `VACUUM FULL` copies the row
/// versions such a snapshot could still see, erased ones included, into the new file. `Some`
/// names who held on.
pub fn wait_for_older_snapshots(db: &mut dyn Db) -> Result<Option<String>, StoreError> {
    let now = db
        .query_value(
            "SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint % 4294967296)::text",
            &[],
            FieldType::Text,
        )?
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    // An autovacuum worker's VACUUM does not hold rows back (its ANALYZE does).
    let sql =
        "SELECT pid::bigint, COALESCE(NULLIF(application_name, ''), backend_type, 'a session'), \
               COALESCE(to_char(xact_start, 'YYYY-MM-DD HH24:MI:SS'), '') \
               FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
               AND (((datname = current_database() OR COALESCE(datid, 0) = 0) \
                     AND backend_xmin IS NOT NULL AND age(backend_xmin) > age($1::text::xid)) \
                 OR (backend_xid IS NOT NULL AND age(backend_xid) > age($1::text::xid))) \
               AND NOT (backend_type = 'autovacuum worker' AND query NOT LIKE '%ANALYZE%')";
    let started = Instant::now();
    loop {
        let rows = db.query(
            sql,
            &[offboard_model::Value::Text(now.clone())],
            &[FieldType::Int, FieldType::Text, FieldType::Text],
        )?;
        if rows.is_empty() {
            return Ok(None);
        }
        if started.elapsed() >= WAIT {
            let who: Vec<String> = rows
                .iter()
                .map(|r| {
                    format!(
                        "{} (pid {}, in a transaction since {})",
                        r[1].as_str().unwrap_or("a session"),
                        r[0].as_i64().unwrap_or(0),
                        r[2].as_str().unwrap_or("?")
                    )
                })
                .collect();
            return Ok(Some(format!(
                "{} kept a snapshot older than the erasure for more than {}s, so PostgreSQL keeps the old row versions it could still see: the tables are queued — the next erasure's rewrite or `offboard compact` after it ended takes them",
                who.join(", "),
                WAIT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `offboard_meta` key: the tables an erasure's rewrite had to leave (comma-separated).
const PENDING: &str = "rewrite_pending";

/// Keeps the queue of tables to rewrite: the key only while it holds some (an empty queue
/// leaves no trace, so a rewrite that had nothing to queue changes nothing but the files).
fn set_pending(db: &mut dyn Db, tables: &[String]) -> Result<(), StoreError> {
    if tables.is_empty() {
        db.execute(
            "DELETE FROM offboard_meta WHERE key = $1",
            &[offboard_model::Value::Text(PENDING.into())],
        )?;
        return Ok(());
    }
    crate::migrate::set_meta(db, PENDING, &tables.join(","))
}

/// PostgreSQL: the tables an erasure's rewrite could not take (a reader held them), which
/// still hold erased rows until the next rewrite or `offboard compact`.
pub fn pending(db: &mut dyn Db) -> Result<Vec<String>, StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(Vec::new());
    }
    Ok(crate::migrate::get_meta(db, PENDING)?
        .unwrap_or_default()
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect())
}

/// PostgreSQL: rewrites the planner's statistics, whose earlier versions (most common values,
/// histogram bounds) hold sampled column values, erased ones included. `Some` says why not.
///
/// The ANALYZE of the rewrite just replaced those versions, so they are fresh: a snapshot
/// taken meanwhile (any session of this database, or one still connecting, which has no
/// database yet and so holds back every database's horizon) would keep them through the
/// `VACUUM FULL`. It waits for those first.
fn rewrite_statistics(db: &mut dyn Db) -> Option<String> {
    let held = match wait_for_older_snapshots(db) {
        Ok(h) => h,
        Err(e) => Some(e.to_string()),
    };
    let failed = db.batch("VACUUM (FULL) pg_catalog.pg_statistic").err().map(|e| {
        format!("the planner's statistics (pg_statistic) could not be rewritten ({e}), so earlier samples of erased values may stay in its file; a database owner or superuser can run `offboard compact`")
    });
    match (held, failed) {
        (_, Some(f)) => Some(f),
        (Some(h), None) => Some(format!("the planner's statistics: {h}")),
        (None, None) => None,
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

/// What `compact` would rewrite and lock, before it runs.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompactPlan {
    pub tables: Vec<CompactTable>,
    /// How the lock times are estimated: the rate the last compaction of this database
    /// measured, or an assumed one when none ran yet.
    pub rate_mb_per_s: f64,
    pub rate_measured: bool,
}

/// One table (or, in SQLite, the file) a compaction rewrites.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CompactTable {
    pub table: String,
    pub bytes: i64,
    /// Rows no longer visible that still sit in the files (PostgreSQL; 0 in SQLite).
    pub dead_rows: i64,
    /// The lock it holds while it is rewritten.
    pub lock: String,
    /// How long that lock is held, estimated from its size.
    pub estimated_seconds: f64,
}

impl CompactPlan {
    /// In words: "rewrites 12 tables (48.2 MB, 1,204 dead rows), each locked in turn, the
    /// longest about 0.4 s".
    pub fn summary(&self) -> String {
        let bytes: i64 = self.tables.iter().map(|t| t.bytes).sum();
        let dead: i64 = self.tables.iter().map(|t| t.dead_rows).sum();
        let longest = self
            .tables
            .iter()
            .map(|t| t.estimated_seconds)
            .fold(0.0, f64::max);
        format!(
            "would rewrite {} ({:.1} MB, {dead} dead rows), each locked in turn, the longest for about {longest:.1} s{}",
            if self.tables.len() == 1 { self.tables[0].table.clone() } else { format!("{} tables", self.tables.len()) },
            bytes as f64 / 1e6,
            if self.rate_measured { "" } else { " (rate assumed: no compaction measured yet)" }
        )
    }
}

/// The rate assumed before a compaction of this database measured one (MB/s).
const ASSUMED_MB_PER_S: f64 = 50.0;

fn tables_to_compact(model: &offboard_model::Model) -> Vec<String> {
    let mut tables: Vec<String> = vec!["customers".into()];
    tables.extend(model.records.iter().map(|k| k.name.clone()));
    tables.extend(
        [
            "offboard_audit",
            "offboard_audit_personal",
            "offboard_blocklist",
            "offboard_forgotten",
            "offboard_deleted_records",
        ]
        .iter()
        .map(|t| t.to_string()),
    );
    tables
}

impl Store {
    /// What `compact` would rewrite, what it would lock and for about how long.
    pub fn compact_plan(&mut self) -> Result<CompactPlan, StoreError> {
        self.plan_rewrite(None)
    }

    /// What rewriting `tables` after an erasure would lock, and for about how long
    /// (PostgreSQL).
    pub fn rewrite_plan(&mut self, tables: &[String]) -> Result<CompactPlan, StoreError> {
        self.plan_rewrite(Some(tables))
    }

    /// Rewrites the tables an erasure touched, after it committed (PostgreSQL keeps the
    /// erased rows in its files until then): `VACUUM (FULL, ANALYZE)` one table at a time,
    /// each waiting at most 5 s for its lock (a table a long reader holds is skipped and said
    /// in the note, for `offboard compact` later), then a `CHECKPOINT`. SQLite needs none
    /// (`secure_delete`).
    pub fn rewrite_after_erasure(&mut self, tables: &[String]) -> Result<Compacted, StoreError> {
        let db = self.db();
        if db.dialect() != Dialect::Postgres {
            return Ok(Compacted {
                rewritten: Vec::new(),
                locked: Vec::new(),
                note: None,
            });
        }
        // Tables an earlier rewrite had to leave (a reader held them) come along now.
        let mut tables = tables.to_vec();
        for t in pending(db)? {
            if !tables.contains(&t) {
                tables.push(t);
            }
        }
        let mut locked = Vec::new();
        let mut rewritten = Vec::new();
        let mut skipped = Vec::new();
        let mut notes = Vec::new();
        // A snapshot that outlived the wait keeps the old row versions through this rewrite:
        // every table is queued again, for the next rewrite after it ended.
        let held = wait_for_older_snapshots(db)?;
        let requeue_all = held.is_some();
        notes.extend(held);
        db.batch("SET lock_timeout = '5s'")?;
        for t in &tables {
            // A table another session holds is tried again twice, a second apart, before it
            // is queued for the next rewrite (or `offboard compact`).
            let mut tries = 0;
            loop {
                tries += 1;
                let started = Instant::now();
                match db.batch(&format!("VACUUM (FULL, ANALYZE) {}", q(t))) {
                    Ok(()) => {
                        locked.push((t.clone(), started.elapsed().as_secs_f64()));
                        rewritten.push(t.clone());
                        break;
                    }
                    Err(e) if e.is_busy() || e.to_string().contains("lock timeout") => {
                        if tries >= 3 {
                            skipped.push(t.clone());
                            break;
                        }
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    Err(e) => {
                        let _ = db.batch("RESET lock_timeout");
                        return Err(e);
                    }
                }
            }
        }
        db.batch("RESET lock_timeout")?;
        notes.extend(rewrite_statistics(db));
        set_pending(db, if requeue_all { &tables } else { &skipped })?;
        if !skipped.is_empty() {
            notes.push(format!(
                "{} could not be rewritten now (another session held it for more than 5 s), so erased rows remain in their files: queued — the next erasure's rewrite or `offboard compact` takes it, and `offboard locate` reports it until then",
                skipped.join(", ")
            ));
        }
        if let Err(e) = db.batch("CHECKPOINT") {
            notes.push(format!(
                "no CHECKPOINT was taken ({e}); the server's next one writes the files"
            ));
        }
        Ok(Compacted {
            rewritten,
            locked,
            note: (!notes.is_empty()).then(|| notes.join("; ")),
        })
    }

    fn plan_rewrite(&mut self, only: Option<&[String]>) -> Result<CompactPlan, StoreError> {
        let model = self.shared_model();
        let db = self.db();
        let measured = crate::migrate::get_meta(db, "compact_mb_per_s")?
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|r| *r > 0.0);
        let rate = measured.unwrap_or(ASSUMED_MB_PER_S);
        let estimate = |bytes: i64| bytes as f64 / 1e6 / rate;
        let mut tables = Vec::new();
        match db.dialect() {
            Dialect::Sqlite => {
                let bytes = db
                    .query_value(
                        "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                        &[],
                        FieldType::Int,
                    )?
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                tables.push(CompactTable {
                    table: "the database file".into(),
                    bytes,
                    dead_rows: 0,
                    lock: "the whole file (no writer, then no reader at its end)".into(),
                    estimated_seconds: estimate(bytes),
                });
            }
            Dialect::Postgres => {
                let list = match only {
                    Some(t) => t.to_vec(),
                    None => tables_to_compact(&model),
                };
                for t in list {
                    let row = db.query(
                        "SELECT pg_total_relation_size(c.oid), COALESCE(s.n_dead_tup, 0) FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = to_regclass($1)",
                        &[offboard_model::Value::Text(q(&t))],
                        &[FieldType::Int, FieldType::Int],
                    )?;
                    let (bytes, dead) = row
                        .first()
                        .map(|r| (r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0)))
                        .unwrap_or((0, 0));
                    tables.push(CompactTable {
                        table: t,
                        bytes,
                        dead_rows: dead,
                        lock: "ACCESS EXCLUSIVE (no reads or writes of this table)".into(),
                        estimated_seconds: estimate(bytes),
                    });
                }
            }
        }
        Ok(CompactPlan {
            tables,
            rate_mb_per_s: rate,
            rate_measured: measured.is_some(),
        })
    }

    /// Rewrites what holds erased data, on demand: SQLite merges the search index, `VACUUM`s
    /// the file (the whole file is locked while it is rewritten) and truncates the write-ahead
    /// log; PostgreSQL rewrites every customer, record and audit table with `VACUUM (FULL,
    /// ANALYZE)` — each holds an ACCESS EXCLUSIVE lock on its table while it is rewritten —
    /// and takes a `CHECKPOINT`.
    pub fn compact(&mut self) -> Result<Compacted, StoreError> {
        let before: i64 = self.compact_plan()?.tables.iter().map(|t| t.bytes).sum();
        let done = self.compact_now()?;
        // The rate measured here estimates the next compaction's locks.
        let secs: f64 = done.locked.iter().map(|(_, t)| *t).sum();
        if secs > 0.01 && before > 0 {
            let rate = before as f64 / 1e6 / secs;
            crate::migrate::set_meta(self.db(), "compact_mb_per_s", &format!("{rate:.1}"))?;
        }
        Ok(done)
    }

    fn compact_now(&mut self) -> Result<Compacted, StoreError> {
        let model = self.shared_model();
        let db = self.db();
        let mut locked = Vec::new();
        match db.dialect() {
            Dialect::Sqlite => {
                crate::search::merge(db)?;
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
                let tables = tables_to_compact(&model);
                let held = wait_for_older_snapshots(db)?;
                let requeue = held.is_some();
                let mut notes: Vec<String> = held.into_iter().collect();
                for t in &tables {
                    let started = Instant::now();
                    db.batch(&format!("VACUUM (FULL, ANALYZE) {}", q(t)))?;
                    locked.push((t.clone(), started.elapsed().as_secs_f64()));
                }
                notes.extend(rewrite_statistics(db));
                set_pending(db, if requeue { &tables } else { &[] })?;
                // A checkpoint writes the rewritten files out; it needs a superuser (or
                // pg_checkpoint); without one it is said, not failed.
                if let Err(e) = db.batch("CHECKPOINT") {
                    notes.push(format!(
                        "no CHECKPOINT was taken ({e}); the server's next one writes the files"
                    ));
                }
                Ok(Compacted {
                    rewritten: tables,
                    locked,
                    note: (!notes.is_empty()).then(|| notes.join("; ")),
                })
            }
        }
    }
}
