//! Fuzzing the API's bodies: JSON of every shape, with the endpoints' own field names among
//! others, sent to every endpoint that takes a body. Never a 500 (a busy 503 at most), always
//! the error shape on a refusal, and a refusal changes nothing. `OFFBOARD_FUZZ_CASES` sets
//! the cases (48 by default).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

use offboard_testkit::{conformance, TestDb};

use crate::{legal, start, Server};

fn cases() -> u32 {
    std::env::var("OFFBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

const PATHS: [&str; 12] = [
    "/api/v1/deactivate",
    "/api/v1/reactivate",
    "/api/v1/delete",
    "/api/v1/undelete",
    "/api/v1/purge",
    "/api/v1/transfer",
    "/api/v1/merge",
    "/api/v1/customers",
    "/api/v1/records/invoice",
    "/api/v1/records/invoice/delete",
    "/api/v1/records/activity/delete",
    "/api/v1/login",
];

const KEYS: [&str; 20] = [
    "customers",
    "dry_run",
    "reason",
    "open_activities",
    "move_to",
    "from",
    "to",
    "kinds",
    "duplicate",
    "into",
    "ids",
    "owner",
    "kind",
    "name",
    "email",
    "customer_id",
    "balance",
    "user",
    "password",
    "dryrun",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        prop_oneof![
            Just(11i64),
            Just(14),
            Just(15),
            Just(-1),
            Just(0),
            any::<i64>()
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("Moved away".to_string()),
            Just("complete".to_string()),
            Just("remove".to_string()),
            Just("person".to_string()),
            "[ -~]{0,12}",
        ]
        .prop_map(Value::from),
    ]
}

fn body() -> impl Strategy<Value = Value> {
    let value = leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        4 => prop::collection::btree_map(prop::sample::select(&KEYS[..]), value.clone(), 0..5)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        1 => value,
    ]
}

fn state(s: &Server) -> Value {
    let customers = s
        .api("GET", "/api/v1/customers?view=all", &s.admin, Value::Null)
        .json();
    let audit = s
        .api("GET", "/api/v1/audit?limit=10000", &s.admin, Value::Null)
        .json();
    json!([customers["customers"], audit.as_array().map(Vec::len)])
}

conformance!(
    any_body_is_answered_without_a_500_and_a_refusal_changes_nothing,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&(0..PATHS.len(), body()), |(p, body)| {
                let before = state(&s);
                let r = s.api("POST", PATHS[p], &s.admin, body.clone());
                prop_assert!(
                    r.status < 500 || r.status == 503,
                    "{} {body}: {} {}",
                    PATHS[p],
                    r.status,
                    r.body
                );
                if r.status >= 400 {
                    let e = r.json();
                    prop_assert!(e["error"]["code"].is_string(), "{}", r.body);
                    prop_assert!(e["error"]["message"].is_string(), "{}", r.body);
                    prop_assert_eq!(
                        state(&s),
                        before,
                        "{} {} changed data: {}",
                        PATHS[p],
                        body,
                        r.body
                    );
                }
                Ok(())
            })
            .unwrap();
    }
);
