use offboard_engine::Outcome;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

const CUSTOMERS: &str = "id,number,kind,name,company_id,bill_to_id,status,email,created_at\n\
1,M1,company,Acme Ltd,,,deleted,,2020-01-01 00:00:00\n\
2,M2,person,Ann Lee,1,,deleted,,2020-01-01 00:00:00\n\
3,M3,person,Bo Ek,,,deleted,,2020-01-01 00:00:00\n\
4,M4,person,Cy Open,,,deleted,,2020-01-01 00:00:00\n\
5,M5,person,Di Paid,,,deleted,,2020-01-01 00:00:00\n\
6,M6,person,Ed Subs,,,deleted,,2020-01-01 00:00:00\n\
7,M7,person,Fay Ref,,,deleted,,2020-01-01 00:00:00\n\
8,M8,company,Gus Co,,,deleted,,2020-01-01 00:00:00\n\
110,M110,company,Billed Co,,110,deleted,,2020-01-01 00:00:00\n\
200,M200,person,Active Pat,,,active,,2020-01-01 00:00:00\n\
201,M201,person,Active Hal,,8,active,,2020-01-01 00:00:00\n\
300,M300,company,Chain Top,,,deleted,,2020-01-01 00:00:00\n\
301,M301,person,Chain Mid,300,,deleted,,2020-01-01 00:00:00\n\
302,M302,person,Chain Low,,301,deleted,,2020-01-01 00:00:00\n";

fn data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", CUSTOMERS),
        ("invoice.csv", "id,customer_id,balance,issued_on\n1,5,-300,2024-01-01\n2,3,0,2024-01-01\n"),
        ("subscription.csv", "id,customer_id,status,product\n1,6,ACTIVE,Journal\n2,3,INACTIVE,Journal\n"),
        ("referral.csv", "id,provider_id,referral_fee,ready_to_invoice,order_number\n1,7,1500,1,0\n2,3,1500,1,77\n"),
        ("activity.csv", "id,customer_id,subject,happened_on\n1,3,Call,2024-01-01\n"),
        ("address.csv", "id,customer_id,line1,city\n1,3,1 Main St,Springfield\n"),
        ("note.csv", "id,customer_id,body\n1,3,hello\n"),
        ("cert_register.csv", "id,customer_id,bill_to_id\n1,200,110\n2,110,110\n3,3,3\n"),
        ("order.csv", "id,customer_id,stage,total\n1,4,OPEN,1250\n2,3,CLOSED,500\n3,3,COMPLETED,100\n4,302,OPEN,10\n5,8,PENDING,20\n"),
    ]
}

conformance!(
    purge_blocks_by_rule_and_by_orphan_until_nothing_changes,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &data());
        let plan = admin(&mut s).purge(false).unwrap();
        let json = plan.to_json();
        assert_eq!(json["candidates"], 12);
        // Blocked by rules.
        assert_eq!(rules(&plan, 4), ["open-orders"]);
        assert_eq!(rules(&plan, 5), ["unpaid-invoices"]);
        assert_eq!(rules(&plan, 6), ["active-subscriptions"]);
        assert_eq!(rules(&plan, 7), ["owed-referrals"]);
        // 110 is billed by a cert_register row of 200, who survives; its own rows do not block it.
        assert_eq!(rules(&plan, 110), ["orphan"]);
        // 302 has an open order; 301 is its bill-to, so it stays; 300 is 301's company, so it stays.
        assert_eq!(rules(&plan, 302), ["open-orders"]);
        assert_eq!(rules(&plan, 301), ["orphan"]);
        assert_eq!(rules(&plan, 300), ["orphan"]);
        // Purged together: a company and its person; a customer with closed history.
        for id in [1, 2, 3] {
            assert_eq!(outcome(&plan, id), Outcome::Proceeds, "{id}");
            assert_eq!(status(&mut s, id), None, "{id} erased");
        }
        // 8 has an open order and is 201's bill-to: it counts under the rule only.
        assert_eq!(rules(&plan, 8), ["open-orders"]);
        assert_eq!(json["purged"], 3);
        assert_eq!(json["blocked"], 9);
        assert_eq!(json["blocked_by_rule"]["orphan"], 3);
        assert_eq!(json["blocked_by_rule"]["open-orders"], 3);
        // History stays with the link cleared; the rest goes.
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM \"order\" WHERE id IN (2, 3) AND customer_id IS NULL"
            ),
            2
        );
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM invoice WHERE id = 2 AND customer_id IS NULL"
            ),
            1
        );
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM activity WHERE customer_id IS NULL"
            ),
            1
        );
        for t in [
            "subscription WHERE id = 2",
            "referral WHERE id = 2",
            "address",
            "note",
            "cert_register WHERE id = 3",
        ] {
            assert_eq!(
                count(&mut s, &format!("SELECT count(*) FROM {t}")),
                0,
                "{t}"
            );
        }
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM customers WHERE status = 'deleted'"
            ),
            9
        );
    }
);

