//! `offboard requests …` (privacy requests), `offboard locate` and `audit verify --receipt`.

use std::path::Path;

use anyhow::Context;

use offboard_engine::privacy::{LogRequest, Person, Target};
use offboard_model::Date;
use offboard_store::privacy::{PrivacyRequest, RequestFilter, RequestKind, RequestStatus};
use offboard_store::resolve::Purpose;
use offboard_store::Store;

use super::{actor, find_customer, open, parse_sets, Refused, Usage};
use crate::args::{Global, RequestsCmd};
use crate::output;

fn kind(s: &str) -> anyhow::Result<RequestKind> {
    RequestKind::parse(s).ok_or_else(|| {
        Usage(format!(
            "--type {s}: the types are access, erasure, correction and restriction"
        ))
        .into()
    })
}

fn row(r: &PrivacyRequest) -> Vec<String> {
    vec![
        r.id.to_string(),
        r.kind.name().to_string(),
        r.status.name().to_string(),
        r.customer_number
            .clone()
            .unwrap_or_else(|| "none found".into()),
        r.received_on.clone(),
        if r.overdue {
            format!("{} OVERDUE", r.due_on)
        } else {
            r.due_on.clone()
        },
        r.assignee.clone().unwrap_or_default(),
    ]
}

fn show(g: &Global, r: &PrivacyRequest) -> anyhow::Result<()> {
    if g.json {
        return output::json(r);
    }
    println!(
        "request {}: {} — {}{}",
        r.id,
        r.kind.name(),
        r.status.name(),
        if r.overdue { " (OVERDUE)" } else { "" }
    );
    println!(
        "  person:    {}{}",
        r.customer_number
            .as_deref()
            .map(|n| format!("customer {n} (#{})", r.customer_id.unwrap_or_default()))
            .unwrap_or_else(|| "no customer found".into()),
        r.contact
            .as_deref()
            .map(|c| format!(", contact {c}"))
            .unwrap_or_default()
    );
    if let Some(n) = &r.requester {
        println!("  name:      {n}");
    }
    println!(
        "  received:  {} (logged by {}), due {}{}",
        r.received_on,
        r.logged_by,
        r.due_on,
        r.extended_because
            .as_deref()
            .map(|b| format!(" — extended: {b}"))
            .unwrap_or_default()
    );
    if let Some(a) = &r.assignee {
        println!("  assignee:  {a}");
    }
    if let (Some(m), Some(by)) = (&r.verified_method, &r.verified_by) {
        println!(
            "  verified:  {m} (by {by}, {})",
            r.verified_at.as_deref().unwrap_or("")
        );
    }
    if let Some(o) = &r.outcome {
        println!("  outcome:   {o}");
    }
    if let Some(why) = &r.refusal {
        println!("  refused:   {why}");
    }
    if let Some(c) = &r.closed_at {
        println!(
            "  closed:    {c} by {}",
            r.closed_by.as_deref().unwrap_or("")
        );
    }
    if let Some(rc) = &r.receipt {
        println!(
            "  receipt:   sealed at audit entry {} ({})",
            rc["audit"]["seq"],
            rc["sha256"].as_str().unwrap_or("")
        );
    }
    if let Some(n) = &r.notes {
        println!("  notes:     {n}");
    }
    if let Some(at) = &r.redacted_at {
        println!("  contact, name and notes cleared {at}");
    }
    Ok(())
}

