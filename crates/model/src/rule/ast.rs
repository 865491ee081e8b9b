//! Syntax tree: the parser's output, untyped and as written (spans into the rule text).

use super::lexer::CmpOp;
use super::Span;
use crate::value::{Date, DateTime};

/// A field name as written, optionally qualified (`payment.paid_on`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRef {
    pub qualifier: Option<String>,
    pub name: String,
    pub span: Span,
}

impl FieldRef {
    /// The name as written: `name` or `qualifier.name`.
    pub(crate) fn display(&self) -> String {
        match &self.qualifier {
            Some(q) => format!("{q}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AggFunc {
    Count,
    Sum,
    Min,
    Max,
}

impl AggFunc {
    pub(crate) fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
        }
    }

    pub(crate) fn parse(word: &str) -> Option<AggFunc> {
        [AggFunc::Count, AggFunc::Sum, AggFunc::Min, AggFunc::Max]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(word))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lit {
    Str(String),
    Int(i64),
    Money(i64),
    Date(Date),
    DateTime(DateTime),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OperandKind {
    Field(FieldRef),
    Agg {
        func: AggFunc,
        arg: Option<FieldRef>,
    },
    Lit(Lit),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Operand {
    pub kind: OperandKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        op: CmpOp,
        lhs: Operand,
        rhs: Operand,
        span: Span,
    },
    In {
        operand: Operand,
        list: Vec<Operand>,
        negated: bool,
        span: Span,
    },
    Like {
        operand: Operand,
        pattern: Operand,
        negated: bool,
        span: Span,
    },
    IsNull {
        operand: Operand,
        negated: bool,
        span: Span,
    },
    /// An operand standing alone as a condition (only a bool field passes the checker).
    Bare(Operand),
}
