use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

conformance!(
    purge_dry_run_prints_the_plan_and_apply_erases,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        cli.run(&[
            "demo",
            "--preset",
            "membership",
            "--customers",
            "300",
            "--seed",
            "3",
            "--out",
            "data",
        ])
        .ok();
        cli.run(&["import", "data"]).ok();
        let before = cli.run(&["stats", "--json"]).ok().json();
        let dry = cli.run(&["purge", "--dry-run", "--json"]).ok().json();
        for k in ["candidates", "purged", "blocked", "blocked_by_rule"] {
            assert!(dry.get(k).is_some(), "{k} in {dry}");
        }
        assert_eq!(dry["candidates"], before["customers"]["deleted"]);
        assert_eq!(
            cli.run(&["stats", "--json"]).ok().json(),
            before,
            "a dry run changes nothing"
        );
        let text = cli.run(&["purge", "--dry-run"]).ok().stdout;
        assert!(
            text.starts_with("purge (dry run: nothing changed):"),
            "{text}"
        );
        let done = cli.run(&["purge", "--json"]).ok().json();
        assert_eq!(done["purged"], dry["purged"]);
        let after = cli.run(&["stats", "--json"]).ok().json();
        assert_eq!(
            after["customers"]["deleted"].as_i64().unwrap(),
            before["customers"]["deleted"].as_i64().unwrap() - done["purged"].as_i64().unwrap()
        );
        let audit = cli.run(&["audit", "--limit", "0", "--json"]).ok().json();
        let ops: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["operation"].as_str().unwrap())
            .collect();
        assert_eq!(
            ops.iter().filter(|o| **o == "purge").count() as i64,
            done["purged"].as_i64().unwrap()
        );
        assert_eq!(ops.last(), Some(&"import"), "the import is in the log too");
        assert!(cli
            .run(&["audit", "verify"])
            .ok()
            .stdout
            .contains("chain intact"));
    }
);

conformance!(
    deactivate_explains_each_customer_it_did_not_deactivate,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let a = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Ann",
                "--json",
            ])
            .ok()
            .json();
        let id = a["id"].to_string();
        cli.run(&[
            "records",
            "add",
            "invoice",
            "--set",
            &format!("customer_id={id}"),
            "--set",
            "balance=2500",
        ])
        .ok();
        let r = cli.run(&[
            "deactivate",
            &id,
            "--reason",
            "Moved away",
            "--open-activities",
            "complete",
        ]);
        assert_eq!(r.code, 1);
        assert!(
            r.stdout.contains("1 open invoice (25.00) [open-invoices]"),
            "{}",
            r.stdout
        );
        let j = cli
            .run(&[
                "deactivate",
                &id,
                "--reason",
                "Moved away",
                "--dry-run",
                "--json",
            ])
            .json();
        assert_eq!(j["deactivated"], 0);
        assert_eq!(j["customers"][0]["blockers"][0]["amount"], 2500);
        let b = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "person",
                "--name",
                "Bo",
                "--json",
            ])
            .ok()
            .json();
        let bid = b["id"].to_string();
        cli.run(&["deactivate", &bid, "--reason", "Moved away"])
            .ok();
        let shown = cli.run(&["customers", "show", &bid, "--json"]).ok().json();
        assert_eq!(
            (
                shown["status"].as_str(),
                shown["deactivation_reason"].as_str()
            ),
            (Some("deactivated"), Some("Moved away"))
        );
        cli.run(&["reactivate", &bid]).ok();
        let r = cli.run(&["deactivate", "999"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("999"), "{}", r.stderr);
    }
);

