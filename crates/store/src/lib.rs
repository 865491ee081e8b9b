//! offboard's storage layer: SQLite and PostgreSQL behind one API.
//!
//! [`Database::connect`] opens either backend from a URL and migrates offboard's own tables;
//! [`Database::with_model`] generates the model's tables and yields a [`Store`], through which
//! customers and records are read, written and imported. A `Store` is one connection and is
//! `Send`: an async server keeps a pool of them and runs calls on blocking threads.
#![forbid(unsafe_code)]

pub mod credentials;
pub mod customers;
pub mod db;
mod error;
pub mod export;
pub mod import;
pub mod jobs;
mod migrate;
pub mod meta {
    //! Keys of `offboard_meta`: small facts offboard keeps about a database.
    pub use crate::migrate::{get_meta, is_current, set_meta};
}
mod postgres;
pub mod records;
pub mod schema;
pub mod search;
mod sqlite;
pub mod stats;
pub mod users;
pub mod xlsx;

use std::sync::Arc;

use offboard_model::Model;

pub use db::{BulkSink, Db};
pub use error::{ImportErrors, RowError, StoreError};
pub use offboard_model::rule::Dialect;

/// Where the database is: a SQLite file or a PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbUrl {
    Sqlite(String),
    Postgres(String),
}

impl DbUrl {
    /// `sqlite://FILE` (relative), `sqlite:///ABS/FILE`, `sqlite::memory:`, a plain file path,
    /// or `postgres://USER@HOST[:PORT]/DB` (`postgresql://` too).
    pub fn parse(url: &str) -> Result<DbUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbUrl::Postgres(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::Url(url.to_string()));
            }
            return Ok(DbUrl::Sqlite(path.to_string()));
        }
        if url.contains("://") || url.is_empty() {
            return Err(StoreError::Url(url.to_string()));
        }
        Ok(DbUrl::Sqlite(url.to_string()))
    }
}

/// A connected, migrated database whose model is not chosen yet.
pub struct Database {
    db: Box<dyn Db>,
}

impl Database {
    pub fn connect(url: &str) -> Result<Database, StoreError> {
        let mut db: Box<dyn Db> = match DbUrl::parse(url)? {
            DbUrl::Sqlite(path) => Box::new(sqlite::SqliteDb::open(&path)?),
            DbUrl::Postgres(url) => Box::new(postgres::PgDb::connect(&url)?),
        };
        migrate::migrate(db.as_mut())?;
        Ok(Database { db })
    }

    /// Connects to a database another connection has already migrated and given its model
    /// (a server's further connections): nothing is checked or changed.
    pub fn open(url: &str) -> Result<Database, StoreError> {
        let db: Box<dyn Db> = match DbUrl::parse(url)? {
            DbUrl::Sqlite(path) => Box::new(sqlite::SqliteDb::open(&path)?),
            DbUrl::Postgres(url) => Box::new(postgres::PgDb::connect(&url)?),
        };
        Ok(Database { db })
    }

    /// The store for a model already applied to this database (see [`Database::open`]).
    pub fn applied(self, model: Model) -> Store {
        Store {
            db: self.db,
            model: Arc::new(model),
        }
    }

    /// Whether offboard's own tables are at this version (nothing needs migrating).
    pub fn is_current(&mut self) -> bool {
        migrate::is_current(self.db.as_mut()).unwrap_or(false)
    }

    /// The model file text last applied to this database, if any.
    pub fn stored_model(&mut self) -> Result<Option<String>, StoreError> {
        migrate::get_meta(self.db.as_mut(), "model")
    }

    /// Applies `model`: creates its tables, adds new kinds and fields, refuses changes that
    /// would lose data, and records the model's text. Returns the store and what changed.
    pub fn with_model(mut self, model: Model) -> Result<(Store, Vec<String>), StoreError> {
        let changes = schema::sync(self.db.as_mut(), &model)?;
        if self.stored_model()?.as_deref() != Some(model.source.as_str()) {
            migrate::set_meta(self.db.as_mut(), "model", &model.source)?;
        }
        Ok((
            Store {
                db: self.db,
                model: Arc::new(model),
            },
            changes,
        ))
    }
}

/// A database with its model: customers and records as the model defines them.
pub struct Store {
    db: Box<dyn Db>,
    model: Arc<Model>,
}

impl Store {
    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn shared_model(&self) -> Arc<Model> {
        Arc::clone(&self.model)
    }

    pub fn dialect(&self) -> Dialect {
        self.db.dialect()
    }

    /// The connection, for layers that write their own set-based SQL (the engine).
    pub fn db(&mut self) -> &mut dyn Db {
        self.db.as_mut()
    }

    /// The model and the connection at once.
    pub fn parts(&mut self) -> (&Model, &mut dyn Db) {
        (&self.model, self.db.as_mut())
    }

    /// Runs `f` in one transaction: the store's own methods called inside it nest (as
    /// savepoints), so a change and what the engine writes about it commit together or not at
    /// all.
    pub fn atomically<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, E>,
    ) -> Result<T, E> {
        self.db().begin()?;
        match f(self) {
            Ok(v) => {
                self.db().commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.db().rollback();
                Err(e)
            }
        }
    }
}
