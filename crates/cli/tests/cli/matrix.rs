//! The permission matrix of the command line: every command × every role (`--as`) and the
//! local administrator (no `--as`, an admin), for each preset's `[permissions]`, the expected answer
//! written in the table. Changes are dry runs, or requests that fail after the permission is
//! checked (an unknown field, kind or role), so every cell shows the permission alone and
//! nothing changes.

use offboard_testkit::may::{ADMIN, ALL, CLERK, MANAGER, NONE};
use offboard_testkit::{conformance, PresetData, TestDb, PRESET_DATA};

use crate::helpers::Cli;

/// The commands; `{kind}` is the preset's record kind, `{guarded}` its kind with a delete
/// permission of its own (the row is left out where there is none).
const ROWS: [&str; 26] = [
    "customers list",
    "customers show 1",
    "customers add --kind nokind --name x",
    "customers edit 1 --set nofield=x",
    "records list {kind} --customer 1",
    "records show {kind} 1",
    "records add {kind} --set nofield=x",
    "records edit {kind} 1 --set nofield=x",
    "records delete {kind} 1 --dry-run",
    "deactivate 1 --dry-run",
    "reactivate 1 --dry-run",
    "delete 1 --dry-run",
    "undelete 3 --dry-run",
    "purge --dry-run",
    "transfer --from 1 --to 2 --dry-run",
    "merge 1 --into 2 --dry-run",
    "audit",
    "audit verify",
    "stats",
    "export {dir}/export",
    "backup {dir}/backup.db",
    "import {dir}/no-such-dir",
    "users list",
    "users add someone --role nobody",
    "records delete {guarded} 1 --dry-run",
    "check offboard.toml",
];

/// Per preset, per row: who may.
fn expected(preset: &str) -> [&'static str; ROWS.len()] {
    let (record_delete, reactivate, delete, purge, guarded) = match preset {
        "erp" => (NONE, MANAGER, CLERK, ADMIN, NONE),
        "legal" => (CLERK, CLERK, MANAGER, ADMIN, ADMIN),
        "lending" => (MANAGER, CLERK, MANAGER, ADMIN, NONE),
        "membership" => (CLERK, CLERK, CLERK, ADMIN, NONE),
        _ => (CLERK, CLERK, CLERK, MANAGER, NONE),
    };
    [
        ALL,
        ALL,
        CLERK,
        CLERK,
        ALL,
        ALL,
        CLERK,
        CLERK,
        record_delete,
        CLERK,
        reactivate,
        delete,
        CLERK,
        purge,
        MANAGER,
        MANAGER,
        MANAGER,
        MANAGER,
        ALL,
        MANAGER,
        MANAGER,
        ADMIN,
        ADMIN,
        ADMIN,
        guarded,
        ALL,
    ]
}

fn matrix(db: &TestDb, p: &PresetData) {
    let cli = Cli::new(db);
    cli.run(&["init", "--preset", p.name]).ok();
    let data = cli.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    for (file, body) in p.files() {
        std::fs::write(data.join(file), body).unwrap();
    }
    cli.run(&["import", "data"]).ok();
    let users = ["v", "c", "m", "a"];
    for (u, role) in users.iter().zip(["viewer", "clerk", "manager", "admin"]) {
        cli.run(&["users", "add", u, "--role", role]).ok();
    }
    let before = cli
        .run(&["customers", "list", "--view", "all", "--json"])
        .ok()
        .stdout;
    let expect = expected(p.name);
    let dir = cli.dir.display().to_string();
    for (row, command) in ROWS.iter().enumerate() {
        if command.contains("{guarded}") && p.guarded.is_none() {
            continue;
        }
        let command = command
            .replace("{kind}", p.kind)
            .replace("{guarded}", p.guarded.map_or("", |g| g.0))
            .replace("{dir}", &dir);
        let args: Vec<&str> = command.split(' ').collect();
        // The local administrator (no --as) has the admin's permissions.
        let r = cli.run(&args);
        assert_eq!(
            r.code == 1 && r.stderr.contains("may not"),
            expect[row].ends_with('-'),
            "{}: `{command}` as the local administrator: {}",
            p.name,
            r.stderr
        );
        for (user, may) in users.iter().zip(expect[row].chars()) {
            let mut with = args.clone();
            with.extend(["--as", user]);
            let r = cli.run(&with);
            let refused = r.code == 1 && r.stderr.contains("may not");
            assert_eq!(
                refused,
                may == '-',
                "{}: `{command} --as {user}` ({}): exit {}\n{}{}",
                p.name,
                expect[row],
                r.code,
                r.stdout,
                r.stderr
            );
            assert_ne!(
                r.code, 101,
                "{}: `{command}` panicked: {}",
                p.name, r.stderr
            );
        }
    }
    let after = cli
        .run(&["customers", "list", "--view", "all", "--json"])
        .ok()
        .stdout;
    assert_eq!(after, before, "{}: the matrix changed customers", p.name);
}

conformance!(
    every_command_answers_each_role_as_each_preset_allows,
    |db: TestDb| {
        let backend = db.backend;
        drop(db);
        for p in &PRESET_DATA {
            let Some(db) = TestDb::new(backend) else {
                return;
            };
            matrix(&db, p);
        }
    }
);
