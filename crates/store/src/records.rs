//! Records of the model's kinds: create (numbered fields, links checked, only for active
//! customers), read, list, update, and the SQL path from any kind up to its customer.

use serde::Serialize;

use offboard_model::model::{Model, RecordKind, Status, Target};
use offboard_model::{FieldType, Value};

use crate::customers::insert_returning_id;
use crate::db::{ph, q, Db};
use crate::error::StoreError;
use crate::Store;

/// A record: its kind, id, links and fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub kind: String,
    pub id: i64,
    #[serde(flatten)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// `FROM` and `JOIN`s that reach the customer of records of `kind` aliased `r`, and the SQL of
/// the customer id: `process r JOIN contract o1 ON ... JOIN application o2 ON ...`, `o2."customer_id"`.
pub fn customer_path(model: &Model, kind: &RecordKind) -> (String, String) {
    let chain = model.owner_chain(kind);
    let mut from = format!("{} r", q(&kind.name));
    let mut alias = "r".to_string();
    for (i, owner) in chain.iter().skip(1).enumerate() {
        let prev = chain[i];
        let next = format!("o{}", i + 1);
        from.push_str(&format!(
            " JOIN {} {next} ON {next}.id = {alias}.{}",
            q(&owner.name),
            q(&prev.owner.column)
        ));
        alias = next;
    }
    let last = chain.last().copied().unwrap_or(kind);
    (from, format!("{alias}.{}", q(&last.owner.column)))
}

/// The record kind called `name`, or an error listing the kinds.
pub fn kind<'m>(model: &'m Model, name: &str) -> Result<&'m RecordKind, StoreError> {
    model.record(name).ok_or_else(|| {
        let names: Vec<&str> = model.records.iter().map(|r| r.name.as_str()).collect();
        StoreError::NotFound(format!(
            "unknown record kind `{name}`; kinds are: {}",
            names.join(", ")
        ))
    })
}

fn to_record(kind: &RecordKind, row: Vec<Value>) -> Record {
    let mut values = serde_json::Map::new();
    let mut id = 0;
    for (c, v) in kind.columns().iter().zip(row) {
        if c.name == "id" {
            id = v.as_i64().unwrap_or(0);
        } else {
            values.insert(c.name.clone(), serde_json::to_value(&v).unwrap_or_default());
        }
    }
    Record {
        kind: kind.name.clone(),
        id,
        values,
    }
}

/// The customer a record with owner link `owner_id` belongs to, and its status.
fn owning_customer(
    model: &Model,
    db: &mut dyn Db,
    kind: &RecordKind,
    owner_id: i64,
) -> Result<(i64, String), StoreError> {
    let d = db.dialect();
    let (sql, what) = match &kind.owner.target {
        Target::Customer => (
            format!(
                "SELECT c.id, c.status FROM customers c WHERE c.id = {}",
                ph(d, 1)
            ),
            "customer".to_string(),
        ),
        Target::Record(owner) => {
            let owner_kind = self::kind(model, owner)?;
            let (from, cust) = customer_path(model, owner_kind);
            (
                format!("SELECT c.id, c.status FROM {from} JOIN customers c ON c.id = {cust} WHERE r.id = {}", ph(d, 1)),
                owner.clone(),
            )
        }
    };
    // In PostgreSQL, wait for a lifecycle operation that holds the customer, then read its
    // status as that operation left it.
    let sql = match d {
        offboard_model::rule::Dialect::Postgres => format!("{sql} FOR SHARE OF c"),
        offboard_model::rule::Dialect::Sqlite => sql,
    };
    let row = db.query(
        &sql,
        &[Value::Int(owner_id)],
        &[FieldType::Int, FieldType::Text],
    )?;
    match row.into_iter().next() {
        Some(r) => Ok((
            r[0].as_i64().unwrap_or(0),
            r[1].as_str().unwrap_or_default().to_string(),
        )),
        None => {
            // A merged-away customer's id is not used for new records: it says where the
            // customer went.
            if kind.owner.target == Target::Customer {
                if let Some(into) = db
                    .query_value(
                        &format!(
                            "SELECT into_id FROM offboard_merged WHERE id = {}",
                            ph(d, 1)
                        ),
                        &[Value::Int(owner_id)],
                        FieldType::Int,
                    )?
                    .and_then(|v| v.as_i64())
                {
                    return Err(StoreError::Refused(format!(
                        "`{}`: customer {owner_id} was merged into customer {into}; use {into}",
                        kind.owner.column
                    )));
                }
            }
            Err(StoreError::NotFound(format!(
                "`{}`: there is no {what} {owner_id} (or it has no customer)",
                kind.owner.column
            )))
        }
    }
}

