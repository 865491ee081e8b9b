//! Background jobs over the API: `"background": true` answers 202 with the job, the job shows
//! its progress while it runs, ends with the plan the synchronous call gives, queues behind
//! another, and rolls back when cancelled.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_testkit::{conformance, TestDb};

use super::{start_with, Server};

/// The membership demo (300 customers, some in the recycle bin) as CSV files.
fn membership_demo(db: &TestDb) -> Vec<(String, String)> {
    let model = Model::parse("membership", preset("membership").unwrap().source).unwrap();
    let dir = db.dir.path().join("demo");
    offboard_demo::generate(&model, 300, 7, &dir).unwrap();
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

pub(crate) fn server(db: &TestDb, step_delay: Duration) -> Server {
    let files = membership_demo(db);
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    start_with(db, "membership", &files, |s| s.job_step_delay(step_delay))
}

fn job(s: &Server, id: i64) -> Value {
    let r = s.api("GET", &format!("/api/v1/jobs/{id}"), &s.viewer, Value::Null);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Polls job `id` until it is over; every (phase, done, total) seen while it ran.
fn until_over(s: &Server, id: i64) -> (Value, Vec<(String, i64, i64)>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: Vec<(String, i64, i64)> = Vec::new();
    loop {
        let j = job(s, id);
        let status = j["status"].as_str().unwrap().to_string();
        if status == "running" {
            let step = (
                j["phase"].as_str().unwrap_or_default().to_string(),
                j["progress"]["done"].as_i64().unwrap(),
                j["progress"]["total"].as_i64().unwrap(),
            );
            if seen.last() != Some(&step) {
                seen.push(step);
            }
        }
        if !matches!(status.as_str(), "queued" | "running") {
            return (j, seen);
        }
        assert!(Instant::now() < deadline, "job {id} never ended: {j}");
        std::thread::sleep(Duration::from_millis(15));
    }
}

fn submit(s: &Server, path: &str, body: Value) -> Value {
    let r = s.api("POST", path, &s.admin, body);
    assert_eq!(r.status, 202, "{}", r.body);
    let j = r.json();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/jobs/{}", j["id"]).as_str())
    );
    j
}

fn deleted(s: &Server) -> i64 {
    s.api(
        "GET",
        "/api/v1/customers?view=deleted&limit=1",
        &s.admin,
        Value::Null,
    )
    .json()["total"]
        .as_i64()
        .unwrap()
}

/// The plan without what differs between two runs of the same operation.
fn comparable(mut plan: Value) -> Value {
    let o = plan.as_object_mut().unwrap();
    o.remove("timings");
    o.remove("dry_run");
    // What happens after the commit: a dry run says what will be rewritten, the job what was.
    o.remove("notes");
    o.remove("audit_entry");
    plan
}

conformance!(
    a_background_purge_shows_its_progress_and_ends_with_the_dry_runs_plan,
    |db: TestDb| {
        let s = server(&db, Duration::from_millis(60));
        let dry = s.api(
            "POST",
            "/api/v1/purge",
            &s.admin,
            json!({ "dry_run": true }),
        );
        assert_eq!(dry.status, 200, "{}", dry.body);
        let dry = dry.json();
        assert!(dry["purged"].as_i64().unwrap() > 0, "{dry}");
        let before = deleted(&s);
        let queued = submit(&s, "/api/v1/purge", json!({ "background": true }));
        assert_eq!(queued["operation"], "purge");
        assert!(
            matches!(queued["status"].as_str(), Some("queued" | "running")),
            "{queued}"
        );
        assert_eq!(queued["actor"], "ada");
        let (done, seen) = until_over(&s, queued["id"].as_i64().unwrap());
        assert_eq!(done["status"], "succeeded", "{done}");
        assert!(done["error"].is_null(), "{done}");
        assert!(done["started_at"].is_string() && done["finished_at"].is_string());
        // The phases were seen in their order while the job ran, with the counts they have.
        let phases: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
        let order = [
            "candidates",
            "blockers",
            "orphan_fixpoint",
            "effects",
            "audit",
            "commit",
        ];
        let mut at = 0;
        for p in &phases {
            let i = order.iter().position(|o| o == p).unwrap_or_else(|| {
                panic!("unknown phase {p} in {seen:?}");
            });
            assert!(i >= at, "phases out of order: {seen:?}");
            at = i;
        }
        assert!(phases.len() >= 4, "progress was seen advancing: {seen:?}");
        // Every phase has a length (its steps: rules checked, rounds, tables changed, entries
        // written), and its progress stays within it.
        assert!(
            seen.iter()
                .filter(|(phase, _, _)| !phase.is_empty())
                .all(|(_, done, total)| *total > 0 && done <= total),
            "each phase's progress is within its length: {seen:?}"
        );
        // The job did what the dry run planned (as the job book keeps plans: without
        // personal values).
        let model = Model::parse("membership", preset("membership").unwrap().source).unwrap();
        let kept = offboard_store::jobs::JobPlan::of(&dry, &model)
            .json()
            .clone();
        assert_eq!(comparable(done["plan"].clone()), comparable(kept), "{done}");
        assert_eq!(
            deleted(&s),
            before - done["plan"]["purged"].as_i64().unwrap()
        );
        // Listed newest first, filtered by status and operation.
        let list = s
            .api(
                "GET",
                "/api/v1/jobs?status=succeeded&operation=purge",
                &s.viewer,
                Value::Null,
            )
            .json();
        assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
        let none = s
            .api("GET", "/api/v1/jobs?status=failed", &s.viewer, Value::Null)
            .json();
        assert_eq!(none, json!([]));
        let bad = s.api("GET", "/api/v1/jobs?status=done", &s.viewer, Value::Null);
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body.contains("succeeded"), "{}", bad.body);
        let r = s.api("GET", "/api/v1/jobs/999", &s.viewer, Value::Null);
        assert_eq!(r.status, 404);
    }
);

