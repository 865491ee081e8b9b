//! Erasure — purge and hard delete: rule blockers, records that block their customer, the
//! orphan fixpoint over who else goes, then per kind cascade or detach, the customer rows, and
//! an audit entry per erased customer with the names it was linked to, read before anything
//! is removed. A dry run counts what apply would change.

use std::collections::HashMap;

use offboard_model::model::{LinkErase, OnErase, RuleSubject, Target};
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::records::customer_path;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::blockers::{complete_explanations, orphans, rule_blockers, split_rules, Blockers};
use crate::kernel::{
    count_per_customer, effect, entry, fill_go, plan_of, remove_ids, Cand, Ctx, PerCustomer,
    Phases, CAND, GO,
};
use crate::plan::{Blocker, Outcome, Plan};
use crate::sql::{fill_set, id_list, q, temp_set};
use crate::Allowed;

/// Erasure (purge, hard delete): rule blockers, records that block, the orphan fixpoint, then
/// per kind cascade / detach, the customer rows, and an audit entry per erased customer.
/// Shown in the plan as the allowed operation (purge, or a hard delete).
pub(crate) fn erase(
    allowed: &Allowed,
    ctx: &mut Ctx<'_>,
    db: &mut dyn Db,
    cands: &[Cand],
    all_or_nothing: bool,
) -> Result<Plan, StoreError> {
    let (model, actor, dry_run) = (ctx.model, ctx.actor, ctx.dry_run);
    let op = allowed.operation();
    let d = db.dialect();
    let (plain, on_customers) = split_rules(model, op);
    let blocking_kinds = model
        .records
        .iter()
        .filter(|k| k.on_erase == OnErase::Block);
    // The blockers phase's steps: a rule checked, or a kind of record that blocks.
    let checks = plain.len() + blocking_kinds.clone().count();
    let mut clock = Phases::start(&mut *ctx.report, "blockers", checks as u64)?;
    let mut blockers: Blockers = HashMap::new();
    clock.each(&plain, |rule| {
        rule_blockers(
            model,
            db,
            std::slice::from_ref(rule),
            CAND,
            None,
            &mut blockers,
        )
    })?;
    // Records that block erasure of their customer.
    for kind in blocking_kinds {
        clock.tick()?;
        let (from, cust) = customer_path(model, kind);
        let rows = db.query(
            &format!("SELECT {cust}, count(*), {} FROM {from} WHERE {cust} IN (SELECT id FROM {CAND}) GROUP BY {cust}", id_list(d, "r.id")),
            &[],
            &[FieldType::Int, FieldType::Int, FieldType::Text],
        )?;
        for r in rows {
            let Some(id) = r[0].as_i64() else { continue };
            let count = r[1].as_i64().unwrap_or(0);
            let ids = crate::sql::few_ids(&r[2], 5);
            let list = ids
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            blockers.entry(id).or_default().push(Blocker {
                rule: format!("remaining-{}", kind.name),
                message: format!(
                    "{} {} ({} {list}{}); {}",
                    kind.count_words(count),
                    if count == 1 { "remains" } else { "remain" },
                    if ids.len() == 1 { "id" } else { "ids" },
                    if count > 5 { ", ..." } else { "" },
                    match (count == 1, kind.transferable) {
                        (true, true) => "delete it or move it to another customer first",
                        (true, false) => "delete it first",
                        (false, true) => "delete them or move them to another customer first",
                        (false, false) => "delete them first",
                    }
                ),
                count,
                amount: None,
                ids,
            });
        }
    }
    clock.next("orphan_fixpoint", 1)?;
    temp_set(db, GO)?;
    let eligible: Vec<i64> = cands
        .iter()
        .filter(|c| !blockers.contains_key(&c.id))
        .map(|c| c.id)
        .collect();
    fill_set(db, GO, &eligible)?;
    // The fixpoint: a blocked customer survives, which can block others in turn.
    let mut round = 0;
    loop {
        clock.advance_open(round)?;
        round += 1;
        let mut more: Blockers = HashMap::new();
        rule_blockers(model, db, &on_customers, GO, Some(GO), &mut more)?;
        for (id, sources) in orphans(model, db, GO)? {
            if more.contains_key(&id) {
                continue;
            }
            let count = sources.iter().map(|s| s.1).sum();
            let parts: Vec<String> = sources
                .iter()
                .map(|(src, n, ids)| {
                    let list = ids
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!(
                        "{src} {list}{}",
                        if *n > ids.len() as i64 { ", ..." } else { "" }
                    )
                })
                .collect();
            more.entry(id).or_default().push(Blocker {
                rule: "orphan".into(),
                message: format!("still linked from surviving {}", parts.join("; ")),
                count,
                amount: None,
                ids: sources.into_iter().flat_map(|s| s.2).take(5).collect(),
            });
        }
        if more.is_empty() {
            clock.finish_open(round)?;
            break;
        }
        remove_ids(db, GO, more.keys())?;
        blockers.extend(more);
    }
    // Orphans count only where no rule blocks; the rules on other customers are reported
    // for every blocked customer.
    let unblocked_orphan: Vec<i64> = blockers
        .iter()
        .filter(|(_, b)| b.iter().all(|x| x.rule == "orphan"))
        .map(|(id, _)| *id)
        .collect();
    complete_explanations(model, db, &on_customers, GO, &mut blockers)?;
    for id in unblocked_orphan {
        if let Some(list) = blockers.get_mut(&id) {
            if list.iter().any(|b| b.rule != "orphan") {
                list.retain(|b| b.rule != "orphan");
            }
        }
    }
    // The effects phase's steps: per kind its count (not in a dry run) and its change, per
    // detaching link the same, the customers' own links, and the customers.
    let detaching = |k: &offboard_model::model::RecordKind| {
        k.links
            .iter()
            .filter(|l| l.on_erase == LinkErase::Detach && l.target == Target::Customer)
            .count() as u64
    };
    let changes: u64 = model
        .records
        .iter()
        .map(|k| u64::from(k.on_erase != OnErase::Block) + detaching(k))
        .sum();
    let counts: u64 = model
        .records
        .iter()
        .filter(|k| k.on_erase != OnErase::Block)
        .map(|k| 1 + detaching(k))
        .sum();
    let customer_links = model
        .customer
        .links
        .iter()
        .filter(|l| l.link.on_erase == LinkErase::Detach)
        .count() as u64;
    let steps = changes + customer_links + 1 + if dry_run { 0 } else { counts };
    clock.next("effects", steps)?;
    let any_blocked = !blockers.is_empty();
    // The rules checked, the records that block their customer's erasure, and orphans.
    let mut rule_ids: Vec<String> = model
        .rules_for(op)
        .filter(|r| !matches!(r.subject, RuleSubject::Siblings { .. }))
        .map(|r| r.id.clone())
        .collect();
    rule_ids.extend(
        model
            .records
            .iter()
            .filter(|k| k.on_erase == OnErase::Block)
            .map(|k| format!("remaining-{}", k.name)),
    );
    rule_ids.push("orphan".into());
    let mut plan = plan_of(
        op,
        dry_run,
        cands,
        &rule_ids,
        &|c| match blockers.get(&c.id) {
            Some(b) => (Outcome::Blocked, b.clone(), None),
            None if all_or_nothing && any_blocked => (
                Outcome::Skipped,
                vec![],
                Some("all or nothing: other deleted customers are blocked".into()),
            ),
            None => (Outcome::Proceeds, vec![], None),
        },
    );
    fill_go(db, &plan)?;
    if plan.done == 0 {
        plan.timings = clock.done();
        return Ok(plan);
    }
    // Audit entries first: names as they were, and the names the customer's links point at.
    let link_cols: Vec<&str> = model
        .customer
        .links
        .iter()
        .map(|l| l.link.column.as_str())
        .collect();
    let joins: String = link_cols
        .iter()
        .enumerate()
        .map(|(i, c)| format!(" LEFT JOIN customers l{i} ON l{i}.id = c.{}", q(c)))
        .collect();
    let names: String = (0..link_cols.len())
        .map(|i| format!(", l{i}.name"))
        .collect();
    let mut types = vec![FieldType::Int];
    types.extend(link_cols.iter().map(|_| FieldType::Text));
    // Read only when the audit entries will be written (not in a dry run).
    let linked_sql = if dry_run {
        format!("SELECT c.id{names} FROM customers c{joins} WHERE 1 = 0")
    } else {
        format!("SELECT c.id{names} FROM customers c{joins} WHERE c.id IN (SELECT id FROM {GO})")
    };
    let linked: HashMap<i64, Vec<Value>> = db
        .query(&linked_sql, &[], &types)?
        .into_iter()
        .filter_map(|mut r| {
            let id = r.remove(0).as_i64()?;
            Some((id, r))
        })
        .collect();
    // No resurrection: the identifying values of those erased are kept as keyed digests,
    // read before anything is removed.
    if !dry_run {
        offboard_store::blocklist::block_customers(model, db, GO, "erased")?;
        db.execute(
            &format!("DELETE FROM offboard_forgotten WHERE customer_id IN (SELECT id FROM {GO})"),
            &[],
        )?;
        // The audit log forgets them too: their entries' kept-apart parts go, salts included.
        audit::forget_customers(db, GO)?;
        // And the records bin its deleted records.
        crate::bin::forget_binned(db, GO)?;
    }
    // What each erased customer loses, per kind, read before anything is removed.
    let mut per_customer = PerCustomer::new();
    if !dry_run {
        for kind in &model.records {
            let (from, cust) = customer_path(model, kind);
            let what = match kind.on_erase {
                OnErase::Cascade => "removed",
                OnErase::Detach => "detached",
                OnErase::Block => continue,
            };
            count_per_customer(
                db,
                &format!("SELECT {cust}, count(*) FROM {from} WHERE {cust} IN (SELECT id FROM {GO}) GROUP BY {cust}"),
                &[],
                &kind.name,
                what,
                &mut per_customer,
            )?;
            clock.tick()?;
            for link in kind
                .links
                .iter()
                .filter(|l| l.on_erase == LinkErase::Detach && l.target == Target::Customer)
            {
                let c = q(&link.column);
                count_per_customer(
                    db,
                    &format!("SELECT {c}, count(*) FROM {} WHERE {c} IN (SELECT id FROM {GO}) GROUP BY {c}", q(&kind.name)),
                    &[],
                    &kind.name,
                    "detached",
                    &mut per_customer,
                )?;
                clock.tick()?;
            }
        }
    }
    // How the erased leave the search index's pages: at once, or by a merge after the commit.
    let erasing = if dry_run {
        offboard_store::search::Erasing::Nothing
    } else {
        offboard_store::search::before_erasing(db, plan.done as u64)?
    };
    // Children first: the reverse of owners-first. A dry run counts instead of changing.
    let mut change = |plan: &mut Plan,
                      table: &str,
                      set: Option<&str>,
                      filter: String|
     -> Result<(), StoreError> {
        let sql = match (dry_run, set) {
            (true, _) => format!("SELECT count(*) FROM {} WHERE {filter}", q(table)),
            (false, None) => format!("DELETE FROM {} WHERE {filter}", q(table)),
            (false, Some(col)) => {
                format!("UPDATE {} SET {} = NULL WHERE {filter}", q(table), q(col))
            }
        };
        let n = if dry_run {
            db.query_i64(&sql, &[])?.max(0) as u64
        } else {
            db.execute(&sql, &[])?
        };
        clock.tick()?;
        effect(
            plan,
            table,
            if set.is_some() { "detached" } else { "removed" },
            n,
        );
        Ok(())
    };
    for kind in model.records.iter().rev() {
        let (from, cust) = customer_path(model, kind);
        let rows = if kind.owner.target == Target::Customer {
            format!("{} IN (SELECT id FROM {GO})", q(&kind.owner.column))
        } else {
            format!("id IN (SELECT r.id FROM {from} WHERE {cust} IN (SELECT id FROM {GO}))")
        };
        match kind.on_erase {
            OnErase::Cascade => change(&mut plan, &kind.name, None, rows)?,
            OnErase::Detach => change(&mut plan, &kind.name, Some(&kind.owner.column), rows)?,
            OnErase::Block => {}
        }
        for link in kind
            .links
            .iter()
            .filter(|l| l.on_erase == LinkErase::Detach && l.target == Target::Customer)
        {
            let filter = format!("{} IN (SELECT id FROM {GO})", q(&link.column));
            change(&mut plan, &kind.name, Some(&link.column), filter)?;
        }
    }
    for cl in model
        .customer
        .links
        .iter()
        .filter(|l| l.link.on_erase == LinkErase::Detach)
    {
        let filter = format!("{} IN (SELECT id FROM {GO})", q(&cl.link.column));
        change(&mut plan, "customers", Some(&cl.link.column), filter)?;
    }
    change(
        &mut plan,
        "customers",
        None,
        format!("id IN (SELECT id FROM {GO})"),
    )?;
    offboard_store::search::end_erasing(db, erasing)?;
    clock.next("audit", plan.done as u64)?;
    if !dry_run {
        let entries: Vec<NewEntry> = plan
            .customers
            .iter()
            .filter(|c| c.outcome == Outcome::Proceeds)
            .map(|c| {
                let links: serde_json::Map<String, serde_json::Value> = model
                    .customer
                    .links
                    .iter()
                    .zip(linked.get(&c.id).cloned().unwrap_or_default())
                    .map(|(l, v)| {
                        (
                            l.link.name.clone(),
                            serde_json::to_value(&v).unwrap_or_default(),
                        )
                    })
                    .collect();
                let records = per_customer.remove(&c.id).unwrap_or_default();
                entry(
                    c,
                    None,
                    serde_json::json!({ "erased": true, "links": links, "records": records }),
                )
            })
            .collect();
        let keep = audit::Tombstone {
            name: model.tombstone.iter().any(|c| c == "name"),
            links: model
                .customer
                .links
                .iter()
                .filter(|l| model.tombstone.contains(&l.link.column))
                .map(|l| l.link.name.clone())
                .collect(),
        };
        audit::append_erased(db, actor, Act::Op(op), &entries, &keep)?;
    }
    clock.advance(plan.done as u64)?;
    plan.timings = clock.done();
    Ok(plan)
}
