use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

conformance!(init_demo_import_then_list_show_and_stats, |db: TestDb| {
    let cli = Cli::new(&db);
    cli.run(&["init", "--preset", "membership"]).ok();
    assert!(cli.dir.join("offboard.toml").exists());
    let demo = cli
        .run(&[
            "demo",
            "--preset",
            "membership",
            "--customers",
            "200",
            "--seed",
            "7",
            "--out",
            "./data",
            "--json",
        ])
        .ok()
        .json();
    let rows = demo["rows"].as_u64().unwrap();
    let imported = cli.run(&["import", "./data", "--json"]).ok().json();
    assert_eq!(imported["rows"].as_u64().unwrap(), rows);

    let stats = cli.run(&["stats", "--json"]).ok().json();
    let c = &stats["customers"];
    assert_eq!(
        c["active"].as_i64().unwrap()
            + c["deactivated"].as_i64().unwrap()
            + c["deleted"].as_i64().unwrap(),
        200
    );
    assert!(stats["records"]["cert_register"].is_i64());

    let deleted = cli
        .run(&["customers", "list", "--view", "deleted", "--json"])
        .ok()
        .json();
    let list = deleted.as_array().unwrap();
    assert_eq!(list.len() as i64, c["deleted"].as_i64().unwrap().min(50));
    for k in ["id", "number", "kind", "name", "status"] {
        assert!(list[0].get(k).is_some(), "{k} in {}", list[0]);
    }
    assert!(list.iter().all(|x| x["status"] == "deleted"));

    let all = cli
        .run(&[
            "customers",
            "list",
            "--view",
            "all",
            "--limit",
            "0",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(
        all.as_array().unwrap().len(),
        200,
        "--limit 0 lists every match"
    );
    let page = cli
        .run(&[
            "customers",
            "list",
            "--view",
            "all",
            "--limit",
            "5",
            "--offset",
            "5",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(page[0]["id"], all[5]["id"]);

    let id = all[0]["id"].to_string();
    let show = cli.run(&["customers", "show", &id, "--json"]).ok().json();
    assert_eq!(show["number"], all[0]["number"]);
    assert!(show["records"]["order"].is_i64());
    let by_number = cli
        .run(&["customers", "show", all[0]["number"].as_str().unwrap()])
        .ok();
    assert!(by_number.stdout.contains(all[0]["name"].as_str().unwrap()));
});

conformance!(
    global_options_go_before_or_after_the_subcommand,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["--db", &db.url, "init", "--preset", "erp"]).ok();
        let a = cli.run(&["--json", "--db", &db.url, "stats"]).ok().json();
        let b = cli.run(&["stats", "--db", &db.url, "--json"]).ok().json();
        assert_eq!(a, b);
        // Without the model file, the model recorded in the database is used.
        std::fs::remove_file(cli.dir.join("offboard.toml")).unwrap();
        let added = cli
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
            .json();
        assert_eq!(added["number"], "CU000001");
        assert_eq!(added["status"], "active");
    }
);

conformance!(
    errors_go_to_stderr_with_exit_codes_one_and_two,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "legal"]).ok();
        let r = cli.run(&["customers", "show", "4242"]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("no customer with id or number 4242"),
            "{}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
        let r = cli.run(&["customers", "list", "--view", "sleeping"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("unknown view `sleeping`"));
        let r = cli.run(&["customers", "frobnicate"]);
        assert_eq!(r.code, 2);
        let r = cli.run(&["init", "--preset", "bakery"]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr
                .contains("presets are: lending, services, erp, legal, membership"),
            "{}",
            r.stderr
        );
        let r = cli
            .run(&[
                "customers",
                "add",
                "--kind",
                "company",
                "--name",
                "A",
                "--number",
                "K1",
            ])
            .ok();
        assert!(r.stdout.contains("K1"));
        let r = cli.run(&[
            "customers",
            "add",
            "--kind",
            "company",
            "--name",
            "B",
            "--number",
            "K1",
        ]);
        assert_eq!(r.code, 1);
        assert!(
            r.stderr.contains("customer number K1 is in use"),
            "{}",
            r.stderr
        );
    }
);

conformance!(a_bad_import_names_file_line_and_column, |db: TestDb| {
    let cli = Cli::new(&db);
    cli.run(&["init", "--preset", "services"]).ok();
    let dir = cli.dir.join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("customers.csv"),
        "id,number,kind,name\n1,1,company,Acme\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("job.csv"),
        "id,customer_id,scheduled_on,total\n1,1,2024-13-01,100\n2,5,2024-01-01,100\n",
    )
    .unwrap();
    let r = cli.run(&["import", "bad"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("nothing was imported: 2 problem(s)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("job.csv:2: column `scheduled_on`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "job.csv:3: column `customer_id`: links to customers 5, which does not exist"
        ),
        "{}",
        r.stderr
    );
    let stats = cli.run(&["stats", "--json"]).ok().json();
    assert_eq!(stats["customers"]["active"], 0);
});

#[test]
fn check_prints_each_problem_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        dir: dir.path().to_path_buf(),
        db: "sqlite://unused.db".into(),
    };
    std::fs::write(
        dir.path().join("bad.toml"),
        "[model]\nname = \"x\"\n[customer]\nkinds = [\"company\"]\n[record.order]\nowner = \"customer\"\nfields = { stage = \"text\", total = \"money\" }\n[[rule]]\nid = \"open\"\non = [\"purge\"]\nkind = \"order\"\nwhen = 'stauts = \"OPEN\"'\n[[rule]]\nid = \"bad-like\"\non = [\"purge\"]\nkind = \"order\"\nwhen = 'total like \"A%\"'\n",
    )
    .unwrap();
    let r = cli.run(&["check", "bad.toml"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("bad.toml:12:9:"), "{}", r.stderr);
    assert!(r.stderr.contains("stauts"), "{}", r.stderr);
    assert!(r.stderr.contains("bad.toml:17:"), "{}", r.stderr);
    let j = cli.run(&["check", "bad.toml", "--json"]).json();
    assert_eq!(j["ok"], false);
    assert_eq!(j["errors"][0]["line"], 12);
    for p in ["lending", "services", "erp", "legal", "membership"] {
        let sub = dir.path().join(p);
        std::fs::create_dir_all(&sub).unwrap();
        cli.run_in(&sub, &["--db", "sqlite://x.db", "init", "--preset", p])
            .ok();
        let r = cli.run_in(&sub, &["check"]).ok();
        assert!(r.stdout.contains("ok"), "{p}: {}", r.stdout);
    }
    let list = cli.run(&["presets", "--json"]).ok().json();
    assert_eq!(list.as_array().unwrap().len(), 5);
}

#[test]
fn every_command_in_the_help_says_what_it_does() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_offboard"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(commands.len() > 20, "{help}");
    for line in &commands {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or_default();
        assert!(
            words.next().is_some(),
            "`{name}` has no description:\n{help}"
        );
    }
    let says = |name: &str, what: &str| {
        commands
            .iter()
            .any(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(what))
    };
    assert!(says("jobs", "Background jobs"), "{help}");
    assert!(says("audit", "The audit log"), "{help}");
}
