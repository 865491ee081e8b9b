//! The promises of issue 19 that the HTTP edge keeps: only a JSON object is a body, a NUL
//! byte is bad input and never a 500, a CSV report never runs a formula, and settings never
//! save what they refuse.

use serde_json::{json, Value};

use offboard_testkit::{conformance, TestDb};

use crate::strict::state as statuses;
use crate::{legal, start, Server};

fn raw(s: &Server, path: &str, body: &str) -> crate::Reply {
    let auth = format!("Bearer {}", s.admin);
    s.call(
        "POST",
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body,
    )
}

conformance!(only_a_json_object_is_a_body, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    let before = statuses(&s);
    for (path, body) in [
        ("/api/v1/purge", "[]"),
        ("/api/v1/purge", "[false, true]"),
        ("/api/v1/delete", "[[14], null, null, false, false]"),
        ("/api/v1/deactivate", "[[14], \"Moved away\"]"),
        ("/api/v1/schedules/run", "null"),
        ("/api/v1/purge", "true"),
        ("/api/v1/purge", "7"),
        ("/api/v1/purge", "\"purge\""),
    ] {
        let r = raw(&s, path, body);
        assert_eq!(r.status, 422, "{path} {body}: {}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["code"], "invalid_body", "{path} {body}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("must be a JSON object"),
            "{e}"
        );
    }
    // Truncated JSON is not JSON, whatever field came first.
    for body in [
        "{\"dryrun\": tr",
        "{\"dry_run\": true",
        "{\"customers\": [14",
    ] {
        let r = raw(&s, "/api/v1/delete", body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.body.contains("not valid JSON"), "{}", r.body);
    }
    assert_eq!(
        statuses(&s),
        before,
        "a body that is not an object changed data"
    );
    // An object still works, and an empty body is still `{}`.
    let r = raw(
        &s,
        "/api/v1/delete",
        "{\"customers\": [14], \"dry_run\": true}",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = raw(&s, "/api/v1/purge", " ");
    assert_eq!(r.status, 409, "an empty body is {{}}: {}", r.body);
});

conformance!(a_nul_byte_is_bad_input_not_a_failure, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    for path in [
        "/api/v1/customers?search=lee%00x",
        "/api/v1/customers/suggest?q=abc%00",
        "/api/v1/customers/export?format=csv&search=%00",
    ] {
        let r = s.api("GET", path, &s.admin, Value::Null);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(r.body.contains("NUL"), "{path}: {}", r.body);
    }
    let cookie = s.session("ada", "admin-pass");
    let r = s.page("GET", "/customers?search=lee%00x", &cookie, "");
    assert_eq!(r.status, 400, "{}", r.body);
    // In a body, a NUL inside a JSON string reaches the store, which refuses it by name.
    let r = s.api(
        "POST",
        "/api/v1/customers",
        &s.admin,
        json!({ "kind": "person", "name": "Nul\u{0}Person" }),
    );
    assert!(r.status == 422 || r.status == 400, "{}", r.body);
    assert!(r.body.contains("NUL"), "{}", r.body);
    let r = s.api("GET", "/api/v1/customers?view=all", &s.admin, Value::Null);
    assert_eq!(r.json()["total"], 3, "the customer with a NUL was created");
});

