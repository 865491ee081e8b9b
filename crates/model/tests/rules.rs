//! The rule language through its public API: the case table in tests/data/rule_cases.txt
//! (compile + evaluate, every case also compiled to SQL for both dialects), exact SQL for a
//! few rules, and the guarantee that literals never reach the SQL text.

use std::collections::HashMap;

use offboard_model::rule::{
    compile, Dialect, FieldType, Getter, Rule, RuleKind, Scope, Span, SqlContext, Value,
};
use proptest::prelude::*;

const ORDER: &[(&str, FieldType)] = &[
    ("stage", FieldType::Text),
    ("status", FieldType::Text),
    ("name", FieldType::Text),
    ("note", FieldType::Text),
    ("total", FieldType::Money),
    ("balance", FieldType::Money),
    ("qty", FieldType::Int),
    ("ready", FieldType::Bool),
    ("settled", FieldType::Bool),
    ("due_on", FieldType::Date),
    ("created_at", FieldType::DateTime),
    ("paid_on", FieldType::Date),
];

const PAYMENT: &[(&str, FieldType)] = &[
    ("paid_on", FieldType::Date),
    ("amount", FieldType::Money),
    ("at", FieldType::DateTime),
    ("method", FieldType::Text),
];

/// `order` records, with the `payment` being deleted in scope as `payment.`.
struct TestScope;

impl TestScope {
    fn cols(qualifier: Option<&str>) -> &'static [(&'static str, FieldType)] {
        match qualifier {
            None => ORDER,
            Some("payment") => PAYMENT,
            Some(_) => &[],
        }
    }
}

impl Scope for TestScope {
    fn field(&self, qualifier: Option<&str>, name: &str) -> Option<FieldType> {
        Self::cols(qualifier)
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    fn field_names(&self, qualifier: Option<&str>) -> Vec<String> {
        Self::cols(qualifier)
            .iter()
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn kind_name(&self, qualifier: Option<&str>) -> String {
        qualifier.unwrap_or("order").to_string()
    }
}

type Record = HashMap<(Option<String>, String), Value>;

/// `stage=OPEN;total=1250;payment.paid_on=2024-01-31` (cells as in CSV files).
fn parse_record(text: &str) -> Result<Record, String> {
    let mut rec = Record::new();
    if text == "-" {
        return Ok(rec);
    }
    for cell in text.split(';') {
        let (key, value) = cell
            .split_once('=')
            .ok_or_else(|| format!("cell `{cell}` has no `=`"))?;
        let (qualifier, name) = match key.split_once('.') {
            Some((q, n)) => (Some(q.to_string()), n.to_string()),
            None => (None, key.to_string()),
        };
        let ty = TestScope
            .field(qualifier.as_deref(), &name)
            .ok_or_else(|| format!("unknown field `{key}` in a record"))?;
        let v = Value::parse_cell(ty, value).map_err(|e| e.to_string())?;
        rec.insert((qualifier, name), v);
    }
    Ok(rec)
}

fn getter(rec: &Record) -> impl Fn(Option<&str>, &str) -> Value + '_ {
    move |q, n| {
        rec.get(&(q.map(str::to_string), n.to_string()))
            .cloned()
            .unwrap_or(Value::Null)
    }
}

fn column(q: Option<&str>, name: &str) -> String {
    format!("{}.\"{name}\"", q.map_or("t", |_| "p"))
}

fn sql(rule: &Rule, dialect: Dialect) -> (String, Vec<Value>) {
    let ctx = SqlContext {
        dialect,
        column: &column,
        count_expr: "t.\"id\"".to_string(),
    };
    let mut params = Vec::new();
    let text = rule.to_sql(&ctx, &mut params);
    (text, params)
}

fn pg_cast(v: &Value) -> &'static str {
    match v {
        Value::Int(_) | Value::Money(_) => "bigint",
        Value::Date(_) => "date",
        Value::DateTime(_) => "timestamp",
        Value::Bool(_) => "boolean",
        Value::Text(_) | Value::Null => "text",
    }
}

/// Placeholders are numbered 1..=n in order, one per param, with PostgreSQL casts; no text
/// param appears in the SQL.
fn check_sql(rule: &Rule) -> Result<(), String> {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let (text, params) = sql(rule, dialect);
        let mut rest = text.as_str();
        for (i, p) in params.iter().enumerate() {
            let ph = match dialect {
                Dialect::Sqlite => format!("?{}", i + 1),
                Dialect::Postgres => format!("${}::{}", i + 1, pg_cast(p)),
            };
            let at = rest
                .find(&ph)
                .ok_or_else(|| format!("{dialect:?}: `{ph}` missing or out of order in {text}"))?;
            rest = &rest[at + ph.len()..];
        }
        let next = match dialect {
            Dialect::Sqlite => format!("?{}", params.len() + 1),
            Dialect::Postgres => format!("${}", params.len() + 1),
        };
        if text.contains(&next) {
            return Err(format!("{dialect:?}: `{next}` without a param in {text}"));
        }
        for p in &params {
            if let Value::Text(s) = p {
                if s.chars().count() >= 3 && text.contains(s.as_str()) {
                    return Err(format!("{dialect:?}: literal {s:?} pasted into {text}"));
                }
            }
        }
        if text.matches('(').count() != text.matches(')').count() {
            return Err(format!("{dialect:?}: unbalanced parentheses in {text}"));
        }
    }
    Ok(())
}

