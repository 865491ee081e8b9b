//! The rule language's three implementations agree: SQL on SQLite, SQL on PostgreSQL and the
//! in-memory evaluator give the same answer for generated well-typed rules over generated
//! records — nulls, `like` with `%` and `_`, negative money, dates and date-times included.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use offboard_model::rule::{compile, Dialect, RuleKind, Scope, SqlContext};
use offboard_model::{Date, DateTime, FieldType, Value};
use offboard_store::Store;
use offboard_testkit::{Backend, TestDb};

use crate::helpers::store_with;

type Get<'a> = dyn Fn(Option<&str>, &str) -> Value + 'a;

const MODEL: &str = r#"
[model]
name = "agree"
[customer]
kinds = ["x"]
[record.t]
owner = "customer"
fields = { s = "text", i = "int", m = "money", d = "date", dt = "datetime", b = "bool" }
"#;

const FIELDS: [(&str, FieldType); 6] = [
    ("s", FieldType::Text),
    ("i", FieldType::Int),
    ("m", FieldType::Money),
    ("d", FieldType::Date),
    ("dt", FieldType::DateTime),
    ("b", FieldType::Bool),
];

struct T;

impl Scope for T {
    fn field(&self, q: Option<&str>, name: &str) -> Option<FieldType> {
        if q.is_some() {
            return None;
        }
        FIELDS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }
    fn field_names(&self, _: Option<&str>) -> Vec<String> {
        FIELDS.iter().map(|(n, _)| n.to_string()).collect()
    }
    fn kind_name(&self, _: Option<&str>) -> String {
        "t".into()
    }
}

/// One generated record: its group (customer) and values in FIELDS order.
#[derive(Debug, Clone)]
struct Row {
    group: i64,
    values: Vec<Value>,
}

fn texts() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop::sample::select(vec![
            "", "a", "A", "ab", "abc", "b%", "a_c", "é", "éa", "Ab", "zz", "a c"
        ])
        .prop_map(|s| Value::Text(s.into())),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    (
        1i64..4,
        texts(),
        prop_oneof![Just(Value::Null), (-2i64..3).prop_map(Value::Int)],
        prop_oneof![
            Just(Value::Null),
            prop::sample::select(vec![-250i64, -200, 0, 150, 200, 1250]).prop_map(Value::Money)
        ],
        prop_oneof![
            Just(Value::Null),
            (0i32..3).prop_map(|n| Value::Date(Date::from_days(19_723 + n)))
        ],
        prop_oneof![
            Just(Value::Null),
            prop::sample::select(vec![
                "2024-01-02 00:00:00",
                "2024-01-02 10:00:00",
                "2024-01-01 23:59:59",
                "2024-01-03 00:00:00"
            ])
            .prop_map(|s| Value::DateTime(DateTime::parse(s).unwrap_or(DateTime::from_seconds(0)))),
        ],
        prop_oneof![Just(Value::Null), any::<bool>().prop_map(Value::Bool)],
    )
        .prop_map(|(group, s, i, m, d, dt, b)| Row {
            group,
            values: vec![s, i, m, d, dt, b],
        })
}

fn op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["=", "!=", "<>", "<", "<=", ">", ">="])
}

