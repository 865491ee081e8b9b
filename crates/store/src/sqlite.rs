//! The SQLite backend (rusqlite over the SQLite it bundles, 3.46: FTS5's `secure-delete`): WAL, foreign keys on,
//! `synchronous=FULL`, `secure_delete=ON` on every connection.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{CachedStatement, Connection, ToSql};

use offboard_model::rule::Dialect;
use offboard_model::{FieldType, Value};

use crate::db::{coerce, q, BulkSink, Db};
use crate::error::StoreError;

pub struct SqliteDb {
    conn: Connection,
    depth: u32,
    audit_op: Option<i64>,
    merge_owed: bool,
}

impl SqliteDb {
    /// Opens (creating if needed) the database file at `path`; `:memory:` for a private one.
    pub fn open(path: &str) -> Result<SqliteDb, StoreError> {
        // Held while this process runs: a restore cannot swap the file under it.
        crate::lock::shared(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA foreign_keys = ON;
             PRAGMA synchronous = FULL;
             PRAGMA secure_delete = ON;
             PRAGMA cache_size = -131072;
             PRAGMA temp_store = MEMORY;",
        )?;
        // Checked, not assumed: an SQLite built without it would leave erased rows in freed
        // pages of the file.
        let secure: i64 = conn.query_row("PRAGMA secure_delete", [], |r| r.get(0))?;
        if secure != 1 && path != ":memory:" {
            return Err(StoreError::Refused(format!(
                "this SQLite ({}) does not overwrite deleted data (secure_delete stays off), so erased personal data could remain in {path}; use an SQLite built with secure_delete",
                rusqlite::version()
            )));
        }
        conn.set_prepared_statement_cache_capacity(64);
        conn.create_scalar_function(
            crate::search::CONTAINS,
            2,
            rusqlite::functions::FunctionFlags::SQLITE_UTF8
                | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
            |ctx| {
                let (ValueRef::Text(text), ValueRef::Text(part)) = (ctx.get_raw(0), ctx.get_raw(1))
                else {
                    return Ok(false);
                };
                Ok(crate::search::contains_any_case(
                    &String::from_utf8_lossy(text),
                    &String::from_utf8_lossy(part),
                ))
            },
        )?;
        Ok(SqliteDb {
            conn,
            depth: 0,
            audit_op: None,
            merge_owed: false,
        })
    }
}

struct P<'a>(&'a Value);

impl ToSql for P<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Int(i) | Value::Money(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            Value::Date(d) => ToSqlOutput::Owned(V::Text(d.to_string())),
            Value::DateTime(d) => ToSqlOutput::Owned(V::Text(d.to_string())),
        })
    }
}

fn bind(stmt: &mut CachedStatement<'_>, params: &[Value]) -> Result<(), StoreError> {
    bind_at(stmt, 0, params)
}

/// Binds `params` to the statement's parameters after the first `at` (a batch's row).
fn bind_at(stmt: &mut CachedStatement<'_>, at: usize, params: &[Value]) -> Result<(), StoreError> {
    crate::db::no_nul(params)?;
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(at + i + 1, P(p))?;
    }
    Ok(())
}

fn decode(v: ValueRef<'_>, ty: FieldType) -> Value {
    let raw = match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Int(f as i64),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Value::Text(String::from_utf8_lossy(t).into_owned())
        }
    };
    coerce(raw, ty)
}

impl Db for SqliteDb {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<(), StoreError> {
        crate::db::trace(sql, || Ok(self.conn.execute_batch(sql)?))
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        crate::db::trace(sql, || {
            let mut stmt = self.conn.prepare_cached(sql)?;
            bind(&mut stmt, params)?;
            Ok(stmt.raw_execute()? as u64)
        })
    }

    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        types: &[FieldType],
        each: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        crate::db::trace(sql, || {
            let mut stmt = self.conn.prepare_cached(sql)?;
            bind(&mut stmt, params)?;
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next()? {
                let mut out = Vec::with_capacity(types.len());
                for (i, ty) in types.iter().enumerate() {
                    out.push(decode(row.get_ref(i)?, *ty));
                }
                each(out)?;
            }
            Ok(())
        })
    }

    fn depth(&mut self) -> &mut u32 {
        &mut self.depth
    }

    fn audit_op(&mut self) -> &mut Option<i64> {
        &mut self.audit_op
    }

    fn search_merge_owed(&mut self) -> Option<&mut bool> {
        Some(&mut self.merge_owed)
    }

    fn bulk<'a>(
        &'a mut self,
        table: &str,
        columns: &[(String, FieldType)],
    ) -> Result<Box<dyn BulkSink + 'a>, StoreError> {
        // Rows go in batches: one statement inserts `batch` of them (the VALUES list of the
        // batch, its first LIMIT rows), which spares each row a statement's start and end —
        // an AUTOINCREMENT table's sequence read and written, its cursors opened and closed.
        let width = columns.len().max(1);
        let batch = (BATCH_PARAMS / width).clamp(1, BATCH_ROWS);
        let names: Vec<String> = columns.iter().map(|(c, _)| q(c)).collect();
        let rows: Vec<String> = (0..batch)
            .map(|r| {
                let marks: Vec<String> =
                    (1..=width).map(|i| format!("?{}", r * width + i)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM (VALUES {}) LIMIT ?{}",
            q(table),
            names.join(", "),
            rows.join(", "),
            batch * width + 1
        );
        let stmt = self.conn.prepare_cached(&sql)?;
        Ok(Box::new(SqliteSink {
            stmt,
            width,
            batch,
            pending: 0,
            rows: 0,
        }))
    }
}

/// At most this many parameters, and rows, in one statement of a bulk load.
const BATCH_PARAMS: usize = 4000;
const BATCH_ROWS: usize = 100;

struct SqliteSink<'a> {
    stmt: CachedStatement<'a>,
    width: usize,
    batch: usize,
    /// Rows bound and not yet inserted.
    pending: usize,
    rows: u64,
}

impl SqliteSink<'_> {
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending == 0 {
            return Ok(());
        }
        self.stmt
            .raw_bind_parameter(self.batch * self.width + 1, self.pending as i64)?;
        self.rows += self.stmt.raw_execute()? as u64;
        self.pending = 0;
        Ok(())
    }
}

impl BulkSink for SqliteSink<'_> {
    fn write(&mut self, row: &[Value]) -> Result<(), StoreError> {
        bind_at(&mut self.stmt, self.pending * self.width, row)?;
        self.pending += 1;
        if self.pending == self.batch {
            self.flush()?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64, StoreError> {
        self.flush()?;
        Ok(self.rows)
    }
}