conformance!(
    bulk_operations_choose_customers_by_view_kind_and_search,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        for (kind, name) in [
            ("person", "Ann Lee"),
            ("person", "Bo Lee"),
            ("company", "Lee Ltd"),
            ("person", "Cy Ek"),
        ] {
            cli.run(&["customers", "add", "--kind", kind, "--name", name])
                .ok();
        }
        let plan = cli
            .run(&[
                "delete",
                "--select-view",
                "active",
                "--select-kind",
                "person",
                "--select-search",
                "lee",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(plan["deleted"], 2);
        let names: Vec<String> = cli
            .run(&["customers", "list", "--view", "deleted", "--json"])
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Ann Lee", "Bo Lee"]);
        let back = cli
            .run(&[
                "undelete",
                "--select-view",
                "deleted",
                "--select-limit",
                "1",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(back["undeleted"], 1);
        let r = cli.run(&["delete"]);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("--select-view"), "{}", r.stderr);
    }
);

conformance!(
    transfer_merge_and_move_to_run_from_the_command_line,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let id = |name: &str| {
            cli.run(&[
                "customers",
                "add",
                "--kind",
                "company",
                "--name",
                name,
                "--json",
            ])
            .ok()
            .json()["id"]
                .to_string()
        };
        let (a, b, c) = (id("A"), id("B"), id("C"));
        cli.run(&[
            "records",
            "add",
            "matter",
            "--set",
            &format!("customer_id={a}"),
            "--set",
            "status=closed",
        ])
        .ok();
        let t = cli
            .run(&[
                "transfer", "--from", &a, "--to", &b, "--kinds", "matter", "--json",
            ])
            .ok()
            .json();
        assert_eq!(t["effects"]["matter"]["moved"], 1);
        let m = cli.run(&["merge", &b, "--into", &c, "--json"]).ok().json();
        assert_eq!(m["merged"], 1);
        let d = cli
            .run(&["delete", &a, "--move-to", &c, "--json"])
            .ok()
            .json();
        assert_eq!(d["deleted"], 1);
        let r = cli.run(&["delete", &a, &c, "--move-to", &c]);
        assert_eq!(r.code, 2);
    }
);

conformance!(
    records_delete_by_id_owner_and_from_on_the_command_line,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "lending"]).ok();
        let c = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "client",
                "--name",
                "Ann",
                "--json",
            ])
            .ok()
            .json()["id"]
            .to_string();
        let app = cli
            .run(&[
                "records",
                "add",
                "application",
                "--set",
                &format!("customer_id={c}"),
                "--json",
            ])
            .ok()
            .json()["id"]
            .to_string();
        let k = cli
            .run(&[
                "records",
                "add",
                "contract",
                "--set",
                &format!("application_id={app}"),
                "--json",
            ])
            .ok()
            .json()["id"]
            .to_string();
        for at in [
            "2024-01-01 10:00:00",
            "2024-02-01 10:00:00",
            "2024-03-01 10:00:00",
        ] {
            cli.run(&[
                "records",
                "add",
                "process",
                "--set",
                &format!("contract_id={k}"),
                "--set",
                &format!("at={at}"),
            ])
            .ok();
        }
        let r = cli.run(&["records", "delete", "process", "1"]);
        assert_eq!(r.code, 1);
        assert!(
            r.stdout
                .contains("2 later processes must be deleted first (2, 3)"),
            "{}",
            r.stdout
        );
        let dry = cli
            .run(&[
                "records",
                "delete",
                "process",
                "--contract",
                &k,
                "--from",
                "2024-02-01T00:00",
                "--dry-run",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(dry["ids"], serde_json::json!([2, 3]));
        // A day for a date-time field: from the start of that day.
        let by_day = cli
            .run(&[
                "records",
                "delete",
                "process",
                "--contract",
                &k,
                "--from",
                "2024-02-01",
                "--dry-run",
                "--json",
            ])
            .ok()
            .json();
        assert_eq!(by_day["ids"], serde_json::json!([2, 3]));
        let wrong = cli.run(&[
            "records",
            "delete",
            "process",
            "--contract",
            &k,
            "--from",
            "February",
            "--dry-run",
        ]);
        assert_ne!(wrong.code, 0);
        assert!(wrong.stderr.contains("`from`"), "{}", wrong.stderr);
        assert!(!wrong.stderr.contains("--from:"), "{}", wrong.stderr);
        let done = cli
            .run(&["records", "delete", "process", "--contract", &k, "--json"])
            .ok()
            .json();
        assert_eq!(done["deleted"], 3);
        let audit = cli.run(&["audit", "--customer", &c, "--json"]).ok().json();
        let entry = &audit[0];
        assert_eq!(entry["operation"], "delete-records");
        assert_eq!(
            entry["customer_name"], "Ann",
            "whose records they were: {entry}"
        );
        assert!(entry["customer_number"].is_string(), "{entry}");
        assert_eq!(entry["details"]["deleted"], serde_json::json!([1, 2, 3]));
        let r = cli.run(&["records", "delete", "process", "--invoice", "3"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
    }
);

conformance!(
    acting_as_a_user_applies_the_models_permissions,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "erp"]).ok();
        cli.run(&["users", "add", "cleo", "--role", "clerk"]).ok();
        cli.run(&["users", "add", "max", "--role", "manager"]).ok();
        let list = cli.run(&["users", "list", "--json"]).ok().json();
        assert_eq!(list.as_array().unwrap().len(), 2);
        let id = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "company",
                "--name",
                "Acme",
                "--json",
            ])
            .ok()
            .json()["id"]
            .to_string();
        let d = cli
            .run(&["--as", "cleo", "delete", &id, "--json"])
            .ok()
            .json();
        assert_eq!(d["deleted"], 1, "a clerk may delete (inactivate) in erp");
        let r = cli.run(&["reactivate", &id, "--as", "cleo"]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("cleo (clerk) may not reactivate"),
            "{}",
            r.stderr
        );
        cli.run(&["reactivate", &id, "--as", "max"]).ok();
        let r = cli.run(&["users", "add", "eve", "--role", "admin", "--as", "max"]);
        assert_eq!(r.code, 1, "only admins manage users");
        let r = cli.run(&["audit", "--as", "cleo"]);
        assert_eq!(r.code, 1, "the audit log is for managers: {}", r.stderr);
        assert!(
            r.stderr.contains("cleo (clerk) may not audit"),
            "{}",
            r.stderr
        );
        cli.run(&["audit", "verify", "--as", "max"]).ok();
        let r = cli.run(&["stats", "--as", "nobody"]);
        let r2 = cli.run(&["delete", &id, "--as", "nobody"]);
        assert_eq!((r.code, r2.code), (1, 1), "an unknown user may do nothing");
        assert!(r.stderr.contains("no user `nobody`"), "{}", r.stderr);
        assert!(r2.stderr.contains("no user `nobody`"), "{}", r2.stderr);
        let audit = cli.run(&["audit", "--json"]).ok().json();
        assert_eq!(audit[0]["actor"], "max");

        // Tokens one by one: listed by id and label (never the secret), revoked by id.
        let first = cli
            .run(&["users", "token", "cleo", "--label", "laptop", "--json"])
            .ok()
            .json();
        cli.run(&["users", "token", "cleo", "--label", "sync"]).ok();
        let tokens = cli.run(&["users", "tokens", "cleo", "--json"]).ok().json();
        let tokens = tokens.as_array().unwrap();
        assert_eq!(tokens.len(), 2, "{tokens:?}");
        let laptop = tokens
            .iter()
            .find(|t| t["label"] == "laptop")
            .unwrap_or_else(|| panic!("{tokens:?}"))["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(!first["token"].as_str().unwrap().contains(&laptop));
        let table = cli.run(&["users", "tokens"]).ok().stdout;
        assert!(
            table.contains("laptop") && table.contains("sync"),
            "{table}"
        );
        let r = cli.run(&["users", "revoke", "cleo", "--token", "feedfeedfeed"]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("has no token `feedfeedfeed`"),
            "{}",
            r.stderr
        );
        let out = cli
            .run(&["users", "revoke", "cleo", "--token", &laptop])
            .ok();
        assert!(
            out.stdout.contains("(laptop) of cleo is revoked"),
            "{}",
            out.stdout
        );
        let left = cli.run(&["users", "tokens", "cleo", "--json"]).ok().json();
        assert_eq!(left.as_array().unwrap().len(), 1);
        assert_eq!(left[0]["label"], "sync");

        // Disabled: listed so, and may not act; enabled again, may.
        cli.run(&["users", "disable", "cleo"]).ok();
        let list = cli.run(&["users", "list", "--json"]).ok().json();
        let cleo = list
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "cleo")
            .unwrap()
            .clone();
        assert_eq!(cleo["disabled"], true);
        let r = cli.run(&["stats", "--as", "cleo"]);
        assert_eq!(r.code, 1);
        assert!(r.stderr.contains("`cleo` is disabled"), "{}", r.stderr);
        cli.run(&["users", "enable", "cleo"]).ok();
        cli.run(&["stats", "--as", "cleo"]).ok();
        // Removed: gone, and the audit log still names what they did.
        cli.run(&["users", "remove", "cleo", "--yes"]).ok();
        let list = cli.run(&["users", "list", "--json"]).ok().json();
        assert!(list.as_array().unwrap().iter().all(|u| u["name"] != "cleo"));
        let audit = cli.run(&["audit", "--json", "--limit", "100"]).ok().json();
        let ops: Vec<&str> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["operation"].as_str())
            .collect();
        for op in ["revoke-token", "disable-user", "enable-user", "remove-user"] {
            assert!(ops.contains(&op), "{op} in {ops:?}");
        }
        assert!(audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "cleo"));
    }
);

