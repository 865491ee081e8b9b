//! Backups that do not resurrect: `offboard restore` brings an older backup back and
//! re-applies the erasures and forgets logged after it.

use std::process::Command;

use offboard_testkit::{conformance, Backend, TestDb};

use crate::helpers::Cli;
use crate::lifecycle::import_ann_and_bo;

fn ids(cli: &Cli) -> Vec<i64> {
    let list = cli
        .run(&["customers", "list", "--view", "all", "--json"])
        .ok()
        .json();
    let mut ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

/// Drops the database a PostgreSQL restore kept aside (the test server is shared).
fn drop_kept(db: &TestDb, stdout: &str) {
    if db.backend != Backend::Postgres {
        return;
    }
    let kept = stdout
        .split("is kept as ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let admin = offboard_testkit::postgres_url().unwrap();
    let out = Command::new("psql")
        .args([
            admin.as_str(),
            "-Atqc",
            &format!("DROP DATABASE IF EXISTS \"{kept}\" WITH (FORCE)"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

conformance!(
    restoring_an_older_backup_re_applies_the_erasures_and_forgets_logged_since,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        import_ann_and_bo(&cli, "id,customer_id,body\n1,1,called back\n2,2,other\n");
        let backup = cli.dir.join("before.backup");
        cli.run(&["backup", backup.to_str().unwrap()]).ok();
        // Since the backup: Ann erased, Bo forgotten, Dee added.
        cli.run(&["erase", "1", "--yes"]).ok();
        cli.run(&["forget", "2", "--yes"]).ok();
        let dee = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Dee New",
                "--json",
            ])
            .ok()
            .json();
        let dee_id = dee["id"].as_i64().unwrap();
        assert_eq!(ids(&cli), vec![2, dee_id]);

        // The dry run says what it would re-apply and changes nothing.
        let dry = cli
            .run(&["restore", backup.to_str().unwrap(), "--dry-run"])
            .ok()
            .stdout;
        assert!(
            dry.contains(
                "re-applying what was logged since: erase 1 customer(s) (1), forget 1 (2)"
            ),
            "{dry}"
        );
        assert!(dry.contains("dry run: nothing was changed"), "{dry}");
        assert_eq!(ids(&cli), vec![2, dee_id]);

        let done = cli
            .run(&["restore", backup.to_str().unwrap(), "--yes"])
            .ok()
            .stdout;
        assert!(done.contains("restored"), "{done}");
        // Ann stays erased, Bo forgotten; Dee was added after the backup (the replaced
        // database keeps her).
        assert_eq!(ids(&cli), vec![2]);
        let bo = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(bo["name"], "Forgotten customer");
        assert_eq!(bo["email"], serde_json::Value::Null);
        // Nothing of either is in the restored database: its tables, its files (on
        // PostgreSQL the restored tables' statistics too, which sampled the backup's values).
        for (mail, name) in [("ann@example.com", "Ann Lee"), ("bo@example.com", "Bo Ek")] {
            for who in [mail, name] {
                let found = cli.run(&["locate", who, "--bytes", "--json"]).ok().json();
                assert_eq!(found["found"], serde_json::json!([]), "{who}: {found}");
                assert_eq!(found["undeclared"], serde_json::json!([]), "{who}: {found}");
                assert_eq!(
                    found["files"]["found"],
                    serde_json::json!([]),
                    "{who}: {found}"
                );
            }
        }
        // Their emails may not come back; the log verifies and says what happened.
        let again = cli.run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Ann Again",
            "--email",
            "ann@example.com",
        ]);
        assert_ne!(again.code, 0);
        assert!(
            again.stderr.contains("may not come back"),
            "{}",
            again.stderr
        );
        cli.run(&["audit", "verify"]).ok();
        let log = cli.run(&["audit", "--json"]).ok().json();
        assert_eq!(log[0]["operation"], "restore", "{log:#}");
        // Ids are never given twice: Dee's id is not given again.
        let next = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Eve Next",
                "--json",
            ])
            .ok()
            .json();
        assert!(next["id"].as_i64().unwrap() > dee_id, "{next:#}");
        drop_kept(&db, &done);

        // A backup of another database is refused, and nothing changes.
        let other = TestDb::new(db.backend).unwrap();
        let other_cli = Cli::new(&other);
        other_cli.run(&["init", "--preset", "services"]).ok();
        other_cli
            .run(&["customers", "add", "--kind", "person", "--name", "Zed"])
            .ok();
        let foreign = cli.dir.join("foreign.backup");
        other_cli.run(&["backup", foreign.to_str().unwrap()]).ok();
        let before = ids(&cli);
        let r = cli.run(&["restore", foreign.to_str().unwrap(), "--yes"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr
                .contains("is not an earlier state of this database"),
            "{}",
            r.stderr
        );
        assert_eq!(ids(&cli), before);
    }
);

