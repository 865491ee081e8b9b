//! Atomicity and concurrency: a failure in the middle of apply leaves the database exactly as
//! it was; a record added by another connection during an operation never ends up orphaned.

use std::sync::{Arc, Barrier};

use offboard_engine::{DeactivateOptions, OpenItems};
use offboard_model::Model;
use offboard_store::{Database, Dialect};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

const MEMBERS: &str = "id,number,kind,name,company_id,bill_to_id,status\n1,M1,company,Acme,,,deleted\n2,M2,person,Ann,1,,deleted\n3,M3,person,Bo,,,active\n";

conformance!(
    a_failure_in_the_middle_of_a_purge_leaves_everything_as_it_was,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "membership",
            &[
                ("customers.csv", MEMBERS),
                ("note.csv", "id,customer_id,body\n1,2,hi\n"),
                ("order.csv", "id,customer_id,stage,total\n1,2,CLOSED,5\n"),
            ],
        );
        let before = s.stats().unwrap();
        // Inject a failure after the notes are removed and the orders detached: at the customer rows.
        let inject = match s.dialect() {
        Dialect::Sqlite => "CREATE TRIGGER fail BEFORE DELETE ON customers BEGIN SELECT RAISE(ABORT, 'injected failure'); END".to_string(),
        Dialect::Postgres => "CREATE FUNCTION fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER fail BEFORE DELETE ON customers FOR EACH ROW EXECUTE FUNCTION fail()".to_string(),
    };
        s.db().batch(&inject).unwrap();
        let err = admin(&mut s).purge(false).unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert_eq!(s.stats().unwrap(), before);
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM \"order\" WHERE customer_id = 2"
            ),
            1,
            "the detach was rolled back"
        );
        assert_eq!(count(&mut s, "SELECT count(*) FROM offboard_audit"), 0);
        assert!(offboard_engine::audit::verify(s.db()).unwrap().ok);
        s.db()
            .batch("DROP TRIGGER fail ON customers")
            .or_else(|_| s.db().batch("DROP TRIGGER fail"))
            .unwrap();
        assert_eq!(
            admin(&mut s).purge(false).unwrap().done,
            2,
            "and it runs once the failure is gone"
        );
    }
);

conformance!(
    a_matter_opened_during_a_deactivation_lands_before_and_blocks_or_after_and_is_refused,
    |db: TestDb| {
        let customers: String = std::iter::once("id,number,kind,name,status".to_string())
            .chain((1..=300).map(|i| format!("{i},K{i},person,P{i},active")))
            .collect::<Vec<_>>()
            .join("\n")
            + "\n";
        let model = Model::parse(
            "legal",
            offboard_model::presets::preset("legal").unwrap().source,
        )
        .unwrap();
        for round in 0..4 {
            let sub = TestDb::new(db.backend).unwrap();
            let mut s = setup(&sub, "legal", &[("customers.csv", customers.as_str())]);
            let target = 150 + round;
            let barrier = Arc::new(Barrier::new(2));
            let (url, m, b) = (sub.url.clone(), model.clone(), Arc::clone(&barrier));
            let writer = std::thread::spawn(move || {
                let (mut other, _) = Database::connect(&url).unwrap().with_model(m).unwrap();
                b.wait();
                other.create_record(
                    "matter",
                    &[
                        ("customer_id".into(), target.to_string()),
                        ("status".into(), "open".into()),
                    ],
                )
            });
            barrier.wait();
            let ids: Vec<i64> = (1..=300).collect();
            let plan = admin(&mut s)
                .deactivate(
                    &ids,
                    &DeactivateOptions {
                        reason: Some("Moved away".into()),
                        open_items: Some(OpenItems::Complete),
                        ..Default::default()
                    },
                    false,
                )
                .unwrap();
            let added = writer.join().unwrap();
            let st = status(&mut s, target).unwrap();
            match added {
                Ok(_) => {
                    assert_eq!(
                        st, "active",
                        "the matter landed first, so it blocked its customer"
                    );
                    assert_eq!(rules(&plan, target), ["active-matters"]);
                }
                Err(e) => {
                    assert_eq!(st, "deactivated");
                    assert!(e.to_string().contains("is deactivated"), "{e}");
                    assert_eq!(count(&mut s, "SELECT count(*) FROM matter"), 0);
                }
            }
            assert_eq!(
            count(&mut s, "SELECT count(*) FROM matter m JOIN customers c ON c.id = m.customer_id WHERE c.status <> 'active'"),
            0,
            "never an open matter on a deactivated customer"
        );
        }
    }
);

conformance!(
    a_refused_change_undoes_itself_and_its_audit_entry_and_the_next_one_works,
    |db: TestDb| {
        use offboard_store::customers::NewCustomer;
        let mut s = setup(&db, "services", &[]);
        let person = |name: &str, kind: &str| NewCustomer {
            kind: kind.into(),
            name: name.into(),
            ..Default::default()
        };
        let mut e = admin(&mut s);
        let c = e.create_customer(person("Ann", "person")).unwrap();
        let err = e
            .update_customer(c.id, &[("kind".into(), "robot".into())])
            .unwrap_err();
        assert!(err.to_string().contains("robot"), "{err}");
        assert!(e.create_customer(person("Rob", "robot")).is_err());
        // The same connection goes on: no transaction was left open.
        e.update_customer(c.id, &[("name".into(), "Bo".into())])
            .unwrap();
        assert_eq!(s.customer(c.id).unwrap().name, "Bo");
        let log = offboard_engine::audit::list(s.db(), None, None).unwrap();
        assert_eq!(log.len(), 2, "one entry per change that happened");
        assert!(offboard_engine::audit::verify(s.db()).unwrap().ok);
        let viewer = as_role(&mut s, offboard_model::model::Role::Viewer)
            .create_customer(person("Cy", "person"))
            .unwrap_err();
        assert!(viewer.to_string().contains("may not edit"), "{viewer}");
    }
);

conformance!(
    a_dry_run_neither_waits_for_nor_holds_up_a_writer,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &[("customers.csv", MEMBERS)]);
        if db.backend == offboard_testkit::Backend::Postgres {
            // A dry run that locked rows would wait for the writer: fail instead of hanging.
            s.db().batch("SET lock_timeout = '3s'").unwrap();
        }
        let model = s.model().clone();
        let (mut writer, _) = Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        writer.db().begin().unwrap();
        writer
            .db()
            .execute(
                "UPDATE customers SET name = 'Bo Busy' WHERE id IN (1, 2, 3)",
                &[],
            )
            .unwrap();
        // While the writer holds its transaction open, previews still answer.
        let purge = admin(&mut s).purge(true).unwrap();
        assert_eq!(purge.candidates, 2);
        let deactivate = admin(&mut s)
            .deactivate(
                &[3],
                &DeactivateOptions {
                    reason: Some("Moved away".into()),
                    open_items: None,
                    ..Default::default()
                },
                true,
            )
            .unwrap();
        assert_eq!(deactivate.done, 1);
        writer.db().commit().unwrap();
        assert_eq!(s.customer(3).unwrap().name, "Bo Busy");
    }
);