conformance!(
    a_purged_customer_leaves_one_audit_entry_with_its_company_name_and_frees_its_number,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &[("customers.csv", CUSTOMERS)]);
        admin(&mut s).purge(false).unwrap();
        let entries = offboard_engine::audit::list(s.db(), Some(2), None).unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(
            (
                e.operation.as_str(),
                e.actor.as_str(),
                e.customer_name.as_deref()
            ),
            ("purge", "local-admin", Some("Ann Lee"))
        );
        assert_eq!(
            e.details["links"]["company"], "Acme Ltd",
            "read before the company went in the same purge"
        );
        let again = s
            .create_customer(offboard_store::customers::NewCustomer {
                kind: "person".into(),
                name: "New".into(),
                number: Some("M2".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(again.number, "M2", "the number is free again");
        assert!(offboard_engine::audit::verify(s.db()).unwrap().ok);
    }
);

conformance!(
    a_dry_run_changes_nothing_and_apply_does_exactly_the_plan,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &data());
        let before = s.stats().unwrap();
        let dry = admin(&mut s).purge(true).unwrap();
        assert!(dry.dry_run);
        assert_eq!(s.stats().unwrap(), before);
        assert_eq!(count(&mut s, "SELECT count(*) FROM offboard_audit"), 0);
        let real = admin(&mut s).purge(false).unwrap();
        assert_eq!(
            (real.customers.clone(), real.effects.clone()),
            (dry.customers, dry.effects)
        );
    }
);

conformance!(
    the_audit_log_detects_an_edited_or_removed_entry,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &[("customers.csv", CUSTOMERS)]);
        admin(&mut s).purge(false).unwrap();
        assert!(offboard_engine::audit::verify(s.db()).unwrap().ok);
        s.db()
            .execute(
                "UPDATE offboard_audit SET customer_name = 'Someone else' WHERE seq = 2",
                &[],
            )
            .unwrap();
        let v = offboard_engine::audit::verify(s.db()).unwrap();
        assert!(
            !v.ok
                && v.problem
                    .as_deref()
                    .unwrap()
                    .contains("entry 2 was changed"),
            "{v:?}"
        );
        let other = TestDb::new(db.backend).unwrap();
        let mut t = setup(&other, "membership", &[("customers.csv", CUSTOMERS)]);
        admin(&mut t).purge(false).unwrap();
        t.db()
            .execute(
                "DELETE FROM offboard_audit WHERE seq = (SELECT max(seq) FROM offboard_audit)",
                &[],
            )
            .unwrap();
        let v = offboard_engine::audit::verify(t.db()).unwrap();
        assert!(
            !v.ok && v.problem.as_deref().unwrap().contains("removed"),
            "{v:?}"
        );
    }
);

conformance!(only_roles_the_model_allows_may_purge, |db: TestDb| {
    let mut s = setup(&db, "membership", &[("customers.csv", CUSTOMERS)]);
    let err = as_role(&mut s, offboard_model::model::Role::Manager)
        .purge(false)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("may not purge; the model allows it to: admin"),
        "{err}"
    );
    assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 14);
});

