//! The records recycle bin: records deleted for good are kept, listed per customer, and come
//! back in order (lending's payments: only as the newest again), until their customer is
//! forgotten or erased.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::{Cli, Run};

fn entries(cli: &Cli, customer: &str) -> Vec<(i64, String, i64)> {
    let list = cli
        .run(&["records", "bin", "--customer", customer, "--json"])
        .ok()
        .json();
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["kind"].as_str().unwrap().to_string(),
                b["record_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn bin_entry(cli: &Cli, record: i64) -> String {
    entries(cli, "1")
        .into_iter()
        .find(|e| e.2 == record)
        .unwrap()
        .0
        .to_string()
}

#[track_caller]
fn refused(r: Run, text: &str) {
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains(text), "`{text}` in {}", r.stdout);
}

conformance!(
    deleted_payments_wait_in_the_bin_and_come_back_in_order,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "lending"]).ok();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        for (file, body) in [
            ("customers.csv", "id,number,kind,name,email,status\n1,L0000001,client,Ann Lee,ann@example.com,active\n"),
            ("application.csv", "id,customer_id,number,amount,applied_on\n1,1,A-1,100000,2024-01-01\n"),
            ("contract.csv", "id,application_id,number,principal,signed_on\n1,1,K-000001,100000,2024-01-05\n"),
            (
                "payment.csv",
                "id,contract_id,number,amount,paid_on\n1,1,1,1000,2024-02-01\n2,1,2,1000,2024-03-01\n3,1,3,1000,2024-04-01\n4,1,4,1000,2024-05-01\n",
            ),
        ] {
            std::fs::write(dir.join(file), body).unwrap();
        }
        cli.run(&["import", "data"]).ok();
        cli.run(&[
            "records",
            "delete",
            "payment",
            "--contract",
            "1",
            "--from",
            "2024-04-01",
            "--yes",
        ])
        .ok();
        let binned = entries(&cli, "1");
        assert_eq!(binned.len(), 2, "{binned:?}");
        assert!(binned.iter().all(|b| b.1 == "payment"));
        // The newest cannot come back before the older one.
        refused(
            cli.run(&["records", "restore", &bin_entry(&cli, 4)]),
            "an older payment of the same owner is still in the bin: restore it first",
        );
        let out = cli
            .run(&["records", "restore", &bin_entry(&cli, 3)])
            .ok()
            .stdout;
        assert!(out.contains("restored"), "{out}");
        let shown = cli
            .run(&["records", "show", "payment", "3", "--json"])
            .ok()
            .json();
        assert_eq!(shown["number"], 3);
        assert_eq!(shown["paid_on"], "2024-04-01");
        // A payment entered since with its number: the binned one would not be the newest.
        cli.run(&[
            "records",
            "add",
            "payment",
            "--set",
            "contract_id=1",
            "--set",
            "amount=500",
            "--set",
            "paid_on=2024-06-01",
        ])
        .ok();
        refused(
            cli.run(&["records", "restore", &bin_entry(&cli, 4), "--dry-run"]),
            "it would not be the newest again",
        );
        // Forgetting the customer empties its part of the bin.
        cli.run(&["forget", "1", "--yes"]).ok();
        assert_eq!(entries(&cli, "1"), vec![]);
        cli.run(&["audit", "verify"]).ok();
    }
);
