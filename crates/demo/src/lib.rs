//! Demo data: realistic, deterministic (seeded) CSV files for any model, in the shape
//! `offboard import` reads.
//!
//! Nothing here knows a preset: kinds, statuses, field values and per-owner counts come from the
//! model's `demo` hints (weights, ranges, generators). Customers are written in one streaming
//! pass with every record tree generated beside its customer, so memory stays flat at any size;
//! a customer's kind and status are pure functions of (seed, id), so links can point anywhere
//! without remembering anything.
#![forbid(unsafe_code)]

mod rng;
mod words;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use offboard_model::model::{Field, Link, Model, RecordKind, Target, CUSTOMERS_TABLE};
use offboard_model::{Date, DateTime, FieldType, Value};

use rng::Rng;

/// What was written.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub files: Vec<(String, u64)>,
    pub rows: u64,
}

/// The first and last day demo dates fall on.
const FIRST_DAY: &str = "2016-01-01";
const LAST_DAY: &str = "2026-06-30";

struct Out {
    file: String,
    w: BufWriter<File>,
    rows: u64,
    line: String,
}

impl Out {
    fn create(dir: &Path, table: &str, header: &[String]) -> std::io::Result<Out> {
        let file = format!("{table}.csv");
        let mut w = BufWriter::with_capacity(1 << 16, File::create(dir.join(&file))?);
        writeln!(w, "{}", header.join(","))?;
        Ok(Out {
            file,
            w,
            rows: 0,
            line: String::with_capacity(256),
        })
    }

    fn cell(&mut self, v: &Value) {
        if !self.line.is_empty() {
            self.line.push(',');
        }
        let text = v.to_cell();
        if text.contains([',', '"', '\n', '\r']) {
            self.line.push('"');
            self.line.push_str(&text.replace('"', "\"\""));
            self.line.push('"');
        } else {
            self.line.push_str(&text);
        }
    }

    fn end_row(&mut self) -> std::io::Result<()> {
        self.line.push('\n');
        self.w.write_all(self.line.as_bytes())?;
        self.line.clear();
        self.rows += 1;
        Ok(())
    }
}

struct Gen<'m> {
    model: &'m Model,
    seed: u64,
    customers: u64,
    first_day: i32,
    days: i32,
    kind_weights: Vec<u32>,
    status_weights: Vec<u32>,
    statuses: Vec<String>,
    next_id: Vec<i64>,
    global_numbers: Vec<i64>,
    /// For each record kind, the kinds it owns.
    children: Vec<Vec<usize>>,
}

