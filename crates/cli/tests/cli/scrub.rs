//! Provable erasure: after an erasure, no byte of the erased persons' personal data is left in
//! the database files offboard controls, while every survivor's is there (the scan finds what
//! it looks for) — the audit log included: it keeps a customer's personal values apart from its
//! hash chain, and an erasure forgets them. SQLite: the `.db`, `-wal` and `-shm` files. PostgreSQL: the relation files of
//! every table, index and TOAST table (through `pg_relation_filepath`) and of the planner's
//! statistics (`pg_statistic`, which samples column values), after `offboard compact`; before it, the dead rows are still in the files, and the scan finds them.

use std::path::PathBuf;
use std::process::Command;

use offboard_testkit::{conformance, Backend, TestDb};

use crate::helpers::Cli;

/// A person's markers: long, unique, in a name, an email, a phone and a note.
fn markers(i: usize) -> [String; 4] {
    [
        format!("Qzname{i:04}Xv"),
        format!("qzmail{i:04}xv@example.com"),
        format!("+41 77 {i:04} 9911"),
        format!("Qznote{i:04}Xv called about the contract"),
    ]
}

/// Every file to scan: its path and bytes.
fn files(cli: &Cli, db: &TestDb) -> Vec<(PathBuf, Vec<u8>)> {
    let paths: Vec<PathBuf> = match db.backend {
        Backend::Sqlite => {
            let file = db.url.trim_start_matches("sqlite://").to_string();
            ["", "-wal", "-shm"]
                .iter()
                .map(|s| PathBuf::from(format!("{file}{s}")))
                .collect()
        }
        Backend::Postgres => {
            let psql = |sql: &str| -> String {
                let out = Command::new("psql")
                    .args([db.url.as_str(), "-Atqc", sql])
                    .output()
                    .expect("psql runs");
                assert!(
                    out.status.success(),
                    "psql: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let dir = psql("SHOW data_directory").trim().to_string();
            let rels = psql(
                "SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE (n.nspname = 'public' OR c.oid IN (SELECT reltoastrelid FROM pg_class t JOIN pg_namespace m ON m.oid = t.relnamespace WHERE m.nspname = 'public')
                        OR c.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid IN (SELECT reltoastrelid FROM pg_class t JOIN pg_namespace m ON m.oid = t.relnamespace WHERE m.nspname = 'public'))
                        OR c.oid = 'pg_catalog.pg_statistic'::regclass
                        OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'pg_catalog.pg_statistic'::regclass)
                        OR c.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'pg_catalog.pg_statistic'::regclass)))
                   AND pg_relation_filepath(c.oid) IS NOT NULL",
            );
            let mut out = Vec::new();
            for rel in rels.lines().filter(|l| !l.is_empty()) {
                let base = PathBuf::from(&dir).join(rel);
                out.push(base.clone());
                for seg in 1.. {
                    let p = PathBuf::from(format!("{}.{seg}", base.display()));
                    if !p.exists() {
                        break;
                    }
                    out.push(p);
                }
            }
            assert!(out.len() > 10, "the relation files were found: {out:?}");
            out
        }
    };
    let _ = cli;
    paths
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// The live rows of `pg_statistic` that hold `marker` (for a failure's message).
fn live_statistics(db: &TestDb, marker: &str) -> String {
    let out = Command::new("psql")
        .args([
            db.url.as_str(),
            "-Atqc",
            &format!("SELECT starelid::regclass || '.' || staattnum FROM pg_statistic WHERE concat(stavalues1::text, stavalues2::text, stavalues3::text, stavalues4::text, stavalues5::text) LIKE '%{marker}%'"),
        ])
        .output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .replace('\n', ", ")
    })
    .unwrap_or_default()
}

