//! The small things a user trips on at a terminal: a closed pipe, `--yes` on every erasure,
//! global options anywhere, a refused operation's exit code, an email that is not one.

use std::io::Read;
use std::process::{Command, Stdio};

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

fn legal(cli: &Cli) {
    cli.run(&["init", "--preset", "legal"]).ok();
    std::fs::create_dir_all(cli.dir.join("data")).unwrap();
    std::fs::write(
        cli.dir.join("data/customers.csv"),
        "id,number,kind,name,status\n1,K1,company,Acme,active\n2,K2,person,Ann,active\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
}

conformance!(
    a_closed_output_pipe_ends_the_command_quietly,
    |db: TestDb| {
        let cli = Cli::new(&db);
        legal(&cli);
        for args in [
            &["customers", "list", "--limit", "0"][..],
            &["customers", "list", "--json", "--limit", "0"][..],
        ] {
            // The reader goes away at once: stdout is a closed pipe.
            let mut child = Command::new(env!("CARGO_BIN_EXE_offboard"))
                .current_dir(&cli.dir)
                .env("OFFBOARD_DB", &cli.db)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            drop(child.stdout.take());
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            let status = child.wait().unwrap();
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
            assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        }
    }
);

conformance!(
    global_options_go_anywhere_and_records_delete_takes_yes,
    |db: TestDb| {
        let cli = Cli::new(&db);
        legal(&cli);
        cli.run(&["users", "add", "cleo", "--role", "clerk"]).ok();
        cli.run(&[
            "records",
            "add",
            "invoice",
            "--set",
            "customer_id=2",
            "--set",
            "total=100",
            "--set",
            "balance=0",
            "--set",
            "issued_on=2024-01-01",
        ])
        .ok();
        // `--as` after the ids acts as that user: a legal clerk may not delete an invoice.
        let r = cli.run(&["records", "delete", "invoice", "1", "--as", "cleo"]);
        assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains("cleo"), "{}", r.stderr);
        // The administrator may, and `--yes` is understood.
        cli.run(&["records", "delete", "invoice", "1", "--yes"])
            .ok();
    }
);

conformance!(
    an_operation_refused_for_every_customer_exits_non_zero,
    |db: TestDb| {
        let cli = Cli::new(&db);
        legal(&cli);
        // "Deceased" is a reason for a person, not for a company.
        let r = cli.run(&["deactivate", "1", "--reason", "Deceased"]);
        assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("not a reason for a company"),
            "{}",
            r.stdout
        );
        let show = cli.run(&["customers", "show", "1", "--json"]).ok().json();
        assert_eq!(show["status"], "active");
    }
);

conformance!(an_email_must_be_an_address, |db: TestDb| {
    let cli = Cli::new(&db);
    legal(&cli);
    for args in [
        vec![
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Bo",
            "--set",
            "email=x",
        ],
        vec![
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Bo",
            "--email",
            "bo at example",
        ],
        vec!["customers", "edit", "2", "--set", "email=nope"],
    ] {
        let r = cli.run(&args);
        assert_ne!(r.code, 0, "{args:?}");
        assert!(r.stderr.contains("not an email address"), "{}", r.stderr);
    }
    cli.run(&[
        "customers",
        "add",
        "--kind",
        "person",
        "--name",
        "Bo",
        "--set",
        "email=bo@example.com",
    ])
    .ok();
});

conformance!(the_server_stops_cleanly_on_sigterm, |db: TestDb| {
    let cli = Cli::new(&db);
    legal(&cli);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_offboard"))
        .current_dir(&cli.dir)
        .env("OFFBOARD_DB", &cli.db)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(up, "the server did not start");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("shutting down"), "{err}");
});