pub(super) fn requests(g: &Global, cmd: RequestsCmd) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let me = actor(g, &mut store)?;
    match cmd {
        RequestsCmd::Add {
            kind: k,
            email,
            customer,
            name,
            received,
            assignee,
            notes,
        } => {
            let kind = kind(&k)?;
            let person = match (customer, email) {
                (Some(c), _) => Person::Customer(find_customer(&mut store, &c, Purpose::Read)?.id),
                (None, Some(e)) => Person::Contact(e),
                (None, None) => return Err(Usage("give --email or --customer".into()).into()),
            };
            let received_on = match received {
                Some(d) => Some(Date::parse(&d).ok_or_else(|| {
                    Usage(format!("--received {d}: expected a date, YYYY-MM-DD"))
                })?),
                None => None,
            };
            let r = offboard_engine::Engine::new(&mut store, me).log_request(LogRequest {
                kind,
                person,
                requester: name,
                received_on,
                assignee,
                notes,
            })?;
            if !g.json {
                println!(
                    "logged request {} ({}), due {}{}",
                    r.id,
                    r.kind.name(),
                    r.due_on,
                    if r.customer_id.is_none() {
                        "; no customer has this email or phone"
                    } else {
                        ""
                    }
                );
            }
            show(g, &r)
        }
        RequestsCmd::List {
            status,
            kind: k,
            overdue,
            open,
        } => {
            let status = match status {
                Some(s) => Some(RequestStatus::parse(&s).ok_or_else(|| {
                    Usage(format!("--status {s}: the statuses are received, verified, in_progress, completed and refused"))
                })?),
                None => None,
            };
            let kind = k.as_deref().map(kind).transpose()?;
            let list = offboard_engine::Engine::new(&mut store, me).requests(&RequestFilter {
                status,
                kind,
                overdue,
                open,
                customer_id: None,
            })?;
            if g.json {
                return output::json(&list);
            }
            if list.is_empty() {
                println!("no privacy requests");
                return Ok(());
            }
            let rows: Vec<Vec<String>> = list.iter().map(row).collect();
            output::table(
                &[
                    "id", "type", "status", "customer", "received", "due", "assignee",
                ],
                &rows,
            )
        }
        RequestsCmd::Show { id } => {
            let r = offboard_engine::Engine::new(&mut store, me).request(id)?;
            show(g, &r)
        }
        RequestsCmd::VerifyIdentity { id, method } => {
            let r = offboard_engine::Engine::new(&mut store, me).verify_request(id, &method)?;
            show(g, &r)
        }
        RequestsCmd::Assign { id, user } => {
            let r = offboard_engine::Engine::new(&mut store, me).assign_request(id, &user)?;
            show(g, &r)
        }
        RequestsCmd::Extend { id, reason } => {
            let r = offboard_engine::Engine::new(&mut store, me).extend_request(id, &reason)?;
            show(g, &r)
        }
        RequestsCmd::Run {
            id,
            dry_run,
            set,
            out,
        } => {
            let cells = parse_sets(&set)?;
            let mut engine = offboard_engine::Engine::new(&mut store, me);
            if !dry_run {
                // Access: the package goes somewhere before the request says it was sent.
                let r = engine.request(id)?;
                if r.kind == RequestKind::Access && out.is_none() {
                    return Err(Usage(format!(
                        "request {id} is an access request: say where the package goes (--out FILE)"
                    ))
                    .into());
                }
            }
            let report = engine.run_request(id, &cells, dry_run)?;
            if let (Some(file), Some(pkg)) = (&out, &report.package) {
                if !dry_run {
                    write(file, &serde_json::to_string_pretty(pkg)?)?;
                }
            }
            if g.json {
                return output::json(&report);
            }
            if dry_run {
                println!(
                    "request {id} would do (dry run: nothing changed): {}",
                    report.request.outcome.clone().unwrap_or_default()
                );
                return Ok(());
            }
            if let Some(file) = &out {
                println!("wrote the access package to {}", file.display());
            }
            show(g, &report.request)
        }
        RequestsCmd::Complete { id } => {
            let r = offboard_engine::Engine::new(&mut store, me).complete_request(id)?;
            show(g, &r)
        }
        RequestsCmd::Refuse { id, reason } => {
            let r = offboard_engine::Engine::new(&mut store, me).refuse_request(id, &reason)?;
            show(g, &r)
        }
        RequestsCmd::Receipt { id, out, html } => {
            let r = offboard_engine::Engine::new(&mut store, me).request(id)?;
            let Some(receipt) = &r.receipt else {
                return Err(Refused(format!(
                    "request {id} is {}: a receipt is made when it is completed",
                    r.status.name()
                ))
                .into());
            };
            let text = if html {
                offboard_engine::privacy::receipt_html(&r)
            } else {
                serde_json::to_string_pretty(receipt)?
            };
            write(&out, &text)?;
            if !g.json {
                println!("wrote the receipt of request {id} to {}", out.display());
            }
            Ok(())
        }
    }
}

