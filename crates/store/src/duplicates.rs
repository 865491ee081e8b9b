//! Possible duplicates: customers of one kind (not in the recycle bin) that share a
//! normalised email, phone or name, ranked by how much they share — set-based: every
//! customer's keys into a temporary table, the keys nobody shares (and the ones too many
//! share to mean anything) dropped, then one self-join on the rest.

use offboard_model::rule::Dialect;
use offboard_model::{FieldType, Value};
use serde::Serialize;

use crate::db::{ph, q, Db};
use crate::{Store, StoreError};

/// What two customers may share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    /// The same email, case and surrounding spaces aside.
    Email,
    /// The same name, case, spaces and punctuation aside.
    Name,
    /// The same phone number: its last nine digits, punctuation and a leading + aside.
    Phone,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Email, Signal::Name, Signal::Phone];

    pub fn name(&self) -> &'static str {
        match self {
            Signal::Email => "email",
            Signal::Name => "name",
            Signal::Phone => "phone",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        Signal::ALL.into_iter().find(|x| x.name() == s)
    }

    /// How much sharing it says: an email most, a name least.
    fn weight(&self) -> i64 {
        match self {
            Signal::Email => 3,
            Signal::Phone => 2,
            Signal::Name => 1,
        }
    }
}

/// A key shared by more customers than this (a common name, a shared office email) says
/// nothing about any two of them: it is left out.
pub const MOST_PER_KEY: i64 = 50;

/// One customer of a pair, as a list shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub id: i64,
    pub number: String,
    pub name: String,
    pub kind: String,
    pub status: String,
    pub email: Option<String>,
}

/// Two customers that may be one, with what they share and a score (email 3, phone 2,
/// name 1, summed).
#[derive(Debug, Clone, Serialize)]
pub struct DuplicatePair {
    pub score: i64,
    pub shared: Vec<String>,
    pub a: Brief,
    pub b: Brief,
}

const KEYS: &str = "ob_dup_keys";
const PAIRS: &str = "ob_dup_pairs";

fn strip(expr: &str, chars: &[&str]) -> String {
    chars.iter().fold(expr.to_string(), |acc, c| {
        format!("replace({acc}, '{}', '')", c.replace('\'', "''"))
    })
}

/// The SQL key of a signal for customer `c`, or `None` when the model has no such column.
fn key(d: Dialect, signal: &Signal, phone: Option<&str>) -> Option<String> {
    Some(match signal {
        Signal::Email => "lower(trim(c.email))".to_string(),
        Signal::Name => strip(
            "lower(trim(c.name))",
            &[" ", ".", ",", "-", "'", "&", "(", ")"],
        ),
        Signal::Phone => {
            let digits = strip(
                &format!("c.{}", q(phone?)),
                &[" ", "-", "(", ")", "+", ".", "/"],
            );
            match d {
                Dialect::Sqlite => format!("substr({digits}, -9)"),
                Dialect::Postgres => format!("right({digits}, 9)"),
            }
        }
    })
}

