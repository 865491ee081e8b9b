//! What `offboard restore` needs of the databases themselves: where a backup is brought back
//! before it replaces the live database (a file beside it; a PostgreSQL database beside it),
//! the swap, and what the audit log says happened after a backup.
//!
//! The backup is never changed: it is copied (SQLite) or `pg_restore`d (PostgreSQL) into a
//! staging database, the erasures and forgets logged after it are applied there, and only
//! then does the staging database take the live one's place — the live one is kept under a
//! new name, so nothing is lost.

use std::path::{Path, PathBuf};

use offboard_model::{FieldType, Value};
use postgres::{Client, NoTls};

use crate::db::{ph, Db};
use crate::{DbUrl, Store, StoreError};

/// Copies the database at `url` (open as `store`) to the new file `file`: SQLite's
/// `VACUUM INTO`, PostgreSQL's `pg_dump --format=custom`. What `restore` brings back.
pub fn backup(store: &mut Store, url: &str, file: &Path) -> Result<(), StoreError> {
    if file.exists() {
        return Err(StoreError::Refused(format!(
            "{} exists; choose a new file name",
            file.display()
        )));
    }
    match DbUrl::parse(url)? {
        DbUrl::Sqlite(_) => store.backup(file),
        DbUrl::Postgres(url) => {
            let url = url.replacen("postgresql://", "postgres://", 1);
            let out = std::process::Command::new("pg_dump")
                .arg("--format=custom")
                .arg("--file")
                .arg(file)
                .arg(&url)
                .output()
                .map_err(|source| StoreError::Io {
                    context: "cannot run pg_dump (Debian: apt-get install postgresql-client)"
                        .into(),
                    source,
                })?;
            if !out.status.success() {
                let _ = std::fs::remove_file(file);
                return Err(StoreError::Refused(format!(
                    "pg_dump failed ({}): {}; nothing was written",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        }
    }
}

/// Puts the backup's contents into the staged database: a copy of the SQLite file, or a
/// `pg_restore` of the archive.
pub fn load_backup(file: &Path, staged: &str) -> Result<(), StoreError> {
    let io = |context: String| move |source| StoreError::Io { context, source };
    match DbUrl::parse(staged)? {
        DbUrl::Sqlite(path) => {
            let mut head = [0u8; 16];
            use std::io::Read;
            std::fs::File::open(file)
                .and_then(|mut f| f.read_exact(&mut head))
                .map_err(io(format!("cannot read {}", file.display())))?;
            if &head != b"SQLite format 3\0" {
                return Err(StoreError::Refused(format!(
                    "{} is not a SQLite database (an `offboard backup` of a SQLite database is one); nothing was changed",
                    file.display()
                )));
            }
            std::fs::copy(file, &path)
                .map_err(io(format!("cannot copy {} to {path}", file.display())))?;
            Ok(())
        }
        DbUrl::Postgres(url) => {
            let out = std::process::Command::new("pg_restore")
                .arg("--no-owner")
                .arg("--exit-on-error")
                .arg("--dbname")
                .arg(&url)
                .arg(file)
                .output()
                .map_err(io(
                    "cannot run pg_restore (Debian: apt-get install postgresql-client)".into(),
                ))?;
            if !out.status.success() {
                return Err(StoreError::Refused(format!(
                    "pg_restore could not read {} ({}): {}; nothing was changed",
                    file.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        }
    }
}

/// The database URL `url` with another database name (PostgreSQL).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// The database name of a PostgreSQL URL.
pub fn database_name(url: &str) -> Option<String> {
    let base = url.split('?').next().unwrap_or(url);
    let after = &base[base.find("://")? + 3..];
    let name = &after[after.find('/')? + 1..];
    (!name.is_empty()).then(|| name.to_string())
}

fn ident_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A connection to the server's maintenance database (`postgres`), for CREATE, RENAME and
/// DROP DATABASE, which cannot run inside the database they name.
fn admin(url: &str) -> Result<Client, StoreError> {
    Ok(Client::connect(&with_database(url, "postgres"), NoTls)?)
}

/// Where a backup is staged: for SQLite `FILE.restoring` beside the live file, for
/// PostgreSQL a new database `NAME_restoring` (made empty).
pub fn stage(live: &str) -> Result<String, StoreError> {
    match DbUrl::parse(live)? {
        DbUrl::Sqlite(path) => {
            let staged = PathBuf::from(format!("{path}.restoring"));
            for p in sqlite_files(&staged) {
                remove_if_there(&p)?;
            }
            Ok(format!("sqlite://{}", staged.display()))
        }
        DbUrl::Postgres(url) => {
            let name = database_name(&url)
                .ok_or_else(|| StoreError::Invalid(format!("`{live}` names no database")))?;
            let staged = format!("{name}_restoring");
            if !ident_ok(&staged) {
                return Err(StoreError::Invalid(format!(
                    "the database name `{name}` is not one a restore can stage beside (letters, digits, _ and -)"
                )));
            }
            let mut c = admin(&url)?;
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quoted(&staged)
            ))?;
            c.batch_execute(&format!("CREATE DATABASE {}", quoted(&staged)))?;
            Ok(with_database(&url, &staged))
        }
    }
}

/// Throws a staged database away (a dry run, or a restore that failed).
pub fn discard(staged: &str) -> Result<(), StoreError> {
    match DbUrl::parse(staged)? {
        DbUrl::Sqlite(path) => {
            for p in sqlite_files(Path::new(&path)) {
                remove_if_there(&p)?;
            }
            Ok(())
        }
        DbUrl::Postgres(url) => {
            let name = database_name(&url).unwrap_or_default();
            admin(&url)?.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quoted(&name)
            ))?;
            Ok(())
        }
    }
}

/// Makes this process the only one with the live database open until it exits (SQLite: the
/// lock every process holds shared, taken exclusively; see `lock.rs`). Refused, naming why,
/// while a server or another command has it open. PostgreSQL's own sessions are counted by
/// [`swap`] instead.
pub fn hold_exclusively(live: &str) -> Result<(), StoreError> {
    match DbUrl::parse(live)? {
        DbUrl::Sqlite(path) => crate::lock::exclusive(&path),
        DbUrl::Postgres(_) => Ok(()),
    }
}

/// Puts the staged database in the live one's place; the live one is kept as
/// `NAME.replaced-STAMP` (SQLite) or `NAME_replaced_STAMP` (PostgreSQL), which is returned.
/// Every connection to both must be closed (PostgreSQL refuses otherwise, and says so).
pub fn swap(live: &str, staged: &str, stamp: &str) -> Result<String, StoreError> {
    match (DbUrl::parse(live)?, DbUrl::parse(staged)?) {
        (DbUrl::Sqlite(live), DbUrl::Sqlite(staged)) => {
            let (live, staged) = (PathBuf::from(live), PathBuf::from(staged));
            // Never over an earlier one set aside (two restores in one second).
            let kept = (1..)
                .map(|n| match n {
                    1 => PathBuf::from(format!("{}.replaced-{stamp}", live.display())),
                    n => PathBuf::from(format!("{}.replaced-{stamp}-{n}", live.display())),
                })
                .find(|k| sqlite_files(k).iter().all(|f| !f.exists()))
                .unwrap_or_default();
            let io = |context: String| move |source| StoreError::Io { context, source };
            for (from, to) in sqlite_files(&live).into_iter().zip(sqlite_files(&kept)) {
                if from.exists() {
                    std::fs::rename(&from, &to)
                        .map_err(io(format!("cannot move {} aside", from.display())))?;
                }
            }
            for (from, to) in sqlite_files(&staged).into_iter().zip(sqlite_files(&live)) {
                if from.exists() {
                    std::fs::rename(&from, &to).map_err(io(format!(
                        "cannot put {} in place of {}",
                        from.display(),
                        to.display()
                    )))?;
                }
            }
            // The staged copy's lock file is of no use once its files are in place.
            let _ = std::fs::remove_file(format!("{}.lock", staged.display()));
            Ok(kept.display().to_string())
        }
        (DbUrl::Postgres(live), DbUrl::Postgres(staged)) => {
            let name = database_name(&live).unwrap_or_default();
            let staged_name = database_name(&staged).unwrap_or_default();
            let mut c = admin(&live)?;
            // Never the name of an earlier one set aside (two restores in one second).
            let mut kept = format!("{name}_replaced_{stamp}");
            let mut n = 1;
            while c
                .query_one(
                    "SELECT count(*) FROM pg_database WHERE datname = $1",
                    &[&kept],
                )?
                .get::<_, i64>(0)
                > 0
            {
                n += 1;
                kept = format!("{name}_replaced_{stamp}_{n}");
            }
            // A connection this process closed a moment ago may still be listed while its
            // backend exits: wait for that (two seconds at most), not for a server.
            let mut busy = 0;
            for _ in 0..20 {
                busy = c
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                        &[&name],
                    )?
                    .get::<_, i64>(0);
                if busy == 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if busy > 0 {
                return Err(StoreError::Refused(format!(
                    "{busy} other connection(s) to `{name}` are open (a server?); stop them and run the restore again — nothing was replaced"
                )));
            }
            c.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quoted(&name),
                quoted(&kept)
            ))?;
            if let Err(e) = c.batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                quoted(&staged_name),
                quoted(&name)
            )) {
                // Put the live one back: nothing half-done.
                let _ = c.batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quoted(&kept),
                    quoted(&name)
                ));
                return Err(e.into());
            }
            Ok(kept)
        }
        _ => Err(StoreError::Invalid(
            "a restore stages on the live database's own backend".into(),
        )),
    }
}