conformance!(a_viewer_may_look_but_not_change, |db: TestDb| {
    let cli = Cli::new(&db);
    cli.run(&["init", "--preset", "services"]).ok();
    cli.run(&["users", "add", "vic", "--role", "viewer"]).ok();
    let id = cli
        .run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Ann",
            "--json",
        ])
        .ok()
        .json()["id"]
        .to_string();
    cli.run(&["customers", "show", &id, "--as", "vic"]).ok();
    let r = cli.run(&["customers", "edit", &id, "--set", "name=Bo", "--as", "vic"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("vic (viewer) may not edit"),
        "{}",
        r.stderr
    );
    let r = cli.run(&[
        "records",
        "add",
        "note",
        "--set",
        &format!("customer_id={id}"),
        "--as",
        "vic",
    ]);
    assert_eq!(r.code, 1);
    let r = cli.run(&["delete", &id, "--as", "vic"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        cli.run(&["customers", "show", &id, "--json"]).ok().json()["name"],
        "Ann"
    );
    cli.run(&["stats", "--as", "vic"]).ok();
    for args in [
        &["export", "out", "--as", "vic"][..],
        &["backup", "copy.db", "--as", "vic"],
        &["import", "out", "--as", "vic"],
    ] {
        let r = cli.run(args);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains("vic (viewer) may not"), "{}", r.stderr);
    }
    assert!(
        !cli.dir.join("out").exists(),
        "a refused export writes nothing"
    );
    // The administrator's backup: a database file (SQLite) or pg_dump's archive (PostgreSQL).
    cli.run(&["backup", "copy.bak"]).ok();
    let head = std::fs::read(cli.dir.join("copy.bak")).unwrap();
    let magic: &[u8] = if db.url.starts_with("postgres") {
        b"PGDMP"
    } else {
        b"SQLite format 3"
    };
    assert!(head.starts_with(magic), "a backup, not {:?}", &head[..16]);
    let again = cli.run(&["backup", "copy.bak"]);
    assert_eq!(again.code, 1, "an existing file is not overwritten");
});

