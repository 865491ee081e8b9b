//! SQL compiler: a checked condition to a parameterised SQL condition for SQLite or PostgreSQL.
//!
//! Every literal becomes a placeholder pushed onto `params` (`?N` in SQLite, `$N::type` in
//! PostgreSQL); identifiers come only from [`SqlContext::column`] and
//! [`SqlContext::count_expr`]. The only text this module writes itself is fixed SQL syntax.
//! Every sub-expression is parenthesised, so precedence never depends on the database.
//!
//! Storage conventions: SQLite keeps dates and date-times as `YYYY-MM-DD[ HH:MM:SS]` text and
//! bools as 0/1; PostgreSQL has DATE, TIMESTAMP and BOOLEAN. Text ordering is by code point:
//! SQLite's default BINARY collation on UTF-8 already is, PostgreSQL needs `COLLATE "C"`.

use super::ast::AggFunc;
use super::lexer::CmpOp;
use super::typed::{Cond, Term};
use super::{Dialect, SqlContext};
use crate::value::{FieldType, Value};

/// Compiles `cond`, appending its literals to `params`.
pub(crate) fn condition(cond: &Cond, ctx: &SqlContext, params: &mut Vec<Value>) -> String {
    let pg = ctx.dialect == Dialect::Postgres;
    match cond {
        Cond::And(a, b) => format!(
            "({} AND {})",
            condition(a, ctx, params),
            condition(b, ctx, params)
        ),
        Cond::Or(a, b) => format!(
            "({} OR {})",
            condition(a, ctx, params),
            condition(b, ctx, params)
        ),
        Cond::Not(a) => format!("(NOT {})", condition(a, ctx, params)),
        Cond::Cmp { op, lhs, rhs } => {
            let l = term(lhs, ctx, params);
            let r = term(rhs, ctx, params);
            let sym = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "<>",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                CmpOp::Ge => ">=",
            };
            let ordering = !matches!(op, CmpOp::Eq | CmpOp::Ne);
            if pg && ordering && lhs.ty() == FieldType::Text {
                format!("({l} COLLATE \"C\" {sym} {r})")
            } else {
                format!("({l} {sym} {r})")
            }
        }
        Cond::In {
            term: t,
            list,
            negated,
        } => {
            let t = term(t, ctx, params);
            let items: Vec<String> = list
                .iter()
                .map(|v| placeholder(v.clone(), ctx.dialect, params))
                .collect();
            let not = if *negated { "NOT " } else { "" };
            format!("({t} {not}IN ({}))", items.join(", "))
        }
        Cond::Like {
            term: t,
            pattern,
            negated,
        } => {
            let t = term(t, ctx, params);
            let not = if *negated { "NOT " } else { "" };
            if pg {
                let p = placeholder(Value::Text(pattern.clone()), ctx.dialect, params);
                format!("({t} {not}LIKE {p} ESCAPE '')")
            } else {
                let p = placeholder(Value::Text(like_to_glob(pattern)), ctx.dialect, params);
                format!("({t} {not}GLOB {p})")
            }
        }
        Cond::IsNull { term: t, negated } => {
            let t = term(t, ctx, params);
            let not = if *negated { "NOT " } else { "" };
            format!("({t} IS {not}NULL)")
        }
        Cond::IsTrue(t) => {
            let t = term(t, ctx, params);
            if pg {
                format!("({t} = TRUE)")
            } else {
                format!("({t} = 1)")
            }
        }
    }
}

fn term(t: &Term, ctx: &SqlContext, params: &mut Vec<Value>) -> String {
    let pg = ctx.dialect == Dialect::Postgres;
    match t {
        Term::Field(c) => (ctx.column)(c.qualifier.as_deref(), &c.name),
        Term::Agg { func, arg } => {
            let Some(c) = arg else {
                return format!("COUNT({})", ctx.count_expr);
            };
            let col = (ctx.column)(c.qualifier.as_deref(), &c.name);
            let text_order = pg && c.ty == FieldType::Text;
            match func {
                AggFunc::Count => format!("COUNT({col})"),
                AggFunc::Sum => format!("SUM({col})"),
                AggFunc::Min if text_order => format!("MIN({col} COLLATE \"C\")"),
                AggFunc::Max if text_order => format!("MAX({col} COLLATE \"C\")"),
                AggFunc::Min => format!("MIN({col})"),
                AggFunc::Max => format!("MAX({col})"),
            }
        }
        Term::Lit(v) => placeholder(v.clone(), ctx.dialect, params),
        Term::Promote(inner) => {
            let i = term(inner, ctx, params);
            if pg {
                format!("(CAST({i} AS TIMESTAMP))")
            } else {
                format!("({i} || ' 00:00:00')")
            }
        }
    }
}

/// Pushes `v` and returns its placeholder.
fn placeholder(v: Value, dialect: Dialect, params: &mut Vec<Value>) -> String {
    let cast = match v.field_type() {
        Some(FieldType::Text) | None => "text",
        Some(FieldType::Int | FieldType::Money) => "bigint",
        Some(FieldType::Date) => "date",
        Some(FieldType::DateTime) => "timestamp",
        Some(FieldType::Bool) => "boolean",
    };
    params.push(v);
    let n = params.len();
    match dialect {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}::{cast}"),
    }
}

/// Translates a `like` pattern to a GLOB pattern: `%` → `*`, `_` → `?`, and GLOB's own
/// wildcards `*`, `?`, `[` made literal as `[*]`, `[?]`, `[[]`.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation_escapes_glob_wildcards() {
        assert_eq!(like_to_glob("A%"), "A*");
        assert_eq!(like_to_glob("_é%"), "?é*");
        assert_eq!(like_to_glob("a*b?c[d]"), "a[*]b[?]c[[]d]");
    }

    #[test]
    fn placeholders_number_from_existing_params() {
        let mut params = vec![Value::Int(7)];
        assert_eq!(
            placeholder(Value::Money(5), Dialect::Postgres, &mut params),
            "$2::bigint"
        );
        assert_eq!(
            placeholder(Value::Bool(true), Dialect::Sqlite, &mut params),
            "?3"
        );
        assert_eq!(params.len(), 3);
    }
}