impl Gen<'_> {
    fn kind_of(&self, id: u64) -> usize {
        Rng::new(self.seed, id, 1).weighted(&self.kind_weights)
    }

    fn status_of(&self, id: u64) -> &str {
        &self.statuses[Rng::new(self.seed, id, 2).weighted(&self.status_weights)]
    }

    fn date(&self, rng: &mut Rng) -> Date {
        Date::from_days(self.first_day + rng.below(self.days as u64) as i32)
    }

    /// A random customer (other than `not`) of one of `kinds` (any when empty), if one is found.
    /// A customer of `kinds` for `not` to link to. In a hierarchy (a link whose customers
    /// may be of the kinds it points at: a company's parent company) only a customer with a
    /// lower id, so the links never close a loop — which the import refuses.
    fn pick_customer(
        &self,
        rng: &mut Rng,
        kinds: &[String],
        not: u64,
        hierarchy: bool,
    ) -> Option<u64> {
        let range = if hierarchy {
            not.saturating_sub(1)
        } else {
            self.customers
        };
        if range == 0 {
            return None;
        }
        for _ in 0..32 {
            let id = 1 + rng.below(range);
            let kind = &self.model.customer.kinds[self.kind_of(id)];
            if id != not && (kinds.is_empty() || kinds.contains(kind)) {
                return Some(id);
            }
        }
        None
    }

    fn field(&self, rng: &mut Rng, f: &Field, customer_name: &str) -> Value {
        let d = &f.demo;
        if d.null > 0.0 && rng.chance(d.null) {
            return Value::Null;
        }
        match f.ty {
            FieldType::Text => {
                let values = if d.values.is_empty() {
                    f.values.clone().unwrap_or_default()
                } else {
                    d.values.clone()
                };
                if !values.is_empty() {
                    let i = if d.weights.len() == values.len() {
                        rng.weighted(&d.weights)
                    } else {
                        rng.below(values.len() as u64) as usize
                    };
                    return Value::Text(values[i].clone());
                }
                Value::Text(words::text(
                    rng,
                    d.gen.as_deref().unwrap_or(f.name.as_str()),
                    customer_name,
                ))
            }
            FieldType::Int | FieldType::Money => {
                if d.zero > 0.0 && rng.chance(d.zero) {
                    return if f.ty == FieldType::Money {
                        Value::Money(0)
                    } else {
                        Value::Int(0)
                    };
                }
                let (lo, hi) = match (d.min, d.max, f.ty) {
                    (Some(a), Some(b), _) if a <= b => (a, b),
                    (_, _, FieldType::Money) => (100, 100_000),
                    _ => (1, 1000),
                };
                let n = lo + rng.below((hi - lo + 1) as u64) as i64;
                if f.ty == FieldType::Money {
                    Value::Money(n)
                } else {
                    Value::Int(n)
                }
            }
            FieldType::Bool => {
                let i = if d.weights.len() == 2 {
                    rng.weighted(&d.weights)
                } else {
                    rng.below(2) as usize
                };
                Value::Bool(i == 1)
            }
            FieldType::Date => Value::Date(self.date(rng)),
            FieldType::DateTime => {
                let day = self.date(rng).at_midnight().seconds();
                Value::DateTime(DateTime::from_seconds(
                    day + 8 * 3600 + rng.below(10 * 3600) as i64,
                ))
            }
        }
    }

    fn link(&self, rng: &mut Rng, link: &Link, owner: u64) -> Value {
        if !rng.chance(link.demo) {
            return Value::Null;
        }
        match &link.target {
            Target::Customer => self
                .pick_customer(rng, &[], owner, false)
                .map_or(Value::Null, |id| Value::Int(id as i64)),
            Target::Record(kind) => {
                let idx = self
                    .model
                    .records
                    .iter()
                    .position(|r| &r.name == kind)
                    .unwrap_or(0);
                let max = self.next_id.get(idx).copied().unwrap_or(1) - 1;
                if max < 1 {
                    Value::Null
                } else {
                    Value::Int(1 + rng.below(max as u64) as i64)
                }
            }
        }
    }

    /// Writes the records of `kind` owned by `owner_id`, and their own records, depth first.
    fn records(
        &mut self,
        outs: &mut [Out],
        rng: &mut Rng,
        kind_idx: usize,
        owner_id: i64,
        customer: u64,
        name: &str,
    ) -> std::io::Result<()> {
        let kind: &RecordKind = &self.model.records[kind_idx];
        let count = if kind.demo_weights.is_empty() {
            0
        } else {
            rng.weighted(&kind.demo_weights)
        };
        for n in 0..count {
            let id = self.next_id[kind_idx];
            self.next_id[kind_idx] += 1;
            let out = &mut outs[kind_idx + 1];
            out.cell(&Value::Int(id));
            out.cell(&Value::Int(owner_id));
            for link in &kind.links {
                let v = self.link(rng, link, customer);
                out.cell(&v);
            }
            for f in &kind.fields {
                let v = match &kind.numbered {
                    Some(num) if num.field == f.name => {
                        let k = if num.per_owner {
                            n as i64 + 1
                        } else {
                            self.global_numbers[kind_idx] += 1;
                            self.global_numbers[kind_idx]
                        };
                        if num.text {
                            Value::Text(format!("{}{:0w$}", num.prefix, k, w = num.width))
                        } else {
                            Value::Int(k)
                        }
                    }
                    _ => self.field(rng, f, name),
                };
                out.cell(&v);
            }
            out.end_row()?;
            for c in 0..self.children[kind_idx].len() {
                let child = self.children[kind_idx][c];
                self.records(outs, rng, child, id, customer, name)?;
            }
        }
        Ok(())
    }
}

