//! Typed values: the field types of the model file and the values stored in them.
//!
//! Money is integer minor units (cents), never a float. Dates are days since 1970-01-01,
//! date-times seconds since 1970-01-01 00:00:00 (no time zone: a business's local time).

use std::cmp::Ordering;
use std::fmt;

use serde::{Serialize, Serializer};

/// The type of a field in the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    Int,
    Money,
    Date,
    DateTime,
    Bool,
}

impl FieldType {
    pub const ALL: [FieldType; 6] = [
        FieldType::Text,
        FieldType::Int,
        FieldType::Money,
        FieldType::Date,
        FieldType::DateTime,
        FieldType::Bool,
    ];

    /// The name used in model files (`text`, `int`, `money`, `date`, `datetime`, `bool`).
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Int => "int",
            FieldType::Money => "money",
            FieldType::Date => "date",
            FieldType::DateTime => "datetime",
            FieldType::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Whether values of this type can be ordered with `<` and friends.
    pub fn is_ordered(self) -> bool {
        !matches!(self, FieldType::Bool)
    }

    /// Whether `sum()` applies.
    pub fn is_numeric(self) -> bool {
        matches!(self, FieldType::Int | FieldType::Money)
    }
}

impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A calendar date, stored as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

/// A date and time to the second, stored as seconds since 1970-01-01 00:00:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(i64);

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// The number of days in month `m` of year `y`.
pub(crate) fn month_days(y: i64, m: u32) -> u32 {
    days_in_month(y, m)
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

impl Date {
    /// Parses `YYYY-MM-DD` (years 0001 to 9999).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = digits(&b[0..4])?;
        let m = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        if y == 0 || !(1..=12).contains(&m) || d == 0 || d > days_in_month(i64::from(y), m) {
            return None;
        }
        Some(Date(days_from_civil(i64::from(y), m, d) as i32))
    }

    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    /// Days since 1970-01-01.
    pub fn days(self) -> i32 {
        self.0
    }

    /// Year, month and day.
    pub fn civil(self) -> (i64, u32, u32) {
        civil_from_days(i64::from(self.0))
    }

    /// The date of a valid year, month and day.
    pub fn from_civil(y: i64, m: u32, d: u32) -> Date {
        Date(days_from_civil(y, m, d) as i32)
    }

    /// Midnight at the start of this date.
    pub fn at_midnight(self) -> DateTime {
        DateTime(i64::from(self.0) * 86_400)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = civil_from_days(i64::from(self.0));
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl DateTime {
    /// Parses `YYYY-MM-DD HH:MM:SS` (a `T` between date and time is accepted too; seconds
    /// may be left out).
    pub fn parse(s: &str) -> Option<DateTime> {
        if s.len() < 16 || !s.is_char_boundary(10) {
            return None;
        }
        let date = Date::parse(&s[..10])?;
        let b = s.as_bytes();
        if b[10] != b' ' && b[10] != b'T' {
            return None;
        }
        let t = &b[11..];
        let (h, mi, sec) = match t.len() {
            5 if t[2] == b':' => (digits(&t[0..2])?, digits(&t[3..5])?, 0),
            8 if t[2] == b':' && t[5] == b':' => {
                (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?)
            }
            _ => return None,
        };
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        Some(DateTime(
            date.at_midnight().0 + i64::from(h * 3600 + mi * 60 + sec),
        ))
    }

    pub fn from_seconds(secs: i64) -> DateTime {
        DateTime(secs)
    }

    /// Seconds since 1970-01-01 00:00:00.
    pub fn seconds(self) -> i64 {
        self.0
    }

    pub fn date(self) -> Date {
        Date(self.0.div_euclid(86_400) as i32)
    }

    /// The current time (UTC).
    pub fn now() -> DateTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        DateTime(secs)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.rem_euclid(86_400);
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            self.date(),
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        )
    }
}

/// Formats minor units as a decimal amount: `-1250` is `-12.50`.
pub fn format_money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A value of a field, or null.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    Null,
    Text(String),
    Int(i64),
    /// Minor units (cents).
    Money(i64),
    Date(Date),
    DateTime(DateTime),
    Bool(bool),
}

/// Why a cell could not be read as its field's type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {ty}: {expected}")]
pub struct CellError {
    pub text: String,
    pub ty: FieldType,
    pub expected: &'static str,
}

