use offboard_store::customers::NewCustomer;
use offboard_store::StoreError;
use offboard_testkit::{conformance, TestDb};

use crate::customers::set_status as mark;
use crate::helpers::*;

conformance!(
    payment_numbers_are_sequential_per_contract_and_reusable_when_given,
    |db: TestDb| {
        let mut s = store(&db, "lending");
        let client = s
            .create_customer(NewCustomer {
                kind: "client".into(),
                name: "Ann Lee".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let app = s
            .create_record(
                "application",
                &set(&[
                    ("customer_id", &client.to_string()),
                    ("amount", "500000"),
                    ("applied_on", "2024-01-10"),
                ]),
            )
            .unwrap();
        assert_eq!(app.values["number"], serde_json::json!("A-1"));
        let k1 = s
            .create_record("contract", &set(&[("application_id", &app.id.to_string())]))
            .unwrap()
            .id
            .to_string();
        let k2 = s
            .create_record("contract", &set(&[("application_id", &app.id.to_string())]))
            .unwrap()
            .id
            .to_string();
        let p = |s: &mut offboard_store::Store, k: &str, extra: &[(&str, &str)]| {
            let mut cells = set(&[
                ("contract_id", k),
                ("amount", "1000"),
                ("paid_on", "2024-02-01"),
            ]);
            cells.extend(set(extra));
            s.create_record("payment", &cells)
        };
        assert_eq!(
            p(&mut s, &k1, &[]).unwrap().values["number"],
            serde_json::json!(1)
        );
        assert_eq!(
            p(&mut s, &k1, &[]).unwrap().values["number"],
            serde_json::json!(2)
        );
        assert_eq!(
            p(&mut s, &k2, &[]).unwrap().values["number"],
            serde_json::json!(1),
            "numbers count per contract"
        );
        let err = p(&mut s, &k1, &[("number", "2")]).unwrap_err();
        assert!(
            matches!(err, StoreError::Refused(_))
                && err.to_string().contains("payment number 2 is in use"),
            "{err}"
        );
        let seven = p(&mut s, &k1, &[("number", "7")]).unwrap();
        assert_eq!(seven.values["number"], serde_json::json!(7));
        // Edits are checked like creates, and only what changes is.
        let moved = s
            .update_record("payment", seven.id, &set(&[("contract_id", &k2)]))
            .unwrap();
        assert_eq!(
            moved.values["number"],
            serde_json::json!(7),
            "no 7 on contract 2 yet"
        );
        let one = p(&mut s, &k1, &[("number", "1")]).unwrap_err();
        assert!(one.to_string().contains("in use"), "{one}");
        let err = s
            .update_record(
                "payment",
                seven.id,
                &set(&[("contract_id", &k1), ("number", "1")]),
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("payment number 1 is in use"),
            "{err}"
        );
        let first_of_k2 = s
            .update_record("payment", seven.id, &set(&[("number", "1")]))
            .unwrap_err();
        assert!(
            first_of_k2.to_string().contains("in use"),
            "contract 2 has a 1: {first_of_k2}"
        );
        let err = s
            .update_record("payment", seven.id, &set(&[("number", "")]))
            .unwrap_err();
        assert!(err.to_string().contains("cannot be emptied"), "{err}");
        let err = s
            .update_record("payment", seven.id, &set(&[("contract_id", "")]))
            .unwrap_err();
        assert!(err.to_string().contains("needs `contract_id`"), "{err}");
        let err = s
            .update_record(
                "payment",
                seven.id,
                &set(&[("amount", "5"), ("amount", "6")]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("`amount` is given twice"), "{err}");
        let same = s
            .update_record(
                "payment",
                seven.id,
                &set(&[("contract_id", &k2), ("number", "7"), ("amount", "2000")]),
            )
            .unwrap();
        assert_eq!(
            same.values["amount"],
            serde_json::json!(2000),
            "unchanged fields pass"
        );
        let counts = s.customer_record_counts(client).unwrap();
        assert!(
            counts.contains(&("payment".to_string(), 4)),
            "payments reach the client through contract and application: {counts:?}"
        );
        // A record detached from its customer (kept as history) stays editable.
        s.db()
            .execute(
                &format!(
                    "UPDATE application SET customer_id = NULL WHERE id = {}",
                    app.id
                ),
                &[],
            )
            .unwrap();
        let note = s
            .update_record("application", app.id, &set(&[("amount", "400000")]))
            .unwrap();
        assert_eq!(note.values["amount"], serde_json::json!(400000));
    }
);

conformance!(
    an_inactive_customer_cannot_be_given_a_new_order,
    |db: TestDb| {
        let mut s = store(&db, "erp");
        let c = s
            .create_customer(NewCustomer {
                kind: "company".into(),
                name: "Acme".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let old = s
            .create_record(
                "sales_order",
                &set(&[("customer_id", &c.to_string()), ("stage", "open")]),
            )
            .unwrap();
        mark(&mut s, c, "deactivated");
        let err = s
            .create_record(
                "sales_order",
                &set(&[("customer_id", &c.to_string()), ("stage", "open")]),
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err}");
        assert!(
            err.to_string().contains(&format!(
                "customer {c} is deactivated: it cannot be given a new sales_order"
            )),
            "{err}"
        );
        assert_eq!(
            s.record("sales_order", old.id).unwrap().values["stage"],
            serde_json::json!("open"),
            "old ones stay"
        );
    }
);

conformance!(
    records_with_bad_values_are_refused_with_the_field_named,
    |db: TestDb| {
        let mut s = store(&db, "erp");
        let c = s
            .create_customer(NewCustomer {
                kind: "company".into(),
                name: "Acme".into(),
                ..Default::default()
            })
            .unwrap()
            .id
            .to_string();
        let err = s
            .create_record(
                "sales_order",
                &set(&[("customer_id", &c), ("stage", "lost")]),
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("`stage`: \"lost\" is not one of open, shipped, closed"),
            "{err}"
        );
        let err = s
            .create_record(
                "sales_order",
                &set(&[("customer_id", &c), ("total", "12.50")]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("`total`"), "{err}");
        let err = s
            .create_record(
                "sales_order",
                &set(&[("customer_id", &c), ("colour", "red")]),
            )
            .unwrap_err();
        assert!(err.to_string().contains("no field `colour`"), "{err}");
        let err = s
            .create_record("sales_order", &set(&[("customer_id", "999")]))
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
        let err = s.create_record("shipment", &set(&[])).unwrap_err();
        assert!(
            err.to_string().contains("unknown record kind `shipment`"),
            "{err}"
        );
    }
);

/// Contracts K-000001..K-{n}, one application of one client, imported.
fn lending_contracts(db: &TestDb, n: usize) -> offboard_store::Store {
    let mut s = store(db, "lending");
    let mut contracts = String::from("id,application_id,number\n");
    for i in 1..=n {
        contracts.push_str(&format!("{i},1,K-{i:06}\n"));
    }
    let dir = csv_dir(
        db,
        &[
            (
                "customers.csv",
                "id,number,kind,name\n1,L0000001,client,Ann Lee\n",
            ),
            ("application.csv", "id,customer_id,number\n1,1,A-1\n"),
            ("contract.csv", &contracts),
        ],
    );
    s.import_dir(&dir, &mut |_, _| {}).unwrap();
    s
}

conformance!(
    a_document_number_is_never_given_twice_after_hand_typed_and_imported_numbers,
    |db: TestDb| {
        let mut s = lending_contracts(&db, 1300);
        let new_contract = |s: &mut offboard_store::Store, number: Option<&str>| {
            let mut cells = set(&[("application_id", "1")]);
            if let Some(n) = number {
                cells.push(("number".into(), n.into()));
            }
            s.create_record("contract", &cells)
                .map(|r| r.values["number"].as_str().unwrap().to_string())
        };
        // The imported numbers moved the series: the next is past them all.
        assert_eq!(new_contract(&mut s, None).unwrap(), "K-001301");
        // Delete contract 210, type its number again by hand, then ask for one: the
        // free-number search never lands on a number in use (it stopped after 1,000 tries).
        s.db()
            .execute("DELETE FROM contract WHERE id = 210", &[])
            .unwrap();
        assert_eq!(new_contract(&mut s, Some("K-000210")).unwrap(), "K-000210");
        assert_eq!(new_contract(&mut s, None).unwrap(), "K-001302");
        // A deleted number is not given again, even the newest one.
        s.db()
            .execute("DELETE FROM contract WHERE number = 'K-001302'", &[])
            .unwrap();
        assert_eq!(new_contract(&mut s, None).unwrap(), "K-001303");
        // A number typed by hand past the series moves it on.
        assert_eq!(new_contract(&mut s, Some("K-005000")).unwrap(), "K-005000");
        assert_eq!(new_contract(&mut s, None).unwrap(), "K-005001");
        // The database itself holds numbers unique, whatever path writes them.
        let dup = s.db().execute(
            "UPDATE contract SET number = 'K-000001' WHERE number = 'K-000002'",
            &[],
        );
        assert!(dup.is_err(), "two contracts numbered K-000001");
        assert!(matches!(
            new_contract(&mut s, Some("K-000001")),
            Err(StoreError::Refused(_))
        ));
    }
);

conformance!(
    an_import_refuses_a_document_number_used_twice,
    |db: TestDb| {
        let mut s = lending_contracts(&db, 3);
        let dir = csv_dir(
            &db,
            &[(
                "contract.csv",
                "id,application_id,number\n10,1,K-000010\n11,1,K-000010\n12,1,K-000002\n",
            )],
        );
        let err = s.import_dir(&dir, &mut |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("contract.csv"), "{err}");
        assert!(err.contains("K-000010 is used twice"), "{err}");
        assert!(err.contains("K-000002 is used twice"), "{err}");
        let n = s
            .db()
            .query_i64("SELECT count(*) FROM contract", &[])
            .unwrap();
        assert_eq!(n, 3, "a refused import left rows");
    }
);
