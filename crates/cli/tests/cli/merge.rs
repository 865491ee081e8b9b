//! Merging any number of duplicates into one customer, field by field, with every conflict
//! shown and resolved, and tombstones that resolve the merged-away ids and numbers.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

fn field<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["merge"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {plan:#}"))
}

conformance!(
    three_customers_merge_into_one_with_field_choices_and_tombstones,
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
             3,3,person,A. Lee,ann@b.example,,deactivated,2025-01-01 09:00\n\
             4,4,person,Bo Ek,bo@example.com,,active,2024-01-01 09:00\n",
        )
        .unwrap();
        // Their records: invoices (numbered across the kind), notes; Bo's company link.
        std::fs::write(
            dir.join("invoice.csv"),
            "id,customer_id,number,total,balance,issued_on\n1,1,INV-0000001,100,0,2024-01-01\n2,2,INV-0000002,200,0,2024-02-01\n3,3,INV-0000003,300,0,2024-03-01\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("note.csv"),
            "id,customer_id,body\n1,2,called\n2,3,wrote\n3,3,visited\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();

        // The plan: each field's candidates and the winner, by the rule said.
        let plan = cli
            .run(&[
                "merge",
                "2",
                "3",
                "--into",
                "1",
                "--take",
                "phone=2",
                "--dry-run",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(plan["merged"], 2, "{plan:#}");
        let email = field(&plan, "email");
        assert_eq!(email["winner"], 3);
        assert_eq!(email["value"], "ann@b.example");
        assert_eq!(email["rule"], "the most recent non-empty");
        assert_eq!(email["candidates"].as_array().unwrap().len(), 3);
        let phone = field(&plan, "phone");
        assert_eq!(
            (phone["winner"].clone(), phone["rule"].clone()),
            (2.into(), "chosen".into())
        );
        let name = field(&plan, "name");
        assert_eq!(name["rule"], "the survivor's");
        assert_eq!(name["value"], "Ann Lee");
        assert_eq!(plan["effects"]["invoice"]["moved"], 2);
        // Every record that moves, by id, per duplicate.
        let moves = plan["merge"]["moves"].as_array().unwrap();
        assert_eq!(moves[0]["customer"], 2);
        assert_eq!(moves[0]["records"]["invoice"], serde_json::json!([2]));
        assert_eq!(moves[1]["records"]["note"], serde_json::json!([2, 3]));
        assert_eq!(plan["effects"]["note"]["moved"], 3);
        // A dry run changed nothing.
        let two = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(two["email"], "ann@a.example");

        // As text: every candidate, the winner marked.
        let text = cli
            .run(&[
                "merge",
                "2",
                "3",
                "--into",
                "1",
                "--take",
                "phone=2",
                "--dry-run",
            ])
            .ok()
            .stdout;
        assert!(text.contains("*3: ann@b.example"), "{text}");
        assert!(text.contains("(the most recent non-empty)"), "{text}");

        cli.run(&["merge", "2", "3", "--into", "1", "--take", "phone=2"])
            .ok();
        let one = cli.run(&["customers", "show", "1", "--json"]).ok().json();
        assert_eq!(one["email"], "ann@b.example");
        assert_eq!(one["phone"], "+41 22");
        assert_eq!(one["name"], "Ann Lee");
        assert_eq!(one["records"]["invoice"], 3);
        assert_eq!(one["records"]["note"], 3);
        // The merged-away ids and numbers resolve to the survivor, and are not given again.
        let shown = cli.run(&["customers", "show", "3", "--json"]);
        assert_eq!(shown.code, 0, "{}", shown.stderr);
        assert_eq!(shown.json()["id"], 1);
        assert!(
            shown
                .stderr
                .contains("customer 3 was merged into 1 Ann Lee (id 1)"),
            "{}",
            shown.stderr
        );
        let r = cli.run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "New",
            "--number",
            "2",
        ]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr
                .contains("customer number 2 belonged to a customer merged into customer 1"),
            "{}",
            r.stderr
        );
        // Merged into a survivor that is merged later: the tombstones follow.
        cli.run(&["merge", "1", "--into", "4"]).ok();
        let shown = cli.run(&["customers", "show", "2", "--json"]).ok().json();
        assert_eq!(shown["id"], 4);
        cli.run(&["audit", "verify"]).ok();
        // What cannot be merged is refused, and says why.
        let r = cli.run(&["merge", "4", "--into", "4"]);
        assert_ne!(r.code, 0);
        assert!(
            r.stderr.contains("cannot be merged into itself"),
            "{}",
            r.stderr
        );
        let r = cli.run(&["merge", "4", "--into", "1", "--take", "colour=4"]);
        assert_ne!(r.code, 0);
    }
);

