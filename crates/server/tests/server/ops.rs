//! What an operator needs: health and readiness without credentials, a request id on every
//! answer, a body limit answered in the error shape, and an OpenAPI document that covers
//! every route the router serves.

use serde_json::Value;

use offboard_testkit::{conformance, TestDb};

use crate::{legal, start};

conformance!(
    health_and_readiness_answer_without_credentials,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let r = s.call("GET", "/healthz", &[], "");
        assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
        let r = s.call("GET", "/readyz", &[], "");
        assert_eq!(
            (r.status, r.json()["status"].as_str()),
            (200, Some("ready"))
        );
        assert!(r.header("x-request-id").is_some(), "{:?}", r.headers);
        let other = s.call("GET", "/healthz", &[], "");
        assert_ne!(other.header("x-request-id"), r.header("x-request-id"));
    }
);

conformance!(
    a_body_past_the_limit_is_a_413_in_the_error_shape,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let auth = format!("Bearer {}", s.admin);
        let big = format!(
            "{{\"customers\":[14],\"reason\":\"{}\"}}",
            "x".repeat(offboard_server::BODY_LIMIT + 10)
        );
        let r = s.call(
            "POST",
            "/api/v1/deactivate",
            &[("Authorization", &auth)],
            &big,
        );
        assert_eq!(r.status, 413, "{}", &r.body[..r.body.len().min(300)]);
        assert_eq!(r.json()["error"]["code"], "too_large");
        let c = s
            .api("GET", "/api/v1/customers/14", &s.admin, Value::Null)
            .json();
        assert_eq!(c["status"], "active");
    }
);

/// The routes the API's files give the router, read from their source:
/// `.route("/api/v1/...", get(..).post(..))`.
fn router_routes() -> Vec<(String, String)> {
    let src = [
        include_str!("../../src/api.rs"),
        include_str!("../../src/lifecycle.rs"),
        include_str!("../../src/jobs.rs"),
        include_str!("../../src/export.rs"),
        include_str!("../../src/schedules.rs"),
        include_str!("../../src/privacy.rs"),
    ]
    .concat();
    let src = src.as_str();
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        let Some(end) = rest.find(")\n") else { break };
        let call = &rest[..end + 1];
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        if path.contains('*') || path == "/api/v1/openapi.json" {
            continue;
        }
        for m in ["get", "post", "patch", "delete", "put"] {
            if call.contains(&format!("{m}(")) {
                out.push((path.to_string(), m.to_string()));
            }
        }
    }
    out.sort();
    out
}

conformance!(
    the_openapi_document_covers_every_route_the_router_serves,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let doc = s.call("GET", "/api/v1/openapi.json", &[], "").json();
        let mut documented: Vec<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (p.clone(), m.clone()))
            })
            .filter(|(p, _)| p != "/api/v1/openapi.json" && p.starts_with("/api/v1/"))
            .collect();
        documented.sort();
        let routes = router_routes();
        assert!(routes.len() > 15, "{routes:?}");
        let missing: Vec<_> = routes.iter().filter(|r| !documented.contains(r)).collect();
        assert!(
            missing.is_empty(),
            "routes the OpenAPI document lacks: {missing:?}"
        );
        let extra: Vec<_> = documented.iter().filter(|d| !routes.contains(d)).collect();
        assert!(
            extra.is_empty(),
            "documented routes the router lacks: {extra:?}"
        );
    }
);

