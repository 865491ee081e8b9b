//! Privacy requests a data-protection officer runs: logged by a clerk, the identity verified
//! by someone with the `privacy` permission before anything is released or erased, run
//! through the existing operations (an erasure that must keep something forgets instead and
//! says why), closed with a receipt `audit verify --receipt` checks; due dates, overdue and
//! the one extension; and `locate`, which finds nothing of an erased person afterwards.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

/// membership: Ann (M1) owes an invoice, Bo (M2) owes nothing, Cy (M3).
fn setup(db: &TestDb) -> Cli {
    let cli = Cli::new(db);
    cli.run(&["init", "--preset", "membership"]).ok();
    let dir = cli.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name,email,status,company_id\n\
         1,M1,person,Qzann Owes,qzann@example.com,active,\n\
         2,M2,person,Qzbo Clear,qzbo@example.com,active,\n\
         3,M3,person,Qzcy Third,qzcy@example.com,active,\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("invoice.csv"),
        "id,customer_id,balance,issued_on\n1,1,12000,2026-10-01\n2,2,0,2026-10-01\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
    cli.run(&["users", "add", "cleo", "--role", "clerk"]).ok();
    cli
}

conformance!(
    an_erasure_request_goes_from_received_to_a_receipt_that_verifies,
    |db: TestDb| {
        let cli = setup(&db);
        // A clerk takes the call: the email finds the customer.
        let r = cli
            .run(&[
                "--as",
                "cleo",
                "requests",
                "add",
                "--type",
                "erasure",
                "--email",
                "QZBO@example.com",
                "--name",
                "Bo",
                "--received",
                "2026-12-01",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(r["customer_number"], "M2", "{r}");
        assert_eq!(r["status"], "received");
        assert_eq!(r["due_on"], "2026-12-31", "30 days after receipt");
        let id = r["id"].as_i64().unwrap().to_string();
        // ... but may not verify or run it.
        let refused = cli.run(&[
            "--as",
            "cleo",
            "requests",
            "verify-identity",
            &id,
            "--method",
            "ID card",
        ]);
        assert_ne!(refused.code, 0);
        assert!(refused.stderr.contains("privacy"), "{}", refused.stderr);
        // Nothing is erased before the identity is verified.
        let early = cli.run(&["requests", "run", &id]);
        assert_ne!(early.code, 0);
        assert!(early.stderr.contains("verify"), "{}", early.stderr);
        cli.run(&["customers", "show", "#2"]).ok();
        cli.run(&[
            "requests",
            "verify-identity",
            &id,
            "--method",
            "ID card seen at the desk",
        ])
        .ok();
        let dry = cli
            .run(&["requests", "run", &id, "--dry-run", "--json"])
            .ok()
            .json();
        assert_eq!(dry["request"]["outcome"]["erased"], true, "{dry}");
        cli.run(&["customers", "show", "#2"]).ok();
        let ran = cli.run(&["requests", "run", &id, "--json"]).ok().json();
        assert_eq!(ran["request"]["status"], "in_progress");
        assert_ne!(cli.run(&["customers", "show", "#2"]).code, 0, "erased");
        let done = cli
            .run(&["requests", "complete", &id, "--json"])
            .ok()
            .json();
        assert_eq!(done["status"], "completed");
        // The request itself keeps nothing personal once it is done.
        assert!(
            done["contact"].is_null() && done["requester"].is_null(),
            "{done}"
        );
        let receipt = cli.dir.join("receipt.json");
        cli.run(&[
            "requests",
            "receipt",
            &id,
            "--out",
            receipt.to_str().unwrap(),
        ])
        .ok();
        let text = std::fs::read_to_string(&receipt).unwrap();
        assert!(!text.contains("qzbo") && !text.contains("Qzbo"), "{text}");
        let ok = cli
            .run(&["audit", "verify", "--receipt", receipt.to_str().unwrap()])
            .ok()
            .stdout;
        assert!(ok.contains("verified"), "{ok}");
        // An edited receipt does not verify.
        std::fs::write(
            &receipt,
            text.replace("\"erased\": true", "\"erased\": false"),
        )
        .unwrap();
        let bad = cli.run(&["audit", "verify", "--receipt", receipt.to_str().unwrap()]);
        assert_ne!(bad.code, 0);
        assert!(bad.stderr.contains("edited"), "{}", bad.stderr);
        let html = cli.dir.join("receipt.html");
        cli.run(&[
            "requests",
            "receipt",
            &id,
            "--html",
            "--out",
            html.to_str().unwrap(),
        ])
        .ok();
        let page = std::fs::read_to_string(&html).unwrap();
        assert!(page.contains("Your personal data was erased"), "{page}");
        // Nothing of Bo is left: tables, the job book, the files.
        let found = cli
            .run(&["locate", "qzbo@example.com", "--bytes", "--json"])
            .ok()
            .json();
        assert_eq!(found["found"], serde_json::json!([]), "{found}");
        assert_eq!(found["undeclared"], serde_json::json!([]), "{found}");
        assert_eq!(found["files"]["found"], serde_json::json!([]), "{found}");
        assert!(found["files"]["scanned"].as_u64().unwrap() > 0, "{found}");
        let by_id = cli.run(&["locate", "#2", "--json"]).ok().json();
        assert_eq!(by_id["customer"]["erased"], true, "{by_id}");
        assert_eq!(by_id["found"], serde_json::json!([]), "{by_id}");
        // The scan sees what is there: Cy, untouched.
        let cy = cli
            .run(&["locate", "qzcy@example.com", "--json"])
            .ok()
            .json();
        assert!(
            cy["found"]
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h["table"] == "customers"),
            "{cy}"
        );
        cli.run(&["audit", "verify"]).ok();
    }
);

conformance!(
    an_erasure_request_that_must_keep_an_unpaid_invoice_forgets_and_says_why,
    |db: TestDb| {
        let cli = setup(&db);
        let r = cli
            .run(&[
                "requests",
                "add",
                "--type",
                "erasure",
                "--customer",
                "M1",
                "--json",
            ])
            .ok()
            .json();
        let id = r["id"].as_i64().unwrap().to_string();
        cli.run(&["requests", "verify-identity", &id, "--method", "call back"])
            .ok();
        let ran = cli.run(&["requests", "run", &id, "--json"]).ok().json();
        let outcome = &ran["request"]["outcome"];
        assert_eq!(outcome["erased"], false, "{outcome}");
        assert_eq!(outcome["forgotten"], true, "{outcome}");
        assert_eq!(
            outcome["kept_because"][0]["rule"], "unpaid-invoices",
            "{outcome}"
        );
        cli.run(&["requests", "complete", &id]).ok();
        let receipt = cli.dir.join("r.json");
        cli.run(&[
            "requests",
            "receipt",
            &id,
            "--out",
            receipt.to_str().unwrap(),
        ])
        .ok();
        let text = std::fs::read_to_string(&receipt).unwrap();
        assert!(
            text.contains("unpaid-invoices"),
            "the ground is in the receipt: {text}"
        );
        cli.run(&["audit", "verify", "--receipt", receipt.to_str().unwrap()])
            .ok();
        // The customer stays (its invoice must), with nothing personal left.
        let found = cli
            .run(&["locate", "qzann@example.com", "--json"])
            .ok()
            .json();
        assert_eq!(found["found"], serde_json::json!([]), "{found}");
        assert_eq!(found["undeclared"], serde_json::json!([]), "{found}");
        let shown = cli.run(&["customers", "show", "M1"]).ok().stdout;
        assert!(!shown.contains("Qzann"), "{shown}");
    }
);

conformance!(
    an_overdue_request_shows_and_may_be_extended_once,
    |db: TestDb| {
        let cli = setup(&db);
        let long_ago =
            offboard_model::Date::from_days(offboard_model::DateTime::now().date().days() - 40)
                .to_string();
        let r = cli
            .run(&[
                "requests",
                "add",
                "--type",
                "access",
                "--email",
                "nobody@nowhere.example",
                "--received",
                &long_ago,
                "--json",
            ])
            .ok()
            .json();
        assert!(r["customer_id"].is_null(), "no one holds this email: {r}");
        let id = r["id"].as_i64().unwrap().to_string();
        let overdue = cli
            .run(&["requests", "list", "--overdue", "--json"])
            .ok()
            .json();
        assert_eq!(overdue[0]["id"], r["id"], "{overdue}");
        assert_eq!(overdue[0]["overdue"], true);
        let text = cli.run(&["requests", "list"]).ok().stdout;
        assert!(text.contains("OVERDUE"), "{text}");
        let refused = cli.run(&["requests", "extend", &id, "--reason", " "]);
        assert_ne!(refused.code, 0, "an extension needs a reason");
        let ext = cli
            .run(&[
                "requests",
                "extend",
                &id,
                "--reason",
                "many systems to search",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(ext["overdue"], false, "{ext}");
        assert_eq!(ext["extended_because"], "many systems to search");
        assert_ne!(
            cli.run(&["requests", "extend", &id, "--reason", "again"])
                .code,
            0
        );
        // Found nobody: verified, then completed saying so.
        cli.run(&[
            "requests",
            "verify-identity",
            &id,
            "--method",
            "email reply",
        ])
        .ok();
        assert_ne!(cli.run(&["requests", "run", &id]).code, 0, "nothing to run");
        let done = cli
            .run(&["requests", "complete", &id, "--json"])
            .ok()
            .json();
        assert_eq!(done["status"], "completed", "{done}");
        // A refusal needs a reason and closes the request.
        let r2 = cli
            .run(&[
                "requests",
                "add",
                "--type",
                "access",
                "--customer",
                "M3",
                "--json",
            ])
            .ok()
            .json();
        let id2 = r2["id"].as_i64().unwrap().to_string();
        assert_ne!(
            cli.run(&["requests", "refuse", &id2, "--reason", ""]).code,
            0
        );
        let refused = cli
            .run(&[
                "requests",
                "refuse",
                &id2,
                "--reason",
                "identity could not be verified",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(refused["status"], "refused");
        assert!(cli
            .run(&["requests", "list", "--open", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .is_empty());
    }
);

conformance!(
    an_access_request_hands_out_the_package_and_a_correction_sets_fields,
    |db: TestDb| {
        let cli = setup(&db);
        let r = cli
            .run(&[
                "requests",
                "add",
                "--type",
                "access",
                "--customer",
                "M3",
                "--json",
            ])
            .ok()
            .json();
        let id = r["id"].as_i64().unwrap().to_string();
        cli.run(&[
            "requests",
            "verify-identity",
            &id,
            "--method",
            "signed letter",
        ])
        .ok();
        assert_ne!(
            cli.run(&["requests", "run", &id]).code,
            0,
            "the package needs --out"
        );
        let pkg = cli.dir.join("package.json");
        cli.run(&["requests", "run", &id, "--out", pkg.to_str().unwrap()])
            .ok();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&pkg).unwrap()).unwrap();
        assert_eq!(doc["customer"]["email"], "qzcy@example.com", "{doc}");
        let done = cli
            .run(&["requests", "complete", &id, "--json"])
            .ok()
            .json();
        // An access request keeps its contact until the retention.
        assert_eq!(done["receipt"]["type"], "access");
        assert!(
            done["receipt"]["outcome"]["package_sha256"].is_string(),
            "{done}"
        );
        let c = cli
            .run(&[
                "requests",
                "add",
                "--type",
                "correction",
                "--customer",
                "M3",
                "--json",
            ])
            .ok()
            .json();
        let cid = c["id"].as_i64().unwrap().to_string();
        cli.run(&[
            "requests",
            "verify-identity",
            &cid,
            "--method",
            "signed letter",
        ])
        .ok();
        cli.run(&["requests", "run", &cid, "--set", "email=qzcy@new.example"])
            .ok();
        let shown = cli.run(&["customers", "show", "M3"]).ok().stdout;
        assert!(shown.contains("qzcy@new.example"), "{shown}");
    }
);
