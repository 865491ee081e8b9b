//! A streaming XLSX writer for the export report (lending: "export the data to xlsx before a
//! large deletion"): one worksheet per table, rows written as they are read, never all in
//! memory. An XLSX file is a ZIP of XML parts; entries are stored (not compressed) and each
//! entry's header is patched with its CRC and size once the entry is written.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

/// Rows per worksheet (Excel's limit, less the header); a longer table continues on a sheet
/// named `table (2)`.
pub const MAX_ROWS: u64 = 1_048_575;

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

struct Entry {
    name: String,
    offset: u64,
    crc: u32,
    size: u64,
}

/// A ZIP archive of stored entries, written front to back.
struct Zip {
    out: BufWriter<File>,
    entries: Vec<Entry>,
    /// The entry being written: its CRC so far and its size.
    open: Option<(u32, u64)>,
}

impl Zip {
    fn start(&mut self, name: &str) -> std::io::Result<()> {
        let offset = self.out.stream_position()?;
        if offset > u64::from(u32::MAX) {
            return Err(std::io::Error::other(
                "the workbook is larger than 4 GiB, more than an XLSX file holds; export CSV instead",
            ));
        }
        self.entries.push(Entry {
            name: name.to_string(),
            offset,
            crc: 0,
            size: 0,
        });
        self.local_header(name, 0, 0)?;
        self.open = Some((!0, 0));
        Ok(())
    }

    fn local_header(&mut self, name: &str, crc: u32, size: u32) -> std::io::Result<()> {
        let w = &mut self.out;
        w.write_all(&0x0403_4b50u32.to_le_bytes())?;
        w.write_all(&20u16.to_le_bytes())?; // version needed
        w.write_all(&0u16.to_le_bytes())?; // flags
        w.write_all(&0u16.to_le_bytes())?; // stored
        w.write_all(&0u16.to_le_bytes())?; // time
        w.write_all(&0x21u16.to_le_bytes())?; // date: 1980-01-01
        w.write_all(&crc.to_le_bytes())?;
        w.write_all(&size.to_le_bytes())?;
        w.write_all(&size.to_le_bytes())?;
        w.write_all(&(name.len() as u16).to_le_bytes())?;
        w.write_all(&0u16.to_le_bytes())?;
        w.write_all(name.as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((crc, size)) = &mut self.open {
            for b in bytes {
                *crc = CRC_TABLE[((*crc ^ u32::from(*b)) & 0xff) as usize] ^ (*crc >> 8);
            }
            *size += bytes.len() as u64;
        }
        self.out.write_all(bytes)
    }

    /// Ends the open entry: its header gets the CRC and size.
    fn finish_entry(&mut self) -> std::io::Result<()> {
        let Some((crc, size)) = self.open.take() else {
            return Ok(());
        };
        let crc = !crc;
        let size32 = u32::try_from(size).map_err(|_| {
            std::io::Error::other("a worksheet larger than 4 GiB does not fit an XLSX file")
        })?;
        let end = self.out.stream_position()?;
        let Some(entry) = self.entries.last_mut() else {
            return Ok(());
        };
        entry.crc = crc;
        entry.size = size;
        let (name, offset) = (entry.name.clone(), entry.offset);
        self.out.seek(SeekFrom::Start(offset))?;
        self.local_header(&name, crc, size32)?;
        self.out.seek(SeekFrom::Start(end))?;
        Ok(())
    }

    fn entry(&mut self, name: &str, body: &str) -> std::io::Result<()> {
        self.start(name)?;
        self.write(body.as_bytes())?;
        self.finish_entry()
    }

    fn close(mut self) -> std::io::Result<()> {
        self.finish_entry()?;
        let start = self.out.stream_position()?;
        let too_big = || {
            std::io::Error::other("the workbook is larger than 4 GiB, more than an XLSX file holds; export CSV instead")
        };
        if start > u64::from(u32::MAX) || self.entries.len() > usize::from(u16::MAX) {
            return Err(too_big());
        }
        for e in &self.entries {
            let w = &mut self.out;
            w.write_all(&0x0201_4b50u32.to_le_bytes())?;
            w.write_all(&20u16.to_le_bytes())?; // made by
            w.write_all(&20u16.to_le_bytes())?; // needed
            w.write_all(&0u16.to_le_bytes())?; // flags
            w.write_all(&0u16.to_le_bytes())?; // stored
            w.write_all(&0u16.to_le_bytes())?;
            w.write_all(&0x21u16.to_le_bytes())?;
            w.write_all(&e.crc.to_le_bytes())?;
            w.write_all(&(e.size as u32).to_le_bytes())?;
            w.write_all(&(e.size as u32).to_le_bytes())?;
            w.write_all(&(e.name.len() as u16).to_le_bytes())?;
            w.write_all(&[0u8; 12])?; // extra, comment, disk, attributes
            w.write_all(&(e.offset as u32).to_le_bytes())?;
            w.write_all(e.name.as_bytes())?;
        }
        let end = self.out.stream_position()?;
        if end > u64::from(u32::MAX) {
            return Err(too_big());
        }
        let n = self.entries.len() as u16;
        let w = &mut self.out;
        w.write_all(&0x0605_4b50u32.to_le_bytes())?;
        w.write_all(&[0u8; 4])?;
        w.write_all(&n.to_le_bytes())?;
        w.write_all(&n.to_le_bytes())?;
        w.write_all(&((end - start) as u32).to_le_bytes())?;
        w.write_all(&(start as u32).to_le_bytes())?;
        w.write_all(&0u16.to_le_bytes())?;
        w.flush()
    }
}

/// One cell of a row.
pub enum Cell<'a> {
    Empty,
    Number(f64),
    Text(&'a str),
}

fn escape(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
}

/// A workbook being written: [`Workbook::sheet`], then rows, then the next sheet.
pub struct Workbook {
    zip: Zip,
    sheets: Vec<String>,
    rows: u64,
    header: Vec<String>,
    table: String,
    /// Which sheet of the current table this is (1, then 2 past Excel's row limit, ...).
    part: usize,
    line: String,
}

impl Workbook {
    pub fn create(path: &Path) -> std::io::Result<Workbook> {
        Ok(Workbook {
            zip: Zip {
                out: BufWriter::new(File::create(path)?),
                entries: Vec::new(),
                open: None,
            },
            sheets: Vec::new(),
            rows: 0,
            header: Vec::new(),
            table: String::new(),
            part: 0,
            line: String::new(),
        })
    }

