//! Each command: open what it needs, call the library, print the result.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};

use offboard_model::model::{Operation, Status, View};
use offboard_model::presets::{preset, PRESETS};
use offboard_model::Model;
use offboard_store::customers::{Customer, ListQuery, NewCustomer, Sort, SortKey};
use offboard_store::resolve::Purpose;
use offboard_store::{Database, Store, StoreError};

use offboard_engine::records::RecordSelection;
use offboard_engine::{Actor, DeactivateOptions, Engine, EngineError, OpenItems, Outcome, Plan};

use crate::args::{
    AuditCmd, BlocklistCmd, Cli, Command, CustomersCmd, DemoArgs, Global, JobsCmd, PlanArgs,
    RecordsCmd, ScheduleCmd, Select, UsersCmd,
};
use crate::output;

mod admin;
mod data;
mod lifecycle;
mod privacy;
mod restore;
mod schedule;

use admin::*;
use data::*;
use lifecycle::*;
use privacy::*;
use restore::*;
use schedule::*;

/// A mistake in how the command was called: exit code 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    let result = match cli.command {
        Command::Init { preset, force } => init(g, &preset, force),
        Command::Presets => presets(g),
        Command::Check { file } => return check(g, file.as_deref().unwrap_or(&g.model)),
        Command::Demo(args) => demo(g, &args),
        Command::Import { dir } => import(g, &dir),
        Command::Export {
            dir,
            customer,
            format: _,
            out,
        } => match (dir, customer) {
            (_, Some(c)) => export_customer(g, &c, out.as_deref()),
            (Some(dir), None) => export(g, &dir),
            (None, None) => Err(Usage("name a directory, or --customer ID".into()).into()),
        },
        Command::Backup { file } => backup(g, &file),
        Command::Restore { file, dry_run, yes } => restore(g, &file, dry_run, yes),
        Command::Undo {
            entry,
            dry_run,
            plan,
        } => undo(g, entry, dry_run, plan),
        Command::Customers(cmd) => customers(g, cmd),
        Command::Records(cmd) => records(g, cmd),
        Command::Stats => stats(g),
        Command::Duplicates { by, kind, limit } => duplicates(g, by, kind, limit),
        Command::Serve {
            addr,
            secure_cookies,
            max_connections,
            max_operations,
            trust_forwarded_for,
            job_step_delay_ms,
            scheduler_every,
            no_scheduler,
        } => serve(
            g,
            &addr,
            secure_cookies,
            trust_forwarded_for,
            offboard_server::Limits {
                connections: max_connections
                    .unwrap_or(offboard_server::Limits::default().connections),
                heavy: max_operations,
                ..Default::default()
            },
            std::time::Duration::from_millis(job_step_delay_ms),
            (!no_scheduler).then(|| std::time::Duration::from_secs(scheduler_every.max(1))),
        ),
        Command::Jobs(cmd) => jobs(g, cmd),
        Command::Deactivate {
            customers,
            select,
            reason,
            reason_for,
            open_activities,
            plan,
        } => {
            let reasons: std::collections::BTreeMap<String, String> =
                reason_for.into_iter().collect();
            let open_items = open_activities.map(|o| {
                if o == "remove" {
                    OpenItems::Remove
                } else {
                    OpenItems::Complete
                }
            });
            lifecycle(g, &customers, Some(&select), &plan, None, |e, ids, dry| {
                e.deactivate(
                    ids,
                    &DeactivateOptions {
                        reason: reason.clone(),
                        reasons: reasons.clone(),
                        open_items,
                        preview: false,
                    },
                    dry,
                )
            })
        }
        Command::Reactivate {
            customers,
            select,
            plan,
        } => lifecycle(g, &customers, Some(&select), &plan, None, |e, ids, dry| {
            e.reactivate(ids, dry)
        }),
        Command::Delete {
            customers,
            select,
            move_to,
            reason,
            plan,
        } => match move_to {
            Some(to) => {
                if customers.len() == 1 {
                    pair_op(g, &customers[0], &to, &plan, |e, a, b| {
                        e.delete_moving(a, b, reason.clone(), plan.dry_run)
                    })
                } else {
                    Err(Usage("--move-to takes exactly one customer".into()).into())
                }
            }
            None => lifecycle(
                g,
                &customers,
                Some(&select),
                &plan,
                (!plan.yes).then_some("Delete"),
                |e, ids, dry| e.delete(ids, dry),
            ),
        },
        Command::Transfer {
            from,
            to,
            kinds,
            plan,
        } => pair_op(g, &from, &to, &plan, |e, a, b| {
            e.transfer(a, b, kinds.as_deref(), plan.dry_run)
        }),
        Command::Merge {
            duplicates,
            into,
            take,
            plan,
        } => merge(g, &duplicates, &into, &take, &plan),
        Command::Undelete {
            customers,
            select,
            plan,
        } => lifecycle(g, &customers, Some(&select), &plan, None, |e, ids, dry| {
            e.undelete(ids, dry)
        }),
        Command::Purge { plan } => lifecycle(
            g,
            &[],
            None,
            &plan,
            (!plan.yes).then_some("Erase"),
            |e, _, dry| e.purge(dry),
        ),
        Command::Erase { customers, plan } => lifecycle(
            g,
            &customers,
            None,
            &plan,
            (!plan.yes).then_some("Erase"),
            |e, ids, dry| e.erase_customers(ids, dry),
        ),
        Command::Forget { customer, plan } => forget(g, &customer, &plan),
        Command::Compact { dry_run } => compact(g, dry_run),
        Command::Schedule(cmd) => schedule(g, cmd),
        Command::Users(cmd) => users(g, cmd),
        Command::Blocklist(cmd) => blocklist(g, cmd),
        Command::Requests(cmd) => requests(g, cmd),
        Command::Locate { who, bytes } => locate(g, &who, bytes),
        Command::Audit { cmd, filter } => audit(g, cmd, filter),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) if is_busy(&e) => Err(anyhow::anyhow!(why_busy(g))),
        Err(e) => Err(e),
    }
}