/// Converts and checks text cells for `kind`: known columns, types, allowed values.
pub fn parse_cells(
    kind: &RecordKind,
    cells: &[(String, String)],
) -> Result<Vec<(String, Value)>, StoreError> {
    let cols = kind.columns();
    let mut seen = std::collections::HashSet::new();
    cells
        .iter()
        .map(|(name, text)| {
            if !seen.insert(name.as_str()) {
                return Err(StoreError::Invalid(format!("`{name}` is given twice")));
            }
            let Some(col) = cols.iter().find(|c| &c.name == name && c.name != "id") else {
                let names: Vec<&str> = cols.iter().skip(1).map(|c| c.name.as_str()).collect();
                return Err(StoreError::Invalid(format!(
                    "{} has no field `{name}`; fields are: {}",
                    kind.name,
                    names.join(", ")
                )));
            };
            let v = Value::parse_cell(col.ty, text)
                .map_err(|e| StoreError::Invalid(format!("`{name}`: {e}")))?;
            if let (Some(allowed), Value::Text(s)) =
                (kind.field(name).and_then(|f| f.values.as_ref()), &v)
            {
                if !allowed.contains(s) {
                    return Err(StoreError::Invalid(format!(
                        "`{name}`: {s:?} is not one of {}",
                        allowed.join(", ")
                    )));
                }
            }
            Ok((name.clone(), v))
        })
        .collect()
}

/// What a new or changed record must satisfy: its owner exists and its customer is active
/// (inactive and deleted customers get no new records), its links point at existing, not
/// deleted rows, and a numbered field is free (given) or the next in sequence (left empty, on
/// create). `this` is the record being changed, if any.
/// The record being changed: its id and its number as it is.
struct This {
    id: i64,
    number: Option<Value>,
}

