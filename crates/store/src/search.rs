//! Indexed search of customers by name, email or number: SQLite FTS5 with the trigram
//! tokenizer (an external-content table kept in step with `customers` by triggers, inside the
//! same transactions), PostgreSQL `pg_trgm` GIN indexes on the lowered name and email. Both
//! answer "contains, any case" for three characters or more; shorter searches scan.
//!
//! The SQLite index keeps no positions and no columns (`detail=none`): a quarter of the size
//! with them (48 MB against 205 MB at a million customers), which every erasure pays for — the
//! merge that takes an erased name out of the index's pages rewrites all of it — and so do
//! deletes, commits and imports. A match of every trigram of the text is a candidate; the
//! function [`CONTAINS`] confirms it on the customer's own columns.

use offboard_model::rule::Dialect;
use offboard_model::{FieldType, Value};

use crate::db::{ph, Db};
use crate::error::StoreError;

/// The FTS5 table of SQLite.
pub const FTS: &str = "customers_search";

/// How the FTS5 table is made (checked by [`ensure`]: an index made otherwise is made again).
const CREATE_FTS: &str = "CREATE VIRTUAL TABLE customers_search USING fts5(number, name, email, content='customers', content_rowid='id', tokenize='trigram', detail='none')";

/// The SQL function (registered on every SQLite connection, `sqlite.rs`) that confirms a
/// candidate of the trigram index: `offboard_contains(text, part)` is 1 when `text` contains
/// `part` in any case, 0 otherwise (and for NULL).
pub const CONTAINS: &str = "offboard_contains";

/// What [`CONTAINS`] computes.
pub fn contains_any_case(text: &str, part: &str) -> bool {
    if text.is_ascii() && part.is_ascii() {
        let (t, p) = (text.as_bytes(), part.as_bytes());
        return p.is_empty() || t.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p));
    }
    text.to_lowercase().contains(&part.to_lowercase())
}

/// At most this many trigrams of a searched text go into an index query (the confirmation
/// makes the match exact whatever was left out).
const MAX_TRIGRAMS: usize = 24;

