//! offboard's storage layer: SQLite and PostgreSQL behind one API.
//!
//! [`Database::connect`] opens either backend from a URL and migrates offboard's own tables;
//! [`Database::with_model`] generates the model's tables and yields a [`Store`], through which
//! customers and records are read, written and imported. A `Store` is one connection and is
//! `Send`: an async server keeps a pool of them and runs calls on blocking threads.
#![forbid(unsafe_code)]

pub mod blocklist;
pub mod credentials;
pub mod customers;
pub mod db;
pub mod duplicates;
mod error;
pub mod export;
pub mod import;
pub mod inventory;
pub mod jobs;
pub mod lock;
mod migrate;
pub mod meta {
    //! Keys of `offboard_meta`: small facts offboard keeps about a database.
    pub use crate::migrate::{get_meta, is_current, set_meta};
}
mod postgres;
pub mod privacy;
pub mod records;
pub mod resolve;
pub mod restore;
pub mod schema;
pub mod scrub;
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
        let model = Arc::new(model);
        Store {
            db: self.db,
            base: Arc::clone(&model),
            model,
            reasons_seen: None,
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
        inventory::keep_out_of_statistics(self.db.as_mut(), &model)?;
        if self.stored_model()?.as_deref() != Some(model.source.as_str()) {
            migrate::set_meta(self.db.as_mut(), "model", &model.source)?;
        }
        let model = Arc::new(model);
        let mut store = Store {
            db: self.db,
            base: Arc::clone(&model),
            model,
            reasons_seen: None,
        };
        store.refresh_settings()?;
        Ok((store, changes))
    }
}

/// A database with its model: customers and records as the model defines them.
pub struct Store {
    db: Box<dyn Db>,
    /// The model with the settings kept in the database applied (the reasons managers edit).
    model: Arc<Model>,
    /// The model as its file says.
    base: Arc<Model>,
    /// The edited reasons last applied to `model` (their JSON in `offboard_meta`).
    reasons_seen: Option<String>,
}

/// The `offboard_meta` key of the deactivation reasons edited in the web UI: JSON, kind →
/// reasons, for the kinds whose list differs from the model file's.
const REASONS_KEY: &str = "reasons";

impl Store {
    /// Reads the settings kept in the database (one small query) and applies them to the
    /// model when they changed since: another connection or server may have edited them.
    pub fn refresh_settings(&mut self) -> Result<(), StoreError> {
        let stored = migrate::get_meta(self.db.as_mut(), REASONS_KEY)?;
        if stored == self.reasons_seen {
            return Ok(());
        }
        let overrides = parse_reasons(stored.as_deref())?;
        let mut model = (*self.base).clone();
        model.customer.reasons = self.base.customer.with_reasons(&overrides);
        self.model = Arc::new(model);
        self.reasons_seen = stored;
        Ok(())
    }

    /// The deactivation reasons edited in the database (kind → reasons).
    pub fn edited_reasons(
        &mut self,
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, StoreError> {
        let stored = migrate::get_meta(self.db.as_mut(), REASONS_KEY)?;
        parse_reasons(stored.as_deref())
    }

    /// Sets the reasons of a customer kind (`None`: back to the model file's list). Checked:
    /// a known kind, reasons that are not empty and not given twice.
    pub fn set_reasons(
        &mut self,
        kind: &str,
        reasons: Option<Vec<String>>,
    ) -> Result<Vec<String>, StoreError> {
        if !self.base.customer.kinds.iter().any(|k| k == kind) {
            return Err(StoreError::Invalid(format!(
                "`{kind}` is not a customer kind; kinds: {}",
                self.base.customer.kinds.join(", ")
            )));
        }
        let mut edited = self.edited_reasons()?;
        match reasons {
            None => {
                edited.remove(kind);
            }
            Some(list) => {
                let list: Vec<String> = list.iter().map(|r| r.trim().to_string()).collect();
                if list.is_empty() || list.iter().any(String::is_empty) {
                    return Err(StoreError::Invalid(format!(
                        "the reasons for a {kind} need at least one reason, none of them empty"
                    )));
                }
                if let Some(twice) = list
                    .iter()
                    .enumerate()
                    .find_map(|(i, r)| list[..i].contains(r).then_some(r))
                {
                    return Err(StoreError::Invalid(format!(
                        "the reason \"{twice}\" is given twice"
                    )));
                }
                edited.insert(kind.to_string(), list);
            }
        }
        let text = serde_json::to_string(&edited)
            .map_err(|e| StoreError::Invalid(format!("the reasons cannot be written: {e}")))?;
        migrate::set_meta(self.db.as_mut(), REASONS_KEY, &text)?;
        self.refresh_settings()?;
        Ok(self.model.customer.reasons_for(kind).to_vec())
    }

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

fn parse_reasons(
    stored: Option<&str>,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, StoreError> {
    match stored {
        None => Ok(Default::default()),
        Some(text) => serde_json::from_str(text).map_err(|e| {
            StoreError::Invalid(format!("the edited deactivation reasons do not read: {e}"))
        }),
    }
}
