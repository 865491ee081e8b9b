//! Parser edge cases: precedence, spans, and the syntax error messages.

use super::*;

/// A compact rendering of the tree: `(or (= a 1) (not b))`.
fn show(e: &Expr) -> String {
    let op = |o: &Operand| match &o.kind {
        OperandKind::Field(f) => f.display(),
        OperandKind::Agg { func, arg } => {
            format!(
                "{}({})",
                func.name(),
                arg.as_ref().map_or(String::new(), |f| f.display())
            )
        }
        OperandKind::Lit(l) => format!("{l:?}"),
    };
    match e {
        Expr::Or(a, b) => format!("(or {} {})", show(a), show(b)),
        Expr::And(a, b) => format!("(and {} {})", show(a), show(b)),
        Expr::Not(a) => format!("(not {})", show(a)),
        Expr::Cmp {
            op: o, lhs, rhs, ..
        } => format!("({} {} {})", o.symbol(), op(lhs), op(rhs)),
        Expr::In {
            operand,
            list,
            negated,
            ..
        } => {
            let items: Vec<String> = list.iter().map(op).collect();
            let n = if *negated { "not-in" } else { "in" };
            format!("({n} {} [{}])", op(operand), items.join(" "))
        }
        Expr::Like {
            operand,
            pattern,
            negated,
            ..
        } => {
            let n = if *negated { "not-like" } else { "like" };
            format!("({n} {} {})", op(operand), op(pattern))
        }
        Expr::IsNull {
            operand, negated, ..
        } => {
            let n = if *negated { "not-null" } else { "null" };
            format!("({n} {})", op(operand))
        }
        Expr::Bare(o) => op(o),
    }
}

fn p(src: &str) -> String {
    show(&parse(src).expect("parses"))
}

fn perr(src: &str) -> RuleError {
    parse(src).expect_err("should not parse")
}

#[test]
fn precedence_or_and_not_predicates() {
    assert_eq!(
        p("a = 1 or b = 2 and not c = 3"),
        "(or (= a Int(1)) (and (= b Int(2)) (not (= c Int(3)))))"
    );
    assert_eq!(
        p("(a = 1 or b = 2) and c"),
        "(and (or (= a Int(1)) (= b Int(2))) c)"
    );
    assert_eq!(p("a and b and c"), "(and (and a b) c)");
    assert_eq!(p("NOT NOT settled"), "(not (not settled))");
    assert_eq!(p("not (a)"), "(not a)");
    assert_eq!(p("((a <> 'x'))"), "(!= a Str(\"x\"))");
}

#[test]
fn predicates_and_operands() {
    assert_eq!(
        p("s not in ('A', \"B\")"),
        "(not-in s [Str(\"A\") Str(\"B\")])"
    );
    assert_eq!(p("s IN (1)"), "(in s [Int(1)])");
    assert_eq!(p("s not like 'A%'"), "(not-like s Str(\"A%\"))");
    assert_eq!(
        p("s is not null or t Is Null"),
        "(or (not-null s) (null t))"
    );
    assert_eq!(
        p("payment.paid_on >= due_on"),
        "(>= payment.paid_on due_on)"
    );
    assert_eq!(p("COUNT() > 3"), "(> count() Int(3))");
    assert_eq!(p("sum(p.amount) != -3.5"), "(!= sum(p.amount) Money(-350))");
    assert_eq!(p("x = null"), "(= x Null)");
    assert_eq!(p("count = 1"), "(= count Int(1))");
    assert_eq!(p("5 < x"), "(< Int(5) x)");
}

#[test]
fn spans_cover_what_was_written() {
    let Expr::Cmp { lhs, rhs, span, .. } = parse(" pay.at <= 2024-01-31 ").expect("parses") else {
        panic!("not a comparison");
    };
    assert_eq!(
        (lhs.span, rhs.span, span),
        (Span::new(1, 7), Span::new(11, 21), Span::new(1, 21))
    );
    let Expr::IsNull { span, .. } = parse("x is not null").expect("parses") else {
        panic!("not is null");
    };
    assert_eq!(span, Span::new(0, 13));
    let Expr::In { span, .. } = parse("x in (1, 2) ").expect("parses") else {
        panic!("not in");
    };
    assert_eq!(span, Span::new(0, 11));
    let Expr::Cmp { lhs, .. } = parse("sum( a ) = 1").expect("parses") else {
        panic!("not a comparison");
    };
    assert_eq!(lhs.span, Span::new(0, 8));
}

#[test]
fn syntax_errors_say_what_was_expected() {
    let cases: &[(&str, &str, (usize, usize))] = &[
        ("", "empty", (0, 0)),
        ("   ", "empty", (0, 3)),
        ("a =", "expected a field or a value, found the end", (3, 3)),
        (
            "(a = 1",
            "expected `)` to close the `(` at offset 0",
            (6, 6),
        ),
        ("a = 1)", "no matching `(`", (5, 6)),
        ("a in ()", "at least one value", (6, 7)),
        (
            "a in (1,)",
            "expected a field or a value, found `)`",
            (8, 9),
        ),
        ("a in 1", "expected `(` after `in`", (5, 6)),
        ("a in (1 2)", "expected `,` or `)`", (8, 9)),
        ("a not = 1", "expected `in` or `like` after `not`", (6, 7)),
        ("a is 1", "expected `null` after `is`", (5, 6)),
        ("a = 1 b = 2", "expected `and`, `or` or the end", (6, 7)),
        ("a = b = c", "expected `and`, `or` or the end", (6, 7)),
        ("and a", "found the keyword `and`", (0, 3)),
        ("a.", "expected a field name after `a.`", (2, 2)),
        ("a.1 = 2", "expected a field name after `a.`", (2, 3)),
        ("avg(x) > 1", "unknown function `avg`", (0, 3)),
        ("count(x) > 1", "takes no field", (6, 7)),
        ("sum() > 1", "`sum` needs a field", (0, 5)),
        (
            "max('a') > 1",
            "expected a field name inside `max(...)`",
            (4, 7),
        ),
        ("a = 'x", "unterminated string", (4, 6)),
    ];
    for (src, want, (start, end)) in cases {
        let e = perr(src);
        assert!(e.message.contains(want), "{src:?}: {}", e.message);
        assert_eq!(e.span, Span::new(*start, *end), "{src:?}: {}", e.message);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(perr(&deep).message.contains("nested too deeply"));
    let nots = format!("{}a", "not ".repeat(10_000));
    assert!(perr(&nots).message.contains("nested too deeply"));
    let chain = vec!["a = 1"; 10_000].join(" and ");
    assert!(perr(&chain).message.contains("more than 256 `and`/`or`"));
    let ok = vec!["a = 1"; 257].join(" or ");
    assert!(parse(&ok).is_ok());
    let ok = format!("{}a{}", "(".repeat(50), ")".repeat(50));
    assert_eq!(p(&ok), "a");
}
