//! Blockers: one grouped query per rule over the candidate set, and the fixpoint of blockers
//! that depend on which customers proceed (a surviving subsidiary, a surviving link).

use std::collections::HashMap;

use offboard_model::model::{LinkErase, Model, OnErase, Operation, RuleDef, RuleSubject, Target};
use offboard_model::rule::SqlContext;
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::records::customer_path;
use offboard_store::StoreError;

use crate::plan::Blocker;
use crate::sql::{few_ids, id_list, q};

/// How many record ids a blocker lists.
const FEW: usize = 5;

pub type Blockers = HashMap<i64, Vec<Blocker>>;

/// What still points at a customer: per table, how many rows and a few of their ids.
pub type Referrers = HashMap<i64, Vec<(String, i64, Vec<i64>)>>;

/// Fills a message template: `{count}`, `{amount}`, and `{one|many}` words for the count.
fn message(rule: &RuleDef, count: i64, amount: Option<i64>) -> String {
    let amount = amount
        .map(offboard_model::value::format_money)
        .unwrap_or_default();
    offboard_model::model::plural(&rule.message, count)
        .replace("{count}", &count.to_string())
        .replace("{amount}", &amount)
}

/// The rows a rule counts for the customers in `cand`: `FROM`, the customer-id expression and
/// the alias of the counted rows.
fn rows_of(model: &Model, rule: &RuleDef) -> Option<(String, String)> {
    match &rule.subject {
        RuleSubject::Records { kind, link } => {
            let k = model.record(kind)?;
            Some(match link {
                Some(l) => {
                    let col = k.all_links().find(|x| &x.name == l)?.column.clone();
                    (format!("{} r", q(&k.name)), format!("r.{}", q(&col)))
                }
                None => customer_path(model, k),
            })
        }
        RuleSubject::Customers { link } => {
            let col = model
                .customer
                .links
                .iter()
                .find(|l| &l.link.name == link)?
                .link
                .column
                .clone();
            Some(("customers r".into(), format!("r.{}", q(&col))))
        }
        RuleSubject::Siblings { .. } => None,
    }
}

/// Blockers of `rules` for customers in the temp set `cand`. Rules on customers skip the
/// customers in `exclude` (those going with them), when given.
pub fn rule_blockers(
    model: &Model,
    db: &mut dyn Db,
    rules: &[&RuleDef],
    cand: &str,
    exclude: Option<&str>,
    out: &mut Blockers,
) -> Result<(), StoreError> {
    let d = db.dialect();
    for rule in rules {
        let Some((from, cust)) = rows_of(model, rule) else {
            continue;
        };
        let column = |_: Option<&str>, name: &str| format!("r.{}", q(name));
        let ctx = SqlContext {
            dialect: d,
            column: &column,
            count_expr: "r.id".into(),
        };
        let mut params = Vec::new();
        let mut filter = format!("{cust} IN (SELECT id FROM {cand})");
        if let Some(w) = &rule.when {
            filter.push_str(&format!(" AND ({})", w.to_sql(&ctx, &mut params)));
        }
        if let (RuleSubject::Customers { .. }, Some(ex)) = (&rule.subject, exclude) {
            filter.push_str(&format!(" AND r.id NOT IN (SELECT id FROM {ex})"));
        }
        if !rule.customer_kinds.is_empty() {
            let kinds: Vec<String> = rule
                .customer_kinds
                .iter()
                .map(|k| {
                    params.push(Value::Text(k.clone()));
                    offboard_store::db::ph(d, params.len())
                })
                .collect();
            filter.push_str(&format!(
                " AND {cust} IN (SELECT id FROM customers WHERE kind IN ({}))",
                kinds.join(", ")
            ));
        }
        let amount = rule
            .amount
            .as_ref()
            .map_or("NULL".to_string(), |a| format!("sum(r.{})", q(a)));
        let mut sql = format!(
            "SELECT {cust}, count(r.id), {amount}, {} FROM {from} WHERE {filter} GROUP BY {cust}",
            id_list(d, "r.id")
        );
        if let Some(h) = &rule.having {
            sql.push_str(&format!(" HAVING {}", h.to_sql(&ctx, &mut params)));
        }
        // PostgreSQL's sum(bigint) is numeric: read it back as an integer.
        if d == offboard_store::Dialect::Postgres && rule.amount.is_some() {
            sql = sql.replacen(&amount, &format!("CAST({amount} AS BIGINT)"), 1);
        }
        let rows = db.query(
            &sql,
            &params,
            &[
                FieldType::Int,
                FieldType::Int,
                FieldType::Int,
                FieldType::Text,
            ],
        )?;
        for r in rows {
            let (Some(id), count) = (r[0].as_i64(), r[1].as_i64().unwrap_or(0)) else {
                continue;
            };
            let amount = rule.amount.as_ref().map(|_| r[2].as_i64().unwrap_or(0));
            out.entry(id).or_default().push(Blocker {
                rule: rule.id.clone(),
                message: message(rule, count, amount),
                count,
                amount,
                ids: few_ids(&r[3], FEW),
            });
        }
    }
    Ok(())
}