conformance!(
    an_undelete_refused_for_a_company_in_the_bin_offers_to_undelete_both,
    |db: TestDb| {
        let s = start(
            &db,
            "membership",
            &[(
                "customers.csv",
                "id,number,kind,name,email,status,company_id,deleted_at\n1,M0000001,company,Acme Club,,deleted,,2026-01-05 10:00\n2,M0000002,person,Ann Lee,ann@example.com,deleted,1,2026-01-05 10:00\n",
            )],
        );
        let admin = s.session("ada", "admin-pass");
        let page = s.page("POST", "/undelete", &admin, "id=2");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.body
                .contains("its company M0000001 (Acme Club) is in the recycle bin: undelete both"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("Undelete them together (2 customers)"),
            "{}",
            page.body
        );
        assert!(
            page.body.contains(r#"name="id" value="1""#),
            "{}",
            page.body
        );
        let page = s.page("POST", "/undelete", &admin, "id=1&id=2");
        assert!(page.body.contains("2 undeleted"), "{}", page.body);
        let ann = s
            .api("GET", "/api/v1/customers/2", &s.admin, Value::Null)
            .json();
        assert_eq!(ann["status"], "active");
    }
);

conformance!(
    possible_duplicates_are_listed_in_the_api_and_the_ui_with_a_merge,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,email,phone,status\n1,1,person,Ann Lee,ann@example.com,+41 44 000 00 01,active\n2,2,person,ANN LEE,Ann@Example.com,0041 44 000 00 01,active\n3,3,person,Cy Po,cy@example.com,,active\n",
            )],
        );
        let r = s.api("GET", "/api/v1/duplicates?by=email", &s.viewer, Value::Null);
        assert_eq!(r.status, 200, "{}", r.body);
        let list = r.json();
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["a"]["id"], 1);
        assert_eq!(list[0]["b"]["id"], 2);
        assert_eq!(list[0]["shared"], serde_json::json!(["email"]));
        let r = s.api("GET", "/api/v1/duplicates?by=fax", &s.viewer, Value::Null);
        assert_eq!(r.status, 400, "{}", r.body);
        let r = s.api("GET", "/api/v1/duplicates?limt=3", &s.viewer, Value::Null);
        assert_eq!(r.status, 400, "{}", r.body);
        // The page: strongest first, a Merge… for who may merge.
        let admin = s.session("ada", "admin-pass");
        let page = s.page("GET", "/duplicates?by=email&by=name&by=phone", &admin, "");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("Strong"), "{}", page.body);
        assert!(page.body.contains("email, phone, name"), "{}", page.body);
        assert!(
            page.body.contains("/merge?duplicate=2&amp;into=1"),
            "{}",
            page.body
        );
        let viewer = s.session("vic", "viewer-pass");
        let page = s.page("GET", "/duplicates?by=name", &viewer, "");
        assert!(page.body.contains("Ann Lee"), "{}", page.body);
        assert!(!page.body.contains("Merge into"), "{}", page.body);
    }
);

conformance!(
    the_merge_wizard_merges_ticked_customers_field_by_field_and_ids_then_lead_to_the_survivor,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,email,phone,status,created_at\n1,1,person,Ann Lee,,+41 11,active,2024-01-01 09:00\n2,2,person,Ann Lee,ann@a.example,+41 22,active,2024-06-01 09:00\n3,3,person,A. Lee,ann@b.example,,active,2025-01-01 09:00\n",
                ),
                ("note.csv", "id,customer_id,body\n1,2,called\n2,3,wrote\n"),
            ],
        );
        let admin = s.session("ada", "admin-pass");
        // Ticked in the list, "Merge selected…" leads to the wizard.
        let r = s.page("POST", "/bulk", &admin, "action=merge&id=1&id=2&id=3");
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some("/merge/many?ids=1,2,3"));
        let page = s.page("GET", "/merge/many?ids=1,2,3", &admin, "");
        assert_eq!(page.status, 200, "{}", page.body);
        for text in [
            "Merge 3 customers into 1 Ann Lee",
            "the most recent non-empty",
            r#"name="take.email" value="3" checked"#,
            "2 would be merged",
            "From 3 A. Lee: 1 note.",
        ] {
            assert!(page.body.contains(text), "{text} in {}", page.body);
        }
        // Another choice, then the merge.
        let page = s.page(
            "POST",
            "/merge/many",
            &admin,
            "ids=1,2,3&into=1&take.email=2&take.phone=2",
        );
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("2 merged"), "{}", page.body);
        let one = s
            .api("GET", "/api/v1/customers/1", &s.admin, Value::Null)
            .json();
        assert_eq!(one["email"], "ann@a.example");
        assert_eq!(one["phone"], "+41 22");
        assert_eq!(one["records"]["note"], 2);
        // A merged-away id answers where it went.
        let r = s.api("GET", "/api/v1/customers/3", &s.admin, Value::Null);
        assert_eq!(r.status, 308, "{}", r.body);
        assert_eq!(r.header("location"), Some("/api/v1/customers/1"));
        let r = s.page("GET", "/customers/2", &admin, "");
        assert_eq!(r.status, 308, "{}", r.body);
        assert_eq!(r.header("location"), Some("/customers/1"));
        // The API merges several at once; `duplicate` and `duplicates` together are refused.
        let r = s.api(
            "POST",
            "/api/v1/merge",
            &s.admin,
            serde_json::json!({ "duplicate": 1, "duplicates": [1], "into": 1 }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
    }
);