conformance!(
    a_cancelled_job_rolls_back_and_a_second_one_queues,
    |db: TestDb| {
        let s = server(&db, Duration::from_millis(250));
        let before = deleted(&s);
        let audit_before = s
            .api("GET", "/api/v1/audit?limit=10000", &s.admin, Value::Null)
            .json()
            .as_array()
            .unwrap()
            .len();
        let first = submit(&s, "/api/v1/purge", json!({ "background": true }));
        let first_id = first["id"].as_i64().unwrap();
        let second = submit(
            &s,
            "/api/v1/purge",
            json!({ "background": true, "dry_run": true }),
        );
        let second_id = second["id"].as_i64().unwrap();
        // The second waits for the first, and says so.
        let deadline = Instant::now() + Duration::from_secs(30);
        while job(&s, first_id)["status"] != "running" {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(10));
        }
        let waiting = job(&s, second_id);
        assert_eq!(waiting["status"], "queued", "{waiting}");
        assert!(
            waiting["phase"]
                .as_str()
                .unwrap()
                .contains(&format!("waits for job {first_id}")),
            "{waiting}"
        );
        // A viewer may watch jobs but not cancel them.
        let r = s.api(
            "DELETE",
            &format!("/api/v1/jobs/{first_id}"),
            &s.viewer,
            Value::Null,
        );
        assert_eq!(r.status, 403, "{}", r.body);
        // Cancelling the running one: it stops at its next step and its transaction rolls back.
        let r = s.api(
            "DELETE",
            &format!("/api/v1/jobs/{first_id}"),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["cancel_requested"], true, "{}", r.body);
        let (over, _) = until_over(&s, first_id);
        assert_eq!(over["status"], "cancelled", "{over}");
        assert_eq!(over["error"]["code"], "cancelled", "{over}");
        assert!(over["plan"].is_null());
        assert_eq!(deleted(&s), before, "nothing was erased");
        let audit_after = s
            .api("GET", "/api/v1/audit?limit=10000", &s.admin, Value::Null)
            .json()
            .as_array()
            .unwrap()
            .len();
        assert_eq!(audit_after, audit_before, "nothing was audited");
        // The queued one then runs.
        let (second, _) = until_over(&s, second_id);
        assert_eq!(second["status"], "succeeded", "{second}");
        assert_eq!(second["plan"]["dry_run"], true);
        // A queued job is cancelled at once; an ended one cannot be.
        let third = submit(&s, "/api/v1/purge", json!({ "background": true }));
        let fourth = submit(
            &s,
            "/api/v1/reactivate",
            json!({ "background": true, "customers": [1] }),
        );
        let r = s.api(
            "DELETE",
            &format!("/api/v1/jobs/{}", fourth["id"]),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["status"], "cancelled", "{}", r.body);
        let (third, _) = until_over(&s, third["id"].as_i64().unwrap());
        assert_eq!(third["status"], "succeeded", "{third}");
        let r = s.api(
            "DELETE",
            &format!("/api/v1/jobs/{}", third["id"]),
            &s.admin,
            Value::Null,
        );
        assert_eq!(r.status, 409, "{}", r.body);
        assert!(r.body.contains("succeeded already"), "{}", r.body);
    }
);

