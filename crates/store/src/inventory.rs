//! The personal-data inventory: every place in the database where offboard keeps a value of
//! a personal field, declared once, with what removes it. `offboard locate` searches every
//! column of every table and names each hit by its place here; a hit anywhere else is
//! reported as undeclared — the inventory test runs every operation with marked values and
//! fails on one, so a new writer of personal data must be declared (and scrubbed) first.
//!
//! What is searched by bytes only (no SQL can read it back as text): SQLite's full-text index
//! pages and PostgreSQL's planner statistics. Both are rewritten by the erasure's file step
//! (`scrub.rs`).

use serde::Serialize;

use offboard_model::rule::Dialect;
use offboard_model::{FieldType, Model, Value};

use crate::db::{ph, q, Db};
use crate::StoreError;

/// Why a place may hold a person's values, and what takes them out.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    pub table: String,
    pub column: String,
    /// What it is, in a sentence.
    pub what: String,
    /// What removes the values: the operations that scrub it.
    pub removed_by: &'static str,
    /// The column naming the customer the row is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_column: Option<String>,
    /// Held on purpose past an erasure, for a while (a privacy request until its retention).
    pub kept: bool,
}

fn place(
    table: &str,
    column: &str,
    what: impl Into<String>,
    removed_by: &'static str,
    customer_column: Option<&str>,
) -> Place {
    Place {
        table: table.into(),
        column: column.into(),
        what: what.into(),
        removed_by,
        customer_column: customer_column.map(str::to_string),
        kept: false,
    }
}

/// Every place of the main database that may hold a person's values.
pub fn places(model: &Model) -> Vec<Place> {
    let mut out = Vec::new();
    for p in model.personal_columns() {
        // (Found by value: a forgotten customer's own row is there, masked.)
        let (what, cc) = if p.table == "customers" {
            (format!("the customer's {} field", p.column), None)
        } else {
            (format!("a {} record's {} field", p.table, p.column), None)
        };
        out.push(Place {
            table: p.table.clone(),
            column: p.column.clone(),
            what,
            removed_by: "erasure (the row), forget (masked)",
            customer_column: cc,
            kept: false,
        });
    }
    out.push(place(
        "offboard_audit_personal",
        "data",
        "audit entries' personal parts, kept apart from the hash chain",
        "erasure and forget (of the customer and the duplicates merged into it)",
        Some("customer_id"),
    ));
    out.push(place(
        "offboard_deleted_records",
        "data",
        "the records recycle bin",
        "erasure, forget, the bin's retention",
        Some("customer_id"),
    ));
    if !model.tombstone.is_empty() {
        // The model chose to keep these of an erased customer (`[privacy] tombstone`), in
        // the entry that records the erasure.
        for c in ["customer_name", "details"] {
            let mut p = place(
                "offboard_audit",
                c,
                format!(
                    "an erasure's entry: the tombstone keeps {}",
                    model.tombstone.join(", ")
                ),
                "nothing: the model's [privacy] tombstone keeps it",
                None,
            );
            p.kept = true;
            out.push(p);
        }
    }
    for c in ["contact", "requester", "notes"] {
        let mut p = place(
            "offboard_privacy_requests",
            c,
            format!("a privacy request's {c}, as it came in"),
            "an erasure or restriction request's completion; the others' retention ([privacy] keep_requests_days)",
            Some("customer_id"),
        );
        p.kept = true;
        out.push(p);
    }
    out
}

/// A place where a value was found.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub table: String,
    pub column: String,
    /// How many rows hold it.
    pub rows: i64,
    /// The place in the inventory (`None`: undeclared — a bug to report).
    pub place: Option<Place>,
}

