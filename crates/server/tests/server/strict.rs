//! The API accepts only what it understands: unknown fields, wrong types and missing fields
//! are refused with nothing changed; an operation that changed nothing is a 409; who asks is
//! known before the body is read; and each role may do exactly what its preset allows.

use serde_json::{json, Value};

use offboard_model::Model;
use offboard_store::Database;
use offboard_testkit::{conformance, TestDb};

use crate::{legal, start, Server};

/// Tokens for a clerk and a manager too (the server has an admin and a viewer).
pub fn more_tokens(db: &TestDb, _server: &Server) -> (String, String) {
    let model = s_model(db);
    let (mut store, _) = Database::connect(&db.url)
        .unwrap()
        .with_model(model)
        .unwrap();
    store.add_user("cleo", "clerk").unwrap();
    store.add_user("max", "manager").unwrap();
    (
        store.create_token("cleo", None).unwrap(),
        store.create_token("max", None).unwrap(),
    )
}

pub fn s_model(db: &TestDb) -> Model {
    let mut d = Database::connect(&db.url).unwrap();
    let text = d.stored_model().unwrap().unwrap();
    Model::parse("stored", &text).unwrap()
}

pub(crate) fn state(s: &Server) -> Value {
    let r = s.api("GET", "/api/v1/customers?view=all", &s.admin, Value::Null);
    let mut list: Vec<Value> = r.json()["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!([c["id"], c["status"]]))
        .collect();
    list.sort_by_key(|v| v[0].as_i64());
    json!(list)
}

conformance!(
    a_typo_in_a_field_changes_nothing_and_names_the_field,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let before = state(&s);
        let r = s.api(
            "POST",
            "/api/v1/delete",
            &s.admin,
            json!({ "customers": [14], "dryrun": true }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["code"], "invalid_body");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `dry_run`"),
            "{e}"
        );
        assert_eq!(e["details"]["field"], "dryrun");
        assert_eq!(state(&s), before, "a typo changed data");

        // A purge takes no list of customers: it does not silently purge them all.
        let r = s.api(
            "POST",
            "/api/v1/purge",
            &s.admin,
            json!({ "customers": [15] }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(state(&s), before);
    }
);

conformance!(
    every_body_refuses_unknown_wrong_and_missing_fields,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let before = state(&s);
        let records_before = s
            .api("GET", "/api/v1/customers/11", &s.admin, Value::Null)
            .json()["records"]
            .clone();
        // (path, a required field, a valid body) per endpoint with a body.
        let endpoints: Vec<(&str, &str, Value)> = vec![
            (
                "/api/v1/deactivate",
                "customers",
                json!({ "customers": [14], "reason": "Moved away", "dry_run": true }),
            ),
            (
                "/api/v1/reactivate",
                "customers",
                json!({ "customers": [14], "dry_run": true }),
            ),
            (
                "/api/v1/delete",
                "customers",
                json!({ "customers": [14], "dry_run": true }),
            ),
            (
                "/api/v1/undelete",
                "customers",
                json!({ "customers": [15], "dry_run": true }),
            ),
            (
                "/api/v1/transfer",
                "from",
                json!({ "from": 11, "to": 14, "dry_run": true }),
            ),
            (
                "/api/v1/merge",
                "duplicate",
                json!({ "duplicate": 11, "into": 14, "dry_run": true }),
            ),
            (
                "/api/v1/records/invoice/delete",
                "ids",
                json!({ "ids": [1], "dry_run": true }),
            ),
            (
                "/api/v1/customers",
                "name",
                json!({ "kind": "person", "name": "New" }),
            ),
        ];
        for (path, first, valid) in &endpoints {
            let mut unknown = valid.clone();
            unknown["colour"] = json!("red");
            let r = s.api("POST", path, &s.admin, unknown);
            assert_eq!(r.status, 422, "{path} unknown field: {}", r.body);
            assert_eq!(r.json()["error"]["details"]["field"], "colour");

            let mut wrong = valid.clone();
            wrong[*first] = json!({ "not": "this" });
            let r = s.api("POST", path, &s.admin, wrong);
            assert_eq!(r.status, 422, "{path} wrong type of {first}: {}", r.body);

            let mut missing = valid.clone();
            missing.as_object_mut().unwrap().remove(*first);
            let r = s.api("POST", path, &s.admin, missing);
            assert!(
                (400..500).contains(&r.status),
                "{path} without {first}: {} {}",
                r.status,
                r.body
            );
            assert!(r.json()["error"]["code"].is_string());

            let r = s.api("POST", path, &s.admin, json!("not an object"));
            assert!((400..500).contains(&r.status), "{path}: {}", r.body);
        }
        let r = s.api(
            "POST",
            "/api/v1/records/invoice/delete",
            &s.admin,
            json!({ "ids": [] }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert_eq!(state(&s), before, "a refused body changed data");
        let records_after = s
            .api("GET", "/api/v1/customers/11", &s.admin, Value::Null)
            .json()["records"]
            .clone();
        assert_eq!(records_after, records_before);
    }
);

conformance!(
    an_operation_that_changed_nothing_answers_409_with_the_plan,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        // Customer 11 has an open invoice: its deactivation is blocked.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [11], "reason": "Moved away" }),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["details"]["blocked"], 1);
        assert_eq!(
            e["details"]["customers"][0]["blockers"][0]["rule"],
            "open-invoices"
        );
        // The dry run is a preview: 200.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [11], "reason": "Moved away", "dry_run": true }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        // A bulk call that did some answers 200 with the plan.
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [11, 14], "reason": "Moved away", "open_activities": "complete" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["deactivated"], 1);
        // A record deletion of an owner that does not exist says so.
        let r = s.api(
            "POST",
            "/api/v1/records/invoice/delete",
            &s.admin,
            json!({ "owner": -1 }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("-1"));
    }
);

conformance!(who_asks_is_known_before_the_body_is_read, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    let r = s.call(
        "POST",
        "/api/v1/delete",
        &[("Content-Type", "application/json")],
        "{not json",
    );
    assert_eq!(r.status, 401, "{}", r.body);
    let r = s.api("POST", "/api/v1/delete", "obt_wrong", json!({ "bogus": 1 }));
    assert_eq!(r.status, 401, "{}", r.body);
});

/// Each role's answer per endpoint, written out: `V C M A` for viewer, clerk, manager,
/// admin; `y` allowed (the dry run or the read answers 2xx), `-` refused (403).
const LEGAL_MATRIX: &[(&str, &str, &str, &str)] = &[
    // method, path, body, allowed for V C M A
    ("GET", "/api/v1/customers", "", "yyyy"),
    ("GET", "/api/v1/stats", "", "yyyy"),
    ("GET", "/api/v1/audit", "", "--yy"),
    (
        "POST",
        "/api/v1/deactivate",
        r#"{"customers":[14],"reason":"Moved away","dry_run":true}"#,
        "-yyy",
    ),
    (
        "POST",
        "/api/v1/delete",
        r#"{"customers":[14],"dry_run":true}"#,
        "--yy",
    ),
    (
        "POST",
        "/api/v1/undelete",
        r#"{"customers":[15],"dry_run":true}"#,
        "-yyy",
    ),
    (
        "POST",
        "/api/v1/transfer",
        r#"{"from":11,"to":14,"dry_run":true}"#,
        "--yy",
    ),
    (
        "POST",
        "/api/v1/merge",
        r#"{"duplicate":11,"into":14,"dry_run":true}"#,
        "--yy",
    ),
    (
        "POST",
        "/api/v1/records/invoice/delete",
        r#"{"ids":[1],"dry_run":true}"#,
        "---y",
    ),
    (
        "POST",
        "/api/v1/records/activity/delete",
        r#"{"ids":[2],"dry_run":true}"#,
        "-yyy",
    ),
];

conformance!(
    each_role_may_do_exactly_what_the_legal_preset_allows,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let (clerk, manager) = more_tokens(&db, &s);
        let tokens = [s.viewer.clone(), clerk, manager, s.admin.clone()];
        let before = state(&s);
        for (method, path, body, allowed) in LEGAL_MATRIX {
            let body: Value = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(body).unwrap()
            };
            let r = s.call(method, path, &[], "");
            assert_eq!(r.status, 401, "{method} {path} without credentials");
            for (token, may) in tokens.iter().zip(allowed.chars()) {
                let r = s.api(method, path, token, body.clone());
                match may {
                    'y' => assert!(
                        r.status < 300,
                        "{method} {path} ({allowed}): {} {}",
                        r.status,
                        r.body
                    ),
                    _ => assert_eq!(r.status, 403, "{method} {path} ({allowed}): {}", r.body),
                }
            }
        }
        assert_eq!(state(&s), before, "dry runs and refusals changed data");
    }
);