impl Store {
    /// Possible duplicates by `by` (each signal one key per customer), best first, at most
    /// `limit` pairs (0: all); only customers of `kind` when given. `Phone` needs a text field named
    /// `phone` in the model.
    pub fn duplicates(
        &mut self,
        by: &[Signal],
        kind: Option<&str>,
        limit: u64,
    ) -> Result<Vec<DuplicatePair>, StoreError> {
        let model = self.shared_model();
        let phone = model
            .customer
            .fields
            .iter()
            .find(|f| f.name == "phone" && f.ty == FieldType::Text)
            .map(|f| f.name.clone());
        if let Some(k) = kind {
            if !model.customer.kinds.iter().any(|x| x == k) {
                return Err(StoreError::Invalid(format!(
                    "`{k}` is not a customer kind; kinds: {}",
                    model.customer.kinds.join(", ")
                )));
            }
        }
        let db = self.db();
        let d = db.dialect();
        let int = match d {
            Dialect::Sqlite => "INTEGER",
            Dialect::Postgres => "BIGINT",
        };
        db.transaction(|tx| {
            tx.batch(&format!("CREATE TEMP TABLE IF NOT EXISTS {KEYS} (id {int} NOT NULL, kind TEXT NOT NULL, sig TEXT NOT NULL, k TEXT NOT NULL)"))?;
            tx.batch(&format!("DELETE FROM {KEYS}"))?;
            tx.batch(&format!("CREATE TEMP TABLE IF NOT EXISTS {PAIRS} (a {int} NOT NULL, b {int} NOT NULL, sig TEXT NOT NULL)"))?;
            tx.batch(&format!("DELETE FROM {PAIRS}"))?;
            for s in by {
                let Some(k) = key(d, s, phone.as_deref()) else {
                    return Err(StoreError::Invalid(format!(
                        "the {} model has no text field `phone` to compare",
                        model.name
                    )));
                };
                let mut params = Vec::new();
                let mut filter = "c.status <> 'deleted'".to_string();
                if let Some(kd) = kind {
                    params.push(Value::Text(kd.into()));
                    filter.push_str(&format!(" AND c.kind = {}", ph(d, params.len())));
                }
                // A phone of fewer than six digits, or an empty key, identifies no one.
                let min = if *s == Signal::Phone { 6 } else { 1 };
                // Only keys two to MOST_PER_KEY customers share are kept: one pass, counted by
                // a window over the key (a key nobody shares, or too many do, never enters).
                tx.execute(
                    &format!(
                        "INSERT INTO {KEYS} (id, kind, sig, k) SELECT id, kind, '{}', k FROM (SELECT id, kind, k, count(*) OVER (PARTITION BY kind, k) AS n FROM (SELECT c.id, c.kind, {k} AS k FROM customers c WHERE {filter}) t WHERE k IS NOT NULL AND length(k) >= {min}) w WHERE n BETWEEN 2 AND {MOST_PER_KEY}",
                        s.name()
                    ),
                    &params,
                )?;
            }
            tx.batch(&format!("CREATE INDEX IF NOT EXISTS ob_dup_keys_k ON {KEYS} (sig, kind, k)"))?;
            if d == Dialect::Postgres {
                tx.batch(&format!("ANALYZE {KEYS}"))?;
            }
            tx.batch(&format!(
                "INSERT INTO {PAIRS} (a, b, sig) SELECT x.id, y.id, x.sig FROM {KEYS} x JOIN {KEYS} y ON y.sig = x.sig AND y.kind = x.kind AND y.k = x.k AND y.id > x.id"
            ))?;
            let weight = by
                .iter()
                .map(|s| format!("WHEN '{}' THEN {}", s.name(), s.weight()))
                .collect::<Vec<_>>()
                .join(" ");
            let shared = match d {
                Dialect::Sqlite => "group_concat(sig, ',')",
                Dialect::Postgres => "string_agg(sig, ',' ORDER BY sig)",
            };
            let rows = tx.query(
                &format!(
                    "SELECT a, b, sum(CASE sig {weight} ELSE 0 END) AS score, {shared} FROM (SELECT DISTINCT a, b, sig FROM {PAIRS}) p GROUP BY a, b ORDER BY score DESC, a, b{}",
                    if limit == 0 { String::new() } else { format!(" LIMIT {limit}") }
                ),
                &[],
                &[FieldType::Int, FieldType::Int, FieldType::Int, FieldType::Text],
            )?;
            let ids: Vec<i64> = rows
                .iter()
                .flat_map(|r| [r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0)])
                .collect();
            let briefs = briefs(tx, &ids)?;
            let find = |id: i64| briefs.iter().find(|b| b.id == id).cloned();
            let mut out = Vec::new();
            for r in rows {
                let (Some(a), Some(b)) = (
                    find(r[0].as_i64().unwrap_or(0)),
                    find(r[1].as_i64().unwrap_or(0)),
                ) else {
                    continue;
                };
                let mut shared: Vec<String> = r[3]
                    .as_str()
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                shared.sort_by_key(|s| Signal::parse(s).map_or(0, |x| -x.weight()));
                out.push(DuplicatePair {
                    score: r[2].as_i64().unwrap_or(0),
                    shared,
                    a,
                    b,
                });
            }
            Ok(out)
        })
    }
}

/// The customers of `ids`, in one query.
fn briefs(db: &mut dyn Db, ids: &[i64]) -> Result<Vec<Brief>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let rows = db.query(
        &format!(
            "SELECT id, number, name, kind, status, email FROM customers WHERE id IN ({list})"
        ),
        &[],
        &[
            FieldType::Int,
            FieldType::Text,
            FieldType::Text,
            FieldType::Text,
            FieldType::Text,
            FieldType::Text,
        ],
    )?;
    let t = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok(rows
        .iter()
        .map(|r| Brief {
            id: r[0].as_i64().unwrap_or(0),
            number: t(&r[1]),
            name: t(&r[2]),
            kind: t(&r[3]),
            status: t(&r[4]),
            email: r[5].as_str().map(str::to_string),
        })
        .collect())
}
