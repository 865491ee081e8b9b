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
                .contains("customer 3 was merged into 1 Ann Lee (1)"),
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
