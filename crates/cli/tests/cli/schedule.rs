//! Retention that runs: `offboard schedule` applies the model's schedules once per period,
//! takes exactly the customers past their days, lets rules block, and holds a run the model
//! sends for review until a manager approves it.

use offboard_model::DateTime;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::{Cli, Run};

const MODEL: &str = r#"
[model]
name = "retention"
purge = "per-customer"
purge_retention_days = 30

[customer]
kinds = ["person"]
personal = ["name", "email"]
identifying = ["email"]
reasons = { person = ["Dormant", "Moved away"] }
[customer.fields]
last_order_on = "date"

[record.invoice]
owner = "customer"
on_erase = "detach"
[record.invoice.fields]
balance = "money"

[[rule]]
id = "unpaid"
on = ["delete", "purge"]
kind = "invoice"
when = "balance != 0"
message = "{count} unpaid {invoice|invoices}"

[[schedule]]
id = "empty-bin"
label = "Empty the recycle bin"
run = "purge"

[[schedule]]
id = "dormant"
run = "delete"
every = "week"
customers = "status = 'deactivated'"
older_than = "7 years"
since = "deactivated_on"

[[schedule]]
id = "lapse"
run = "deactivate"
every = "month"
customers = "status = 'active'"
older_than = "3 years"
since = "last_order_on"
reason = "Dormant"
review = "manager"
"#;

fn days_ago(days: i64) -> DateTime {
    DateTime::from_seconds(DateTime::now().seconds() - days * 86_400)
}

fn date_ago(days: i64) -> String {
    days_ago(days).date().to_string()
}

