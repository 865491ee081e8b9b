//! One resolver for what a person typed: `#ID` is an id, `number:N` a number; a bare value
//! that names two customers (or the number of one and the id of one erased since) is refused,
//! naming both; a merged-away customer is followed for reading and refused for changing.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

/// services (numbers are plain integers, as ids are), with numbers and ids drifted apart.
fn drifted(db: &TestDb) -> Cli {
    let cli = Cli::new(db);
    cli.run(&["init", "--preset", "services"]).ok();
    let dir = cli.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name,status\n\
         5,2003,person,Number Twothousandthree,active\n\
         7,5,person,Number Five,active\n\
         2003,9,person,Id Twothousandthree,active\n\
         3001,3001,person,Ann Survivor,active\n\
         3003,3003,person,Ann Duplicate,active\n\
         3008,3008,person,Ann Other,active\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
    cli
}

fn status(cli: &Cli, id: &str) -> String {
    cli.run(&["customers", "show", &format!("#{id}"), "--json"])
        .ok()
        .json()["status"]
        .as_str()
        .unwrap()
        .to_string()
}

conformance!(
    a_value_that_is_an_id_and_another_number_is_refused,
    |db: TestDb| {
        let cli = drifted(&db);
        let r = cli.run(&["delete", "2003"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stderr.contains("is both the id of"), "{}", r.stderr);
        assert!(r.stderr.contains("Id Twothousandthree"), "{}", r.stderr);
        assert!(r.stderr.contains("Number Twothousandthree"), "{}", r.stderr);
        assert_eq!(status(&cli, "2003"), "active");
        assert_eq!(status(&cli, "5"), "active");
        // Said explicitly, each is what it says.
        cli.run(&["delete", "number:2003"]).ok();
        assert_eq!(status(&cli, "5"), "deleted");
        assert_eq!(status(&cli, "2003"), "active");
        cli.run(&["delete", "#2003"]).ok();
        assert_eq!(status(&cli, "2003"), "deleted");
        // The dry run's text names the customer, not only an id.
        let r = cli.run(&["delete", "#3008", "--dry-run"]).ok();
        assert!(r.stdout.contains("Ann Other"), "{}", r.stdout);
    }
);

conformance!(
    an_erased_id_is_not_taken_for_another_number,
    |db: TestDb| {
        let cli = drifted(&db);
        // Id 5 (number 2003) goes to the bin and is erased; number 5 is Number Five's (id 7).
        cli.run(&["delete", "#5"]).ok();
        cli.run(&["purge", "--yes"]).ok();
        let r = cli.run(&["undelete", "5"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stderr.contains("erased"), "{}", r.stderr);
        assert!(r.stderr.contains("Number Five"), "{}", r.stderr);
        let r = cli.run(&["undelete", "#5"]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("was erased"), "{}", r.stderr);
        // Number Five by its number, explicitly: it is active, so undelete refuses for that.
        assert_eq!(status(&cli, "7"), "active");
    }
);

conformance!(
    a_merged_away_customer_is_followed_to_read_and_refused_to_change,
    |db: TestDb| {
        let cli = drifted(&db);
        cli.run(&["merge", "3003", "--into", "3001"]).ok();
        // Reading follows the merge, with a note.
        let r = cli.run(&["customers", "show", "3003", "--json"]).ok();
        assert_eq!(r.json()["id"], 3001);
        assert!(r.stderr.contains("was merged into"), "{}", r.stderr);
        // Changing refuses, naming where it went; the survivor is untouched.
        for args in [
            vec!["delete", "3003"],
            vec!["erase", "3003", "--dry-run"],
            vec!["deactivate", "3003", "--reason", "Moved away"],
            vec!["merge", "3008", "--into", "3003"],
        ] {
            let r = cli.run(&args);
            assert_ne!(r.code, 0, "{args:?}: {}", r.stdout);
            assert!(
                r.stderr.contains("was merged into 3001 Ann Survivor"),
                "{args:?}: {}",
                r.stderr
            );
            assert!(
                r.stderr.contains("nothing was done"),
                "{args:?}: {}",
                r.stderr
            );
        }
        assert_eq!(status(&cli, "3001"), "active");
        assert_eq!(status(&cli, "3008"), "active");
    }
);

conformance!(
    plan_binds_an_apply_to_what_the_dry_run_showed,
    |db: TestDb| {
        let cli = drifted(&db);
        let dry = cli
            .run(&["delete", "#3001", "#3008", "--dry-run", "--json"])
            .ok()
            .json();
        let fp = dry["fingerprint"].as_str().unwrap().to_string();
        let text = cli
            .run(&["delete", "#3001", "#3008", "--dry-run"])
            .ok()
            .stdout;
        assert!(text.contains(&format!("--plan {fp}")), "{text}");
        // 3008 goes to the bin meanwhile: the plan the person saw is not what would happen.
        cli.run(&["delete", "#3008"]).ok();
        let r = cli.run(&["delete", "#3001", "#3008", "--plan", &fp]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stderr.contains("the plan changed"), "{}", r.stderr);
        assert_eq!(status(&cli, "3001"), "active", "a changed plan was applied");
        // The new plan's fingerprint applies it.
        let fresh = cli
            .run(&["delete", "#3001", "#3008", "--dry-run", "--json"])
            .ok()
            .json();
        let fp = fresh["fingerprint"].as_str().unwrap().to_string();
        let done = cli
            .run(&["delete", "#3001", "#3008", "--plan", &fp, "--json"])
            .ok()
            .json();
        assert_eq!(done["fingerprint"], fp.as_str());
        assert_eq!(status(&cli, "3001"), "deleted");
    }
);

conformance!(
    a_dry_run_refuses_and_reports_what_its_apply_would,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status\n\
         17,K17,person,Ann Stays,ann@example.com,active\n\
         91,K91,person,Bo Target,bo@example.com,active\n\
         11,K11,person,Cy Owes,cy@example.com,active\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("advance.csv"),
            "id,customer_id,amount,settled\n1,17,10000,true\n",
        )
        .unwrap();
        std::fs::write(
        dir.join("invoice.csv"),
        "id,customer_id,number,total,balance,issued_on\n1,11,INV-0000001,10000,2500,2024-01-01\n",
    )
    .unwrap();
        cli.run(&["import", "data"]).ok();
        // A move-to that must deactivate instead needs a reason: the dry run says so as the
        // apply does, instead of answering "1 deactivated".
        let dry = cli.run(&["delete", "17", "--move-to", "91", "--dry-run"]);
        let apply = cli.run(&["delete", "17", "--move-to", "91"]);
        assert_ne!(dry.code, 0, "{}", dry.stdout);
        assert_eq!(dry.code, apply.code);
        assert!(dry.stderr.contains("needs a reason"), "{}", dry.stderr);
        assert!(apply.stderr.contains("needs a reason"), "{}", apply.stderr);
        // A forget's dry run counts the blocklist's values as its apply does.
        let dry = cli
            .run(&["forget", "91", "--dry-run", "--json"])
            .ok()
            .json();
        let done = cli.run(&["forget", "91", "--yes", "--json"]).ok().json();
        assert_eq!(dry["blocked_values"], 1, "{dry}");
        assert_eq!(done["blocked_values"], dry["blocked_values"]);
        // A blocked dry run and its apply exit alike, whatever the command.
        for args in [
            vec!["deactivate", "11", "--reason", "Moved away"],
            vec!["delete", "11"],
        ] {
            let mut dry_args = args.clone();
            dry_args.push("--dry-run");
            let dry = cli.run(&dry_args);
            let apply = cli.run(&[args.as_slice(), &["--yes"]].concat());
            assert_eq!(dry.code, 1, "{args:?}: {}", dry.stdout);
            assert_eq!(apply.code, 1, "{args:?}: {}", apply.stdout);
        }
    }
);

conformance!(
    a_link_to_a_customer_in_the_recycle_bin_says_so,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,status,deleted_at\n\
             18,M18,company,Binned Company,deleted,2026-01-02 03:04:05\n\
             19,M19,person,Pat Member,active,\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        for args in [
            &[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "New",
                "--set",
                "company_id=18",
            ][..],
            &["customers", "edit", "#19", "--set", "company_id=18"][..],
        ] {
            let r = cli.run(args);
            assert_ne!(r.code, 0, "{}", r.stdout);
            assert!(
                r.stderr
                    .contains("customer 18 is deleted; undelete it first"),
                "{}",
                r.stderr
            );
        }
        let list = cli.run(&["customers", "list", "--json"]).ok().json();
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list:#}");
    }
);
