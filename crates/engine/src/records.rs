//! Deleting records: hard, restricted along owner chains (a record with records under it is
//! refused, naming them), ordered kinds newest-first, the model's sibling rules (a payment is
//! blocked by processes of its contract on or after its date), and the bulk forms: every record
//! of a kind under one owner, or those from a given value of the ordering field on.

use serde::Serialize;

use offboard_model::model::{Model, Operation, RecordKind, RuleSubject, Target};
use offboard_model::rule::SqlContext;
use offboard_model::{FieldType, Value};
use offboard_store::db::Db;
use offboard_store::records::kind;
use offboard_store::StoreError;

use crate::audit::{self, Act, NewEntry};
use crate::kernel::run_with;
use crate::sql::{few_ids, fill_set, id_list, ph, q, temp_set};
use crate::{Engine, EngineError};

const SET: &str = "offboard_records";

/// Which records to delete.
#[derive(Debug, Clone)]
pub enum RecordSelection {
    /// These ids.
    Ids(Vec<i64>),
    /// Every record under one owner, or (`from`) those whose first ordering field is at least
    /// this value (text as the field's type reads it).
    Owner { owner: i64, from: Option<String> },
}

/// Why one record cannot be deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordBlocker {
    pub id: i64,
    pub rule: String,
    pub message: String,
    pub count: i64,
    pub ids: Vec<i64>,
}

/// The plan of a record deletion: all of them, or (when any is blocked) none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordPlan {
    pub operation: String,
    pub kind: String,
    pub dry_run: bool,
    pub candidates: usize,
    pub deleted: usize,
    pub ids: Vec<i64>,
    pub blocked: Vec<RecordBlocker>,
    /// What the plan decided, as a short digest: `--plan` / `"plan"` binds an apply to it.
    pub fingerprint: String,
}

/// Builds a blocker's message from (count, a few ids, extra selected values).
type Message<'a> = dyn Fn(i64, &[i64], &[Value]) -> String + 'a;

/// Puts the selected ids in the temp set; unknown ids are an error.
fn select(
    kind: &RecordKind,
    db: &mut dyn Db,
    sel: &RecordSelection,
) -> Result<Vec<i64>, StoreError> {
    let d = db.dialect();
    temp_set(db, SET)?;
    let t = q(&kind.name);
    match sel {
        RecordSelection::Ids(ids) => {
            fill_set(db, SET, ids)?;
            let found: std::collections::HashSet<i64> = db
                .query(
                    &format!("SELECT id FROM {t} WHERE id IN (SELECT id FROM {SET})"),
                    &[],
                    &[FieldType::Int],
                )?
                .into_iter()
                .filter_map(|r| r[0].as_i64())
                .collect();
            let missing: Vec<String> = ids
                .iter()
                .filter(|i| !found.contains(i))
                .map(|i| i.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(StoreError::NotFound(format!(
                    "there is no {} with id {}",
                    kind.name,
                    missing.join(", ")
                )));
            }
        }
        RecordSelection::Owner { owner, from } => {
            let exists = db.query_i64(
                &format!(
                    "SELECT count(*) FROM {} WHERE id = {}",
                    q(kind.owner.target.table()),
                    ph(d, 1)
                ),
                &[Value::Int(*owner)],
            )?;
            if exists == 0 {
                return Err(StoreError::Invalid(format!(
                    "`owner`: there is no {} {owner} whose {} could be deleted",
                    kind.owner.target.table(),
                    kind.name
                )));
            }
            let mut params = vec![Value::Int(*owner)];
            let mut sql = format!(
                "INSERT INTO {SET} (id) SELECT id FROM {t} WHERE {} = {}",
                q(&kind.owner.column),
                ph(d, 1)
            );
            if let Some(text) = from {
                let Some(field) = kind
                    .order_by
                    .first()
                    .filter(|f| *f != "id")
                    .and_then(|f| kind.field(f))
                else {
                    return Err(StoreError::Invalid(format!(
                        "{} is not ordered by a field, so it has no \"from\" form",
                        kind.name
                    )));
                };
                let normal = text.trim().replace('T', " ");
                // A day for a date-time field: from the start of that day.
                let v = match (field.ty, offboard_model::Date::parse(&normal)) {
                    (FieldType::DateTime, Some(day)) => Value::DateTime(day.at_midnight()),
                    _ => Value::parse_cell(field.ty, &normal).map_err(|e| {
                        StoreError::Invalid(format!(
                            "`from` (the {} from which on): {e}",
                            field.name
                        ))
                    })?,
                };
                params.push(v);
                sql.push_str(&format!(" AND {} >= {}", q(&field.name), ph(d, 2)));
            }
            db.execute(&sql, &params)?;
        }
    }
    Ok(db
        .query(
            &format!("SELECT id FROM {SET} ORDER BY id"),
            &[],
            &[FieldType::Int],
        )?
        .into_iter()
        .filter_map(|r| r[0].as_i64())
        .collect())
}

