//! `offboard import DIR`: one CSV file per table (`customers.csv`, `<kind>.csv`), streamed
//! into the database in one transaction. Every bad cell or row is reported with file, line
//! and column, and nothing is imported unless everything is valid.
//!
//! Speed: rows go through a reused prepared INSERT of up to 100 rows at a time (SQLite) or
//! binary COPY (PostgreSQL); tables that start empty have their secondary indexes (and, in
//! PostgreSQL, foreign keys) dropped during the load and rebuilt set-based afterwards. Links
//! are checked in memory against compact id sets, so memory stays bounded whatever the size.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use offboard_model::model::{Column, Model, Status, CUSTOMERS_TABLE};
use offboard_model::rule::Dialect;
use offboard_model::{DateTime, FieldType, Value};

use crate::customers::set_sequence;
use crate::db::{ph, q, Db};
use crate::error::{ImportErrors, RowError, StoreError};
use crate::schema::{self, fk_name, Table};
use crate::Store;

/// At most this many problems are listed; the rest are counted.
const MAX_LISTED: usize = 100;

/// What an import loaded.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub tables: Vec<TableReport>,
    pub rows: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub table: String,
    pub file: String,
    pub rows: u64,
}

/// A set of ids: a bitmap for the dense small ids real data has, a hash set for the rest.
#[derive(Default)]
pub struct IdSet {
    bits: Vec<u64>,
    others: HashSet<i64>,
}

const DENSE_LIMIT: i64 = 1 << 28;

impl IdSet {
    /// Adds an id; false if it was there already.
    pub fn insert(&mut self, id: i64) -> bool {
        if (0..DENSE_LIMIT).contains(&id) {
            let (w, b) = ((id >> 6) as usize, id & 63);
            if w >= self.bits.len() {
                self.bits.resize((w + 1).next_power_of_two(), 0);
            }
            let had = self.bits[w] & (1 << b) != 0;
            self.bits[w] |= 1 << b;
            !had
        } else {
            self.others.insert(id)
        }
    }

    pub fn contains(&self, id: i64) -> bool {
        if (0..DENSE_LIMIT).contains(&id) {
            let w = (id >> 6) as usize;
            w < self.bits.len() && self.bits[w] & (1 << (id & 63)) != 0
        } else {
            self.others.contains(&id)
        }
    }
}

struct Problems {
    list: Vec<RowError>,
    total: u64,
    /// The byte offset of the row being checked, when its line is to be counted from the
    /// file itself: the csv reader's own line count is one short after a CRLF line end.
    at: Option<u64>,
    /// For each listed problem, the byte offset its line is still to be counted from.
    offsets: Vec<Option<u64>>,
}

impl Problems {
    fn add(&mut self, file: &str, line: u64, column: Option<&str>, message: String) {
        self.total += 1;
        if self.list.len() < MAX_LISTED {
            self.list.push(RowError {
                file: file.to_string(),
                line,
                column: column.map(str::to_string),
                message,
            });
            self.offsets.push(self.at);
        }
    }

    /// Counts the lines of the problems listed with a byte offset from `path`'s bytes (only
    /// once something is wrong: a clean import never reads a file twice).
    fn count_lines(&mut self, path: &Path) {
        self.at = None;
        let wanted: Vec<u64> = self.offsets.iter().flatten().copied().collect();
        if wanted.is_empty() {
            return;
        }
        let lines = lines_at(path, &wanted);
        for (e, o) in self.list.iter_mut().zip(self.offsets.iter_mut()) {
            if let Some(byte) = o.take() {
                if let Some(line) = lines.get(&byte) {
                    e.line = *line;
                }
            }
        }
    }
}

/// The line of each byte offset (where a record starts) in the file at `path`: one and the
/// number of line ends before it, a record that starts on the `\n` of a CRLF on the next.
fn lines_at(path: &Path, offsets: &[u64]) -> HashMap<u64, u64> {
    let mut out = HashMap::new();
    let Ok(bytes) = std::fs::read(path) else {
        return out;
    };
    let mut sorted = offsets.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let (mut line, mut from) = (1u64, 0usize);
    for byte in sorted {
        let to = usize::try_from(byte).unwrap_or(usize::MAX).min(bytes.len());
        if to < from {
            continue;
        }
        line += bytes[from..to].iter().filter(|b| **b == b'\n').count() as u64;
        from = to;
        let starts_on_lf = bytes.get(to) == Some(&b'\n');
        out.insert(byte, line + u64::from(starts_on_lf));
    }
    out
}

