//! `customers list --format csv|xlsx --out FILE`: the whole view, with record counts.

use offboard_testkit::{conformance, TestDb};

use crate::helpers::Cli;

conformance!(
    customers_list_exports_the_view_as_csv_or_xlsx,
    |db: TestDb| {
        let cli = Cli::new(&db);
        cli.run(&["init", "--preset", "membership"]).ok();
        cli.run(&["demo", "--customers", "200", "--seed", "5", "--out", "data"])
            .ok();
        cli.run(&["import", "data"]).ok();
        let deleted = cli.run(&["stats", "--json"]).ok().json()["customers"]["deleted"]
            .as_i64()
            .unwrap();
        // CSV on standard output: the header, then every customer of the view.
        let out = cli
            .run(&["customers", "list", "--view", "deleted", "--format", "csv"])
            .ok()
            .stdout;
        let mut lines = out.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("id,number,kind,name,status"), "{header}");
        assert!(header.contains("invoice_count"), "{header}");
        assert_eq!(lines.count() as i64, deleted);
        // A workbook to a file.
        let r = cli
            .run(&[
                "customers",
                "list",
                "--view",
                "all",
                "--sort",
                "name",
                "--format",
                "xlsx",
                "--out",
                "all.xlsx",
            ])
            .ok();
        assert!(r.stderr.contains("exported 200 customers"), "{}", r.stderr);
        let bytes = std::fs::read(cli.dir.join("all.xlsx")).unwrap();
        assert_eq!(&bytes[..2], b"PK");
        // Usage errors, and the export permission.
        let r = cli.run(&["customers", "list", "--format", "xlsx"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        let r = cli.run(&["customers", "list", "--out", "x.csv"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        cli.run(&["users", "add", "vic", "--role", "viewer"]).ok();
        let r = cli.run(&[
            "customers",
            "list",
            "--format",
            "csv",
            "--out",
            "v.csv",
            "--as",
            "vic",
        ]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("export"), "{}", r.stderr);
    }
);
