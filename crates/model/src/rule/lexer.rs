//! Lexer: rule text to tokens with byte spans.
//!
//! Literals are decoded here (string escapes, money to minor units, dates), so the parser and
//! checker never look at raw text again. Keywords are recognised case-insensitively; aggregate
//! names are ordinary identifiers (the parser spots them by the `(` that follows).

use super::{RuleError, Span};
use crate::value::{Date, DateTime};

/// Reserved words (matched case-insensitively); none of them can be a field name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
    In,
    Like,
    Is,
    Null,
    True,
    False,
}

impl Keyword {
    fn parse(word: &str) -> Option<Keyword> {
        const ALL: [(&str, Keyword); 9] = [
            ("and", Keyword::And),
            ("or", Keyword::Or),
            ("not", Keyword::Not),
            ("in", Keyword::In),
            ("like", Keyword::Like),
            ("is", Keyword::Is),
            ("null", Keyword::Null),
            ("true", Keyword::True),
            ("false", Keyword::False),
        ];
        ALL.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(word))
            .map(|(_, k)| *k)
    }
}

/// A comparison operator (`<>` is read as `!=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Str(String),
    Int(i64),
    /// Minor units.
    Money(i64),
    Date(Date),
    DateTime(DateTime),
    Ident(String),
    Kw(Keyword),
    Cmp(CmpOp),
    LParen,
    RParen,
    Comma,
    Dot,
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

fn err(start: usize, end: usize, message: impl Into<String>) -> RuleError {
    RuleError::new(Span::new(start, end), message)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Splits `src` into tokens; the last one is always `Tok::Eof` (spanning the end of the text).
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, RuleError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let single = |tok| Token {
            tok,
            span: Span::new(start, start + 1),
        };
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => out.push(single(Tok::LParen)),
            b')' => out.push(single(Tok::RParen)),
            b',' => out.push(single(Tok::Comma)),
            b'.' if b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && (i == 0 || !is_word_byte(b[i - 1])) =>
            {
                return Err(err(i, i + 1, "write a leading zero: `0.5`, not `.5`"));
            }
            b'.' => out.push(single(Tok::Dot)),
            b'"' | b'\'' => {
                let (s, end) = string(src, i)?;
                out.push(Token {
                    tok: Tok::Str(s),
                    span: Span::new(start, end),
                });
                i = end;
                continue;
            }
            b'=' | b'!' | b'<' | b'>' | b'&' | b'|' => {
                let (op, len) = operator(b, i)?;
                out.push(Token {
                    tok: Tok::Cmp(op),
                    span: Span::new(start, start + len),
                });
                i += len;
                continue;
            }
            b'-' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (tok, end) = number(src, i)?;
                out.push(Token {
                    tok,
                    span: Span::new(start, end),
                });
                i = end;
                continue;
            }
            b'0'..=b'9' => {
                let (tok, end) = number(src, i)?;
                out.push(Token {
                    tok,
                    span: Span::new(start, end),
                });
                i = end;
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                let word = &src[start..i];
                let tok = match Keyword::parse(word) {
                    Some(k) => Tok::Kw(k),
                    None => Tok::Ident(word.to_string()),
                };
                out.push(Token {
                    tok,
                    span: Span::new(start, i),
                });
                continue;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                let hint = if c == b'-' {
                    " (there is no arithmetic; a minus sign must be followed by a digit)"
                } else {
                    ""
                };
                return Err(err(
                    i,
                    i + ch.len_utf8(),
                    format!("unexpected character `{ch}`{hint}"),
                ));
            }
        }
        i += 1;
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(src.len(), src.len()),
    });
    Ok(out)
}

/// Reads a comparison operator at `i`, with hints for operators from other languages.
fn operator(b: &[u8], i: usize) -> Result<(CmpOp, usize), RuleError> {
    let next = b.get(i + 1).copied();
    Ok(match (b[i], next) {
        (b'=', Some(b'=')) => return Err(err(i, i + 2, "use `=` to compare, not `==`")),
        (b'=', _) => (CmpOp::Eq, 1),
        (b'!', Some(b'=')) => (CmpOp::Ne, 2),
        (b'!', _) => return Err(err(i, i + 1, "use `not`, not `!`")),
        (b'<', Some(b'>')) => (CmpOp::Ne, 2),
        (b'<', Some(b'=')) => (CmpOp::Le, 2),
        (b'<', _) => (CmpOp::Lt, 1),
        (b'>', Some(b'=')) => (CmpOp::Ge, 2),
        (b'>', _) => (CmpOp::Gt, 1),
        (b'&', _) => {
            let len = if next == Some(b'&') { 2 } else { 1 };
            return Err(err(i, i + len, "use `and`, not `&&`"));
        }
        _ => {
            let len = if next == Some(b'|') { 2 } else { 1 };
            return Err(err(i, i + len, "use `or`, not `||`"));
        }
    })
}

