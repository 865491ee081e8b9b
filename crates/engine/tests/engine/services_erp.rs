use offboard_engine::Outcome;
use offboard_model::model::Role;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn services() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", "id,number,kind,name,status\n1,1,company,Acme,active\n2,2,person,Ann,deactivated\n3,3,person,Bo,active\n"),
        ("job.csv", "id,customer_id,scheduled_on,description,total\n1,1,2024-01-01,Fix,1000\n"),
        ("invoice.csv", "id,customer_id,number,total,balance,issued_on\n1,1,1,1000,0,2024-01-02\n"),
        ("address.csv", "id,customer_id,line1,city\n1,1,1 Main St,Springfield\n"),
        ("note.csv", "id,customer_id,body\n1,2,hi\n"),
    ]
}

conformance!(
    soft_deleted_customers_wait_in_the_recycle_bin_and_come_back_as_they_were,
    |db: TestDb| {
        let mut s = setup(&db, "services", &services());
        let plan = admin(&mut s).delete(&[1, 2], false).unwrap();
        assert_eq!(plan.to_json()["deleted"], 2);
        assert_eq!(
            (status(&mut s, 1).as_deref(), status(&mut s, 2).as_deref()),
            (Some("deleted"), Some("deleted"))
        );
        assert!(s
            .customer(1)
            .unwrap()
            .deleted_at
            .to_cell()
            .starts_with("20"));
        let again = admin(&mut s).delete(&[1], false).unwrap();
        assert_eq!(again.customers[0].why.as_deref(), Some("is deleted"));
        admin(&mut s).undelete(&[2], false).unwrap();
        assert_eq!(
            status(&mut s, 2).as_deref(),
            Some("deactivated"),
            "back to the status it had"
        );
        let c = s
            .update_customer(1, &[("name".into(), "Acme Corrected".into())])
            .unwrap();
        assert_eq!(
            c.status.name(),
            "deleted",
            "a deleted customer stays editable"
        );
    }
);

conformance!(
    cleanup_erases_every_deleted_customer_keeping_jobs_and_invoices_as_history,
    |db: TestDb| {
        let mut s = setup(&db, "services", &services());
        admin(&mut s).delete(&[1, 2], false).unwrap();
        let plan = admin(&mut s).purge(false).unwrap();
        assert_eq!(plan.to_json()["purged"], 2);
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM job WHERE customer_id IS NULL"),
            1
        );
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM invoice WHERE customer_id IS NULL"
            ),
            1
        );
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM address")
                + count(&mut s, "SELECT count(*) FROM note"),
            0
        );
        let err = admin(&mut s).undelete(&[1], false).unwrap_err();
        assert!(err.to_string().contains("no customer with id 1"), "{err}");
        let n = s
            .create_customer(offboard_store::customers::NewCustomer {
                kind: "person".into(),
                name: "New".into(),
                number: Some("1".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            n.number, "1",
            "a freed number may be given to a new customer"
        );
    }
);

conformance!(
    erp_delete_only_inactivates_and_only_managers_reactivate,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "erp",
            &[
                ("customers.csv", "id,number,kind,name\n1,CU1,company,Acme\n"),
                (
                    "quote.csv",
                    "id,customer_id,number,total,quoted_on\n1,1,1,500,2024-01-01\n",
                ),
            ],
        );
        let other = s
            .create_customer(offboard_store::customers::NewCustomer {
                kind: "company".into(),
                name: "Other".into(),
                ..Default::default()
            })
            .unwrap()
            .id;
        let moved = s
            .create_record("quote", &[("customer_id".into(), other.to_string())])
            .unwrap();
        let plan = as_role(&mut s, Role::Clerk).delete(&[1], false).unwrap();
        assert_eq!(outcome(&plan, 1), Outcome::Proceeds);
        assert_eq!(status(&mut s, 1).as_deref(), Some("deactivated"));
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM quote WHERE customer_id = 1"),
            1,
            "documents keep it"
        );
        let err = s
            .create_record("quote", &[("customer_id".into(), "1".into())])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("deactivated: it cannot be given a new quote"),
            "{err}"
        );
        let err = s
            .create_record(
                "sales_order",
                &[
                    ("customer_id".into(), "1".into()),
                    ("stage".into(), "open".into()),
                ],
            )
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("deactivated: it cannot be given a new sales_order"),
            "{err}"
        );
        // Nor by editing: a quote moved onto it is refused; its old quote stays editable.
        let err = s
            .update_record("quote", moved.id, &[("customer_id".into(), "1".into())])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("deactivated: it cannot be given a new quote"),
            "{err}"
        );
        s.update_record("quote", 1, &[("total".into(), "600".into())])
            .unwrap();
        // Sent back with its owner unchanged (as an API client echoes what it read): fine.
        s.update_record(
            "quote",
            1,
            &[
                ("customer_id".into(), "1".into()),
                ("total".into(), "650".into()),
            ],
        )
        .unwrap();
        let err = s
            .update_record("quote", moved.id, &[("number".into(), "1".into())])
            .unwrap_err();
        assert!(
            err.to_string().contains("quote number 1 is in use"),
            "{err}"
        );
        s.update_record("quote", 1, &[("number".into(), "1".into())])
            .unwrap();
        // Hidden from the default (active) list, shown with "all".
        let listed = |s: &mut offboard_store::Store, view| {
            let mut ids = Vec::new();
            s.list_customers(
                &offboard_store::customers::ListQuery::view(view),
                &mut |c| {
                    ids.push(c.id);
                    Ok(())
                },
            )
            .unwrap();
            ids
        };
        assert_eq!(listed(&mut s, offboard_model::model::View::Active), [other]);
        assert_eq!(listed(&mut s, offboard_model::model::View::All), [1, other]);
        let err = as_role(&mut s, Role::Clerk)
            .reactivate(&[1], false)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("may not reactivate; the model allows it to: manager, admin"),
            "{err}"
        );
        as_role(&mut s, Role::Manager)
            .reactivate(&[1], false)
            .unwrap();
        assert_eq!(status(&mut s, 1).as_deref(), Some("active"));
        let err = admin(&mut s).purge(false).unwrap_err();
        assert!(err.to_string().contains("has no purge"), "{err}");
    }
);

conformance!(
    an_all_or_nothing_cleanup_erases_none_while_any_is_blocked,
    |db: TestDb| {
        // The services preset with one blocking rule added, as a power user might.
        let text = offboard_model::presets::preset("services").unwrap().source.to_string()
        + "\n[[rule]]\nid = \"open-invoices\"\non = [\"purge\"]\nkind = \"invoice\"\nwhen = \"balance != 0\"\namount = \"balance\"\n";
        let model = offboard_model::Model::parse("services-edited.toml", &text).unwrap();
        let (mut s, _) = offboard_store::Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        let dir = db.dir.path().join("aon");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,status\n1,1,person,Ann,deleted\n2,2,person,Bo,deleted\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("invoice.csv"),
            "id,customer_id,number,total,balance\n1,2,1,500,500\n",
        )
        .unwrap();
        s.import_dir(&dir, &mut |_, _| {}).unwrap();
        let plan = admin(&mut s).purge(false).unwrap();
        assert_eq!((plan.done, plan.blocked, plan.skipped), (0, 1, 1));
        assert_eq!(outcome(&plan, 1), Outcome::Skipped);
        assert!(plan.customers[0]
            .why
            .as_deref()
            .unwrap()
            .contains("all or nothing"));
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 2);
        s.db()
            .execute("UPDATE invoice SET balance = 0", &[])
            .unwrap();
        assert_eq!(admin(&mut s).purge(false).unwrap().done, 2);
    }
);
