//! Small SQL helpers shared by the operations: temporary id sets and placeholders.

use std::fmt::Write;

use offboard_model::Value;
use offboard_store::db::Db;
use offboard_store::{Dialect, StoreError};

pub use offboard_store::db::{ph, q};

/// Creates (or empties) the temporary id set `name` on this connection.
pub fn temp_set(db: &mut dyn Db, name: &str) -> Result<(), StoreError> {
    let ty = match db.dialect() {
        Dialect::Sqlite => "INTEGER",
        Dialect::Postgres => "BIGINT",
    };
    db.batch(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS {name} (id {ty} PRIMARY KEY)"
    ))?;
    db.batch(&format!("DELETE FROM {name}"))
}

/// Fills a temporary id set from explicit ids: one statement, the ids bound as one text
/// parameter and unpacked by the database (duplicates ignored).
pub fn fill_set(db: &mut dyn Db, name: &str, ids: &[i64]) -> Result<(), StoreError> {
    if !ids.is_empty() {
        let mut list = String::with_capacity(ids.len() * 8);
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            let _ = write!(list, "{id}");
        }
        let sql = match db.dialect() {
            Dialect::Sqlite => format!(
                "INSERT OR IGNORE INTO {name} (id) SELECT value FROM json_each('[' || ?1 || ']')"
            ),
            Dialect::Postgres => format!(
                "INSERT INTO {name} (id) SELECT unnest(string_to_array($1, ',')::bigint[]) ON CONFLICT DO NOTHING"
            ),
        };
        db.execute(&sql, &[Value::Text(list)])?;
    }
    analyze(db, name)
}

/// PostgreSQL never analyzes temporary tables by itself; without statistics it plans joins
/// against them badly.
pub fn analyze(db: &mut dyn Db, name: &str) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.batch(&format!("ANALYZE {name}"))?;
    }
    Ok(())
}

/// `group_concat` / `string_agg` of an id expression, as text "1,2,3".
pub fn id_list(d: Dialect, expr: &str) -> String {
    match d {
        Dialect::Sqlite => format!("group_concat({expr})"),
        Dialect::Postgres => format!("string_agg(CAST({expr} AS TEXT), ',')"),
    }
}

/// Parses "3,1,2" into at most `n` ids, smallest first.
pub fn few_ids(text: &Value, n: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = text
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    ids.sort_unstable();
    ids.truncate(n);
    ids
}

/// Gives rows of `table` new numbers in `column` (`(id, number)`), none meeting another
/// midway: first every one of them to NULL, then each to its own, so a unique index (per
/// owner) holds at every row. One statement each, whatever the count.
pub fn renumber(
    db: &mut dyn Db,
    table: &str,
    column: &str,
    numbers: &[(i64, Value)],
) -> Result<(), StoreError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let d = db.dialect();
    let ids = numbers
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    db.execute(
        &format!(
            "UPDATE {} SET {} = NULL WHERE id IN ({ids})",
            q(table),
            q(column)
        ),
        &[],
    )?;
    let mut cases = Vec::with_capacity(numbers.len());
    let mut params = Vec::with_capacity(numbers.len());
    for (id, number) in numbers {
        params.push(number.clone());
        // PostgreSQL types a CASE of parameters as text: an int number says what it is.
        let p = ph(d, params.len());
        cases.push(match number {
            Value::Int(_) => format!("WHEN {id} THEN CAST({p} AS BIGINT)"),
            _ => format!("WHEN {id} THEN {p}"),
        });
    }
    db.execute(
        &format!(
            "UPDATE {} SET {} = CASE id {} END WHERE id IN ({ids})",
            q(table),
            q(column),
            cases.join(" ")
        ),
        &params,
    )?;
    Ok(())
}