/// Tables and their text columns, from the database's own catalog (offboard's tables, the
/// model's, everything but the search index's internals).
pub fn text_columns(db: &mut dyn Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows = match db.dialect() {
        Dialect::Sqlite => db.query(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.sql NOT LIKE 'CREATE VIRTUAL%' \
             AND m.name NOT LIKE '%_fts_%' AND upper(p.type) NOT IN ('INTEGER', 'BIGINT', 'REAL', 'BOOLEAN') \
             ORDER BY m.name, p.cid",
            &[],
            &[FieldType::Text, FieldType::Text],
        )?,
        Dialect::Postgres => db.query(
            "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
             JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
             AND c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'date') \
             ORDER BY c.table_name, c.ordinal_position",
            &[],
            &[FieldType::Text, FieldType::Text],
        )?,
    };
    Ok(rows
        .iter()
        .filter_map(|r| Some((r[0].as_str()?.to_string(), r[1].as_str()?.to_string())))
        .collect())
}

/// Searches every text column of every table for any of `values` (case-insensitive, as a
/// part of the text: a name inside a note, an email inside JSON). One statement per column.
pub fn search(
    db: &mut dyn Db,
    declared: &[Place],
    values: &[String],
) -> Result<Vec<Hit>, StoreError> {
    let values: Vec<String> = values
        .iter()
        .map(|v| v.trim().to_lowercase())
        .filter(|v| v.chars().count() >= 4)
        .collect();
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let d = db.dialect();
    let mut hits = Vec::new();
    for (table, column) in text_columns(db)? {
        let col = match d {
            Dialect::Sqlite => format!("lower(CAST({} AS TEXT))", q(&column)),
            Dialect::Postgres => format!("lower({}::text)", q(&column)),
        };
        let conds: Vec<String> = (1..=values.len())
            .map(|n| match d {
                Dialect::Sqlite => format!("instr({col}, {}) > 0", ph(d, n)),
                Dialect::Postgres => format!("strpos({col}, {}) > 0", ph(d, n)),
            })
            .collect();
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {}",
            q(&table),
            conds.join(" OR ")
        );
        let params: Vec<Value> = values.iter().map(|v| Value::Text(v.clone())).collect();
        let rows = db.query_i64(&sql, &params)?;
        if rows > 0 {
            let place = declared
                .iter()
                .find(|p| p.table == table && p.column == column)
                .cloned();
            hits.push(Hit {
                table,
                column,
                rows,
                place,
            });
        }
    }
    Ok(hits)
}

/// Rows about customer `id` in the declared places that name their customer (its audit
/// parts, its binned records, requests with a contact), whatever their values.
pub fn about_customer(
    db: &mut dyn Db,
    declared: &[Place],
    id: i64,
) -> Result<Vec<Hit>, StoreError> {
    let d = db.dialect();
    let mut hits = Vec::new();
    for p in declared {
        let Some(cc) = &p.customer_column else {
            continue;
        };
        let sql = format!(
            "SELECT count(*) FROM {} WHERE {} = {} AND {} IS NOT NULL",
            q(&p.table),
            q(cc),
            ph(d, 1),
            q(&p.column)
        );
        let rows = db.query_i64(&sql, &[Value::Int(id)])?;
        if rows > 0 {
            hits.push(Hit {
                table: p.table.clone(),
                column: p.column.clone(),
                rows,
                place: Some(p.clone()),
            });
        }
    }
    Ok(hits)
}

/// The files the byte scan reads for the database at `url`: SQLite's file, its write-ahead
/// log and the job book's two; none for PostgreSQL (its relation files are read through the
/// server).
pub fn database_files(url: &str) -> Vec<std::path::PathBuf> {
    match crate::DbUrl::parse(url) {
        Ok(crate::DbUrl::Sqlite(f)) => ["", "-wal", ".jobs", ".jobs-wal"]
            .iter()
            .map(|s| std::path::PathBuf::from(format!("{f}{s}")))
            .collect(),
        _ => Vec::new(),
    }
}

/// A file (or PostgreSQL relation) whose bytes hold one of the values.
#[derive(Debug, Clone, Serialize)]
pub struct FileHit {
    pub file: String,
    /// PostgreSQL: the relation the file belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
}

