//! Type checker: resolves fields against a [`Scope`] and turns the syntax tree into a typed
//! condition tree ([`Cond`]) whose literals are already coerced to the types they meet.
//!
//! Coercions (spec "Types and checking"): an int literal meeting money is major units; 0/1
//! meeting bool is false/true; a string literal meeting a date or date-time is parsed; a date
//! meeting a date-time is midnight. A date *field* (or aggregate) meeting a date-time is wrapped
//! in [`Term::Promote`], which the SQL compiler and the evaluator both honour.

use super::ast::{AggFunc, Expr, FieldRef, Lit, Operand, OperandKind};
use super::lexer::CmpOp;
use super::suggest::closest;
use super::typed::{Column, Cond, Term};
use super::{RuleError, RuleKind, Scope, Span};
use crate::value::{Date, DateTime, FieldType, Value};

/// Type-checks a parsed rule.
pub(crate) fn check(
    src: &str,
    expr: &Expr,
    scope: &dyn Scope,
    kind: RuleKind,
) -> Result<Cond, RuleError> {
    Checker { src, scope, kind }.cond(expr)
}

struct Checker<'a> {
    src: &'a str,
    scope: &'a dyn Scope,
    kind: RuleKind,
}

/// The result of coercing a literal: its value, and whether the other side (a date) must be
/// promoted to a date-time to meet it.
struct Coerced {
    value: Value,
    promote_other: bool,
}