conformance!(
    an_undelete_refuses_what_would_collide_with_what_was_made_since,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status,company_id,deleted_at\n\
             1,M0000001,company,Acme Club,,deleted,,2026-01-05 10:00\n\
             2,M0000002,person,Ann Lee,ann@example.com,deleted,1,2026-01-05 10:00\n\
             3,M0000003,person,Bo Ek,bo@example.com,deleted,,2026-01-05 10:00\n\
             4,M0000004,person,Bo Ekman,BO@example.com,active,,\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        // Ann's company is in the bin too: not without it.
        let r = cli.run(&["undelete", "2"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stdout
                .contains("its company M0000001 (Acme Club) is in the recycle bin: undelete both"),
            "{}",
            r.stdout
        );
        // Bo's email is held now by a customer added since (any case).
        let r = cli.run(&["undelete", "3"]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stdout
                .contains("its email is now held by M0000004 Bo Ekman (4), who is active"),
            "{}",
            r.stdout
        );
        let statuses = cli
            .run(&["customers", "list", "--view", "deleted", "--json"])
            .ok()
            .json();
        assert_eq!(statuses.as_array().unwrap().len(), 3, "nothing came back");
        // Both together: they come back.
        let out = cli.run(&["undelete", "1", "2"]).ok().stdout;
        assert!(out.contains("2 undeleted"), "{out}");
        let ann = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(ann["status"], "active");
    }
);

conformance!(
    a_restore_is_refused_while_a_server_has_the_database_open,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        import_ann_and_bo(&cli, "id,customer_id,body\n1,1,called back\n");
        let backup = cli.dir.join("before.backup");
        cli.run(&["backup", backup.to_str().unwrap()]).ok();
        let mut server = Command::new(env!("CARGO_BIN_EXE_offboard"))
            .current_dir(&cli.dir)
            .env("OFFBOARD_DB", &cli.db)
            .args(["serve", "--addr", "127.0.0.1:0", "--no-scheduler"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Up once it says where it serves.
        let mut err = std::io::BufReader::new(server.stderr.take().unwrap());
        let mut line = String::new();
        while !line.contains("serves http") {
            line.clear();
            let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
            assert!(n > 0, "the server stopped before serving");
        }
        let r = cli.run(&["restore", backup.to_str().unwrap(), "--yes"]);
        server.kill().unwrap();
        server.wait().unwrap();
        assert_ne!(r.code, 0, "a restore under a running server: {}", r.stdout);
        assert!(
            r.stderr.contains("open") && r.stderr.contains("nothing was replaced"),
            "{}",
            r.stderr
        );
        assert!(
            !std::fs::read_dir(&cli.dir).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("replaced")),
            "a database was set aside"
        );
        // With the server stopped, the restore goes through.
        let r = cli
            .run(&["restore", backup.to_str().unwrap(), "--yes"])
            .ok();
        drop_kept(&db, &r.stdout);
    }
);