conformance!(
    a_job_is_refused_when_asked_not_when_it_runs,
    |db: TestDb| {
        let s = server(&db, Duration::ZERO);
        // No permission: 403 at once, and no job.
        let r = s.api(
            "POST",
            "/api/v1/purge",
            &s.viewer,
            json!({ "background": true }),
        );
        assert_eq!(r.status, 403, "{}", r.body);
        // A malformed request: 422 at once.
        let r = s.api(
            "POST",
            "/api/v1/reactivate",
            &s.admin,
            json!({ "background": true, "customers": [] }),
        );
        assert_eq!(r.status, 422, "{}", r.body);
        let list = s.api("GET", "/api/v1/jobs", &s.admin, Value::Null).json();
        assert_eq!(list, json!([]));
        // What only running it finds (an unknown customer) is the job's error.
        let j = submit(
            &s,
            "/api/v1/reactivate",
            json!({ "background": true, "customers": [999999] }),
        );
        let (over, _) = until_over(&s, j["id"].as_i64().unwrap());
        assert_eq!(over["status"], "failed", "{over}");
        assert_eq!(over["error"]["code"], "not_found", "{over}");
        assert_eq!(over["error"]["status"], 404, "{over}");
        // An applied operation that changed nothing fails as the synchronous call does
        // (409 nothing_done), with the plan.
        let active = s
            .api(
                "GET",
                "/api/v1/customers?view=active&limit=1",
                &s.admin,
                Value::Null,
            )
            .json()["customers"][0]["id"]
            .as_i64()
            .unwrap();
        let j = submit(
            &s,
            "/api/v1/reactivate",
            json!({ "background": true, "customers": [active] }),
        );
        let (over, _) = until_over(&s, j["id"].as_i64().unwrap());
        assert_eq!(over["status"], "failed", "{over}");
        assert_eq!(over["error"]["code"], "nothing_done", "{over}");
        assert_eq!(over["plan"]["skipped"], 1, "{over}");
    }
);

conformance!(
    the_web_uis_big_cleanup_runs_as_a_job_with_a_progress_page,
    |db: TestDb| {
        let s = server(&db, Duration::from_millis(150));
        let before = deleted(&s);
        let cookie = s.session("ada", "admin-pass");
        let r = s.page("POST", "/purge", &cookie, "confirm=yes&background=1");
        assert_eq!(r.status, 303, "{}", r.body);
        let at = r.header("location").unwrap().to_string();
        assert!(at.starts_with("/jobs/"), "{at}");
        // While it runs, the page shows where it is and reloads itself.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen_running = false;
        let done = loop {
            let page = s.page("GET", &at, &cookie, "");
            assert_eq!(page.status, 200, "{}", page.body);
            if page.body.contains("<progress") {
                seen_running = true;
                assert_eq!(page.header("refresh"), Some("1"));
            } else {
                break page;
            }
            assert!(Instant::now() < deadline, "the job never ended");
            std::thread::sleep(Duration::from_millis(40));
        };
        assert!(seen_running, "the progress page was shown");
        assert!(done.body.contains("Done"), "{}", done.body);
        assert!(done.header("refresh").is_none());
        let purged = before - deleted(&s);
        assert!(purged > 0);
        assert!(
            done.body.contains(&format!("{} purged", separated(purged))),
            "{}",
            done.body
        );
        // Cleaning up needs the permission when it is asked for.
        let clerk = s.session("vic", "viewer-pass");
        let r = s.page("POST", "/purge", &clerk, "confirm=yes&background=1");
        assert_eq!(r.status, 403, "{}", r.body);
    }
);

