//! `offboard restore FILE`: a backup back in the database's place, without resurrecting
//! anyone erased or forgotten since it was taken.
//!
//! The backup is staged beside the live database (a copy of the SQLite file; a `pg_restore`
//! into a new PostgreSQL database), checked to be an earlier state of the same audit log,
//! and the erasures and forgets the live log holds after the backup's last entry are applied
//! to it — by customer id, which is all the log needs to keep. Only then does it take the
//! live database's place; the live one is kept beside it under a new name. A dry run, or
//! any failure before the swap, leaves the live database as it was.

use offboard_store::restore;
use offboard_store::DbUrl;

use super::*;

pub(super) fn restore(g: &Global, file: &Path, dry_run: bool, yes: bool) -> anyhow::Result<()> {
    if !file.exists() {
        bail!("there is no backup {}", file.display());
    }
    let mut live = open(g)?;
    authorize(g, &mut live, Operation::Import)?;
    let me = actor(g, &mut live)?;
    Engine::new(&mut live, me.clone()).allow(Operation::Purge)?;
    if !dry_run {
        // Nobody else may have the database open from here to the swap: a server writing
        // on would write to the copy set aside.
        restore::hold_exclusively(&g.db)?;
    }
    let model = live.model().clone();
    let staged = restore::stage(&g.db)?;
    let result = (|| -> anyhow::Result<Option<String>> {
        load_backup(file, &staged)?;
        let (mut store, _) = Database::connect(&staged)
            .with_context(|| format!("cannot open the staged backup {staged}"))?
            .with_model(model.clone())
            .context("the backup does not fit the model")?;
        // The backup must be an earlier state of this database's log.
        let (seq, hash) = restore::audit_head(store.db())?;
        if seq > 0 {
            match restore::audit_hash(live.db(), seq)? {
                Some(h) if h == hash => {}
                Some(_) => bail!(
                    "{} is not an earlier state of this database: entry {seq} of its audit log differs from this database's; nothing was changed",
                    file.display()
                ),
                None => bail!(
                    "{} holds audit entries up to {seq}, beyond this database's log; it is not an earlier state of this database; nothing was changed",
                    file.display()
                ),
            }
        }
        let (live_seq, _) = restore::audit_head(live.db())?;
        let (erased, forgotten) = restore::erased_and_forgotten_after(live.db(), seq)?;
        let present = |store: &mut Store, ids: &[i64]| -> anyhow::Result<Vec<i64>> {
            let mut out = Vec::new();
            if ids.is_empty() {
                return Ok(out);
            }
            let q = offboard_store::customers::ListQuery {
                ids: Some(ids.to_vec()),
                ..offboard_store::customers::ListQuery::view(View::All)
            };
            store.list_customers(&q, &mut |c| {
                out.push(c.id);
                Ok(())
            })?;
            Ok(out)
        };
        let to_erase = present(&mut store, &erased)?;
        let to_forget: Vec<i64> = present(&mut store, &forgotten)?
            .into_iter()
            .filter(|id| !to_erase.contains(id))
            .collect();
        let lost = live_seq - seq;
        println!(
            "{} ends at audit entry {seq}; this database's log is at {live_seq}: the {lost} change(s) logged since are not in the backup{}",
            file.display(),
            if lost > 0 { " (the database they are in is kept beside it)" } else { "" }
        );
        println!(
            "re-applying what was logged since: erase {} customer(s){}, forget {}{}",
            to_erase.len(),
            ids_text(&to_erase),
            to_forget.len(),
            ids_text(&to_forget)
        );
        if dry_run {
            println!("dry run: nothing was changed");
            return Ok(None);
        }
        if asks() && !yes && !yes_to(&format!("Replace {} with this backup? [y/N] ", g.db))? {
            println!("nothing was changed");
            return Ok(None);
        }
        let mut tables = vec!["customers".to_string()];
        tables.extend(model.records.iter().map(|k| k.name.clone()));
        restore::keep_ids_ahead(live.db(), store.db(), &tables)?;
        let mut engine = Engine::new(&mut store, me.clone());
        let mut blocked = Vec::new();
        if !to_erase.is_empty() {
            let plan = engine.erase_customers(&to_erase, false)?;
            blocked = plan
                .customers
                .iter()
                .filter(|c| c.outcome != Outcome::Proceeds)
                .map(|c| c.id)
                .collect();
        }
        // One that something in the backup still blocks (an invoice unpaid then) is forgotten
        // instead: its personal data masked, and the next purge erases it.
        let mut forget: Vec<i64> = to_forget.clone();
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
            "erased_again": to_erase.len() - blocked.len(),
            "forgotten_again": forgot,
            "forgotten_instead_of_erased": blocked.len(),
        }))?;
        if !blocked.is_empty() {
            println!(
                "{} customer(s) something in the backup still blocks were forgotten instead{}; the next purge erases them once nothing blocks",
                blocked.len(),
                ids_text(&blocked)
            );
        }
        drop(engine);
        if store.dialect() == offboard_store::Dialect::Postgres {
            // The staged tables still hold the erased rows as dead tuples: rewritten now,
            // before the database is put in place.
            store.compact()?;
        }
        drop(store);
        drop(live);
        let stamp = offboard_model::DateTime::now()
            .to_string()
            .replace([' ', ':'], "-");
        let kept = restore::swap(&g.db, &staged, &stamp)?;
        Ok(Some(kept))
    })();
    match result {
        Ok(Some(kept)) => {
            println!(
                "restored {} in place of {}; the database it replaced is kept as {kept}",
                file.display(),
                g.db
            );
            Ok(())
        }
        Ok(None) => {
            restore::discard(&staged)?;
            Ok(())
        }
        Err(e) => {
            let _ = restore::discard(&staged);
            Err(e)
        }
    }
}

fn ids_text(ids: &[i64]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = ids.iter().take(10).map(|i| i.to_string()).collect();
    let more = if ids.len() > 10 {
        format!(" and {} more", ids.len() - 10)
    } else {
        String::new()
    };
    format!(" ({}{more})", shown.join(", "))
}

/// Puts the backup's contents into the staged database: a copy of the SQLite file, or a
/// `pg_restore` of the archive.
fn load_backup(file: &Path, staged: &str) -> anyhow::Result<()> {
    match DbUrl::parse(staged)? {
        DbUrl::Sqlite(path) => {
            let mut head = [0u8; 16];
            use std::io::Read;
            std::fs::File::open(file)
                .and_then(|mut f| f.read_exact(&mut head))
                .with_context(|| format!("cannot read {}", file.display()))?;
            if &head != b"SQLite format 3\0" {
                bail!(
                    "{} is not a SQLite database (an `offboard backup` of a SQLite database is one); nothing was changed",
                    file.display()
                );
            }
            std::fs::copy(file, &path)
                .with_context(|| format!("cannot copy {} to {path}", file.display()))?;
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
                .context("cannot run pg_restore (Debian: apt-get install postgresql-client)")?;
            if !out.status.success() {
                bail!(
                    "pg_restore could not read {} ({}): {}; nothing was changed",
                    file.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(())
        }
    }
}
