//! The rule language: conditions over one record (`stage not in ("CLOSED", "CANCELLED")`) and
//! over a group of records (`sum(amount) != 0`). See docs/rule-language-spec.md.
//!
//! The pipeline is `lexer` (text to tokens) → `parser` (tokens to an `ast`) → `check` (types
//! against a [`Scope`], literals coerced, giving a `typed` tree) → a [`Rule`], which `sql`
//! compiles to a parameterised SQL condition and `eval` evaluates in memory, both with SQL's
//! three-valued logic. This module is the facade: the public types and [`compile`].

mod ast;
mod check;
mod eval;
mod lexer;
mod parser;
mod sql;
pub mod suggest;
mod typed;
mod words;

use std::fmt;
use std::ops::Range;

pub use crate::value::{FieldType, Value};

/// A byte range into the rule text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

impl From<Span> for Range<usize> {
    fn from(s: Span) -> Range<usize> {
        s.range()
    }
}

/// Why a rule does not compile: a message a user can act on, and where in the rule text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    pub span: Span,
    pub message: String,
}

impl RuleError {
    pub fn new(span: Span, message: impl Into<String>) -> RuleError {
        RuleError {
            span,
            message: message.into(),
        }
    }
}

/// The fields a rule may read, supplied by the model.
pub trait Scope {
    /// The type of field `name` of the record `qualifier` names (`None`: the rule's own record).
    fn field(&self, qualifier: Option<&str>, name: &str) -> Option<FieldType>;
    /// All field names of that record, for "unknown field" messages (empty: no such record).
    fn field_names(&self, qualifier: Option<&str>) -> Vec<String>;
    /// What that record is called in messages, e.g. `order`.
    fn kind_name(&self, qualifier: Option<&str>) -> String;
}

/// Whether a rule is a condition on one record or on a group of records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// A condition on one record (`when`): no aggregates.
    Row,
    /// A condition on a group (`having`): every field inside `count()`/`sum`/`min`/`max`.
    Aggregate,
}

/// A parsed and type-checked rule, literals coerced to the types of the fields they meet.
#[derive(Debug, Clone)]
pub struct Rule {
    source: String,
    kind: RuleKind,
    cond: typed::Cond,
}

/// Parses and type-checks `src` against `scope`.
pub fn compile(src: &str, scope: &dyn Scope, kind: RuleKind) -> Result<Rule, RuleError> {
    let expr = parser::parse(src)?;
    let cond = check::check(src, &expr, scope, kind)?;
    Ok(Rule {
        source: src.to_string(),
        kind,
        cond,
    })
}

/// Reads field `name` of record `qualifier` (`None`: the record under test).
pub type Getter<'a> = &'a dyn Fn(Option<&str>, &str) -> Value;

impl Rule {
    /// The rule text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The rule in words, for people who do not write rules: `status = 'deactivated'` →
    /// "status is deactivated".
    pub fn words(&self) -> String {
        words::cond(&self.cond)
    }

    pub fn kind(&self) -> RuleKind {
        self.kind
    }

    /// Fields it reads: (qualifier, name), each once, in order of first appearance.
    pub fn fields(&self) -> Vec<(Option<String>, String)> {
        let mut out = Vec::new();
        self.cond.fields(&mut out);
        out
    }

    /// Row rule: SQL three-valued result for one record (`None` = unknown). `get(qualifier,
    /// name)` returns the value. An aggregate rule evaluated this way sees a group of one.
    pub fn eval(&self, get: &dyn Fn(Option<&str>, &str) -> Value) -> Option<bool> {
        match self.kind {
            RuleKind::Row => eval::row(&self.cond, get),
            RuleKind::Aggregate => eval::group(&self.cond, &[get]),
        }
    }

    /// Aggregate rule over a group (possibly empty) of records. A row rule has no meaning
    /// over a group: the result is `None` (unknown).
    pub fn eval_group(&self, rows: &[Getter<'_>]) -> Option<bool> {
        match self.kind {
            RuleKind::Row => None,
            RuleKind::Aggregate => eval::group(&self.cond, rows),
        }
    }

    /// SQL condition (WHERE for row rules, HAVING for aggregate rules). Literals become
    /// placeholders appended to `params` (`?N` for SQLite, `$N::type` for PostgreSQL, where N
    /// is the 1-based position in `params` after pushing); never pasted into the SQL text.
    pub fn to_sql(&self, ctx: &SqlContext, params: &mut Vec<Value>) -> String {
        sql::condition(&self.cond, ctx, params)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The SQL flavour to compile to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// What the SQL compiler needs from the store.
pub struct SqlContext<'a> {
    pub dialect: Dialect,
    /// SQL for a column, e.g. `t."stage"` (built by the store from validated identifiers).
    pub column: &'a dyn Fn(Option<&str>, &str) -> String,
    /// SQL that `count()` counts, e.g. `t."id"` (so a LEFT JOIN's empty group counts 0).
    pub count_expr: String,
}