/// The FTS5 query for rows holding every trigram of `text` (three characters or more).
fn trigram_query(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut seen: Vec<String> = Vec::new();
    for w in chars.windows(3) {
        let t: String = w.iter().collect::<String>().to_lowercase();
        if !seen.contains(&t) {
            seen.push(t);
        }
        if seen.len() == MAX_TRIGRAMS {
            break;
        }
    }
    seen.iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// SQLite, three characters or more: the condition that keeps the customers (alias `alias`,
/// joined to the index as `s` on its rowid) whose `columns` contain `text` in any case. Every
/// trigram of the text in the index finds the candidates, [`CONTAINS`] on the customer's own
/// columns confirms them. Its parameters are pushed to `params`.
pub(crate) fn index_match(
    text: &str,
    alias: &str,
    columns: &[&str],
    params: &mut Vec<Value>,
) -> String {
    params.push(Value::Text(trigram_query(text)));
    let m = ph(Dialect::Sqlite, params.len());
    params.push(Value::Text(text.to_string()));
    let t = ph(Dialect::Sqlite, params.len());
    let confirm = columns
        .iter()
        .map(|c| format!("{CONTAINS}({alias}.{c}, {t})"))
        .collect::<Vec<_>>()
        .join(" OR ");
    format!("s.customers_search MATCH {m} AND ({confirm})")
}

/// SQLite, three characters or more: the ids of customers whose `columns` contain `text` in
/// any case ([`index_match`]), as a subquery.
pub fn matching_ids(text: &str, columns: &[&str], params: &mut Vec<Value>) -> String {
    let found = index_match(text, "x", columns, params);
    format!("SELECT x.id FROM customers_search s JOIN customers x ON x.id = s.rowid WHERE {found}")
}

const TRIGGERS: [(&str, &str); 3] = [
    (
        "customers_search_insert",
        "CREATE TRIGGER customers_search_insert AFTER INSERT ON customers BEGIN \
         INSERT INTO customers_search (rowid, number, name, email) VALUES (new.id, new.number, new.name, new.email); END",
    ),
    (
        "customers_search_delete",
        "CREATE TRIGGER customers_search_delete AFTER DELETE ON customers BEGIN \
         INSERT INTO customers_search (customers_search, rowid, number, name, email) VALUES ('delete', old.id, old.number, old.name, old.email); END",
    ),
    (
        "customers_search_update",
        "CREATE TRIGGER customers_search_update AFTER UPDATE OF number, name, email ON customers BEGIN \
         INSERT INTO customers_search (customers_search, rowid, number, name, email) VALUES ('delete', old.id, old.number, old.name, old.email); \
         INSERT INTO customers_search (rowid, number, name, email) VALUES (new.id, new.number, new.name, new.email); END",
    ),
];

/// The PostgreSQL indexes: (name, CREATE statement).
const PG_INDEXES: [(&str, &str); 3] = [
    (
        "ix_customers_number_trgm",
        "CREATE INDEX ix_customers_number_trgm ON customers USING gin (number gin_trgm_ops)",
    ),
    (
        "ix_customers_name_trgm",
        "CREATE INDEX ix_customers_name_trgm ON customers USING gin (lower(name) gin_trgm_ops)",
    ),
    (
        "ix_customers_email_trgm",
        "CREATE INDEX ix_customers_email_trgm ON customers USING gin (lower(email) gin_trgm_ops)",
    ),
];

/// Whether PostgreSQL has `pg_trgm` (it may not be installable without the right to).
fn pg_trgm(db: &mut dyn Db) -> Result<bool, StoreError> {
    let have = db.query_i64(
        "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'",
        &[],
    )?;
    if have > 0 {
        return Ok(true);
    }
    // Trusted since PostgreSQL 13: a database owner may create it. Tried in a savepoint so
    // that a refusal leaves the transaction usable; search then scans.
    Ok(db
        .transaction(|tx| tx.batch("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        .is_ok())
}

/// Makes the search index where it is missing (a new database, or one made before it, or a
/// customers table rebuilt): returns what it did.
pub fn ensure(db: &mut dyn Db) -> Result<Vec<String>, StoreError> {
    match db.dialect() {
        Dialect::Sqlite => {
            let have: i64 = db.query_i64(
                "SELECT count(*) FROM sqlite_master WHERE name IN ('customers_search', 'customers_search_insert', 'customers_search_delete', 'customers_search_update')",
                &[],
            )?;
            let made_so = db.query_i64(
                "SELECT count(*) FROM sqlite_master WHERE name = 'customers_search' AND sql = ?1",
                &[Value::Text(CREATE_FTS.into())],
            )?;
            if have == 4 && made_so == 1 {
                return Ok(Vec::new());
            }
            db.transaction(|tx| {
                tx.batch("DROP TABLE IF EXISTS customers_search")?;
                tx.batch(CREATE_FTS)?;
                for (name, create) in TRIGGERS {
                    tx.batch(&format!("DROP TRIGGER IF EXISTS {name}"))?;
                    tx.batch(create)?;
                }
                rebuild(tx)
            })?;
            Ok(vec!["customers: search index (FTS5, trigram)".into()])
        }
        Dialect::Postgres => {
            if !pg_trgm(db)? {
                return Ok(Vec::new());
            }
            let mut made = Vec::new();
            for (name, create) in PG_INDEXES {
                let have = db.query_i64(
                    "SELECT count(*) FROM pg_indexes WHERE indexname = $1",
                    &[Value::Text(name.into())],
                )?;
                if have == 0 {
                    db.batch(create)?;
                    made.push(format!("customers: search index {name} (pg_trgm)"));
                }
            }
            Ok(made)
        }
    }
}

/// Before a bulk load into an empty customers table: the index is kept in step afterwards in
/// one pass ([`after_bulk_load`]) rather than row by row.
pub fn before_bulk_load(db: &mut dyn Db) -> Result<(), StoreError> {
    match db.dialect() {
        Dialect::Sqlite => {
            for (name, _) in TRIGGERS {
                db.batch(&format!("DROP TRIGGER IF EXISTS {name}"))?;
            }
        }
        Dialect::Postgres => {
            for (name, _) in PG_INDEXES {
                db.batch(&format!("DROP INDEX IF EXISTS {name}"))?;
            }
        }
    }
    Ok(())
}

/// FTS5's buffer of terms before it writes a segment, while the index is built from the whole
/// table: with its default (1 MB) a million customers make thousands of small segments, merged
/// again and again (4.4 s at a million); with 16 MB about 3 s. Set back after: other writes keep
/// the default.
const REBUILD_HASH_SIZE: i64 = 16 * 1024 * 1024;
const DEFAULT_HASH_SIZE: i64 = 1024 * 1024;

/// Builds the SQLite search index from the customers table.
fn rebuild(db: &mut dyn Db) -> Result<(), StoreError> {
    db.batch(&format!(
        "INSERT INTO customers_search (customers_search, rank) VALUES ('hashsize', {REBUILD_HASH_SIZE})"
    ))?;
    db.batch("INSERT INTO customers_search (customers_search) VALUES ('rebuild')")?;
    db.batch(&format!(
        "INSERT INTO customers_search (customers_search, rank) VALUES ('hashsize', {DEFAULT_HASH_SIZE})"
    ))
}

/// After a bulk load: the index built from the table, the triggers back.
pub fn after_bulk_load(db: &mut dyn Db) -> Result<(), StoreError> {
    match db.dialect() {
        Dialect::Sqlite => {
            for (_, create) in TRIGGERS {
                db.batch(create)?;
            }
            rebuild(db)
        }
        Dialect::Postgres => {
            let trgm = db.query_i64(
                "SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'",
                &[],
            )?;
            if trgm > 0 {
                for (_, create) in PG_INDEXES {
                    db.batch(create)?;
                }
            }
            Ok(())
        }
    }
}

/// An erasure of at most this share of the customers (one in a thousand, and at least
/// [`IN_PLACE_MIN`]) takes its values out of the index's pages as it deletes them (FTS5's
/// `secure-delete`: about a millisecond and a half per customer at a million); a bigger one
/// deletes the plain way and the index is merged once afterwards (a rewrite of all of it:
/// seconds at a million, whatever the number erased).
const IN_PLACE_SHARE: u64 = 1000;
const IN_PLACE_MIN: u64 = 50;

/// How an erasure's deletes leave the search index's pages ([`before_erasing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an in-place erasure ends with `end_erasing`"]
pub enum Erasing {
    /// FTS5's `secure-delete` is on for the erasure's own deletes.
    InPlace,
    /// The plain way; the connection owes the index a merge after the commit.
    MergeAfter,
    /// No index to care for (PostgreSQL, or nobody erased).
    Nothing,
}

/// Before an erasure (or a forget) of `customers` deletes from the search index, inside its
/// transaction (SQLite): chooses how the erased values leave the index's pages — at once, or
/// by a merge after the commit, which this connection then owes ([`after_erasure`]). Outside
/// an erasure's deletes `secure-delete` stays off ([`end_erasing`]), so a bulk merge or edit
/// deletes at the plain speed.
///
/// [`after_erasure`]: crate::scrub::after_erasure
pub fn before_erasing(db: &mut dyn Db, customers: u64) -> Result<Erasing, StoreError> {
    if db.dialect() != Dialect::Sqlite || customers == 0 {
        return Ok(Erasing::Nothing);
    }
    let all = db
        .query_i64("SELECT coalesce(max(id), 0) FROM customers", &[])?
        .max(0) as u64;
    if customers <= (all / IN_PLACE_SHARE).max(IN_PLACE_MIN) {
        db.batch(
            "INSERT INTO customers_search (customers_search, rank) VALUES ('secure-delete', 1)",
        )?;
        return Ok(Erasing::InPlace);
    }
    if let Some(owed) = db.search_merge_owed() {
        *owed = true;
    }
    Ok(Erasing::MergeAfter)
}

/// After an erasure's deletes, in its transaction: `secure-delete` off again.
pub fn end_erasing(db: &mut dyn Db, how: Erasing) -> Result<(), StoreError> {
    if how == Erasing::InPlace {
        db.batch(
            "INSERT INTO customers_search (customers_search, rank) VALUES ('secure-delete', 0)",
        )?;
    }
    Ok(())
}

/// After an erasure committed (SQLite): when it deleted the plain way, merges the index's
/// segments so no erased value lingers in their pages (`secure_delete` zeroes the pages the
/// merge frees). `Ok(false)`: nothing was owed.
pub fn forget_erased(db: &mut dyn Db) -> Result<bool, StoreError> {
    let owed = db.search_merge_owed().map(std::mem::take);
    if owed != Some(true) {
        return Ok(false);
    }
    merge(db)?;
    Ok(true)
}

/// Merges the index's segments into one (SQLite; `offboard compact`, or an erasure owed it):
/// what deleted rows left in the older segments goes.
pub fn merge(db: &mut dyn Db) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Sqlite {
        db.batch("INSERT INTO customers_search (customers_search) VALUES ('optimize')")?;
        if let Some(owed) = db.search_merge_owed() {
            *owed = false;
        }
    }
    Ok(())
}

/// The condition for customers (alias `c`) whose name or email contains `text` (any case) or
/// whose number is `text` (with `any_number`: whose number contains it); parameters are pushed
/// to `params`. Written as `c.id IN (...)` of indexed lookups, so a query is driven by the
/// matches rather than by a scan of every customer.
pub fn condition(d: Dialect, text: &str, any_number: bool, params: &mut Vec<Value>) -> String {
    if d == Dialect::Sqlite && text.chars().count() >= 3 {
        let columns: &[&str] = if any_number {
            &["number", "name", "email"]
        } else {
            &["name", "email"]
        };
        let found = matching_ids(text, columns, params);
        params.push(Value::Text(text.to_string()));
        let n = ph(d, params.len());
        return format!("c.id IN ({found} UNION SELECT id FROM customers WHERE number = {n})");
    }
    let mut push = |v: Value| {
        params.push(v);
        ph(d, params.len())
    };
    match d {
        Dialect::Sqlite => {
            let p = push(Value::Text(format!("%{}%", text.to_lowercase())));
            let number = if any_number {
                let c = push(Value::Text(format!("%{text}%")));
                format!("c.number LIKE {c}")
            } else {
                let n = push(Value::Text(text.to_string()));
                format!("c.number = {n}")
            };
            format!("(lower(c.name) LIKE {p} OR lower(c.email) LIKE {p} OR {number})")
        }
        Dialect::Postgres => {
            let p = push(Value::Text(format!("%{}%", text.to_lowercase())));
            let number = if any_number {
                let c = push(Value::Text(format!("%{text}%")));
                format!("number LIKE {c}")
            } else {
                let n = push(Value::Text(text.to_string()));
                format!("number = {n}")
            };
            // `= ANY(ARRAY(...))`: the matches are gathered first and the customers fetched by
            // their primary key (`IN (...)` let the planner scan every customer instead).
            format!(
                "c.id = ANY(ARRAY(SELECT id FROM customers WHERE lower(name) LIKE {p} \
                 UNION SELECT id FROM customers WHERE lower(email) LIKE {p} \
                 UNION SELECT id FROM customers WHERE {number}))"
            )
        }
    }
}

/// How many contains-matches a suggestion ranks at most: a picker wants the first few, and
/// ranking every customer whose name contains two letters would cost a scan of them.
const SUGGEST_POOL: u32 = 100;

/// The least text greater than every text starting with `prefix` (for an index range), if
/// there is one.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Suggestions for pickers: customers of `statuses` whose number starts with `text` or whose
/// name or email contains it, best first (the number itself, numbers starting with it, names
/// starting with it, then names and emails containing it), at most `limit`: their ids.
///
/// Each tier is a bounded, indexed lookup (a range of the number or name index, at most
/// [`SUGGEST_POOL`] contains-matches of the search index), so a suggestion costs about the
/// same whether three or thirty thousand customers match.
pub fn suggest(
    db: &mut dyn Db,
    text: &str,
    statuses: &[&str],
    limit: u32,
) -> Result<Vec<i64>, StoreError> {
    let d = db.dialect();
    let limit = limit.max(1);
    let mut out: Vec<i64> = Vec::new();
    // In SQLite, `+c.status` keeps the planner on the number or name index of the tier
    // (with the status index it would read every active customer and sort them).
    let status_col = match d {
        Dialect::Sqlite => "+c.status",
        Dialect::Postgres => "c.status",
    };
    let status_list = |params: &mut Vec<Value>| -> String {
        statuses
            .iter()
            .map(|s| {
                params.push(Value::Text((*s).to_string()));
                ph(d, params.len())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let take = |db: &mut dyn Db, sql: &str, params: &[Value], out: &mut Vec<i64>| {
        let rows = db.query(sql, params, &[FieldType::Int])?;
        for r in rows {
            if let Some(id) = r[0].as_i64() {
                if out.len() < limit as usize && !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        Ok::<(), StoreError>(())
    };
    // 1. The number itself, then numbers starting with it (as typed and in capitals).
    let mut prefixes = vec![text.to_string()];
    if text.to_uppercase() != text {
        prefixes.push(text.to_uppercase());
    }
    for p in &prefixes {
        let mut params = vec![Value::Text(p.clone())];
        let range = match prefix_end(p) {
            Some(end) => {
                params.push(Value::Text(end));
                format!("c.number >= {} AND c.number < {}", ph(d, 1), ph(d, 2))
            }
            None => format!("c.number >= {}", ph(d, 1)),
        };
        let marks = status_list(&mut params);
        let sql = format!(
            "SELECT c.id FROM customers c WHERE {range} AND {status_col} IN ({marks}) ORDER BY c.number LIMIT {limit}"
        );
        take(db, &sql, &params, &mut out)?;
    }
    if out.len() >= limit as usize {
        return Ok(out);
    }
    // 2. Names starting with it (as typed, and with a capital first letter).
    let mut starts = vec![text.to_string()];
    let mut chars = text.chars();
    if let Some(first) = chars.next() {
        let capital: String = first.to_uppercase().chain(chars).collect();
        if capital != text {
            starts.push(capital);
        }
    }
    for p in &starts {
        let Some(end) = prefix_end(p) else { continue };
        let mut params = vec![Value::Text(p.clone()), Value::Text(end)];
        let marks = status_list(&mut params);
        let sql = format!(
            "SELECT c.id FROM customers c WHERE c.name >= {} AND c.name < {} AND {status_col} IN ({marks}) ORDER BY c.name, c.id LIMIT {limit}",
            ph(d, 1),
            ph(d, 2)
        );
        take(db, &sql, &params, &mut out)?;
    }
    if out.len() >= limit as usize || text.chars().count() < 3 {
        return Ok(out);
    }
    // 3. Names and emails containing it: the first matches of the search index, by name.
    let mut params = Vec::new();
    let sql = match d {
        Dialect::Sqlite => {
            // The index's candidates confirmed and filtered on the customer row read once (the
            // index drives: CROSS JOIN keeps it first, `+` keeps the status index out).
            let found = index_match(text, "x", &["name", "email"], &mut params);
            let marks = status_list(&mut params);
            format!(
                "SELECT id FROM (SELECT x.id, x.name FROM customers_search s CROSS JOIN customers x ON x.id = s.rowid \
                 WHERE {found} AND +x.status IN ({marks}) LIMIT {SUGGEST_POOL}) \
                 ORDER BY name, id LIMIT {limit}"
            )
        }
        Dialect::Postgres => {
            params.push(Value::Text(format!("%{}%", text.to_lowercase())));
            let p = ph(d, 1);
            let pool = format!(
                "SELECT id FROM (SELECT id FROM customers WHERE lower(name) LIKE {p} LIMIT {SUGGEST_POOL}) a \
                 UNION SELECT id FROM (SELECT id FROM customers WHERE lower(email) LIKE {p} LIMIT {SUGGEST_POOL}) b"
            );
            let marks = status_list(&mut params);
            format!(
                "SELECT c.id FROM customers c WHERE c.id IN ({pool}) AND c.status IN ({marks}) ORDER BY c.name, c.id LIMIT {limit}"
            )
        }
    };
    take(db, &sql, &params, &mut out)?;
    Ok(out)
}
