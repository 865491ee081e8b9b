//! Running the server, the audit log, and users.

use super::*;

/// Runs the HTTP server until Ctrl-C.
pub(super) fn serve(
    g: &Global,
    addr: &str,
    secure_cookies: bool,
    trust_forwarded_for: bool,
    limits: offboard_server::Limits,
    job_step_delay: std::time::Duration,
    scheduler: Option<std::time::Duration>,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let can_log_in = store.db().query_i64(
        "SELECT count(*) FROM offboard_users WHERE password IS NOT NULL",
        &[],
    )?;
    let model = store.model().name.clone();
    let state = offboard_server::AppState::new(&g.db, store)
        .limits(limits)
        .secure_cookies(secure_cookies)
        .trust_forwarded_for(trust_forwarded_for)
        .job_step_delay(job_step_delay)
        .scheduler(scheduler);
    // Request logs and errors on stderr; `RUST_LOG` chooses (default: info).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime.block_on(async {
        // Before the port answers: a stop signal from then on ends the server cleanly.
        let shutdown = offboard_server::Shutdown::listen();
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let at = listener.local_addr()?;
        eprintln!("offboard ({model} model) serves http://{at}/ — the web UI; the API is /api/v1 (OpenAPI: /api/v1/openapi.json). Ctrl-C stops it.");
        if can_log_in == 0 {
            eprintln!("no user can log in yet: offboard users add NAME --role admin, then offboard users password NAME (API clients: offboard users token NAME)");
        }
        offboard_server::serve_until(listener, state, shutdown)
            .await
            .context("the server stopped")
    })
}

impl crate::args::AuditFilterArgs {
    /// The filter asked for; a day that is not one, an unknown operation or fewer than one
    /// day is a usage error naming the flag.
    fn filter(&self) -> anyhow::Result<offboard_engine::audit::AuditFilter> {
        use offboard_model::value::Date;
        let day = |v: &Option<String>, flag: &str| -> anyhow::Result<Option<Date>> {
            match v.as_deref().map(str::trim) {
                None => Ok(None),
                Some(t) => Date::parse(t).map(Some).ok_or_else(|| {
                    Usage(format!(
                        "{flag} `{t}` is not a day; use YYYY-MM-DD, e.g. 2026-01-31"
                    ))
                    .into()
                }),
            }
        };
        if let Some(op) = &self.operation {
            offboard_engine::audit::check_operation_name(op)
                .map_err(|e| Usage(format!("--operation: {e}")))?;
        }
        let from = offboard_engine::audit::first_day(day(&self.from, "--from")?, self.days)
            .map_err(|e| Usage(format!("--days: {e}")))?;
        Ok(offboard_engine::audit::AuditFilter {
            customer: self.customer,
            number: self.number.clone(),
            operation: self.operation.clone(),
            actor: self.user.clone(),
            from,
            to: day(&self.to, "--to")?,
            before: self.before,
            limit: (self.limit > 0).then_some(self.limit),
        })
    }
}

pub(super) fn audit(
    g: &Global,
    cmd: Option<AuditCmd>,
    args: crate::args::AuditFilterArgs,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Audit)?;
    match cmd {
        Some(AuditCmd::Verify {
            receipt: Some(file),
        }) => super::privacy::verify_receipt(g, &mut store, &file),
        Some(AuditCmd::Verify { receipt: None }) => {
            let v = offboard_engine::audit::verify(store.db())?;
            if g.json {
                output::json(&v)?;
            } else if v.ok {
                println!("audit log ok: {} entries, chain intact", v.entries);
            }
            if let Some(p) = v.problem {
                return Err(Refused(format!("audit log tampered: {p}")).into());
            }
            Ok(())
        }
        None => {
            let filter = args.filter()?;
            let entries = offboard_engine::audit::list_filtered(store.db(), &filter)?;
            if g.json {
                return output::json(&entries);
            }
            if entries.is_empty() {
                eprintln!("no entries match");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        e.seq.to_string(),
                        e.at.clone(),
                        e.actor.clone(),
                        e.operation.clone(),
                        e.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                        e.customer_number.clone().unwrap_or_default(),
                        e.customer_name.clone().unwrap_or_default(),
                        e.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            output::table(
                &[
                    "SEQ",
                    "AT",
                    "ACTOR",
                    "OPERATION",
                    "CUSTOMER",
                    "NUMBER",
                    "NAME",
                    "REASON",
                ],
                &rows,
            )?;
            // A full page: where the next one starts.
            if let (Some(last), Some(limit)) = (entries.last(), filter.limit) {
                if entries.len() as u64 == limit && last.seq > 1 {
                    eprintln!(
                        "{} shown; the next page: add --before {}",
                        entries.len(),
                        last.seq
                    );
                }
            }
            Ok(())
        }
    }
}