/// Ten persons, each placed against one of the schedules' edges.
fn setup(cli: &Cli) {
    std::fs::write(cli.dir.join("offboard.toml"), MODEL).unwrap();
    let deleted = |d: i64| days_ago(d).to_string();
    let rows = [
        // In the bin past the 30 days: purged.
        format!("1,P1,person,Ann,ann@example.com,deleted,,,{},", deleted(40)),
        // In the bin for 10 days: kept.
        format!("2,P2,person,Bo,bo@example.com,deleted,,,{},", deleted(10)),
        // In the bin with no date: past any retention.
        "3,P3,person,Cy,cy@example.com,deleted,,,,".to_string(),
        // Past the retention, but an unpaid invoice blocks it.
        format!("4,P4,person,Di,di@example.com,deleted,,,{},", deleted(40)),
        // Deactivated 8 years ago: deleted by `dormant`.
        format!(
            "5,P5,person,Ed,ed@example.com,deactivated,{},Moved away,,",
            date_ago(8 * 366)
        ),
        // Deactivated 6 years ago: not yet.
        format!(
            "6,P6,person,Flo,flo@example.com,deactivated,{},Moved away,,",
            date_ago(6 * 365)
        ),
        // Deactivated 8 years ago, an unpaid invoice: blocked.
        format!(
            "7,P7,person,Gus,gus@example.com,deactivated,{},Moved away,,",
            date_ago(8 * 366)
        ),
        // Active, last order 4 years ago: proposed for review.
        format!(
            "8,P8,person,Hal,hal@example.com,active,,,,{}",
            date_ago(4 * 366)
        ),
        // Active, last order last year: not.
        format!(
            "9,P9,person,Ida,ida@example.com,active,,,,{}",
            date_ago(365)
        ),
        // Active, last order 5 years ago: proposed, then orders again before the approval.
        format!(
            "10,P10,person,Jo,jo@example.com,active,,,,{}",
            date_ago(5 * 366)
        ),
    ];
    let data = cli.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("customers.csv"),
        format!(
            "id,number,kind,name,email,status,deactivated_on,deactivation_reason,deleted_at,last_order_on\n{}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    std::fs::write(
        data.join("invoice.csv"),
        "id,customer_id,balance\n1,4,12000\n2,7,8000\n3,5,0\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
}

fn statuses(cli: &Cli) -> Vec<(i64, String)> {
    let list = cli
        .run(&["customers", "list", "--view", "all", "--json"])
        .ok()
        .json();
    let mut out: Vec<(i64, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn outcome<'a>(run: &'a serde_json::Value, schedule: &str) -> &'a serde_json::Value {
    run.as_array()
        .unwrap()
        .iter()
        .find(|o| o["schedule"] == schedule)
        .unwrap_or_else(|| panic!("no outcome for {schedule} in {run:#}"))
}

fn ids_of(plan: &serde_json::Value, outcome: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = plan["customers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == outcome)
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[track_caller]
fn fails(run: Run, text: &str) {
    assert_ne!(run.code, 0, "expected a failure\nstdout: {}", run.stdout);
    assert!(
        run.stderr.contains(text),
        "expected `{text}` in:\n{}",
        run.stderr
    );
}

conformance!(
    a_retention_run_takes_exactly_the_customers_past_their_days_once_per_period,
    |db: TestDb| {
        let cli = Cli::new(&db);
        setup(&cli);
        let before = statuses(&cli);

        // The dry run says what the next run would do, and changes and records nothing.
        let dry = cli
            .run(&["schedule", "run", "--dry-run", "--json"])
            .ok()
            .json();
        let purge = outcome(&dry, "empty-bin");
        assert_eq!(purge["outcome"], "dry_run");
        assert_eq!(ids_of(&purge["plan"], "proceeds"), vec![1, 3]);
        assert_eq!(ids_of(&purge["plan"], "blocked"), vec![4]);
        assert_eq!(
            ids_of(&outcome(&dry, "dormant")["plan"], "proceeds"),
            vec![5]
        );
        assert_eq!(statuses(&cli), before);
        let runs = cli.run(&["schedule", "runs", "--json"]).ok().json();
        assert_eq!(runs.as_array().unwrap().len(), 0, "{runs:#}");

        let listed = cli.run(&["schedule", "list"]).ok().stdout;
        assert!(listed.contains("due now"), "{listed}");
        assert!(
            listed.contains("deactivate customers where status is active, last order on more than 3 years ago, every month, approved by a manager first"),
            "{listed}"
        );

        // The run: the bin past 30 days (the unpaid one blocked), the dormant deleted.
        let ran = cli.run(&["schedule", "run", "--json"]).ok().json();
        let purge = outcome(&ran, "empty-bin");
        assert_eq!(purge["outcome"], "ran");
        assert_eq!(purge["plan"]["purged"], 2);
        assert_eq!(purge["plan"]["blocked"], 1);
        let dormant = outcome(&ran, "dormant");
        assert_eq!(dormant["plan"]["deleted"], 1);
        assert_eq!(ids_of(&dormant["plan"], "blocked"), vec![7]);
        let lapse = outcome(&ran, "lapse");
        assert_eq!(lapse["outcome"], "for_review");
        let after = statuses(&cli);
        let status = |id: i64| {
            after
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, s)| s.as_str())
        };
        assert_eq!(status(1), None, "erased");
        assert_eq!(status(3), None, "erased");
        assert_eq!(status(2), Some("deleted"));
        assert_eq!(status(4), Some("deleted"));
        assert_eq!(status(5), Some("deleted"), "deleted by `dormant`");
        assert_eq!(status(6), Some("deactivated"));
        assert_eq!(status(7), Some("deactivated"));
        assert_eq!(status(8), Some("active"), "waits for review");

        // A second run in the same period does nothing.
        let again = cli.run(&["schedule", "run", "--json"]).ok().json();
        for o in again.as_array().unwrap() {
            assert_eq!(o["outcome"], "not_due", "{o:#}");
        }
        assert_eq!(statuses(&cli), after);
        let text = cli.run(&["schedule", "run"]).ok().stdout;
        assert!(text.contains("empty-bin [purge]: already ran in"), "{text}");

        // The review queue: a clerk may not approve; the proposal names 8 and 10.
        cli.run(&["users", "add", "mia", "--role", "manager"]).ok();
        cli.run(&["users", "add", "cal", "--role", "clerk"]).ok();
        let queue = cli.run(&["schedule", "reviews", "--json"]).ok().json();
        let queue = queue.as_array().unwrap();
        assert_eq!(queue.len(), 1);
        assert_eq!(queue[0]["customers"], serde_json::json!([8, 10]));
        let run_id = queue[0]["id"].as_i64().unwrap().to_string();
        fails(
            cli.run(&["--as", "cal", "schedule", "approve", &run_id]),
            "may not approve or reject runs of schedule `lapse`; the model allows it to: manager, admin",
        );
        // Jo orders again before the approval: no longer dormant, not deactivated.
        let today = DateTime::now().date().to_string();
        cli.run(&[
            "customers",
            "edit",
            "10",
            "--set",
            &format!("last_order_on={today}"),
        ])
        .ok();
        let approved = cli
            .run(&["--as", "mia", "schedule", "approve", &run_id, "--json"])
            .ok()
            .json();
        assert_eq!(approved["plan"]["deactivated"], 1, "{approved:#}");
        let shown = cli.run(&["customers", "show", "8", "--json"]).ok().json();
        assert_eq!(shown["status"], "deactivated");
        assert_eq!(shown["deactivation_reason"], "Dormant");
        let jo = cli.run(&["customers", "show", "10", "--json"]).ok().json();
        assert_eq!(jo["status"], "active");
        fails(
            cli.run(&["--as", "mia", "schedule", "approve", &run_id]),
            "is approved, not waiting for review (decided by mia)",
        );
        let runs = cli.run(&["schedule", "runs", "--json"]).ok().json();
        let lapse_run = runs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["schedule"] == "lapse")
            .unwrap();
        assert_eq!(lapse_run["state"], "approved");
        assert_eq!(lapse_run["decided_by"], "mia");
        assert_eq!(lapse_run["customers"], serde_json::json!([8]));

        // Forcing a run in a period it already ran in is the schedule's own permission: a
        // clerk may delete, but not force the schedule that deletes; a refused force runs
        // nothing; the reviewed schedule may be forced by its reviewer.
        let runs_before = cli.run(&["schedule", "runs", "--json"]).ok().json();
        fails(
            cli.run(&[
                "--as", "cal", "schedule", "run", "--id", "dormant", "--force",
            ]),
            "may not force schedule `dormant` to run again in a period it already ran in",
        );
        fails(
            cli.run(&["--as", "mia", "schedule", "run", "--force"]),
            "may not force schedule `empty-bin` to run again in a period it already ran in",
        );
        assert_eq!(
            cli.run(&["schedule", "runs", "--json"]).ok().json(),
            runs_before
        );
        let forced_lapse = cli
            .run(&[
                "--as", "mia", "schedule", "run", "--id", "lapse", "--force", "--json",
            ])
            .ok()
            .json();
        assert_ne!(
            outcome(&forced_lapse, "lapse")["outcome"],
            "failed",
            "{forced_lapse:#}"
        );
        let runs_after = cli.run(&["schedule", "runs", "--json"]).ok().json();
        assert_eq!(
            runs_after.as_array().unwrap().len(),
            runs_before.as_array().unwrap().len() + 1,
            "{runs_after:#}"
        );
        // A forced run takes what is past its days now: nothing new in the bin.
        let forced = cli
            .run(&["schedule", "run", "--id", "empty-bin", "--force", "--json"])
            .ok()
            .json();
        let purge = outcome(&forced, "empty-bin");
        assert_eq!(purge["outcome"], "ran");
        assert_eq!(purge["plan"]["purged"], 0);
        assert_eq!(ids_of(&purge["plan"], "blocked"), vec![4]);

        // The log holds each change and the approval, and still verifies.
        let log = cli.run(&["audit", "--limit", "100", "--json"]).ok().json();
        let ops: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert!(ops.contains(&"review"), "{ops:?}");
        cli.run(&["audit", "verify"]).ok();
    }
);