conformance!(every_change_is_in_the_audit_log, |db: TestDb| {
    let cli = Cli::new(&db);
    cli.run(&["init", "--preset", "services"]).ok();
    let id = cli
        .run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Ann",
            "--json",
        ])
        .ok()
        .json()["id"]
        .to_string();
    cli.run(&[
        "customers",
        "edit",
        &id,
        "--set",
        "name=Ann Lee",
        "--set",
        "phone=555",
    ])
    .ok();
    let note = cli
        .run(&[
            "records",
            "add",
            "note",
            "--set",
            &format!("customer_id={id}"),
            "--set",
            "body=hi",
            "--json",
        ])
        .ok()
        .json()["id"]
        .to_string();
    cli.run(&["records", "edit", "note", &note, "--set", "body=hello"])
        .ok();
    cli.run(&["users", "add", "cleo", "--role", "clerk"]).ok();
    let log = cli.run(&["audit", "--limit", "0", "--json"]).ok().json();
    let log = log.as_array().unwrap();
    let ops: Vec<&str> = log
        .iter()
        .map(|e| e["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["add-user", "edit-record", "create-record", "edit", "create"]
    );
    let edit = &log[3];
    assert_eq!(edit["customer_name"], "Ann", "the name as it was: {edit}");
    assert_eq!(
        edit["details"]["changed"]["name"],
        serde_json::json!(["Ann", "Ann Lee"])
    );
    assert_eq!(
        edit["details"]["changed"]["phone"],
        serde_json::json!([null, "555"])
    );
    assert_eq!(log[1]["customer_name"], "Ann Lee");
    assert_eq!(
        log[1]["details"]["changed"]["body"],
        serde_json::json!(["hi", "hello"])
    );
    assert!(cli
        .run(&["audit", "verify"])
        .ok()
        .stdout
        .contains("chain intact"));
    // A refused change writes nothing, to the data or the log.
    let r = cli.run(&["customers", "edit", &id, "--set", "kind=robot"]);
    assert_eq!(r.code, 1);
    let after = cli.run(&["audit", "--limit", "0", "--json"]).ok().json();
    assert_eq!(after.as_array().unwrap().len(), 5);
});

