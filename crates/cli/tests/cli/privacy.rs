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