conformance!(
    an_unknown_schedule_is_named_and_nothing_runs,
    |db: TestDb| {
        let cli = Cli::new(&db);
        setup(&cli);
        let before = statuses(&cli);
        fails(
            cli.run(&["schedule", "run", "--id", "empty-bins"]),
            "there is no schedule `empty-bins`; schedules are: empty-bin, dormant, lapse",
        );
        fails(
            cli.run(&["schedule", "approve", "99"]),
            "there is no schedule run 99",
        );
        assert_eq!(statuses(&cli), before);
    }
);

conformance!(
    a_soft_delete_checks_the_models_delete_rules,
    |db: TestDb| {
        let cli = Cli::new(&db);
        setup(&cli);
        // Gus (7) has an unpaid invoice; the `unpaid` rule is on delete as well as purge.
        let out = cli.run(&["delete", "7", "6"]).ok().stdout;
        assert!(out.contains("1 deleted, 1 blocked"), "{out}");
        assert!(
            out.contains("7 P7 Gus: blocked: 1 unpaid invoice [unpaid]"),
            "{out}"
        );
        let after = statuses(&cli);
        assert!(after.contains(&(7, "deactivated".to_string())), "{after:?}");
        assert!(after.contains(&(6, "deleted".to_string())), "{after:?}");
    }
);