conformance!(
    a_clerk_cannot_move_a_record_by_editing_its_owner,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let (clerk, _) = more_tokens(&db, &s);
        let r = s.api(
            "PATCH",
            "/api/v1/records/activity/2",
            &clerk,
            json!({ "customer_id": 11 }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.api("GET", "/api/v1/records/activity/2", &s.admin, Value::Null);
        assert_eq!(r.json()["customer_id"], 14);
    }
);

conformance!(
    concurrent_wrong_passwords_are_counted_before_they_are_checked,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let addr = s.addr;
        let guesses: Vec<_> = (0..40)
            .map(|_| {
                std::thread::spawn(move || {
                    crate::request(
                        addr,
                        "POST",
                        "/api/v1/login",
                        &[("Content-Type", "application/json")],
                        r#"{"user":"vic","password":"guess"}"#,
                    )
                    .status
                })
            })
            .collect();
        let codes: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
        let checked = codes.iter().filter(|c| **c == 401).count();
        assert!(checked <= 5, "{checked} guesses were checked: {codes:?}");
        assert_eq!(codes.iter().filter(|c| **c == 429).count(), 40 - checked);
        let r = s.api(
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "vic", "password": "viewer-pass" }),
        );
        assert_eq!(
            r.status, 429,
            "the right password after the burst: {}",
            r.body
        );
    }
);