fn check_record(
    model: &Model,
    tx: &mut dyn Db,
    kind: &RecordKind,
    values: &mut Vec<(String, Value)>,
    owner_id: Option<i64>,
    this: Option<This>,
) -> Result<(), StoreError> {
    let d = tx.dialect();
    // On an update `values` holds only what changes.
    let changes = |col: &str| values.iter().any(|(c, _)| c == col);
    let moves = this.is_some() && changes(&kind.owner.column);
    // A record changed in place keeps its customer, whatever that customer's status (old
    // documents stay editable); one moved to another owner is a new record for that customer.
    if this.is_none() || moves {
        let owner_id = owner_id.ok_or_else(|| {
            StoreError::Invalid(format!("a {} needs `{}`", kind.name, kind.owner.column))
        })?;
        let (customer, status) = owning_customer(model, tx, kind, owner_id)?;
        if Status::parse(&status) != Some(Status::Active) {
            return Err(StoreError::Refused(format!(
                "customer {customer} is {status}: it cannot be given a new {}",
                kind.name
            )));
        }
    }
    for link in &kind.links {
        if let Some(target) = values
            .iter()
            .find(|(c, _)| c == &link.column)
            .and_then(|(_, v)| v.as_i64())
        {
            let status = tx.query_value(
                &format!(
                    "SELECT {} FROM {} WHERE id = {}",
                    if link.target == Target::Customer {
                        "status"
                    } else {
                        "'active'"
                    },
                    q(link.target.table()),
                    ph(d, 1)
                ),
                &[Value::Int(target)],
                FieldType::Text,
            )?;
            match status.as_ref().and_then(Value::as_str) {
                None => {
                    // A merged-away customer's id is not used for new records: it says where
                    // the customer went.
                    if link.target == Target::Customer {
                        if let Some(into) = tx
                            .query_value(
                                &format!(
                                    "SELECT into_id FROM offboard_merged WHERE id = {}",
                                    ph(d, 1)
                                ),
                                &[Value::Int(target)],
                                FieldType::Int,
                            )?
                            .and_then(|v| v.as_i64())
                        {
                            return Err(StoreError::Refused(format!(
                                "`{}`: customer {target} was merged into customer {into}; use {into}",
                                link.column
                            )));
                        }
                    }
                    return Err(StoreError::NotFound(format!(
                        "`{}`: there is no {} {target}",
                        link.column,
                        link.target.table()
                    )));
                }
                Some(s) if Status::parse(s) == Some(Status::Deleted) => {
                    return Err(StoreError::Refused(format!(
                        "`{}`: customer {target} is deleted",
                        link.column
                    )))
                }
                Some(_) => {}
            }
        }
    }
    let Some(numbered) = kind.numbered.as_ref() else {
        return Ok(());
    };
    let given = values
        .iter()
        .find(|(c, _)| c == &numbered.field)
        .map(|(_, v)| v.clone());
    // Which number to check: the one given; on a move to another owner with numbers per
    // owner, the record's own number under its new owner.
    let number = match (&this, &given) {
        (None, _) => given.clone().filter(|v| !matches!(v, Value::Null)),
        (Some(_), Some(Value::Null)) => {
            return Err(StoreError::Invalid(format!(
                "a {}'s `{}` cannot be emptied; give another number",
                kind.name, numbered.field
            )))
        }
        (Some(_), Some(v)) => Some(v.clone()),
        (Some(t), None) if moves && numbered.per_owner => t.number.clone(),
        (Some(_), None) => return Ok(()),
    };
    // Numbers per owner are scoped to it (a detached record has none to be unique under).
    let scope = match (numbered.per_owner, owner_id) {
        (false, _) => Some((String::new(), Vec::new())),
        (true, Some(o)) => Some((
            format!(" WHERE {} = {}", q(&kind.owner.column), ph(d, 1)),
            vec![Value::Int(o)],
        )),
        (true, None) => None,
    };
    let Some((scope, scope_params)) = scope else {
        return Ok(());
    };
    let sep = if scope.is_empty() { " WHERE" } else { " AND" };
    let in_use = |tx: &mut dyn Db, n: &Value| -> Result<bool, StoreError> {
        let mut p = scope_params.clone();
        p.push(n.clone());
        p.push(Value::Int(this.as_ref().map_or(0, |t| t.id)));
        Ok(tx.query_i64(
            &format!(
                "SELECT count(*) FROM {}{scope}{sep} {} = {} AND id <> {}",
                q(&kind.name),
                q(&numbered.field),
                ph(d, p.len() - 1),
                ph(d, p.len())
            ),
            &p,
        )? > 0)
    };
    // Numbers only go up unless the model lets a freed one be given again: the highest
    // given is kept (per kind; numbers per owner are their owner's business), whether it was
    // given automatically, typed by hand or imported.
    let keep = !numbered.reuse && !numbered.per_owner;
    let key = format!("number:{}", kind.name);
    match number {
        Some(n) if in_use(tx, &n)? => {
            return Err(StoreError::Refused(format!(
                "{} number {} is in use",
                kind.name,
                n.to_cell()
            )));
        }
        Some(n) => {
            if let (true, Some(c)) = (keep, series_counter(numbered, &n)) {
                raise_sequence(tx, &key, c)?;
            }
        }
        None if this.is_none() => {
            let highest = if keep {
                // The row is locked until this record commits, so two new records at once
                // never take the same number (SQLite's writers are serial anyway).
                tx.execute(
                    &format!(
                        "INSERT INTO offboard_sequences (name, next) VALUES ({}, 0) ON CONFLICT (name) DO NOTHING",
                        ph(d, 1)
                    ),
                    &[Value::Text(key.clone())],
                )?;
                let lock = if d == offboard_model::rule::Dialect::Postgres {
                    " FOR UPDATE"
                } else {
                    ""
                };
                tx.query_i64(
                    &format!(
                        "SELECT next FROM offboard_sequences WHERE name = {}{lock}",
                        ph(d, 1)
                    ),
                    &[Value::Text(key.clone())],
                )?
                .max(0) as u64
            } else {
                0
            };
            let (value, counter) = if numbered.text {
                // The latest number in the model's pattern, continued (a number typed by hand
                // in another pattern does not take the series over).
                let mut p = scope_params.clone();
                p.push(Value::Text(numbered.prefix.clone()));
                let prefixed = format!(
                    "{}{} substr({}, 1, {}) = {}",
                    scope,
                    if scope.is_empty() { " WHERE" } else { " AND" },
                    q(&numbered.field),
                    numbered.prefix.chars().count(),
                    ph(d, p.len())
                );
                let latest = tx
                    .query_value(
                        &format!(
                            "SELECT {} FROM {}{prefixed} ORDER BY id DESC LIMIT 1",
                            q(&numbered.field),
                            q(&kind.name)
                        ),
                        &p,
                        FieldType::Text,
                    )?
                    .and_then(|v| v.as_str().map(str::to_string));
                let mut next = numbered.next_text(latest.as_deref());
                if let Some(c) = offboard_model::model::Numbered::counter(&next) {
                    if c <= highest {
                        next = offboard_model::model::Numbered::with_counter(&next, highest + 1);
                    }
                }
                // Past every number in use (the rows are finite, so this ends; with the
                // highest kept it rarely takes a second look).
                while in_use(tx, &Value::Text(next.clone()))? {
                    next = numbered.next_text(Some(&next));
                }
                let counter = offboard_model::model::Numbered::counter(&next).unwrap_or(0);
                (Value::Text(next), counter)
            } else {
                let max = tx.query_i64(
                    &format!(
                        "SELECT max({}) FROM {}{scope}",
                        q(&numbered.field),
                        q(&kind.name)
                    ),
                    &scope_params,
                )?;
                let next = (max.max(0) as u64).max(highest) + 1;
                (Value::Int(next as i64), next)
            };
            if keep && counter > highest {
                crate::customers::set_sequence(tx, &key, counter as i64)?;
            }
            values.retain(|(c, _)| c != &numbered.field);
            values.push((numbered.field.clone(), value));
        }
        None => {}
    }
    Ok(())
}