/// Writes `customers.csv` and one `<kind>.csv` per record kind for `customers` customers.
pub fn generate(
    model: &Model,
    customers: u64,
    seed: u64,
    dir: &Path,
) -> std::io::Result<DemoReport> {
    std::fs::create_dir_all(dir)?;
    let first_day = Date::parse(FIRST_DAY).map_or(16_801, Date::days);
    let last_day = Date::parse(LAST_DAY).map_or(20_634, Date::days);
    let kinds = &model.customer.kinds;
    let mut g = Gen {
        model,
        seed,
        customers,
        first_day,
        days: last_day - first_day + 1,
        kind_weights: kinds
            .iter()
            .map(|k| {
                model
                    .customer
                    .demo_kinds
                    .iter()
                    .find(|(n, _)| n == k)
                    .map_or(0, |(_, w)| *w)
            })
            .collect(),
        statuses: model
            .customer
            .demo_status
            .iter()
            .map(|(s, _)| s.clone())
            .collect(),
        status_weights: model.customer.demo_status.iter().map(|(_, w)| *w).collect(),
        next_id: vec![1; model.records.len()],
        global_numbers: vec![0; model.records.len()],
        children: model
            .records
            .iter()
            .map(|k| {
                let me = Target::Record(k.name.clone());
                model
                    .records
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.owner.target == me)
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect(),
    };
    if g.kind_weights.iter().all(|w| *w == 0) {
        g.kind_weights = vec![1; kinds.len()];
    }
    let customer_cols: Vec<String> = model
        .customer
        .columns()
        .into_iter()
        .map(|c| c.name)
        .filter(|n| n != "status_before_delete")
        .collect();
    let mut outs = vec![Out::create(dir, CUSTOMERS_TABLE, &customer_cols)?];
    for r in &model.records {
        let cols: Vec<String> = r.columns().into_iter().map(|c| c.name).collect();
        outs.push(Out::create(dir, &r.name, &cols)?);
    }
    let top: Vec<usize> = model
        .records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.owner.target == Target::Customer)
        .map(|(i, _)| i)
        .collect();
    for id in 1..=customers {
        let mut rng = Rng::new(seed, id, 3);
        let kind = &kinds[g.kind_of(id)];
        let status = g.status_of(id).to_string();
        let person = kind == "person" || kind == "client" || kind == "lead";
        let name = if person {
            words::person(&mut rng)
        } else {
            words::company(&mut rng)
        };
        let created = g.date(&mut rng);
        for col in &customer_cols {
            let v = match col.as_str() {
                "id" => Value::Int(id as i64),
                "number" => Value::Text(model.customer.format_number(id as i64)),
                "kind" => Value::Text(kind.clone()),
                "name" => Value::Text(name.clone()),
                "status" => Value::Text(status.clone()),
                "email" => Value::Text(words::email(&name, id)),
                "created_at" => Value::DateTime(DateTime::from_seconds(
                    created.at_midnight().seconds() + 9 * 3600,
                )),
                "deactivated_on" if status == "deactivated" => Value::Date(Date::from_days(
                    (created.days() + rng.below(900) as i32).min(last_day),
                )),
                "deactivation_reason" if status == "deactivated" => {
                    let reasons = model.customer.reasons_for(kind);
                    if reasons.is_empty() {
                        Value::Null
                    } else {
                        Value::Text(reasons[rng.below(reasons.len() as u64) as usize].clone())
                    }
                }
                "deleted_at" if status == "deleted" => {
                    let day =
                        Date::from_days((created.days() + rng.below(900) as i32).min(last_day));
                    Value::DateTime(DateTime::from_seconds(
                        day.at_midnight().seconds() + 15 * 3600,
                    ))
                }
                other => {
                    if let Some(cl) = model.customer.links.iter().find(|l| l.link.column == other) {
                        if (cl.kinds.is_empty() || cl.kinds.contains(kind))
                            && rng.chance(cl.link.demo)
                        {
                            let hierarchy = cl.kinds.is_empty()
                                || cl.target_kinds.is_empty()
                                || cl.kinds.iter().any(|k| cl.target_kinds.contains(k));
                            g.pick_customer(&mut rng, &cl.target_kinds, id, hierarchy)
                                .map_or(Value::Null, |t| Value::Int(t as i64))
                        } else {
                            Value::Null
                        }
                    } else if let Some(f) = model.customer.fields.iter().find(|f| f.name == other) {
                        g.field(&mut rng, f, &name)
                    } else {
                        Value::Null
                    }
                }
            };
            outs[0].cell(&v);
        }
        outs[0].end_row()?;
        for &k in &top {
            g.records(&mut outs, &mut rng, k, id as i64, id, &name)?;
        }
    }
    let mut files = Vec::new();
    let mut rows = 0;
    for mut o in outs {
        o.w.flush()?;
        rows += o.rows;
        files.push((o.file, o.rows));
    }
    Ok(DemoReport { files, rows })
}
