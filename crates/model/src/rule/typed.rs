//! Typed tree: the checker's output, which the SQL compiler and the evaluator consume.
//!
//! Every field is resolved to a [`Column`] with its type, every literal is a [`Value`] of the
//! type it meets, and both sides of a comparison have the same type.

use super::ast::AggFunc;
use super::lexer::CmpOp;
use crate::value::{FieldType, Value};

/// A column a rule reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub qualifier: Option<String>,
    pub name: String,
    pub ty: FieldType,
}

/// A typed value-producing expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Term {
    Field(Column),
    /// `count()` has no column; `sum`/`min`/`max` always have one.
    Agg {
        func: AggFunc,
        arg: Option<Column>,
    },
    /// A non-null literal, already of the type it is compared with.
    Lit(Value),
    /// A date term read as a date-time at 00:00:00.
    Promote(Box<Term>),
}

impl Term {
    pub(crate) fn ty(&self) -> FieldType {
        match self {
            Term::Field(c) => c.ty,
            Term::Agg {
                func: AggFunc::Count,
                ..
            } => FieldType::Int,
            Term::Agg { arg, .. } => arg.as_ref().map_or(FieldType::Int, |c| c.ty),
            Term::Lit(v) => v.field_type().unwrap_or(FieldType::Text),
            Term::Promote(_) => FieldType::DateTime,
        }
    }
}

/// A typed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    /// Both sides have the same type.
    Cmp {
        op: CmpOp,
        lhs: Term,
        rhs: Term,
    },
    /// Every list value has the term's type.
    In {
        term: Term,
        list: Vec<Value>,
        negated: bool,
    },
    /// `term` is text.
    Like {
        term: Term,
        pattern: String,
        negated: bool,
    },
    IsNull {
        term: Term,
        negated: bool,
    },
    /// A bool term standing alone.
    IsTrue(Term),
}

impl Cond {
    /// Appends the columns read, each once.
    pub(crate) fn fields(&self, out: &mut Vec<(Option<String>, String)>) {
        match self {
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.fields(out);
                b.fields(out);
            }
            Cond::Not(c) => c.fields(out),
            Cond::Cmp { lhs, rhs, .. } => {
                term_fields(lhs, out);
                term_fields(rhs, out);
            }
            Cond::In { term, .. }
            | Cond::Like { term, .. }
            | Cond::IsNull { term, .. }
            | Cond::IsTrue(term) => term_fields(term, out),
        }
    }
}

fn term_fields(t: &Term, out: &mut Vec<(Option<String>, String)>) {
    let col = match t {
        Term::Field(c) | Term::Agg { arg: Some(c), .. } => c,
        Term::Promote(inner) => return term_fields(inner, out),
        Term::Agg { arg: None, .. } | Term::Lit(_) => return,
    };
    let key = (col.qualifier.clone(), col.name.clone());
    if !out.contains(&key) {
        out.push(key);
    }
}