/// Where `number` stands in the kind's series: an integer number itself, a text number in
/// the model's pattern (its prefix) its trailing counter; a number in another pattern
/// (typed by hand) does not move the series.
pub(crate) fn series_counter(
    numbered: &offboard_model::model::Numbered,
    number: &Value,
) -> Option<u64> {
    match number {
        Value::Int(i) if *i > 0 => Some(*i as u64),
        Value::Text(s) if s.starts_with(&numbered.prefix) => {
            offboard_model::model::Numbered::counter(&s[numbered.prefix.len()..])
        }
        _ => None,
    }
}

/// Moves a kind's kept highest number up to `counter` (never down). The row is locked by
/// the update until the change commits.
pub(crate) fn raise_sequence(tx: &mut dyn Db, key: &str, counter: u64) -> Result<(), StoreError> {
    let d = tx.dialect();
    tx.execute(
        &format!(
            "INSERT INTO offboard_sequences (name, next) VALUES ({0}, {1}) ON CONFLICT (name) DO UPDATE SET next = CASE WHEN offboard_sequences.next < excluded.next THEN excluded.next ELSE offboard_sequences.next END",
            ph(d, 1),
            ph(d, 2)
        ),
        &[Value::Text(key.into()), Value::Int(counter as i64)],
    )?;
    Ok(())
}

