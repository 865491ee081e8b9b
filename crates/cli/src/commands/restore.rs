//! `offboard restore FILE`: a backup back in the database's place, without resurrecting
//! anyone erased or forgotten since it was taken (`offboard_engine::restore` does it; this
//! says what it found and asks).

use offboard_engine::restore::{restore_backup, RestorePlan};

use super::*;

pub(super) fn restore(g: &Global, file: &Path, dry_run: bool, yes: bool) -> anyhow::Result<()> {
    let mut live = open(g)?;
    let me = actor(g, &mut live)?;
    let shown = |plan: &RestorePlan| {
        let lost = plan.live_ends_at - plan.backup_ends_at;
        println!(
            "{} ends at audit entry {}; this database's log is at {}: the {lost} change(s) logged since are not in the backup{}",
            file.display(),
            plan.backup_ends_at,
            plan.live_ends_at,
            if lost > 0 { " (the database they are in is kept beside it)" } else { "" }
        );
        println!(
            "re-applying what was logged since: erase {} customer(s){}, forget {}{}",
            plan.erase.len(),
            ids_text(&plan.erase),
            plan.forget.len(),
            ids_text(&plan.forget)
        );
    };
    let mut asked_no = false;
    let (plan, done) = restore_backup(live, &g.db, &me, file, dry_run, &mut |plan| {
        shown(plan);
        if asks() && !yes {
            match yes_to(&format!("Replace {} with this backup? [y/N] ", g.db)) {
                Ok(true) => {}
                _ => {
                    asked_no = true;
                    return false;
                }
            }
        }
        true
    })?;
    let Some(done) = done else {
        if dry_run {
            shown(&plan);
            println!("dry run: nothing was changed");
        } else if asked_no {
            println!("nothing was changed");
        }
        return Ok(());
    };
    if !done.forgotten_instead.is_empty() {
        println!(
            "{} customer(s) something in the backup still blocks were forgotten instead{}; the next purge erases them once nothing blocks",
            done.forgotten_instead.len(),
            ids_text(&done.forgotten_instead)
        );
    }
    println!(
        "restored {} in place of {}; the database it replaced is kept as {}",
        file.display(),
        g.db,
        done.kept
    );
    Ok(())
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
