//! One connection to SQLite or PostgreSQL behind one small interface: statements with typed
//! parameters, rows decoded to [`Value`]s, transactions and bulk loading. Everything above this
//! file is written once for both backends; only the dialect's spelling differs.

use offboard_model::rule::Dialect;
use offboard_model::{Date, DateTime, FieldType, Value};

use crate::error::StoreError;

/// Refuses a text value holding a NUL byte before it reaches the database: PostgreSQL cannot
/// store one and SQLite's text functions stop at it, so it would be a failure deep inside a
/// statement (a 500, a cut stream) instead of bad input. Every statement, query and bulk row
/// of both backends goes through here.
pub fn no_nul(params: &[Value]) -> Result<(), StoreError> {
    for p in params {
        if let Value::Text(s) = p {
            if s.as_bytes().contains(&0) {
                let shown: String = s.replace('\0', "\\0").chars().take(40).collect();
                return Err(StoreError::Invalid(format!(
                    "the value \"{shown}\" holds a NUL byte (\\0), which cannot be stored or searched; remove it"
                )));
            }
        }
    }
    Ok(())
}

/// A bulk loader for one table: rows in, one at a time, as fast as the backend allows
/// (a prepared INSERT of a batch of rows reused in SQLite, binary COPY in PostgreSQL). A sink
/// may hold rows back to write them in batches: only [`BulkSink::finish`] guarantees every
/// row written is in the table (a sink dropped without it, as an import that found a problem
/// drops its own, leaves the held rows out).
pub trait BulkSink {
    fn write(&mut self, row: &[Value]) -> Result<(), StoreError>;
    fn finish(self: Box<Self>) -> Result<u64, StoreError>;
}

/// A database connection.
pub trait Db: Send {
    fn dialect(&self) -> Dialect;
    /// Runs statements without parameters (DDL, several separated by `;`).
    fn batch(&mut self, sql: &str) -> Result<(), StoreError>;
    /// Runs one statement; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs a query, calling `each` per row with values decoded as `types` say.
    fn query_each(
        &mut self,
        sql: &str,
        params: &[Value],
        types: &[FieldType],
        each: &mut dyn FnMut(Vec<Value>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// How deep in transactions the connection is (0: none; more: savepoints inside one).
    fn depth(&mut self) -> &mut u32;
    /// The audit operation the open transaction writes (the sequence number of its first
    /// entry), so that every entry one transaction writes is one operation; cleared when the
    /// transaction ends.
    fn audit_op(&mut self) -> &mut Option<i64>;
    /// SQLite: whether an erasure on this connection deleted from the search index without
    /// taking the values out of its pages, so the index is owed a merge once it committed
    /// (`search::before_erasing`, `scrub::after_erasure`). `None` where there is no such index.
    fn search_merge_owed(&mut self) -> Option<&mut bool> {
        None
    }
    /// Starts loading rows into `table`'s `columns` (inside the current transaction).
    fn bulk<'a>(
        &'a mut self,
        table: &str,
        columns: &[(String, FieldType)],
    ) -> Result<Box<dyn BulkSink + 'a>, StoreError>;
}

impl dyn Db + '_ {
    /// All rows of a query.
    pub fn query(
        &mut self,
        sql: &str,
        params: &[Value],
        types: &[FieldType],
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let mut rows = Vec::new();
        self.query_each(sql, params, types, &mut |r| {
            rows.push(r);
            Ok(())
        })?;
        Ok(rows)
    }