/// A comparison leaf, well typed by construction.
fn leaf() -> impl Strategy<Value = String> {
    let pattern = prop::sample::select(vec![
        "a%", "%a", "_", "a_c", "%", "é%", "_b%", "A%", "%c", "a c", "",
    ]);
    let text_lit = prop::sample::select(vec!["\"a\"", "\"ab\"", "\"A\"", "\"é\"", "\"\"", "'zz'"]);
    prop_oneof![
        (op(), text_lit.clone()).prop_map(|(o, l)| format!("s {o} {l}")),
        (prop::bool::ANY, pattern)
            .prop_map(|(n, p)| format!("s {}like \"{p}\"", if n { "not " } else { "" })),
        (prop::bool::ANY, prop::collection::vec(text_lit, 1..3)).prop_map(|(n, l)| format!(
            "s {}in ({})",
            if n { "not " } else { "" },
            l.join(", ")
        )),
        (op(), -2i64..3).prop_map(|(o, n)| format!("i {o} {n}")),
        (prop::bool::ANY, prop::collection::vec(-2i64..3, 1..3)).prop_map(|(n, l)| {
            format!(
                "i {}in ({})",
                if n { "not " } else { "" },
                l.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }),
        (
            op(),
            prop::sample::select(vec!["0", "1.50", "-2", "-2.50", "12.5", "2"])
        )
            .prop_map(|(o, l)| format!("m {o} {l}")),
        (
            op(),
            prop::sample::select(vec!["2024-01-01", "2024-01-02", "\"2024-01-03\""])
        )
            .prop_map(|(o, l)| format!("d {o} {l}")),
        (
            op(),
            prop::sample::select(vec![
                "2024-01-02T10:00:00",
                "2024-01-02",
                "\"2024-01-01 23:59:59\""
            ])
        )
            .prop_map(|(o, l)| format!("dt {o} {l}")),
        op().prop_map(|o| format!("dt {o} d")),
        op().prop_map(|o| format!("d {o} dt")),
        prop::sample::select(vec![
            "b",
            "not b",
            "b = 1",
            "b = false",
            "b != true",
            "b <> 0"
        ])
        .prop_map(String::from),
        (
            prop::sample::select(vec!["s", "i", "m", "d", "dt", "b"]),
            prop::bool::ANY
        )
            .prop_map(|(f, n)| format!("{f} is {}null", if n { "not " } else { "" })),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn aggregate() -> impl Strategy<Value = String> {
    let agg_leaf = prop_oneof![
        (op(), -3i64..4).prop_map(|(o, n)| format!("count() {o} {n}")),
        (op(), prop::sample::select(vec!["0", "-2.50", "1.50", "-4"]))
            .prop_map(|(o, l)| format!("sum(m) {o} {l}")),
        (op(), -2i64..3).prop_map(|(o, n)| format!("sum(i) {o} {n}")),
        (op(), prop::sample::select(vec!["\"a\"", "\"b\"", "\"é\""]))
            .prop_map(|(o, l)| format!("min(s) {o} {l}")),
        (op(), prop::sample::select(vec!["\"a\"", "\"zz\""]))
            .prop_map(|(o, l)| format!("max(s) {o} {l}")),
        (op(), prop::sample::select(vec!["2024-01-01", "2024-01-02"]))
            .prop_map(|(o, l)| format!("max(d) {o} {l}")),
        (op(), prop::sample::select(vec!["2024-01-02T00:00:00"]))
            .prop_map(|(o, l)| format!("min(dt) {o} {l}")),
        prop::sample::select(vec!["sum(m) is null", "max(i) is not null"]).prop_map(String::from),
    ];
    agg_leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
            inner.prop_map(|a| format!("not ({a})")),
        ]
    })
}

fn ph(d: Dialect, n: usize) -> String {
    match d {
        Dialect::Sqlite => format!("?{n}"),
        Dialect::Postgres => format!("${n}"),
    }
}

fn load(store: &mut Store, rows: &[Row]) {
    let d = store.dialect();
    let db = store.db();
    db.execute("DELETE FROM t", &[]).unwrap();
    let cols = (1..=8).map(|i| ph(d, i)).collect::<Vec<_>>().join(", ");
    let sql = format!("INSERT INTO t (id, customer_id, s, i, m, d, dt, b) VALUES ({cols})");
    for (n, r) in rows.iter().enumerate() {
        let mut p = vec![Value::Int(n as i64 + 1), Value::Int(r.group)];
        p.extend(r.values.iter().cloned());
        db.execute(&sql, &p).unwrap();
    }
}

