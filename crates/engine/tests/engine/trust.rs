//! Safe means safe: ids never given twice, record permissions per kind, every blocking rule
//! reported, and operations that decide on what they have locked — each a finding of the
//! trust issue, reproduced as it was found.

use std::time::Duration;

use offboard_engine::audit;
use offboard_engine::records::RecordSelection;
use offboard_engine::{DeactivateOptions, EngineError, Outcome};
use offboard_model::model::Role;
use offboard_store::customers::NewCustomer;
use offboard_store::{Database, StoreError};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn person(name: &str) -> NewCustomer {
    NewCustomer {
        kind: "person".into(),
        name: name.into(),
        number: None,
        email: None,
        fields: Vec::new(),
    }
}

/// A lending client with an application and a contract, and `last` (a file under the contract).
fn lending_chain(last: (&'static str, &'static str)) -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "customers.csv",
            "id,number,kind,name,status\n1,L1,client,Ann,active\n",
        ),
        (
            "application.csv",
            "id,customer_id,number,amount,applied_on\n1,1,1,1000,2024-01-01\n",
        ),
        (
            "contract.csv",
            "id,application_id,number,principal,signed_on\n1,1,1,1000,2024-01-02\n",
        ),
        last,
    ]
}

fn cells(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

conformance!(
    an_erased_customers_id_and_records_ids_are_never_given_again,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "membership",
        &[(
            "customers.csv",
            "id,number,kind,name,status\n1,M1,person,Ann Old,active\n2,M2,person,Bo Erased,deleted\n",
        )],
    );
        let note = admin(&mut s)
            .create_record("note", &cells(&[("customer_id", "1"), ("body", "first")]))
            .unwrap();
        let plan = admin(&mut s).purge(false).unwrap();
        assert_eq!(outcome(&plan, 2), Outcome::Proceeds);
        admin(&mut s)
            .delete_records("note", &RecordSelection::Ids(vec![note.id]), false)
            .unwrap();

        let newcomer = admin(&mut s).create_customer(person("Cy New")).unwrap();
        assert!(
            newcomer.id > 2,
            "customer 2 was erased; its id was given again"
        );
        let again = admin(&mut s)
            .create_record("note", &cells(&[("customer_id", "1"), ("body", "second")]))
            .unwrap();
        assert!(again.id > note.id, "the deleted note's id was given again");

        // The audit of the erased id tells of the erased customer only: its number, and
        // the name membership's tombstone keeps — never the newcomer.
        let entries = audit::list(s.db(), Some(2), None).unwrap();
        assert!(!entries.is_empty());
        let number = entries[0].customer_number.clone();
        assert!(entries
            .iter()
            .all(|e| e.customer_number == number && e.customer_name.as_deref() != Some("Cy New")));
        assert_eq!(entries[0].customer_name.as_deref(), Some("Bo Erased"));
    }
);

conformance!(
    record_deletion_follows_each_kinds_permissions,
    |db: TestDb| {
        // erp: every existing document keeps its customer; no role deletes one.
        let mut s = setup(
            &db,
            "erp",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,CU1,company,Acme,active\n",
                ),
                (
                    "invoice.csv",
                    "id,customer_id,number,total,balance,issued_on\n1,1,1,100,0,2024-01-01\n",
                ),
            ],
        );
        for role in [Role::Clerk, Role::Admin] {
            let r = as_role(&mut s, role).delete_records(
                "invoice",
                &RecordSelection::Ids(vec![1]),
                false,
            );
            assert!(
                matches!(r, Err(EngineError::Forbidden { .. })),
                "{role:?}: {r:?}"
            );
        }
        assert_eq!(count(&mut s, "SELECT count(*) FROM invoice"), 1);
    }
);