/// Which relation a PostgreSQL file belongs to (for a failure's message).
fn relation_of(db: &TestDb, path: &std::path::Path) -> String {
    let node = path
        .file_name()
        .map(|f| {
            f.to_string_lossy()
                .split('.')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    let out = Command::new("psql")
        .args([
            db.url.as_str(),
            "-Atqc",
            &format!("SELECT relname, relkind FROM pg_class WHERE relfilenode = {node}"),
        ])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn found(files: &[(PathBuf, Vec<u8>)], marker: &str) -> Option<PathBuf> {
    let needle = marker.as_bytes();
    files
        .iter()
        .find(|(_, bytes)| bytes.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p.clone())
}

conformance!(
    no_byte_of_an_erased_person_is_left_in_the_database_files,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let mut customers = String::from("id,number,kind,name,email,phone,status\n");
        let mut notes = String::from("id,customer_id,body\n");
        for i in 1..=24 {
            let [name, mail, phone, note] = markers(i);
            customers.push_str(&format!("{i},{i},person,{name},{mail},{phone},active\n"));
            notes.push_str(&format!("{i},{i},{note}\n"));
        }
        std::fs::write(dir.join("customers.csv"), customers).unwrap();
        std::fs::write(dir.join("note.csv"), notes).unwrap();
        cli.run(&["import", "data"]).ok();
        // A change leaves an older version of the row behind, and an audit entry with the
        // values before and after.
        cli.run(&["customers", "edit", "3", "--set", "phone=+41 77 0003 0000"])
            .ok();
        let checkpoint = || {
            if db.backend == Backend::Postgres {
                // So the files hold what the server has in memory.
                let out = Command::new("psql")
                    .args([db.url.as_str(), "-Atqc", "CHECKPOINT"])
                    .output()
                    .expect("psql runs");
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        };
        let erase = |ids: std::ops::RangeInclusive<i32>| {
            let erased: Vec<String> = ids.map(|i| i.to_string()).collect();
            let mut args = vec!["erase", "--yes"];
            args.extend(erased.iter().map(String::as_str));
            let plan = cli.run(&args).ok();
            assert!(
                plan.stdout.contains(&format!("{} purged", erased.len())),
                "{}",
                plan.stdout
            );
            plan.stdout
        };
        // By default the erasure itself rewrites what it touched (PostgreSQL: VACUUM FULL).
        let out = erase(1..=4);
        if db.backend == Backend::Postgres {
            assert!(out.contains("note: rewrote customers"), "{out}");
        }
        checkpoint();
        let scanned = files(&cli, &db);
        for i in 1..=4 {
            for m in &markers(i) {
                let at = found(&scanned, m);
                let rel = at.as_ref().map(|p| relation_of(&db, p)).unwrap_or_default();
                let live = if at.is_some() {
                    live_statistics(&db, m)
                } else {
                    String::new()
                };
                assert_eq!(
                    at, None,
                    "erased marker {m:?} is in a file ({rel}; live statistics holding it: {live}); the erasure said:\n{out}"
                );
            }
        }
        // A model that schedules the compaction instead leaves PostgreSQL's dead rows in
        // the files until it runs: the scan finds them (so it can fail), then `compact`
        // rewrites them.
        let model = cli.dir.join("offboard.toml");
        let text = std::fs::read_to_string(&model).unwrap();
        std::fs::write(
            &model,
            format!("{text}\n[[schedule]]\nid = \"nightly-compact\"\nrun = \"compact\"\n"),
        )
        .unwrap();
        let out = erase(5..=8);
        let mut compacted = String::new();
        if db.backend == Backend::Postgres {
            assert!(
                out.contains("when schedule `nightly-compact` next compacts the tables"),
                "{out}"
            );
            checkpoint();
            let before = files(&cli, &db);
            assert!(
                (5..=8).any(|i| found(&before, &markers(i)[1]).is_some()),
                "before compact, the dead rows are still in the files"
            );
            let plan = cli.run(&["compact", "--dry-run"]).ok().stdout;
            assert!(plan.contains("ACCESS EXCLUSIVE"), "{plan}");
            assert!(plan.contains("nothing was changed"), "{plan}");
            let done = cli.run(&["compact"]).ok().stdout;
            assert!(done.contains("rewrote customers"), "{done}");
            compacted = done;
        }
        // The chain still verifies after the log forgot them.
        let verified = cli.run(&["audit", "verify"]).ok().stdout;
        assert!(verified.contains("chain intact"), "{verified}");
        let scanned = files(&cli, &db);
        assert_eq!(
            found(&scanned, "+41 77 0003 0000"),
            None,
            "the edit's after value"
        );
        for i in 1..=8 {
            for m in &markers(i) {
                let at = found(&scanned, m);
                let rel = at.as_ref().map(|p| relation_of(&db, p)).unwrap_or_default();
                let live = if at.is_some() {
                    live_statistics(&db, m)
                } else {
                    String::new()
                };
                assert_eq!(at, None, "erased marker {m:?} is still in a file ({rel}; live statistics holding it: {live}); compact said: {compacted}");
            }
        }
        for i in 9..=24 {
            for m in markers(i) {
                assert!(
                    found(&scanned, &m).is_some(),
                    "survivor's marker {m:?} was not found: the scan does not see the data"
                );
            }
        }
    }
);

conformance!(
    no_byte_of_a_forgotten_persons_values_is_left_in_the_database_files,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let mut customers = String::from("id,number,kind,name,email,phone,status\n");
        let mut notes = String::from("id,customer_id,body\n");
        for i in 1..=6 {
            let [name, mail, phone, note] = markers(i);
            customers.push_str(&format!("{i},{i},person,{name},{mail},{phone},active\n"));
            notes.push_str(&format!("{i},{i},{note}\n"));
        }
        std::fs::write(dir.join("customers.csv"), customers).unwrap();
        std::fs::write(dir.join("note.csv"), notes).unwrap();
        cli.run(&["import", "data"]).ok();
        let out = cli.run(&["forget", "#2", "--yes"]).ok().stdout;
        if db.backend == Backend::Postgres {
            // A reader whose snapshot is older than the forget (a report on other tables, say: it holds no lock on these) would keep the
            // old row versions alive through the rewrite: the rewrite waits for it to end.
            let mut reader = Command::new("psql")
                .args([
                    db.url.as_str(),
                    "-Atqc",
                    "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM pg_class; SELECT pg_sleep(3); COMMIT",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("psql runs");
            std::thread::sleep(std::time::Duration::from_millis(500));
            // As after an erasure: the tables it masked are rewritten (the answer says so).
            let json = cli.run(&["forget", "#3", "--yes", "--json"]).ok().json();
            assert!(reader.wait().expect("the reader ends").success());
            let notes = json["notes"].to_string();
            assert!(notes.contains("rewrote customers"), "{out}\n{notes}");
            let out = Command::new("psql")
                .args([db.url.as_str(), "-Atqc", "CHECKPOINT"])
                .output()
                .expect("psql runs");
            assert!(out.status.success());
        } else {
            cli.run(&["forget", "#3", "--yes"]).ok();
        }
        let scanned = files(&cli, &db);
        for i in [2, 3] {
            for m in &markers(i) {
                let at = found(&scanned, m);
                let rel = at.as_ref().map(|p| relation_of(&db, p)).unwrap_or_default();
                assert_eq!(at, None, "forgotten marker {m:?} is in a file ({rel})");
            }
        }
        // The scan finds what is there: another person's values.
        assert!(
            found(&scanned, &markers(1)[1]).is_some(),
            "the scan finds a survivor's email"
        );
    }
);

conformance!(
    a_table_a_reader_holds_through_the_rewrite_is_queued_and_rewritten_next_time,
    |db: TestDb| {
        if db.backend != Backend::Postgres {
            // SQLite overwrites freed pages in place (secure_delete): there is no rewrite to
            // miss; the write-ahead log's reader is the checkpoint's note (tested above).
            return;
        }
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        let mut customers = String::from("id,number,kind,name,email,phone,status\n");
        let mut notes = String::from("id,customer_id,body\n");
        for i in 1..=3 {
            let [name, mail, phone, note] = markers(i);
            customers.push_str(&format!("{i},{i},person,{name},{mail},{phone},active\n"));
            notes.push_str(&format!("{i},{i},{note}\n"));
        }
        std::fs::write(dir.join("customers.csv"), customers).unwrap();
        std::fs::write(dir.join("note.csv"), notes).unwrap();
        cli.run(&["import", "data"]).ok();
        // A report holds the notes table for longer than the rewrite waits for it.
        let mut reader = Command::new("psql")
            .args([
                db.url.as_str(),
                "-Atqc",
                "BEGIN; LOCK TABLE note IN ACCESS SHARE MODE; SELECT pg_sleep(30); COMMIT",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("psql runs");
        std::thread::sleep(std::time::Duration::from_millis(500));
        let json = cli.run(&["forget", "#2", "--yes", "--json"]).ok().json();
        let said = json["notes"].to_string();
        assert!(said.contains("note could not be rewritten now"), "{said}");
        assert!(said.contains("queued"), "{said}");
        let mail = markers(2)[1].clone();
        let queued = cli.run(&["locate", &mail, "--json"]).ok().json();
        let pending = queued["pending_rewrite"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(pending.contains(&serde_json::json!("note")), "{queued}");
        assert!(reader.wait().expect("the reader ends").success());
        // The next erasure's rewrite takes the queued table along.
        let json = cli.run(&["forget", "#3", "--yes", "--json"]).ok().json();
        assert!(json["notes"].to_string().contains("note"), "{json}");
        let after = cli.run(&["locate", &mail, "--bytes", "--json"]).ok().json();
        assert!(after.get("pending_rewrite").is_none(), "{after}");
        assert_eq!(after["files"]["found"], serde_json::json!([]), "{after}");
        let scanned = files(&cli, &db);
        for m in &markers(2) {
            assert_eq!(found(&scanned, m), None, "forgotten marker {m:?}");
        }
    }
);