fn blockers(
    model: &Model,
    kind: &RecordKind,
    db: &mut dyn Db,
) -> Result<Vec<RecordBlocker>, StoreError> {
    let d = db.dialect();
    let mut out = Vec::new();
    let t = q(&kind.name);
    let mut push = |rows: Vec<Vec<Value>>, rule: &str, msg: &Message| {
        for r in rows {
            let (Some(id), count) = (r[0].as_i64(), r[1].as_i64().unwrap_or(0)) else {
                continue;
            };
            let ids = few_ids(&r[2], 5);
            out.push(RecordBlocker {
                id,
                rule: rule.into(),
                message: msg(count, &ids, &r[3..]),
                count,
                ids,
            });
        }
    };
    let list = |ids: &[i64], count: i64| {
        let s = ids
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        if count > ids.len() as i64 {
            format!("{s}, ...")
        } else {
            s
        }
    };
    // Records under them: the owner chain restricts.
    for child in model
        .records
        .iter()
        .filter(|k| k.owner.target == Target::Record(kind.name.clone()))
    {
        let c = q(&child.owner.column);
        let rows = db.query(
            &format!("SELECT c.{c}, count(*), {} FROM {} c WHERE c.{c} IN (SELECT id FROM {SET}) GROUP BY c.{c}", id_list(d, "c.id"), q(&child.name)),
            &[],
            &[FieldType::Int, FieldType::Int, FieldType::Text],
        )?;
        push(rows, &format!("remaining-{}", child.name), &|n, ids, _| {
            format!(
                "{} {} ({} {}); delete {} first",
                child.count_words(n),
                if n == 1 { "remains" } else { "remain" },
                if ids.len() == 1 { "id" } else { "ids" },
                list(ids, n),
                if n == 1 { "it" } else { "them" }
            )
        });
    }
    // Ordered kinds go newest first: a later sibling that is not deleted too blocks.
    if !kind.order_by.is_empty() {
        let tuple = |a: &str| {
            kind.order_by
                .iter()
                .map(|f| format!("{a}.{}", q(f)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let o = q(&kind.owner.column);
        let rows = db.query(
            &format!(
                "SELECT r.id, count(l.id), {} FROM {t} r JOIN {t} l ON l.{o} = r.{o} AND ({}) > ({}) \
                 WHERE r.id IN (SELECT id FROM {SET}) AND l.id NOT IN (SELECT id FROM {SET}) GROUP BY r.id",
                id_list(d, "l.id"),
                tuple("l"),
                tuple("r")
            ),
            &[],
            &[FieldType::Int, FieldType::Int, FieldType::Text],
        )?;
        push(rows, "newer-first", &|n, ids, _| {
            let later = kind.count_words(n).replacen(' ', " later ", 1);
            format!("{later} must be deleted first ({})", list(ids, n))
        });
    }
    // The model's rules on deleting this kind: siblings under the same owner.
    for rule in model.rules_for(Operation::Delete) {
        let RuleSubject::Siblings { record, kind: sib } = &rule.subject else {
            continue;
        };
        if record != &kind.name {
            continue;
        }
        let Some(sk) = model.record(sib) else {
            continue;
        };
        let qualified: Vec<String> = rule
            .when
            .as_ref()
            .map(|w| w.fields())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(qf, f)| qf.map(|_| f))
            .collect();
        let column = |qual: Option<&str>, n: &str| match qual {
            Some(_) => format!("p.{}", q(n)),
            None => format!("x.{}", q(n)),
        };
        let ctx = SqlContext {
            dialect: d,
            column: &column,
            count_expr: "x.id".into(),
        };
        let mut params = Vec::new();
        let when = rule
            .when
            .as_ref()
            .map_or("1 = 1".into(), |w| w.to_sql(&ctx, &mut params));
        let extra: String = qualified
            .iter()
            .map(|f| format!(", min(p.{})", q(f)))
            .collect();
        let not_self = if sk.name == kind.name {
            format!(" AND x.id NOT IN (SELECT id FROM {SET})")
        } else {
            String::new()
        };
        let sql = format!(
            "SELECT p.id, count(x.id), {}{extra} FROM {t} p JOIN {} x ON x.{} = p.{} \
             WHERE p.id IN (SELECT id FROM {SET}) AND ({when}){not_self} GROUP BY p.id",
            id_list(d, "x.id"),
            q(&sk.name),
            q(&sk.owner.column),
            q(&kind.owner.column)
        );
        let mut types = vec![FieldType::Int, FieldType::Int, FieldType::Text];
        types.extend(
            qualified
                .iter()
                .map(|f| kind.field(f).map_or(FieldType::Text, |x| x.ty)),
        );
        let rows = db.query(&sql, &params, &types)?;
        let (id, template) = (rule.id.clone(), rule.message.clone());
        let subject = kind.name.clone();
        push(rows, &id, &|n, _, vals| {
            let mut m =
                offboard_model::model::plural(&template, n).replace("{count}", &n.to_string());
            for (f, v) in qualified.iter().zip(vals) {
                m = m.replace(&format!("{{{subject}.{f}}}"), &v.to_cell());
            }
            m
        });
    }
    out.sort_by_key(|b| b.id);
    Ok(out)
}

impl Engine<'_> {
    /// Deletes records of a kind, all of them or none: refused (with every reason) while any
    /// is blocked.
    pub fn delete_records(
        &mut self,
        kind_name: &str,
        sel: &RecordSelection,
        dry_run: bool,
    ) -> Result<RecordPlan, EngineError> {
        let _allowed = self.allow_record(Operation::RecordDelete, kind_name)?;
        let model = self.store.shared_model();
        let actor = self.actor.name.clone();
        let k = kind(&model, kind_name)?;
        let mut binding = self.binding("records delete", dry_run);
        let on_commit = &mut self.on_commit;
        let result = run_with(self.store.db(), dry_run, true, |tx| {
            let ids = select(k, tx, sel)?;
            let blocked = blockers(&model, k, tx)?;
            let mut plan = RecordPlan {
                operation: "delete-records".into(),
                kind: k.name.clone(),
                dry_run,
                candidates: ids.len(),
                deleted: 0,
                ids,
                blocked,
                fingerprint: String::new(),
            };
            plan.fingerprint = crate::plan::fingerprint_json(&plan);
            binding.check(&plan.fingerprint, &plan)?;
            if !plan.blocked.is_empty() || plan.ids.is_empty() {
                return Ok(plan);
            }
            // The rows go to the records bin (their values, for the audit entry too), then
            // out of the table.
            let by_customer =
                crate::bin::keep(&model, tx, k, &format!("SELECT id FROM {SET}"), &[], &actor)?;
            let n = tx.execute(
                &format!(
                    "DELETE FROM {} WHERE id IN (SELECT id FROM {SET})",
                    q(&k.name)
                ),
                &[],
            )?;
            plan.deleted = n as usize;
            if !dry_run {
                let entries: Vec<NewEntry> = by_customer
                    .into_iter()
                    .map(|(cid, number, name, records)| {
                        let text = |v: &Value| v.as_str().map(str::to_string);
                        let ids: Vec<serde_json::Value> =
                            records.iter().map(|r| r["id"].clone()).collect();
                        NewEntry {
                            customer_id: cid.as_i64(),
                            customer_number: text(&number),
                            customer_name: text(&name),
                            reason: None,
                            details: serde_json::json!({ "kind": k.name, "deleted": ids, "records": records }),
                        }
                    })
                    .collect();
                audit::append(tx, &actor, Act::DeleteRecords, &entries)?;
                if let Some(hook) = on_commit.as_mut() {
                    hook(tx, &serde_json::to_value(&plan).unwrap_or_default())?;
                }
            }
            Ok(plan)
        });
        binding.finish(result)
    }
}