/// Runs `offboard ARGS` with `OFFBOARD_TRACE_SQL=1`: (exit code, standard error).
fn traced(cli: &Cli, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_offboard"))
        .current_dir(&cli.dir)
        .env("OFFBOARD_DB", &cli.db)
        .env("OFFBOARD_TRACE_SQL", "1")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

conformance!(
    offboard_trace_sql_prints_each_statement_and_its_time,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let (_, err) = traced(&cli, &["purge", "--dry-run"]);
        assert!(
            err.lines()
                .any(|l| l.starts_with("sql ") && l.contains(" ms ") && l.contains("customers")),
            "{err}"
        );
        // Off by default: nothing of it on standard error.
        let quiet = cli.run(&["purge", "--dry-run"]);
        assert!(!quiet.stderr.contains(" ms  "), "{}", quiet.stderr);
    }
);

conformance!(
    an_erasure_of_a_few_leaves_the_search_index_at_once_and_a_big_one_merges_it,
    |db: TestDb| {
        if !db.url.starts_with("sqlite") {
            return; // PostgreSQL's pg_trgm indexes are rewritten with their tables.
        }
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        cli.run(&[
            "demo",
            "--customers",
            "2000",
            "--seed",
            "5",
            "--out",
            "data",
        ])
        .ok();
        cli.run(&["import", "data"]).ok();
        let added = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Zebedee Quux",
                "--json",
            ])
            .ok()
            .json();
        let id = added["id"].as_i64().unwrap().to_string();
        let search = |cli: &Cli| {
            cli.run(&[
                "customers",
                "list",
                "--view",
                "all",
                "--search",
                "zebedee",
                "--json",
            ])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len()
        };
        assert_eq!(search(&cli), 1, "found by any case before");
        // One customer: deleted from the index with FTS5's secure-delete, no merge after.
        let (code, err) = traced(&cli, &["erase", &id, "--yes"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(err.contains("'secure-delete', 1"), "{err}");
        assert!(err.contains("'secure-delete', 0"), "{err}");
        assert!(!err.contains("'optimize'"), "{err}");
        assert_eq!(search(&cli), 0, "gone after");
        // The recycle bin's many: deleted the plain way, then the whole index merged.
        let (code, err) = traced(&cli, &["purge", "--yes", "--json"]);
        assert_eq!(code, Some(0), "{err}");
        assert!(!err.contains("'secure-delete', 1"), "{err}");
        assert!(err.contains("'optimize'"), "{err}");
    }
);

conformance!(
    the_audit_log_filters_by_operation_user_and_days_a_page_at_a_time,
    |db: TestDb| {
        let cli = Cli::new(&db);
        legal(&cli);
        cli.run(&["deactivate", "2", "--reason", "Moved away"]).ok();
        cli.run(&["reactivate", "2"]).ok();
        cli.run(&["deactivate", "2", "--reason", "Deceased"]).ok();
        let all = cli.run(&["audit", "--json", "--limit", "0"]).ok().json();
        let all = all.as_array().unwrap().clone();
        let deactivations = cli
            .run(&["audit", "--operation", "deactivate", "--json"])
            .ok()
            .json();
        let deactivations = deactivations.as_array().unwrap();
        assert_eq!(deactivations.len(), 2, "{deactivations:?}");
        assert!(deactivations.iter().all(|e| e["operation"] == "deactivate"));
        // The user who ran them (the CLI's own), and the days: today's are in the last day.
        let actor = deactivations[0]["actor"].as_str().unwrap().to_string();
        let by = cli
            .run(&[
                "audit", "--user", &actor, "--days", "1", "--json", "--limit", "0",
            ])
            .ok()
            .json();
        assert_eq!(by.as_array().unwrap().len(), all.len());
        let nobody = cli.run(&["audit", "--user", "nobody"]).ok();
        assert!(
            nobody.stderr.contains("no entries match"),
            "{}",
            nobody.stderr
        );
        // A page at a time: the next one starts before the last one shown.
        let page = cli.run(&["audit", "--limit", "2"]).ok();
        let last = all[1]["seq"].as_i64().unwrap();
        assert!(
            page.stderr
                .contains(&format!("the next page: add --before {last}")),
            "{}",
            page.stderr
        );
        let next = cli
            .run(&[
                "audit",
                "--before",
                &last.to_string(),
                "--json",
                "--limit",
                "0",
            ])
            .ok()
            .json();
        assert_eq!(next.as_array().unwrap().len(), all.len() - 2);
        assert_eq!(next[0]["seq"], all[2]["seq"]);
        // A typo in the operation is said, not an empty list.
        let typo = cli.run(&["audit", "--operation", "deactivated"]);
        assert_eq!(typo.code, 2, "{}", typo.stderr);
        assert!(
            typo.stderr.contains("no operation is called `deactivated`"),
            "{}",
            typo.stderr
        );
        let bad = cli.run(&["audit", "--days", "0"]);
        assert_eq!(bad.code, 2, "{}", bad.stderr);
    }
);