conformance!(
    legal_clerks_cannot_delete_financial_records_to_get_past_a_blocker,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "legal",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n11,K11,person,Bo Owes,active\n",
                ),
                (
                    "invoice.csv",
                    "id,customer_id,number,total,balance,issued_on\n1,11,1,10000,2500,2024-01-01\n",
                ),
                (
                    "fund_movement.csv",
                    "id,customer_id,amount,booked_on\n1,11,5000,2024-01-01\n",
                ),
            ],
        );
        for kind in ["invoice", "fund_movement"] {
            let r = as_role(&mut s, Role::Clerk).delete_records(
                kind,
                &RecordSelection::Ids(vec![1]),
                false,
            );
            match r {
                Err(EngineError::Forbidden { op, allowed, .. }) => {
                    assert!(op.contains(kind), "{op}");
                    assert_eq!(allowed, "admin");
                }
                other => panic!("a clerk deleted a {kind}: {other:?}"),
            }
        }
        assert_eq!(count(&mut s, "SELECT count(*) FROM invoice"), 1);
        assert_eq!(count(&mut s, "SELECT count(*) FROM fund_movement"), 1);
        // The admin may.
        let plan = admin(&mut s)
            .delete_records("invoice", &RecordSelection::Ids(vec![1]), false)
            .unwrap();
        assert_eq!(plan.deleted, 1);
    }
);

conformance!(
    lending_clerks_delete_processes_as_their_daily_work,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "lending",
            &lending_chain((
                "process.csv",
                "id,contract_id,kind,at,amount\n1,1,disbursement,2024-01-03 10:00:00,1000\n",
            )),
        );
        let plan = as_role(&mut s, Role::Clerk)
            .delete_records("process", &RecordSelection::Ids(vec![1]), false)
            .unwrap();
        assert_eq!(plan.deleted, 1);
        let r = as_role(&mut s, Role::Viewer).delete_records(
            "contract",
            &RecordSelection::Ids(vec![1]),
            false,
        );
        assert!(matches!(r, Err(EngineError::Forbidden { .. })));
    }
);

conformance!(changing_a_records_owner_is_a_transfer, |db: TestDb| {
    let mut s = setup(
        &db,
        "legal",
        &[
            (
                "customers.csv",
                "id,number,kind,name,status\n1,K1,person,Ann,active\n3,K3,person,Cy,active\n",
            ),
            (
                "matter.csv",
                "id,customer_id,title,status\n1,1,Lease,open\n",
            ),
        ],
    );
    // A legal clerk may not transfer; editing the owner is a transfer in disguise.
    let r =
        as_role(&mut s, Role::Clerk).update_record("matter", 1, &cells(&[("customer_id", "3")]));
    assert!(matches!(r, Err(EngineError::Forbidden { .. })), "{r:?}");
    assert_eq!(
        count(&mut s, "SELECT customer_id FROM matter WHERE id = 1"),
        1
    );
    // A clerk may still edit its fields.
    as_role(&mut s, Role::Clerk)
        .update_record("matter", 1, &cells(&[("title", "Lease 2")]))
        .unwrap();
    // A manager's move is audited as a transfer on both customers.
    as_role(&mut s, Role::Manager)
        .update_record("matter", 1, &cells(&[("customer_id", "3")]))
        .unwrap();
    assert_eq!(
        count(&mut s, "SELECT customer_id FROM matter WHERE id = 1"),
        3
    );
    for id in [1, 3] {
        let entries = audit::list(s.db(), Some(id), None).unwrap();
        assert!(
            entries.iter().any(|e| e.operation == "transfer"),
            "customer {id}: {entries:?}"
        );
    }
});

conformance!(
    a_company_blocked_by_a_rule_is_also_reported_under_active_subsidiaries,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "legal",
        &[
            ("customers.csv", "id,number,kind,name,parent_id,status\n1,K1,company,Parent Co,,active\n2,K2,company,Sub One,1,active\n"),
            ("matter.csv", "id,customer_id,title,status\n1,1,Lease,open\n"),
        ],
    );
        let plan = admin(&mut s)
            .deactivate(&[1], &DeactivateOptions::default(), true)
            .unwrap();
        let mut found = rules(&plan, 1);
        found.sort();
        assert_eq!(found, ["active-matters", "active-subsidiaries"]);
        assert_eq!(plan.blocked_by_rule["active-matters"], 1);
        assert_eq!(plan.blocked_by_rule["active-subsidiaries"], 1);
    }
);

