//! A rule in words, as an office reads it: `status = 'deactivated' and kind = 'person'` →
//! "status is deactivated and kind is person"; `balance > 0` → "balance is more than 0.00".

use super::ast::AggFunc;
use super::lexer::CmpOp;
use super::typed::{Cond, Term};
use crate::value::{FieldType, Value};

/// The condition in words.
pub(crate) fn cond(c: &Cond) -> String {
    match c {
        Cond::And(a, b) => format!("{} and {}", inner(a), inner(b)),
        Cond::Or(a, b) => format!("{} or {}", inner(a), inner(b)),
        Cond::Not(c) => format!("not ({})", cond(c)),
        Cond::Cmp { op, lhs, rhs } => {
            let dated = matches!(lhs.ty(), FieldType::Date | FieldType::DateTime);
            let how = match (op, dated) {
                (CmpOp::Eq, _) => "is",
                (CmpOp::Ne, _) => "is not",
                (CmpOp::Lt, true) => "is before",
                (CmpOp::Le, true) => "is on or before",
                (CmpOp::Gt, true) => "is after",
                (CmpOp::Ge, true) => "is on or after",
                (CmpOp::Lt, false) => "is less than",
                (CmpOp::Le, false) => "is at most",
                (CmpOp::Gt, false) => "is more than",
                (CmpOp::Ge, false) => "is at least",
            };
            format!("{} {how} {}", term(lhs), term(rhs))
        }
        Cond::In {
            term: t,
            list,
            negated,
        } => format!(
            "{} is {}one of {}",
            term(t),
            if *negated { "not " } else { "" },
            list.iter().map(value).collect::<Vec<_>>().join(", ")
        ),
        Cond::Like {
            term: t,
            pattern,
            negated,
        } => format!(
            "{} {} \"{pattern}\"",
            term(t),
            if *negated {
                "does not match"
            } else {
                "matches"
            }
        ),
        Cond::IsNull { term: t, negated } => {
            format!("{} is {}", term(t), if *negated { "set" } else { "empty" })
        }
        Cond::IsTrue(t) => term(t),
    }
}

/// A part of an `and` or an `or`: in parentheses when it is the other of the two.
fn inner(c: &Cond) -> String {
    match c {
        Cond::And(..) | Cond::Or(..) => format!("({})", cond(c)),
        _ => cond(c),
    }
}

fn term(t: &Term) -> String {
    match t {
        Term::Field(c) => field(c.qualifier.as_deref(), &c.name),
        Term::Agg { func, arg } => match (func, arg) {
            (AggFunc::Count, _) => "the number of them".to_string(),
            (AggFunc::Sum, Some(c)) => {
                format!("the sum of {}", field(c.qualifier.as_deref(), &c.name))
            }
            (AggFunc::Min, Some(c)) => {
                format!("the lowest {}", field(c.qualifier.as_deref(), &c.name))
            }
            (AggFunc::Max, Some(c)) => {
                format!("the highest {}", field(c.qualifier.as_deref(), &c.name))
            }
            (_, None) => func.name().to_string(),
        },
        Term::Lit(v) => value(v),
        Term::Promote(inner) => term(inner),
    }
}

/// A field by its name in words: `deactivated_on` → "deactivated on", `payment.paid_on` →
/// "the payment's paid on".
fn field(qualifier: Option<&str>, name: &str) -> String {
    let name = name.replace('_', " ");
    match qualifier {
        Some(q) => format!("the {}'s {name}", q.replace('_', " ")),
        None => name,
    }
}

fn value(v: &Value) -> String {
    match v {
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::Money(m) => crate::value::format_money(*m),
        other => other.to_cell(),
    }
}
