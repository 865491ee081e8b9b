use offboard_engine::Outcome;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", "id,number,kind,name,lead_id,status\n1,L1,lead,Lead One,,active\n2,L2,client,Client Two,1,active\n3,L3,client,Client Three,,active\n4,L4,lead,Lonely Lead,,active\n"),
        ("application.csv", "id,customer_id,number,amount,applied_on\n1,2,1,500000,2024-01-01\n"),
        ("contract.csv", "id,application_id,number,principal,signed_on\n17,1,1,500000,2024-01-10\n18,1,2,100000,2024-01-11\n"),
        ("monitoring.csv", "id,customer_id,agent,started_on\n1,2,Ann,2024-01-01\n"),
    ]
}

conformance!(
    deleting_a_client_with_records_is_refused_listing_what_remains,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &data());
        let plan = admin(&mut s).delete(&[2, 3, 4], false).unwrap();
        let blocked = plan.customers.iter().find(|c| c.id == 2).unwrap();
        assert_eq!(blocked.outcome, Outcome::Blocked);
        let msgs: Vec<&str> = blocked
            .blockers
            .iter()
            .map(|b| b.message.as_str())
            .collect();
        assert!(
            msgs.contains(&"2 contracts remain (ids 17, 18); delete them first"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"1 application remains (id 1); delete it first"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"1 monitoring remains (id 1); delete it first"),
            "{msgs:?}"
        );
        // Nothing depends on these: erased at once, numbers free.
        assert_eq!(
            (outcome(&plan, 3), outcome(&plan, 4)),
            (Outcome::Proceeds, Outcome::Proceeds)
        );
        assert_eq!((status(&mut s, 3), status(&mut s, 4)), (None, None));
        assert_eq!(status(&mut s, 2).as_deref(), Some("active"));
    }
);

conformance!(
    a_lead_cannot_be_deleted_while_a_client_created_from_it_exists,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &data());
        let plan = admin(&mut s).delete(&[1], false).unwrap();
        assert_eq!(rules(&plan, 1), ["orphan"]);
        assert!(
            plan.customers[0].blockers[0]
                .message
                .contains("customers 2"),
            "{:?}",
            plan.customers[0].blockers
        );
        assert_eq!(status(&mut s, 1).as_deref(), Some("active"));
        // Once the client created from it is gone, the lead can go.
        s.db()
            .batch("DELETE FROM monitoring; DELETE FROM contract; DELETE FROM application")
            .unwrap();
        let gone = admin(&mut s).delete(&[2], false).unwrap();
        assert_eq!(outcome(&gone, 2), Outcome::Proceeds);
        let lead = admin(&mut s).delete(&[1], false).unwrap();
        assert_eq!(outcome(&lead, 1), Outcome::Proceeds);
        assert_eq!(status(&mut s, 1), None);
    }
);

fn chain() -> Vec<(&'static str, &'static str)> {
    let mut d = data();
    d.push((
        "payment.csv",
        "id,contract_id,number,amount,paid_on\n1,17,1,1000,2024-01-15\n2,17,2,1000,2024-02-01\n",
    ));
    d.push((
        "process.csv",
        "id,contract_id,kind,at,amount\n10,17,disbursement,2024-01-10 09:00:00,500000\n11,17,accrual,2024-01-31 23:59:59,100\n12,17,accrual,2024-02-01 00:00:00,100\n13,17,repayment,2024-02-15 10:00:00,1000\n",
    ));
    d
}

use offboard_engine::records::RecordSelection;

fn del(
    s: &mut offboard_store::Store,
    kind: &str,
    sel: RecordSelection,
) -> offboard_engine::records::RecordPlan {
    admin(s).delete_records(kind, &sel, false).unwrap()
}

conformance!(
    only_the_newest_process_can_be_deleted_and_the_error_names_the_later_ones,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &chain());
        let plan = del(&mut s, "process", RecordSelection::Ids(vec![11]));
        assert_eq!(plan.deleted, 0);
        assert_eq!(
            plan.blocked[0].message,
            "2 later processes must be deleted first (12, 13)"
        );
        let plan = del(&mut s, "process", RecordSelection::Ids(vec![13]));
        assert_eq!(plan.deleted, 1);
        let plan = del(&mut s, "process", RecordSelection::Ids(vec![12, 11]));
        assert_eq!(
            plan.deleted, 2,
            "deleted together, the later one does not block"
        );
    }
);