conformance!(
    a_mass_deactivation_of_all_matching_runs_as_a_job_from_the_ui,
    |db: TestDb| {
        let mut customers =
            String::from("id,number,kind,name,status\n1,1,company,Keep Co,active\n");
        for i in 0..1_050 {
            customers.push_str(&format!(
                "{},{},person,Leaver {i:04},active\n",
                10 + i,
                10 + i
            ));
        }
        let s = start_with(
            &db,
            "services",
            &[("customers.csv", customers.as_str())],
            |s| s,
        );
        let cookie = crate::log_in(&s);
        // The dialog plans over the query (1,050 persons), not a page of ids.
        let dialog = s.page(
            "GET",
            "/deactivate?all=1&view=active&kind=person",
            &cookie,
            "",
        );
        assert_eq!(dialog.status, 200, "{}", dialog.body);
        assert!(
            dialog.body.contains("1,050 customers can be deactivated"),
            "{}",
            dialog.body
        );
        assert!(
            dialog.body.contains("runs in the background"),
            "{}",
            dialog.body
        );
        assert!(dialog.body.contains("name=\"background\" value=\"1\""));
        let r = s.page(
            "POST",
            "/deactivate",
            &cookie,
            "all=1&view=active&kind=person&background=1&reason.person=Moved+away",
        );
        assert_eq!(r.status, 303, "{}", r.body);
        let at = r.header("location").unwrap().to_string();
        let id: i64 = at.strip_prefix("/jobs/").unwrap().parse().unwrap();
        let (done, _) = until_over(&s, id);
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["plan"]["deactivated"], 1050, "{done}");
        let page = s.page("GET", &at, &cookie, "");
        assert!(page.body.contains("Done"), "{}", page.body);
        let left = s
            .api(
                "GET",
                "/api/v1/customers?view=active",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(left["total"], 1, "only the company stays active: {left}");
    }
);

conformance!(
    the_jobs_page_lists_what_runs_and_cancels_it_for_who_may,
    |db: TestDb| {
        // Long steps: the job is still running while the pages are looked at.
        let s = server(&db, Duration::from_millis(1500));
        let before = deleted(&s);
        let cookie = s.session("ada", "admin-pass");
        let viewer = s.session("vic", "viewer-pass");
        let empty = s.page("GET", "/jobs", &cookie, "");
        assert_eq!(empty.status, 200, "{}", empty.body);
        assert!(empty.body.contains("No jobs yet"), "{}", empty.body);
        assert!(
            empty.body.contains("href=\"/jobs\" class=\"on\""),
            "the nav marks Jobs"
        );
        let r = s.page("POST", "/purge", &cookie, "confirm=yes&background=1");
        assert_eq!(r.status, 303, "{}", r.body);
        let at = r.header("location").unwrap().to_string();
        let id: i64 = at.strip_prefix("/jobs/").unwrap().parse().unwrap();
        // Listed while it has not finished: its title, who asked, progress and Cancel.
        let list = s.page("GET", "/jobs", &cookie, "");
        assert!(
            list.body.contains("Cleanup of the recycle bin"),
            "{}",
            list.body
        );
        assert!(list.body.contains("<progress"), "{}", list.body);
        assert!(
            list.body.contains(&format!("action=\"/jobs/{id}/cancel\"")),
            "{}",
            list.body
        );
        assert_eq!(list.header("refresh"), Some("2"));
        // A viewer sees it, without Cancel, and may not cancel it.
        let seen = s.page("GET", "/jobs", &viewer, "");
        assert!(seen.body.contains("Cleanup of the recycle bin"));
        assert!(!seen.body.contains("/cancel"), "{}", seen.body);
        let r = s.page("POST", &format!("/jobs/{id}/cancel"), &viewer, "");
        assert_eq!(r.status, 403, "{}", r.body);
        let page = s.page("GET", &at, &cookie, "");
        assert!(page.body.contains("Cancel job"), "{}", page.body);
        // Cancelled from the page: it ends so, and nothing was purged.
        let r = s.page("POST", &format!("/jobs/{id}/cancel"), &cookie, "");
        assert_eq!(
            (r.status, r.header("location")),
            (303, Some(at.as_str())),
            "{}",
            r.body
        );
        let (over, _) = until_over(&s, id);
        assert_eq!(over["status"], "cancelled", "{over}");
        assert_eq!(deleted(&s), before, "a cancelled cleanup purged nothing");
        let list = s.page("GET", "/jobs", &cookie, "");
        assert!(list.body.contains("cancelled"), "{}", list.body);
        assert!(!list.body.contains("/cancel\""), "{}", list.body);
        assert!(list.header("refresh").is_none());
    }
);

