//! `offboard export DIR`: every table as CSV in exactly the shape `offboard import` reads
//! (a round trip), streamed; `offboard export FILE.xlsx`: the same as one workbook, a sheet
//! per table (a report); and `offboard backup FILE`: a consistent copy of the database.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use offboard_model::{FieldType, Value};

use crate::db::q;
use crate::error::StoreError;
use crate::import::TableReport;
use crate::schema;
use crate::xlsx;
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

/// A cell of a CSV report, which people open in a spreadsheet: a text that a spreadsheet
/// would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is
/// prefixed with `'`, as OWASP's CSV-injection advice says, so it shows as the text it is.
/// Numbers and money are never prefixed (a negative amount stays a number).
fn report_cell(v: &Value) -> String {
    let text = v.to_cell();
    match v {
        Value::Text(_) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{text}"),
        _ => text,
    }
}

/// Where an export goes: a CSV file per table, or one workbook with a sheet per table.
enum Out {
    Csv {
        dir: std::path::PathBuf,
        file: Option<(std::path::PathBuf, std::io::BufWriter<std::fs::File>)>,
        line: String,
    },
    Xlsx(Box<xlsx::Workbook>, std::path::PathBuf),
}

impl Out {
    /// Starts a table; returns the name of the file (or sheet) it goes to.
    fn table(&mut self, name: &str, header: &[&str]) -> Result<String, StoreError> {
        match self {
            Out::Csv { dir, file, .. } => {
                let name = format!("{name}.csv");
                let path = dir.join(&name);
                let mut w = std::io::BufWriter::new(
                    std::fs::File::create(&path)
                        .map_err(io(format!("cannot write {}", path.display())))?,
                );
                writeln!(w, "{}", header.join(","))
                    .map_err(io(format!("cannot write {}", path.display())))?;
                *file = Some((path, w));
                Ok(name)
            }
            Out::Xlsx(book, path) => {
                book.sheet(name, header)
                    .map_err(io(format!("cannot write {}", path.display())))?;
                Ok(name.to_string())
            }
        }
    }

    fn row(&mut self, values: &[Value]) -> std::io::Result<()> {
        match self {
            Out::Csv { file, line, .. } => {
                line.clear();
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str(&cell(&v.to_cell()));
                }
                line.push('\n');
                match file {
                    Some((_, w)) => w.write_all(line.as_bytes()),
                    None => Ok(()),
                }
            }
            Out::Xlsx(book, _) => {
                let texts: Vec<String> = values.iter().map(Value::to_cell).collect();
                let cells: Vec<xlsx::Cell> = values
                    .iter()
                    .zip(&texts)
                    .map(|(v, t)| sheet_cell(v, t))
                    .collect();
                book.row(&cells)
            }
        }
    }

    fn end_table(&mut self) -> Result<(), StoreError> {
        if let Out::Csv { file, .. } = self {
            if let Some((path, mut w)) = file.take() {
                w.flush()
                    .map_err(io(format!("cannot write {}", path.display())))?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), StoreError> {
        match self {
            Out::Csv { .. } => Ok(()),
            Out::Xlsx(book, path) => book
                .finish()
                .map_err(io(format!("cannot write {}", path.display()))),
        }
    }
}

/// A spreadsheet cell of a value: numbers as numbers (money in units), the rest as text.
fn sheet_cell<'a>(v: &Value, text: &'a str) -> xlsx::Cell<'a> {
    match v {
        Value::Null => xlsx::Cell::Empty,
        // A spreadsheet number is a double: larger integers stay exact as text.
        Value::Int(i) if i.unsigned_abs() <= 1 << 53 => xlsx::Cell::Number(*i as f64),
        // A report shows money in units, not cents.
        Value::Money(m) => xlsx::Cell::Number(*m as f64 / 100.0),
        Value::Bool(b) => xlsx::Cell::Number(f64::from(u8::from(*b))),
        _ => xlsx::Cell::Text(text),
    }
}