conformance!(
    processes_are_deleted_from_a_date_time_on_or_all_of_a_contract,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &chain());
        let plan = del(
            &mut s,
            "process",
            RecordSelection::Owner {
                owner: 17,
                from: Some("2024-02-01T00:00".into()),
            },
        );
        assert_eq!(plan.ids, [12, 13], "inclusive");
        assert_eq!(count(&mut s, "SELECT count(*) FROM process"), 2);
        let plan = del(
            &mut s,
            "process",
            RecordSelection::Owner {
                owner: 17,
                from: None,
            },
        );
        assert_eq!(plan.deleted, 2);
    }
);

conformance!(
    a_payment_waits_for_processes_on_or_after_its_date_and_payments_go_newest_first,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &chain());
        let plan = del(&mut s, "payment", RecordSelection::Ids(vec![2]));
        assert_eq!(plan.deleted, 0);
        let b = &plan.blocked[0];
        assert_eq!(b.rule, "processes-after-payment");
        assert_eq!(
            b.message,
            "2 processes on or after 2024-02-01 must be deleted first"
        );
        assert_eq!(
            b.ids,
            [12, 13],
            "a process at 00:00:00 of the payment's day counts"
        );
        let plan = del(&mut s, "payment", RecordSelection::Ids(vec![1]));
        assert!(
            plan.blocked.iter().any(|b| b.rule == "newer-first"),
            "{:?}",
            plan.blocked
        );
        del(
            &mut s,
            "process",
            RecordSelection::Owner {
                owner: 17,
                from: Some("2024-02-01 00:00:00".into()),
            },
        );
        assert_eq!(
            del(&mut s, "payment", RecordSelection::Ids(vec![2])).deleted,
            1
        );
        // The payment before becomes deletable once its later processes go.
        assert_eq!(
            del(&mut s, "payment", RecordSelection::Ids(vec![1])).blocked[0].ids,
            [11]
        );
        // Re-entering a payment may reuse the deleted number when given; left empty, the next.
        let again = s
            .create_record(
                "payment",
                &[
                    ("contract_id".into(), "17".into()),
                    ("number".into(), "2".into()),
                ],
            )
            .unwrap();
        assert_eq!(again.values["number"], serde_json::json!(2));
        let next = s
            .create_record("payment", &[("contract_id".into(), "17".into())])
            .unwrap();
        assert_eq!(next.values["number"], serde_json::json!(3));
        let err = s
            .create_record(
                "payment",
                &[
                    ("contract_id".into(), "17".into()),
                    ("number".into(), "3".into()),
                ],
            )
            .unwrap_err();
        assert!(err.to_string().contains("number 3 is in use"), "{err}");
        // Numbers run per contract: another contract starts at 1.
        let other = s
            .create_record("payment", &[("contract_id".into(), "18".into())])
            .unwrap();
        assert_eq!(other.values["number"], serde_json::json!(1));
        // Newest first, down to the first: with its later processes gone, payment 1 goes too.
        del(
            &mut s,
            "payment",
            RecordSelection::Ids(vec![again.id, next.id]),
        );
        del(&mut s, "process", RecordSelection::Ids(vec![11]));
        assert_eq!(
            del(&mut s, "payment", RecordSelection::Ids(vec![1])).deleted,
            1
        );
    }
);

conformance!(
    a_contract_with_payments_or_processes_cannot_be_deleted,
    |db: TestDb| {
        let mut s = setup(&db, "lending", &chain());
        let plan = del(&mut s, "contract", RecordSelection::Ids(vec![17, 18]));
        assert_eq!(plan.deleted, 0);
        let msgs: Vec<&str> = plan.blocked.iter().map(|b| b.message.as_str()).collect();
        assert!(
            msgs.contains(&"2 payments remain (ids 1, 2); delete them first"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"4 processes remain (ids 10, 11, 12, 13); delete them first"),
            "{msgs:?}"
        );
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM contract"),
            2,
            "all or nothing"
        );
        assert_eq!(
            del(&mut s, "contract", RecordSelection::Ids(vec![18])).deleted,
            1
        );
        let app = del(&mut s, "application", RecordSelection::Ids(vec![1]));
        assert_eq!(
            app.blocked[0].message,
            "1 contract remains (id 17); delete it first"
        );
        assert_eq!(
            del(&mut s, "monitoring", RecordSelection::Ids(vec![1])).deleted,
            1
        );
        let err = admin(&mut s)
            .delete_records("process", &RecordSelection::Ids(vec![99]), false)
            .unwrap_err();
        assert!(err.to_string().contains("no process with id 99"), "{err}");
    }
);