fn write(file: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(file, text).with_context(|| format!("cannot write {}", file.display()))
}

/// `audit verify --receipt FILE`.
pub(super) fn verify_receipt(g: &Global, store: &mut Store, file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let receipt: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let me = actor(g, store)?;
    let check = offboard_engine::Engine::new(store, me).verify_receipt(&receipt)?;
    if g.json {
        output::json(&check)?;
    } else if check.ok() {
        println!(
            "receipt of privacy request {} verified: sealed, in the audit chain (intact), on record",
            check.request
        );
    }
    if !check.ok() {
        return Err(Refused(format!(
            "the receipt of request {} does not verify: {}",
            check.request,
            check.problems.join("; ")
        ))
        .into());
    }
    Ok(())
}

/// `offboard locate WHO [--bytes]`.
pub(super) fn locate(g: &Global, who: &str, bytes: bool) -> anyhow::Result<()> {
    let mut store = open(g)?;
    let target = if who.contains('@') {
        Target::Value(who.to_string())
    } else {
        match store.resolve_customer(who, Purpose::Read) {
            Ok(r) => Target::Id(r.customer.id),
            Err(e) => match who.trim_start_matches('#').parse::<i64>() {
                // An erased id: what still names it.
                Ok(id) if who.starts_with('#') => Target::Id(id),
                Ok(_) => return Err(e.into()),
                // A name, a phone: wherever it is.
                Err(_) => Target::Value(who.to_string()),
            },
        }
    };
    let files = offboard_store::inventory::database_files(&g.db);
    let mut book = offboard_store::jobs::JobBook::open(&g.db).ok();
    let me = actor(g, &mut store)?;
    let found = offboard_engine::Engine::new(&mut store, me).locate(
        &target,
        bytes.then_some(files.as_slice()),
        book.as_mut(),
    )?;
    if g.json {
        return output::json(&found);
    }
    match &found.customer {
        Some(c) if c["erased"] == serde_json::json!(true) => {
            println!("customer #{}: erased", c["id"])
        }
        Some(c) => println!(
            "customer {} {} (#{}, {})",
            c["number"].as_str().unwrap_or(""),
            c["name"].as_str().unwrap_or(""),
            c["id"],
            c["status"].as_str().unwrap_or("")
        ),
        None => println!("no customer has this value"),
    }
    if !found.searched.is_empty() {
        println!("searched for: {}", found.searched.join(", "));
    }
    let print = |title: &str, hits: &[offboard_store::inventory::Hit]| {
        for h in hits {
            println!(
                "{title} {}.{}: {} row(s){}",
                h.table,
                h.column,
                h.rows,
                h.place
                    .as_ref()
                    .map(|p| format!(" — {} (removed by {})", p.what, p.removed_by))
                    .unwrap_or_else(|| " — not in the personal-data inventory".into())
            );
        }
    };
    print("found", &found.found);
    print("kept ", &found.kept);
    print("UNDECLARED", &found.undeclared);
    if let Some(f) = &found.files {
        println!(
            "byte scan: {} file(s) scanned, {} hold a value{}",
            f.scanned,
            f.found.len(),
            f.found
                .iter()
                .map(|h| format!(
                    "\n  {}{}",
                    h.file,
                    h.relation
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ))
                .collect::<String>()
        );
    }
    if !found.pending_rewrite.is_empty() {
        println!(
            "PostgreSQL's files of {} still hold erased rows (a reader held them at the rewrite): the next erasure or `offboard compact` rewrites them",
            found.pending_rewrite.join(", ")
        );
    }
    if found.is_clear() {
        println!("nothing of this person is left outside what is kept on purpose");
    }
    Ok(())
}
