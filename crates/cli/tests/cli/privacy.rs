//! Erased means gone everywhere: what the audit log kept of a merged-away duplicate goes
//! with its survivor's erasure or forget, and no identifying value the person ever had — an
//! email edited away, a merged duplicate's — may come back.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

/// services: Ann (1) with a duplicate (2), Bo (3).
fn setup(db: &TestDb) -> Cli {
    let cli = Cli::new(db);
    cli.run(&["init", "--preset", "services"]).ok();
    let dir = cli.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name,email,status\n\
         1,1,person,Qzann Survivor,qzann@one.example,active\n\
         2,2,person,Qzann Duplicate,qzann@two.example,active\n\
         3,3,person,Qzbo Other,qzbo@example.com,active\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
    cli
}

fn refused_as_blocked(cli: &Cli, email: &str) {
    let r = cli.run(&[
        "customers",
        "add",
        "--kind",
        "person",
        "--name",
        "Someone",
        "--email",
        email,
    ]);
    assert_ne!(r.code, 0, "{email} came back: {}", r.stdout);
    assert!(r.stderr.contains("may not come back"), "{}", r.stderr);
}

fn run(db: &TestDb, how: &[&str]) {
    let cli = setup(db);
    // An email edited away, then a duplicate merged in.
    cli.run(&[
        "customers",
        "edit",
        "#1",
        "--set",
        "email=qzann@new.example",
    ])
    .ok();
    cli.run(&["merge", "#2", "--into", "#1"]).ok();
    let mut args = how.to_vec();
    args.push("#1");
    cli.run(&args).ok();
    // What the log kept of the duplicate went with the survivor.
    let log = cli
        .run(&["audit", "--customer", "2", "--json", "--limit", "100"])
        .ok()
        .stdout;
    for marker in ["Qzann", "qzann@"] {
        assert!(
            !log.contains(marker),
            "{how:?}: {marker} in the duplicate's log: {log}"
        );
    }
    let log = cli
        .run(&["audit", "--customer", "1", "--json", "--limit", "100"])
        .ok()
        .stdout;
    assert!(!log.contains("qzann@"), "{how:?}: {log}");
    // None of her emails may come back: now, edited away, her duplicate's.
    for email in [
        "qzann@new.example",
        "qzann@one.example",
        "qzann@two.example",
    ] {
        refused_as_blocked(&cli, email);
    }
    // Another person's may.
    cli.run(&[
        "customers",
        "add",
        "--kind",
        "person",
        "--name",
        "Cy",
        "--email",
        "qzcy@example.com",
    ])
    .ok();
    cli.run(&["audit", "verify"]).ok();
}

conformance!(
    an_erasure_takes_a_merged_duplicates_log_and_every_email_the_person_had,
    |db: TestDb| {
        run(&db, &["erase", "--yes"]);
    }
);

conformance!(
    a_forget_takes_a_merged_duplicates_log_and_every_email_the_person_had,
    |db: TestDb| {
        run(&db, &["forget", "--yes"]);
    }
);

conformance!(
    the_other_side_of_a_transfer_or_move_keeps_no_name_of_an_erased_person,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status\n\
             11,K11,person,Qzfrom Mover,qzfrom@example.com,active\n\
             12,K12,person,Qzto Keeper,qzto@example.com,active\n\
             13,K13,person,Qzgone Person,qzgone@example.com,active\n\
             14,K14,person,Qzstays Person,qzstays@example.com,active\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("note.csv"),
            "id,customer_id,body\n1,11,first\n2,13,second\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        // A transfer, then its source erased: the target's entry names it by number only.
        cli.run(&["transfer", "--from", "#11", "--to", "#12"]).ok();
        cli.run(&["erase", "#11", "--yes"]).ok();
        let log = cli
            .run(&["audit", "--customer", "12", "--json"])
            .ok()
            .stdout;
        assert!(!log.contains("Qzfrom"), "{log}");
        assert!(
            log.contains("K11"),
            "the transfer's other side is named by number: {log}"
        );
        // A delete that erases (legal's) moving the records first: neither side keeps the
        // erased person's name.
        cli.run(&["delete", "#13", "--move-to", "#14", "--yes"])
            .ok();
        for who in ["13", "14"] {
            let log = cli.run(&["audit", "--customer", who, "--json"]).ok().stdout;
            assert!(!log.contains("Qzgone"), "customer {who}'s log: {log}");
        }
        cli.run(&["audit", "verify"]).ok();
    }
);

conformance!(
    an_access_document_holds_no_one_elses_name_and_is_audited,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status,company_id\n\
             1,M1,company,Qzcompany Inc,office@qzcompany.example,active,\n\
             2,M2,person,Qztwo Person,qztwo@example.com,active,1\n\
             3,M3,person,Qzthree Person,qzthree@example.com,active,1\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        let company = cli
            .run(&["export", "--customer", "#1", "--format", "json"])
            .ok()
            .json();
        let text = company.to_string();
        assert!(
            !text.contains("Qztwo") && !text.contains("Qzthree"),
            "{text}"
        );
        let contacts = company["linked_from"]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        let mut numbers: Vec<&str> = contacts
            .iter()
            .filter_map(|c| c["number"].as_str())
            .collect();
        numbers.sort_unstable();
        assert_eq!(numbers, ["M2", "M3"], "{company:#}");
        let person = cli
            .run(&["export", "--customer", "#2", "--format", "json"])
            .ok()
            .json();
        assert!(!person.to_string().contains("Qzcompany"), "{person:#}");
        assert_eq!(person["customer"]["name"], "Qztwo Person");
        // Handing it out is in the log, on the customer.
        let log = cli.run(&["audit", "--customer", "2", "--json"]).ok().json();
        let ops: Vec<&str> = log
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["operation"].as_str())
            .collect();
        assert!(ops.contains(&"access"), "{log:#}");
        cli.run(&["audit", "verify"]).ok();
    }
);