/// Runs one case; `Err` describes a failure.
fn run_case(kind: &str, record: &str, expected: &str, src: &str) -> Result<(), String> {
    let rk = match kind {
        "row" => RuleKind::Row,
        "agg" => RuleKind::Aggregate,
        other => return Err(format!("unknown kind `{other}`")),
    };
    let compiled = compile(src, &TestScope, rk);
    if let Some(err_spec) = expected.strip_prefix("error") {
        let (span, want) = err_spec
            .split_once(':')
            .ok_or("`error` needs `: <message>`")?;
        let e = match compiled {
            Ok(r) => return Err(format!("compiled, expected an error: {r:?}")),
            Err(e) => e,
        };
        if !e.message.contains(want.trim()) {
            return Err(format!("message {:?} lacks {:?}", e.message, want.trim()));
        }
        if e.span.start > e.span.end || e.span.end > src.len() {
            return Err(format!("span {:?} out of the text", e.span));
        }
        if let Some(range) = span.strip_prefix('@') {
            let (a, b) = range.split_once("..").ok_or("span is START..END")?;
            let want = Span::new(
                a.parse().map_err(|_| "bad span start")?,
                b.parse().map_err(|_| "bad span end")?,
            );
            if e.span != want {
                return Err(format!(
                    "span {:?}, expected {want:?} ({})",
                    e.span, e.message
                ));
            }
        }
        return Ok(());
    }
    let rule = compiled.map_err(|e| format!("does not compile: {} at {:?}", e.message, e.span))?;
    assert_eq!(rule.source(), src);
    for (q, n) in rule.fields() {
        if TestScope.field(q.as_deref(), &n).is_none() {
            return Err(format!("fields() lists unknown {q:?}.{n}"));
        }
    }
    let got = match rk {
        RuleKind::Row => rule.eval(&getter(&parse_record(record)?)),
        RuleKind::Aggregate => {
            let recs = if record == "-" {
                Vec::new()
            } else {
                record
                    .split(" / ")
                    .map(|r| parse_record(r.trim()))
                    .collect::<Result<Vec<_>, _>>()?
            };
            let getters: Vec<_> = recs.iter().map(getter).collect();
            let refs: Vec<Getter> = getters.iter().map(|g| g as Getter).collect();
            rule.eval_group(&refs)
        }
    };
    let want = match expected {
        "true" => Some(true),
        "false" => Some(false),
        "null" => None,
        other => return Err(format!("unknown expectation `{other}`")),
    };
    if got != want {
        return Err(format!("evaluated to {got:?}, expected {want:?}"));
    }
    check_sql(&rule)
}

#[test]
fn case_table() {
    let table = include_str!("data/rule_cases.txt");
    let mut failures = Vec::new();
    let mut count = 0;
    for (i, line) in table.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        count += 1;
        let cols: Vec<&str> = line.splitn(4, '|').map(str::trim).collect();
        let result = match cols.as_slice() {
            [kind, record, expected, src] => run_case(kind, record, expected, src),
            _ => Err("needs 4 columns: kind | record | expected | rule".to_string()),
        };
        if let Err(e) = result {
            failures.push(format!("line {}: `{line}`\n    {e}", i + 1));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 80, "only {count} cases");
}

fn rule(src: &str, kind: RuleKind) -> Rule {
    compile(src, &TestScope, kind).unwrap_or_else(|e| panic!("{src}: {e} at {:?}", e.span))
}

