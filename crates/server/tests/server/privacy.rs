//! Privacy requests over HTTP and on the Requests page: logged, verified, run with what it
//! does shown first, completed with a receipt that verifies; overdue requests show; a viewer
//! is refused; `locate` answers where a person still appears.

use offboard_testkit::{conformance, TestDb};
use serde_json::{json, Value};

use crate::{legal, log_in, start};

conformance!(
    a_privacy_request_runs_through_the_api_to_a_receipt_that_verifies,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        // A typo in the body changes nothing.
        let r = s.api(
            "POST",
            "/api/v1/privacy/requests",
            &s.admin,
            json!({ "type": "erasure", "customer": 15, "recieved_on": "2026-12-01" }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/privacy/requests",
            &s.viewer,
            json!({ "type": "erasure", "customer": 15 }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/privacy/requests",
            &s.admin,
            json!({ "type": "erasure", "customer": 15, "name": "Fay" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let id = r.json()["id"].as_i64().unwrap();
        assert!(r.json()["due_on"].is_string());
        let run = format!("/api/v1/privacy/requests/{id}/run");
        let r = s.api("POST", &run, &s.admin, json!({}));
        assert_eq!(r.status, 409, "not verified yet: {}", r.body);
        let r = s.api(
            "POST",
            &format!("/api/v1/privacy/requests/{id}/verify"),
            &s.admin,
            json!({ "method": "ID card" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let dry = s
            .api("POST", &run, &s.admin, json!({ "dry_run": true }))
            .json();
        assert_eq!(dry["request"]["outcome"]["erased"], true, "{dry}");
        let r = s.api("POST", &run, &s.admin, json!({}));
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.api(
            "POST",
            &format!("/api/v1/privacy/requests/{id}/complete"),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let receipt = s
            .api(
                "GET",
                &format!("/api/v1/privacy/requests/{id}/receipt"),
                &s.admin,
                Value::Null,
            )
            .json();
        let check = s
            .api(
                "POST",
                "/api/v1/privacy/receipts/verify",
                &s.admin,
                receipt.clone(),
            )
            .json();
        assert_eq!(check["ok"], true, "{check}");
        let mut edited = receipt.clone();
        edited["outcome"]["erased"] = json!(false);
        let check = s
            .api("POST", "/api/v1/privacy/receipts/verify", &s.admin, edited)
            .json();
        assert_eq!(check["ok"], false, "{check}");
        let found = s
            .api(
                "GET",
                "/api/v1/privacy/locate?customer=15",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(found["customer"]["erased"], true, "{found}");
        assert_eq!(found["found"], json!([]), "{found}");
        let r = s.api(
            "GET",
            "/api/v1/privacy/locate?customer=15",
            &s.viewer,
            Value::Null,
        );
        assert_eq!(r.status, 403, "{}", r.body);
        let r = s.api(
            "GET",
            "/api/v1/privacy/requests?status=done",
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 400, "{}", r.body);
    }
);

conformance!(
    the_requests_page_shows_due_dates_and_runs_a_request_as_it_showed,
    |db: TestDb| {
        let s = start(&db, "legal", &legal());
        let cookie = log_in(&s);
        // Logged on the page, received 40 days ago: overdue, in red.
        let long_ago =
            offboard_model::Date::from_days(offboard_model::DateTime::now().date().days() - 40);
        let page = s.page(
            "POST",
            "/privacy/requests",
            &cookie,
            &format!("type=erasure&who=K11&name=Bo&received={long_ago}"),
        );
        assert_eq!(page.status, 303, "{}", page.body);
        let at = page.header("location").unwrap().to_string();
        let list = s.page("GET", "/privacy/requests", &cookie, "");
        assert!(list.body.contains("overdue"), "{}", list.body);
        assert!(list.body.contains("K11"), "{}", list.body);
        let overdue = s.page("GET", "/privacy/requests?overdue=1", &cookie, "");
        assert!(overdue.body.contains(&at), "{}", overdue.body);
        // Verify, then the page says what running it will do: Bo owes an invoice, so he is
        // forgotten, not erased, and the page says why.
        let r = s.page("POST", &format!("{at}/verify"), &cookie, "method=ID+card");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("Running it will"), "{}", r.body);
        assert!(r.body.contains("remaining-invoice"), "{}", r.body);
        let plan = r
            .body
            .split("name=\"plan\" value=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .expect("the run is bound to what the page showed")
            .to_string();
        // A plan other than the one shown runs nothing.
        let r = s.page(
            "POST",
            &format!("{at}/run"),
            &cookie,
            "plan=0000000000000000",
        );
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.body.contains("changed"), "{}", r.body);
        let r = s.page(
            "POST",
            &format!("{at}/run"),
            &cookie,
            &format!("plan={plan}"),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = s.page("POST", &format!("{at}/complete"), &cookie, "");
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.body.contains("receipt.html"), "{}", r.body);
        let receipt = s.page("GET", &format!("{at}/receipt.html"), &cookie, "");
        assert_eq!(receipt.status, 200);
        assert!(
            receipt.body.contains("remaining-invoice"),
            "{}",
            receipt.body
        );
        let bo = s
            .api("GET", "/api/v1/customers/11", &s.admin, Value::Null)
            .json();
        assert_eq!(bo["name"], "Forgotten customer", "{bo}");
    }
);
