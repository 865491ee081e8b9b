//! Running the server, the audit log, and users.

use super::*;

/// Runs the HTTP server until Ctrl-C.
pub(super) fn serve(
    g: &Global,
    addr: &str,
    secure_cookies: bool,
    trust_forwarded_for: bool,
    limits: offboard_server::Limits,
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
        .trust_forwarded_for(trust_forwarded_for);
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
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let at = listener.local_addr()?;
        eprintln!("offboard ({model} model) serves http://{at}/ — the web UI; the API is /api/v1 (OpenAPI: /api/v1/openapi.json). Ctrl-C stops it.");
        if can_log_in == 0 {
            eprintln!("no user can log in yet: offboard users add NAME --role admin, then offboard users password NAME (API clients: offboard users token NAME)");
        }
        offboard_server::serve(listener, state)
            .await
            .context("the server stopped")
    })
}

pub(super) fn audit(
    g: &Global,
    cmd: Option<AuditCmd>,
    customer: Option<i64>,
    limit: u64,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Audit)?;
    match cmd {
        Some(AuditCmd::Verify) => {
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
            let entries =
                offboard_engine::audit::list(store.db(), customer, (limit > 0).then_some(limit))?;
            if g.json {
                return output::json(&entries);
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
            )
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
        UsersCmd::Revoke { name } => {
            engine(g, &mut store)?.revoke_tokens(&name)?;
            println!("every token of {name} is revoked");
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
        .map(|u| vec![u.name.clone(), u.role.name().to_string()])
        .collect();
    output::table(&["USER", "ROLE"], &rows)
}