fn sqlite_files(path: &Path) -> Vec<PathBuf> {
    let s = path.display().to_string();
    vec![
        path.to_path_buf(),
        PathBuf::from(format!("{s}-wal")),
        PathBuf::from(format!("{s}-shm")),
    ]
}

fn remove_if_there(p: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            context: format!("cannot remove {}", p.display()),
            source,
        }),
    }
}

/// The last entry of a database's audit log: its sequence number and hash (0 and "" when
/// the log is empty).
pub fn audit_head(db: &mut dyn Db) -> Result<(i64, String), StoreError> {
    let rows = db.query(
        "SELECT seq, hash FROM offboard_audit ORDER BY seq DESC LIMIT 1",
        &[],
        &[FieldType::Int, FieldType::Text],
    )?;
    Ok(rows
        .first()
        .map(|r| {
            (
                r[0].as_i64().unwrap_or(0),
                r[1].as_str().unwrap_or_default().to_string(),
            )
        })
        .unwrap_or((0, String::new())))
}

/// The hash of entry `seq` of a database's audit log.
pub fn audit_hash(db: &mut dyn Db, seq: i64) -> Result<Option<String>, StoreError> {
    Ok(db
        .query_value(
            &format!(
                "SELECT hash FROM offboard_audit WHERE seq = {}",
                ph(db.dialect(), 1)
            ),
            &[Value::Int(seq)],
            FieldType::Text,
        )?
        .and_then(|v| v.as_str().map(str::to_string)))
}

