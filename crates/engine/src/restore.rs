//! A backup back in the database's place, without resurrecting anyone erased or forgotten
//! since it was taken: the one path `offboard restore` and the model test go through.
//!
//! The backup is staged beside the live database (a copy of the SQLite file; a `pg_restore`
//! into a new PostgreSQL database), checked to be an earlier state of the same audit log,
//! and the erasures and forgets the live log holds after the backup's last entry are applied
//! to it — by customer id, which is all the log needs to keep. Only then does it take the
//! live database's place; the live one is kept beside it under a new name. A dry run, a
//! refusal, or any failure before the swap leaves the live database as it was.

use std::path::Path;

use serde::Serialize;

use offboard_model::model::{Operation, View};
use offboard_store::customers::ListQuery;
use offboard_store::restore;
use offboard_store::{Database, Store, StoreError};

use crate::{Actor, Engine, EngineError, Outcome};

/// What a restore would do: where the backup's log ends, where the live one does, and the
/// erasures and forgets logged since that it applies to the backup again.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    pub backup_ends_at: i64,
    pub live_ends_at: i64,
    /// Customers erased since the backup, present in it: erased again.
    pub erase: Vec<i64>,
    /// Customers forgotten since (and not erased), present in it: forgotten again.
    pub forget: Vec<i64>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub erased_again: usize,
    pub forgotten_again: usize,
    /// Erased since, but something in the backup still blocks it (an invoice unpaid then):
    /// forgotten instead, for the next purge to erase.
    pub forgotten_instead: Vec<i64>,
    /// The name the replaced database is kept under.
    pub kept: String,
}

/// Restores the backup `file` in place of the database at `url` (open as `live`, which it
/// closes before the swap: reopen the database afterwards). Needs `import` and `purge`.
/// `confirm` sees the plan before anything is applied and may say no; a dry run stops there.
pub fn restore_backup(
    mut live: Store,
    url: &str,
    actor: &Actor,
    file: &Path,
    dry_run: bool,
    confirm: &mut dyn FnMut(&RestorePlan) -> bool,
) -> Result<(RestorePlan, Option<Restored>), EngineError> {
    if !file.exists() {
        return Err(StoreError::NotFound(format!("there is no backup {}", file.display())).into());
    }
    {
        let e = Engine::new(&mut live, actor.clone());
        e.allow(Operation::Import)?;
        e.allow(Operation::Purge)?;
    }
    if !dry_run {
        // Nobody else may have the database open from here to the swap: a server writing
        // on would write to the copy set aside.
        restore::hold_exclusively(url)?;
    }
    let model = live.model().clone();
    let staged = restore::stage(url)?;
    let result = (|| -> Result<(RestorePlan, Option<Restored>), EngineError> {
        restore::load_backup(file, &staged)?;
        let (mut store, _) = Database::connect(&staged)?.with_model(model.clone())?;
        // The backup must be an earlier state of this database's log.
        let (seq, hash) = restore::audit_head(store.db())?;
        if seq > 0 {
            match restore::audit_hash(live.db(), seq)? {
                Some(h) if h == hash => {}
                Some(_) => return Err(EngineError::Refused(format!(
                    "{} is not an earlier state of this database: entry {seq} of its audit log differs from this database's; nothing was changed",
                    file.display()
                ))),
                None => return Err(EngineError::Refused(format!(
                    "{} holds audit entries up to {seq}, beyond this database's log; it is not an earlier state of this database; nothing was changed",
                    file.display()
                ))),
            }
        }
        let (live_seq, _) = restore::audit_head(live.db())?;
        let (erased, forgotten) = restore::erased_and_forgotten_after(live.db(), seq)?;
        let erase = present(&mut store, &erased)?;
        let forget: Vec<i64> = present(&mut store, &forgotten)?
            .into_iter()
            .filter(|id| !erase.contains(id))
            .collect();
        let plan = RestorePlan {
            backup_ends_at: seq,
            live_ends_at: live_seq,
            erase,
            forget,
        };
        if dry_run || !confirm(&plan) {
            return Ok((plan, None));
        }
        let mut tables = vec!["customers".to_string()];
        tables.extend(model.records.iter().map(|k| k.name.clone()));
        restore::keep_ids_ahead(live.db(), store.db(), &tables)?;
        let mut engine = Engine::new(&mut store, actor.clone());
        let mut blocked = Vec::new();
        if !plan.erase.is_empty() {
            let erased = engine.erase_customers(&plan.erase, false)?;
            blocked = erased
                .customers
                .iter()
                .filter(|c| c.outcome != Outcome::Proceeds)
                .map(|c| c.id)
                .collect();
        }
        // One that something in the backup still blocks (an invoice unpaid then) is
        // forgotten instead: its personal data masked, and the next purge erases it.
        let mut forget = plan.forget.clone();
        forget.extend(&blocked);
        let forgot = if forget.is_empty() {
            0
        } else {
            engine.forget_customers(&forget)?
        };
        engine.record_restore(serde_json::json!({
            "backup": file.file_name().map(|f| f.to_string_lossy().into_owned()),
            "backup_ends_at": seq,
            "replaced_log_ended_at": live_seq,
            "erased_again": plan.erase.len() - blocked.len(),
            "forgotten_again": forgot,
            "forgotten_instead_of_erased": blocked.len(),
        }))?;
        drop(engine);
        if store.dialect() == offboard_store::Dialect::Postgres {
            // The staged tables still hold the erased rows as dead tuples: rewritten now,
            // before the database is put in place.
            store.compact()?;
        }
        let erased_again = plan.erase.len() - blocked.len();
        Ok((
            plan,
            Some(Restored {
                erased_again,
                forgotten_again: forgot,
                forgotten_instead: blocked,
                kept: String::new(),
            }),
        ))
    })();
    match result {
        Ok((plan, Some(mut done))) => {
            drop(live);
            let stamp = offboard_model::DateTime::now()
                .to_string()
                .replace([' ', ':'], "-");
            match restore::swap(url, &staged, &stamp) {
                Ok(kept) => {
                    done.kept = kept;
                    Ok((plan, Some(done)))
                }
                Err(e) => {
                    let _ = restore::discard(&staged);
                    Err(e.into())
                }
            }
        }
        Ok((plan, None)) => {
            restore::discard(&staged)?;
            Ok((plan, None))
        }
        Err(e) => {
            let _ = restore::discard(&staged);
            Err(e)
        }
    }
}

/// Those of `ids` the store holds (any status).
fn present(store: &mut Store, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    let mut out = Vec::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let q = ListQuery {
        ids: Some(ids.to_vec()),
        ..ListQuery::view(View::All)
    };
    store.list_customers(&q, &mut |c| {
        out.push(c.id);
        Ok(())
    })?;
    Ok(out)
}