    /// The first column of the first row, if any.
    pub fn query_value(
        &mut self,
        sql: &str,
        params: &[Value],
        ty: FieldType,
    ) -> Result<Option<Value>, StoreError> {
        Ok(self
            .query(sql, params, &[ty])?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next()))
    }

    /// A count or other integer from the first column of the first row (0 when none or null).
    pub fn query_i64(&mut self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        Ok(self
            .query_value(sql, params, FieldType::Int)?
            .and_then(|v| v.as_i64())
            .unwrap_or(0))
    }

    /// Starts a transaction, or a savepoint inside the current one: a store method called
    /// inside an engine's transaction (a change and its audit entry) nests instead of failing.
    pub fn begin(&mut self) -> Result<(), StoreError> {
        self.begin_as(true)
    }

    /// Starts a transaction that only reads the database's tables (it may fill temporary
    /// ones): in SQLite it takes no write lock, so it neither waits for a writer nor holds
    /// one up — a dry run while a purge commits.
    pub fn begin_reading(&mut self) -> Result<(), StoreError> {
        self.begin_as(false)
    }

    fn begin_as(&mut self, writing: bool) -> Result<(), StoreError> {
        let depth = *self.depth();
        let sql = match (depth, self.dialect()) {
            (0, Dialect::Sqlite) if writing => "BEGIN IMMEDIATE".to_string(),
            (0, Dialect::Sqlite) => "BEGIN DEFERRED".to_string(),
            (0, Dialect::Postgres) => "BEGIN".to_string(),
            (n, _) => format!("SAVEPOINT offboard_{n}"),
        };
        self.batch(&sql)?;
        *self.depth() += 1;
        Ok(())
    }

    /// Commits what [`begin`](Self::begin) started (releases the savepoint). A failed commit
    /// rolls back, so the connection is never left inside a transaction.
    pub fn commit(&mut self) -> Result<(), StoreError> {
        let depth = self.depth().saturating_sub(1);
        if depth > 0 {
            *self.depth() = depth;
            return self.batch(&format!("RELEASE SAVEPOINT offboard_{depth}"));
        }
        match self.batch("COMMIT") {
            Ok(()) => {
                *self.depth() = 0;
                *self.audit_op() = None;
                Ok(())
            }
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Undoes what [`begin`](Self::begin) started.
    pub fn rollback(&mut self) -> Result<(), StoreError> {
        let depth = self.depth().saturating_sub(1);
        *self.depth() = depth;
        if depth > 0 {
            self.batch(&format!(
                "ROLLBACK TO SAVEPOINT offboard_{depth}; RELEASE SAVEPOINT offboard_{depth}"
            ))
        } else {
            *self.audit_op() = None;
            self.batch("ROLLBACK")
        }
    }

    /// Runs `f` on one consistent snapshot of the database, changing nothing: a read-only
    /// transaction (PostgreSQL: `REPEATABLE READ READ ONLY`; SQLite: a deferred one, which
    /// takes no write lock), always rolled back. Inside an open transaction, `f` just runs.
    pub fn snapshot<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if *self.depth() > 0 {
            return f(self);
        }
        match self.dialect() {
            Dialect::Sqlite => self.batch("BEGIN DEFERRED")?,
            Dialect::Postgres => self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?,
        }
        *self.depth() = 1;
        let result = f(self);
        self.rollback()?;
        result
    }

    /// Runs `f` in a transaction (a savepoint when one is open): committed when it returns
    /// `Ok`, rolled back otherwise.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.begin()?;
        match f(self) {
            Ok(v) => {
                self.commit()?;
                Ok(v)
            }
            Err(e) => {
                // The rollback's own failure would hide the error that caused it.
                let _ = self.rollback();
                Err(e)
            }
        }
    }
}

/// The placeholder for parameter `n` (1-based).
pub fn ph(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

/// A quoted identifier. Names come from the checked model (a-z, 0-9, _), never from users.
pub fn q(name: &str) -> String {
    format!("\"{name}\"")
}

/// The column type a field is stored as.
pub fn sql_type(dialect: Dialect, ty: FieldType) -> &'static str {
    match (dialect, ty) {
        (Dialect::Sqlite, FieldType::Text | FieldType::Date | FieldType::DateTime) => "TEXT",
        (Dialect::Sqlite, _) => "INTEGER",
        (Dialect::Postgres, FieldType::Text) => "TEXT",
        (Dialect::Postgres, FieldType::Int | FieldType::Money) => "BIGINT",
        (Dialect::Postgres, FieldType::Bool) => "BOOLEAN",
        (Dialect::Postgres, FieldType::Date) => "DATE",
        (Dialect::Postgres, FieldType::DateTime) => "TIMESTAMP",
    }
}

/// Turns a value as a backend returned it into the field's type (SQLite keeps dates as text
/// and flags as integers; sums come back as integers).
pub fn coerce(v: Value, ty: FieldType) -> Value {
    match (v, ty) {
        (Value::Int(i), FieldType::Money) => Value::Money(i),
        (Value::Money(i), FieldType::Int) => Value::Int(i),
        (Value::Int(i), FieldType::Bool) => Value::Bool(i != 0),
        (Value::Text(s), FieldType::Date) => Date::parse(&s).map_or(Value::Text(s), Value::Date),
        (Value::Text(s), FieldType::DateTime) => {
            DateTime::parse(&s).map_or(Value::Text(s), Value::DateTime)
        }
        (Value::DateTime(d), FieldType::Date) => Value::Date(d.date()),
        (v, _) => v,
    }
}

/// `OFFBOARD_TRACE_SQL=1`: each statement's time on standard error, to find where an
/// operation spends it (`scripts/bench-*` say which phase; this says which statement). Off,
/// it costs a load of a flag set once.
pub(crate) fn trace<T>(sql: &str, f: impl FnOnce() -> T) -> T {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os("OFFBOARD_TRACE_SQL").is_some_and(|v| v != "0")) {
        return f();
    }
    let started = std::time::Instant::now();
    let out = f();
    let line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let line: String = line.chars().take(200).collect();
    eprintln!(
        "sql {:>9.1} ms  {line}",
        started.elapsed().as_secs_f64() * 1e3
    );
    out
}