/// Runs `op` on another thread while a second connection holds `change` uncommitted; the
/// change commits after a pause, and the operation's result comes back.
fn racing<T: Send + 'static>(
    db: &TestDb,
    store: offboard_store::Store,
    change: &str,
    op: impl FnOnce(&mut offboard_store::Store) -> T + Send + 'static,
) -> (offboard_store::Store, T) {
    let model = store.model().clone();
    let (mut other, _) = Database::connect(&db.url)
        .unwrap()
        .with_model(model)
        .unwrap();
    other.db().begin().unwrap();
    other.db().batch(change).unwrap();
    let worker = std::thread::spawn(move || {
        let mut store = store;
        let out = op(&mut store);
        (store, out)
    });
    std::thread::sleep(Duration::from_millis(400));
    other.db().commit().unwrap();
    worker.join().unwrap()
}

conformance!(
    a_purge_never_erases_a_customer_undeleted_meanwhile,
    |db: TestDb| {
        let s = setup(
            &db,
            "membership",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,M1,person,Ann,deleted\n2,M2,person,Bo,deleted\n",
            )],
        );
        let (mut s, plan) = racing(
            &db,
            s,
            "UPDATE customers SET status = 'active', deleted_at = NULL WHERE id = 2",
            |st| admin(st).purge(false),
        );
        let plan = plan.unwrap();
        assert_eq!(status(&mut s, 2).as_deref(), Some("active"), "{plan:?}");
        assert_eq!(status(&mut s, 1), None, "customer 1 was still to be purged");
        assert!(plan
            .customers
            .iter()
            .all(|c| c.id != 2 || c.outcome != Outcome::Proceeds));
    }
);

conformance!(
    a_deactivation_never_undoes_a_delete_made_meanwhile,
    |db: TestDb| {
        let s = setup(
            &db,
            "membership",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,M1,person,Ann,active\n",
            )],
        );
        let (mut s, plan) = racing(
        &db,
        s,
        "UPDATE customers SET status_before_delete = status, status = 'deleted', deleted_at = CURRENT_TIMESTAMP WHERE id = 1",
        |st| {
            admin(st).deactivate(
                &[1],
                &DeactivateOptions {
                    reason: Some("Moved away".into()),
                    open_items: None,
                    ..Default::default()
                },
                false,
            )
        },
    );
        let plan = plan.unwrap();
        assert_eq!(outcome(&plan, 1), Outcome::Skipped);
        assert_eq!(status(&mut s, 1).as_deref(), Some("deleted"));
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM customers WHERE deleted_at IS NOT NULL"
            ),
            1
        );
    }
);

conformance!(the_database_refuses_a_torn_customer, |db: TestDb| {
    let mut s = setup(
        &db,
        "membership",
        &[(
            "customers.csv",
            "id,number,kind,name,status\n1,M1,person,Ann,active\n",
        )],
    );
    for torn in [
        "UPDATE customers SET status = 'deactivated', deleted_at = CURRENT_TIMESTAMP WHERE id = 1",
        "UPDATE customers SET deactivation_reason = 'Moved away' WHERE id = 1",
        "UPDATE customers SET status = 'gone' WHERE id = 1",
        "UPDATE customers SET status_before_delete = 'active' WHERE id = 1",
    ] {
        let r = s.db().execute(torn, &[]);
        assert!(matches!(&r, Err(e) if e.is_constraint()), "{torn}: {r:?}");
    }
    assert_eq!(status(&mut s, 1).as_deref(), Some("active"));
});

