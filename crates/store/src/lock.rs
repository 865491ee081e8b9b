//! One process swaps an SQLite database's files at a time, and never under another's feet.
//!
//! Every process that opens an SQLite database file holds a shared lock on `FILE.lock`
//! beside it for as long as it runs (the server, each CLI command, a job runner). A restore
//! must take that lock exclusively before it stages anything: while a server or another
//! command has the database open it is refused, saying so, instead of renaming the file away
//! under a server that keeps writing to the set-aside copy. While a restore holds it, a new
//! process is refused until the restore has finished. (PostgreSQL needs none of this: the
//! restore counts the database's other sessions.)
//!
//! Why a lock file and not SQLite's own locks: SQLite's locks are held per transaction, so
//! an idle server holds none, and a rename does not conflict with them at all.

use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::error::StoreError;

/// The lock files this process holds, by path (a process takes each once).
fn held() -> &'static Mutex<BTreeMap<PathBuf, File>> {
    static HELD: OnceLock<Mutex<BTreeMap<PathBuf, File>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(BTreeMap::new()))
}

fn lock_path(db_path: &str) -> Option<PathBuf> {
    if db_path.is_empty() || db_path == ":memory:" || db_path.starts_with("file:") {
        return None;
    }
    let path = std::path::absolute(db_path).ok()?;
    Some(PathBuf::from(format!("{}.lock", path.display())))
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

/// Takes (once per process) the shared lock of the database at `db_path`.
pub(crate) fn shared(db_path: &str) -> Result<(), StoreError> {
    let Some(path) = lock_path(db_path) else {
        return Ok(());
    };
    let mut map = held()
        .lock()
        .map_err(|_| StoreError::Invalid("the lock table is poisoned".into()))?;
    if map.contains_key(&path) {
        return Ok(());
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("cannot open {}", path.display())))?;
    match file.try_lock_shared() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Refused(format!(
                "a restore is replacing {db_path} right now; run this again when it has finished"
            )))
        }
        Err(TryLockError::Error(e)) => {
            return Err(io(format!("cannot lock {}", path.display()))(e))
        }
    }
    map.insert(path, file);
    Ok(())
}

/// Makes this process the only one with the database at `db_path` open, until it exits:
/// refused while any other process (a server, another command) has it open.
pub fn exclusive(db_path: &str) -> Result<(), StoreError> {
    shared(db_path)?;
    let Some(path) = lock_path(db_path) else {
        return Ok(());
    };
    let map = held()
        .lock()
        .map_err(|_| StoreError::Invalid("the lock table is poisoned".into()))?;
    let Some(file) = map.get(&path) else {
        return Ok(());
    };
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(StoreError::Refused(format!(
            "another offboard has {db_path} open (a server, a job, another command); stop it and run the restore again — nothing was replaced"
        ))),
        Err(TryLockError::Error(e)) => Err(io(format!("cannot lock {}", path.display()))(e)),
    }
}