conformance!(
    deactivate_takes_a_reason_per_kind_for_a_mixed_selection,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let add = |kind: &str, name: &str| {
            cli.run(&["customers", "add", "--kind", kind, "--name", name, "--json"])
                .ok()
                .json()["id"]
                .to_string()
        };
        let (firm, person) = (add("company", "Acme Corp"), add("person", "Ed Clean"));
        let bad = cli.run(&["deactivate", &firm, "--reason-for", "company"]);
        assert_ne!(bad.code, 0);
        assert!(bad.stderr.contains("KIND=REASON"), "{}", bad.stderr);
        cli.run(&[
            "deactivate",
            &firm,
            &person,
            "--reason-for",
            "company=Company dissolved",
            "--reason-for",
            "person=Moved away",
        ])
        .ok();
        let reason = |id: &str| {
            cli.run(&["customers", "show", id, "--json"]).ok().json()["deactivation_reason"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(reason(&firm), "Company dissolved");
        assert_eq!(reason(&person), "Moved away");
    }
);

/// Imports Ann (email, phone, an address, an invoice) and Bo into the services preset, with
/// `notes` as note.csv.
pub(crate) fn import_ann_and_bo(cli: &Cli, notes: &str) {
    let dir = cli.dir.join("data");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name,email,phone,status\n1,1,person,Ann Lee,ann@example.com,+41 44 000 00 01,active\n2,2,person,Bo Ek,bo@example.com,,active\n",
    )
    .unwrap();
    std::fs::write(dir.join("note.csv"), notes).unwrap();
    std::fs::write(
        dir.join("address.csv"),
        "id,customer_id,line1,city\n1,1,Main St 1,Zurich\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("invoice.csv"),
        "id,customer_id,number,total,balance,issued_on\n1,1,INV-1,10000,0,2024-01-01\n",
    )
    .unwrap();
    cli.run(&["import", "data"]).ok();
}