conformance!(
    a_long_operation_reports_each_phase_and_its_progress_moves_within_it,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &data());
        let mut steps: Vec<(String, u64, u64)> = Vec::new();
        let mut report = |step: &offboard_engine::Step<'_>| {
            steps.push((step.phase.to_string(), step.done, step.total));
            true
        };
        let mut engine = admin(&mut s);
        engine.on_progress(&mut report);
        let plan = engine.purge(false).unwrap();
        let phases: Vec<&str> = steps
            .iter()
            .map(|s| s.0.as_str())
            .fold(Vec::new(), |mut v, p| {
                if v.last() != Some(&p) {
                    v.push(p);
                }
                v
            });
        assert_eq!(
            phases,
            [
                "candidates",
                "blockers",
                "orphan_fixpoint",
                "effects",
                "audit",
                "commit"
            ]
        );
        // Every phase has a length, starts at 0 and never goes past it; all but the commit
        // (which is one step, told as it begins) reach their end, and done never goes back.
        for phase in &phases {
            let mine: Vec<&(String, u64, u64)> = steps.iter().filter(|s| s.0 == *phase).collect();
            assert_eq!(mine[0].1, 0, "{phase} starts at 0: {steps:?}");
            assert!(
                mine.iter().all(|s| s.2 > 0 && s.1 <= s.2),
                "{phase}: {steps:?}"
            );
            assert!(
                mine.windows(2).all(|w| w[0].1 <= w[1].1),
                "{phase}: {steps:?}"
            );
            let last = mine[mine.len() - 1];
            if *phase != "commit" {
                assert_eq!(last.1, last.2, "{phase} reaches its end: {steps:?}");
            }
        }
        // The blockers and the effects move step by step (a rule, a table at a time); the
        // audit's length is the entries it writes.
        for phase in ["blockers", "effects"] {
            let moves = steps
                .iter()
                .filter(|s| s.0 == phase)
                .map(|s| s.1)
                .collect::<std::collections::BTreeSet<_>>();
            assert!(moves.len() > 2, "{phase} moves within: {steps:?}");
        }
        assert!(
            steps.contains(&("audit".into(), plan.done as u64, plan.done as u64)),
            "{steps:?}"
        );
        for p in ["blockers", "orphan_fixpoint", "effects", "audit"] {
            assert!(plan.timings.contains_key(p), "{p} in {:?}", plan.timings);
        }
    }
);

conformance!(
    an_operation_cancelled_by_its_progress_report_changes_nothing,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &data());
        let before = count(&mut s, "SELECT count(*) FROM customers");
        let audit = count(&mut s, "SELECT count(*) FROM offboard_audit");
        let mut report = |step: &offboard_engine::Step<'_>| step.phase != "audit";
        let mut engine = admin(&mut s);
        engine.on_progress(&mut report);
        let err = engine.purge(false).unwrap_err().to_string();
        assert!(err.contains("cancelled in its audit phase"), "{err}");
        assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), before);
        assert_eq!(count(&mut s, "SELECT count(*) FROM offboard_audit"), audit);
    }
);

conformance!(
    the_audit_log_keeps_personal_values_apart_and_detects_a_changed_one,
    |db: TestDb| {
        let mut s = setup(&db, "membership", &[("customers.csv", CUSTOMERS)]);
        admin(&mut s)
            .update_customer(1, &[("name".to_string(), "Acme Renamed".to_string())])
            .unwrap();
        // Read back, the entry has its name and its change; the chain holds neither.
        let entries = offboard_engine::audit::list(s.db(), Some(1), None).unwrap();
        let edit = entries.iter().find(|e| e.operation == "edit").unwrap();
        assert!(
            edit.details.to_string().contains("Acme Renamed"),
            "{edit:?}"
        );
        let chained = s
            .db()
            .query_value(
                &format!(
                    "SELECT details FROM offboard_audit WHERE seq = {}",
                    edit.seq
                ),
                &[],
                offboard_model::FieldType::Text,
            )
            .unwrap()
            .unwrap();
        assert!(
            !chained.as_str().unwrap().contains("Acme Renamed"),
            "{chained:?}"
        );
        assert!(offboard_engine::audit::verify(s.db()).unwrap().ok);
        // Changing the kept-apart part is detected.
        s.db()
            .execute(
                "UPDATE offboard_audit_personal SET data = replace(data, 'Acme Renamed', 'Someone else')",
                &[],
            )
            .unwrap();
        let v = offboard_engine::audit::verify(s.db()).unwrap();
        assert!(
            !v.ok
                && v.problem
                    .as_deref()
                    .unwrap()
                    .contains("personal part of entry"),
            "{v:?}"
        );
    }
);