const VISITS: &str = r#"
[model]
name = "visits"

[customer]
kinds = ["person"]

[record.visit]
owner = "customer"
order_by = ["visited_on"]
numbered = { field = "seq", per = "owner" }
[record.visit.fields]
seq = "int"
visited_on = "date"
"#;

conformance!(
    numbers_counted_per_customer_continue_after_the_survivors,
    |db: TestDb| {
        let cli = Cli::new(&db);
        std::fs::write(cli.dir.join("offboard.toml"), VISITS).unwrap();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,status\n1,1,person,Ann,active\n2,2,person,Ann,active\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("visit.csv"),
            "id,customer_id,seq,visited_on\n1,1,1,2024-01-01\n2,1,2,2024-03-01\n3,2,1,2024-02-01\n4,2,2,2024-04-01\n5,2,3,2024-05-01\n",
        )
        .unwrap();
        cli.run(&["import", "data"]).ok();
        let plan = cli
            .run(&["merge", "2", "--into", "1", "--json"])
            .ok()
            .json();
        let conflicts = plan["merge"]["conflicts"].as_array().unwrap();
        let rules: Vec<&str> = conflicts
            .iter()
            .map(|c| c["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec!["renumber", "keep both"], "{plan:#}");
        assert!(
            conflicts[0]["message"]
                .as_str()
                .unwrap()
                .contains("3 visit of 2 Ann are numbered per customer"),
            "{plan:#}"
        );
        let list = cli
            .run(&["records", "list", "visit", "--customer", "1", "--json"])
            .ok()
            .json();
        let mut seqs: Vec<(i64, i64)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_i64().unwrap(), r["seq"].as_i64().unwrap()))
            .collect();
        seqs.sort();
        assert_eq!(seqs, vec![(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)]);
    }
);

const EVERY_CONFLICT: &str = r#"
[model]
name = "clinic"

[customer]
kinds = ["company", "person"]
[customer.fields]
phone = "text"
[customer.links.company]
kinds = ["person"]
target_kinds = ["company"]
[customer.links.referred_by]
kinds = ["person"]
target_kinds = ["person"]
on_erase = "detach"

[record.visit]
owner = "customer"
order_by = ["visited_on"]
numbered = { field = "seq", per = "owner" }
[record.visit.fields]
seq = "int"
visited_on = "date"

[record.invoice]
owner = "customer"
numbered = { field = "number", prefix = "INV-", width = 7 }
[record.invoice.fields]
number = "text"

[record.referral]
owner = "customer"
[record.referral.links]
referrer = { target = "customer", on_erase = "detach" }
[record.referral.fields]
note = "text"
"#;

/// A table's rows as (id, chosen columns), sorted by id.
fn rows(v: &serde_json::Value, cols: &[&str]) -> Vec<String> {
    let mut out: Vec<(i64, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let vals: Vec<String> = cols
                .iter()
                .map(|c| match &r[*c] {
                    serde_json::Value::Null => "-".to_string(),
                    serde_json::Value::String(s) => s.clone(),
                    o => o.to_string(),
                })
                .collect();
            (
                r["id"].as_i64().unwrap(),
                format!("{} {}", r["id"], vals.join(" ")),
            )
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, s)| s).collect()
}