conformance!(
    revoking_a_user_ends_their_browser_sessions_too,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.api(
            "POST",
            "/api/v1/login",
            "",
            json!({ "user": "ada", "password": "admin-pass" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let cookie = r
            .header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            s.call("GET", "/api/v1/me", &[("Cookie", &cookie)], "")
                .status,
            200
        );
        let (mut store, _) = Database::connect(&db.url)
            .unwrap()
            .with_model(s_model(&db))
            .unwrap();
        store.revoke_tokens("ada").unwrap();
        assert_eq!(
            s.call("GET", "/api/v1/me", &[("Cookie", &cookie)], "")
                .status,
            401
        );
    }
);

conformance!(an_origin_of_another_scheme_is_another_site, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    let auth = format!("Bearer {}", s.admin);
    let origin = format!("https://{}", s.addr);
    let r = s.call(
        "POST",
        "/api/v1/undelete",
        &[("Authorization", &auth), ("Origin", &origin)],
        r#"{"customers":[15],"dry_run":true}"#,
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let same = format!("http://{}", s.addr);
    let r = s.call(
        "POST",
        "/api/v1/undelete",
        &[("Authorization", &auth), ("Origin", &same)],
        r#"{"customers":[15],"dry_run":true}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
});

conformance!(
    the_move_to_form_asks_for_the_reason_a_deactivation_instead_needs,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let cookie = s.session("ada", "admin-pass");
        let page = s.page("GET", "/delete?ids=11", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"name="move_to""#), "{}", page.body);
        assert!(
            page.body.contains(r#"<select name="reason">"#),
            "{}",
            page.body
        );
        assert!(page.body.contains("Moved away"));
        // A customer with a paid invoice: the invoice stays, so it is deactivated instead.
        let cy = s
            .api(
                "POST",
                "/api/v1/customers",
                &s.admin,
                json!({ "kind": "person", "name": "Cy Paid" }),
            )
            .json()["id"]
            .clone();
        let r = s.api(
            "POST",
            "/api/v1/records/invoice",
            &s.admin,
            json!({ "customer_id": cy, "total": 100, "balance": 0, "issued_on": "2024-01-01" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.page(
            "POST",
            "/delete",
            &cookie,
            &format!("ids={cy}&move_to=14&reason=Moved+away&confirm=yes"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let c = s
            .api(
                "GET",
                &format!("/api/v1/customers/{cy}"),
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(c["status"], "deactivated", "{}", r.body);
        assert_eq!(c["deactivation_reason"], "Moved away");
    }
);

conformance!(
    a_guesser_elsewhere_cannot_lock_the_real_user_out,
    |db: TestDb| {
        let s = crate::start_with(&db, "legal", &legal(), |s| s.trust_forwarded_for(true));
        let login = |from: &str, user: &str, password: &str| {
            s.call(
                "POST",
                "/api/v1/login",
                &[
                    ("Content-Type", "application/json"),
                    ("X-Forwarded-For", from),
                ],
                &json!({ "user": user, "password": password }).to_string(),
            )
            .status
        };
        for _ in 0..5 {
            assert_eq!(login("10.0.0.1", "vic", "guess"), 401);
        }
        assert_eq!(
            login("10.0.0.1", "vic", "viewer-pass"),
            429,
            "the guesser's address is stopped"
        );
        assert_eq!(
            login("10.0.0.2", "vic", "viewer-pass"),
            200,
            "the real user elsewhere is not"
        );
        // One address guessing many names is stopped too.
        for i in 0..20 {
            assert_eq!(login("10.0.0.3", &format!("user{i}"), "guess"), 401);
        }
        assert_eq!(login("10.0.0.3", "ada", "admin-pass"), 429);
        assert_eq!(login("10.0.0.4", "ada", "admin-pass"), 200);
    }
);

conformance!(
    deleting_a_record_in_the_ui_asks_first_naming_it_and_its_customer,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let cookie = s.session("ada", "admin-pass");
        let page = s.page(
            "GET",
            "/records/activity/delete?ids=2&customer=14",
            &cookie,
            "",
        );
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("Delete activity 2 of K14 Ed Clean? It goes to the records recycle bin"),
            "{}",
            page.body
        );
        // Asking deleted nothing; the form's button does.
        let c = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(c["records"]["activity"], 1);
        let r = s.page(
            "POST",
            "/records/activity/delete",
            &cookie,
            "ids=2&customer=14",
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let c = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(c["records"]["activity"], 0);
    }
);
