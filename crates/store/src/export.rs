//! `offboard export DIR`: every table as CSV in exactly the shape `offboard import` reads
//! (a round trip), streamed; and `offboard backup FILE`: a consistent copy of the database.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use offboard_model::FieldType;

use crate::db::q;
use crate::error::StoreError;
use crate::import::TableReport;
use crate::schema;
use crate::{Dialect, Store};

#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub tables: Vec<TableReport>,
    pub rows: u64,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |source| StoreError::Io { context, source }
}

fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl Store {
    /// Writes `customers.csv` and one `<kind>.csv` per record kind into `dir`.
    pub fn export_dir(
        &mut self,
        dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ExportReport, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let model = self.shared_model();
        let db = self.db();
        let mut tables = Vec::new();
        // One transaction: every file shows the same moment.
        let begin = match db.dialect() {
            Dialect::Sqlite => "BEGIN",
            Dialect::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        db.batch(begin)?;
        let result = (|| {
            for table in schema::tables(&model) {
                let cols: Vec<_> = table
                    .columns
                    .iter()
                    .filter(|c| c.name != "status_before_delete")
                    .collect();
                let file = format!("{}.csv", table.name);
                let path = dir.join(&file);
                let mut w = std::io::BufWriter::new(
                    std::fs::File::create(&path)
                        .map_err(io(format!("cannot write {}", path.display())))?,
                );
                let header: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                writeln!(w, "{}", header.join(","))
                    .map_err(io(format!("cannot write {}", path.display())))?;
                let list: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
                let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
                let mut rows = 0u64;
                let mut line = String::new();
                let mut failed = None;
                db.query_each(
                    &format!(
                        "SELECT {} FROM {} ORDER BY id",
                        list.join(", "),
                        q(&table.name)
                    ),
                    &[],
                    &types,
                    &mut |r| {
                        line.clear();
                        for (i, v) in r.iter().enumerate() {
                            if i > 0 {
                                line.push(',');
                            }
                            line.push_str(&cell(&v.to_cell()));
                        }
                        line.push('\n');
                        if let Err(e) = w.write_all(line.as_bytes()) {
                            failed.get_or_insert(e);
                        }
                        rows += 1;
                        if rows.is_multiple_of(100_000) {
                            progress(&table.name, rows);
                        }
                        Ok(())
                    },
                )?;
                if let Some(e) = failed {
                    return Err(io(format!("cannot write {}", path.display()))(e));
                }
                w.flush()
                    .map_err(io(format!("cannot write {}", path.display())))?;
                progress(&table.name, rows);
                tables.push(TableReport {
                    table: table.name.clone(),
                    file,
                    rows,
                });
            }
            Ok(())
        })();
        db.batch("ROLLBACK")?;
        result?;
        let rows = tables.iter().map(|t| t.rows).sum();
        Ok(ExportReport { tables, rows })
    }

    /// A consistent copy of the whole database: SQLite writes a new database file
    /// (`VACUUM INTO`); for PostgreSQL, use `pg_dump`.
    pub fn backup(&mut self, file: &Path) -> Result<(), StoreError> {
        if file.exists() {
            return Err(StoreError::Refused(format!(
                "{} exists; choose a new file name",
                file.display()
            )));
        }
        match self.dialect() {
            Dialect::Sqlite => {
                let text = file.to_str().ok_or_else(|| {
                    StoreError::Invalid("the backup path is not valid UTF-8".into())
                })?;
                self.db().execute(
                    "VACUUM INTO ?1",
                    &[offboard_model::Value::Text(text.into())],
                )?;
                Ok(())
            }
            Dialect::Postgres => Err(StoreError::Refused(
                "backing up PostgreSQL is pg_dump's job: pg_dump -Fc -f FILE DATABASE_URL".into(),
            )),
        }
    }
}