/// The byte scan: SQLite reads the database file, its write-ahead log and the job book's;
/// PostgreSQL reads every relation file of this database's tables, their indexes and TOAST
/// and of `pg_statistic`, through `pg_read_binary_file` (a superuser, or the
/// `pg_read_server_files` role). Returns the files scanned and where a value was found.
pub fn scan_files(
    db: &mut dyn Db,
    sqlite_files: &[std::path::PathBuf],
    values: &[String],
) -> Result<(usize, Vec<FileHit>), StoreError> {
    let needles: Vec<&[u8]> = values
        .iter()
        .filter(|v| v.chars().count() >= 4)
        .map(|v| v.as_bytes())
        .collect();
    let mut hits = Vec::new();
    match db.dialect() {
        Dialect::Sqlite => {
            let mut scanned = 0;
            for f in sqlite_files {
                let Ok(bytes) = std::fs::read(f) else {
                    continue;
                };
                scanned += 1;
                if needles
                    .iter()
                    .any(|n| bytes.windows(n.len()).any(|w| w == *n))
                {
                    hits.push(FileHit {
                        file: f.display().to_string(),
                        relation: None,
                    });
                }
            }
            Ok((scanned, hits))
        }
        Dialect::Postgres => {
            let rels = db.query(
                "SELECT c.relname::text, pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE pg_relation_filepath(c.oid) IS NOT NULL AND c.relkind IN ('r', 'i', 't', 'm') AND ( \
                   n.nspname = current_schema() \
                   OR c.oid = 'pg_catalog.pg_statistic'::regclass \
                   OR c.oid IN (SELECT reltoastrelid FROM pg_class t JOIN pg_namespace m ON m.oid = t.relnamespace WHERE m.nspname = current_schema() OR t.oid = 'pg_catalog.pg_statistic'::regclass) \
                   OR c.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid IN (SELECT reltoastrelid FROM pg_class t JOIN pg_namespace m ON m.oid = t.relnamespace WHERE m.nspname = current_schema() OR t.oid = 'pg_catalog.pg_statistic'::regclass)))",
                &[],
                &[FieldType::Text, FieldType::Text],
            )?;
            let mut scanned = 0;
            for r in &rels {
                let (Some(rel), Some(path)) = (r[0].as_str(), r[1].as_str()) else {
                    continue;
                };
                for seg in 0.. {
                    let file = if seg == 0 {
                        path.to_string()
                    } else {
                        format!("{path}.{seg}")
                    };
                    match scan_pg_file(db, &file, &needles)? {
                        None => break,
                        Some(found) => {
                            scanned += 1;
                            if found {
                                hits.push(FileHit {
                                    file,
                                    relation: Some(rel.to_string()),
                                });
                            }
                        }
                    }
                }
            }
            Ok((scanned, hits))
        }
    }
}

/// PostgreSQL: whether one relation file holds any of `needles` (`None`: no such file), read
/// through the server in chunks that overlap by more than the longest needle.
fn scan_pg_file(
    db: &mut dyn Db,
    file: &str,
    needles: &[&[u8]],
) -> Result<Option<bool>, StoreError> {
    const CHUNK: i64 = 64 << 20;
    let overlap = needles.iter().map(|n| n.len()).max().unwrap_or(0) as i64;
    let mut conds = Vec::new();
    let mut params = vec![Value::Text(file.to_string()), Value::Int(0), Value::Int(0)];
    for n in needles {
        params.push(Value::Text(String::from_utf8_lossy(n).into_owned()));
        conds.push(format!(
            "position(convert_to({}, 'UTF8') IN f.b) > 0",
            ph(Dialect::Postgres, params.len())
        ));
    }
    let sql = format!(
        "SELECT f.b IS NOT NULL, COALESCE(length(f.b), 0)::bigint, {} FROM (SELECT pg_read_binary_file($1, $2, $3, true) AS b) f",
        if conds.is_empty() {
            "false".to_string()
        } else {
            format!("COALESCE({}, false)", conds.join(" OR "))
        }
    );
    let mut offset = 0i64;
    loop {
        params[1] = Value::Int(offset);
        params[2] = Value::Int(CHUNK + overlap);
        let row = db.query(
            &sql,
            &params,
            &[FieldType::Bool, FieldType::Int, FieldType::Bool],
        )?;
        let Some(r) = row.first() else {
            return Ok(None);
        };
        if r[0] != Value::Bool(true) {
            return Ok((offset > 0).then_some(false));
        }
        if r[2] == Value::Bool(true) {
            return Ok(Some(true));
        }
        if r[1].as_i64().unwrap_or(0) < CHUNK + overlap {
            return Ok(Some(false));
        }
        offset += CHUNK;
    }
}

