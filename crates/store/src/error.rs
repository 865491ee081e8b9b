//! The store's errors: what a caller can tell a user, and database failures.

use std::fmt;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The request was understood and refused: a number in use, a customer that is not active.
    #[error("{0}")]
    Refused(String),
    /// The operation was cancelled before it committed (a background job's cancellation):
    /// its transaction rolled back.
    #[error("{0}")]
    Cancelled(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Bad input: a value of the wrong type, an unknown field.
    #[error("{0}")]
    Invalid(String),
    /// The model changes the schema in a way that would lose data.
    #[error("the model cannot be applied to this database:\n{}", .0.iter().map(|s| format!("  - {s}")).collect::<Vec<_>>().join("\n"))]
    Schema(Vec<String>),
    /// An import with invalid rows: nothing was imported.
    #[error("{0}")]
    Import(ImportErrors),
    #[error("database URL `{0}` is not understood; use sqlite://FILE or postgres://USER@HOST/DB")]
    Url(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", pg_message(.0))]
    Postgres(#[from] postgres::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl StoreError {
    /// A database constraint refused the change (a foreign key, a unique value): the request
    /// conflicts with the data (often with a change made at the same time), not a failure.
    pub fn is_constraint(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::ConstraintViolation
            }
            StoreError::Postgres(e) => e.code().is_some_and(|c| c.code().starts_with("23")),
            _ => false,
        }
    }
}

impl StoreError {
    /// The database is busy, not broken: SQLite's lock held past the busy timeout, or
    /// PostgreSQL out of connections, a serialization failure or a deadlock. Trying again
    /// later can succeed; nothing was changed.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            StoreError::Postgres(e) => e.code().is_some_and(|c| {
                matches!(
                    c.code(),
                    "53300" | "53400" | "40001" | "40P01" | "55P03" | "57P03"
                )
            }),
            _ => false,
        }
    }
}

/// The server's own message ("duplicate key value violates ..."), not just "db error".
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_string(),
        },
        None => match std::error::Error::source(e) {
            Some(src) => format!("{e}: {src}"),
            None => e.to_string(),
        },
    }
}

/// One bad cell or row of an import: file, line, column (1-based) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub file: String,
    pub line: u64,
    pub column: Option<String>,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(c) => write!(
                f,
                "{}:{}: column `{c}`: {}",
                self.file, self.line, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// Every problem an import found (up to a limit), and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportErrors {
    pub errors: Vec<RowError>,
    pub total: u64,
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "nothing was imported: {} problem(s) found", self.total)?;
        for e in &self.errors {
            writeln!(f, "  {e}")?;
        }
        if self.total > self.errors.len() as u64 {
            writeln!(
                f,
                "  ... and {} more",
                self.total - self.errors.len() as u64
            )?;
        }
        Ok(())
    }
}