conformance!(
    a_deactivation_from_the_ui_is_undone_from_its_result_and_from_the_audit_log,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,email,status\n1,1,person,Ann Lee,ann@example.com,active\n2,2,person,Bo Ek,bo@example.com,active\n",
            )],
        );
        let admin = s.session("ada", "admin-pass");
        let page = s.page("POST", "/deactivate", &admin, "ids=1&reason=Moved+away");
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains(r#"name="entry""#), "{}", page.body);
        let seq = page
            .body
            .split(r#"name="entry" value=""#)
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let done = s.page("POST", "/undo", &admin, &format!("entry={seq}"));
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("1 back"), "{}", done.body);
        let ann = s
            .api("GET", "/api/v1/customers/1", &s.admin, Value::Null)
            .json();
        assert_eq!(ann["status"], "active");
        // From the audit log: a preview first, then the undo; a second one has nothing left.
        s.page("POST", "/delete", &admin, "ids=2");
        let log = s.page("GET", "/audit", &admin, "");
        assert!(log.body.contains("Undo…"), "{}", log.body);
        let api = s
            .api("GET", "/api/v1/audit?limit=5", &s.admin, Value::Null)
            .json();
        let del = api
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["operation"] == "delete")
            .unwrap()["seq"]
            .as_i64()
            .unwrap();
        let preview = s.page("GET", &format!("/undo?entry={del}"), &admin, "");
        assert_eq!(preview.status, 200, "{}", preview.body);
        assert!(preview.body.contains("1 would be back"), "{}", preview.body);
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            serde_json::json!({ "entry": del }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["undone"], 1);
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            serde_json::json!({ "entry": del }),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        // A viewer is offered no undo, and may not run one.
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.viewer,
            serde_json::json!({ "entry": del }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
    }
);