impl Value {
    /// Reads a cell as written in CSV files and on the command line: money in integer cents,
    /// dates `YYYY-MM-DD`, date-times `YYYY-MM-DD HH:MM:SS`, flags `0|1` (or `true|false`).
    /// The empty string is null.
    pub fn parse_cell(ty: FieldType, text: &str) -> Result<Value, CellError> {
        if text.is_empty() {
            return Ok(Value::Null);
        }
        let err = |expected| CellError {
            text: text.to_string(),
            ty,
            expected,
        };
        Ok(match ty {
            FieldType::Text => Value::Text(text.to_string()),
            FieldType::Int => Value::Int(text.parse().map_err(|_| err("expected an integer"))?),
            FieldType::Money => Value::Money(
                text.parse()
                    .map_err(|_| err("expected integer minor units (cents), e.g. 1250"))?,
            ),
            FieldType::Date => Value::Date(Date::parse(text).ok_or(err("expected YYYY-MM-DD"))?),
            FieldType::DateTime => {
                Value::DateTime(DateTime::parse(text).ok_or(err("expected YYYY-MM-DD HH:MM:SS"))?)
            }
            FieldType::Bool => match text {
                "1" | "true" => Value::Bool(true),
                "0" | "false" => Value::Bool(false),
                _ => return Err(err("expected 0 or 1")),
            },
        })
    }

    /// The type of a non-null value.
    pub fn field_type(&self) -> Option<FieldType> {
        Some(match self {
            Value::Null => return None,
            Value::Text(_) => FieldType::Text,
            Value::Int(_) => FieldType::Int,
            Value::Money(_) => FieldType::Money,
            Value::Date(_) => FieldType::Date,
            Value::DateTime(_) => FieldType::DateTime,
            Value::Bool(_) => FieldType::Bool,
        })
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Money(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The cell text `parse_cell` reads back (empty for null).
    pub fn to_cell(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Text(s) => s.clone(),
            Value::Int(i) | Value::Money(i) => i.to_string(),
            Value::Date(d) => d.to_string(),
            Value::DateTime(d) => d.to_string(),
            Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        }
    }

    /// SQL-style comparison of two non-null values of the same type (`None` when either is
    /// null or the types differ). Text compares by code point, as `COLLATE "C"` does.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Text(a), Text(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) | (Money(a), Money(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (DateTime(a), DateTime(b)) => Some(a.cmp(b)),
            (Date(a), DateTime(b)) => Some(a.at_midnight().cmp(b)),
            (DateTime(a), Date(b)) => Some(a.cmp(&b.at_midnight())),
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            _ => None,
        }
    }
}

impl Serialize for Value {
    /// JSON: null, strings, integers (money in minor units), dates as strings, bools.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Text(t) => s.serialize_str(t),
            Value::Int(i) | Value::Money(i) => s.serialize_i64(*i),
            Value::Date(d) => s.collect_str(d),
            Value::DateTime(d) => s.collect_str(d),
            Value::Bool(b) => s.serialize_bool(*b),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Money(m) => f.write_str(&format_money(*m)),
            Value::Text(t) => write!(f, "{t:?}"),
            other => f.write_str(&other.to_cell()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        for s in [
            "1970-01-01",
            "2024-02-29",
            "1999-12-31",
            "0001-01-01",
            "9999-12-31",
        ] {
            assert_eq!(Date::parse(s).map(|d| d.to_string()).as_deref(), Some(s));
        }
        assert_eq!(Date::parse("1970-01-02").map(Date::days), Some(1));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-32",
            "abcd-ef-gh",
            "",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn datetimes_round_trip() {
        let t = DateTime::parse("2024-02-01 13:05:09").expect("valid");
        assert_eq!(t.to_string(), "2024-02-01 13:05:09");
        assert_eq!(
            DateTime::parse("2024-02-01T00:00").map(|t| t.to_string()),
            Some("2024-02-01 00:00:00".into())
        );
        assert_eq!(DateTime::parse("2024-02-01 24:00:00"), None);
        assert_eq!(
            DateTime::parse("1969-12-31 23:59:59").map(|t| t.seconds()),
            Some(-1)
        );
    }

    #[test]
    fn cells_parse_by_type() {
        assert_eq!(
            Value::parse_cell(FieldType::Money, "-1250"),
            Ok(Value::Money(-1250))
        );
        assert_eq!(
            Value::parse_cell(FieldType::Bool, "1"),
            Ok(Value::Bool(true))
        );
        assert_eq!(Value::parse_cell(FieldType::Int, ""), Ok(Value::Null));
        assert!(Value::parse_cell(FieldType::Int, "12a").is_err());
        assert!(Value::parse_cell(FieldType::Money, "12.50").is_err());
        assert_eq!(format_money(-1250), "-12.50");
        assert_eq!(format_money(5), "0.05");
    }
}
