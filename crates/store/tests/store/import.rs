use offboard_store::{ImportErrors, StoreError};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

/// The membership data in exactly the shape PRESETS.md gives (an iMIS-style export).
pub const MEMBERSHIP: &[(&str, &str)] = &[
    (
        "customers.csv",
        "id,number,kind,name,company_id,bill_to_id,status,email,created_at\n\
        110,M0000110,company,Acme Ltd,,,deleted,info@acme.example,2020-01-05 09:00:00\n\
        200,M0000200,person,Ann Lee,110,,active,ann@example.com,2021-03-01 10:30:00\n\
        201,M0000201,person,Bo Ek,,110,deleted,,2021-04-01 11:00:00\n\
        202,M0000202,person,\"Lee, Cy\",,,deactivated,cy@example.com,2022-05-06 12:00:00\n",
    ),
    (
        "order.csv",
        "id,customer_id,stage,total\n1,200,OPEN,1250\n2,201,CLOSED,-500\n",
    ),
    (
        "invoice.csv",
        "id,customer_id,balance,issued_on\n1,201,0,2024-01-31\n",
    ),
    (
        "subscription.csv",
        "id,customer_id,status,product\n1,200,A,Journal\n",
    ),
    (
        "referral.csv",
        "id,provider_id,referral_fee,ready_to_invoice,order_number\n1,201,1500,1,0\n",
    ),
    (
        "activity.csv",
        "id,customer_id,subject,happened_on\n1,110,Call,2024-02-02\n",
    ),
    (
        "address.csv",
        "id,customer_id,line1,city\n1,110,1 Main St,Springfield\n",
    ),
    (
        "note.csv",
        "id,customer_id,body\n1,202,\"Said \"\"hi\"\"\"\n",
    ),
    (
        "cert_register.csv",
        "id,customer_id,bill_to_id\n1,200,110\n2,110,110\n",
    ),
];