pub(super) fn blocklist(g: &Global, cmd: BlocklistCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    match cmd {
        BlocklistCmd::List => {
            authorize(g, &mut store, Operation::Purge)?;
            let counts = store.blocklist_counts()?;
            if g.json {
                let map: serde_json::Map<String, serde_json::Value> = counts
                    .iter()
                    .map(|(f, n)| (f.clone(), serde_json::json!(n)))
                    .collect();
                return output::json(&map);
            }
            if counts.is_empty() {
                println!("the blocklist is empty");
            }
            for (field, n) in counts {
                println!("{field}: {n} value(s) of erased persons may not come back");
            }
            Ok(())
        }
        BlocklistCmd::Lift {
            email,
            field,
            value,
        } => {
            let (field, value) = match (email, field, value) {
                (Some(e), _, _) => ("email".to_string(), e),
                (None, Some(f), Some(v)) => (f, v),
                _ => {
                    return Err(
                        Usage("give --email VALUE, or --field FIELD --value VALUE".into()).into(),
                    )
                }
            };
            let me = actor(g, &mut store)?;
            let lifted = Engine::new(&mut store, me).lift_blocked(&field, &value)?;
            if g.json {
                return output::json(&serde_json::json!({ "field": field, "lifted": lifted }));
            }
            if lifted {
                println!("lifted: that {field} may be used again (the audit log says so, without the value)");
            } else {
                println!("that {field} is not on the blocklist; nothing changed");
            }
            Ok(())
        }
    }
}

