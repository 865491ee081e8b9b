//! Each command: open what it needs, call the library, print the result.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};

use offboard_model::model::{Operation, View};
use offboard_model::presets::{preset, PRESETS};
use offboard_model::Model;
use offboard_store::customers::{Customer, ListQuery, NewCustomer};
use offboard_store::{Database, Store, StoreError};

use offboard_engine::records::RecordSelection;
use offboard_engine::{Actor, DeactivateOptions, Engine, EngineError, OpenItems, Outcome, Plan};

use crate::args::{
    AuditCmd, Cli, Command, CustomersCmd, DemoArgs, Global, RecordsCmd, Select, UsersCmd,
};
use crate::output;

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
        Command::Export { dir } => export(g, &dir),
        Command::Backup { file } => backup(g, &file),
        Command::Customers(cmd) => customers(g, cmd),
        Command::Records(cmd) => records(g, cmd),
        Command::Stats => stats(g),
        Command::Serve { addr } => serve(g, &addr),
        Command::Deactivate {
            customers,
            select,
            reason,
            open_activities,
            plan,
        } => {
            let open_items = open_activities.map(|o| {
                if o == "remove" {
                    OpenItems::Remove
                } else {
                    OpenItems::Complete
                }
            });
            lifecycle(
                g,
                &customers,
                Some(&select),
                plan.dry_run,
                None,
                |e, ids, dry| {
                    e.deactivate(
                        ids,
                        &DeactivateOptions {
                            reason: reason.clone(),
                            open_items,
                        },
                        dry,
                    )
                },
            )
        }
        Command::Reactivate {
            customers,
            select,
            plan,
        } => lifecycle(
            g,
            &customers,
            Some(&select),
            plan.dry_run,
            None,
            |e, ids, dry| e.reactivate(ids, dry),
        ),
        Command::Delete {
            customers,
            select,
            move_to,
            plan,
        } => match move_to {
            Some(to) => {
                if customers.len() == 1 {
                    pair_op(g, &customers[0], &to, |e, a, b| {
                        e.delete_moving(a, b, plan.dry_run)
                    })
                } else {
                    Err(Usage("--move-to takes exactly one customer".into()).into())
                }
            }
            None => lifecycle(
                g,
                &customers,
                Some(&select),
                plan.dry_run,
                (!plan.yes).then_some("Delete"),
                |e, ids, dry| e.delete(ids, dry),
            ),
        },
        Command::Transfer {
            from,
            to,
            kinds,
            plan,
        } => pair_op(g, &from, &to, |e, a, b| {
            e.transfer(a, b, kinds.as_deref(), plan.dry_run)
        }),
        Command::Merge {
            duplicate,
            into,
            plan,
        } => pair_op(g, &duplicate, &into, |e, a, b| e.merge(a, b, plan.dry_run)),
        Command::Undelete {
            customers,
            select,
            plan,
        } => lifecycle(
            g,
            &customers,
            Some(&select),
            plan.dry_run,
            None,
            |e, ids, dry| e.undelete(ids, dry),
        ),
        Command::Purge { plan } => lifecycle(
            g,
            &[],
            None,
            plan.dry_run,
            (!plan.yes).then_some("Erase"),
            |e, _, dry| e.purge(dry),
        ),
        Command::Users(cmd) => users(g, cmd),
        Command::Audit {
            cmd,
            customer,
            limit,
        } => audit(g, cmd, customer, limit),
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Usage>().is_some() => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Err(e) => Err(e),
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