conformance!(
    the_membership_export_imports_as_written_in_presets,
    |db: TestDb| {
        let mut s = store(&db, "membership");
        let dir = csv_dir(&db, MEMBERSHIP);
        let report = s.import_dir(&dir, &mut |_, _| {}).unwrap();
        assert_eq!(report.rows, 4 + 2 + 1 + 1 + 1 + 1 + 1 + 1 + 2);
        let stats = s.stats().unwrap();
        assert_eq!(
            (
                stats.customers.active,
                stats.customers.deactivated,
                stats.customers.deleted
            ),
            (1, 1, 2)
        );
        assert_eq!(stats.records["cert_register"], 2);
        let cy = s.customer(202).unwrap();
        assert_eq!(cy.name, "Lee, Cy");
        let ann = s.customer(200).unwrap();
        assert_eq!(ann.fields["company_id"], serde_json::json!(110));
        assert_eq!(ann.created_at.to_cell(), "2021-03-01 10:30:00");
        assert_eq!(
            s.record("order", 2).unwrap().values["total"],
            serde_json::json!(-500)
        );
        assert_eq!(
            s.record("referral", 1).unwrap().values["ready_to_invoice"],
            serde_json::json!(true)
        );
        assert_eq!(
            s.record("note", 1).unwrap().values["body"],
            serde_json::json!("Said \"hi\"")
        );
        // New customers and records continue after the imported ids and numbers.
        let next = s
            .create_customer(offboard_store::customers::NewCustomer {
                kind: "person".into(),
                name: "New".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!((next.id, next.number.as_str()), (203, "M0000203"));
        let o = s
            .create_record("order", &set(&[("customer_id", "200"), ("stage", "OPEN")]))
            .unwrap();
        assert_eq!(o.id, 3);
    }
);

fn import_errors(db: &TestDb, files: &[(&str, &str)]) -> ImportErrors {
    let mut s = store(db, "membership");
    let dir = csv_dir(db, files);
    match s.import_dir(&dir, &mut |_, _| {}) {
        Err(StoreError::Import(e)) => {
            let stats = s.stats().unwrap();
            assert_eq!(
                stats.customers.active + stats.customers.deleted + stats.customers.deactivated,
                0,
                "nothing imported"
            );
            assert!(
                stats.records.values().all(|n| *n == 0),
                "nothing imported: {stats:?}"
            );
            e
        }
        other => panic!("expected import errors, got {other:?}"),
    }
}

fn has(e: &ImportErrors, file: &str, line: u64, column: Option<&str>, text: &str) {
    assert!(
        e.errors.iter().any(|r| r.file == file
            && r.line == line
            && r.column.as_deref() == column
            && r.message.contains(text)),
        "expected {file}:{line} {column:?} {text:?} in:\n{e}"
    );
}

conformance!(
    every_bad_row_is_reported_with_file_line_and_column_and_nothing_is_imported,
    |db: TestDb| {
        let e = import_errors(&db, &[
        ("customers.csv", "id,number,kind,name,company_id,status\n1,M1,person,Ann,,active\n2,M2,robot,Bo,,active\n3,M3,person,Cy,77,active\n1,M4,person,Di,,active\n5,M1,person,Ed,,sleeping\n"),
        ("order.csv", "id,customer_id,stage,total,colour\n1,1,OPEN,12.50,red\n2,9,OPEN,100,blue\n"),
        ("invoice.csv", "id,customer_id,balance,issued_on\n1,1,0,2024-02-30\nx,1,0,2024-01-01\n"),
    ]);
        has(
            &e,
            "customers.csv",
            3,
            Some("kind"),
            "unknown kind \"robot\"",
        );
        has(
            &e,
            "customers.csv",
            4,
            Some("company_id"),
            "links to customers 77, which does not exist",
        );
        has(&e, "customers.csv", 5, Some("id"), "duplicate id 1");
        has(&e, "customers.csv", 6, Some("number"), "M1 is used twice");
        has(
            &e,
            "customers.csv",
            6,
            Some("status"),
            "unknown status \"sleeping\"",
        );
        has(&e, "order.csv", 1, Some("colour"), "unknown column");
        has(&e, "order.csv", 2, Some("total"), "not a valid money");
        has(
            &e,
            "order.csv",
            3,
            Some("customer_id"),
            "links to customers 9, which does not exist",
        );
        has(
            &e,
            "invoice.csv",
            2,
            Some("issued_on"),
            "expected YYYY-MM-DD",
        );
        has(&e, "invoice.csv", 3, Some("id"), "not a valid int");
    }
);

conformance!(
    a_link_to_a_customer_later_in_the_file_resolves,
    |db: TestDb| {
        let mut s = store(&db, "membership");
        let dir = csv_dir(
            &db,
            &[(
                "customers.csv",
                "id,number,kind,name,company_id\n1,M1,person,Ann,2\n2,M2,company,Acme,\n",
            )],
        );
        s.import_dir(&dir, &mut |_, _| {}).unwrap();
        assert_eq!(
            s.customer(1).unwrap().fields["company_id"],
            serde_json::json!(2)
        );
    }
);

conformance!(
    an_import_that_repeats_existing_ids_is_refused,
    |db: TestDb| {
        let mut s = store(&db, "membership");
        let dir = csv_dir(
            &db,
            &[("customers.csv", "id,number,kind,name\n1,M1,person,Ann\n")],
        );
        s.import_dir(&dir, &mut |_, _| {}).unwrap();
        let dir2 = csv_dir(
            &db,
            &[
                (
                    "customers.csv",
                    "id,number,kind,name\n1,M9,person,Bo\n2,M1,person,Cy\n",
                ),
                ("order.csv", "id,customer_id,stage,total\n1,1,OPEN,5\n"),
            ],
        );
        let Err(StoreError::Import(e)) = s.import_dir(&dir2, &mut |_, _| {}) else {
            panic!("expected errors")
        };
        has(&e, "customers.csv", 2, Some("id"), "duplicate id 1");
        has(&e, "customers.csv", 3, Some("number"), "M1 is used twice");
        assert_eq!(s.stats().unwrap().records["order"], 0);
    }
);

conformance!(
    demo_data_of_every_preset_imports_as_generated,
    |db: TestDb| {
        for name in ["lending", "services", "erp", "legal", "membership"] {
            let sub = TestDb::new(db.backend).unwrap();
            let mut s = store(&sub, name);
            let dir = sub.dir.path().join("demo");
            let report = offboard_demo::generate(s.model(), 300, 7, &dir).unwrap();
            let imported = s.import_dir(&dir, &mut |_, _| {}).unwrap();
            assert_eq!(imported.rows, report.rows, "{name}");
            let stats = s.stats().unwrap();
            for (file, n) in &report.files {
                let table = file.trim_end_matches(".csv");
                if table != "customers" {
                    assert_eq!(stats.records[table], *n as i64, "{name} {table}");
                }
            }
        }
    }
);

conformance!(an_export_imports_again_as_it_was, |db: TestDb| {
    let mut s = store(&db, "legal");
    let dir = db.dir.path().join("demo");
    offboard_demo::generate(s.model(), 200, 5, &dir).unwrap();
    s.import_dir(&dir, &mut |_, _| {}).unwrap();
    s.update_customer(3, &set(&[("name", "Comma, \"Quoted\" Name")]))
        .unwrap();
    let out = db.dir.path().join("export");
    let report = s.export_dir(&out, &mut |_, _| {}).unwrap();
    let other = TestDb::new(db.backend).unwrap();
    let mut t = store(&other, "legal");
    let again = t.import_dir(&out, &mut |_, _| {}).unwrap();
    assert_eq!(again.rows, report.rows);
    assert_eq!(t.stats().unwrap(), s.stats().unwrap());
    for id in [1, 3, 77, 200] {
        assert_eq!(
            t.customer(id).unwrap(),
            s.customer(id).unwrap(),
            "customer {id}"
        );
    }
    assert_eq!(
        t.record("activity", 5).unwrap(),
        s.record("activity", 5).unwrap()
    );
    let backup = db.dir.path().join("backup.db");
    match db.backend {
        offboard_testkit::Backend::Sqlite => {
            s.backup(&backup).unwrap();
            let url = format!("sqlite://{}", backup.display());
            let (mut copy, _) = offboard_store::Database::connect(&url)
                .unwrap()
                .with_model(model("legal"))
                .unwrap();
            assert_eq!(copy.stats().unwrap(), s.stats().unwrap());
            assert!(s
                .backup(&backup)
                .unwrap_err()
                .to_string()
                .contains("exists"));
        }
        offboard_testkit::Backend::Postgres => {
            assert!(s
                .backup(&backup)
                .unwrap_err()
                .to_string()
                .contains("pg_dump"));
        }
    }
});

/// The entries of a ZIP (read by the `zip` crate, which checks each entry's CRC-32).
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut text = String::new();
        entry.read_to_string(&mut text).unwrap();
        out.insert(name, text);
    }
    out
}