conformance!(
    an_import_of_torn_customers_is_refused_row_by_row,
    |db: TestDb| {
        let model = offboard_model::Model::parse(
            "membership",
            offboard_model::presets::preset("membership")
                .unwrap()
                .source,
        )
        .unwrap();
        let (mut s, _) = Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        let dir = db.dir.path().join("torn");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,status,deleted_at,deactivation_reason\n\
1,M1,person,Ann,active,,Moved away\n\
2,M2,person,Bo,deactivated,2024-01-01 00:00:00,Moved away\n\
3,M3,company,Co,deactivated,,Deceased\n\
4,M4,person,Di,deleted,,\n",
        )
        .unwrap();
        let err = s.import_dir(&dir, &mut |_, _| {}).unwrap_err();
        let StoreError::Import(list) = err else {
            panic!("not an import error: {err:?}")
        };
        let at: Vec<(u64, String)> = list
            .errors
            .iter()
            .map(|e| (e.line, e.column.clone().unwrap_or_default()))
            .collect();
        assert_eq!(
            at,
            [
                (2, "deactivation_reason".to_string()),
                (3, "deleted_at".to_string()),
                (4, "deactivation_reason".to_string()),
            ],
            "{list:?}"
        );
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
    }
);

conformance!(
    each_audit_entry_says_what_happened_to_that_customer,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "legal",
        &[
            ("customers.csv", "id,number,kind,name,status\n1,K1,person,Ann,active\n2,K2,person,Bo,active\n"),
            ("activity.csv", "id,customer_id,subject,critical,done,due_on\n1,1,Call,0,0,2024-05-01\n2,1,Write,0,0,2024-05-01\n3,2,Visit,0,0,2024-05-01\n"),
        ],
    );
        admin(&mut s)
            .deactivate(
                &[1, 2],
                &DeactivateOptions {
                    reason: Some("Moved away".into()),
                    open_items: Some(offboard_engine::OpenItems::Remove),
                    ..Default::default()
                },
                false,
            )
            .unwrap();
        for (id, removed) in [(1, 2), (2, 1)] {
            let log = audit::list(s.db(), Some(id), None).unwrap();
            let e = log.iter().find(|e| e.operation == "deactivate").unwrap();
            assert_eq!(
                e.details["records"]["activity"]["removed"], removed,
                "{id}: {}",
                e.details
            );
            assert_eq!(e.reason.as_deref(), Some("Moved away"));
        }
    }
);

conformance!(
    a_deleted_records_values_stay_in_its_audit_entry,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "lending",
            &lending_chain((
                "payment.csv",
                "id,contract_id,number,amount,paid_on\n1,1,1,4250,2024-02-01\n",
            )),
        );
        admin(&mut s)
            .delete_records("payment", &RecordSelection::Ids(vec![1]), false)
            .unwrap();
        let log = audit::list(s.db(), Some(1), None).unwrap();
        let e = log
            .iter()
            .find(|e| e.operation == "delete-records")
            .unwrap();
        assert_eq!(e.details["records"][0]["amount"], 4250, "{}", e.details);
        assert_eq!(e.details["records"][0]["paid_on"], "2024-02-01");
    }
);

conformance!(
    an_erased_customers_entry_lists_its_removed_and_detached_records,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "membership",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,M1,person,Ann,deleted\n2,M2,person,Bo,deleted\n",
                ),
                ("note.csv", "id,customer_id,body\n1,1,a\n2,1,b\n3,2,c\n"),
            ],
        );
        admin(&mut s).purge(false).unwrap();
        for (id, removed) in [(1, 2), (2, 1)] {
            let log = audit::list(s.db(), Some(id), None).unwrap();
            let e = log.iter().find(|e| e.operation == "purge").unwrap();
            assert_eq!(
                e.details["records"]["note"]["removed"], removed,
                "{}",
                e.details
            );
        }
    }
);

