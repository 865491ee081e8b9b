//! Undo: a deactivation, a delete to the recycle bin and a merge taken back from what the
//! audit log recorded, while nothing since depends on them; erasures are not undoable.

use std::path::Path;

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

/// The latest audit entry of `operation`.
pub(crate) fn entry_of(cli: &Cli, operation: &str) -> String {
    let log = cli.run(&["audit", "--limit", "200", "--json"]).ok().json();
    log.as_array()
        .unwrap()
        .iter()
        .find(|e| e["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} entry in {log:#}"))["seq"]
        .to_string()
}

/// Every customer and record table as CSV files: the database's state to compare.
pub(crate) fn snapshot(cli: &Cli, name: &str) -> Vec<(String, String)> {
    let dir = cli.dir.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    cli.run(&["export", dir.to_str().unwrap()]).ok();
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(Path::new(&p)).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

conformance!(
    undo_takes_back_a_deactivation_a_delete_and_a_merge,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,phone,status,created_at\n\
             1,1,person,Ann Lee,,+41 11,active,2024-01-01 09:00\n\
             2,2,person,Ann Lee,ann@a.example,+41 22,active,2024-06-01 09:00\n\
             3,3,person,A. Lee,ann@b.example,,active,2025-01-01 09:00\n\
             4,4,person,Bo Ek,bo@example.com,,active,2024-01-01 09:00\n\
             5,5,person,Cy Po,cy@example.com,,active,2024-01-01 09:00\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("invoice.csv"),
            "id,customer_id,number,total,balance,issued_on\n1,2,INV-0000001,100,0,2024-01-01\n2,3,INV-0000002,200,0,2024-02-01\n",
        )
        .unwrap();
        std::fs::write(dir.join("note.csv"), "id,customer_id,body\n1,3,wrote\n").unwrap();
        std::fs::write(
            dir.join("job.csv"),
            "id,customer_id,scheduled_on,description,total\n1,4,2024-01-01,Roof,1000\n2,4,2024-02-01,Door,500\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();

        // A merge, then its undo: every table as it was.
        let before = snapshot(&cli, "before");
        cli.run(&["merge", "2", "3", "--into", "1", "--take", "email=2"])
            .ok();
        assert_ne!(snapshot(&cli, "merged"), before);
        let seq = entry_of(&cli, "merge");
        let dry = cli.run(&["undo", &seq, "--dry-run"]).ok().stdout;
        assert!(dry.contains("2 come back, 0 stay"), "{dry}");
        assert_ne!(
            snapshot(&cli, "still-merged"),
            before,
            "a dry run changes nothing"
        );
        let done = cli.run(&["undo", &seq]).ok().stdout;
        assert!(done.contains("2 come back"), "{done}");
        assert_eq!(snapshot(&cli, "after"), before);
        // Once only.
        let r = cli.run(&["undo", &seq]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("were undone already, by entry"),
            "{}",
            r.stderr
        );
        // The merged-away ids are theirs again (no tombstone leads elsewhere).
        let two = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(two["email"], "ann@a.example");
        assert_eq!(two["records"]["invoice"], 1);

        // A transfer: its records go back.
        cli.run(&["transfer", "--from", "4", "--to", "1"]).ok();
        let seq = entry_of(&cli, "transfer");
        let out = cli.run(&["undo", &seq]).ok().stdout;
        assert!(out.contains("job: 2 moved back"), "{out}");
        assert_eq!(snapshot(&cli, "untransferred"), before);

        // A deactivation: whoever was changed since stays, and says why.
        cli.run(&["deactivate", "4", "5", "--reason", "Moved away"])
            .ok();
        let seq = entry_of(&cli, "deactivate");
        cli.run(&["customers", "edit", "5", "--set", "phone=+41 55"])
            .ok();
        let out = cli.run(&["undo", &seq]).ok().stdout;
        assert!(out.contains("1 come back, 1 stay"), "{out}");
        assert!(out.contains("stays: it was changed since (entry"), "{out}");
        let four = cli.run(&["customers", "show", "4", "--json"]).ok().json();
        assert_eq!(four["status"], "active");
        let five = cli.run(&["customers", "show", "5", "--json"]).ok().json();
        assert_eq!(five["status"], "deactivated");
        // Again: the one that came back says so.
        let r = cli.run(&["undo", &seq]);
        assert!(
            r.stdout.contains("it came back already (entry"),
            "{}",
            r.stdout
        );

        // A delete to the recycle bin comes back with the status it had.
        cli.run(&["delete", "5"]).ok();
        let seq = entry_of(&cli, "delete");
        cli.run(&["undo", &seq]).ok();
        let five = cli.run(&["customers", "show", "5", "--json"]).ok().json();
        assert_eq!(five["status"], "deactivated");
        cli.run(&["audit", "verify"]).ok();
        let log = cli.run(&["audit", "--json"]).ok().json();
        assert_eq!(log[0]["operation"], "undo");

        // An erasure is not undoable, and says so; a merge changed since cannot come back.
        cli.run(&["erase", "4", "--yes"]).ok();
        let seq = entry_of(&cli, "purge");
        let r = cli.run(&["undo", &seq]);
        assert_ne!(r.code, 0);
        assert!(r.stderr.contains("cannot be undone"), "{}", r.stderr);
        cli.run(&["merge", "3", "--into", "1"]).ok();
        let seq = entry_of(&cli, "merge");
        cli.run(&["customers", "edit", "1", "--set", "phone=+41 99"])
            .ok();
        let r = cli.run(&["undo", &seq]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stdout.contains("a merge comes back whole or not at all"),
            "{}",
            r.stdout
        );
    }
);