/// Every rule that blocks a customer is reported, not only the first reason found: customers
/// already blocked by something else are also checked against the rules on other customers
/// (a company's active subsidiaries), counting those that do not proceed (`go` holds the
/// customers that do).
pub fn complete_explanations(
    model: &Model,
    db: &mut dyn Db,
    rules: &[&RuleDef],
    go: &str,
    blockers: &mut Blockers,
) -> Result<(), StoreError> {
    const BLOCKED: &str = "offboard_blocked";
    if rules.is_empty() || blockers.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = blockers.keys().copied().collect();
    crate::sql::temp_set(db, BLOCKED)?;
    crate::sql::fill_set(db, BLOCKED, &ids)?;
    let mut more = Blockers::new();
    rule_blockers(model, db, rules, BLOCKED, Some(go), &mut more)?;
    for (id, list) in more {
        let have = blockers.entry(id).or_default();
        for b in list {
            if !have.iter().any(|h| h.rule == b.rule) {
                have.push(b);
            }
        }
    }
    Ok(())
}

/// The rules for an operation, split into those that depend on who else proceeds (rules on
/// other customers) and those that do not.
pub fn split_rules(model: &Model, op: Operation) -> (Vec<&RuleDef>, Vec<&RuleDef>) {
    model
        .rules_for(op)
        .filter(|r| r.resolve.is_none() && !matches!(r.subject, RuleSubject::Siblings { .. }))
        .partition(|r| !matches!(r.subject, RuleSubject::Customers { .. }))
}

/// Orphan blockers for erasing the customers in `go`: a customer or record that survives the
/// erasure still points at one of them through a blocking link. Returns, per customer, what
/// points at it: (table, count, a few ids) per table.
pub fn orphans(model: &Model, db: &mut dyn Db, go: &str) -> Result<Referrers, StoreError> {
    let d = db.dialect();
    let mut parts = Vec::new();
    for cl in model
        .customer
        .links
        .iter()
        .filter(|l| l.link.on_erase == LinkErase::Block)
    {
        let c = q(&cl.link.column);
        parts.push(format!(
            "SELECT s.{c} AS target, 'customers' AS src, s.id AS rid FROM customers s WHERE s.{c} IN (SELECT id FROM {go}) AND NOT EXISTS (SELECT 1 FROM {go} g WHERE g.id = s.id)"
        ));
    }
    for kind in &model.records {
        for link in kind
            .links
            .iter()
            .filter(|l| l.on_erase == LinkErase::Block && l.target == Target::Customer)
        {
            let (from, cust) = customer_path(model, kind);
            // The row survives unless it is erased with its customer.
            let survives = if kind.on_erase == OnErase::Cascade {
                format!(" AND NOT EXISTS (SELECT 1 FROM {go} g WHERE g.id = {cust})")
            } else {
                String::new()
            };
            let c = q(&link.column);
            parts.push(format!(
                "SELECT r.{c} AS target, '{}' AS src, r.id AS rid FROM {from} WHERE r.{c} IN (SELECT id FROM {go}){survives}",
                kind.name
            ));
        }
    }
    let mut out: Referrers = HashMap::new();
    if parts.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT target, src, count(*), {} FROM ({}) o GROUP BY target, src ORDER BY target, src",
        id_list(d, "rid"),
        parts.join(" UNION ALL ")
    );
    for r in db.query(
        &sql,
        &[],
        &[
            FieldType::Int,
            FieldType::Text,
            FieldType::Int,
            FieldType::Text,
        ],
    )? {
        let Some(target) = r[0].as_i64() else {
            continue;
        };
        let src = r[1].as_str().unwrap_or_default().to_string();
        out.entry(target)
            .or_default()
            .push((src, r[2].as_i64().unwrap_or(0), few_ids(&r[3], FEW)));
    }
    Ok(out)
}
