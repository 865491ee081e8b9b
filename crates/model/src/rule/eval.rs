//! In-memory evaluator with SQL three-valued logic: `None` is SQL's UNKNOWN.
//!
//! It must agree with what the SQL compiler's output does in the database: a comparison with a
//! null operand is unknown, `and`/`or`/`not` are Kleene, `x in (...)` with a null `x` is
//! unknown, `sum`/`min`/`max` over no rows or only nulls are null and `count()` counts rows.
//! Values read through the getter are conformed to the field's declared type first (an int
//! read for a money field is minor units, 0/1 for a bool field is false/true, text for a date
//! is parsed); a value that cannot be read as that type counts as null.

use std::cmp::Ordering;

use super::ast::AggFunc;
use super::lexer::CmpOp;
use super::typed::{Column, Cond, Term};
use super::Getter;
use crate::value::{Date, DateTime, FieldType, Value};

/// Where field values come from: one record, or a group of records (aggregates).
#[derive(Clone, Copy)]
enum Env<'a, 'g> {
    Row(Getter<'g>),
    Group(&'a [Getter<'g>]),
}

/// A row rule's result for one record.
pub(crate) fn row(cond: &Cond, get: Getter<'_>) -> Option<bool> {
    eval(cond, Env::Row(get))
}

/// An aggregate rule's result for a group (possibly empty).
pub(crate) fn group(cond: &Cond, rows: &[Getter<'_>]) -> Option<bool> {
    eval(cond, Env::Group(rows))
}

fn eval(cond: &Cond, env: Env) -> Option<bool> {
    match cond {
        Cond::And(a, b) => match (eval(a, env), eval(b, env)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Cond::Or(a, b) => match (eval(a, env), eval(b, env)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Cond::Not(a) => eval(a, env).map(|b| !b),
        Cond::Cmp { op, lhs, rhs } => {
            let ord = value(lhs, env).sql_cmp(&value(rhs, env))?;
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
        Cond::In {
            term,
            list,
            negated,
        } => {
            let v = value(term, env);
            if v.is_null() {
                return None;
            }
            let found = list
                .iter()
                .any(|item| v.sql_cmp(item) == Some(Ordering::Equal));
            Some(found != *negated)
        }
        Cond::Like {
            term,
            pattern,
            negated,
        } => {
            let v = value(term, env);
            let text = v.as_str()?;
            Some(like(text, pattern) != *negated)
        }
        Cond::IsNull { term, negated } => Some(value(term, env).is_null() != *negated),
        Cond::IsTrue(term) => match value(term, env) {
            Value::Bool(b) => Some(b),
            _ => None,
        },
    }
}

fn value(t: &Term, env: Env) -> Value {
    match t {
        Term::Lit(v) => v.clone(),
        Term::Promote(inner) => match value(inner, env) {
            Value::Date(d) => Value::DateTime(d.at_midnight()),
            other => other,
        },
        Term::Field(c) => match env {
            Env::Row(get) => read(get, c),
            // The checker keeps bare fields out of aggregate rules.
            Env::Group(_) => Value::Null,
        },
        Term::Agg { func, arg } => {
            let rows: &[Getter] = match &env {
                Env::Row(get) => std::slice::from_ref(get),
                Env::Group(rows) => rows,
            };
            aggregate(*func, arg.as_ref(), rows)
        }
    }
}

fn aggregate(func: AggFunc, arg: Option<&Column>, rows: &[Getter]) -> Value {
    let Some(col) = arg else {
        return Value::Int(i64::try_from(rows.len()).unwrap_or(i64::MAX));
    };
    let values = rows
        .iter()
        .map(|get| read(*get, col))
        .filter(|v| !v.is_null());
    match func {
        AggFunc::Count => Value::Int(i64::try_from(values.count()).unwrap_or(i64::MAX)),
        AggFunc::Sum => {
            let mut total: Option<i128> = None;
            for v in values {
                if let Some(i) = v.as_i64() {
                    total = Some(total.unwrap_or(0) + i128::from(i));
                }
            }
            // Saturates rather than overflowing; only a total beyond ±9.2e18 is affected.
            let Some(total) = total else {
                return Value::Null;
            };
            let total = i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX });
            match col.ty {
                FieldType::Money => Value::Money(total),
                _ => Value::Int(total),
            }
        }
        AggFunc::Min | AggFunc::Max => {
            let want = if func == AggFunc::Min {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            values.fold(Value::Null, |best, v| {
                if best.is_null() || v.sql_cmp(&best) == Some(want) {
                    v
                } else {
                    best
                }
            })
        }
    }
}

/// Reads a column and conforms the value to its declared type (null when it cannot be).
fn read(get: Getter, col: &Column) -> Value {
    conform(get(col.qualifier.as_deref(), &col.name), col.ty)
}

fn conform(v: Value, ty: FieldType) -> Value {
    match (v, ty) {
        (Value::Null, _) => Value::Null,
        (v, ty) if v.field_type() == Some(ty) => v,
        (Value::Int(i), FieldType::Money) => Value::Money(i),
        (Value::Money(i), FieldType::Int) => Value::Int(i),
        (Value::Int(0), FieldType::Bool) => Value::Bool(false),
        (Value::Int(1), FieldType::Bool) => Value::Bool(true),
        (Value::DateTime(t), FieldType::Date) => Value::Date(t.date()),
        (Value::Date(d), FieldType::DateTime) => Value::DateTime(d.at_midnight()),
        (Value::Text(s), FieldType::Date) => Date::parse(&s).map_or(Value::Null, Value::Date),
        (Value::Text(s), FieldType::DateTime) => {
            DateTime::parse(&s).map_or(Value::Null, Value::DateTime)
        }
        _ => Value::Null,
    }
}

/// SQL `LIKE` without an escape character: `%` any sequence, `_` exactly one character;
/// case-sensitive, by characters (not bytes).
pub(crate) fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    let (mut ti, mut pi) = (0, 0);
    // Where the last `%` was, and the text position it is currently made to cover up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some('_') => {
                ti += 1;
                pi += 1;
            }
            Some(c) if *c == t[ti] => {
                ti += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|c| *c == '%')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_by_character() {
        assert!(like("Alpha", "A%"));
        assert!(!like("alpha", "A%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("é", "_"));
        assert!(!like("é", "__"));
        assert!(like("naïve café", "na_ve%é"));
        assert!(like("abcabc", "%bc"));
        assert!(like("aXbYc", "a%b%c"));
        assert!(!like("aXbYd", "a%b%c"));
        assert!(like("100%", "100%"));
        assert!(like("a*b", "a*b"));
        assert!(!like("axb", "a*b"));
        assert!(like("mississippi", "%sip%"));
        assert!(!like("abc", "abcd"));
        assert!(like("abc", "abc%%"));
    }

    #[test]
    fn values_conform_to_declared_types() {
        assert_eq!(
            conform(Value::Int(1250), FieldType::Money),
            Value::Money(1250)
        );
        assert_eq!(conform(Value::Int(1), FieldType::Bool), Value::Bool(true));
        assert_eq!(conform(Value::Int(2), FieldType::Bool), Value::Null);
        assert_eq!(
            conform(Value::Text("2024-01-31".into()), FieldType::Date),
            Value::Date(Date::parse("2024-01-31").expect("date"))
        );
        assert_eq!(
            conform(Value::Text("x".into()), FieldType::Int),
            Value::Null
        );
    }
}