/// PostgreSQL: no personal value is ever sampled into the planner's statistics. `ANALYZE`
/// keeps most common values and histogram bounds of every column in `pg_statistic`, where an
/// erasure cannot reach them but by rewriting a catalog; so every place of the inventory —
/// and every expression index over such a table (`lower(email)`) — gets a statistics target
/// of 0, and the statistics already gathered for them are dropped. Done when the places
/// change (their list is kept in `offboard_meta`); the planner estimates those columns with
/// its defaults, which the indexes on them do not need.
pub fn keep_out_of_statistics(db: &mut dyn Db, model: &Model) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let declared = places(model);
    let signature: Vec<String> = declared
        .iter()
        .map(|p| format!("{}.{}", p.table, p.column))
        .collect();
    let signature = signature.join(",");
    const KEY: &str = "statistics_kept_out";
    if crate::migrate::get_meta(db, KEY)?.as_deref() == Some(signature.as_str()) {
        return Ok(());
    }
    set_statistics_targets(db, model)?;
    crate::migrate::set_meta(db, KEY, &signature)
}

/// [`keep_out_of_statistics`] now, whatever was done before (after indexes were made again).
pub fn set_statistics_targets(db: &mut dyn Db, model: &Model) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let declared = places(model);
    let mut tables: Vec<&str> = Vec::new();
    for p in &declared {
        db.batch(&format!(
            "ALTER TABLE {} ALTER COLUMN {} SET STATISTICS 0",
            q(&p.table),
            q(&p.column)
        ))?;
        if !tables.contains(&p.table.as_str()) {
            tables.push(&p.table);
        }
    }
    for t in tables {
        let exprs = db.query(
            "SELECT c.relname::text, k.n::bigint FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid, \
             unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
             WHERE i.indrelid = to_regclass($1) AND k.attnum = 0",
            &[Value::Text(q(t))],
            &[FieldType::Text, FieldType::Int],
        )?;
        for r in exprs {
            if let (Some(index), Some(n)) = (r[0].as_str(), r[1].as_i64()) {
                db.batch(&format!(
                    "ALTER INDEX {} ALTER COLUMN {n} SET STATISTICS 0",
                    q(index)
                ))?;
            }
        }
        // What an earlier ANALYZE gathered goes (a superuser's right; otherwise the next
        // `offboard compact` rewrites it away with the tables).
        let rel = q(t).replace('\'', "''");
        let _ = db.batch(&format!(
            "DELETE FROM pg_catalog.pg_statistic s USING pg_attribute a \
             WHERE s.starelid = to_regclass('{rel}') AND a.attrelid = s.starelid AND a.attnum = s.staattnum AND a.attstattarget = 0"
        ));
        let _ = db.batch(&format!(
            "DELETE FROM pg_catalog.pg_statistic s USING pg_index i, pg_attribute a \
             WHERE i.indrelid = to_regclass('{rel}') AND s.starelid = i.indexrelid \
             AND a.attrelid = s.starelid AND a.attnum = s.staattnum AND a.attstattarget = 0"
        ));
    }
    Ok(())
}