conformance!(
    a_three_way_merge_with_every_conflict_kind_leaves_the_expected_database,
    |db: TestDb| {
        let cli = Cli::new(&db);
        std::fs::write(cli.dir.join("offboard.toml"), EVERY_CONFLICT).unwrap();
        let dir = cli.dir.join("data");
        std::fs::create_dir_all(&dir).unwrap();
        for (file, body) in [
            (
                "customers.csv",
                "id,number,kind,name,email,phone,status,company_id,referred_by_id,created_at\n\
                 1,1,company,Acme,,,active,,,2024-01-01 09:00\n\
                 2,2,person,Ann Lee,,+41 22,active,1,,2024-01-01 09:00\n\
                 3,3,person,Ann Lee,ann@three.example,,active,1,2,2024-05-01 09:00\n\
                 4,4,person,A. Lee,ann@four.example,+41 44,active,,,2024-03-01 09:00\n\
                 5,5,person,Bo Ek,bo@example.com,,active,,4,2024-01-01 09:00\n",
            ),
            (
                "visit.csv",
                "id,customer_id,seq,visited_on\n1,2,1,2024-01-02\n2,2,2,2024-02-02\n3,3,1,2024-01-15\n4,4,1,2024-03-03\n5,4,2,2024-04-04\n",
            ),
            ("invoice.csv", "id,customer_id,number\n1,3,INV-0000001\n2,2,INV-0000002\n"),
            ("referral.csv", "id,customer_id,referrer_id,note\n1,5,3,via Ann\n"),
        ] {
            std::fs::write(dir.join(file), body).unwrap();
        }
        cli.run(&["import", "data"]).ok();
        let plan = cli
            .run(&[
                "merge", "3", "4", "--into", "2", "--take", "email=4", "--json",
            ])
            .ok()
            .json();
        let rules: Vec<&str> = plan["merge"]["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rule"].as_str().unwrap())
            .collect();
        assert_eq!(
            rules,
            vec!["renumber", "keep both", "renumber", "keep both"],
            "{plan:#}"
        );
        let customers = cli
            .run(&["customers", "list", "--view", "all", "--json"])
            .ok()
            .json();
        assert_eq!(
            rows(
                &customers,
                &["name", "email", "phone", "company_id", "referred_by_id"]
            ),
            vec![
                "1 Acme - - - -",
                "2 Ann Lee ann@four.example +41 22 1 -",
                "5 Bo Ek bo@example.com - - 2",
            ]
        );
        let list = |kind: &str, customer: &str| {
            cli.run(&["records", "list", kind, "--customer", customer, "--json"])
                .ok()
                .json()
        };
        assert_eq!(
            rows(&list("visit", "2"), &["customer_id", "seq", "visited_on"]),
            vec![
                "1 2 1 2024-01-02",
                "2 2 2 2024-02-02",
                "3 2 3 2024-01-15",
                "4 2 4 2024-03-03",
                "5 2 5 2024-04-04",
            ]
        );
        assert_eq!(
            rows(&list("invoice", "2"), &["customer_id", "number"]),
            vec!["1 2 INV-0000001", "2 2 INV-0000002"]
        );
        assert_eq!(
            rows(
                &list("referral", "5"),
                &["customer_id", "referrer_id", "note"]
            ),
            vec!["1 5 2 via Ann"]
        );
        // The tombstones: both merged-away customers lead to the survivor.
        for old in ["3", "4"] {
            let shown = cli.run(&["customers", "show", old, "--json"]).ok().json();
            assert_eq!(shown["id"], 2, "{old}");
        }
        // A merged-away id is not used for a new record, and says where the customer went.
        let r = cli.run(&[
            "records",
            "add",
            "visit",
            "--set",
            "customer_id=3",
            "--set",
            "visited_on=2024-06-01",
        ]);
        assert_ne!(r.code, 0, "{}", r.stdout);
        assert!(
            r.stderr
                .contains("customer 3 was merged into customer 2; use 2"),
            "{}",
            r.stderr
        );
    }
);