pub(super) fn users(g: &Global, cmd: UsersCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let list = match cmd {
        UsersCmd::Password { name } => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            engine(g, &mut store)?.set_password(&name, password)?;
            println!("password set for {name}");
            return Ok(());
        }
        UsersCmd::Token { name, label } => {
            let (user, token) = engine(g, &mut store)?.create_token(&name, label.as_deref())?;
            if g.json {
                return output::json(&serde_json::json!({ "user": user.name, "token": token }));
            }
            eprintln!(
                "a token for {} ({}); it is shown only this once:",
                user.name,
                user.role.name()
            );
            println!("{token}");
            return Ok(());
        }
        UsersCmd::Revoke { name, token: None } => {
            engine(g, &mut store)?.revoke_tokens(&name)?;
            println!("every token of {name} is revoked, and their sessions ended");
            return Ok(());
        }
        UsersCmd::Revoke {
            name,
            token: Some(id),
        } => {
            let t = engine(g, &mut store)?.revoke_token(&name, &id)?;
            if g.json {
                return output::json(&t);
            }
            match &t.label {
                Some(l) => println!("token {} ({l}) of {name} is revoked", t.id),
                None => println!("token {} of {name} is revoked", t.id),
            }
            return Ok(());
        }
        UsersCmd::Tokens { name } => {
            let list = engine(g, &mut store)?.tokens(name.as_deref())?;
            if g.json {
                return output::json(&list);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|t| {
                    vec![
                        t.id.clone(),
                        t.user.clone(),
                        t.label.clone().unwrap_or_default(),
                        t.created_at.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            return output::table(&["ID", "USER", "LABEL", "CREATED"], &rows);
        }
        UsersCmd::Disable { name } => {
            vec![engine(g, &mut store)?.set_user_disabled(&name, true)?]
        }
        UsersCmd::Enable { name } => {
            vec![engine(g, &mut store)?.set_user_disabled(&name, false)?]
        }
        UsersCmd::Remove { name, yes } => {
            if !yes
                && !g.json
                && super::lifecycle::asks()
                && !super::lifecycle::yes_to(&format!(
                    "Remove user {name} with their tokens and sessions? [y/N] "
                ))?
            {
                anyhow::bail!("nothing was removed");
            }
            let u = engine(g, &mut store)?.remove_user(&name)?;
            if g.json {
                return output::json(&u);
            }
            println!("{} is removed; the audit log keeps what they did", u.name);
            return Ok(());
        }
        UsersCmd::Add { name, role } => vec![engine(g, &mut store)?.add_user(&name, &role)?],
        UsersCmd::Role { name, role } => vec![engine(g, &mut store)?.set_role(&name, &role)?],
        UsersCmd::List => {
            authorize(g, &mut store, Operation::Users)?;
            store.users()?
        }
    };
    if g.json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|u| {
            vec![
                u.name.clone(),
                u.role.name().to_string(),
                if u.disabled { "disabled" } else { "" }.to_string(),
            ]
        })
        .collect();
    output::table(&["USER", "ROLE", "STATUS"], &rows)
}

/// `offboard jobs list|show|cancel`: the job book of the database.
pub(super) fn jobs(g: &Global, cmd: JobsCmd) -> anyhow::Result<()> {
    use offboard_store::jobs::{JobBook, JobStatus};
    let mut store = open_reading(g)?;
    let me = actor(g, &mut store)?;
    let mut book =
        JobBook::open(&g.db).with_context(|| format!("cannot open the job book of {}", g.db))?;
    match cmd {
        JobsCmd::List {
            status,
            operation,
            limit,
        } => {
            authorize(g, &mut store, Operation::View)?;
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(JobStatus::parse(s).ok_or_else(|| {
                    Usage(format!(
                        "unknown job status `{s}`; statuses are: {}",
                        JobStatus::ALL.map(|j| j.name()).join(", ")
                    ))
                })?),
            };
            let jobs = book.list(status, operation.as_deref(), limit)?;
            if g.json {
                return output::json(&jobs);
            }
            if jobs.is_empty() {
                println!("no jobs");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.operation.clone(),
                        j.status.name().to_string(),
                        j.actor.clone(),
                        j.created_at.clone(),
                        job_where(j),
                    ]
                })
                .collect();
            output::table(
                &["id", "operation", "status", "actor", "created", "where"],
                &rows,
            )
        }
        JobsCmd::Show { id } => {
            authorize(g, &mut store, Operation::View)?;
            let job = book
                .get(id)?
                .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))?;
            if g.json {
                return output::json(&job);
            }
            println!("job {} · {} · {}", job.id, job.operation, job.status.name());
            println!("  asked by {} at {}", job.actor, job.created_at);
            if let Some(t) = &job.started_at {
                println!("  started at {t}");
            }
            if let Some(t) = &job.finished_at {
                println!("  finished at {t}");
            }
            let at = job_where(&job);
            if !at.is_empty() {
                println!("  {at}");
            }
            println!("  request: {}", job.request);
            if let Some(e) = &job.error {
                println!(
                    "  error: {}",
                    e.get("message").and_then(|m| m.as_str()).unwrap_or("-")
                );
            }
            if let Some(plan) = &job.plan {
                // The counts the plan has: candidates, the operation's own (`purged`), blocked...
                let counts: Vec<String> = plan
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, v)| v.as_i64().map(|n| format!("{n} {k}")))
                    .collect();
                println!("  plan: {}", counts.join(", "));
                println!("  (offboard jobs show {id} --json has the whole plan)");
            }
            Ok(())
        }
        JobsCmd::Cancel { id } => {
            let job = book
                .get(id)?
                .ok_or_else(|| StoreError::NotFound(format!("there is no job {id}")))?;
            // Cancelling needs the permission of the job's operation.
            let engine = Engine::new(&mut store, me);
            match (job.request.get("kind"), Operation::parse(&job.operation)) {
                (Some(kind), _) => engine
                    .allow_record(Operation::RecordDelete, kind.as_str().unwrap_or_default())?,
                (None, Some(op)) => engine.allow(op)?,
                (None, None) => bail!("job {id} has an unknown operation `{}`", job.operation),
            };
            let job = book.cancel(id)?;
            if g.json {
                return output::json(&job);
            }
            match job.status {
                JobStatus::Cancelled => println!("job {id} cancelled; nothing was changed"),
                _ => println!(
                    "job {id} is running: it stops at its next step and its transaction rolls back (offboard jobs show {id})"
                ),
            }
            Ok(())
        }
    }
}

/// Where a job is: its phase and progress, or what it waits for.
fn job_where(j: &offboard_store::jobs::Job) -> String {
    match (&j.phase, j.progress.total, j.progress.done) {
        (Some(p), 0, 0) => p.replace('_', " "),
        (Some(p), 0, d) => format!("{} (round {d})", p.replace('_', " ")),
        (Some(p), t, d) => format!("{} {d} of {t}", p.replace('_', " ")),
        (None, _, _) if j.cancel_requested => "cancelling".into(),
        (None, _, _) => String::new(),
    }
}