conformance!(a_csv_report_never_runs_a_formula, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    for name in [
        "=HYPERLINK(\"http://evil.example\",\"click\")",
        "+1+2",
        "-3+4",
        "@SUM(A1)",
    ] {
        let r = s.api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            json!({ "kind": "person", "name": name }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let r = s.api(
        "GET",
        "/api/v1/customers/export?format=csv&view=all",
        &s.admin,
        Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut reader = csv::Reader::from_reader(r.body.as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = header.iter().position(|h| h == "name").unwrap();
    let names: Vec<String> = reader
        .records()
        .map(|row| row.unwrap()[at].to_string())
        .collect();
    for cell in &names {
        assert!(
            !cell.starts_with(['=', '+', '-', '@']),
            "a cell a spreadsheet runs: {cell}"
        );
    }
    assert!(
        names.contains(&"'=HYPERLINK(\"http://evil.example\",\"click\")".to_string()),
        "{names:?}"
    );
});

fn users(db: &TestDb) -> Vec<(String, String)> {
    let (mut store, _) = offboard_store::Database::connect(&db.url)
        .unwrap()
        .with_model(crate::strict::s_model(db))
        .unwrap();
    store
        .users()
        .unwrap()
        .into_iter()
        .map(|u| (u.name, u.role.name().to_string()))
        .collect()
}

conformance!(settings_never_save_what_they_refuse, |db: TestDb| {
    let s = start(&db, "legal", &legal());
    let cookie = s.session("ada", "admin-pass");
    let before = users(&db);
    let r = s.page(
        "POST",
        "/settings/users",
        &cookie,
        "do=add&user=tina&role=clerk&password=x",
    );
    assert!(r.body.contains("at least 8 characters"), "{}", r.body);
    assert_eq!(
        users(&db),
        before,
        "tina was added although her password was refused"
    );

    // The only admin cannot make itself (or be made) anything else.
    let r = s.page(
        "POST",
        "/settings/users",
        &cookie,
        "do=role&user=ada&role=viewer",
    );
    assert!(r.body.contains("only admin"), "{}", r.body);
    assert_eq!(users(&db), before);

    // With a second admin, one of them may step down.
    let r = s.page(
        "POST",
        "/settings/users",
        &cookie,
        "do=add&user=tina&role=admin&password=a-long-password",
    );
    assert!(r.body.contains("tina was added"), "{}", r.body);
    let r = s.page(
        "POST",
        "/settings/users",
        &cookie,
        "do=role&user=tina&role=clerk&confirm=yes",
    );
    assert!(r.body.contains("tina is now clerk"), "{}", r.body);
    assert!(users(&db).contains(&("tina".into(), "clerk".into())));
});

conformance!(
    a_merged_away_id_is_refused_by_every_change_naming_where_it_went,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            json!({ "duplicate": 14, "into": 11 }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let before = statuses(&s);
        for (path, body) in [
            ("/api/v1/delete", json!({ "customers": [14] })),
            (
                "/api/v1/deactivate",
                json!({ "customers": [14], "reason": "Moved away" }),
            ),
            (
                "/api/v1/erase",
                json!({ "customers": [14], "dry_run": true }),
            ),
        ] {
            let r = s.api("POST", path, &s.admin, body);
            assert_eq!(r.status, 409, "{path}: {}", r.body);
            let message = r.json()["error"]["message"].as_str().unwrap().to_string();
            assert!(
                message.contains("customer 14 was merged into K11 Bo Owes (id 11)"),
                "{path}: {message}"
            );
        }
        assert_eq!(statuses(&s), before);
    }
);

fn people(n: std::ops::RangeInclusive<i64>) -> String {
    let mut csv = String::from("id,number,kind,name,status\n");
    for i in n {
        csv.push_str(&format!("{i},K{i},person,Person {i},active\n"));
    }
    csv
}

fn status_of(s: &Server, id: i64) -> Value {
    let r = s.api(
        "GET",
        &format!("/api/v1/customers/{id}"),
        &s.admin,
        Value::Null,
    );
    if r.status == 200 {
        r.json()["status"].clone()
    } else {
        json!(r.status)
    }
}

conformance!(
    undo_takes_back_exactly_one_operation_never_its_neighbours,
    |db: TestDb| {
        let csv = people(21..=26);
        let s = start(&db, "legal", &[("customers.csv", csv.as_str())]);
        // Two deactivations sent back to back (within one second, by one actor).
        let first = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [21], "reason": "Moved away" }),
        );
        assert_eq!(first.status, 200, "{}", first.body);
        let second = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [22], "reason": "Moved away" }),
        );
        assert_eq!(second.status, 200, "{}", second.body);
        let entry = first.json()["audit_entry"].as_i64().unwrap();
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": entry }));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["entries"], json!([entry, entry]), "{}", r.body);
        assert_eq!(status_of(&s, 21), "active");
        assert_eq!(
            status_of(&s, 22),
            "deactivated",
            "the neighbour's deactivation was undone too"
        );

        // Two merges in one second: 24 into 25, then 25 into 26.
        let m1 = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            json!({ "duplicate": 24, "into": 25 }),
        );
        assert_eq!(m1.status, 200, "{}", m1.body);
        let m2 = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            json!({ "duplicate": 25, "into": 26 }),
        );
        assert_eq!(m2.status, 200, "{}", m2.body);
        let (e1, e2) = (
            m1.json()["audit_entry"].as_i64().unwrap(),
            m2.json()["audit_entry"].as_i64().unwrap(),
        );
        // The first cannot come back while the second depends on it, and says so...
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": e1 }));
        let undone = r.json();
        if r.status == 200 {
            let (lo, hi) = (
                undone["entries"][0].as_i64().unwrap(),
                undone["entries"][1].as_i64().unwrap(),
            );
            assert!(
                hi < e2 || lo > e2,
                "the undo of the first merge took entries of the second: {}",
                r.body
            );
        }
        // ...and the second can still be undone, its entries alone.
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": e2 }));
        assert_eq!(r.status, 200, "{}", r.body);
        let lo = r.json()["entries"][0].as_i64().unwrap();
        assert!(lo > e1, "{}", r.body);
        assert_eq!(status_of(&s, 25), "active");
        assert_eq!(status_of(&s, 24), 308, "24 stays merged into 25");
        let r = s.api("GET", "/api/v1/audit/verify", &s.admin, Value::Null);
        assert_eq!(r.json()["ok"], true, "{}", r.body);
    }
);