/// One file's plan: which CSV column feeds which table column.
struct FilePlan {
    table: Table,
    file: String,
    path: std::path::PathBuf,
    /// For each table column loaded, the index of the CSV column.
    mapping: Vec<(Column, usize)>,
    was_empty: bool,
}

/// What runs inside an import's transaction, after the rows are loaded and before it commits.
pub type BeforeCommit<'a> = dyn FnMut(&mut dyn Db, &[TableReport]) -> Result<(), StoreError> + 'a;

impl Store {
    /// Imports every `<table>.csv` in `dir`. `progress(table, rows)` is called now and then.
    pub fn import_dir(
        &mut self,
        dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ImportReport, StoreError> {
        self.import_dir_then(dir, progress, &mut |_, _| Ok(()))
    }

    /// [`import_dir`](Self::import_dir), calling `then` with what was loaded inside the
    /// import's transaction, before it commits (the engine writes its audit entry there).
    pub fn import_dir_then(
        &mut self,
        dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
        then: &mut BeforeCommit<'_>,
    ) -> Result<ImportReport, StoreError> {
        let started = Instant::now();
        self.refresh_settings()?;
        let model = self.shared_model();
        let db = self.db();
        let mut problems = Problems {
            list: Vec::new(),
            total: 0,
            at: None,
            offsets: Vec::new(),
        };
        let plans = plan_files(&model, db, dir, &mut problems)?;
        if plans.is_empty() && problems.total == 0 {
            return Err(StoreError::Invalid(format!(
                "{} holds no CSV file offboard knows: expected customers.csv or one of {}",
                dir.display(),
                model
                    .records
                    .iter()
                    .map(|r| format!("{}.csv", r.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let d = db.dialect();
        // A bulk load writes each page once: with a rollback journal, pages past the end of
        // the file need no journal (nothing to roll back to), where the write-ahead log writes
        // every page twice (the log, then the checkpoint). Only when no one else has the
        // file open (the server): otherwise SQLite keeps the log, and so does the load.
        let mut journal_switched = false;
        if d == Dialect::Sqlite {
            // The indexes rebuilt after the load sort their keys on helper threads too.
            db.batch("PRAGMA foreign_keys = OFF; PRAGMA threads = 4")?;
            let mode = db.query("PRAGMA journal_mode = DELETE", &[], &[FieldType::Text]);
            journal_switched = matches!(&mode, Ok(rows) if rows.first().and_then(|r| r[0].as_str()) == Some("delete"));
        }
        // Header problems do not stop the rows from being checked: the user sees everything.
        let result = db.transaction(|tx| {
            let tables = load(&model, tx, &plans, problems, progress)?;
            then(tx, &tables)?;
            Ok(tables)
        });
        if d == Dialect::Sqlite {
            db.batch("PRAGMA foreign_keys = ON; PRAGMA threads = 0")?;
            if journal_switched {
                db.batch("PRAGMA journal_mode = WAL")?;
            }
        }
        let tables = result?;
        let rows = tables.iter().map(|t| t.rows).sum();
        if d == Dialect::Postgres {
            for p in &plans {
                db.batch(&format!("ANALYZE {}", q(&p.table.name)))?;
            }
        }
        Ok(ImportReport {
            tables,
            rows,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

fn plan_files(
    model: &Model,
    db: &mut dyn Db,
    dir: &Path,
    problems: &mut Problems,
) -> Result<Vec<FilePlan>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::Io {
        context: format!("cannot read directory {}", dir.display()),
        source: e,
    })?;
    let tables = schema::tables(model);
    let mut present = HashSet::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".csv") {
            if tables.iter().any(|t| t.name == stem) {
                present.insert(stem.to_string());
            } else {
                problems.add(
                    &name,
                    1,
                    None,
                    format!(
                        "no table is called `{stem}`; files are customers.csv and {}",
                        model
                            .records
                            .iter()
                            .map(|r| format!("{}.csv", r.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
    let mut plans = Vec::new();
    for table in tables.into_iter().filter(|t| present.contains(&t.name)) {
        let file = format!("{}.csv", table.name);
        let path = dir.join(&file);
        let mut reader =
            csv::ReaderBuilder::new()
                .from_path(&path)
                .map_err(|e| StoreError::Io {
                    context: format!("cannot open {}", path.display()),
                    source: std::io::Error::other(e.to_string()),
                })?;
        let header = reader
            .headers()
            .map_err(|e| StoreError::Invalid(format!("{file}:1: {e}")))?
            .clone();
        let mut mapping = Vec::new();
        let mut seen = HashSet::new();
        for (i, h) in header.iter().enumerate() {
            let h = h.trim();
            if !seen.insert(h.to_string()) {
                problems.add(
                    &file,
                    1,
                    Some(h),
                    "the column appears twice in the header".into(),
                );
                continue;
            }
            match table
                .columns
                .iter()
                .find(|c| c.name == h && c.name != "status_before_delete")
            {
                Some(c) => mapping.push((c.clone(), i)),
                None => problems.add(
                    &file,
                    1,
                    Some(h),
                    format!(
                        "unknown column; {} has: {}",
                        table.name,
                        table
                            .columns
                            .iter()
                            .filter(|c| c.name != "status_before_delete")
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            }
        }
        let required: &[&str] = if table.name == CUSTOMERS_TABLE {
            &["id", "number", "kind", "name"]
        } else {
            &["id"]
        };
        for r in required {
            if !mapping.iter().any(|(c, _)| c.name == *r) {
                problems.add(
                    &file,
                    1,
                    Some(r),
                    "this column is required but missing from the header".into(),
                );
            }
        }
        let was_empty = db.query_i64(
            &format!(
                "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT 1) x",
                q(&table.name)
            ),
            &[],
        )? == 0;
        plans.push(FilePlan {
            table,
            file,
            path,
            mapping,
            was_empty,
        });
    }
    Ok(plans)
}

/// Loads every file in one transaction; on any problem returns them all (rolled back).
fn load(
    model: &Model,
    db: &mut dyn Db,
    plans: &[FilePlan],
    mut problems: Problems,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<Vec<TableReport>, StoreError> {
    let d = db.dialect();
    // Ids of every table: for duplicates and for links.
    let mut ids: HashMap<String, IdSet> = HashMap::new();
    for table in schema::tables(model) {
        let mut set = IdSet::default();
        if !plans
            .iter()
            .any(|p| p.table.name == table.name && p.was_empty)
        {
            db.query_each(
                &format!("SELECT id FROM {}", q(&table.name)),
                &[],
                &[FieldType::Int],
                &mut |r| {
                    if let Some(i) = r[0].as_i64() {
                        set.insert(i);
                    }
                    Ok(())
                },
            )?;
        }
        ids.insert(table.name.clone(), set);
    }
    // Secondary indexes and foreign keys of empty tables go during the load; so does the
    // customers' search index (built in one pass afterwards).
    let mut rebuild = Vec::new();
    let search_rebuild = plans
        .iter()
        .any(|p| p.was_empty && p.table.name == CUSTOMERS_TABLE);
    if search_rebuild {
        crate::search::before_bulk_load(db)?;
    }
    for p in plans.iter().filter(|p| p.was_empty) {
        for ix in schema::indexes(&p.table) {
            db.batch(&format!("DROP INDEX IF EXISTS {}", q(&ix.name)))?;
            rebuild.push(ix.create);
        }
        if d == Dialect::Postgres {
            for c in p.table.columns.iter().filter(|c| c.link.is_some()) {
                let name = fk_name(&p.table.name, &c.name);
                db.batch(&format!(
                    "ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}",
                    q(&p.table.name),
                    q(&name)
                ))?;
                if let Some(t) = &c.link {
                    rebuild.push(format!(
                        "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} (\"id\") DEFERRABLE INITIALLY DEFERRED",
                        q(&p.table.name), q(&name), q(&c.name), q(t.table())
                    ));
                }
            }
        }
    }
    let mut numbers: HashSet<String> = HashSet::new();
    if plans
        .iter()
        .any(|p| p.table.name == CUSTOMERS_TABLE && !p.was_empty)
    {
        db.query_each(
            "SELECT number FROM customers",
            &[],
            &[FieldType::Text],
            &mut |r| {
                if let Some(n) = r[0].as_str() {
                    numbers.insert(n.to_string());
                }
                Ok(())
            },
        )?;
    }
    let mut max_number = 0i64;
    // The highest document number imported per kind whose numbers only go up.
    let mut series: HashMap<String, u64> = HashMap::new();
    let mut reports = Vec::new();
    for plan in plans {
        let rows = load_file(
            model,
            db,
            plan,
            &mut ids,
            &mut numbers,
            &mut max_number,
            &mut series,
            &mut problems,
            progress,
        )?;
        reports.push(TableReport {
            table: plan.table.name.clone(),
            file: plan.file.clone(),
            rows,
        });
    }
    if problems.total == 0 {
        if let Some(plan) = plans.iter().find(|p| p.table.name == CUSTOMERS_TABLE) {
            customer_link_kinds(model, db, plan, &mut problems)?;
        }
    }
    if problems.total > 0 {
        return Err(StoreError::Import(ImportErrors {
            errors: problems.list,
            total: problems.total,
        }));
    }
    for sql in &rebuild {
        db.batch(sql)?;
    }
    if search_rebuild {
        crate::search::after_bulk_load(db)?;
    }
    if !rebuild.is_empty() || search_rebuild {
        // The indexes made again are new relations: none of them may sample a personal value.
        crate::inventory::set_statistics_targets(db, model)?;
    }
    if d == Dialect::Postgres {
        for p in plans {
            db.batch(&format!(
                // Never lower: ids erased above the imported ones are not given again.
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), GREATEST((SELECT max(id) FROM {0}), pg_sequence_last_value(pg_get_serial_sequence('{0}', 'id')::regclass), 1))",
                q(&p.table.name)
            ))?;
        }
    }
    // A document number imported continues its series: the next one given is past it, and
    // a deleted one is not given again.
    for (kind, highest) in &series {
        crate::records::raise_sequence(db, &format!("number:{kind}"), *highest)?;
    }
    if max_number > 0 {
        let current = db.query_i64(
            "SELECT next FROM offboard_sequences WHERE name = 'customer_number'",
            &[],
        )?;
        set_sequence(db, "customer_number", current.max(max_number + 1))?;
    }
    Ok(reports)
}

#[allow(clippy::too_many_arguments)]
fn load_file(
    model: &Model,
    db: &mut dyn Db,
    plan: &FilePlan,
    ids: &mut HashMap<String, IdSet>,
    numbers: &mut HashSet<String>,
    max_number: &mut i64,
    series: &mut HashMap<String, u64>,
    problems: &mut Problems,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<u64, StoreError> {
    let is_customers = plan.table.name == CUSTOMERS_TABLE;
    let file = plan.file.as_str();
    let mut doc = DocNumbers::new(model, db, plan)?;
    // No resurrection: an erased or forgotten person's email may not come back by import.
    let blocked = if is_customers {
        crate::blocklist::Loaded::load(model, db)?
    } else {
        None
    };
    let mut reader = csv::ReaderBuilder::new()
        .from_path(&plan.path)
        .map_err(|e| StoreError::Io {
            context: format!("cannot open {}", plan.path.display()),
            source: std::io::Error::other(e.to_string()),
        })?;
    // Columns written: the mapped ones, plus created_at and status when customers.csv lacks them.
    let mut columns: Vec<(String, FieldType)> = plan
        .mapping
        .iter()
        .map(|(c, _)| (c.name.clone(), c.ty))
        .collect();
    let has = |n: &str| plan.mapping.iter().any(|(c, _)| c.name == n);
    let add_created = is_customers && !has("created_at");
    let add_status = is_customers && !has("status");
    if add_created {
        columns.push(("created_at".into(), FieldType::DateTime));
    }
    if add_status {
        columns.push(("status".into(), FieldType::Text));
    }
    let now = Value::DateTime(DateTime::now());
    let allowed: Vec<Option<&Vec<String>>> = plan
        .mapping
        .iter()
        .map(|(c, _)| {
            if is_customers {
                None
            } else {
                model
                    .record(&plan.table.name)
                    .and_then(|k| k.field(&c.name))
                    .and_then(|f| f.values.as_ref())
            }
        })
        .collect();
    let mut own_ids = ids.remove(&plan.table.name).unwrap_or_default();
    // Links into the same table may point forward; they are checked at the end of the file.
    let mut pending: Vec<(u64, Option<u64>, usize, i64)> = Vec::new();
    // Once anything is wrong nothing will be committed, so later files are only checked.
    let mut sink = if problems.total == 0 {
        Some(db.bulk(&plan.table.name, &columns)?)
    } else {
        None
    };
    // Two threads: this one writes rows into the database while the other reads and checks
    // the next ones (parsing, the ids, links, numbers, the blocklist) — on two cores the load
    // takes about as long as the slower of the two, not their sum.
    let (to_writer, rows_in) = std::sync::mpsc::sync_channel::<Vec<Vec<Value>>>(8);
    let checked = std::thread::scope(|scope| -> Result<u64, StoreError> {
        let checker = scope.spawn(|| -> Result<u64, StoreError> {
            let to_writer = to_writer;
            let mut writing = problems.total == 0;
            let mut batch: Vec<Vec<Value>> = Vec::with_capacity(ROWS_PER_BATCH);
            let mut record = csv::ByteRecord::new();
            let mut count = 0u64;
            let mut line = 1u64;
            loop {
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        problems.at = None;
                        problems.add(file, line + 1, None, format!("unreadable CSV: {e}"));
                        break;
                    }
                }
                line = record.position().map_or(line + 1, |p| p.line());
                problems.at = record.position().map(|p| p.byte());
                let mut row: Vec<Value> = Vec::with_capacity(columns.len());
                let before = problems.total;
                for (i, (col, idx)) in plan.mapping.iter().enumerate() {
                    let raw = record.get(*idx).unwrap_or_default();
                    let Ok(text) = std::str::from_utf8(raw) else {
                        problems.add(file, line, Some(&col.name), "not valid UTF-8".into());
                        row.push(Value::Null);
                        continue;
                    };
                    let v = match Value::parse_cell(col.ty, text) {
                        Ok(v) => v,
                        Err(e) => {
                            problems.add(file, line, Some(&col.name), e.to_string());
                            row.push(Value::Null);
                            continue;
                        }
                    };
                    if let (Some(list), Value::Text(s)) = (allowed[i], &v) {
                        if !list.contains(s) {
                            problems.add(
                                file,
                                line,
                                Some(&col.name),
                                format!("{s:?} is not one of {}", list.join(", ")),
                            );
                        }
                    }
                    check_cell(model, is_customers, col, &v, file, line, problems);
                    if let Value::Text(t) = &v {
                        if let Some(why) = unstorable(&col.name, t) {
                            problems.add(file, line, Some(&col.name), why);
                        }
                    }
                    if col.name == "id" {
                        match v.as_i64() {
                            None => {
                                problems.add(file, line, Some("id"), "every row needs an id".into())
                            }
                            Some(id) if id > MAX_ID => problems.add(
                                file,
                                line,
                                Some("id"),
                                format!(
                                    "id {id} leaves no room for new rows; ids go up to {MAX_ID}"
                                ),
                            ),
                            Some(id) if !own_ids.insert(id) => {
                                problems.add(file, line, Some("id"), format!("duplicate id {id}"))
                            }
                            Some(_) => {}
                        }
                    } else if let (Some(target), Some(id)) = (&col.link, v.as_i64()) {
                        if target.table() == plan.table.name {
                            pending.push((line, problems.at, i, id));
                        } else if !ids.get(target.table()).is_some_and(|s| s.contains(id)) {
                            problems.add(
                                file,
                                line,
                                Some(&col.name),
                                format!("links to {} {id}, which does not exist", target.table()),
                            );
                        }
                    }
                    if is_customers && col.name == "number" {
                        if let Value::Text(n) = &v {
                            if let Some(seq) = model.customer.parse_number(n) {
                                *max_number = (*max_number).max(seq);
                            }
                            if !numbers.insert(n.clone()) {
                                problems.add(
                                    file,
                                    line,
                                    Some("number"),
                                    format!("customer number {n} is used twice"),
                                );
                            }
                        }
                    }
                    row.push(v);
                }
                if is_customers && problems.total == before {
                    check_customer_state(model, &plan.mapping, &row, file, line, problems);
                }
                if let Some(d) = doc.as_mut() {
                    d.check(&row, file, line, series, problems);
                }
                if let Some(list) = &blocked {
                    for ((col, _), v) in plan.mapping.iter().zip(&row) {
                        if let Value::Text(t) = v {
                            if let Some(why) = list.refuses(&col.name, t)? {
                                problems.add(file, line, Some(&col.name), why);
                            }
                        }
                    }
                }
                if add_created {
                    row.push(now.clone());
                }
                if add_status {
                    row.push(Value::Text(Status::Active.name().into()));
                }
                // Nothing will be committed once a row is wrong: stop writing, keep checking.
                writing = writing && problems.total == before;
                if writing {
                    batch.push(row);
                    if batch.len() == ROWS_PER_BATCH {
                        let full =
                            std::mem::replace(&mut batch, Vec::with_capacity(ROWS_PER_BATCH));
                        // The writer stopped (its own error, which it returns): so do we.
                        if to_writer.send(full).is_err() {
                            writing = false;
                        }
                    }
                }
                count += 1;
            }
            if writing && !batch.is_empty() {
                // As above: a writer that stopped says why itself.
                let _ = to_writer.send(batch);
            }
            Ok(count)
        });
        let mut written = 0u64;
        let mut wrote: Result<(), StoreError> = Ok(());
        for batch in rows_in {
            if let Some(s) = sink.as_mut() {
                wrote = batch.iter().try_for_each(|row| s.write(row));
                if wrote.is_err() {
                    break;
                }
            }
            let was = written;
            written += batch.len() as u64;
            if written / 100_000 > was / 100_000 {
                progress(&plan.table.name, written);
            }
        }
        let count = checker
            .join()
            .map_err(|_| StoreError::Invalid(format!("checking {file} stopped unexpectedly")))??;
        wrote?;
        Ok(count)
    });
    let count = checked?;
    for (line, at, i, id) in pending {
        problems.at = at;
        if !own_ids.contains(id) {
            let col = &plan.mapping[i].0;
            problems.add(
                file,
                line,
                Some(&col.name),
                format!("links to {} {id}, which does not exist", plan.table.name),
            );
        }
    }
    problems.count_lines(&plan.path);
    ids.insert(plan.table.name.clone(), own_ids);
    // With a problem found nothing is committed: what was written is rolled back.
    if let Some(s) = sink.filter(|_| problems.total == 0) {
        s.finish()?;
    }
    progress(&plan.table.name, count);
    Ok(count)
}

/// Rows the checking thread hands the writer at a time.
const ROWS_PER_BATCH: usize = 1024;

/// A numbered record kind's numbers while its file loads: unique (per owner where they
/// count per owner), against the rows the table holds already and the file's own, and the
/// highest of the series.
struct DocNumbers {
    kind: String,
    field: String,
    number_at: usize,
    owner_at: Option<usize>,
    keep: bool,
    numbered: offboard_model::model::Numbered,
    seen: HashSet<(Option<i64>, String)>,
}

impl DocNumbers {
    fn new(
        model: &Model,
        db: &mut dyn Db,
        plan: &FilePlan,
    ) -> Result<Option<DocNumbers>, StoreError> {
        let Some(kind) = model.record(&plan.table.name) else {
            return Ok(None);
        };
        let Some(numbered) = kind.numbered.clone() else {
            return Ok(None);
        };
        let at = |name: &str| plan.mapping.iter().position(|(c, _)| c.name == name);
        let Some(number_at) = at(&numbered.field) else {
            return Ok(None);
        };
        let owner_at = if numbered.per_owner {
            at(&kind.owner.column)
        } else {
            None
        };
        let mut seen = HashSet::new();
        if !plan.was_empty {
            let owner = if numbered.per_owner {
                q(&kind.owner.column)
            } else {
                "NULL".into()
            };
            db.query_each(
                &format!(
                    "SELECT {owner}, {} FROM {}",
                    q(&numbered.field),
                    q(&kind.name)
                ),
                &[],
                &[FieldType::Int, FieldType::Text],
                &mut |r| {
                    if !matches!(r[1], Value::Null) {
                        seen.insert((r[0].as_i64(), r[1].to_cell()));
                    }
                    Ok(())
                },
            )?;
        }
        Ok(Some(DocNumbers {
            kind: kind.name.clone(),
            field: numbered.field.clone(),
            number_at,
            owner_at,
            keep: !numbered.reuse && !numbered.per_owner,
            numbered,
            seen,
        }))
    }

    fn check(
        &mut self,
        row: &[Value],
        file: &str,
        line: u64,
        series: &mut HashMap<String, u64>,
        problems: &mut Problems,
    ) {
        let number = &row[self.number_at];
        if matches!(number, Value::Null) {
            return;
        }
        let owner = self.owner_at.and_then(|i| row[i].as_i64());
        if !self.seen.insert((owner, number.to_cell())) {
            let under = match owner {
                Some(o) if self.owner_at.is_some() => format!(" under the same owner ({o})"),
                _ => String::new(),
            };
            problems.add(
                file,
                line,
                Some(&self.field),
                format!(
                    "{} number {} is used twice{under}",
                    self.kind,
                    number.to_cell()
                ),
            );
        }
        if self.keep {
            if let Some(c) = crate::records::series_counter(&self.numbered, number) {
                let top = series.entry(self.kind.clone()).or_insert(0);
                *top = (*top).max(c);
            }
        }
    }
}

/// Customer links of the right kinds, as `customers add` and `edit` check them: only the
/// kinds a link is for may have it (a company has no company), and it points at a kind it
/// may (a contact person's company is a company). Checked in SQL once the customers are
/// loaded (inside the import's transaction); the lines of the rows found are then looked up.
fn customer_link_kinds(
    model: &Model,
    db: &mut dyn Db,
    plan: &FilePlan,
    problems: &mut Problems,
) -> Result<(), StoreError> {
    let d = db.dialect();
    let mut found: Vec<(i64, String, String)> = Vec::new();
    let list = |kinds: &[String], params: &mut Vec<Value>| {
        kinds
            .iter()
            .map(|k| {
                params.push(Value::Text(k.clone()));
                ph(d, params.len())
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    for cl in &model.customer.links {
        let col = q(&cl.link.column);
        // In a hierarchy a customer is not its own parent, nor are two each other's.
        let loops = match cl.is_hierarchy() {
            true => db.query(
                &format!("SELECT a.id, b.id FROM customers a JOIN customers b ON b.id = a.{col} WHERE a.id = b.id OR (b.{col} = a.id AND a.id < b.id) ORDER BY a.id LIMIT {MAX_LISTED}"),
                &[],
                &[FieldType::Int, FieldType::Int],
            )?,
            false => Vec::new(),
        };
        for r in loops {
            let (a, b) = (r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0));
            found.push((
                a,
                cl.link.column.clone(),
                if a == b {
                    "links to itself".to_string()
                } else {
                    format!(
                        "and customer {b} link to each other as `{}`: a loop",
                        cl.link.name
                    )
                },
            ));
        }
        if !cl.kinds.is_empty() {
            let mut params = Vec::new();
            let kinds = list(&cl.kinds, &mut params);
            for r in db.query(
                &format!("SELECT id, kind FROM customers WHERE {col} IS NOT NULL AND kind NOT IN ({kinds}) ORDER BY id LIMIT {MAX_LISTED}"),
                &params,
                &[FieldType::Int, FieldType::Text],
            )? {
                let kind = r[1].as_str().unwrap_or_default();
                found.push((
                    r[0].as_i64().unwrap_or(0),
                    cl.link.column.clone(),
                    format!(
                        "a {kind} has no `{}` link (only {}); leave it empty",
                        cl.link.name,
                        cl.kinds.join(", ")
                    ),
                ));
            }
        }
        if !cl.target_kinds.is_empty() {
            let mut params = Vec::new();
            let kinds = list(&cl.target_kinds, &mut params);
            for r in db.query(
                &format!("SELECT s.id, t.id, t.kind FROM customers s JOIN customers t ON t.id = s.{col} WHERE t.kind NOT IN ({kinds}) ORDER BY s.id LIMIT {MAX_LISTED}"),
                &params,
                &[FieldType::Int, FieldType::Int, FieldType::Text],
            )? {
                found.push((
                    r[0].as_i64().unwrap_or(0),
                    cl.link.column.clone(),
                    format!(
                        "links to customer {}, a {}; `{}` must point at a {}",
                        r[1].as_i64().unwrap_or(0),
                        r[2].as_str().unwrap_or_default(),
                        cl.link.column,
                        cl.target_kinds.join(" or ")
                    ),
                ));
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    // Which lines: one more pass over the file, only now that something is wrong.
    let id_col = plan
        .mapping
        .iter()
        .find(|(c, _)| c.name == "id")
        .map(|(_, i)| *i);
    let mut starts: HashMap<i64, u64> = HashMap::new();
    if let (Some(idx), Ok(mut reader)) = (id_col, csv::Reader::from_path(&plan.path)) {
        let wanted: HashSet<i64> = found.iter().map(|f| f.0).collect();
        let mut record = csv::ByteRecord::new();
        while let Ok(true) = reader.read_byte_record(&mut record) {
            let id = std::str::from_utf8(record.get(idx).unwrap_or_default())
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok());
            if let (Some(id), Some(pos)) = (id, record.position()) {
                if wanted.contains(&id) {
                    starts.insert(id, pos.byte());
                }
            }
        }
    }
    let at = lines_at(&plan.path, &starts.values().copied().collect::<Vec<_>>());
    let lines: HashMap<i64, u64> = starts
        .into_iter()
        .filter_map(|(id, byte)| Some((id, *at.get(&byte)?)))
        .collect();
    found.sort_by_key(|f| (lines.get(&f.0).copied().unwrap_or(0), f.1.clone()));
    for (id, column, message) in found {
        problems.add(
            &plan.file,
            lines.get(&id).copied().unwrap_or(0),
            Some(&column),
            format!("customer {id}: {message}"),
        );
    }
    Ok(())
}

/// The largest id an import takes: new rows need room above it.
const MAX_ID: i64 = 1 << 62;
/// The longest text a cell may hold, and a customer number (it is indexed).
const MAX_TEXT: usize = 1 << 20;
const MAX_NUMBER: usize = 200;

/// Why a text cell cannot be stored the same on both backends, if it cannot: a NUL character
/// (PostgreSQL refuses it), or a value too long (an indexed number, or any past 1 MiB).
fn unstorable(column: &str, text: &str) -> Option<String> {
    if text.contains('\0') {
        return Some("contains a NUL character (\\0), which cannot be stored".into());
    }
    let limit = if column == "number" {
        MAX_NUMBER
    } else {
        MAX_TEXT
    };
    (text.len() > limit).then(|| {
        format!(
            "is {} bytes long; at most {limit} bytes fit in `{column}`",
            text.len()
        )
    })
}

/// A customer's state must be whole, as the lifecycle leaves it: `deleted_at` only on a
/// deleted customer, no deactivation date or reason on an active one, and a reason from the
/// model's list for the customer's kind.
fn check_customer_state(
    model: &Model,
    mapping: &[(Column, usize)],
    row: &[Value],
    file: &str,
    line: u64,
    problems: &mut Problems,
) {
    let get = |name: &str| {
        mapping
            .iter()
            .position(|(c, _)| c.name == name)
            .and_then(|i| row.get(i))
            .filter(|v| !matches!(v, Value::Null))
    };
    let status = get("status")
        .and_then(|v| v.as_str())
        .and_then(Status::parse)
        .unwrap_or(Status::Active);
    if status != Status::Deleted && get("deleted_at").is_some() {
        problems.add(
            file,
            line,
            Some("deleted_at"),
            format!("a customer that is {status} has no deletion time; leave deleted_at empty or make the status deleted"),
        );
    }
    if status == Status::Active {
        for col in ["deactivated_on", "deactivation_reason"] {
            if get(col).is_some() {
                problems.add(
                    file,
                    line,
                    Some(col),
                    format!("an active customer has no {}; leave it empty or make the status deactivated", col.replace('_', " ")),
                );
            }
        }
    }
    if let (Some(Value::Text(reason)), Some(Value::Text(kind))) =
        (get("deactivation_reason"), get("kind"))
    {
        let list = model.customer.reasons_for(kind);
        if !list.is_empty() && !list.contains(reason) {
            problems.add(
                file,
                line,
                Some("deactivation_reason"),
                format!(
                    "{reason:?} is not a deactivation reason for a {kind}; reasons: {}",
                    list.join(", ")
                ),
            );
        }
    }
}

/// Checks of one value that do not depend on other rows.
fn check_cell(
    model: &Model,
    is_customers: bool,
    col: &Column,
    v: &Value,
    file: &str,
    line: u64,
    problems: &mut Problems,
) {
    if !is_customers {
        return;
    }
    match (col.name.as_str(), v) {
        ("kind", Value::Text(k)) if !model.customer.kinds.contains(k) => problems.add(
            file,
            line,
            Some("kind"),
            format!(
                "unknown kind {k:?}; kinds are: {}",
                model.customer.kinds.join(", ")
            ),
        ),
        ("status", Value::Text(s)) if Status::parse(s).is_none() => problems.add(
            file,
            line,
            Some("status"),
            format!("unknown status {s:?}; statuses are: {}", Status::NAMES),
        ),
        ("email", Value::Text(e)) if crate::customers::check_email(e).is_err() => problems.add(
            file,
            line,
            Some("email"),
            format!("{e:?} is not an email address (like name@example.com)"),
        ),
        ("number" | "kind" | "name" | "status" | "created_at", Value::Null) => {
            problems.add(file, line, Some(&col.name), "this value is required".into())
        }
        _ => {}
    }
}
