//! The permission matrix of the API: every endpoint × every role × no credentials, for each
//! preset's `[permissions]`, the expected answer written in the table. A permission is decided
//! before anything else, so a body that would be refused later (an unknown field) shows the
//! permission alone: 403 where the role may not, something else where it may. Every cell is
//! asserted, and nothing changes: changes are dry runs or bodies that fail after the check.

use serde_json::Value;

use offboard_testkit::may::{ADMIN, ALL, CLERK, MANAGER, NONE};
use offboard_testkit::{conformance, PresetData, TestDb, PRESET_DATA};

use crate::{start, Server};

/// (method, path, body); `{kind}` is the preset's record kind.
const ROWS: [(&str, &str, &str); 25] = [
    ("GET", "/api/v1/customers", ""),
    (
        "POST",
        "/api/v1/customers",
        r#"{"kind":"nokind","name":"x"}"#,
    ),
    ("GET", "/api/v1/customers/1", ""),
    ("PATCH", "/api/v1/customers/1", r#"{"nofield":"x"}"#),
    ("GET", "/api/v1/customers/1/records/{kind}", ""),
    ("POST", "/api/v1/records/{kind}", r#"{"nofield":"x"}"#),
    ("GET", "/api/v1/records/{kind}/1", ""),
    ("PATCH", "/api/v1/records/{kind}/1", r#"{"nofield":"x"}"#),
    (
        "POST",
        "/api/v1/records/{kind}/delete",
        r#"{"ids":[1],"dry_run":true}"#,
    ),
    (
        "POST",
        "/api/v1/deactivate",
        r#"{"customers":[1],"dry_run":true}"#,
    ),
    (
        "POST",
        "/api/v1/reactivate",
        r#"{"customers":[1],"dry_run":true}"#,
    ),
    (
        "POST",
        "/api/v1/delete",
        r#"{"customers":[1],"dry_run":true}"#,
    ),
    (
        "POST",
        "/api/v1/undelete",
        r#"{"customers":[3],"dry_run":true}"#,
    ),
    ("POST", "/api/v1/purge", r#"{"dry_run":true}"#),
    (
        "POST",
        "/api/v1/transfer",
        r#"{"from":1,"to":2,"dry_run":true}"#,
    ),
    (
        "POST",
        "/api/v1/merge",
        r#"{"duplicate":1,"into":2,"dry_run":true}"#,
    ),
    ("GET", "/api/v1/audit", ""),
    ("GET", "/api/v1/audit/verify", ""),
    ("GET", "/api/v1/stats", ""),
    ("GET", "/api/v1/model", ""),
    ("GET", "/api/v1/me", ""),
    (
        "POST",
        "/api/v1/records/{guarded}/delete",
        r#"{"ids":[1],"dry_run":true}"#,
    ),
    ("GET", "/api/v1/jobs", ""),
    ("GET", "/api/v1/jobs/999", ""),
    ("GET", "/api/v1/customers/export?format=csv", ""),
];

/// Per preset, per row of [`ROWS`]: who may.
fn expected(preset: &str) -> [&'static str; ROWS.len()] {
    match preset {
        "erp" => [
            ALL, CLERK, ALL, CLERK, ALL, CLERK, ALL, CLERK, NONE, // erp deletes no document
            CLERK, MANAGER, CLERK, CLERK, ADMIN, MANAGER, MANAGER, MANAGER, MANAGER, ALL, ALL, ALL,
            NONE, ALL, ALL, MANAGER,
        ],
        "legal" => [
            ALL, CLERK, ALL, CLERK, ALL, CLERK, ALL, CLERK, CLERK, CLERK, CLERK, MANAGER, CLERK,
            ADMIN, MANAGER, MANAGER, MANAGER, MANAGER, ALL, ALL, ALL,
            ADMIN, // an invoice is deleted by an admin only
            ALL, ALL, MANAGER,
        ],
        "lending" | "membership" => [
            ALL,
            CLERK,
            ALL,
            CLERK,
            ALL,
            CLERK,
            ALL,
            CLERK,
            // lending: a monitoring record is deleted by a manager (clerks: processes, payments)
            if preset == "lending" { MANAGER } else { CLERK },
            CLERK,
            CLERK,
            if preset == "lending" { MANAGER } else { CLERK },
            CLERK,
            ADMIN,
            MANAGER,
            MANAGER,
            MANAGER,
            MANAGER,
            ALL,
            ALL,
            ALL,
            NONE,
            ALL,
            ALL,
            MANAGER,
        ],
        _ => [
            ALL, CLERK, ALL, CLERK, ALL, CLERK, ALL, CLERK, CLERK, CLERK, CLERK, CLERK, CLERK,
            MANAGER, MANAGER, MANAGER, MANAGER, MANAGER, ALL, ALL, ALL, NONE, ALL, ALL, MANAGER,
        ],
    }
}

/// What a preset's database holds, to see that nothing changed.
fn state(s: &Server, p: &PresetData) -> Value {
    let mut kinds = vec![p.kind];
    kinds.extend(p.guarded.map(|g| g.0));
    let customers = s
        .api("GET", "/api/v1/customers?view=all", &s.admin, Value::Null)
        .json();
    let records: Vec<Value> = kinds
        .iter()
        .map(|k| {
            s.api(
                "GET",
                &format!("/api/v1/customers/1/records/{k}"),
                &s.admin,
                Value::Null,
            )
            .json()
        })
        .collect();
    serde_json::json!([customers["customers"], records])
}

fn matrix(db: &TestDb, p: &PresetData) {
    let files = p.files();
    let files: Vec<(&str, &str)> = files.iter().map(|(f, b)| (f.as_str(), *b)).collect();
    let s = start(db, p.name, &files);
    let expect = expected(p.name);
    let (clerk, manager) = crate::strict::more_tokens(db, &s);
    let tokens = [s.viewer.clone(), clerk, manager, s.admin.clone()];
    let before = state(&s, p);
    for (row, (method, path, body)) in ROWS.iter().enumerate() {
        let Some(path) = (match p.guarded {
            _ if !path.contains("{guarded}") => Some(path.replace("{kind}", p.kind)),
            Some((g, _)) => Some(path.replace("{guarded}", g)),
            None => None,
        }) else {
            continue;
        };
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap()
        };
        let r = s.call(
            method,
            &path,
            &[("Content-Type", "application/json")],
            &if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
        );
        assert_eq!(
            r.status, 401,
            "{}: {method} {path} without credentials",
            p.name
        );
        for (token, may) in tokens.iter().zip(expect[row].chars()) {
            let r = s.api(method, &path, token, body.clone());
            let role = ["viewer", "clerk", "manager", "admin"]
                [tokens.iter().position(|t| t == token).unwrap_or(0)];
            match may {
                'y' => assert!(
                    r.status != 403 && r.status != 401 && r.status < 500,
                    "{}: {method} {path} as {role} ({}) was refused: {} {}",
                    p.name,
                    expect[row],
                    r.status,
                    r.body
                ),
                _ => {
                    assert_eq!(
                        r.status, 403,
                        "{}: {method} {path} as {role} ({}): {}",
                        p.name, expect[row], r.body
                    );
                    assert_eq!(r.json()["error"]["code"], "forbidden");
                }
            }
        }
    }
    assert_eq!(state(&s, p), before, "{}: the matrix changed data", p.name);
}

conformance!(
    every_endpoint_answers_each_role_as_each_preset_allows,
    |db: TestDb| {
        let backend = db.backend;
        drop(db);
        for p in &PRESET_DATA {
            let Some(db) = TestDb::new(backend) else {
                return;
            };
            matrix(&db, p);
        }
    }
);