conformance!(
    an_erp_delete_says_it_only_deactivates_and_undelete_points_to_reactivate,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "erp"]).ok();
        std::fs::create_dir_all(cli.dir.join("data")).unwrap();
        std::fs::write(
            cli.dir.join("data/customers.csv"),
            "id,number,kind,name,status\n1,CU1,company,Acme,active\n2,CU2,company,Beta,active\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        // A dry run says what would happen.
        let dry = cli.run(&["delete", "1", "--dry-run"]).ok().stdout;
        assert!(dry.contains("1 would be deleted"), "{dry}");
        assert!(dry.contains("CU1 Acme (id 1): would be deleted"), "{dry}");
        let out = cli.run(&["delete", "1"]).ok().stdout;
        assert!(
            out.contains("a delete in the erp model only deactivates"),
            "{out}"
        );
        let back = cli.run(&["undelete", "1"]);
        assert_eq!(back.code, 1, "{}", back.stdout);
        assert!(
            back.stdout
                .contains("is deactivated, not deleted: reactivate it instead"),
            "{}",
            back.stdout
        );
        // Ids and a selection together: which did the user mean? Refused, nothing done.
        let both = cli.run(&[
            "deactivate",
            "2",
            "--select-view",
            "active",
            "--reason",
            "Inactive",
        ]);
        assert_eq!(both.code, 2, "{}", both.stderr);
        assert!(both.stderr.contains("not both"), "{}", both.stderr);
        let two = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(two["status"], "active");
    }
);

conformance!(
    records_list_shows_one_contracts_payments_newest_first,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "lending"]).ok();
        std::fs::create_dir_all(cli.dir.join("data")).unwrap();
        for (file, text) in [
            ("customers.csv", "id,number,kind,name,email,status\n1,L1,client,Ann Lee,ann@example.com,active\n"),
            ("application.csv", "id,customer_id,number,amount,applied_on\n1,1,A-1,100000,2024-01-01\n"),
            ("contract.csv", "id,application_id,number,principal,signed_on\n43,1,K-000043,100000,2024-01-05\n44,1,K-000044,100000,2024-01-06\n"),
            ("payment.csv", "id,contract_id,number,amount,paid_on\n1,43,1,1000,2024-02-01\n2,43,2,1000,2024-03-01\n3,44,1,1000,2024-04-01\n"),
        ] {
            std::fs::write(cli.dir.join("data").join(file), text).unwrap();
        }
        cli.run(&["import", "data"]).ok();
        let list = cli
            .run(&["records", "list", "payment", "--contract", "43", "--json"])
            .ok()
            .json();
        let ids: Vec<i64> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [2, 1], "contract 43's payments, newest first: {list}");
        let one = cli
            .run(&[
                "records",
                "list",
                "payment",
                "--contract",
                "43",
                "--limit",
                "1",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(one.as_array().unwrap().len(), 1);
        let none = cli.run(&["records", "list", "payment", "--contract", "99"]);
        assert_eq!(none.code, 1, "{}", none.stderr);
        assert!(
            none.stderr.contains("no contract with id 99"),
            "{}",
            none.stderr
        );
        let bad = cli.run(&["records", "list", "payment", "--invoice", "43"]);
        assert_eq!(bad.code, 2, "{}", bad.stderr);
        assert!(
            bad.stderr.contains("expected --contract ID"),
            "{}",
            bad.stderr
        );
    }
);