conformance!(
    document_numbers_are_text_and_the_next_continues_the_pattern,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "lending",
        &[
            ("customers.csv", "id,number,kind,name,status\n1,L1,client,Ann,active\n"),
            ("application.csv", "id,customer_id,number,amount,applied_on\n1,1,A-17,1000,2024-01-01\n"),
            ("contract.csv", "id,application_id,number,principal,signed_on\n1,1,K-2023/001,1000,2024-01-02\n"),
            ("payment.csv", "id,contract_id,number,amount,paid_on\n1,1,1,100,2024-02-01\n2,1,2,100,2024-03-01\n"),
        ],
    );
        let app = admin(&mut s)
            .create_record(
                "application",
                &cells(&[
                    ("customer_id", "1"),
                    ("amount", "500"),
                    ("applied_on", "2024-04-01"),
                ]),
            )
            .unwrap();
        assert_eq!(app.values["number"], "A-18");
        let k = admin(&mut s)
            .create_record(
                "contract",
                &cells(&[
                    ("application_id", &app.id.to_string()),
                    ("principal", "500"),
                    ("signed_on", "2024-04-02"),
                ]),
            )
            .unwrap();
        assert_eq!(k.values["number"], "K-2023/002");
        // A number in use is refused; payment numbers stay integers per contract.
        let r = admin(&mut s).create_record(
            "application",
            &cells(&[
                ("customer_id", "1"),
                ("number", "A-17"),
                ("amount", "1"),
                ("applied_on", "2024-04-01"),
            ]),
        );
        assert!(
            matches!(r, Err(EngineError::Store(StoreError::Refused(_)))),
            "{r:?}"
        );
        let p = admin(&mut s)
            .create_record(
                "payment",
                &cells(&[
                    ("contract_id", &k.id.to_string()),
                    ("amount", "10"),
                    ("paid_on", "2024-05-01"),
                ]),
            )
            .unwrap();
        assert_eq!(p.values["number"], 1);
        // The latest payment's number, freed, is given again (re-entering a payment).
        admin(&mut s)
            .delete_records("payment", &RecordSelection::Ids(vec![2]), false)
            .unwrap();
        let again = admin(&mut s)
            .create_record(
                "payment",
                &cells(&[
                    ("contract_id", "1"),
                    ("amount", "100"),
                    ("paid_on", "2024-03-01"),
                ]),
            )
            .unwrap();
        assert_eq!(again.values["number"], 2);
    }
);

conformance!(
    a_first_invoice_is_numbered_from_the_models_prefix,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,K1,person,Ann,active\n",
            )],
        );
        let add = |s: &mut offboard_store::Store| {
            admin(s)
                .create_record(
                    "invoice",
                    &cells(&[
                        ("customer_id", "1"),
                        ("total", "100"),
                        ("balance", "0"),
                        ("issued_on", "2024-01-01"),
                    ]),
                )
                .unwrap()
                .values["number"]
                .clone()
        };
        assert_eq!(add(&mut s), "INV-0000001");
        assert_eq!(add(&mut s), "INV-0000002");
    }
);

/// Imports `files` (name, text) from a fresh directory into `s`.
fn import(
    s: &mut offboard_store::Store,
    db: &TestDb,
    dir: &str,
    files: &[(&str, &str)],
) -> Result<(), StoreError> {
    let dir = db.dir.path().join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (f, body) in files {
        std::fs::write(dir.join(f), body).unwrap();
    }
    s.import_dir(&dir, &mut |_, _| {}).map(|_| ())
}

fn problems(r: Result<(), StoreError>) -> Vec<(u64, String, String)> {
    match r {
        Err(StoreError::Import(list)) => list
            .errors
            .into_iter()
            .map(|e| (e.line, e.column.unwrap_or_default(), e.message))
            .collect(),
        other => panic!("not an import error: {other:?}"),
    }
}

conformance!(
    an_import_checks_customer_links_as_the_cli_does,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &[]);
        let found = problems(import(
            &mut s,
            &db,
            "links",
            &[(
                "customers.csv",
                "id,number,kind,name,company_id,parent_id,status\n\
1,K1,company,Acme,,,active\n\
2,K2,person,Ann,3,,active\n\
3,K3,person,Bo,,,active\n\
4,K4,company,Sub,1,,active\n",
            )],
        ));
        assert_eq!(
            found
                .iter()
                .map(|(l, c, _)| (*l, c.as_str()))
                .collect::<Vec<_>>(),
            [(3, "company_id"), (5, "company_id")],
            "{found:?}"
        );
        assert!(found[0].2.contains("must point at a company"), "{found:?}");
        assert!(
            found[1].2.contains("a company has no `company` link"),
            "{found:?}"
        );
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
    }
);

