//! Commands about the data: presets and model files, demo data, import, export and backup,
//! customers, records and statistics.

use super::*;

pub(super) fn init(g: &Global, name: &str, force: bool) -> anyhow::Result<()> {
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

pub(super) fn presets(g: &Global) -> anyhow::Result<()> {
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

pub(super) fn check(g: &Global, file: &Path) -> anyhow::Result<ExitCode> {
    match Model::load(file) {
        Ok(model) => {
            let personal = model.personal_columns();
            if g.json {
                output::json(&serde_json::json!({
                    "ok": true, "file": file, "model": model, "personal": personal,
                }))?;
            } else {
                println!(
                    "{}: ok ({} record kinds, {} rules)",
                    file.display(),
                    model.records.len(),
                    model.rules.len()
                );
                // Where personal data lives: what an access request exports, a forget masks
                // and an erasure removes.
                if personal.is_empty() {
                    println!("personal data: none marked (mark fields with `personal = true`)");
                } else {
                    println!("personal data:");
                    for p in &personal {
                        println!(
                            "  {}.{}{}",
                            p.table,
                            p.column,
                            if p.identifying { " (identifying)" } else { "" }
                        );
                    }
                }
                if !model.tombstone.is_empty() {
                    println!(
                        "an erased customer's tombstone keeps: id, number, kind, {}",
                        model.tombstone.join(", ")
                    );
                }
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

pub(super) fn demo(g: &Global, args: &DemoArgs) -> anyhow::Result<()> {
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

pub(super) fn import(g: &Global, dir: &Path) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let bars = indicatif::MultiProgress::with_draw_target(if g.json {
        indicatif::ProgressDrawTarget::hidden()
    } else {
        indicatif::ProgressDrawTarget::stderr()
    });
    let mut current: Option<(String, indicatif::ProgressBar)> = None;
    let style = indicatif::ProgressStyle::with_template("  {prefix}: {pos} rows ({per_sec})")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let report = engine(g, &mut store)?.import_dir(dir, &mut |table, rows| match &current {
        Some((t, bar)) if t == table => bar.set_position(rows),
        _ => {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            let bar = bars.add(indicatif::ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(table.to_string());
            bar.set_position(rows);
            current = Some((table.to_string(), bar));
        }
    });
    if let Some((_, bar)) = current.take() {
        bar.finish();
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

pub(super) fn export(g: &Global, dir: &Path) -> anyhow::Result<()> {
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

/// `export --customer ID`: the access document of one customer, to standard output or a file.
pub(super) fn export_customer(g: &Global, text: &str, out: Option<&Path>) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let c = find_customer(&mut store, text, Purpose::Read)?;
    let me = super::actor(g, &mut store)?;
    let doc = offboard_engine::Engine::new(&mut store, me).access_document(c.id)?;
    let text = serde_json::to_string_pretty(&doc)?;
    match out {
        Some(file) => {
            std::fs::write(file, format!("{text}\n"))
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!(
                "wrote everything offboard holds about {} {} to {}",
                c.number,
                c.name,
                file.display()
            );
        }
        None => println!("{text}"),
    }
    Ok(())
}

/// `forget CUSTOMER`: masks the customer's personal data (at a terminal, after showing what
/// would be masked and asking).
pub(super) fn forget(g: &Global, text: &str, plan: &crate::args::PlanArgs) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let c = find_customer(&mut store, text, Purpose::Change)?;
    let me = super::actor(g, &mut store)?;
    let mut engine = offboard_engine::Engine::new(&mut store, me);
    let ask = !plan.dry_run && !plan.yes && plan.plan.is_none() && super::lifecycle::asks();
    engine.expect_plan(plan.plan.clone());
    let report = super::lifecycle::changed(g.json, engine.forget(c.id, plan.dry_run || ask))?;
    let show = |r: &offboard_engine::forget::ForgetReport| {
        let what: Vec<String> = r.masked.iter().map(|(t, n)| format!("{n} {t}")).collect();
        println!(
            "forget {} {}{}: masks {} ({})",
            r.number,
            c.name,
            if r.dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            },
            r.columns.join(", "),
            what.join(", ")
        );
    };
    let report = if ask {
        show(&report);
        if !super::lifecycle::yes_to("Forget? This cannot be undone. [y/N] ")? {
            println!("nothing changed");
            return Ok(());
        }
        // The apply is bound to what it showed.
        engine.expect_plan(Some(report.fingerprint.clone()));
        super::lifecycle::changed(g.json, engine.forget(c.id, false))?
    } else {
        report
    };
    if g.json {
        return output::json(&report);
    }
    show(&report);
    if !report.dry_run {
        println!(
            "  {} identifying value(s) on the blocklist; the next purge erases it once nothing blocks it",
            report.blocked_values
        );
    }
    super::lifecycle::bind_hint(report.dry_run, &report.fingerprint);
    Ok(())
}

/// `compact`: rewrites what may still hold erased data (needs `purge`).
pub(super) fn compact(g: &Global, dry_run: bool) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Purge)?;
    if dry_run {
        let plan = store.compact_plan()?;
        if g.json {
            return output::json(&plan);
        }
        let rows: Vec<Vec<String>> = plan
            .tables
            .iter()
            .map(|t| {
                vec![
                    t.table.clone(),
                    format!("{:.1} MB", t.bytes as f64 / 1e6),
                    t.dead_rows.to_string(),
                    t.lock.clone(),
                    format!("~{:.1} s", t.estimated_seconds),
                ]
            })
            .collect();
        output::table(&["table", "size", "dead rows", "lock", "held"], &rows)?;
        println!("{}", plan.summary());
        println!(
            "estimated at {:.0} MB/s{}; nothing was changed (dry run)",
            plan.rate_mb_per_s,
            if plan.rate_measured {
                ", the rate the last compaction of this database measured"
            } else {
                ", an assumed rate: no compaction of this database was measured yet"
            }
        );
        return Ok(());
    }
    let done = store.compact()?;
    if g.json {
        return output::json(&done);
    }
    for (what, secs) in &done.locked {
        println!("rewrote {what} (locked for {secs:.2} s)");
    }
    if let Some(note) = &done.note {
        println!("note: {note}");
    }
    Ok(())
}

/// The customer a person typed (`#ID`, `number:N`, or either; see the store's resolver):
/// for reading, a merged-away customer is followed (with a note on standard error); for
/// changing, it is refused, naming where it went.
pub(super) fn find_customer(
    store: &mut Store,
    text: &str,
    purpose: offboard_store::resolve::Purpose,
) -> anyhow::Result<Customer> {
    let r = store.resolve_customer(text, purpose)?;
    if let Some(note) = &r.note {
        eprintln!("note: {note}");
    }
    Ok(r.customer)
}

pub(super) fn parse_sets(sets: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    sets.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Usage(format!("--set {s}: expected FIELD=VALUE")).into())
        })
        .collect()
}

pub(super) fn customer_row(c: &Customer) -> Vec<String> {
    vec![
        c.id.to_string(),
        c.number.clone(),
        c.kind.clone(),
        c.name.clone(),
        c.status.to_string(),
        c.email.clone().unwrap_or_default(),
    ]
}

pub(super) const CUSTOMER_HEADER: [&str; 6] = ["ID", "NUMBER", "KIND", "NAME", "STATUS", "EMAIL"];

pub(super) fn customers(g: &Global, cmd: CustomersCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    // Changes go through the engine, which checks `edit`; reading needs `view`.
    if !matches!(cmd, CustomersCmd::Add { .. } | CustomersCmd::Edit { .. }) {
        authorize(g, &mut store, Operation::View)?;
    }
    match cmd {
        CustomersCmd::List {
            view,
            search,
            kind,
            sort,
            after,
            format,
            out,
            paging,
        } => {
            let sort = match sort.as_deref() {
                None => Sort::default(),
                Some(s) => Sort::parse(s).ok_or_else(|| {
                    Usage(format!("unknown sort `{s}`; sort by {}", SortKey::NAMES))
                })?,
            };
            // Keyset paging after a customer: its value of the sort column too.
            let after_value = match after {
                Some(id) => store.customer(id)?.sort_value(sort.key),
                None => None,
            };
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
                sort,
                after,
                after_value,
                ids: None,
            };
            match (format.as_str(), out) {
                ("table", None) => list_customers(g, &mut store, &query),
                ("table", Some(_)) => Err(Usage(
                    "--out is for an export: add --format csv or --format xlsx".into(),
                )
                .into()),
                ("xlsx", None) => Err(Usage("--format xlsx needs --out FILE.xlsx".into()).into()),
                (format, out) => {
                    authorize(g, &mut store, Operation::Export)?;
                    let started = std::time::Instant::now();
                    let rows = match (format, &out) {
                        ("xlsx", Some(file)) => store.export_view_xlsx(&query, file)?,
                        (_, Some(file)) => {
                            let f = std::fs::File::create(file)
                                .with_context(|| format!("cannot write {}", file.display()))?;
                            store.export_view_csv(&query, &mut std::io::BufWriter::new(f))?
                        }
                        (_, None) => {
                            store.export_view_csv(&query, &mut std::io::stdout().lock())?
                        }
                    };
                    if let Some(file) = out {
                        eprintln!(
                            "exported {rows} customers of view {} to {} in {:.1} s",
                            query.view.name(),
                            file.display(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Ok(())
                }
            }
        }
        CustomersCmd::Show { customer } => {
            let c = find_customer(&mut store, &customer, Purpose::Read)?;
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
                ("status", c.status.to_string()),
                ("email", c.email.clone().unwrap_or_default()),
                ("created at", c.created_at.to_cell()),
            ];
            if c.status == Status::Deactivated {
                lines.push(("deactivated on", c.deactivated_on.to_cell()));
                lines.push(("reason", c.deactivation_reason.clone().unwrap_or_default()));
            }
            if c.status == Status::Deleted {
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
            let id = find_customer(&mut store, &customer, Purpose::Change)?.id;
            let c = engine(g, &mut store)?.update_customer(id, &parse_sets(&set)?)?;
            print_customer(g, &c)
        }
    }
}

pub(super) fn print_customer(g: &Global, c: &Customer) -> anyhow::Result<()> {
    if g.json {
        output::json(c)
    } else {
        output::table(&CUSTOMER_HEADER, &[customer_row(c)])
    }
}

pub(super) fn list_customers(
    g: &Global,
    store: &mut Store,
    query: &ListQuery,
) -> anyhow::Result<()> {
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
    // Counted up to 10,000 (a search: 1,000): past that "more than", not a count of a
    // million rows per page.
    let cap = if query.search.is_some() {
        1_000
    } else {
        10_000
    };
    let (total, exact) = store.count_customers_capped(
        &ListQuery {
            limit: None,
            offset: 0,
            after: None,
            after_value: None,
            ..query.clone()
        },
        cap,
    )?;
    let total_text = if exact {
        total.to_string()
    } else {
        format!("more than {total}")
    };
    let rows: Vec<Vec<String>> = list.iter().map(customer_row).collect();
    output::table(&CUSTOMER_HEADER, &rows)?;
    let shown_to = query.offset + list.len() as u64;
    if (total as u64) > shown_to || query.offset > 0 || query.after.is_some() {
        let full_page = query.limit.is_some_and(|l| list.len() as u64 == l);
        let more = match list.last() {
            Some(last) if full_page && (query.after.is_some() || (total as u64) > shown_to) => {
                format!("; --after {} for more, --limit 0 for all", last.id)
            }
            _ => String::new(),
        };
        if query.after.is_some() {
            eprintln!(
                "{} shown of {total_text} in view {}{more}",
                list.len(),
                query.view.name()
            );
        } else {
            eprintln!(
                "{}–{} of {total_text} in view {}{more}",
                query.offset + u64::from(!list.is_empty()),
                shown_to,
                query.view.name()
            );
        }
    }
    Ok(())
}

pub(super) fn records(g: &Global, cmd: RecordsCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    // Changes go through the engine, which checks their permission; reading needs `view`.
    if matches!(cmd, RecordsCmd::Show { .. } | RecordsCmd::List { .. }) {
        authorize(g, &mut store, Operation::View)?;
    }
    let record = match cmd {
        RecordsCmd::Bin { customer } => {
            let cid = match customer {
                Some(c) => Some(find_customer(&mut store, &c, Purpose::Read)?.id),
                None => None,
            };
            let list = engine(g, &mut store)?.binned_records(cid)?;
            if g.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!("the records bin is empty");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|b| {
                    vec![
                        b.id.to_string(),
                        b.kind.clone(),
                        b.record_id.to_string(),
                        b.customer_id.map(|c| c.to_string()).unwrap_or_default(),
                        b.deleted_at.clone(),
                        b.deleted_by.clone(),
                    ]
                })
                .collect();
            return output::table(
                &["entry", "kind", "record", "customer", "deleted", "by"],
                &rows,
            );
        }
        RecordsCmd::Restore {
            entries,
            dry_run,
            plan,
        } => {
            let mut engine = engine(g, &mut store)?;
            engine.expect_plan(plan);
            let done =
                super::lifecycle::changed(g.json, engine.restore_records(&entries, dry_run))?;
            if g.json {
                output::json(&done)?;
            } else {
                for e in &done.entries {
                    match &e.why {
                        Some(w) => {
                            println!("entry {} ({} {}): refused: {w}", e.id, e.kind, e.record_id)
                        }
                        None => println!(
                            "entry {} ({} {}): {}",
                            e.id,
                            e.kind,
                            e.record_id,
                            if dry_run {
                                "would be restored"
                            } else {
                                "restored"
                            }
                        ),
                    }
                }
                if dry_run {
                    println!("dry run: nothing was changed");
                }
                super::lifecycle::bind_hint(dry_run, &done.fingerprint);
            }
            if done.restored == 0 {
                return Err(Refused("nothing was restored".into()).into());
            }
            return Ok(());
        }
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
            mut paging,
            owner,
        } => {
            let (under, json) = owner_of(&store, &kind, &owner, &mut paging)?;
            let (list, whose) = match (customer, under) {
                (Some(customer), None) => {
                    let c = find_customer(&mut store, &customer, Purpose::Read)?;
                    let mut list = Vec::new();
                    let limit = (paging.limit > 0).then_some(paging.limit + paging.offset);
                    store.customer_records(&kind, c.id, limit, &mut |r| {
                        list.push(r);
                        Ok(())
                    })?;
                    (list, format!("customer {}", c.id))
                }
                (None, Some((name, id))) => {
                    // The owner must exist: an unknown one is said, not an empty list.
                    let owner_kind = store
                        .model()
                        .record(&kind)
                        .and_then(|k| match &k.owner.target {
                            offboard_model::model::Target::Record(o) => Some(o.clone()),
                            offboard_model::model::Target::Customer => None,
                        })
                        .unwrap_or_default();
                    store.record(&owner_kind, id)?;
                    let limit = match paging.limit {
                        0 => i64::MAX as u64,
                        l => l + paging.offset,
                    };
                    (
                        store.owner_records(&kind, id, limit)?.0,
                        format!("{name} {id}"),
                    )
                }
                _ => {
                    return Err(Usage(format!(
                        "give --customer ID, or the owner: records list {kind} --OWNER ID"
                    ))
                    .into())
                }
            };
            let list: Vec<_> = list.into_iter().skip(paging.offset as usize).collect();
            if g.json || json {
                return output::json(&list);
            }
            let Some(first) = list.first() else {
                println!("{whose} has no {kind} records");
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

pub(super) fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A consistent copy of the database: SQLite writes a new database file; PostgreSQL's is
/// `pg_dump`'s custom format (restore with `pg_restore`).
pub(super) fn backup(g: &Global, file: &Path) -> anyhow::Result<()> {
    let mut store = open(g)?;
    authorize(g, &mut store, Operation::Export)?;
    offboard_store::restore::backup(&mut store, &g.db, file)?;
    println!("backed up {} to {}", g.db, file.display());
    Ok(())
}

/// `duplicates`: possible duplicates, best first.
pub(super) fn duplicates(
    g: &Global,
    by: Option<Vec<String>>,
    kind: Option<String>,
    limit: u64,
) -> anyhow::Result<()> {
    use offboard_store::duplicates::Signal;
    let mut store = open(g)?;
    let me = actor(g, &mut store)?;
    let signals: Vec<Signal> = match by {
        Some(list) => list
            .iter()
            .map(|s| {
                Signal::parse(s.trim()).ok_or_else(|| {
                    Usage(format!(
                        "--by {s}: compare by email, name or phone (comma-separated)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None => vec![Signal::Email, Signal::Name],
    };
    let mut engine = Engine::new(&mut store, me);
    engine.allow(Operation::View)?;
    let pairs = engine.read().duplicates(&signals, kind.as_deref(), limit)?;
    if g.json {
        return output::json(&pairs);
    }
    if pairs.is_empty() {
        println!(
            "no possible duplicates by {}",
            signals
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            let who = |b: &offboard_store::duplicates::Brief| {
                format!(
                    "{} {} {}{}",
                    b.id,
                    b.number,
                    b.name,
                    b.email
                        .as_ref()
                        .map(|e| format!(" <{e}>"))
                        .unwrap_or_default()
                )
            };
            vec![
                p.score.to_string(),
                p.shared.join(", "),
                who(&p.a),
                who(&p.b),
            ]
        })
        .collect();
    output::table(&["score", "same", "customer", "and customer"], &rows)?;
    println!(
        "merge one into the other: offboard merge DUPLICATE --into ID (--dry-run shows what moves)"
    );
    Ok(())
}

pub(super) fn stats(g: &Global) -> anyhow::Result<()> {
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

/// The owner a `records list` names after its kind (`--contract 43`), with `--limit`,
/// `--offset` and `--json` given after it; `None` when none is named.
fn owner_of(
    store: &Store,
    kind: &str,
    args: &[String],
    paging: &mut crate::args::Paging,
) -> anyhow::Result<(Option<(String, i64)>, bool)> {
    if args.is_empty() {
        return Ok((None, false));
    }
    let Some(k) = store.model().record(kind) else {
        return Err(Usage(format!("unknown record kind `{kind}`")).into());
    };
    let owner_name = match &k.owner.target {
        offboard_model::model::Target::Record(_) => k.owner.name.clone(),
        offboard_model::model::Target::Customer => {
            return Err(Usage(format!(
                "{kind} records belong to a customer: records list {kind} --customer ID"
            ))
            .into())
        }
    };
    let mut owner = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |flag: &str| -> anyhow::Result<u64> {
            let v = it
                .next()
                .ok_or_else(|| Usage(format!("{flag} needs a value")))?;
            v.parse::<u64>()
                .map_err(|_| Usage(format!("{flag} {v}: expected a number")).into())
        };
        match a.as_str() {
            "--json" => json = true,
            "--limit" => paging.limit = number("--limit")?,
            "--offset" => paging.offset = number("--offset")?,
            flag if flag
                .strip_prefix("--")
                .is_some_and(|n| n == owner_name || n == k.owner.column) =>
            {
                let id = number(flag)?;
                owner = Some((owner_name.clone(), i64::try_from(id).unwrap_or(i64::MAX)));
            }
            other => {
                return Err(Usage(format!(
                    "`{other}`: expected --{owner_name} ID (the {owner_name} whose {kind} records to list)"
                ))
                .into())
            }
        }
    }
    Ok((owner, json))
}