conformance!(
    a_move_to_that_deactivated_instead_is_undone_and_one_that_erased_is_not,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let add = |name: &str| {
            cli.run(&[
                "customers",
                "add",
                "--kind",
                "company",
                "--name",
                name,
                "--json",
            ])
            .ok()
            .json()["id"]
                .to_string()
        };
        let (a, b, c) = (add("A"), add("B"), add("C"));
        for owner in [&a, &c] {
            cli.run(&[
                "records",
                "add",
                "matter",
                "--set",
                &format!("customer_id={owner}"),
                "--set",
                "status=closed",
            ])
            .ok();
        }
        // An advance (settled) keeps A from being erased: it is deactivated instead.
        cli.run(&[
            "records",
            "add",
            "advance",
            "--set",
            &format!("customer_id={a}"),
            "--set",
            "amount=10000",
            "--set",
            "settled=true",
        ])
        .ok();
        let before = snapshot(&cli, "before");
        let d = cli
            .run(&[
                "delete",
                &a,
                "--move-to",
                &b,
                "--reason",
                "Relationship ended",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(d["deactivated"], 1, "{d:#}");
        let seq = entry_of(&cli, "move-to");
        let out = cli.run(&["undo", &seq]).ok().stdout;
        assert!(out.contains("matter: 1 moved back"), "{out}");
        let shown = cli.run(&["customers", "show", &a, "--json"]).ok().json();
        assert_eq!(shown["status"], "active");
        assert_eq!(snapshot(&cli, "after"), before);
        // C moves and is erased: that cannot be undone.
        cli.run(&["delete", &c, "--move-to", &b, "--yes"]).ok();
        let seq = entry_of(&cli, "move-to");
        let r = cli.run(&["undo", &seq]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("an erasure cannot be undone"),
            "{}",
            r.stderr
        );
        // Its delete entry is the same operation (one transaction): the same refusal.
        let seq = entry_of(&cli, "delete");
        let r = cli.run(&["undo", &seq]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("an erasure cannot be undone"),
            "{}",
            r.stderr
        );
    }
);

conformance!(
    undoing_a_deactivation_brings_back_removed_and_completed_open_activities,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,status\n13,K13,person,Ann Removed,active\n14,K14,person,Bo Completed,active\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("activity.csv"),
            "id,customer_id,subject,critical,done,due_on\n\
             1,13,Call back,0,0,2024-05-01\n2,13,Send letter,0,0,2024-05-02\n\
             3,14,Call back,0,0,2024-05-01\n4,14,Old call,0,1,2024-01-01\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        let activities = |cli: &Cli, who: &str| -> Vec<(i64, bool)> {
            let list = cli
                .run(&["records", "list", "activity", "--customer", who, "--json"])
                .ok()
                .json();
            let mut out: Vec<(i64, bool)> = list
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["id"].as_i64().unwrap(),
                        a["done"] == true || a["done"] == 1,
                    )
                })
                .collect();
            out.sort();
            out
        };
        let before_13 = activities(&cli, "13");
        let before_14 = activities(&cli, "14");
        assert_eq!(before_13.len(), 2);

        // Removed: into the records bin, and back with the undo.
        let d = cli
            .run(&[
                "deactivate",
                "13",
                "--reason",
                "Deceased",
                "--open-activities",
                "remove",
                "--json",
            ])
            .ok()
            .json();
        assert!(activities(&cli, "13").is_empty());
        let bin = cli
            .run(&["records", "bin", "--customer", "13", "--json"])
            .ok()
            .json();
        assert_eq!(
            bin.as_array().unwrap().len(),
            2,
            "removed activities are not in the bin: {bin}"
        );
        let out = cli
            .run(&["undo", &d["audit_entry"].to_string()])
            .ok()
            .stdout;
        assert!(out.contains("activity: 2 restored"), "{out}");
        assert_eq!(
            activities(&cli, "13"),
            before_13,
            "the removed activities did not come back"
        );
        let bin = cli
            .run(&["records", "bin", "--customer", "13", "--json"])
            .ok()
            .json();
        assert!(bin.as_array().unwrap().is_empty(), "{bin}");

        // Completed: reopened with the undo (the one done before stays done).
        let d = cli
            .run(&[
                "deactivate",
                "14",
                "--reason",
                "Deceased",
                "--open-activities",
                "complete",
                "--json",
            ])
            .ok()
            .json();
        assert!(activities(&cli, "14").iter().all(|a| a.1));
        let out = cli
            .run(&["undo", &d["audit_entry"].to_string()])
            .ok()
            .stdout;
        assert!(out.contains("activity: 1 reopened"), "{out}");
        assert_eq!(activities(&cli, "14"), before_14);
        cli.run(&["audit", "verify"]).ok();
    }
);