conformance!(
    an_import_names_the_right_line_in_a_file_with_crlf_line_ends,
    |db: TestDb| {
        // Spreadsheets on Windows write CRLF; a quoted cell may span lines.
        let mut s = setup(&db, "legal", &[]);
        let body = "id,number,kind,name,company_id,parent_id,status\r\n\
1,K1,company,\"Acme\r\nHoldings\",,,active\r\n\
2,K2,person,Ann,3,,active\r\n\
3,K3,person,Bo,,,active\r\n\
4,K4,company,Sub,1,,bogus\r\n\
5,K5,person,Cy,1,,active\r\n";
        let found = problems(import(&mut s, &db, "crlf", &[("customers.csv", body)]));
        assert_eq!(
            found
                .iter()
                .map(|(l, c, _)| (*l, c.as_str()))
                .collect::<Vec<_>>(),
            [(6, "status")],
            "{found:?}"
        );
        // The same file without the bogus status: the link check's own lines.
        let body = body.replace("bogus", "active");
        let found = problems(import(&mut s, &db, "crlf2", &[("customers.csv", &body)]));
        assert_eq!(
            found
                .iter()
                .map(|(l, c, _)| (*l, c.as_str()))
                .collect::<Vec<_>>(),
            [(4, "company_id"), (6, "company_id")],
            "{found:?}"
        );
        assert!(found[0].2.contains("must point at a company"), "{found:?}");
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
    }
);

conformance!(
    an_import_refuses_what_a_database_cannot_hold,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &[]);
        let long = "9".repeat(300);
        let text = format!(
        "id,number,kind,name,status\n1,K1,person,Nul\u{0}Byte,active\n2,{long},person,Long,active\n9223372036854775807,K3,person,Max,active\n"
    );
        let found = problems(import(&mut s, &db, "odd", &[("customers.csv", &text)]));
        assert_eq!(
            found
                .iter()
                .map(|(l, c, _)| (*l, c.as_str()))
                .collect::<Vec<_>>(),
            [(2, "name"), (3, "number"), (4, "id")],
            "{found:?}"
        );
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
    }
);

conformance!(
    a_customer_cannot_change_kind_under_its_contacts,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "legal",
        &[(
            "customers.csv",
            "id,number,kind,name,company_id,status\n1,K1,company,Acme,,active\n2,K2,person,Ann,1,active\n",
        )],
    );
        let r = admin(&mut s).update_customer(1, &cells(&[("kind", "person")]));
        assert!(
            matches!(&r, Err(EngineError::Store(StoreError::Refused(m))) if m.contains("link to it as their company")),
            "{r:?}"
        );
        let r = admin(&mut s).update_customer(2, &cells(&[("kind", "company")]));
        assert!(
            matches!(&r, Err(EngineError::Store(StoreError::Refused(_)))),
            "{r:?}"
        );
        assert_eq!(status(&mut s, 1).as_deref(), Some("active"));
        assert_eq!(s.customer(1).unwrap().kind, "company");
    }
);

conformance!(an_import_never_lowers_the_next_id, |db: TestDb| {
    let mut s = setup(
        &db,
        "membership",
        &[(
            "customers.csv",
            "id,number,kind,name,status\n1,M1,person,Ann,active\n",
        )],
    );
    let b = admin(&mut s).create_customer(person("Bo")).unwrap().id;
    let c = admin(&mut s).create_customer(person("Cy")).unwrap().id;
    admin(&mut s).delete(&[b, c], false).unwrap();
    admin(&mut s).purge(false).unwrap();
    import(
        &mut s,
        &db,
        "again",
        &[(
            "customers.csv",
            &format!("id,number,kind,name,status\n{b},M9,person,Back,active\n"),
        )],
    )
    .unwrap();
    let next = admin(&mut s).create_customer(person("Di")).unwrap().id;
    assert!(
        next > c,
        "customer {c} was erased; its id came back as {next}"
    );
});

