//! `--plan FINGERPRINT` binds every apply to the dry run a person looked at — records delete
//! and restore and forget too, not only the lifecycle operations: when the data changed in
//! between, the apply changes nothing, shows the new plan and exits 1.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::{Cli, Run};

/// services: customer 5 with two invoices and an email.
fn setup(db: &TestDb) -> Cli {
    let cli = Cli::new(db);
    cli.run(&["init", "--preset", "services"]).ok();
    let dir = cli.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name,email,status\n\
         5,5,person,Ann Bound,ann@example.com,active\n\
         6,6,person,Bo Other,bo@example.com,active\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("invoice.csv"),
        "id,customer_id,number,balance\n1,5,INV-0000001,0\n2,5,INV-0000002,0\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
    cli
}

fn fingerprint(r: Run) -> String {
    r.ok().json()["fingerprint"].as_str().unwrap().to_string()
}

fn refused_as_changed(r: &Run, what: &str) {
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains(&format!("the {what} changed since it was shown")),
        "{}",
        r.stderr
    );
}

fn invoices(cli: &Cli, customer: &str) -> usize {
    cli.run(&[
        "records",
        "list",
        "invoice",
        "--customer",
        customer,
        "--json",
    ])
    .ok()
    .json()
    .as_array()
    .unwrap()
    .len()
}

conformance!(
    records_delete_restore_and_forget_apply_only_the_plan_shown,
    |db: TestDb| {
        let cli = setup(&db);

        // Records delete: every invoice of customer 5, as the dry run showed two.
        let shown = cli.run(&[
            "records",
            "delete",
            "invoice",
            "--customer",
            "5",
            "--dry-run",
        ]);
        let fp = fingerprint(cli.run(&[
            "records",
            "delete",
            "invoice",
            "--customer",
            "5",
            "--dry-run",
            "--json",
        ]));
        assert!(shown.ok().stdout.contains(&format!("--plan {fp}")));
        cli.run(&[
            "records",
            "add",
            "invoice",
            "--set",
            "customer_id=5",
            "--set",
            "balance=0",
        ])
        .ok();
        let r = cli.run(&[
            "records",
            "delete",
            "invoice",
            "--customer",
            "5",
            "--plan",
            &fp,
        ]);
        refused_as_changed(&r, "records delete");
        assert_eq!(invoices(&cli, "5"), 3, "a changed plan deleted records");
        let fp = fingerprint(cli.run(&[
            "records",
            "delete",
            "invoice",
            "--customer",
            "5",
            "--dry-run",
            "--json",
        ]));
        cli.run(&[
            "records",
            "delete",
            "invoice",
            "--customer",
            "5",
            "--plan",
            &fp,
        ])
        .ok();
        assert_eq!(invoices(&cli, "5"), 0);

        // Records restore: the dry run restores invoice 1; then its number is taken again.
        let bin = cli.run(&["records", "bin", "--json"]).ok().json();
        let entry = bin
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["record_id"] == 1)
            .unwrap()["id"]
            .to_string();
        let fp = fingerprint(cli.run(&["records", "restore", &entry, "--dry-run", "--json"]));
        cli.run(&[
            "records",
            "add",
            "invoice",
            "--set",
            "customer_id=6",
            "--set",
            "balance=0",
            "--set",
            "number=INV-0000001",
        ])
        .ok();
        let r = cli.run(&["records", "restore", &entry, "--plan", &fp]);
        refused_as_changed(&r, "records restore");
        assert!(r.stdout.contains("in use again"), "{}", r.stdout);
        let still = cli.run(&["records", "bin", "--json"]).ok().json();
        assert_eq!(still, bin, "a changed restore changed the bin");

        // Forget: the dry run masks the customer; then it gets an address.
        let fp = fingerprint(cli.run(&["forget", "#6", "--dry-run", "--json"]));
        cli.run(&[
            "records",
            "add",
            "address",
            "--set",
            "customer_id=6",
            "--set",
            "line1=1 Main St",
        ])
        .ok();
        let r = cli.run(&["forget", "#6", "--plan", &fp]);
        refused_as_changed(&r, "forget");
        let shown = cli.run(&["customers", "show", "#6", "--json"]).ok().json();
        assert_eq!(shown["name"], "Bo Other", "a changed forget masked");
        let fp = fingerprint(cli.run(&["forget", "#6", "--dry-run", "--json"]));
        cli.run(&["forget", "#6", "--plan", &fp, "--json"]).ok();
        let shown = cli.run(&["customers", "show", "#6", "--json"]).ok().json();
        assert_ne!(shown["name"], "Bo Other");
    }
);