conformance!(
    a_persons_data_is_exported_on_request_and_erased_on_request,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        // Where personal data lives, as the model marks it.
        let check = cli.run(&["check"]).ok().stdout;
        for col in [
            "customers.name",
            "customers.email (identifying)",
            "customers.phone",
            "address.line1",
            "note.body",
        ] {
            assert!(check.contains(col), "{col} in {check}");
        }
        import_ann_and_bo(
            &cli,
            "id,customer_id,body\n1,1,called back\n2,1,prefers email\n3,2,other\n",
        );
        cli.run(&["customers", "edit", "1", "--set", "phone=+41 44 000 00 02"])
            .ok();
        // Right of access: everything about Ann in one document.
        let doc = cli
            .run(&["export", "--customer", "1", "--format", "json"])
            .ok()
            .json();
        assert_eq!(doc["customer"]["name"], "Ann Lee");
        assert_eq!(doc["customer"]["phone"], "+41 44 000 00 02");
        assert_eq!(
            doc["records"]["note"].as_array().map(Vec::len),
            Some(2),
            "{doc}"
        );
        assert_eq!(doc["records"]["address"][0]["line1"], "Main St 1");
        assert_eq!(doc["records"]["invoice"][0]["number"], "INV-1");
        assert!(doc["records"].get("job").is_none(), "only kinds she has");
        assert_eq!(doc["audit"].as_array().map(Vec::len), Some(1), "{doc}");
        assert_eq!(doc["audit"][0]["operation"], "edit");
        assert!(!doc.to_string().contains("Bo Ek"), "nobody else's data");
        let file = cli.dir.join("ann.json");
        cli.run(&["export", "--customer", "1", "--out", file.to_str().unwrap()])
            .ok();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(saved["customer"], doc["customer"]);
        let bad = cli.run(&["export", "--customer", "99"]);
        assert_ne!(bad.code, 0);
        assert!(bad.stderr.contains("99"), "{}", bad.stderr);
        // Erasure request: Ann is active, and goes now; her notes and address with her, the
        // invoice stays as history without her.
        let dry = cli.run(&["erase", "1", "--dry-run", "--json"]).ok().json();
        assert_eq!(dry["purged"], 1, "{dry}");
        assert_eq!(
            cli.run(&["customers", "show", "1", "--json"]).ok().json()["name"],
            "Ann Lee"
        );
        let done = cli.run(&["erase", "1", "--yes", "--json"]).ok().json();
        assert_eq!(done["purged"], 1, "{done}");
        assert_ne!(cli.run(&["customers", "show", "1"]).code, 0);
        let stats = cli.run(&["stats", "--json"]).ok().json();
        assert_eq!(stats["records"]["note"], 1, "{stats}");
        assert_eq!(stats["records"]["address"], 0, "{stats}");
        assert_eq!(stats["records"]["invoice"], 1, "{stats}");
        assert_eq!(
            cli.run(&["customers", "show", "2", "--json"]).ok().json()["status"],
            "active"
        );
        // No resurrection: her email may not come back, in any case, by any way in.
        let again = cli.run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Ann Again",
            "--set",
            "email=ANN@example.com",
        ]);
        assert_ne!(again.code, 0);
        assert!(
            again.stderr.contains("may not come back")
                && again.stderr.contains("blocklist lift --email"),
            "{}",
            again.stderr
        );
        let edit = cli.run(&["customers", "edit", "2", "--set", "email=ann@example.com"]);
        assert_ne!(edit.code, 0, "{}", edit.stdout);
        std::fs::create_dir_all(cli.dir.join("back")).unwrap();
        std::fs::write(
            cli.dir.join("back").join("customers.csv"),
            "id,number,kind,name,email,status\n10,10,person,Ann Lee, ann@example.com ,active\n",
        )
        .unwrap();
        let import = cli.run(&["import", "back"]);
        assert_ne!(import.code, 0);
        assert!(
            import.stderr.contains("customers.csv:2: column `email`"),
            "{}",
            import.stderr
        );
        let list = cli.run(&["blocklist", "list", "--json"]).ok().json();
        assert_eq!(list["email"], 1, "{list}");
        // An admin lifts it (audited without the value), and she may come back.
        let lifted = cli
            .run(&["blocklist", "lift", "--email", "Ann@Example.com", "--json"])
            .ok()
            .json();
        assert_eq!(lifted["lifted"], true);
        cli.run(&[
            "customers",
            "add",
            "--kind",
            "person",
            "--name",
            "Ann Again",
            "--set",
            "email=ann@example.com",
        ])
        .ok();
        let audit = cli.run(&["audit", "--json", "--limit", "5"]).ok().json();
        let lift: Vec<&serde_json::Value> = audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["operation"] == "lift-block")
            .collect();
        assert_eq!(lift.len(), 1, "{audit}");
        assert!(
            !lift[0]
                .to_string()
                .to_lowercase()
                .contains("ann@example.com"),
            "{}",
            lift[0]
        );
    }
);