impl Store {
    /// The customers of a view (`query` without its paging), with their record counts per
    /// kind, as CSV written to `out` as they are read. Returns the rows written.
    pub fn export_view_csv(
        &mut self,
        query: &crate::customers::ListQuery,
        out: &mut dyn Write,
    ) -> Result<u64, StoreError> {
        let mut w = csv::Writer::from_writer(out);
        let failed = |e: csv::Error| StoreError::Io {
            context: "cannot write the CSV".into(),
            // A closed pipe stays a closed pipe (the CLI ends quietly on it).
            source: match e.into_kind() {
                csv::ErrorKind::Io(io) => io,
                other => std::io::Error::other(format!("{other:?}")),
            },
        };
        w.write_record(self.view_header()).map_err(failed)?;
        let mut texts: Vec<String> = Vec::new();
        let n = self.view_rows(query, &mut |row| {
            texts.clear();
            texts.extend(row.iter().map(report_cell));
            w.write_record(&texts).map_err(failed)
        })?;
        w.flush().map_err(io("cannot write the CSV".into()))?;
        Ok(n)
    }

    /// [`export_view_csv`](Self::export_view_csv) as a workbook `file` (`.xlsx`), one sheet
    /// `customers` (continued past Excel's row limit), in constant memory.
    pub fn export_view_xlsx(
        &mut self,
        query: &crate::customers::ListQuery,
        file: &Path,
    ) -> Result<u64, StoreError> {
        let failed = || io(format!("cannot write {}", file.display()));
        let mut book = xlsx::Workbook::create(file).map_err(failed())?;
        let header = self.view_header();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        book.sheet("customers", &header).map_err(failed())?;
        let mut texts: Vec<String> = Vec::new();
        let n = self.view_rows(query, &mut |row| {
            texts.clear();
            texts.extend(row.iter().map(Value::to_cell));
            let cells: Vec<xlsx::Cell> = row
                .iter()
                .zip(&texts)
                .map(|(v, t)| sheet_cell(v, t))
                .collect();
            book.row(&cells).map_err(failed())
        })?;
        book.finish().map_err(failed())?;
        Ok(n)
    }

    /// Writes `customers.csv` and one `<kind>.csv` per record kind into `dir`.
    pub fn export_dir(
        &mut self,
        dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ExportReport, StoreError> {
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let out = Out::Csv {
            dir: dir.to_path_buf(),
            file: None,
            line: String::new(),
        };
        self.export(out, progress)
    }

    /// Writes one workbook `file` (`.xlsx`) with a sheet per table: the report a user keeps
    /// before a large deletion. Money is in units (12.50), not cents.
    pub fn export_xlsx(
        &mut self,
        file: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ExportReport, StoreError> {
        let book =
            xlsx::Workbook::create(file).map_err(io(format!("cannot write {}", file.display())))?;
        self.export(Out::Xlsx(Box::new(book), file.to_path_buf()), progress)
    }

    fn export(
        &mut self,
        mut out: Out,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ExportReport, StoreError> {
        let model = self.shared_model();
        let db = self.db();
        let mut tables = Vec::new();
        // One snapshot: every file shows the same moment.
        db.snapshot(|db| {
            for table in schema::tables(&model) {
                let cols: Vec<_> = table
                    .columns
                    .iter()
                    .filter(|c| c.name != "status_before_delete")
                    .collect();
                let header: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
                let file = out.table(&table.name, &header)?;
                let list: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
                let types: Vec<FieldType> = cols.iter().map(|c| c.ty).collect();
                let mut rows = 0u64;
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
                        if let Err(e) = out.row(&r) {
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
                    return Err(io(format!("cannot write {file}"))(e));
                }
                out.end_table()?;
                progress(&table.name, rows);
                tables.push(TableReport {
                    table: table.name.clone(),
                    file,
                    rows,
                });
            }
            Ok(())
        })?;
        out.finish()?;
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
                "backing up PostgreSQL is pg_dump's job: pg_dump -Fc -f FILE DATABASE_URL (restore::backup runs it)".into(),
            )),
        }
    }
}
