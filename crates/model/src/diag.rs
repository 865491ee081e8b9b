//! Diagnostics: an error at a place in a source file, rendered with the line and a caret.

use std::fmt;
use std::ops::Range;

use serde::Serialize;

/// One error at a place in a file: what is wrong, and where (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The source line and a caret under the span, ready to print.
    #[serde(skip)]
    pub snippet: String,
}

impl Diagnostic {
    /// A diagnostic for the byte range `span` of `source`.
    pub fn at(file: &str, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let start = floor_boundary(source, span.start.min(source.len()));
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[start..]
            .find('\n')
            .map_or(source.len(), |i| start + i);
        let line = source[..start].matches('\n').count() + 1;
        let column = source[line_start..start].chars().count() + 1;
        let text = &source[line_start..line_end];
        let end = floor_boundary(source, span.end.clamp(start, line_end));
        let width = source[start..end].chars().count().max(1);
        let gutter = line.to_string().len();
        let snippet = format!(
            "{:gutter$} |\n{line} | {text}\n{:gutter$} | {}{}",
            "",
            "",
            " ".repeat(column - 1),
            "^".repeat(width),
        );
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            message: message.into(),
            snippet,
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}\n{}",
            self.file, self.line, self.column, self.message, self.snippet
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column_with_a_caret() {
        let src = "a = 1\nwhen = 'stauts = 1'\n";
        let start = src.find("stauts").expect("present");
        let d = Diagnostic::at("m.toml", src, start..start + 6, "unknown field");
        assert_eq!((d.line, d.column), (2, 9));
        assert!(d.snippet.ends_with("        ^^^^^^"), "{}", d.snippet);
        assert!(d.to_string().starts_with("m.toml:2:9: unknown field"));
    }
}
