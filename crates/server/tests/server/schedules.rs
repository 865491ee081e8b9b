//! The server runs the model's schedules by itself, once per period, as jobs; a run the
//! model sends for review waits on the Schedules page and in the API until someone with the
//! review role approves or rejects it.

use super::*;

pub(crate) fn model() -> Model {
    let text = format!(
        "{}\n{}",
        preset("services").unwrap().source,
        r#"
[[schedule]]
id = "empty-bin"
label = "Empty the recycle bin"
run = "purge"

[[schedule]]
id = "old-deactivated"
label = "Delete customers deactivated over a year ago"
run = "delete"
customers = "status = 'deactivated'"
older_than = "1 year"
since = "deactivated_on"
review = "manager"
"#
    );
    Model::parse("services+schedules", &text).unwrap()
}

pub(crate) fn files() -> Vec<(&'static str, String)> {
    let two_years = offboard_model::DateTime::from_seconds(
        offboard_model::DateTime::now().seconds() - 730 * 86_400,
    )
    .date();
    vec![(
        "customers.csv",
        format!(
            "id,number,kind,name,status,deactivated_on,deactivation_reason\n1,1,person,Ann Gone,deleted,,\n2,2,person,Bo Old,deactivated,{two_years},Moved away\n3,3,person,Cy Here,active,,\n4,4,person,Di Old,deactivated,{two_years},Moved away\n"
        ),
    )]
}

/// Waits (up to 30 s) until `f` says yes.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("waited 30 s for {what}");
}

conformance!(
    the_server_runs_due_schedules_once_and_holds_a_review_until_approved,
    |db: TestDb| {
        let owned = files();
        let files: Vec<(&str, &str)> = owned.iter().map(|(f, b)| (*f, b.as_str())).collect();
        let s = start_model(&db, model(), &files, |st| {
            st.scheduler(Some(std::time::Duration::from_millis(300)))
        });
        let runs = || {
            s.api("GET", "/api/v1/schedules/runs", &s.admin, Value::Null)
                .json()
        };
        eventually("both schedules to run", || {
            runs().as_array().unwrap().len() == 2
        });
        let list = runs();
        let by = |id: &str| {
            list.as_array()
                .unwrap()
                .iter()
                .find(|r| r["schedule"] == id)
                .unwrap()
                .clone()
        };
        let bin = by("empty-bin");
        assert_eq!(bin["state"], "done");
        assert_eq!(bin["actor"], "scheduler");
        assert_eq!(bin["customers"], json!([1]));
        let r = s.api("GET", "/api/v1/customers/1", &s.admin, Value::Null);
        assert_eq!(r.status, 404, "erased: {}", r.body);
        let review = by("old-deactivated");
        assert_eq!(review["state"], "review");
        assert_eq!(review["customers"], json!([2, 4]));
        // It ran as a job, with its report.
        let jobs = s
            .api(
                "GET",
                "/api/v1/jobs?operation=schedule",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(jobs[0]["status"], "succeeded", "{jobs:#}");
        // More ticks in the same period queue nothing more.
        std::thread::sleep(std::time::Duration::from_millis(1200));
        assert_eq!(runs().as_array().unwrap().len(), 2);
        let jobs = s
            .api(
                "GET",
                "/api/v1/jobs?operation=schedule",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(jobs.as_array().unwrap().len(), 1, "{jobs:#}");

        // The Schedules page lists the waiting run with the customers it proposes.
        let admin = s.session("ada", "admin-pass");
        let page = s.page("GET", "/schedules", &admin, "");
        assert_eq!(page.status, 200);
        for text in [
            "Waiting for approval",
            "Bo Old",
            "Di Old",
            "Approve: delete 2 customers",
            "Delete customers deactivated over a year ago",
            "Delete customers where status is deactivated, deactivated on more than 1 year ago",
        ] {
            assert!(page.body.contains(text), "{text} in {}", page.body);
        }
        // What a reviewer checks is beside each customer: when it was deactivated, and why.
        let year = offboard_model::DateTime::from_seconds(
            offboard_model::DateTime::now().seconds() - 730 * 86_400,
        )
        .date()
        .to_string()[..4]
            .to_string();
        assert!(
            page.body.contains("<th>Deactivated on</th><th>Reason</th>"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!(" {year}</td><td>Moved away</td>")),
            "{}",
            page.body
        );
        // The Approve button is bound to what the page showed.
        let stale = plan_in(&page.body);
        // A viewer sees it, cannot decide it.
        let viewer = s.session("vic", "viewer-pass");
        let page = s.page("GET", "/schedules", &viewer, "");
        assert!(page.body.contains("A manager approves or rejects this run"));
        assert!(!page.body.contains("Approve: "));
        let id = review["id"].as_i64().unwrap();
        let r = s.api(
            "POST",
            &format!("/api/v1/schedules/runs/{id}/approve"),
            &s.viewer,
            Value::Null,
        );
        assert_eq!(r.status, 403, "{}", r.body);

        // Di is reactivated before the approval: only Bo is deleted.
        s.api(
            "POST",
            "/api/v1/reactivate",
            &s.admin,
            json!({ "customers": [4] }),
        );
        // The button was bound to what the page showed (2 deleted): that approval changes
        // nothing, and the page shows what approving does now.
        // An approval without the reviewer's tick applies nothing and says why.
        let page = s.page(
            "POST",
            &format!("/schedules/runs/{id}/approve"),
            &admin,
            &format!("plan={stale}"),
        );
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(
            page.body
                .contains("tick that you have checked its customers first"),
            "{}",
            page.body
        );
        let page = s.page(
            "POST",
            &format!("/schedules/runs/{id}/approve"),
            &admin,
            &format!("plan={stale}&confirm=yes"),
        );
        assert_eq!(page.status, 422, "{}", page.body);
        assert!(page.body.contains("plan changed"), "{}", page.body);
        assert!(
            page.body
                .contains("Approved now: 1 customer would be deleted"),
            "{}",
            page.body
        );
        let fresh = plan_in(&page.body);
        assert_ne!(fresh, stale);
        let page = s.page(
            "POST",
            &format!("/schedules/runs/{id}/approve"),
            &admin,
            &format!("plan={fresh}&confirm=yes"),
        );
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("1 customer deleted"), "{}", page.body);
        let bo = s
            .api("GET", "/api/v1/customers/2", &s.admin, Value::Null)
            .json();
        assert_eq!(bo["status"], "deleted");
        let di = s
            .api("GET", "/api/v1/customers/4", &s.admin, Value::Null)
            .json();
        assert_eq!(di["status"], "active");
        // Decided once: a second decision is refused, in words.
        let r = s.api(
            "POST",
            &format!("/api/v1/schedules/runs/{id}/reject"),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(
            r.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is approved, not waiting for review (decided by ada)"),
            "{}",
            r.body
        );
        // Unknown fields are refused; a dry run says what would happen now.
        let r = s.api(
            "POST",
            "/api/v1/schedules/run",
            &s.admin,
            json!({ "dry_run": true, "forse": true }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let r = s.api(
            "POST",
            "/api/v1/schedules/run",
            &s.admin,
            json!({ "dry_run": true, "schedule": "empty-bin" }),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let out = r.json();
        assert_eq!(out["schedules"][0]["outcome"], "dry_run");
        assert_eq!(
            out["schedules"][0]["plan"]["candidates"], 1,
            "Bo, deleted now"
        );
    }
);

/// The plan a Schedules page's Approve button is bound to.
fn plan_in(body: &str) -> String {
    body.split("name=\"plan\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no plan on the page: {body}"))
        .to_string()
}