/// What the live log says happened after entry `after`: the customers erased since (a
/// purge, an erasure request or a hard delete whose customer is gone) and those forgotten.
pub fn erased_and_forgotten_after(
    db: &mut dyn Db,
    after: i64,
) -> Result<(Vec<i64>, Vec<i64>), StoreError> {
    let p = ph(db.dialect(), 1);
    let ids = |db: &mut dyn Db, sql: String| -> Result<Vec<i64>, StoreError> {
        Ok(db
            .query(&sql, &[Value::Int(after)], &[FieldType::Int])?
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect())
    };
    // Gone with an erasure's entry — not merged away: a duplicate deleted to the bin and then
    // merged is gone from the table too, but it lives on in its survivor, not erased.
    let mut erased = ids(
        db,
        format!("SELECT DISTINCT a.customer_id FROM offboard_audit a WHERE a.seq > {p} AND a.operation IN ('purge', 'delete', 'erase') AND a.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = a.customer_id) AND NOT EXISTS (SELECT 1 FROM offboard_merged m WHERE m.id = a.customer_id) ORDER BY 1"),
    )?;
    let mut forgotten = ids(
        db,
        format!("SELECT DISTINCT a.customer_id FROM offboard_audit a WHERE a.seq > {p} AND a.operation = 'forget' AND a.customer_id IS NOT NULL ORDER BY 1"),
    )?;
    // A duplicate merged into someone erased or forgotten since is that person too: in a
    // backup from before the merge it is a customer of its own, and goes the same way.
    let into: std::collections::BTreeMap<i64, i64> = db
        .query(
            "SELECT id, into_id FROM offboard_merged",
            &[],
            &[FieldType::Int, FieldType::Int],
        )?
        .iter()
        .filter_map(|r| Some((r[0].as_i64()?, r[1].as_i64()?)))
        .collect();
    let last = |mut id: i64| {
        for _ in 0..into.len() {
            match into.get(&id) {
                Some(next) => id = *next,
                None => break,
            }
        }
        id
    };
    let (gone, masked): (Vec<i64>, Vec<i64>) = (erased.clone(), forgotten.clone());
    for dup in into.keys() {
        let survivor = last(*dup);
        if gone.binary_search(&survivor).is_ok() {
            erased.push(*dup);
        } else if masked.binary_search(&survivor).is_ok() {
            forgotten.push(*dup);
        }
    }
    erased.sort_unstable();
    erased.dedup();
    forgotten.sort_unstable();
    forgotten.dedup();
    Ok((erased, forgotten))
}