conformance!(
    undo_is_a_stack_the_later_operation_taken_back_first_frees_the_earlier,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status\n\
             1,1,person,Dee Dup,dee@a.example,active\n\
             2,2,person,Dee Stays,dee@b.example,active\n\
             3,3,person,Dee Target,dee@c.example,active\n\
             4,4,person,Eve Two,eve@example.com,active\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        let start = snapshot(&cli, "start");

        // Two merges, the second through the first's survivor.
        let first = cli
            .run(&["merge", "#1", "--into", "#2", "--json"])
            .ok()
            .json();
        let second = cli
            .run(&["merge", "#2", "--into", "#3", "--json"])
            .ok()
            .json();
        // The earlier cannot go first: the later depends on it.
        let r = cli.run(&["undo", &first["audit_entry"].to_string()]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stdout.contains("changed since"), "{}", r.stdout);
        // Later first, then the earlier: back where it started.
        cli.run(&["undo", &second["audit_entry"].to_string()]).ok();
        cli.run(&["undo", &first["audit_entry"].to_string()]).ok();
        assert_eq!(
            snapshot(&cli, "after"),
            start,
            "the merges did not come back whole"
        );

        // Deactivations: a later one on the same customer, undone, frees the earlier.
        let a = cli
            .run(&["deactivate", "#4", "--reason", "Moved away", "--json"])
            .ok()
            .json();
        cli.run(&["reactivate", "#4"]).ok();
        let b = cli
            .run(&["deactivate", "#4", "--reason", "Moved away", "--json"])
            .ok()
            .json();
        cli.run(&["undo", &b["audit_entry"].to_string()]).ok();
        // The reactivation in between still stands in the way of the first.
        let r = cli.run(&["undo", &a["audit_entry"].to_string()]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(r.stdout.contains("reactivate"), "{}", r.stdout);
        cli.run(&["audit", "verify"]).ok();
    }
);