conformance!(
    document_numbers_only_go_up_and_keep_the_models_pattern,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,status\n1,K1,person,Ann,active\n",
            )],
        );
        let add = |s: &mut offboard_store::Store, number: Option<&str>| {
            let mut c = vec![
                ("customer_id", "1"),
                ("total", "100"),
                ("balance", "0"),
                ("issued_on", "2024-01-01"),
            ];
            if let Some(n) = number {
                c.push(("number", n));
            }
            let r = admin(s).create_record("invoice", &cells(&c)).unwrap();
            (r.id, r.values["number"].as_str().unwrap().to_string())
        };
        add(&mut s, None);
        let (second, n2) = add(&mut s, None);
        assert_eq!(n2, "INV-0000002");
        admin(&mut s)
            .delete_records("invoice", &RecordSelection::Ids(vec![second]), false)
            .unwrap();
        assert_eq!(
            add(&mut s, None).1,
            "INV-0000003",
            "a deleted invoice's number is not given again"
        );
        // A number typed by hand in another pattern does not take the series over.
        add(&mut s, Some("ZZ-9"));
        assert_eq!(add(&mut s, None).1, "INV-0000004");
    }
);

conformance!(lending_clerks_may_not_delete_contracts, |db: TestDb| {
    let mut s = setup(
        &db,
        "lending",
        &lending_chain((
            "monitoring.csv",
            "id,customer_id,agent,started_on\n1,1,Cy,2024-01-01\n",
        )),
    );
    for (kind, id) in [("contract", 1), ("application", 1), ("monitoring", 1)] {
        let r = as_role(&mut s, Role::Clerk).delete_records(
            kind,
            &RecordSelection::Ids(vec![id]),
            true,
        );
        assert!(
            matches!(r, Err(EngineError::Forbidden { .. })),
            "{kind}: {r:?}"
        );
        assert!(as_role(&mut s, Role::Manager)
            .delete_records(kind, &RecordSelection::Ids(vec![id]), true)
            .is_ok());
    }
});

conformance!(
    a_transfer_checks_link_kinds_and_audits_the_repointed_contacts,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "legal",
        &[(
            "customers.csv",
            "id,number,kind,name,company_id,status\n1,K1,company,Old Co,,active\n2,K2,company,New Co,,active\n3,K3,person,Cy,1,active\n4,K4,person,Di,,active\n",
        )],
    );
        let r = admin(&mut s).transfer(1, 4, None, false);
        assert!(
            matches!(&r, Err(EngineError::Store(StoreError::Refused(m))) if m.contains("must be a company")),
            "{r:?}"
        );
        assert_eq!(
            count(&mut s, "SELECT company_id FROM customers WHERE id = 3"),
            1
        );
        admin(&mut s).transfer(1, 2, None, false).unwrap();
        assert_eq!(
            count(&mut s, "SELECT company_id FROM customers WHERE id = 3"),
            2
        );
        let log = audit::list(s.db(), Some(3), None).unwrap();
        let e = log.iter().find(|e| e.operation == "transfer").unwrap();
        assert_eq!(e.details["link"], "company");
        assert_eq!(e.details["repointed"]["to"], 2);
    }
);