/// Reads a quoted string starting at `start`; returns its value and the end offset.
fn string(src: &str, start: usize) -> Result<(String, usize), RuleError> {
    let quote = src.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, ch)) = chars.next() {
        let at = start + 1 + off;
        match ch {
            c if c == quote => return Ok((out, at + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, c @ ('"' | '\'' | '\\'))) => out.push(c),
                Some((_, c)) => {
                    return Err(err(
                        at,
                        at + 1 + c.len_utf8(),
                        format!("unknown escape `\\{c}`; use \\\" \\' \\\\ or \\n"),
                    ))
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(err(
        start,
        src.len(),
        format!("unterminated string: add the closing {quote}"),
    ))
}

fn count_digits(b: &[u8], from: usize) -> usize {
    b[from.min(b.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// Reads a number, money amount, date or date-time starting at `start` (a digit or a `-`).
fn number(src: &str, start: usize) -> Result<(Tok, usize), RuleError> {
    let b = src.as_bytes();
    let negative = b[start] == b'-';
    let first = start + usize::from(negative);
    let int_len = count_digits(b, first);
    let mut end = first + int_len;
    let tok = if int_len == 4 && b.get(end) == Some(&b'-') {
        // A date: YYYY-MM-DD, optionally followed by THH:MM[:SS].
        let shape_ok = first + 10 <= b.len()
            && count_digits(b, first + 5) >= 2
            && b[first + 7] == b'-'
            && count_digits(b, first + 8) >= 2;
        end = if shape_ok { first + 10 } else { first + 5 };
        let mut time = false;
        if shape_ok && b.get(end) == Some(&b'T') && count_digits(b, end + 1) >= 2 {
            time = true;
            end += 3;
            while b.get(end) == Some(&b':') && count_digits(b, end + 1) >= 2 {
                end += 3;
            }
        }
        end = word_end(b, end.min(b.len()));
        let text = &src[first..end];
        if negative {
            return Err(err(
                start,
                end,
                format!("a date cannot be negative: `{}`", &src[start..end]),
            ));
        }
        let parsed = match (shape_ok, time) {
            (false, _) => None,
            (true, false) => Date::parse(text).map(Tok::Date),
            (true, true) => DateTime::parse(text).map(Tok::DateTime),
        };
        parsed.ok_or_else(|| {
            err(
                start,
                end,
                format!("invalid date `{text}`: write dates as 2024-01-31 and date-times as 2024-01-31T10:00:00"),
            )
        })?
    } else if b.get(end) == Some(&b'.') && count_digits(b, end + 1) > 0 {
        let frac_len = count_digits(b, end + 1);
        let frac_start = end + 1;
        end = word_end(b, frac_start + frac_len);
        let text = &src[start..end];
        if frac_len > 2 || end != frac_start + frac_len {
            return Err(err(
                start,
                end,
                format!("invalid money amount `{text}`: use at most 2 decimals, e.g. 12.50"),
            ));
        }
        let major: i64 = src[first..first + int_len]
            .parse()
            .map_err(|_| too_large(start, end, text))?;
        let mut minor: i64 = src[frac_start..end]
            .parse()
            .map_err(|_| too_large(start, end, text))?;
        if frac_len == 1 {
            minor *= 10;
        }
        let cents = major
            .checked_mul(100)
            .and_then(|m| m.checked_add(minor))
            .ok_or_else(|| too_large(start, end, text))?;
        Tok::Money(if negative { -cents } else { cents })
    } else {
        end = word_end(b, end);
        let text = &src[start..end];
        if end != first + int_len {
            return Err(err(start, end, format!("invalid number `{text}`")));
        }
        Tok::Int(text.parse().map_err(|_| too_large(start, end, text))?)
    };
    Ok((tok, end))
}

/// Extends `end` over letters, digits, `_`, `.`, `:` and `-` glued to a literal, so a malformed
/// literal is reported whole.
fn word_end(b: &[u8], mut end: usize) -> usize {
    while end < b.len() && (is_word_byte(b[end]) || matches!(b[end], b'.' | b':' | b'-')) {
        end += 1;
    }
    end
}

fn too_large(start: usize, end: usize, text: &str) -> RuleError {
    err(start, end, format!("number `{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        tokenize(src)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn lex_err(src: &str) -> RuleError {
        tokenize(src).expect_err("should fail")
    }

    #[test]
    fn numbers_money_and_negatives() {
        assert_eq!(
            toks("12 -5 12.50 -3.5 0.05 -0.5"),
            vec![
                Tok::Int(12),
                Tok::Int(-5),
                Tok::Money(1250),
                Tok::Money(-350),
                Tok::Money(5),
                Tok::Money(-50),
                Tok::Eof
            ]
        );
        assert!(lex_err("1.234").message.contains("at most 2 decimals"));
        assert!(lex_err("12abc").message.contains("invalid number `12abc`"));
        assert!(lex_err("99999999999999999999")
            .message
            .contains("too large"));
        assert!(lex_err("92233720368547758.08")
            .message
            .contains("too large"));
        assert!(lex_err(".5").message.contains("0.5"));
        assert_eq!(
            toks("92233720368547758.07"),
            vec![Tok::Money(i64::MAX), Tok::Eof]
        );
        assert_eq!(
            toks("-9223372036854775808"),
            vec![Tok::Int(i64::MIN), Tok::Eof]
        );
        assert!(lex_err("a - b").message.contains("no arithmetic"));
    }

    #[test]
    fn dates_and_datetimes() {
        let d = Date::parse("2024-01-31").expect("date");
        assert_eq!(toks("2024-01-31"), vec![Tok::Date(d), Tok::Eof]);
        let t = DateTime::parse("2024-01-31 10:00:00").expect("dt");
        assert_eq!(
            toks("2024-01-31T10:00:00"),
            vec![Tok::DateTime(t), Tok::Eof]
        );
        assert_eq!(
            toks("2024-01-31T10:00)"),
            vec![Tok::DateTime(t), Tok::RParen, Tok::Eof]
        );
        let e = lex_err("x < 2024-02-30");
        assert_eq!(e.span, Span::new(4, 14));
        assert!(e.message.contains("invalid date `2024-02-30`"));
        assert!(lex_err("2024-1-01").message.contains("invalid date"));
        assert!(lex_err("2024-01-31T25:00").message.contains("invalid date"));
        assert!(lex_err("-2024-01-31").message.contains("negative"));
        assert!(lex_err("2024-01-3").message.contains("invalid date"));
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(r#""a\"b" 'it\'s' "\\n\n" "é%_""#),
            vec![
                Tok::Str("a\"b".into()),
                Tok::Str("it's".into()),
                Tok::Str("\\n\n".into()),
                Tok::Str("é%_".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#"'say "hi"'"#),
            vec![Tok::Str("say \"hi\"".into()), Tok::Eof]
        );
        let e = lex_err(r#"x = "abc"#);
        assert_eq!(e.span, Span::new(4, 8));
        assert!(e.message.contains("unterminated"));
        let e = lex_err(r#""a\tb""#);
        assert_eq!(e.span, Span::new(2, 4));
        assert!(lex_err(r#""abc\"#).message.contains("unterminated"));
    }

    #[test]
    fn operators_keywords_and_spans() {
        assert_eq!(
            toks("a<>b != c <= >= < > ="),
            vec![
                Tok::Ident("a".into()),
                Tok::Cmp(CmpOp::Ne),
                Tok::Ident("b".into()),
                Tok::Cmp(CmpOp::Ne),
                Tok::Ident("c".into()),
                Tok::Cmp(CmpOp::Le),
                Tok::Cmp(CmpOp::Ge),
                Tok::Cmp(CmpOp::Lt),
                Tok::Cmp(CmpOp::Gt),
                Tok::Cmp(CmpOp::Eq),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("NOT Like iS nuLL And OR In TRUE false p.x_1"),
            vec![
                Tok::Kw(Keyword::Not),
                Tok::Kw(Keyword::Like),
                Tok::Kw(Keyword::Is),
                Tok::Kw(Keyword::Null),
                Tok::Kw(Keyword::And),
                Tok::Kw(Keyword::Or),
                Tok::Kw(Keyword::In),
                Tok::Kw(Keyword::True),
                Tok::Kw(Keyword::False),
                Tok::Ident("p".into()),
                Tok::Dot,
                Tok::Ident("x_1".into()),
                Tok::Eof
            ]
        );
        let t = tokenize("  ab = 'é'").expect("lexes");
        assert_eq!(t[0].span, Span::new(2, 4));
        assert_eq!(t[2].span, Span::new(7, 11));
        assert_eq!(t[3].span, Span::new(11, 11));
        assert!(lex_err("a == 1").message.contains("not `==`"));
        assert!(lex_err("a && b").message.contains("`and`"));
        assert!(lex_err("a || b").message.contains("`or`"));
        assert!(lex_err("!a").message.contains("`not`"));
        let e = lex_err("a = 1 # c");
        assert_eq!(e.span, Span::new(6, 7));
        let e = lex_err("prénom = 1");
        assert_eq!(e.span, Span::new(2, 4));
        assert!(e.message.contains("`é`"));
    }
}