conformance!(
    an_apply_bound_to_a_plan_refuses_when_the_plan_changed,
    |db: TestDb| {
        let csv = people(21..=24);
        let s = start(&db, "legal", &[("customers.csv", csv.as_str())]);
        // A dry run and the apply that does what it showed have one fingerprint.
        let dry = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [21], "reason": "Moved away", "dry_run": true }),
        );
        assert_eq!(dry.status, 200, "{}", dry.body);
        let fp = dry.json()["fingerprint"].as_str().unwrap().to_string();
        assert_eq!(fp.len(), 16, "{fp}");
        let done = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [21], "reason": "Moved away", "plan": fp }),
        );
        assert_eq!(done.status, 200, "{}", done.body);
        assert_eq!(done.json()["fingerprint"], fp.as_str());

        // Someone changes the data between the preview and the confirmation.
        let dry = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [22, 23], "reason": "Moved away", "dry_run": true }),
        );
        let fp = dry.json()["fingerprint"].as_str().unwrap().to_string();
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [23], "reason": "Moved away" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let before = statuses(&s);
        let r = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [22, 23], "reason": "Moved away", "plan": fp }),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["code"], "plan_changed", "{e}");
        assert_ne!(e["details"]["fingerprint"], fp.as_str(), "{e}");
        assert_eq!(
            e["details"]["customers"].as_array().unwrap().len(),
            2,
            "{e}"
        );
        assert_eq!(statuses(&s), before, "a changed plan was applied");
        // The same in the web UI: the confirmation carries the plan it showed.
        let cookie = s.session("ada", "admin-pass");
        let page = s.page("GET", "/delete?ids=24", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        let fp = page
            .body
            .split("name=\"plan\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no plan in the confirmation: {}", page.body))
            .to_string();
        // An unpaid invoice arrives: the erasure the page showed is no longer what would happen.
        let r = s.api(
            "POST",
            "/api/v1/records/invoice",
            &s.admin,
            json!({ "customer_id": 24, "total": 10000, "balance": 10000, "issued_on": "2026-01-01" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let before = statuses(&s);
        // Legal deletes erase at once: unticked, nothing is done.
        let r = s.page("POST", "/delete", &cookie, &format!("ids=24&plan={fp}"));
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("cannot be undone"), "{}", r.body);
        assert!(
            page.body.contains("is erased and this cannot be undone"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("data-close autofocus>Cancel</a>"),
            "the red button has no focus: {}",
            page.body
        );
        let r = s.page(
            "POST",
            "/delete",
            &cookie,
            &format!("ids=24&plan={fp}&confirm=yes"),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("plan changed"), "{}", r.body);
        // The page says what it would do now, by number and name.
        assert!(r.body.contains("What it would do now"), "{}", r.body);
        assert!(r.body.contains("K24 Person 24: blocked"), "{}", r.body);
        assert_eq!(
            statuses(&s),
            before,
            "the UI applied a plan it did not show"
        );

        // Records delete is bound the same way.
        let dry = s.api(
            "POST",
            "/api/v1/records/invoice/delete",
            &s.admin,
            json!({ "owner": 24, "dry_run": true }),
        );
        assert_eq!(dry.status, 200, "{}", dry.body);
        let fp = dry.json()["fingerprint"].as_str().unwrap().to_string();
        let r = s.api(
            "POST",
            "/api/v1/records/invoice",
            &s.admin,
            json!({ "customer_id": 24, "total": 500, "balance": 0, "issued_on": "2026-01-02" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/records/invoice/delete",
            &s.admin,
            json!({ "owner": 24, "plan": fp }),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "plan_changed", "{}", r.body);
        assert_eq!(
            r.json()["error"]["details"]["ids"].as_array().map(Vec::len),
            Some(2),
            "{}",
            r.body
        );

        // And the forget page: it sends the plan it showed; a note arrives meanwhile.
        let page = s.page("GET", "/forget?id=22", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        let fp = page
            .body
            .split("name=\"plan\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("no plan in the forget page: {}", page.body))
            .to_string();
        let r = s.api(
            "POST",
            "/api/v1/records/note",
            &s.admin,
            json!({ "customer_id": 22, "body": "called about the will" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.page(
            "POST",
            "/forget",
            &cookie,
            &format!("id=22&confirm=yes&plan={fp}"),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("note masked"), "{}", r.body);
        let c = s.api("GET", "/api/v1/customers/22", &s.admin, Value::Null);
        assert_eq!(c.json()["name"], "Person 22", "a changed forget masked");
        // The API's forget too.
        let dry = s.api(
            "POST",
            "/api/v1/forget",
            &s.admin,
            json!({ "customer": 22, "dry_run": true }),
        );
        let fp = dry.json()["fingerprint"].as_str().unwrap().to_string();
        let r = s.api(
            "POST",
            "/api/v1/forget",
            &s.admin,
            json!({ "customer": 22, "plan": fp }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
);

/// The operation of a customer's latest audit entry.
fn last_entry(s: &Server, id: i64) -> Value {
    let r = s.api(
        "GET",
        &format!("/api/v1/audit?customer={id}&limit=1"),
        &s.admin,
        Value::Null,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()[0]["operation"].clone()
}

conformance!(
    every_customer_an_undo_touched_has_its_own_entry,
    |db: TestDb| {
        let csv = people(21..=26);
        let s = start(
            &db,
            "legal",
            &[
                ("customers.csv", csv.as_str()),
                (
                    "matter.csv",
                    "id,customer_id,title,status
1,23,Lease,open
",
                ),
            ],
        );
        // A merge, undone: the duplicate's own story ends with the undo, as the survivor's.
        let m = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            json!({ "duplicate": 21, "into": 22 }),
        );
        assert_eq!(m.status, 200, "{}", m.body);
        let entry = m.json()["audit_entry"].as_i64().unwrap();
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": entry }));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(last_entry(&s, 21), "undo");
        assert_eq!(last_entry(&s, 22), "undo");
        // A transfer, undone: both sides.
        let t = s.api(
            "POST",
            "/api/v1/transfer",
            &s.admin,
            json!({ "from": 23, "to": 24 }),
        );
        assert_eq!(t.status, 200, "{}", t.body);
        let entry = t.json()["audit_entry"].as_i64().unwrap();
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": entry }));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(last_entry(&s, 23), "undo");
        assert_eq!(last_entry(&s, 24), "undo");
        let r = s.api("GET", "/api/v1/audit/verify", &s.admin, Value::Null);
        assert_eq!(r.json()["ok"], true, "{}", r.body);
    }
);

conformance!(
    a_viewer_is_refused_before_anything_runs_and_the_api_says_what_it_needs,
    |db: TestDb| {
        let owned = crate::schedules::files();
        let files: Vec<(&str, &str)> = owned.iter().map(|(f, b)| (*f, b.as_str())).collect();
        let s = crate::start_model(&db, crate::schedules::model(), &files, |st| st);
        let before = statuses(&s);
        // A schedule run by a viewer: refused as a whole, not 200 with each one "failed".
        let r = s.api("POST", "/api/v1/schedules/run", &s.viewer, json!({}));
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(statuses(&s), before);
        // The web UI's customer forms: a viewer's post is forbidden, not a form error.
        let cookie = s.session("vic", "viewer-pass");
        let r = s.page("POST", "/customers/new", &cookie, "kind=person&name=Nope");
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.page("POST", "/customers/3/edit", &cookie, "name=Renamed");
        assert_eq!(r.status, 403, "{}", r.body);
        assert_eq!(statuses(&s), before);
        // The suggestions need what was typed, and the OpenAPI document says so.
        let doc = s
            .api("GET", "/api/v1/openapi.json", &s.admin, Value::Null)
            .json();
        let params = doc["paths"]["/api/v1/customers/suggest"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .clone();
        let q = params.iter().find(|p| p["name"] == "q").unwrap();
        assert_eq!(q["required"], true, "{q}");
    }
);

conformance!(
    an_undone_merge_does_not_bring_back_an_email_another_customer_holds_now,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,email\n1,1,person,Ann Dup,ann@example.com\n2,2,person,Ann Stays,stays@example.com\n",
            )],
        );
        let m = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            json!({ "duplicate": 1, "into": 2, "take": { "email": 2 } }),
        );
        assert_eq!(m.status, 200, "{}", m.body);
        let entry = m.json()["audit_entry"].as_i64().unwrap();
        // Someone new takes the duplicate's old email meanwhile.
        let r = s.api(
            "POST",
            "/api/v1/customers",
            &s.admin,
            json!({ "kind": "person", "name": "Ann New", "email": "ann@example.com" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let r = s.api("POST", "/api/v1/undo", &s.admin, json!({ "entry": entry }));
        assert_eq!(
            r.status, 409,
            "two active customers would share an email: {}",
            r.body
        );
        assert!(r.body.contains("is now held by"), "{}", r.body);
        assert_eq!(status_of(&s, 1), 308, "the duplicate came back");
    }
);

conformance!(
    an_undo_bound_to_its_preview_refuses_when_it_changed,
    |db: TestDb| {
        let csv = people(21..=22);
        let s = start(&db, "legal", &[("customers.csv", csv.as_str())]);
        let d = s.api(
            "POST",
            "/api/v1/deactivate",
            &s.admin,
            json!({ "customers": [21, 22], "reason": "Moved away" }),
        );
        assert_eq!(d.status, 200, "{}", d.body);
        let entry = d.json()["audit_entry"].as_i64().unwrap();
        let preview = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            json!({ "entry": entry, "dry_run": true }),
        );
        assert_eq!(preview.status, 200, "{}", preview.body);
        let fp = preview.json()["fingerprint"].as_str().unwrap().to_string();
        // 22 is reactivated by hand meanwhile: the undo would now bring back 21 only.
        let r = s.api(
            "POST",
            "/api/v1/reactivate",
            &s.admin,
            json!({ "customers": [22] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            json!({ "entry": entry, "plan": fp }),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["error"]["code"], "plan_changed", "{}", r.body);
        assert_eq!(
            status_of(&s, 21),
            "deactivated",
            "an undo unlike its preview was applied"
        );
        // Its new preview's fingerprint undoes it.
        let preview = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            json!({ "entry": entry, "dry_run": true }),
        );
        let fp = preview.json()["fingerprint"].as_str().unwrap().to_string();
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            json!({ "entry": entry, "plan": fp }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(status_of(&s, 21), "active");
    }
);

conformance!(
    the_merge_wizard_never_applies_what_it_did_not_show,
    |db: TestDb| {
        let csv = people(21..=23);
        let s = start(&db, "legal", &[("customers.csv", csv.as_str())]);
        let cookie = s.session("ada", "admin-pass");
        let page = s.page("GET", "/merge/many?ids=21,22,23&into=21", &cookie, "");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body.contains("name=\"shown_into\" value=\"21\""),
            "{}",
            page.body
        );
        let before = statuses(&s);
        // Another survivor ticked, the page not refreshed: shown first, never merged unseen,
        // and the old survivor's field choices do not carry over.
        let r = s.page(
            "POST",
            "/merge/many",
            &cookie,
            "ids=21,22,23&into=22&shown_into=21&take.name=21",
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let to = r.header("location").unwrap_or_default().to_string();
        assert!(to.contains("into=22") && !to.contains("take."), "{to}");
        assert_eq!(
            statuses(&s),
            before,
            "a merge the page did not show was applied"
        );
        // The page's own plan, stale because the data changed: refused, nothing merged.
        let fp = page
            .body
            .split("name=\"plan\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string();
        // A new matter of 23's: the merge would now move it too.
        let r = s.api(
            "POST",
            "/api/v1/records/matter",
            &s.admin,
            json!({ "customer_id": 23, "title": "New lease", "status": "open" }),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let before = statuses(&s);
        let r = s.page(
            "POST",
            "/merge/many",
            &cookie,
            &format!("ids=21,22,23&into=21&shown_into=21&plan={fp}"),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(statuses(&s), before);
    }
);