fn init(g: &Global, name: &str, force: bool) -> anyhow::Result<()> {
    let Some(p) = preset(name) else {
        return Err(Usage(format!(
            "unknown preset `{name}`; presets are: {}",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    };
    if g.model.exists() && !force {
        let existing = std::fs::read_to_string(&g.model).unwrap_or_default();
        if existing != p.source {
            bail!(
                "{} exists and differs from the {name} preset; pass --force to overwrite it, or --model to write elsewhere",
                g.model.display()
            );
        }
    }
    let model = Model::parse(&g.model.display().to_string(), p.source)?;
    std::fs::write(&g.model, p.source)
        .with_context(|| format!("cannot write {}", g.model.display()))?;
    let db =
        Database::connect(&g.db).with_context(|| format!("cannot open the database {}", g.db))?;
    let (_, changes) = db.with_model(model)?;
    if g.json {
        output::json(
            &serde_json::json!({ "preset": name, "model": g.model, "db": g.db, "changes": changes }),
        )?;
    } else {
        println!(
            "wrote {} (preset {name}) and set up {}",
            g.model.display(),
            g.db
        );
        for c in changes {
            println!("  {c}");
        }
    }
    Ok(())
}

fn presets(g: &Global) -> anyhow::Result<()> {
    if g.json {
        let list: Vec<_> = PRESETS
            .iter()
            .map(|p| serde_json::json!({ "name": p.name, "summary": p.summary }))
            .collect();
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = PRESETS
        .iter()
        .map(|p| vec![p.name.to_string(), p.summary.to_string()])
        .collect();
    output::table(&["PRESET", "SUMMARY"], &rows)
}

fn check(g: &Global, file: &Path) -> anyhow::Result<ExitCode> {
    match Model::load(file) {
        Ok(model) => {
            if g.json {
                output::json(&serde_json::json!({ "ok": true, "file": file, "model": model }))?;
            } else {
                println!(
                    "{}: ok ({} record kinds, {} rules)",
                    file.display(),
                    model.records.len(),
                    model.rules.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if g.json {
                output::json(
                    &serde_json::json!({ "ok": false, "file": file, "errors": e.diagnostics }),
                )?;
            } else {
                eprintln!("{e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn demo(g: &Global, args: &DemoArgs) -> anyhow::Result<()> {
    let model = match &args.preset {
        Some(name) => {
            let p = preset(name).ok_or_else(|| {
                Usage(format!(
                    "unknown preset `{name}`; presets are: {}",
                    PRESETS
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
            Model::parse(&format!("<preset {name}>"), p.source)?
        }
        None => Model::load(&g.model)?,
    };
    let report = offboard_demo::generate(&model, args.customers, args.seed, &args.out)
        .with_context(|| format!("cannot write demo data to {}", args.out.display()))?;
    if g.json {
        return output::json(&report);
    }
    println!("wrote {} rows to {}:", report.rows, args.out.display());
    for (file, n) in &report.files {
        println!("  {file:<24} {n}");
    }
    Ok(())
}

fn import(g: &Global, dir: &Path) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let mut last = String::new();
    let quiet = g.json;
    let report = engine(g, &mut store)?.import_dir(dir, &mut |table, rows| {
        if !quiet {
            let mut err = std::io::stderr().lock();
            if table != last {
                if !last.is_empty() {
                    let _ = writeln!(err);
                }
                last = table.to_string();
            }
            let _ = write!(err, "\r  {table}: {rows} rows");
        }
    });
    if !quiet {
        eprintln!();
    }
    let report = report?;
    if g.json {
        return output::json(&report);
    }
    println!(
        "imported {} rows in {:.1}s ({:.0} rows/s)",
        report.rows,
        report.seconds,
        report.rows as f64 / report.seconds.max(1e-9)
    );
    for t in &report.tables {
        println!("  {:<24} {}", t.file, t.rows);
    }
    Ok(())
}

fn export(g: &Global, dir: &Path) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Export)?;
    let xlsx = dir
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let report = if xlsx {
        store.export_xlsx(dir, &mut |_, _| {})?
    } else {
        store.export_dir(dir, &mut |_, _| {})?
    };
    if g.json {
        return output::json(&report);
    }
    println!("exported {} rows to {}", report.rows, dir.display());
    for t in &report.tables {
        println!("  {:<24} {}", t.file, t.rows);
    }
    Ok(())
}

/// Finds a customer by id, or by number when the text is not an id in use.
pub fn find_customer(store: &mut Store, text: &str) -> anyhow::Result<Customer> {
    if let Ok(id) = text.parse::<i64>() {
        if let Some(c) = store.find_customer(id)? {
            return Ok(c);
        }
    }
    if let Some(c) = store.customer_by_number(text)? {
        return Ok(c);
    }
    Err(StoreError::NotFound(format!("there is no customer with id or number {text}")).into())
}

fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Usage(format!("--set {s}: expected FIELD=VALUE")).into())
        })
        .collect()
}

fn customer_row(c: &Customer) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.number.clone(),
        c.kind.clone(),
        c.name.clone(),
        c.status.clone(),
        c.email.clone().unwrap_or_default(),
    ]
}

const CUSTOMER_HEADER: [&str; 6] = ["ID", "NUMBER", "KIND", "NAME", "STATUS", "EMAIL"];

fn customers(g: &Global, cmd: CustomersCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let writes = matches!(cmd, CustomersCmd::Add { .. } | CustomersCmd::Edit { .. });
    authorize(
        g,
        &mut store,
        if writes {
            Operation::Edit
        } else {
            Operation::View
        },
    )?;
    match cmd {
        CustomersCmd::List {
            view,
            search,
            kind,
            after,
            paging,
        } => {
            let view = match view {
                Some(v) => View::parse(&v).ok_or_else(|| {
                    Usage(format!("unknown view `{v}`; views are: {}", View::NAMES))
                })?,
                None => store.model().default_view,
            };
            if let Some(k) = &kind {
                if !store.model().customer.kinds.contains(k) {
                    return Err(Usage(format!(
                        "unknown kind `{k}`; kinds are: {}",
                        store.model().customer.kinds.join(", ")
                    ))
                    .into());
                }
            }
            let query = ListQuery {
                view,
                search,
                kind,
                limit: (paging.limit > 0).then_some(paging.limit),
                offset: paging.offset,
                after,
            };
            list_customers(g, &mut store, &query)
        }
        CustomersCmd::Show { customer } => {
            let c = find_customer(&mut store, &customer)?;
            let counts = store.customer_record_counts(c.id)?;
            if g.json {
                let mut v = serde_json::to_value(&c)?;
                if let Some(obj) = v.as_object_mut() {
                    let records: serde_json::Map<String, serde_json::Value> = counts
                        .iter()
                        .map(|(k, n)| (k.clone(), serde_json::json!(n)))
                        .collect();
                    obj.insert("records".into(), serde_json::Value::Object(records));
                }
                return output::json(&v);
            }
            let mut lines = vec![
                ("id", c.id.to_string()),
                ("number", c.number.clone()),
                ("kind", c.kind.clone()),
                ("name", c.name.clone()),
                ("status", c.status.clone()),
                ("email", c.email.clone().unwrap_or_default()),
                ("created at", c.created_at.to_cell()),
            ];
            if c.status == "deactivated" {
                lines.push(("deactivated on", c.deactivated_on.to_cell()));
                lines.push(("reason", c.deactivation_reason.clone().unwrap_or_default()));
            }
            if c.status == "deleted" {
                lines.push(("deleted at", c.deleted_at.to_cell()));
            }
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for (k, v) in lines {
                writeln!(out, "{k:<15} {v}")?;
            }
            for (k, v) in &c.fields {
                let text = match v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                writeln!(out, "{k:<15} {text}")?;
            }
            writeln!(out, "records:")?;
            for (k, n) in counts {
                writeln!(out, "  {k:<20} {n}")?;
            }
            out.flush()?;
            Ok(())
        }
        CustomersCmd::Add {
            kind,
            name,
            number,
            email,
            set,
        } => {
            let c = engine(g, &mut store)?.create_customer(NewCustomer {
                kind,
                name,
                number,
                email,
                fields: parse_sets(&set)?,
            })?;
            print_customer(g, &c)
        }
        CustomersCmd::Edit { customer, set } => {
            let id = find_customer(&mut store, &customer)?.id;
            let c = engine(g, &mut store)?.update_customer(id, &parse_sets(&set)?)?;
            print_customer(g, &c)
        }
    }
}

fn print_customer(g: &Global, c: &Customer) -> anyhow::Result<()> {
    if g.json {
        output::json(c)
    } else {
        output::table(&CUSTOMER_HEADER, &[customer_row(c)])
    }
}

fn list_customers(g: &Global, store: &mut Store, query: &ListQuery) -> anyhow::Result<()> {
    if query.limit.is_none() {
        // Every match, streamed as it is read.
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut first = true;
        if g.json {
            write!(out, "[")?;
        } else {
            writeln!(out, "{}", CUSTOMER_HEADER.join("\t"))?;
        }
        let mut failed: Option<std::io::Error> = None;
        store.list_customers(query, &mut |c| {
            let r = if g.json {
                let sep = if first { "\n" } else { ",\n" };
                serde_json::to_string(&c)
                    .map_err(std::io::Error::other)
                    .and_then(|s| write!(out, "{sep}{s}"))
            } else {
                writeln!(out, "{}", customer_row(&c).join("\t"))
            };
            first = false;
            if let Err(e) = r {
                failed.get_or_insert(e);
            }
            Ok(())
        })?;
        if let Some(e) = failed {
            return Err(e.into());
        }
        if g.json {
            writeln!(out, "{}]", if first { "" } else { "\n" })?;
        }
        out.flush()?;
        return Ok(());
    }
    let mut list = Vec::new();
    store.list_customers(query, &mut |c| {
        list.push(c);
        Ok(())
    })?;
    if g.json {
        return output::json(&list);
    }
    let total = store.count_customers(&ListQuery {
        after: None,
        ..query.clone()
    })?;
    let rows: Vec<Vec<String>> = list.iter().map(customer_row).collect();
    output::table(&CUSTOMER_HEADER, &rows)?;
    let shown_to = query.offset + list.len() as u64;
    if (total as u64) > shown_to || query.offset > 0 {
        eprintln!(
            "{}–{} of {total} in view {}; --offset {shown_to} for more, --limit 0 for all",
            query.offset + u64::from(!list.is_empty()),
            shown_to,
            query.view.name()
        );
    }
    Ok(())
}

fn records(g: &Global, cmd: RecordsCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    match cmd {
        RecordsCmd::Add { .. } | RecordsCmd::Edit { .. } => {
            authorize(g, &mut store, Operation::Edit)?
        }
        RecordsCmd::Show { .. } | RecordsCmd::List { .. } => {
            authorize(g, &mut store, Operation::View)?
        }
        RecordsCmd::Delete { .. } => {}
    }
    let record = match cmd {
        RecordsCmd::Delete { kind, args } => return delete_records(g, &mut store, &kind, &args),
        RecordsCmd::Add { kind, set } => {
            engine(g, &mut store)?.create_record(&kind, &parse_sets(&set)?)?
        }
        RecordsCmd::Show { kind, id } => store.record(&kind, id)?,
        RecordsCmd::Edit { kind, id, set } => {
            engine(g, &mut store)?.update_record(&kind, id, &parse_sets(&set)?)?
        }
        RecordsCmd::List {
            kind,
            customer,
            paging,
        } => {
            let c = find_customer(&mut store, &customer)?;
            let mut list = Vec::new();
            let limit = (paging.limit > 0).then_some(paging.limit + paging.offset);
            store.customer_records(&kind, c.id, limit, &mut |r| {
                list.push(r);
                Ok(())
            })?;
            let list: Vec<_> = list.into_iter().skip(paging.offset as usize).collect();
            if g.json {
                return output::json(&list);
            }
            let Some(first) = list.first() else {
                println!("customer {} has no {kind} records", c.id);
                return Ok(());
            };
            let mut header = vec!["ID".to_string()];
            header.extend(first.values.keys().map(|k| k.to_uppercase()));
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|r| {
                    let mut row = vec![r.id.to_string()];
                    row.extend(r.values.values().map(json_cell));
                    row
                })
                .collect();
            let header: Vec<&str> = header.iter().map(String::as_str).collect();
            return output::table(&header, &rows);
        }
    };
    if g.json {
        return output::json(&record);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    writeln!(out, "{:<15} {}", "kind", record.kind)?;
    writeln!(out, "{:<15} {}", "id", record.id)?;
    for (k, v) in &record.values {
        writeln!(out, "{k:<15} {}", json_cell(v))?;
    }
    out.flush()?;
    Ok(())
}

fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A consistent copy of the database: SQLite writes a new database file; PostgreSQL's is
/// `pg_dump`'s custom format (restore with `pg_restore`).
fn backup(g: &Global, file: &Path) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Export)?;
    if store.dialect() == offboard_store::Dialect::Postgres {
        if file.exists() {
            bail!("{} exists; choose a new file name", file.display());
        }
        let url = g.db.replacen("postgresql://", "postgres://", 1);
        let status = std::process::Command::new("pg_dump")
            .arg("--format=custom")
            .arg("--file")
            .arg(file)
            .arg(&url)
            .status()
            .context("cannot run pg_dump (Debian: apt-get install postgresql-client)")?;
        if !status.success() {
            let _ = std::fs::remove_file(file);
            bail!("pg_dump failed ({status}); nothing was written");
        }
    } else {
        store.backup(file)?;
    }
    println!("backed up {} to {}", g.db, file.display());
    Ok(())
}

/// Runs the HTTP server until Ctrl-C.
fn serve(g: &Global, addr: &str) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let can_log_in = store.db().query_i64(
        "SELECT count(*) FROM offboard_users WHERE password IS NOT NULL",
        &[],
    )?;
    let model = store.model().name.clone();
    let state = offboard_server::AppState::new(&g.db, store);
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

fn stats(g: &Global) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::View)?;
    let s = store.stats()?;
    if g.json {
        return output::json(&s);
    }
    println!(
        "customers: {} active, {} deactivated, {} deleted",
        s.customers.active, s.customers.deactivated, s.customers.deleted
    );
    for (k, n) in &s.records {
        println!("  {k:<20} {n}");
    }
    Ok(())
}

/// Runs a lifecycle operation and prints its plan. Exit code 1 when customers were blocked
/// and none could be processed — the plan says why for each.
fn lifecycle(
    g: &Global,
    customers: &[String],
    select: Option<&Select>,
    dry_run: bool,
    confirm: Option<&str>,
    op: impl Fn(&mut Engine<'_>, &[i64], bool) -> Result<Plan, EngineError>,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let mut ids = Vec::new();
    for c in customers {
        ids.push(find_customer(&mut store, c)?.id);
    }
    if let Some(sel) = select {
        if let Some(view) = &sel.select_view {
            let view = View::parse(view).ok_or_else(|| {
                Usage(format!("unknown view `{view}`; views are: {}", View::NAMES))
            })?;
            let query = ListQuery {
                view,
                search: sel.select_search.clone(),
                kind: sel.select_kind.clone(),
                limit: sel.select_limit,
                offset: 0,
                after: None,
            };
            ids.extend(store.customer_ids(&query)?);
        } else if sel.select_kind.is_some()
            || sel.select_search.is_some()
            || sel.select_limit.is_some()
        {
            return Err(Usage(
                "--select-kind, --select-search and --select-limit need --select-view".into(),
            )
            .into());
        } else if customers.is_empty() {
            return Err(Usage(
                "name the customers (ids or numbers), or choose them with --select-view".into(),
            )
            .into());
        }
    }
    // A soft delete goes to the recycle bin and can be undone: only a hard one asks.
    let hard = store.model().delete == offboard_model::model::DeleteMode::Hard;
    let confirm = confirm.filter(|w| *w != "Delete" || hard);
    let actor = actor(g, &mut store)?;
    let mut reporter = progress_line();
    let progress = reporter.is_some();
    let mut engine = Engine::new(&mut store, actor);
    if let Some(r) = reporter.as_mut() {
        engine.on_progress(r);
    }
    if let Some(what) = confirm.filter(|_| !dry_run && asks()) {
        // An erasure cannot be undone: at a terminal, show the plan and ask first.
        let plan = op(&mut engine, &ids, true)?;
        print_plan(g, &plan)?;
        if plan.done == 0 {
            return Ok(());
        }
        if !yes_to(&format!(
            "{what} {} customer(s) for good? This cannot be undone. [y/N] ",
            plan.done
        ))? {
            return Err(Refused("nothing was changed".into()).into());
        }
    }
    let plan = op(&mut engine, &ids, dry_run);
    if progress {
        eprint!("\r\x1b[K");
    }
    let plan = plan?;
    print_plan(g, &plan)?;
    if plan.blocked > 0 && plan.done == 0 {
        return Err(Refused(format!(
            "nothing was {}: every candidate is blocked",
            plan.done_key()
        ))
        .into());
    }
    Ok(())
}

/// An operation between two customers (transfer, merge, delete with move-to).
fn pair_op(
    g: &Global,
    from: &str,
    to: &str,
    op: impl FnOnce(&mut Engine<'_>, i64, i64) -> Result<Plan, EngineError>,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let a = find_customer(&mut store, from)?.id;
    let b = find_customer(&mut store, to)?.id;
    let actor = actor(g, &mut store)?;
    let mut engine = Engine::new(&mut store, actor);
    let plan = op(&mut engine, a, b)?;
    print_plan(g, &plan)?;
    if plan.blocked > 0 {
        return Err(Refused(format!(
            "customer {a} is blocked: nothing was {}",
            plan.done_key()
        ))
        .into());
    }
    Ok(())
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

fn print_plan(g: &Global, plan: &Plan) -> anyhow::Result<()> {
    if g.json {
        return output::json(plan);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mode = if plan.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    writeln!(
        out,
        "{}{mode}: {} candidates, {} {}, {} blocked, {} skipped",
        plan.operation,
        plan.candidates,
        plan.done,
        plan.done_key(),
        plan.blocked,
        plan.skipped
    )?;
    for (rule, n) in plan.blocked_by_rule.iter().filter(|(_, n)| **n > 0) {
        writeln!(out, "  blocked by {rule}: {n}")?;
    }
    for (table, effects) in &plan.effects {
        let list: Vec<String> = effects.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(out, "  {table}: {}", list.join(", "))?;
    }
    if !plan.timings.is_empty() {
        let t: Vec<String> = plan
            .timings
            .iter()
            .map(|(k, ms)| format!("{k} {ms:.0} ms"))
            .collect();
        writeln!(out, "  time: {}", t.join(", "))?;
    }
    const SHOWN: usize = 20;
    let not_done: Vec<_> = plan
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::Proceeds)
        .collect();
    for c in not_done.iter().take(SHOWN) {
        let why = match &c.why {
            Some(w) => w.clone(),
            None => c
                .blockers
                .iter()
                .map(|b| format!("{} [{}]", b.message, b.rule))
                .collect::<Vec<_>>()
                .join("; "),
        };
        let outcome = if c.outcome == Outcome::Blocked {
            "blocked"
        } else {
            "skipped"
        };
        writeln!(out, "  {} {} {}: {outcome}: {why}", c.id, c.number, c.name)?;
    }
    if not_done.len() > SHOWN {
        writeln!(
            out,
            "  ... and {} more (--json lists every customer)",
            not_done.len() - SHOWN
        )?;
    }
    out.flush()?;
    Ok(())
}

fn audit(
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

fn delete_records(
    g: &Global,
    store: &mut Store,
    kind: &str,
    args: &[String],
) -> anyhow::Result<()> {
    let Some(k) = store.model().record(kind).cloned() else {
        let names: Vec<&str> = store
            .model()
            .records
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        return Err(Usage(format!(
            "unknown record kind `{kind}`; kinds are: {}",
            names.join(", ")
        ))
        .into());
    };
    let (mut ids, mut owner, mut from, mut dry_run, mut json) =
        (Vec::new(), None, None, false, g.json);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| Usage(format!("{flag} needs a value")))
        };
        match a.as_str() {
            "--dry-run" => dry_run = true,
            "--json" => json = true,
            "--from" => from = Some(value("--from")?),
            flag if flag
                .strip_prefix("--")
                .is_some_and(|n| n == k.owner.name || n == k.owner.column) =>
            {
                let v = value(flag)?;
                owner = Some(
                    v.parse::<i64>()
                        .map_err(|_| Usage(format!("{flag} {v}: expected an id")))?,
                );
            }
            id => ids.push(id.parse::<i64>().map_err(|_| {
                Usage(format!(
                    "`{id}`: expected record ids, --{} ID, --from VALUE or --dry-run",
                    k.owner.name
                ))
            })?),
        }
    }
    let sel = match (ids.is_empty(), owner) {
        (false, None) if from.is_none() => RecordSelection::Ids(ids),
        (true, Some(owner)) => RecordSelection::Owner { owner, from },
        _ => {
            return Err(Usage(format!(
                "give record ids, or --{} ID (with --from VALUE for the tail)",
                k.owner.name
            ))
            .into())
        }
    };
    let actor = actor(g, store)?;
    let mut engine = Engine::new(store, actor);
    let plan = engine.delete_records(kind, &sel, dry_run)?;
    if json {
        output::json(&plan)?;
    } else {
        let mode = if plan.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        };
        println!(
            "delete {}{mode}: {} candidates, {} deleted",
            plan.kind, plan.candidates, plan.deleted
        );
        for b in &plan.blocked {
            println!(
                "  {} {}: blocked: {} [{}]",
                plan.kind, b.id, b.message, b.rule
            );
        }
    }
    if !plan.blocked.is_empty() {
        return Err(Refused(format!(
            "nothing was deleted: {} {} blocked",
            plan.blocked.len(),
            plan.kind
        ))
        .into());
    }
    Ok(())
}

/// At a terminal, a long operation says where it is on stderr: one line, rewritten as each
/// phase ends.
fn progress_line() -> Option<impl FnMut(&str) + Send> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let mut last = std::time::Instant::now();
    let mut line = String::new();
    Some(move |phase: &str| {
        let now = std::time::Instant::now();
        line.push_str(&format!(
            "{} {:.1}s · ",
            phase.replace('_', " "),
            (now - last).as_secs_f64()
        ));
        last = now;
        let next = if phase == "audit" {
            "committing"
        } else {
            "working"
        };
        eprint!("\r\x1b[K  {line}{next}…");
    })
}

/// Whether to ask before an erasure: a person at a terminal (not a script, not --json).
fn asks() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a yes/no question on the terminal.
fn yes_to(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

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

fn users(g: &Global, cmd: UsersCmd) -> anyhow::Result<()> {
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