fn sql_rows(store: &mut Store, rule: &offboard_model::rule::Rule) -> Vec<i64> {
    let d = store.dialect();
    let column = |_: Option<&str>, name: &str| format!("t.\"{name}\"");
    let ctx = SqlContext {
        dialect: d,
        column: &column,
        count_expr: "t.\"id\"".into(),
    };
    let mut params = Vec::new();
    let cond = rule.to_sql(&ctx, &mut params);
    let sql = match rule.kind() {
        RuleKind::Row => format!("SELECT t.id FROM t WHERE {cond} ORDER BY t.id"),
        RuleKind::Aggregate => format!(
            "SELECT c.id FROM customers c LEFT JOIN t ON t.customer_id = c.id GROUP BY c.id HAVING {cond} ORDER BY c.id"
        ),
    };
    let rows = store
        .db()
        .query(&sql, &params, &[FieldType::Int])
        .unwrap_or_else(|e| panic!("{sql}\n{params:?}\n{e}"));
    rows.into_iter().filter_map(|r| r[0].as_i64()).collect()
}

fn getter(r: &Row) -> impl Fn(Option<&str>, &str) -> Value + '_ {
    move |_, name| {
        let i = FIELDS.iter().position(|(n, _)| *n == name).unwrap_or(0);
        r.values[i].clone()
    }
}

fn memory_rows(rule: &offboard_model::rule::Rule, rows: &[Row]) -> Vec<i64> {
    match rule.kind() {
        RuleKind::Row => rows
            .iter()
            .enumerate()
            .filter(|(_, r)| rule.eval(&getter(r)) == Some(true))
            .map(|(i, _)| i as i64 + 1)
            .collect(),
        RuleKind::Aggregate => (1..4)
            .filter(|g| {
                let members: Vec<&Row> = rows.iter().filter(|r| r.group == *g).collect();
                let getters: Vec<Box<Get<'_>>> = members
                    .iter()
                    .map(|r| Box::new(getter(r)) as Box<Get<'_>>)
                    .collect();
                let refs: Vec<&Get<'_>> = getters.iter().map(|g| g.as_ref()).collect();
                rule.eval_group(&refs) == Some(true)
            })
            .collect(),
    }
}

fn stores() -> (Vec<TestDb>, Vec<Store>) {
    let mut dbs = Vec::new();
    let mut stores = Vec::new();
    for b in [Backend::Sqlite, Backend::Postgres] {
        if let Some(db) = TestDb::new(b) {
            let mut s = store_with(&db, MODEL);
            for id in 1..4 {
                let sql = format!("INSERT INTO customers (id, number, kind, name, status, created_at) VALUES ({}, {}, 'x', 'c', 'active', {})", ph(s.dialect(), 1), ph(s.dialect(), 2), ph(s.dialect(), 3));
                s.db()
                    .execute(
                        &sql,
                        &[
                            Value::Int(id),
                            Value::Text(format!("N{id}")),
                            Value::DateTime(DateTime::from_seconds(0)),
                        ],
                    )
                    .unwrap();
            }
            dbs.push(db);
            stores.push(s);
        }
    }
    (dbs, stores)
}

fn agree(strategy: impl Strategy<Value = String>, kind: RuleKind, cases: u32) {
    let (_dbs, stores) = stores();
    let stores = std::cell::RefCell::new(stores);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(
            &(strategy, prop::collection::vec(row(), 0..10)),
            |(text, rows)| {
                let rule = compile(&text, &T, kind)
                    .map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                let expected = memory_rows(&rule, &rows);
                for s in stores.borrow_mut().iter_mut() {
                    load(s, &rows);
                    let got = sql_rows(s, &rule);
                    prop_assert_eq!(
                        &got,
                        &expected,
                        "{:?} disagrees on `{}` over {:?}",
                        s.dialect(),
                        text,
                        rows
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn row_rules_agree_in_sqlite_postgres_and_memory() {
    agree(expr(), RuleKind::Row, 300);
}

#[test]
fn aggregate_rules_agree_in_sqlite_postgres_and_memory() {
    agree(aggregate(), RuleKind::Aggregate, 200);
}