impl Checker<'_> {
    fn text(&self, span: Span) -> &str {
        self.src.get(span.start..span.end).unwrap_or("?")
    }

    fn cond(&self, expr: &Expr) -> Result<Cond, RuleError> {
        Ok(match expr {
            Expr::Or(a, b) => Cond::Or(Box::new(self.cond(a)?), Box::new(self.cond(b)?)),
            Expr::And(a, b) => Cond::And(Box::new(self.cond(a)?), Box::new(self.cond(b)?)),
            Expr::Not(a) => Cond::Not(Box::new(self.cond(a)?)),
            Expr::Bare(op) => {
                if let OperandKind::Lit(_) = op.kind {
                    return Err(RuleError::new(
                        op.span,
                        format!(
                            "a rule must be a condition on fields (true/false), but `{}` is a constant",
                            self.text(op.span)
                        ),
                    ));
                }
                let term = self.term(op)?;
                if term.ty() != FieldType::Bool {
                    return Err(RuleError::new(
                        op.span,
                        format!(
                            "a rule must be a condition (true/false), but `{}` is {}",
                            self.text(op.span),
                            term.ty()
                        ),
                    ));
                }
                Cond::IsTrue(term)
            }
            Expr::Cmp { op, lhs, rhs, span } => self.comparison(*op, lhs, rhs, *span)?,
            Expr::In {
                operand,
                list,
                negated,
                ..
            } => self.in_list(operand, list, *negated)?,
            Expr::Like {
                operand,
                pattern,
                negated,
                ..
            } => {
                let word = if *negated { "not like" } else { "like" };
                let term = self.non_literal(operand, word)?;
                if term.ty() != FieldType::Text {
                    return Err(RuleError::new(
                        operand.span,
                        format!(
                            "`{word}` needs text, but `{}` is {}",
                            self.text(operand.span),
                            term.ty()
                        ),
                    ));
                }
                let OperandKind::Lit(Lit::Str(p)) = &pattern.kind else {
                    return Err(RuleError::new(
                        pattern.span,
                        format!("the pattern of `{word}` must be a string literal such as \"A%\""),
                    ));
                };
                Cond::Like {
                    term,
                    pattern: p.clone(),
                    negated: *negated,
                }
            }
            Expr::IsNull {
                operand, negated, ..
            } => Cond::IsNull {
                term: self
                    .non_literal(operand, if *negated { "is not null" } else { "is null" })?,
                negated: *negated,
            },
        })
    }

    /// A field or aggregate (not a literal) on the left of `word`.
    fn non_literal(&self, op: &Operand, word: &str) -> Result<Term, RuleError> {
        if let OperandKind::Lit(_) = op.kind {
            return Err(RuleError::new(
                op.span,
                format!(
                    "`{word}` needs a field on its left, but `{}` is a constant",
                    self.text(op.span)
                ),
            ));
        }
        self.term(op)
    }

    /// Resolves a field or aggregate operand (literals are handled by the callers).
    fn term(&self, op: &Operand) -> Result<Term, RuleError> {
        match &op.kind {
            OperandKind::Field(f) => {
                let col = self.column(f)?;
                if self.kind == RuleKind::Aggregate {
                    return Err(RuleError::new(
                        f.span,
                        format!(
                            "in an aggregate rule every field must be inside count(), sum(), min() or max(), but `{}` is not",
                            f.display()
                        ),
                    ));
                }
                Ok(Term::Field(col))
            }
            OperandKind::Agg { func, arg } => {
                if self.kind == RuleKind::Row {
                    return Err(RuleError::new(
                        op.span,
                        format!(
                            "`{}` is an aggregate; aggregates are only allowed in aggregate rules (`having`), not in a condition on one record",
                            self.text(op.span)
                        ),
                    ));
                }
                let col = match arg {
                    Some(f) => Some((self.column(f)?, f)),
                    None => None,
                };
                if let Some((c, f)) = &col {
                    let ok = match func {
                        AggFunc::Sum => c.ty.is_numeric(),
                        AggFunc::Min | AggFunc::Max => c.ty.is_ordered(),
                        AggFunc::Count => true,
                    };
                    if !ok {
                        let need = if *func == AggFunc::Sum {
                            "an int or money field"
                        } else {
                            "a field that can be ordered (not bool)"
                        };
                        return Err(RuleError::new(
                            op.span,
                            format!(
                                "`{}` needs {need}, but `{}` is {}",
                                func.name(),
                                f.display(),
                                c.ty
                            ),
                        ));
                    }
                }
                let arg = col.map(|(c, _)| c);
                Ok(Term::Agg { func: *func, arg })
            }
            OperandKind::Lit(_) => Err(RuleError::new(
                op.span,
                format!("expected a field, found the value `{}`", self.text(op.span)),
            )),
        }
    }

    fn column(&self, f: &FieldRef) -> Result<Column, RuleError> {
        let q = f.qualifier.as_deref();
        if let Some(ty) = self.scope.field(q, &f.name) {
            return Ok(Column {
                qualifier: f.qualifier.clone(),
                name: f.name.clone(),
                ty,
            });
        }
        let names = self.scope.field_names(q);
        if let (Some(q), true) = (q, names.is_empty()) {
            return Err(RuleError::new(
                f.span,
                format!(
                    "unknown record `{q}` in `{}`: nothing called `{q}` is in scope here",
                    f.display()
                ),
            ));
        }
        let mut message = format!(
            "unknown field `{}` on {}; fields: {}",
            f.name,
            self.scope.kind_name(q),
            names.join(", ")
        );
        if let Some(best) = closest(&f.name, &names) {
            message.push_str(&format!("; did you mean `{best}`?"));
        }
        Err(RuleError::new(f.span, message))
    }

    fn comparison(
        &self,
        op: CmpOp,
        lhs: &Operand,
        rhs: &Operand,
        span: Span,
    ) -> Result<Cond, RuleError> {
        for side in [lhs, rhs] {
            if side.kind == OperandKind::Lit(Lit::Null) {
                let message = match op {
                    CmpOp::Eq => {
                        "to test for null write `is null`: `= null` is never true".to_string()
                    }
                    CmpOp::Ne => "to test for a value write `is not null`: `!= null` is never true"
                        .to_string(),
                    _ => format!(
                        "`null` cannot be compared with `{}`; use `is null` or `is not null`",
                        op.symbol()
                    ),
                };
                return Err(RuleError::new(side.span, message));
            }
        }
        let (lhs_t, rhs_t) = match (&lhs.kind, &rhs.kind) {
            (OperandKind::Lit(_), OperandKind::Lit(_)) => {
                return Err(RuleError::new(
                    span,
                    format!(
                        "`{}` compares two constant values; one side must be a field",
                        self.text(span)
                    ),
                ))
            }
            (OperandKind::Lit(l), _) => {
                let t = self.term(rhs)?;
                let (lit, t) = self.meet(l, lhs.span, t, rhs.span, span)?;
                (lit, t)
            }
            (_, OperandKind::Lit(l)) => {
                let t = self.term(lhs)?;
                let (lit, t) = self.meet(l, rhs.span, t, lhs.span, span)?;
                (t, lit)
            }
            _ => {
                let (a, b) = (self.term(lhs)?, self.term(rhs)?);
                match (a.ty(), b.ty()) {
                    (x, y) if x == y => (a, b),
                    (FieldType::Date, FieldType::DateTime) => (Term::Promote(Box::new(a)), b),
                    (FieldType::DateTime, FieldType::Date) => (a, Term::Promote(Box::new(b))),
                    (x, y) => {
                        return Err(RuleError::new(
                            span,
                            format!(
                                "cannot compare {x} `{}` with {y} `{}`",
                                self.text(lhs.span),
                                self.text(rhs.span)
                            ),
                        ))
                    }
                }
            }
        };
        if op != CmpOp::Eq && op != CmpOp::Ne && !lhs_t.ty().is_ordered() {
            let (term_span, ty) = if matches!(lhs_t, Term::Lit(_)) {
                (rhs.span, rhs_t.ty())
            } else {
                (lhs.span, lhs_t.ty())
            };
            return Err(RuleError::new(
                span,
                format!(
                    "`{}` does not apply to {ty} `{}`; use `=` or `!=`",
                    op.symbol(),
                    self.text(term_span)
                ),
            ));
        }
        Ok(Cond::Cmp {
            op,
            lhs: lhs_t,
            rhs: rhs_t,
        })
    }

    /// A literal meeting a term: returns (literal term, possibly promoted term).
    fn meet(
        &self,
        lit: &Lit,
        lit_span: Span,
        term: Term,
        term_span: Span,
        err_span: Span,
    ) -> Result<(Term, Term), RuleError> {
        let c = self.coerce(lit, lit_span, term.ty(), term_span, err_span, term.ty())?;
        let term = if c.promote_other {
            Term::Promote(Box::new(term))
        } else {
            term
        };
        Ok((Term::Lit(c.value), term))
    }

    fn in_list(
        &self,
        operand: &Operand,
        list: &[Operand],
        negated: bool,
    ) -> Result<Cond, RuleError> {
        let word = if negated { "not in" } else { "in" };
        let mut term = self.non_literal(operand, word)?;
        let mut lits = Vec::new();
        for item in list {
            match &item.kind {
                OperandKind::Lit(Lit::Null) => {
                    return Err(RuleError::new(
                        item.span,
                        format!(
                            "`null` is not allowed in an `{word}` list; test for it with `is null`"
                        ),
                    ))
                }
                OperandKind::Lit(l) => lits.push((l, item.span)),
                _ => {
                    return Err(RuleError::new(
                        item.span,
                        format!(
                            "an `{word}` list holds values only, but `{}` is not a value",
                            self.text(item.span)
                        ),
                    ))
                }
            }
        }
        // A date term meeting any date-time value is promoted; then every value must fit.
        let declared = term.ty();
        let mut target = declared;
        if target == FieldType::Date {
            for (l, s) in &lits {
                if self
                    .coerce(l, *s, declared, operand.span, *s, target)?
                    .promote_other
                {
                    target = FieldType::DateTime;
                }
            }
            if target == FieldType::DateTime {
                term = Term::Promote(Box::new(term));
            }
        }
        let mut values = Vec::new();
        for (l, s) in lits {
            values.push(self.coerce(l, s, declared, operand.span, s, target)?.value);
        }
        Ok(Cond::In {
            term,
            list: values,
            negated,
        })
    }

    /// Coerces literal `lit` to `target`; `term_ty` and `term_span` describe what it meets
    /// (its declared type, for messages).
    fn coerce(
        &self,
        lit: &Lit,
        lit_span: Span,
        term_ty: FieldType,
        term_span: Span,
        err_span: Span,
        target: FieldType,
    ) -> Result<Coerced, RuleError> {
        use FieldType as F;
        let ok = |value| {
            Ok(Coerced {
                value,
                promote_other: false,
            })
        };
        let lit_text = self.text(lit_span);
        let mismatch = |hint: &str| {
            let lit_ty = match lit {
                Lit::Str(_) => "text",
                Lit::Int(_) => "int",
                Lit::Money(_) => "money",
                Lit::Date(_) => "date",
                Lit::DateTime(_) => "datetime",
                Lit::Bool(_) => "bool",
                Lit::Null => "null",
            };
            Err(RuleError::new(
                err_span,
                format!(
                    "cannot compare {term_ty} `{}` with {lit_ty} {lit_text}{hint}",
                    self.text(term_span)
                ),
            ))
        };
        match (lit, target) {
            (Lit::Str(s), F::Text) => ok(Value::Text(s.clone())),
            (Lit::Str(s), F::Date) => match (Date::parse(s), DateTime::parse(s)) {
                (Some(d), _) => ok(Value::Date(d)),
                (None, Some(t)) => Ok(Coerced {
                    value: Value::DateTime(t),
                    promote_other: true,
                }),
                _ => mismatch(" (write dates as 2024-01-31)"),
            },
            (Lit::Str(s), F::DateTime) => match (DateTime::parse(s), Date::parse(s)) {
                (Some(t), _) => ok(Value::DateTime(t)),
                (None, Some(d)) => ok(Value::DateTime(d.at_midnight())),
                _ => mismatch(" (write date-times as 2024-01-31T10:00:00)"),
            },
            (Lit::Int(i), F::Int) => ok(Value::Int(*i)),
            (Lit::Int(i), F::Money) => match i.checked_mul(100) {
                Some(m) => ok(Value::Money(m)),
                None => Err(RuleError::new(
                    lit_span,
                    format!("money amount `{lit_text}` is too large"),
                )),
            },
            (Lit::Int(0), F::Bool) => ok(Value::Bool(false)),
            (Lit::Int(1), F::Bool) => ok(Value::Bool(true)),
            (Lit::Int(_), F::Bool) => mismatch(" (use true/false, or 0/1)"),
            (Lit::Money(_), F::Int) => mismatch(" (int fields hold whole numbers)"),
            (Lit::Money(m), F::Money) => ok(Value::Money(*m)),
            (Lit::Date(d), F::Date) => ok(Value::Date(*d)),
            (Lit::Date(d), F::DateTime) => ok(Value::DateTime(d.at_midnight())),
            (Lit::DateTime(t), F::DateTime) => ok(Value::DateTime(*t)),
            (Lit::DateTime(t), F::Date) => Ok(Coerced {
                value: Value::DateTime(*t),
                promote_other: true,
            }),
            (Lit::Bool(b), F::Bool) => ok(Value::Bool(*b)),
            _ => mismatch(""),
        }
    }
}
