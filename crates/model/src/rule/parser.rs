//! Parser: tokens to an untyped syntax tree, by hand-written recursive descent.
//!
//! Grammar (precedence low to high: `or`, `and`, `not`, predicates):
//! ```text
//! or      := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | pred
//! pred    := "(" or ")"
//!          | operand ( cmp operand | "not"? "in" "(" operand ("," operand)* ")"
//!                    | "not"? "like" operand | "is" "not"? "null" )?
//! operand := literal | name ("." name)? | ("count"|"sum"|"min"|"max") "(" field? ")"
//! ```
//! The parser accepts any operand where the grammar has one; the checker decides which kinds
//! are allowed (so `x in (y)` gets a typed message rather than a syntax error).

use super::ast::{AggFunc, Expr, FieldRef, Lit, Operand, OperandKind};
use super::lexer::{tokenize, Keyword, Tok, Token};
use super::{RuleError, Span};

/// Nesting deeper than this is refused (it would only come from generated or hostile text).
const MAX_DEPTH: usize = 64;
/// So is a longer chain of `and`/`or`: it bounds the depth of the tree later stages recurse on.
const MAX_CONNECTIVES: usize = 256;

/// Parses rule text into a syntax tree.
pub(crate) fn parse(src: &str) -> Result<Expr, RuleError> {
    let tokens = tokenize(src)?;
    let mut p = Parser {
        src,
        tokens,
        pos: 0,
        connectives: 0,
    };
    if p.peek() == &Tok::Eof {
        return Err(RuleError::new(
            Span::new(0, src.len()),
            "the rule is empty; write a condition such as `stage = \"OPEN\"`",
        ));
    }
    let expr = p.or(0)?;
    match p.peek() {
        Tok::Eof => Ok(expr),
        Tok::RParen => Err(p.error("this `)` has no matching `(`")),
        _ => Err(p.error(format!(
            "expected `and`, `or` or the end of the rule, found {}",
            p.describe()
        ))),
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    connectives: usize,
}

impl Parser<'_> {
    fn current(&self) -> Option<&Token> {
        self.tokens.get(self.pos).or(self.tokens.last())
    }

    fn peek(&self) -> &Tok {
        self.current().map_or(&Tok::Eof, |t| &t.tok)
    }

    fn span(&self) -> Span {
        self.current().map_or(Span::new(0, 0), |t| t.span)
    }

    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.span.end)
    }

    fn bump(&mut self) -> Token {
        let t = self.current().cloned().unwrap_or(Token {
            tok: Tok::Eof,
            span: Span::new(0, 0),
        });
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn eat_kw(&mut self, kw: Keyword) -> bool {
        if self.peek() == &Tok::Kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn error(&self, message: impl Into<String>) -> RuleError {
        RuleError::new(self.span(), message)
    }

    /// The current token for a message: "`)`", "the end of the rule", ...
    fn describe(&self) -> String {
        match self.peek() {
            Tok::Eof => "the end of the rule".to_string(),
            Tok::Str(_) => "a string".to_string(),
            Tok::Int(_) | Tok::Money(_) => "a number".to_string(),
            Tok::Date(_) | Tok::DateTime(_) => "a date".to_string(),
            Tok::Ident(name) => format!("`{name}`"),
            Tok::Kw(_) | Tok::Cmp(_) | Tok::LParen | Tok::RParen | Tok::Comma | Tok::Dot => {
                let s = self.span();
                format!("`{}`", self.src.get(s.start..s.end).unwrap_or("?"))
            }
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<Span, RuleError> {
        if self.peek() == tok {
            Ok(self.bump().span)
        } else {
            Err(self.error(format!("expected {what}, found {}", self.describe())))
        }
    }

    /// Counts an `and`/`or` just consumed.
    fn connective(&mut self) -> Result<(), RuleError> {
        self.connectives += 1;
        if self.connectives > MAX_CONNECTIVES {
            let span = self
                .tokens
                .get(self.pos.saturating_sub(1))
                .map_or(self.span(), |t| t.span);
            return Err(RuleError::new(
                span,
                format!("the rule has more than {MAX_CONNECTIVES} `and`/`or`; split it into several rules"),
            ));
        }
        Ok(())
    }

    fn or(&mut self, depth: usize) -> Result<Expr, RuleError> {
        if depth > MAX_DEPTH {
            return Err(self.error("the rule is nested too deeply"));
        }
        let mut lhs = self.and(depth)?;
        while self.eat_kw(Keyword::Or) {
            self.connective()?;
            let rhs = self.and(depth)?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, RuleError> {
        let mut lhs = self.not(depth)?;
        while self.eat_kw(Keyword::And) {
            self.connective()?;
            let rhs = self.not(depth)?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn not(&mut self, depth: usize) -> Result<Expr, RuleError> {
        if self.eat_kw(Keyword::Not) {
            if depth > MAX_DEPTH {
                return Err(self.error("the rule is nested too deeply"));
            }
            return Ok(Expr::Not(Box::new(self.not(depth + 1)?)));
        }
        self.pred(depth)
    }

    fn pred(&mut self, depth: usize) -> Result<Expr, RuleError> {
        if self.peek() == &Tok::LParen {
            let open = self.bump().span;
            let inner = self.or(depth + 1)?;
            if self.peek() != &Tok::RParen {
                return Err(RuleError::new(
                    self.span(),
                    format!(
                        "expected `)` to close the `(` at offset {}, found {}",
                        open.start,
                        self.describe()
                    ),
                ));
            }
            self.bump();
            return Ok(inner);
        }
        let operand = self.operand()?;
        let start = operand.span.start;
        let negated = self.peek() == &Tok::Kw(Keyword::Not);
        if negated {
            self.pos += 1;
            if !matches!(self.peek(), Tok::Kw(Keyword::In | Keyword::Like)) {
                return Err(self.error(format!(
                    "expected `in` or `like` after `not`, found {}",
                    self.describe()
                )));
            }
        }
        match self.peek().clone() {
            Tok::Cmp(op) => {
                self.bump();
                let rhs = self.operand()?;
                let span = Span::new(start, rhs.span.end);
                Ok(Expr::Cmp {
                    op,
                    lhs: operand,
                    rhs,
                    span,
                })
            }
            Tok::Kw(Keyword::In) => {
                self.bump();
                self.expect(&Tok::LParen, "`(` after `in`")?;
                let mut list = Vec::new();
                if self.peek() == &Tok::RParen {
                    return Err(self.error("an `in` list needs at least one value"));
                }
                loop {
                    list.push(self.operand()?);
                    if self.peek() == &Tok::Comma {
                        self.bump();
                        continue;
                    }
                    let end = self.expect(&Tok::RParen, "`,` or `)` in the `in` list")?;
                    return Ok(Expr::In {
                        operand,
                        list,
                        negated,
                        span: Span::new(start, end.end),
                    });
                }
            }
            Tok::Kw(Keyword::Like) => {
                self.bump();
                let pattern = self.operand()?;
                let span = Span::new(start, pattern.span.end);
                Ok(Expr::Like {
                    operand,
                    pattern,
                    negated,
                    span,
                })
            }
            Tok::Kw(Keyword::Is) => {
                self.bump();
                let negated = self.eat_kw(Keyword::Not);
                self.expect(&Tok::Kw(Keyword::Null), "`null` after `is`")?;
                Ok(Expr::IsNull {
                    operand,
                    negated,
                    span: Span::new(start, self.prev_end()),
                })
            }
            _ => Ok(Expr::Bare(operand)),
        }
    }

    fn operand(&mut self) -> Result<Operand, RuleError> {
        let span = self.span();
        let lit = |l| {
            Ok(Operand {
                kind: OperandKind::Lit(l),
                span,
            })
        };
        match self.peek().clone() {
            Tok::Str(s) => {
                self.bump();
                lit(Lit::Str(s))
            }
            Tok::Int(i) => {
                self.bump();
                lit(Lit::Int(i))
            }
            Tok::Money(m) => {
                self.bump();
                lit(Lit::Money(m))
            }
            Tok::Date(d) => {
                self.bump();
                lit(Lit::Date(d))
            }
            Tok::DateTime(d) => {
                self.bump();
                lit(Lit::DateTime(d))
            }
            Tok::Kw(Keyword::True) => {
                self.bump();
                lit(Lit::Bool(true))
            }
            Tok::Kw(Keyword::False) => {
                self.bump();
                lit(Lit::Bool(false))
            }
            Tok::Kw(Keyword::Null) => {
                self.bump();
                lit(Lit::Null)
            }
            Tok::Ident(name) => {
                self.bump();
                if self.peek() == &Tok::LParen {
                    return self.aggregate(&name, span);
                }
                let field = self.field_rest(name, span)?;
                Ok(Operand {
                    span: field.span,
                    kind: OperandKind::Field(field),
                })
            }
            Tok::Kw(kw) => Err(self.error(format!(
                "expected a field or a value, found the keyword `{}`",
                keyword_name(kw)
            ))),
            _ => Err(self.error(format!(
                "expected a field or a value, found {}",
                self.describe()
            ))),
        }
    }

    /// After a name: an optional `.name` making it qualified.
    fn field_rest(&mut self, first: String, span: Span) -> Result<FieldRef, RuleError> {
        if self.peek() != &Tok::Dot {
            return Ok(FieldRef {
                qualifier: None,
                name: first,
                span,
            });
        }
        self.bump();
        match self.peek().clone() {
            Tok::Ident(name) => {
                let end = self.bump().span.end;
                Ok(FieldRef {
                    qualifier: Some(first),
                    name,
                    span: Span::new(span.start, end),
                })
            }
            _ => Err(self.error(format!(
                "expected a field name after `{first}.`, found {}",
                self.describe()
            ))),
        }
    }

    /// `name(` has been seen (the `(` not consumed).
    fn aggregate(&mut self, name: &str, name_span: Span) -> Result<Operand, RuleError> {
        let Some(func) = AggFunc::parse(name) else {
            return Err(RuleError::new(
                name_span,
                format!("unknown function `{name}`; functions are count(), sum(field), min(field), max(field)"),
            ));
        };
        self.bump();
        let arg = match self.peek().clone() {
            Tok::RParen => None,
            Tok::Ident(first) => {
                let s = self.bump().span;
                Some(self.field_rest(first, s)?)
            }
            _ => {
                return Err(self.error(format!(
                    "expected a field name inside `{}(...)`, found {}",
                    func.name(),
                    self.describe()
                )))
            }
        };
        let end = self.expect(&Tok::RParen, "`)`")?.end;
        let span = Span::new(name_span.start, end);
        match (func, &arg) {
            (AggFunc::Count, Some(f)) => Err(RuleError::new(
                f.span,
                "`count()` counts rows and takes no field: write `count()`",
            )),
            (AggFunc::Sum | AggFunc::Min | AggFunc::Max, None) => Err(RuleError::new(
                span,
                format!(
                    "`{}` needs a field, e.g. `{}(amount)`",
                    func.name(),
                    func.name()
                ),
            )),
            _ => Ok(Operand {
                kind: OperandKind::Agg { func, arg },
                span,
            }),
        }
    }
}

fn keyword_name(kw: Keyword) -> &'static str {
    match kw {
        Keyword::And => "and",
        Keyword::Or => "or",
        Keyword::Not => "not",
        Keyword::In => "in",
        Keyword::Like => "like",
        Keyword::Is => "is",
        Keyword::Null => "null",
        Keyword::True => "true",
        Keyword::False => "false",
    }
}

#[cfg(test)]
mod tests;