/// Whether the command failed because another process held the database for writing past
/// the wait (SQLite's lock).
fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<StoreError>()
            .is_some_and(StoreError::is_busy)
            || matches!(c.downcast_ref::<EngineError>(), Some(EngineError::Store(s)) if s.is_busy())
    })
}

/// Who holds the database, when a server's background job does: the command can be run
/// again once it has finished.
fn why_busy(g: &Global) -> String {
    let running = offboard_store::jobs::JobBook::open(&g.db)
        .and_then(|mut b| b.list(Some(offboard_store::jobs::JobStatus::Running), None, 5))
        .unwrap_or_default();
    match running.first() {
        Some(first) => {
            let jobs: Vec<String> = running
                .iter()
                .map(|j| {
                    format!(
                        "job {} ({} by {}, running since {})",
                        j.id,
                        j.operation,
                        j.actor,
                        j.started_at.as_deref().unwrap_or("just now")
                    )
                })
                .collect();
            format!(
                "the database is held for writing by a server's {}; nothing was changed — run this again once it has finished (`offboard jobs show {}` says how far it is)",
                jobs.join(", "),
                first.id
            )
        }
        None => "the database is held for writing by another process (a long command, an import or a server's operation) past the 10 s wait; nothing was changed — run this again once it has finished".to_string(),
    }
}

/// Opens the database with the model file (or, when the file is missing, the model the
/// database recorded), applying additive model changes.
pub fn open(g: &Global) -> anyhow::Result<Store> {
    let mut db =
        Database::connect(&g.db).with_context(|| format!("cannot open the database {}", g.db))?;
    let model = if g.model.exists() {
        Model::load(&g.model)?
    } else {
        match db.stored_model()? {
            Some(src) => Model::parse(&format!("<model recorded in {}>", g.db), &src)?,
            None => bail!(
                "no model: {} does not exist and the database has none; run `offboard init --preset NAME` (presets: {})",
                g.model.display(),
                PRESETS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
            ),
        }
    };
    let (store, changes) = db.with_model(model)?;
    for c in changes {
        eprintln!("schema: {c}");
    }
    Ok(store)
}

/// Opens the database to read it without writing anything (no migration, no schema sync),
/// so it does not wait for a writer: a running job holds SQLite's write lock. A database
/// that is not current yet is opened as [`open`] does.
pub fn open_reading(g: &Global) -> anyhow::Result<Store> {
    let mut db =
        Database::open(&g.db).with_context(|| format!("cannot open the database {}", g.db))?;
    let current = db.is_current();
    let stored = if current { db.stored_model()? } else { None };
    match stored {
        Some(src) if !g.model.exists() => Ok(db.applied(Model::parse(
            &format!("<model recorded in {}>", g.db),
            &src,
        )?)),
        Some(_) => Ok(db.applied(Model::load(&g.model)?)),
        None => open(g),
    }
}

/// A refusal already explained on stdout: exit code 1 with a one-line summary.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The engine acting for the command's user: changes go through it, permission-checked and
/// audited.
fn engine<'s>(g: &Global, store: &'s mut Store) -> anyhow::Result<Engine<'s>> {
    let me = actor(g, store)?;
    Ok(Engine::new(store, me))
}

/// Checks that the acting user may run `op`.
fn authorize(g: &Global, store: &mut Store, op: Operation) -> anyhow::Result<()> {
    let me = actor(g, store)?;
    Engine::new(store, me).allow(op)?;
    Ok(())
}

/// Who the command acts as: `--as USER`, or the local administrator.
fn actor(g: &Global, store: &mut Store) -> anyhow::Result<Actor> {
    match &g.as_user {
        None => Ok(Actor::local_admin()),
        Some(name) => match store.user(name)? {
            Some(u) if u.disabled => Err(StoreError::Refused(format!(
                "user `{name}` is disabled; an admin enables them with `offboard users enable {name}`"
            ))
            .into()),
            Some(u) => Ok(Actor {
                name: u.name,
                role: u.role,
            }),
            None => Err(StoreError::NotFound(format!(
                "there is no user `{name}`; add one with `offboard users add {name} --role clerk`"
            ))
            .into()),
        },
    }
}