conformance!(
    imports_and_edits_refuse_loops_bad_emails_and_reasons_of_another_kind,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &[]);
        let found = problems(import(
            &mut s,
            &db,
            "loops",
            &[(
                "customers.csv",
                "id,number,kind,name,parent_id,email,status\n\
1,K1,company,Self,1,,active\n\
2,K2,company,Ping,3,,active\n\
3,K3,company,Pong,2,,active\n",
            )],
        ));
        assert_eq!(
            found
                .iter()
                .map(|(l, c, _)| (*l, c.as_str()))
                .collect::<Vec<_>>(),
            [(2, "parent_id"), (3, "parent_id")],
            "{found:?}"
        );
        let found = problems(import(
            &mut s,
            &db,
            "mail",
            &[(
                "customers.csv",
                "id,number,kind,name,email,status\n4,K4,company,Mail,notanemail,active\n",
            )],
        ));
        assert_eq!(found[0].1, "email", "{found:?}");
        let mut s = setup(
            &db,
            "legal",
            &[(
                "customers.csv",
                "id,number,kind,name,parent_id,status,deactivated_on,deactivation_reason\n\
1,K1,company,Top,,active,,\n\
2,K2,company,Mid,1,active,,\n\
3,K3,company,Low,2,active,,\n\
4,K4,person,Gone,,deactivated,2024-01-01,Moved away\n",
            )],
        );
        let r = admin(&mut s).update_customer(1, &cells(&[("parent_id", "3")]));
        assert!(
            matches!(&r, Err(EngineError::Store(StoreError::Invalid(m))) if m.contains("loop")),
            "{r:?}"
        );
        let r = admin(&mut s).update_customer(4, &cells(&[("kind", "company")]));
        assert!(
            matches!(&r, Err(EngineError::Store(StoreError::Refused(m))) if m.contains("not one for a company")),
            "{r:?}"
        );
    }
);

conformance!(
    an_old_sqlite_table_is_rebuilt_once_keeping_every_id,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "membership",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,M1,person,Ann,active\n",
                ),
                ("note.csv", "id,customer_id,body\n1,1,a\n7,1,b\n"),
            ],
        );
        if s.dialect() != offboard_store::Dialect::Sqlite {
            return;
        }
        // The table as databases made before had it: no AUTOINCREMENT.
        s.db()
        .batch(
            "PRAGMA foreign_keys = OFF; BEGIN; \
             CREATE TABLE note_old (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers (id), body TEXT); \
             INSERT INTO note_old SELECT id, customer_id, body FROM note; DROP TABLE note; \
             ALTER TABLE note_old RENAME TO note; COMMIT; PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        drop(s);
        let model = offboard_model::Model::parse(
            "membership",
            offboard_model::presets::preset("membership")
                .unwrap()
                .source,
        )
        .unwrap();
        let (mut s, changes) = Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        assert!(
            changes
                .iter()
                .any(|c| c.contains("note: ids are never given twice")),
            "{changes:?}"
        );
        assert_eq!(count(&mut s, "SELECT count(*) FROM note"), 2);
        assert_eq!(count(&mut s, "SELECT max(id) FROM note"), 7);
        admin(&mut s)
            .delete_records("note", &RecordSelection::Ids(vec![7]), false)
            .unwrap();
        let n = admin(&mut s)
            .create_record("note", &cells(&[("customer_id", "1"), ("body", "c")]))
            .unwrap();
        assert!(n.id > 7, "{}", n.id);
    }
);

conformance!(the_database_keeps_numbers_per_owner_unique, |db: TestDb| {
    // Payments are numbered per contract: the database itself refuses a number given
    // twice under one contract, whatever path writes it; another contract may have it.
    let mut s = setup(
        &db,
        "lending",
        &lending_chain((
            "payment.csv",
            "id,contract_id,number,amount,paid_on\n1,1,1,100,2024-02-01\n",
        )),
    );
    let twice = s.db().execute(
            "INSERT INTO payment (id, contract_id, number, amount, paid_on) VALUES (2, 1, 1, 100, '2024-03-01')",
            &[],
        );
    assert!(
        matches!(&twice, Err(e) if e.is_constraint()),
        "a payment number was given twice under one contract: {twice:?}"
    );
    s.db()
            .execute(
                "INSERT INTO payment (id, contract_id, number, amount, paid_on) VALUES (3, 1, 2, 100, '2024-03-01')",
                &[],
            )
            .unwrap();
    assert_eq!(count(&mut s, "SELECT count(*) FROM payment"), 2);
});