/// The highest id a table has given: its sequence's last value or its largest id.
fn high_water(db: &mut dyn Db, table: &str) -> Result<i64, StoreError> {
    let t = crate::db::q(table);
    let sql = match db.dialect() {
        offboard_model::rule::Dialect::Sqlite => format!(
            "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0), COALESCE((SELECT max(id) FROM {t}), 0))"
        ),
        offboard_model::rule::Dialect::Postgres => format!(
            "SELECT GREATEST(COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{t}', 'id')::regclass), 0), COALESCE((SELECT max(id) FROM {t}), 0))"
        ),
    };
    db.query_i64(&sql, &[])
}

/// Ids are never given twice, and numbers only go up, across a restore too: each table's
/// id sequence and each of offboard's number counters in the staged database is moved past
/// what the live one has given (a customer added after the backup had an id the backup's
/// sequence would give again).
pub fn keep_ids_ahead(
    live: &mut dyn Db,
    staged: &mut dyn Db,
    tables: &[String],
) -> Result<(), StoreError> {
    for table in tables {
        let given = high_water(live, table)?;
        if given <= high_water(staged, table)? {
            continue;
        }
        match staged.dialect() {
            offboard_model::rule::Dialect::Sqlite => {
                let n = staged.execute(
                    "UPDATE sqlite_sequence SET seq = ?1 WHERE name = ?2",
                    &[Value::Int(given), Value::Text(table.clone())],
                )?;
                if n == 0 {
                    staged.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (?2, ?1)",
                        &[Value::Int(given), Value::Text(table.clone())],
                    )?;
                }
            }
            offboard_model::rule::Dialect::Postgres => {
                staged.batch(&format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), {given})",
                    crate::db::q(table)
                ))?;
            }
        }
    }
    let counters = live.query(
        "SELECT name, next FROM offboard_sequences",
        &[],
        &[FieldType::Text, FieldType::Int],
    )?;
    for row in counters {
        let (Some(name), Some(next)) = (row[0].as_str(), row[1].as_i64()) else {
            continue;
        };
        let d = staged.dialect();
        staged.execute(
            &format!(
                "INSERT INTO offboard_sequences (name, next) VALUES ({}, {}) ON CONFLICT (name) DO UPDATE SET next = CASE WHEN excluded.next > offboard_sequences.next THEN excluded.next ELSE offboard_sequences.next END",
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Text(name.into()), Value::Int(next)],
        )?;
    }
    Ok(())
}