conformance!(
    a_job_keeps_no_personal_value_of_the_customers_it_erased_or_merged,
    |db: TestDb| {
        // Markers in the names and emails: none may be in what the job book keeps.
        let csv = "id,number,kind,name,email,status\n\
                   1,1,person,Qzjobone Xv,qzjobone@example.com,active\n\
                   2,2,person,Qzjobtwo Xv,qzjobtwo@example.com,active\n\
                   3,3,person,Qzjobthree Xv,qzjobthree@example.com,active\n";
        let s = super::start_with(&db, "services", &[("customers.csv", csv)], |s| s);
        let erase = submit(
            &s,
            "/api/v1/erase",
            json!({ "customers": [1], "background": true }),
        );
        let (done, _) = until_over(&s, erase["id"].as_i64().unwrap());
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(done["plan"]["customers"][0]["id"], 1, "{done}");
        let merge = submit(
            &s,
            "/api/v1/merge",
            json!({ "duplicate": 2, "into": 3, "take": { "email": 2 }, "background": true }),
        );
        let (done, _) = until_over(&s, merge["id"].as_i64().unwrap());
        assert_eq!(done["status"], "succeeded", "{done}");
        let list = s.api("GET", "/api/v1/jobs", &s.viewer, Value::Null);
        for marker in [
            "Qzjobone",
            "qzjobone@",
            "Qzjobtwo",
            "qzjobtwo@",
            "Qzjobthree",
        ] {
            assert!(!list.body.contains(marker), "{marker} in {}", list.body);
        }
        // `locate` finds nothing of the person the job erased — tables, the job book, files.
        let found = s
            .api(
                "GET",
                "/api/v1/privacy/locate?email=qzjobone@example.com&bytes=true",
                &s.admin,
                Value::Null,
            )
            .json();
        assert_eq!(found["found"], json!([]), "{found}");
        assert_eq!(found["undeclared"], json!([]), "{found}");
        assert_eq!(found["files"]["found"], json!([]), "{found}");
        // Nor in the tables: the job book, and the results written in the jobs' transactions.
        let mut store = offboard_store::Database::open(&db.url)
            .unwrap()
            .applied(Model::parse("services", preset("services").unwrap().source).unwrap());
        let kept = store
            .db()
            .query(
                "SELECT plan FROM offboard_job_results",
                &[],
                &[offboard_model::FieldType::Text],
            )
            .unwrap();
        assert_eq!(kept.len(), 2);
        for row in kept {
            let text = row[0].as_str().unwrap_or_default().to_string();
            assert!(!text.contains("Qzjob") && !text.contains("qzjob"), "{text}");
        }
        let mut book = offboard_store::jobs::JobBook::open(&db.url).unwrap();
        for j in book.list(None, None, 10).unwrap() {
            let text = serde_json::to_string(&j).unwrap();
            assert!(!text.contains("Qzjob") && !text.contains("qzjob"), "{text}");
        }
        // A plan kept by an earlier version, with names, loses them when the runner starts.
        store
            .db()
            .execute(
                "INSERT INTO offboard_job_results (job_id, plan, finished_at) VALUES (99, '{\"customers\":[{\"id\":3,\"name\":\"Qzjobthree Xv\",\"outcome\":\"proceeds\"}]}', '2026-01-01 00:00:00')",
                &[],
            )
            .unwrap();
        let model = Model::parse("services", preset("services").unwrap().source).unwrap();
        assert_eq!(book.strip_personal(store.db(), &model).unwrap(), 1);
        let text = store
            .db()
            .query_value(
                "SELECT plan FROM offboard_job_results WHERE job_id = 99",
                &[],
                offboard_model::FieldType::Text,
            )
            .unwrap()
            .unwrap()
            .to_cell();
        assert_eq!(text, r#"{"customers":[{"id":3,"outcome":"proceeds"}]}"#);
    }
);

/// A count as the pages write it: "1,050".
fn separated(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}