    fn end_sheet(&mut self) -> std::io::Result<()> {
        if !self.sheets.is_empty() {
            self.zip.write(b"</sheetData></worksheet>")?;
            self.zip.finish_entry()?;
        }
        Ok(())
    }

    fn open_sheet(&mut self) -> std::io::Result<()> {
        self.end_sheet()?;
        self.part += 1;
        // Excel's names: at most 31 characters, unique whatever the case.
        let base: String = self.table.chars().take(24).collect();
        let mut name = if self.part == 1 {
            base.clone()
        } else {
            format!("{base} ({})", self.part)
        };
        let mut n = 1;
        while self.sheets.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            n += 1;
            name = format!("{base} ~{n}");
        }
        self.sheets.push(name);
        self.zip
            .start(&format!("xl/worksheets/sheet{}.xml", self.sheets.len()))?;
        self.zip.write(
            b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>",
        )?;
        self.rows = 0;
        let header = std::mem::take(&mut self.header);
        let cells: Vec<Cell> = header.iter().map(|h| Cell::Text(h)).collect();
        self.write_row(&cells)?;
        self.header = header;
        Ok(())
    }

    /// Starts a worksheet for `table` with a header row.
    pub fn sheet(&mut self, table: &str, header: &[&str]) -> std::io::Result<()> {
        self.table = table.to_string();
        self.part = 0;
        self.header = header.iter().map(|h| h.to_string()).collect();
        self.open_sheet()
    }

    fn write_row(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.push_str("<row>");
        for c in cells {
            match c {
                Cell::Empty => line.push_str("<c/>"),
                Cell::Number(n) => {
                    line.push_str("<c><v>");
                    line.push_str(&n.to_string());
                    line.push_str("</v></c>");
                }
                Cell::Text(t) => {
                    line.push_str("<c t=\"inlineStr\"><is><t xml:space=\"preserve\">");
                    escape(t, line);
                    line.push_str("</t></is></c>");
                }
            }
        }
        line.push_str("</row>");
        let bytes = std::mem::take(line);
        self.zip.write(bytes.as_bytes())?;
        self.line = bytes;
        Ok(())
    }

    /// Adds a data row to the current sheet (continuing on a new sheet past Excel's limit).
    pub fn row(&mut self, cells: &[Cell]) -> std::io::Result<()> {
        if self.rows == MAX_ROWS {
            self.open_sheet()?;
        }
        self.rows += 1;
        self.write_row(cells)
    }

    /// Writes the workbook's other parts and closes the file.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.end_sheet()?;
        let mut types = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>",
        );
        let mut sheets = String::new();
        let mut rels = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
        );
        for (i, name) in self.sheets.iter().enumerate() {
            let i = i + 1;
            types.push_str(&format!("<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>"));
            let mut escaped = String::new();
            escape(name, &mut escaped);
            sheets.push_str(&format!(
                "<sheet name=\"{escaped}\" sheetId=\"{i}\" r:id=\"rId{i}\"/>"
            ));
            rels.push_str(&format!("<Relationship Id=\"rId{i}\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet\" Target=\"worksheets/sheet{i}.xml\"/>"));
        }
        types.push_str("</Types>");
        rels.push_str("</Relationships>");
        let workbook = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>{sheets}</sheets></workbook>"
        );
        let root = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"><Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
        self.zip.entry("[Content_Types].xml", &types)?;
        self.zip.entry("_rels/.rels", root)?;
        self.zip.entry("xl/workbook.xml", &workbook)?;
        self.zip.entry("xl/_rels/workbook.xml.rels", &rels)?;
        self.zip.close()
    }
}
