//! The lifecycle commands: a plan, printed as text or JSON; at a terminal, progress and a
//! question before an erasure.

use super::*;

/// Runs a lifecycle operation and prints its plan. Exit code 1 when customers were blocked
/// and none could be processed — the plan says why for each.
pub(super) fn lifecycle(
    g: &Global,
    customers: &[String],
    select: Option<&Select>,
    args: &PlanArgs,
    confirm: Option<&str>,
    op: impl Fn(&mut Engine<'_>, &[i64], bool) -> Result<Plan, EngineError>,
) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    let mut store = open(g)?;
    let mut ids = Vec::new();
    for c in customers {
        ids.push(find_customer(&mut store, c, Purpose::Change)?.id);
    }
    if let Some(sel) = select {
        if sel.select_view.is_some() && !customers.is_empty() {
            return Err(Usage(format!(
                "name the customers ({}) or choose them with --select-view, not both: which did you mean?",
                customers.join(", ")
            ))
            .into());
        }
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
                sort: Default::default(),
                after: None,
                after_value: None,
                ids: None,
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
    let bar = progress_bar();
    let mut reporter = bar.clone().map(reporter);
    let mut engine = Engine::new(&mut store, actor);
    if let Some(r) = reporter.as_mut() {
        engine.on_progress(r);
    }
    if let Some(what) = confirm.filter(|_| !dry_run && asks()) {
        // An erasure cannot be undone: at a terminal, show the plan and ask first.
        let plan = op(&mut engine, &ids, true);
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        let plan = plan?;
        print_plan(g, &plan)?;
        if plan.done == 0 {
            return Ok(());
        }
        if !yes_to(&format!(
            "{what} {} for good? This cannot be undone. [y/N] ",
            if plan.done == 1 {
                "1 customer".to_string()
            } else {
                format!("{} customers", plan.done)
            }
        ))? {
            return Err(Refused("nothing was changed".into()).into());
        }
        // What was confirmed is what happens: the apply is bound to the plan shown.
        engine.expect_plan(Some(plan.fingerprint.clone()));
    } else {
        engine.expect_plan(args.plan.clone());
    }
    if let Some(b) = &bar {
        b.reset();
    }
    let plan = op(&mut engine, &ids, dry_run);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let plan = plan_changed(g, plan)?;
    print_plan(g, &plan)?;
    // One rule for every command, dry run or apply: exit 1 when there were customers and
    // nothing would be (or was) done to any of them.
    if plan.candidates > 0 && plan.changed_nothing() {
        return Err(Refused(format!(
            "nothing {} {}: {} blocked, {} skipped",
            if plan.dry_run { "would be" } else { "was" },
            plan.done_key(),
            plan.blocked,
            plan.skipped
        ))
        .into());
    }
    Ok(())
}

/// An operation between two customers (transfer, merge, delete with move-to).
pub(super) fn pair_op(
    g: &Global,
    from: &str,
    to: &str,
    args: &PlanArgs,
    op: impl FnOnce(&mut Engine<'_>, i64, i64) -> Result<Plan, EngineError>,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let a = find_customer(&mut store, from, Purpose::Change)?.id;
    let b = find_customer(&mut store, to, Purpose::Change)?.id;
    let actor = actor(g, &mut store)?;
    let mut engine = Engine::new(&mut store, actor);
    engine.expect_plan(args.plan.clone());
    let plan = plan_changed(g, op(&mut engine, a, b))?;
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

/// `undo SEQ [--dry-run]`.
pub(super) fn undo(
    g: &Global,
    entry: i64,
    dry_run: bool,
    expected: Option<String>,
) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let actor = actor(g, &mut store)?;
    let mut engine = Engine::new(&mut store, actor);
    engine.expect_plan(expected);
    let plan = engine.undo(entry, dry_run)?;
    if g.json {
        output::json(&plan)?;
    } else {
        let entries = if plan.entries.0 == plan.entries.1 {
            format!("entry {}", plan.entries.0)
        } else {
            format!("entries {}–{}", plan.entries.0, plan.entries.1)
        };
        println!(
            "undo of the {} in {entries}{}: {} come back, {} stay",
            plan.operation,
            if dry_run {
                " (dry run: nothing changed)"
            } else {
                ""
            },
            plan.undone,
            plan.refused
        );
        for (table, e) in &plan.effects {
            let list: Vec<String> = e.iter().map(|(k, v)| format!("{v} {k}")).collect();
            println!("  {table}: {}", list.join(", "));
        }
        if dry_run {
            println!(
                "  plan {}: undo exactly this with --plan {}",
                plan.fingerprint, plan.fingerprint
            );
        }
        for c in &plan.customers {
            match &c.why {
                Some(why) => println!("  {} {} {}: stays: {why}", c.id, c.number, c.name),
                None => println!("  {} {} {}: {}", c.id, c.number, c.name, c.outcome),
            }
        }
    }
    if plan.undone == 0 {
        return Err(Refused(
            if dry_run {
                "nothing would be undone"
            } else {
                "nothing was undone"
            }
            .into(),
        )
        .into());
    }
    Ok(())
}

/// `merge DUP... --into ID [--take FIELD=CUSTOMER]...`.
pub(super) fn merge(
    g: &Global,
    duplicates: &[String],
    into: &str,
    take: &[String],
    args: &PlanArgs,
) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    let mut store = open(g)?;
    let mut ids = Vec::new();
    for d in duplicates {
        ids.push(find_customer(&mut store, d, Purpose::Change)?.id);
    }
    let into = find_customer(&mut store, into, Purpose::Change)?.id;
    let mut chosen = std::collections::BTreeMap::new();
    for t in take {
        let Some((field, who)) = t.split_once('=') else {
            return Err(Usage(format!(
                "--take {t}: write it as FIELD=CUSTOMER, e.g. email=1043"
            ))
            .into());
        };
        let id = find_customer(&mut store, who.trim(), Purpose::Change)?.id;
        chosen.insert(field.trim().to_string(), id);
    }
    let actor = actor(g, &mut store)?;
    let mut engine = Engine::new(&mut store, actor);
    engine.expect_plan(args.plan.clone());
    let plan = plan_changed(g, engine.merge_many(&ids, into, &chosen, dry_run))?;
    if g.json {
        return output::json(&plan);
    }
    if let Some(m) = &plan.merge {
        println!(
            "into {} {}:",
            m["into"]["number"].as_str().unwrap_or_default(),
            m["into"]["name"].as_str().unwrap_or_default()
        );
        for f in m["fields"].as_array().into_iter().flatten() {
            let values: Vec<String> = f["candidates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    let v = match &c["value"] {
                        serde_json::Value::Null => "–".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let mark = if c["customer"] == f["winner"] {
                        "*"
                    } else {
                        ""
                    };
                    format!("{mark}{}: {v}", c["number"].as_str().unwrap_or_default())
                })
                .collect();
            println!(
                "  {:<14} {}  ({})",
                f["field"].as_str().unwrap_or_default(),
                values.join(" | "),
                f["rule"].as_str().unwrap_or_default()
            );
        }
        for c in m["conflicts"].as_array().into_iter().flatten() {
            println!(
                "  conflict ({}): {}",
                c["rule"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            );
        }
    }
    print_plan(g, &plan)
}

/// An apply bound to a plan (`--plan`, or the plan confirmed at the terminal) that would now
/// do something else changed nothing: the new plan is printed, and the command fails.
fn plan_changed(g: &Global, result: Result<Plan, EngineError>) -> anyhow::Result<Plan> {
    match result {
        Err(EngineError::PlanChanged { expected, plan }) => {
            print_plan(g, &plan)?;
            Err(Refused(format!(
                "the plan changed since it was shown ({expected}; it is now {}): nothing was changed; check the plan above and run again with --plan {}",
                plan.fingerprint, plan.fingerprint
            ))
            .into())
        }
        other => Ok(other?),
    }
}

pub(super) fn print_plan(g: &Global, plan: &Plan) -> anyhow::Result<()> {
    if g.json {
        return output::json(plan);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mode = if plan.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    // A dry run says what would happen: "3 would be deleted".
    let done_key = if plan.dry_run {
        format!("would be {}", plan.done_key())
    } else {
        plan.done_key().to_string()
    };
    writeln!(
        out,
        "{}{mode}: {} candidate{}, {} {done_key}, {} blocked, {} skipped",
        plan.operation,
        plan.candidates,
        if plan.candidates == 1 { "" } else { "s" },
        plan.done,
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
    for note in &plan.notes {
        writeln!(out, "  note: {note}")?;
    }
    if plan.dry_run && !plan.fingerprint.is_empty() {
        writeln!(
            out,
            "  plan {}: apply exactly this with --plan {}",
            plan.fingerprint, plan.fingerprint
        )?;
    }
    const SHOWN: usize = 20;
    // Who it is done to, by number and name (a few; --json lists them all).
    let done: Vec<_> = plan
        .customers
        .iter()
        .filter(|c| c.outcome == Outcome::Proceeds)
        .collect();
    if done.len() <= SHOWN {
        for c in &done {
            writeln!(out, "  {} {} (id {}): {done_key}", c.number, c.name, c.id)?;
        }
    }
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

pub(super) fn delete_records(
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
    let (mut ids, mut owner, mut from, mut dry_run, mut json, mut yes) =
        (Vec::new(), None, None, false, g.json, false);
    let mut bound: Option<String> = None;
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
            "--yes" | "-y" => yes = true,
            "--from" => from = Some(value("--from")?),
            "--plan" => bound = Some(value("--plan")?),
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
                    "`{id}`: expected record ids, --{} ID, --from VALUE, --dry-run, --plan FINGERPRINT or --yes",
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
    if dry_run && bound.is_some() {
        return Err(Usage("--plan applies a plan; it does not go with --dry-run".into()).into());
    }
    let actor = actor(g, store)?;
    let mut engine = Engine::new(store, actor);
    // At a terminal, deleting asks first, showing what would go (--yes skips the question);
    // the apply is bound to what it showed.
    if !dry_run && !yes && !json && bound.is_none() && asks() {
        let preview = engine.delete_records(kind, &sel, true)?;
        bound = Some(preview.fingerprint.clone());
        if preview.blocked.is_empty() {
            let list: Vec<String> = preview.ids.iter().map(|i| i.to_string()).collect();
            let question = format!(
                "delete {} {} ({})? this cannot be undone [y/N] ",
                preview.candidates,
                preview.kind,
                list.join(", ")
            );
            if !yes_to(&question)? {
                return Err(Refused("nothing was deleted".into()).into());
            }
        }
    }
    engine.expect_plan(bound);
    let plan = changed(json, engine.delete_records(kind, &sel, dry_run))?;
    if json {
        output::json(&plan)?;
    } else {
        let mode = if plan.dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        };
        println!(
            "delete {}{mode}: {} candidate{}, {} deleted",
            plan.kind,
            plan.candidates,
            if plan.candidates == 1 { "" } else { "s" },
            plan.deleted
        );
        for b in &plan.blocked {
            println!(
                "  {} {}: blocked: {} [{}]",
                plan.kind, b.id, b.message, b.rule
            );
        }
        bind_hint(plan.dry_run, &plan.fingerprint);
    }
    if !plan.blocked.is_empty() {
        return Err(Refused(format!(
            "nothing was deleted: {} {} record{} blocked",
            plan.blocked.len(),
            plan.kind,
            if plan.blocked.len() == 1 { "" } else { "s" }
        ))
        .into());
    }
    Ok(())
}

/// A dry run's last line: the fingerprint to apply exactly what it showed.
pub(super) fn bind_hint(dry_run: bool, fingerprint: &str) {
    if dry_run && !fingerprint.is_empty() {
        println!("  plan {fingerprint}: apply exactly this with --plan {fingerprint}");
    }
}

/// An apply bound to a plan (a records delete or restore, a forget) that would now do
/// something else changed nothing: the new plan is printed (its JSON), and the command fails.
pub(super) fn changed<T>(json: bool, result: Result<T, EngineError>) -> anyhow::Result<T> {
    match result {
        Err(EngineError::Changed {
            what,
            expected,
            now,
            plan,
        }) => {
            if json {
                output::json(&plan)?;
            } else {
                println!("the {what} would now do this:");
                println!("{}", serde_json::to_string_pretty(&plan)?);
            }
            Err(Refused(format!(
                "the {what} changed since it was shown ({expected}; it is now {now}): nothing was changed; check it and run again with --plan {now}"
            ))
            .into())
        }
        other => Ok(other?),
    }
}

/// At a terminal, a long operation says where it is on stderr: one line, rewritten as each
/// phase ends.
pub(super) fn progress_bar() -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("  {spinner} {elapsed:>3} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

/// Shows each step of an operation on `bar`: the phase, and its count where it has one.
pub(super) fn reporter(
    bar: indicatif::ProgressBar,
) -> impl FnMut(&offboard_engine::Step<'_>) -> bool + Send {
    move |step| {
        let phase = step.phase.replace('_', " ");
        bar.set_message(match (step.done, step.total) {
            (_, 0) if step.done > 0 => format!("{phase} (round {})", step.done),
            (_, 0) => format!("{phase}…"),
            (d, t) if d > 0 => format!("{phase} {d} of {t}"),
            (_, t) => format!("{phase} ({t} customers)…"),
        });
        true
    }
}

/// Whether to ask before an erasure: a person at a terminal (not a script, not --json).
pub(super) fn asks() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// Asks a yes/no question on the terminal.
pub(super) fn yes_to(question: &str) -> anyhow::Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