conformance!(
    a_schedule_run_is_bound_to_the_dry_run_shown,
    |db: TestDb| {
        let cli = Cli::new(&db);
        setup(&cli);
        let dry = cli
            .run(&["schedule", "run", "--id", "dormant", "--dry-run"])
            .ok()
            .stdout;
        let fp = dry
            .split("--plan ")
            .nth(1)
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("no plan in {dry}"));
        // A plan binds one schedule: without --id it is refused.
        fails(cli.run(&["schedule", "run", "--plan", &fp]), "--id");
        // Customer 5, the one it would delete, is active again: the run would differ, and
        // applies nothing, saying why.
        let before = statuses(&cli);
        cli.run(&["reactivate", "5"]).ok();
        let changed = statuses(&cli);
        assert_ne!(before, changed);
        let r = cli.run(&["schedule", "run", "--id", "dormant", "--plan", &fp]);
        assert_eq!(r.code, 1, "{}", r.stdout);
        assert!(r.stdout.contains("the plan changed"), "{}", r.stdout);
        assert_eq!(statuses(&cli), changed, "a changed run applied");
        let runs = cli.run(&["schedule", "runs", "--json"]).ok().json();
        assert_eq!(runs.as_array().unwrap().len(), 0, "{runs:#}");
    }
);

conformance!(
    an_approval_is_bound_to_what_its_dry_run_showed,
    |db: TestDb| {
        let cli = Cli::new(&db);
        setup(&cli);
        cli.run(&["schedule", "run", "--id", "lapse"]).ok();
        let queue = cli.run(&["schedule", "reviews", "--json"]).ok().json();
        let run_id = queue[0]["id"].as_i64().unwrap().to_string();
        // What approving does now: deactivate 8 and 10, and the plan to approve exactly that.
        let now = cli
            .run(&["schedule", "approve", &run_id, "--dry-run", "--json"])
            .ok()
            .json();
        assert_eq!(now["outcome"], "dry_run", "{now:#}");
        assert_eq!(now["plan"]["deactivated"], 2, "{now:#}");
        let fp = now["plan"]["fingerprint"].as_str().unwrap().to_string();
        // Jo orders again meanwhile: the approval would take one, not two — nothing applies.
        let today = DateTime::now().date().to_string();
        cli.run(&[
            "customers",
            "edit",
            "10",
            "--set",
            &format!("last_order_on={today}"),
        ])
        .ok();
        let before = statuses(&cli);
        fails(
            cli.run(&["schedule", "approve", &run_id, "--plan", &fp]),
            "nothing was applied",
        );
        assert_eq!(statuses(&cli), before, "a changed approval applied");
        let queue = cli.run(&["schedule", "reviews", "--json"]).ok().json();
        assert_eq!(
            queue.as_array().map(Vec::len),
            Some(1),
            "the run still waits: {queue:#}"
        );
        // The approval as it is now.
        let now = cli
            .run(&["schedule", "approve", &run_id, "--dry-run", "--json"])
            .ok()
            .json();
        let fp = now["plan"]["fingerprint"].as_str().unwrap().to_string();
        let done = cli
            .run(&["schedule", "approve", &run_id, "--plan", &fp, "--json"])
            .ok()
            .json();
        assert_eq!(done["plan"]["deactivated"], 1, "{done:#}");
    }
);