#[test]
fn exact_sql_for_both_dialects() {
    let d = |s: &str| Value::Date(offboard_model::Date::parse(s).expect("date"));
    let cases: Vec<(&str, RuleKind, &str, &str, Vec<Value>)> = vec![
        (
            r#"stage not in ("CLOSED", "CANCELLED")"#,
            RuleKind::Row,
            r#"(t."stage" NOT IN (?1, ?2))"#,
            r#"(t."stage" NOT IN ($1::text, $2::text))"#,
            vec![
                Value::Text("CLOSED".into()),
                Value::Text("CANCELLED".into()),
            ],
        ),
        (
            "balance != 0 and ready = 1 and not settled",
            RuleKind::Row,
            r#"(((t."balance" <> ?1) AND (t."ready" = ?2)) AND (NOT (t."settled" = 1)))"#,
            r#"(((t."balance" <> $1::bigint) AND (t."ready" = $2::boolean)) AND (NOT (t."settled" = TRUE)))"#,
            vec![Value::Money(0), Value::Bool(true)],
        ),
        (
            "due_on < created_at or payment.paid_on >= due_on",
            RuleKind::Row,
            r#"(((t."due_on" || ' 00:00:00') < t."created_at") OR (p."paid_on" >= t."due_on"))"#,
            r#"(((CAST(t."due_on" AS TIMESTAMP)) < t."created_at") OR (p."paid_on" >= t."due_on"))"#,
            vec![],
        ),
        (
            "stage < 'b' and stage is not null and paid_on is null",
            RuleKind::Row,
            r#"(((t."stage" < ?1) AND (t."stage" IS NOT NULL)) AND (t."paid_on" IS NULL))"#,
            r#"(((t."stage" COLLATE "C" < $1::text) AND (t."stage" IS NOT NULL)) AND (t."paid_on" IS NULL))"#,
            vec![Value::Text("b".into())],
        ),
        (
            "count() > 3 and max(due_on) < 2024-01-01",
            RuleKind::Aggregate,
            r#"((COUNT(t."id") > ?1) AND (MAX(t."due_on") < ?2))"#,
            r#"((COUNT(t."id") > $1::bigint) AND (MAX(t."due_on") < $2::date))"#,
            vec![Value::Int(3), d("2024-01-01")],
        ),
        (
            "sum(total) != 0 or min(stage) >= 'A'",
            RuleKind::Aggregate,
            r#"((SUM(t."total") <> ?1) OR (MIN(t."stage") >= ?2))"#,
            r#"((SUM(t."total") <> $1::bigint) OR (MIN(t."stage" COLLATE "C") COLLATE "C" >= $2::text))"#,
            vec![Value::Money(0), Value::Text("A".into())],
        ),
    ];
    for (src, kind, sqlite, pg, params) in cases {
        let r = rule(src, kind);
        assert_eq!(
            sql(&r, Dialect::Sqlite),
            (sqlite.to_string(), params.clone()),
            "{src}"
        );
        assert_eq!(
            sql(&r, Dialect::Postgres),
            (pg.to_string(), params),
            "{src}"
        );
    }
    // `like` patterns: GLOB with its wildcards escaped in SQLite, LIKE without escape in PG.
    let r = rule(
        r#"status like "A%_*?[" or status not like 'x'"#,
        RuleKind::Row,
    );
    assert_eq!(
        sql(&r, Dialect::Sqlite),
        (
            r#"((t."status" GLOB ?1) OR (t."status" NOT GLOB ?2))"#.to_string(),
            vec![Value::Text("A*?[*][?][[]".into()), Value::Text("x".into())]
        )
    );
    assert_eq!(
        sql(&r, Dialect::Postgres),
        (
            r#"((t."status" LIKE $1::text ESCAPE '') OR (t."status" NOT LIKE $2::text ESCAPE ''))"#
                .to_string(),
            vec![Value::Text("A%_*?[".into()), Value::Text("x".into())]
        )
    );
}

#[test]
fn placeholders_continue_after_existing_params() {
    let r = rule("qty in (1, 2) and name = 'x'", RuleKind::Row);
    let ctx = SqlContext {
        dialect: Dialect::Postgres,
        column: &column,
        count_expr: String::new(),
    };
    let mut params = vec![Value::Int(10), Value::Text("kept".into())];
    let text = r.to_sql(&ctx, &mut params);
    assert_eq!(
        text,
        r#"((t."qty" IN ($3::bigint, $4::bigint)) AND (t."name" = $5::text))"#
    );
    assert_eq!(params.len(), 5);
    assert_eq!(params[1], Value::Text("kept".into()));
}

#[test]
fn literals_never_reach_the_sql_text() {
    let evil = "Robert'); DROP TABLE x;--";
    for src in [
        format!("name = \"{evil}\""),
        format!("name in ('a', \"{evil}\")"),
        format!("name like \"%{evil}%\""),
        format!("not name < \"{evil}\""),
    ] {
        let r = rule(&src, RuleKind::Row);
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let (text, params) = sql(&r, dialect);
            assert!(!text.contains("DROP"), "{text}");
            assert!(!text.contains("Robert"), "{text}");
            assert!(!text.contains(';'), "{text}");
            assert!(
                params
                    .iter()
                    .any(|p| p.as_str().is_some_and(|s| s.contains(evil))),
                "{params:?}"
            );
        }
    }
    let r = rule(&format!("min(name) = \"{evil}\""), RuleKind::Aggregate);
    let (text, params) = sql(&r, Dialect::Postgres);
    assert!(
        !text.contains("DROP") && params == vec![Value::Text(evil.into())],
        "{text}"
    );
}