conformance!(
    the_records_bin_shows_on_the_customers_page_and_restores_in_order,
    |db: TestDb| {
        let s = start(
            &db,
            "lending",
            &[
                ("customers.csv", "id,number,kind,name,email,status\n1,L0000001,client,Ann Lee,ann@example.com,active\n"),
                ("application.csv", "id,customer_id,number,amount,applied_on\n1,1,A-1,100000,2024-01-01\n"),
                ("contract.csv", "id,application_id,number,principal,signed_on\n1,1,K-000001,100000,2024-01-05\n"),
                ("payment.csv", "id,contract_id,number,amount,paid_on\n1,1,1,1000,2024-02-01\n2,1,2,1000,2024-03-01\n3,1,3,1000,2024-04-01\n"),
            ],
        );
        let r = s.api(
            "POST",
            "/api/v1/records/payment/delete",
            &s.admin,
            serde_json::json!({ "owner": 1, "from": "2024-03-01" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let bin = s
            .api(
                "GET",
                "/api/v1/deleted-records?customer=1",
                &s.viewer,
                Value::Null,
            )
            .json();
        let bin = bin.as_array().unwrap();
        assert_eq!(bin.len(), 2);
        let entry_of = |record: i64| {
            bin.iter().find(|b| b["record_id"] == record).unwrap()["id"]
                .as_i64()
                .unwrap()
        };
        let admin = s.session("ada", "admin-pass");
        let page = s.page("GET", "/customers/1", &admin, "");
        assert!(page.body.contains("Deleted records"), "{}", page.body);
        assert!(page.body.contains("Payment 3"), "{}", page.body);
        // Newest first is refused; the older one comes back, then the newer.
        let r = s.page(
            "POST",
            "/records/restore",
            &admin,
            &format!("entry={}&customer=1", entry_of(3)),
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("restore it first"), "{}", r.body);
        let r = s.page(
            "POST",
            "/records/restore",
            &admin,
            &format!("entry={}&customer=1", entry_of(2)),
        );
        assert_eq!(r.status, 303, "{}", r.body);
        // The page it leads to says what came back.
        let at = r.header("location").unwrap().to_string();
        assert_eq!(at, "/customers/1?restored=Payment+2#records");
        let back = s.page("GET", at.split('#').next().unwrap(), &admin, "");
        assert!(
            back.body
                .contains("<strong>Restored:</strong> Payment 2 is back among the records below."),
            "{}",
            back.body
        );
        let r = s.api(
            "POST",
            "/api/v1/deleted-records/restore",
            &s.admin,
            serde_json::json!({ "entries": [entry_of(3)] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["restored"], 1);
        let r = s.api(
            "POST",
            "/api/v1/deleted-records/restore",
            &s.admin,
            serde_json::json!({ "entry": 1 }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let p3 = s
            .api("GET", "/api/v1/records/payment/3", &s.admin, Value::Null)
            .json();
        assert_eq!(p3["paid_on"], "2024-04-01");
    }
);

conformance!(
    the_audit_page_shows_one_row_per_operation_and_what_undid_it,
    |db: TestDb| {
        let s = start(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,1,person,Ann Lee,active\n2,2,person,Bo Ek,active\n3,3,person,Cy Oh,active\n",
            )],
        );
        let admin = s.session("ada", "admin-pass");
        let r = s.api(
            "POST",
            "/api/v1/delete",
            &s.admin,
            serde_json::json!({ "customers": [1, 2, 3] }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let api = s
            .api("GET", "/api/v1/audit?limit=10", &s.admin, Value::Null)
            .json();
        let seqs: Vec<i64> = api
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["operation"] == "delete")
            .map(|e| e["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs.len(), 3, "{api}");
        let first = *seqs.iter().min().unwrap();
        let log = s.page("GET", "/audit", &admin, "");
        // One row, numbered by the operation's first entry, its three customers inside.
        assert_eq!(
            log.body.matches("aria-label=\"Undo operation").count(),
            1,
            "{}",
            log.body
        );
        assert!(
            log.body.contains(&format!("href=\"/undo?entry={first}\"")),
            "{}",
            log.body
        );
        assert!(
            log.body.contains("<summary>3 customers</summary>"),
            "{}",
            log.body
        );
        for name in ["Ann Lee", "Bo Ek", "Cy Oh"] {
            assert!(log.body.contains(name), "{name}: {}", log.body);
        }
        // The undo preview names that same entry.
        let preview = s.page("GET", &format!("/undo?entry={first}"), &admin, "");
        assert!(
            preview.body.contains(&format!("entry {first}")),
            "{}",
            preview.body
        );
        let r = s.api(
            "POST",
            "/api/v1/undo",
            &s.admin,
            serde_json::json!({ "entry": first }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let undo = s
            .api("GET", "/api/v1/audit?limit=1", &s.admin, Value::Null)
            .json()[0]
            .clone();
        let by = undo["op"].as_i64().unwrap_or(undo["seq"].as_i64().unwrap());
        let log = s.page("GET", "/audit", &admin, "");
        assert!(
            log.body.contains(&format!(
                "undone by <a href=\"/audit?before={}\">#{by}</a>",
                by + 1
            )),
            "{}",
            log.body
        );
        assert!(
            !log.body.contains(&format!("href=\"/undo?entry={first}\"")),
            "an undone operation offers no Undo: {}",
            log.body
        );
    }
);