conformance!(
    an_xlsx_export_is_a_workbook_with_a_sheet_per_table,
    |db: TestDb| {
        let mut s = store(&db, "lending");
        let dir = db.dir.path().join("demo");
        offboard_demo::generate(s.model(), 50, 3, &dir).unwrap();
        s.import_dir(&dir, &mut |_, _| {}).unwrap();
        s.update_customer(2, &set(&[("name", "Ann & <Bo> \"Lee\"")]))
            .unwrap();
        let file = db.dir.path().join("report.xlsx");
        let report = s.export_xlsx(&file, &mut |_, _| {}).unwrap();
        let parts = unzip(&std::fs::read(&file).unwrap());
        let workbook = &parts["xl/workbook.xml"];
        for (i, t) in report.tables.iter().enumerate() {
            assert!(
                workbook.contains(&format!(
                    "<sheet name=\"{}\" sheetId=\"{}\"",
                    t.table,
                    i + 1
                )),
                "{workbook}"
            );
            let sheet = &parts[&format!("xl/worksheets/sheet{}.xml", i + 1)];
            assert_eq!(
                sheet.matches("<row ").count() as u64,
                t.rows + 1,
                "{}: a header and every row",
                t.table
            );
        }
        assert!(parts["[Content_Types].xml"].contains("/xl/worksheets/sheet1.xml"));
        let customers = &parts["xl/worksheets/sheet1.xml"];
        assert!(
            customers.contains("Ann &amp; &lt;Bo&gt; \"Lee\"")
                || customers.contains("Ann &amp; &lt;Bo&gt; &quot;Lee&quot;"),
            "escaped"
        );
        let payments = report
            .tables
            .iter()
            .position(|t| t.table == "payment")
            .unwrap();
        let amount = s.record("payment", 1).unwrap().values["amount"]
            .as_i64()
            .unwrap();
        let sheet = &parts[&format!("xl/worksheets/sheet{}.xml", payments + 1)];
        assert!(
            sheet.contains(&format!("<v>{}</v>", amount as f64 / 100.0)),
            "money in units"
        );
    }
);