#[test]
fn fields_lists_each_field_once_in_order() {
    let r = rule(
        "payment.paid_on > due_on and (due_on is null or ready)",
        RuleKind::Row,
    );
    assert_eq!(
        r.fields(),
        vec![
            (Some("payment".to_string()), "paid_on".to_string()),
            (None, "due_on".to_string()),
            (None, "ready".to_string()),
        ]
    );
    let r = rule(
        "count() > 1 and sum(total) > max(balance)",
        RuleKind::Aggregate,
    );
    assert_eq!(
        r.fields(),
        vec![(None, "total".to_string()), (None, "balance".to_string())]
    );
    let copy = r.clone();
    assert_eq!(copy.source(), "count() > 1 and sum(total) > max(balance)");
    assert_eq!(copy.to_string(), copy.source());
    assert!(format!("{copy:?}").contains("Rule"));
}

#[test]
fn eval_reads_ints_for_money_and_text_for_dates() {
    // A store may hand back SQLite's storage types; the evaluator reads them as the field's type.
    let r = rule(
        "total = 12.50 and ready and due_on = 2024-01-31",
        RuleKind::Row,
    );
    let get = |_: Option<&str>, n: &str| match n {
        "total" => Value::Int(1250),
        "ready" => Value::Int(1),
        "due_on" => Value::Text("2024-01-31".into()),
        _ => Value::Null,
    };
    assert_eq!(r.eval(&get), Some(true));
    // A row rule over a group is unknown; an aggregate rule over one record is a group of one.
    assert_eq!(r.eval_group(&[&get]), None);
    let agg = rule("count() = 1 and sum(total) = 12.5", RuleKind::Aggregate);
    assert_eq!(agg.eval(&get), Some(true));
}

proptest! {
    #[test]
    fn any_text_compiles_or_fails_with_a_span_inside_it(src in "\\PC{0,40}") {
        for kind in [RuleKind::Row, RuleKind::Aggregate] {
            if let Err(e) = compile(&src, &TestScope, kind) {
                prop_assert!(e.span.start <= e.span.end && e.span.end <= src.len());
                prop_assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
                prop_assert!(!e.message.is_empty());
            }
        }
    }

    #[test]
    fn rule_shaped_text_never_panics(
        parts in proptest::collection::vec(
            prop::sample::select(vec![
                "stage", "qty", "ready", "due_on", "payment.at", "sum(total)", "count()",
                "min(stage)", "=", "!=", "<", ">=", "in", "not", "like", "is", "null", "and",
                "or", "(", ")", ",", "\"A%\"", "12.50", "-3", "1", "2024-01-31",
                "2024-01-31T10:00", "true",
            ]),
            0..12,
        )
    ) {
        let src = parts.join(" ");
        for kind in [RuleKind::Row, RuleKind::Aggregate] {
            if let Ok(r) = compile(&src, &TestScope, kind) {
                let _ = r.eval(&|_: Option<&str>, _: &str| Value::Null);
                prop_assert!(check_sql(&r).is_ok(), "{}", src);
            }
        }
    }

    #[test]
    fn any_string_literal_round_trips_into_params(s in "\\PC{0,20}") {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        let r = rule(&format!("name = \"{escaped}\""), RuleKind::Row);
        let (_, params) = sql(&r, Dialect::Sqlite);
        prop_assert_eq!(params, vec![Value::Text(s.clone())]);
        let get = |_: Option<&str>, _: &str| Value::Text(s.clone());
        prop_assert_eq!(r.eval(&get), Some(true));
    }
}

#[test]
fn a_rule_reads_in_words_for_people_who_do_not_write_rules() {
    let words = |src: &str, kind: RuleKind| {
        compile(src, &TestScope, kind)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .words()
    };
    assert_eq!(
        words(
            "stage = 'OPEN' and (total > 100 or due_on < 2024-01-31)",
            RuleKind::Row
        ),
        "stage is OPEN and (total is more than 100.00 or due on is before 2024-01-31)"
    );
    assert_eq!(
        words(
            "stage not in ('WON', 'LOST') and paid_on is null and not settled",
            RuleKind::Row
        ),
        "(stage is not one of WON, LOST and paid on is empty) and not (settled)"
    );
    assert_eq!(
        words("payment.paid_on >= 2024-02-01", RuleKind::Row),
        "the payment's paid on is on or after 2024-02-01"
    );
    assert_eq!(
        words("count() > 2 and sum(total) <= 5000", RuleKind::Aggregate),
        "the number of them is more than 2 and the sum of total is at most 5000.00"
    );
}
