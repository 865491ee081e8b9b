//! Workbooks for reports (lending: "export the data to xlsx before a large deletion") and for
//! exports of a customer view: one worksheet per table, rows written as they are read.
//!
//! Written by `rust_xlsxwriter` in its constant-memory mode: each worksheet's rows go to a
//! temporary file as they come, so memory stays flat however long the table is, and the
//! workbook is zipped (deflated) when it is saved. (It replaced a hand-written writer of
//! stored, uncompressed ZIP entries; see ARCHITECTURE.md for the measurement.)

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Format, XlsxError};

/// Rows per worksheet (Excel's limit, less the header); a longer table continues on a sheet
/// named `table (2)`.
pub const MAX_ROWS: u64 = 1_048_575;

/// One cell of a row.
pub enum Cell<'a> {
    Empty,
    Number(f64),
    Text(&'a str),
}

fn io(e: XlsxError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// A workbook being written to `path`.
pub struct Workbook {
    book: rust_xlsxwriter::Workbook,
    path: PathBuf,
    /// The current sheet: its index, table, header, part number, and rows written.
    sheet: Option<(usize, String, Vec<String>, u32, u64)>,
    sheets: usize,
    bold: Format,
}

impl Workbook {
    /// Starts a workbook that [`finish`](Self::finish) writes to `path`. Its rows wait in
    /// temporary files next to it (the file system that will hold the workbook anyway).
    pub fn create(path: &Path) -> std::io::Result<Workbook> {
        let mut book = rust_xlsxwriter::Workbook::new();
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        book.set_tempdir(dir).map_err(io)?;
        // Fail now, not after a million rows, when the file cannot be written.
        std::fs::File::create(path)?;
        Ok(Workbook {
            book,
            path: path.to_path_buf(),
            sheet: None,
            sheets: 0,
            bold: Format::new().set_bold(),
        })
    }

    fn open_sheet(&mut self, table: &str, header: &[String], part: u32) -> std::io::Result<()> {
        let name = if part == 1 {
            table.to_string()
        } else {
            format!("{table} ({part})")
        };
        // Excel's sheet names: at most 31 characters, none of []:*?/\.
        let name: String = name
            .chars()
            .map(|c| if "[]:*?/\\".contains(c) { '_' } else { c })
            .take(31)
            .collect();
        let ws = self.book.add_worksheet_with_constant_memory().map_err(io)?;
        ws.set_name(&name).map_err(io)?;
        for (i, h) in header.iter().enumerate() {
            ws.write_string_with_format(0, i as u16, h, &self.bold)
                .map_err(io)?;
        }
        if !header.is_empty() {
            ws.set_freeze_panes(1, 0).map_err(io)?;
        }
        self.sheet = Some((self.sheets, table.into(), header.to_vec(), part, 0));
        self.sheets += 1;
        Ok(())
    }

    /// Starts the worksheet of `table` with its header row.
    pub fn sheet(&mut self, table: &str, header: &[&str]) -> std::io::Result<()> {
        let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
        self.open_sheet(table, &header, 1)
    }

    /// Writes one row to the current worksheet (continuing on a new one past [`MAX_ROWS`]).
    pub fn row(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        let Some((index, table, header, part, rows)) = self.sheet.as_ref() else {
            return Err(std::io::Error::other("a row before any sheet"));
        };
        let (mut index, mut rows) = (*index, *rows);
        if rows == MAX_ROWS {
            let (table, header, part) = (table.clone(), header.clone(), *part + 1);
            self.open_sheet(&table, &header, part)?;
            index = self.sheets - 1;
            rows = 0;
        }
        let ws = self.book.worksheet_from_index(index).map_err(io)?;
        let r = (rows + 1) as u32;
        for (c, cell) in cells.iter().enumerate() {
            match cell {
                Cell::Empty => {}
                Cell::Number(n) => {
                    ws.write_number(r, c as u16, *n).map_err(io)?;
                }
                Cell::Text(t) => {
                    ws.write_string(r, c as u16, *t).map_err(io)?;
                }
            }
        }
        if let Some(s) = self.sheet.as_mut() {
            s.4 = rows + 1;
        }
        Ok(())
    }

    /// Writes the workbook (a workbook needs at least one sheet: an empty one if none).
    pub fn finish(mut self) -> std::io::Result<()> {
        if self.sheets == 0 {
            self.book.add_worksheet_with_constant_memory().map_err(io)?;
        }
        self.book.save(&self.path).map_err(io)
    }
}