impl Store {
    /// Creates a record. Its owner must exist and its customer be active (inactive and deleted
    /// customers get no new records); a numbered field gets the next number unless given, and
    /// a number in use is refused.
    pub fn create_record(
        &mut self,
        kind_name: &str,
        cells: &[(String, String)],
    ) -> Result<Record, StoreError> {
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let mut values = parse_cells(kind, cells)?;
        let owner_id = values
            .iter()
            .find(|(c, _)| c == &kind.owner.column)
            .and_then(|(_, v)| v.as_i64())
            .ok_or_else(|| {
                StoreError::Invalid(format!("a new {} needs `{}`", kind.name, kind.owner.column))
            })?;
        let id = db.transaction(|tx| {
            check_record(model, tx, kind, &mut values, Some(owner_id), None)?;
            insert_returning_id(tx, &kind.name, &values)
        })?;
        self.record(kind_name, id)
    }

    /// Reads a record.
    pub fn record(&mut self, kind_name: &str, id: i64) -> Result<Record, StoreError> {
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let cols = kind.columns();
        let list: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE id = {}",
            list.join(", "),
            q(&kind.name),
            ph(db.dialect(), 1)
        );
        let row = db
            .query(&sql, &[Value::Int(id)], &types)?
            .into_iter()
            .next();
        row.map(|r| to_record(kind, r))
            .ok_or_else(|| StoreError::NotFound(format!("there is no {kind_name} with id {id}")))
    }

    /// Records of a kind by id, in one query, in the order of `ids` (ids that do not exist are
    /// left out).
    pub fn records_by_ids(
        &mut self,
        kind_name: &str,
        ids: &[i64],
    ) -> Result<Vec<Record>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let cols = kind.columns();
        let list: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let marks: Vec<String> = (1..=ids.len()).map(|i| ph(db.dialect(), i)).collect();
        let params: Vec<Value> = ids.iter().map(|i| Value::Int(*i)).collect();
        let mut found: std::collections::HashMap<i64, Record> = db
            .query(
                &format!(
                    "SELECT {} FROM {} WHERE id IN ({})",
                    list.join(", "),
                    q(&kind.name),
                    marks.join(", ")
                ),
                &params,
                &types,
            )?
            .into_iter()
            .map(|r| to_record(kind, r))
            .map(|r| (r.id, r))
            .collect();
        Ok(ids.iter().filter_map(|i| found.remove(i)).collect())
    }

    /// The customer a record belongs to (along its owner chain), if it has one.
    pub fn record_customer(&mut self, kind_name: &str, id: i64) -> Result<Option<i64>, StoreError> {
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let (from, cust) = customer_path(model, kind);
        let sql = format!(
            "SELECT {cust} FROM {from} WHERE r.id = {}",
            ph(db.dialect(), 1)
        );
        Ok(db
            .query_value(&sql, &[Value::Int(id)], FieldType::Int)?
            .and_then(|v| v.as_i64()))
    }

    /// Records of a kind that belong to customer `customer_id` (along the owner chain), in id
    /// order, at most `limit` (all when `None`).
    pub fn customer_records(
        &mut self,
        kind_name: &str,
        customer_id: i64,
        limit: Option<u64>,
        each: &mut dyn FnMut(Record) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let (from, cust) = customer_path(model, kind);
        let cols = kind.columns();
        let list: Vec<String> = cols.iter().map(|c| format!("r.{}", q(&c.name))).collect();
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let mut sql = format!(
            "SELECT {} FROM {from} WHERE {cust} = {} ORDER BY r.id",
            list.join(", "),
            ph(db.dialect(), 1)
        );
        if let Some(l) = limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        db.query_each(&sql, &[Value::Int(customer_id)], &types, &mut |row| {
            each(to_record(kind, row))
        })
    }

    /// Records of a kind directly under one owner (a customer or a record), newest first by
    /// the kind's `order_by` (then id), at most `limit`; and how many there are in all.
    pub fn owner_records(
        &mut self,
        kind_name: &str,
        owner: i64,
        limit: u64,
    ) -> Result<(Vec<Record>, i64), StoreError> {
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        let cols = kind.columns();
        let list: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
        let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
        let mut order: Vec<String> = kind
            .order_by
            .iter()
            .filter(|f| *f != "id")
            .map(|f| format!("{} DESC", q(f)))
            .collect();
        order.push("id DESC".into());
        let p = ph(db.dialect(), 1);
        let owner_col = q(&kind.owner.column);
        let rows = db.query(
            &format!(
                "SELECT {} FROM {} WHERE {owner_col} = {p} ORDER BY {} LIMIT {limit}",
                list.join(", "),
                q(&kind.name),
                order.join(", ")
            ),
            &[Value::Int(owner)],
            &types,
        )?;
        let total = db
            .query_value(
                &format!(
                    "SELECT count(*) FROM {} WHERE {owner_col} = {p}",
                    q(&kind.name)
                ),
                &[Value::Int(owner)],
                FieldType::Int,
            )?
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        Ok((
            rows.into_iter().map(|r| to_record(kind, r)).collect(),
            total,
        ))
    }

    /// How many records of each kind belong to a customer (along owner chains).
    pub fn customer_record_counts(
        &mut self,
        customer_id: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let (model, db) = self.parts();
        if model.records.is_empty() {
            return Ok(Vec::new());
        }
        // One query, one round trip: a count per kind.
        let p = ph(db.dialect(), 1);
        let counts: Vec<String> = model
            .records
            .iter()
            .map(|kind| {
                let (from, cust) = customer_path(model, kind);
                format!("(SELECT count(*) FROM {from} WHERE {cust} = {p})")
            })
            .collect();
        let types: Vec<FieldType> = model.records.iter().map(|_| FieldType::Int).collect();
        let row = db
            .query(
                &format!("SELECT {}", counts.join(", ")),
                &[Value::Int(customer_id)],
                &types,
            )?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(model
            .records
            .iter()
            .enumerate()
            .map(|(i, kind)| {
                (
                    kind.name.clone(),
                    row.get(i).and_then(Value::as_i64).unwrap_or(0),
                )
            })
            .collect())
    }

    /// Changes fields of a record (links and numbers are checked as on create).
    pub fn update_record(
        &mut self,
        kind_name: &str,
        id: i64,
        cells: &[(String, String)],
    ) -> Result<Record, StoreError> {
        let current = self.record(kind_name, id)?;
        let (model, db) = self.parts();
        let kind = kind(model, kind_name)?;
        // Only what changes: a field sent back as it is is neither checked nor written.
        let mut values: Vec<(String, Value)> = parse_cells(kind, cells)?
            .into_iter()
            .filter(|(c, v)| {
                current.values.get(c) != Some(&serde_json::to_value(v).unwrap_or_default())
            })
            .collect();
        if values.is_empty() {
            return Ok(current);
        }
        let owner_id = match values.iter().find(|(c, _)| c == &kind.owner.column) {
            Some((_, Value::Null)) => {
                return Err(StoreError::Invalid(format!(
                    "a {} needs `{}`; it cannot be emptied",
                    kind.name, kind.owner.column
                )))
            }
            Some((_, v)) => v.as_i64(),
            // A record detached from an erased customer has no owner and stays editable.
            None => current
                .values
                .get(&kind.owner.column)
                .and_then(|v| v.as_i64()),
        };
        let this = This {
            id,
            number: kind.numbered.as_ref().and_then(|n| {
                let f = kind.field(&n.field)?;
                let cell = current.values.get(&n.field)?;
                let text = match cell {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                Value::parse_cell(f.ty, &text).ok()
            }),
        };
        let d = db.dialect();
        db.transaction(|tx| {
            check_record(model, tx, kind, &mut values, owner_id, Some(this))?;
            let assigns: Vec<String> = values
                .iter()
                .enumerate()
                .map(|(i, (c, _))| format!("{} = {}", q(c), ph(d, i + 1)))
                .collect();
            let mut params: Vec<Value> = values.into_iter().map(|(_, v)| v).collect();
            params.push(Value::Int(id));
            let sql = format!(
                "UPDATE {} SET {} WHERE id = {}",
                q(&kind.name),
                assigns.join(", "),
                ph(d, params.len())
            );
            tx.execute(&sql, &params)
        })?;
        self.record(kind_name, id)
    }
}