conformance!(
    forget_masks_personal_data_at_once_and_the_next_purge_erases_it,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "services"]).ok();
        import_ann_and_bo(&cli, "id,customer_id,body\n1,1,called back\n2,2,other\n");
        let dry = cli.run(&["forget", "1", "--dry-run", "--json"]).ok().json();
        assert_eq!(dry["masked"]["note"], 1, "{dry}");
        assert_eq!(
            cli.run(&["customers", "show", "1", "--json"]).ok().json()["name"],
            "Ann Lee"
        );
        let done = cli.run(&["forget", "1", "--yes", "--json"]).ok().json();
        assert_eq!(done["blocked_values"], 1, "{done}");
        let ann = cli.run(&["customers", "show", "1", "--json"]).ok().json();
        assert_eq!(ann["name"], "Forgotten customer");
        assert!(ann["email"].is_null() && ann["phone"].is_null(), "{ann}");
        assert_eq!(ann["number"], "1", "the number stays");
        let doc = cli.run(&["export", "--customer", "1"]).ok().json();
        assert!(doc["records"]["note"][0]["body"].is_null(), "{doc}");
        assert!(doc["records"]["address"][0]["line1"].is_null(), "{doc}");
        assert_eq!(
            doc["records"]["invoice"][0]["number"], "INV-1",
            "financial history stays"
        );
        let text = doc["records"].to_string() + &doc["customer"].to_string();
        assert!(
            !text.contains("Ann") && !text.contains("Zurich") && !text.contains("called back"),
            "{text}"
        );
        // The log says it was forgotten, without a personal value.
        let audit = cli.run(&["audit", "--customer", "1", "--json"]).ok().json();
        let forget = audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["operation"] == "forget")
            .unwrap()
            .clone();
        assert!(
            !forget.to_string().contains("Ann") && !forget.to_string().contains("ann@"),
            "{forget}"
        );
        // Bo was not touched; the next purge erases Ann.
        assert_eq!(
            cli.run(&["customers", "show", "2", "--json"]).ok().json()["name"],
            "Bo Ek"
        );
        let purge = cli.run(&["purge", "--yes", "--json"]).ok().json();
        assert_eq!(purge["purged"], 1, "{purge}");
        assert_ne!(cli.run(&["customers", "show", "1"]).code, 0);
        assert_eq!(
            cli.run(&["customers", "show", "2", "--json"]).ok().json()["status"],
            "active"
        );
        let bad = cli.run(&["forget", "99", "--yes"]);
        assert_ne!(bad.code, 0);
    }
);
