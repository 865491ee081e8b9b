use offboard_engine::{DeactivateOptions, OpenItems, Outcome};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn data() -> Vec<(&'static str, &'static str)> {
    vec![
        ("customers.csv", "id,number,kind,name,company_id,parent_id,status\n\
1,K1,company,Parent Co,,,active\n\
2,K2,company,Sub One,,1,active\n\
3,K3,company,Sub Two,,1,active\n\
10,K10,person,Ann Lee,1,,active\n\
11,K11,person,Bo Ek,,,active\n\
12,K12,person,Cy Funds,,,active\n\
13,K13,person,Di Tasks,,,active\n\
14,K14,person,Ed Clean,,,active\n\
15,K15,person,Fay Gone,,,deactivated\n"),
        ("invoice.csv", "id,customer_id,number,total,balance,issued_on\n1,11,1,10000,2500,2024-01-01\n2,11,2,10000,1000,2024-02-01\n3,14,3,500,0,2024-01-01\n"),
        ("fund_movement.csv", "id,customer_id,amount,booked_on\n1,12,5000,2024-01-01\n2,12,-2000,2024-01-02\n3,14,300,2024-01-01\n4,14,-300,2024-01-02\n"),
        ("activity.csv", "id,customer_id,subject,critical,done,due_on\n1,13,Court date,1,0,2024-05-01\n2,14,Call back,0,0,2024-05-01\n3,14,Send letter,0,0,2024-05-02\n4,14,Old,0,1,2024-01-01\n"),
        ("matter.csv", "id,customer_id,title,status\n1,3,Lease,open\n"),
    ]
}

fn opts(reason: &str, open: Option<OpenItems>) -> DeactivateOptions {
    DeactivateOptions {
        reason: Some(reason.into()),
        open_items: open,
        ..Default::default()
    }
}

conformance!(
    deactivation_shows_blocking_items_with_counts_and_amounts,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &data());
        let plan = admin(&mut s)
            .deactivate(
                &[11, 12, 13],
                &opts("Relationship ended", Some(OpenItems::Complete)),
                false,
            )
            .unwrap();
        let b = &plan.customers.iter().find(|c| c.id == 11).unwrap().blockers[0];
        assert_eq!(
            (b.rule.as_str(), b.count, b.amount, b.ids.clone()),
            ("open-invoices", 2, Some(3500), vec![1, 2])
        );
        assert_eq!(b.message, "2 open invoices (35.00)");
        let funds = &plan.customers.iter().find(|c| c.id == 12).unwrap().blockers[0];
        assert_eq!(
            (funds.rule.as_str(), funds.count, funds.amount),
            ("customer-funds", 2, Some(3000))
        );
        assert_eq!(
            rules(&plan, 13),
            ["open-critical-tasks"],
            "critical tasks always block, whatever the choice"
        );
        for id in [11, 12, 13] {
            assert_eq!(status(&mut s, id).as_deref(), Some("active"));
        }
        let json = plan.to_json();
        assert_eq!(json["deactivated"], 0);
        assert_eq!(json["blocked_by_rule"]["open-invoices"], 1);
    }
);

conformance!(
    open_activities_are_completed_or_removed_as_chosen_and_the_reason_and_date_set,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &data());
        let plan = admin(&mut s)
            .deactivate(&[14], &opts("Moved away", None), true)
            .unwrap();
        assert_eq!(
            rules(&plan, 14),
            ["open-activities"],
            "without a choice, open activities block"
        );
        let dry = admin(&mut s)
            .deactivate(&[14], &opts("Moved away", Some(OpenItems::Remove)), true)
            .unwrap();
        assert_eq!(outcome(&dry, 14), Outcome::Proceeds);
        assert_eq!(dry.effects["activity"]["removed"], 2);
        assert_eq!(dry.effects["customers"]["deactivated"], 1);
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM activity WHERE customer_id = 14 AND done = FALSE"
            ),
            2,
            "a dry run counts what it would remove and removes nothing"
        );
        assert_eq!(s.customer(14).unwrap().status.name(), "active");
        let plan = admin(&mut s)
            .deactivate(&[14], &opts("Moved away", Some(OpenItems::Complete)), false)
            .unwrap();
        assert_eq!(outcome(&plan, 14), Outcome::Proceeds);
        assert_eq!(plan.effects["activity"]["completed"], 2);
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM activity WHERE customer_id = 14 AND done = TRUE"
            ),
            3
        );
        let c = s.customer(14).unwrap();
        assert_eq!(
            (c.status.name(), c.deactivation_reason.as_deref()),
            ("deactivated", Some("Moved away"))
        );
        assert_eq!(
            c.deactivated_on,
            offboard_model::Value::Date(offboard_model::DateTime::now().date())
        );
        admin(&mut s).reactivate(&[14], false).unwrap();
        let c = s.customer(14).unwrap();
        assert_eq!(
            (
                c.status.name(),
                c.deactivation_reason.clone(),
                c.deactivated_on.clone()
            ),
            ("active", None, offboard_model::Value::Null)
        );
        admin(&mut s)
            .deactivate(&[14], &opts("Deceased", Some(OpenItems::Remove)), false)
            .unwrap();
        assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM activity WHERE customer_id = 14"
            ),
            3,
            "nothing open was left to remove"
        );
    }
);

conformance!(
    a_reason_must_come_from_the_list_for_the_customers_kind,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &data());
        let plan = admin(&mut s)
            .deactivate(
                &[1, 10, 15],
                &opts("Deceased", Some(OpenItems::Remove)),
                true,
            )
            .unwrap();
        assert_eq!(outcome(&plan, 10), Outcome::Proceeds);
        let company = plan.customers.iter().find(|c| c.id == 1).unwrap();
        assert_eq!(company.outcome, Outcome::Skipped);
        assert!(
            company
                .why
                .as_deref()
                .unwrap()
                .contains("not a reason for a company"),
            "{:?}",
            company.why
        );
        assert_eq!(
            plan.customers
                .iter()
                .find(|c| c.id == 15)
                .unwrap()
                .why
                .as_deref(),
            Some("already deactivated")
        );
        let err = admin(&mut s)
            .deactivate(&[10], &DeactivateOptions::default(), false)
            .unwrap_err();
        assert!(
            err.to_string().contains("needs a reason")
                && err
                    .to_string()
                    .contains("Relationship ended, Deceased, Moved away"),
            "{err}"
        );
        assert_eq!(status(&mut s, 10).as_deref(), Some("active"));
    }
);

conformance!(
    open_advances_and_movable_properties_block_with_their_sums,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "legal",
            &[
                (
                    "customers.csv",
                    "id,number,kind,name,status\n1,K1,person,Al,active\n2,K2,person,Bea,active\n",
                ),
                (
                    "advance.csv",
                    "id,customer_id,amount,settled\n1,1,1000,0\n2,1,2500,0\n3,1,700,1\n4,2,100,1\n",
                ),
                (
                    "property.csv",
                    "id,customer_id,description,value,returned\n1,1,Painting,50000,0\n2,2,Car,9000,1\n",
                ),
            ],
        );
        let plan = admin(&mut s)
            .deactivate(&[1, 2], &opts("Moved away", None), false)
            .unwrap();
        let b = &plan.customers.iter().find(|c| c.id == 1).unwrap().blockers;
        let got: Vec<_> = b
            .iter()
            .map(|b| (b.rule.as_str(), b.count, b.amount))
            .collect();
        assert_eq!(
            got,
            [
                ("open-advances", 2, Some(3500)),
                ("movable-properties", 1, Some(50000))
            ]
        );
        assert_eq!(
            outcome(&plan, 2),
            Outcome::Proceeds,
            "settled and returned do not block"
        );
        let json = plan.to_json();
        assert_eq!(
            json["blocked_by_rule"]["active-matters"], 0,
            "every rule is listed"
        );
        assert_eq!(json["blocked_by_rule"]["open-advances"], 1);
    }
);

conformance!(
    a_company_goes_with_its_subsidiaries_but_one_that_stays_blocks_it,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &data());
        let alone = admin(&mut s)
            .deactivate(
                &[1],
                &opts("Company dissolved", Some(OpenItems::Complete)),
                true,
            )
            .unwrap();
        assert_eq!(rules(&alone, 1), ["active-subsidiaries"]);
        assert_eq!(alone.customers[0].blockers[0].count, 2);
        // Sub Two has an active matter, so it stays active and still blocks its parent.
        let together = admin(&mut s)
            .deactivate(
                &[1, 2, 3],
                &opts("Company dissolved", Some(OpenItems::Complete)),
                false,
            )
            .unwrap();
        assert_eq!(outcome(&together, 2), Outcome::Proceeds);
        assert_eq!(rules(&together, 3), ["active-matters"]);
        assert_eq!(rules(&together, 1), ["active-subsidiaries"]);
        assert_eq!(
            together
                .customers
                .iter()
                .find(|c| c.id == 1)
                .unwrap()
                .blockers[0]
                .count,
            1
        );
        s.db()
            .execute("UPDATE matter SET status = 'closed'", &[])
            .unwrap();
        let plan = admin(&mut s)
            .deactivate(
                &[1, 3],
                &opts("Company dissolved", Some(OpenItems::Complete)),
                false,
            )
            .unwrap();
        assert_eq!(plan.done, 2);
        // A deactivated contact person keeps the link to its company.
        admin(&mut s)
            .deactivate(&[10], &opts("Moved away", Some(OpenItems::Complete)), false)
            .unwrap();
        assert_eq!(
            s.customer(10).unwrap().fields["company_id"],
            serde_json::json!(1)
        );
    }
);

conformance!(
    unknown_customer_ids_are_named_and_nothing_changes,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &data());
        let err = admin(&mut s)
            .deactivate(
                &[14, 999, 998],
                &opts("Moved away", Some(OpenItems::Complete)),
                false,
            )
            .unwrap_err();
        assert!(
            err.to_string().contains("no customer with id 999, 998"),
            "{err}"
        );
        assert_eq!(status(&mut s, 14).as_deref(), Some("active"));
    }
);

fn moving() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "customers.csv",
            "id,number,kind,name,company_id,parent_id,status\n\
1,K1,company,Mistake Co,,,active\n\
2,K2,company,Right Co,,,active\n\
3,K3,person,Contact,1,,active\n\
4,K4,company,Subsidiary,,1,active\n\
5,K5,person,Typo Person,,,active\n\
6,K6,person,Empty Person,,,active\n\
7,K7,person,Gone,,,active\n\
8,K8,person,Owes Money,,,active\n",
        ),
        (
            "matter.csv",
            "id,customer_id,title,status\n1,1,Lease,closed\n2,5,Will,closed\n3,8,Claim,closed\n",
        ),
        ("note.csv", "id,customer_id,body\n1,1,hello\n"),
        (
            "invoice.csv",
            "id,customer_id,number,total,balance,issued_on\n1,5,1,100,0,2024-01-01\n2,8,2,900,900,2024-01-01\n",
        ),
    ]
}

conformance!(
    deleting_with_move_to_moves_the_data_and_erases_the_mistake,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &moving());
        // The contact person's company may not become a person.
        let err = admin(&mut s).delete_moving(1, 5, None, false).unwrap_err();
        assert!(err.to_string().contains("must be a company"), "{err}");
        assert_eq!(status(&mut s, 1).as_deref(), Some("active"));
        let plan = admin(&mut s).delete_moving(1, 2, None, false).unwrap();
        assert_eq!(outcome(&plan, 1), Outcome::Proceeds);
        // Both sides' audit says what moved, and to or from whom.
        let to = offboard_engine::audit::list(s.db(), Some(2), None).unwrap();
        let entry = to.iter().find(|e| e.operation == "move-to").unwrap();
        assert_eq!(entry.details["from"], 1);
        assert_eq!(entry.details["effects"]["matter"]["moved"], 1);
        assert_eq!(status(&mut s, 1), None, "erased");
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM matter WHERE customer_id = 2"),
            1
        );
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM note WHERE customer_id = 2"),
            1
        );
        assert_eq!(
            s.customer(3).unwrap().fields["company_id"],
            serde_json::json!(2),
            "contact person repointed"
        );
        assert_eq!(
            s.customer(4).unwrap().fields["parent_id"],
            serde_json::json!(2),
            "subsidiary repointed"
        );
        assert_eq!(plan.effects["matter"]["moved"], 1);
    }
);

conformance!(
    deleting_with_move_to_deactivates_instead_when_data_cannot_move,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &moving());
        // Deactivated instead needs a reason, like any deactivation; nothing moves without.
        let err = admin(&mut s).delete_moving(5, 2, None, false).unwrap_err();
        assert!(err.to_string().contains("needs a reason"), "{err}");
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM matter WHERE customer_id = 5"),
            1
        );
        let reason = Some("Moved away".to_string());
        let dry = admin(&mut s)
            .delete_moving(5, 2, reason.clone(), true)
            .unwrap();
        let plan = admin(&mut s).delete_moving(5, 2, reason, false).unwrap();
        assert_eq!(
            (&dry.customers, &dry.effects),
            (&plan.customers, &plan.effects),
            "the dry run is what apply does"
        );
        let c = &plan.customers[0];
        assert_eq!(c.outcome, Outcome::Deactivated);
        assert_eq!(plan.to_json()["deactivated"], 1);
        assert_eq!(plan.to_json()["deleted"], 0);
        assert_eq!(
            c.why.as_deref(),
            Some("deactivated instead: 1 invoice cannot be moved to another customer")
        );
        let log = offboard_engine::audit::list(s.db(), Some(5), None).unwrap();
        let deact = log.iter().find(|e| e.operation == "deactivate").unwrap();
        assert_eq!(deact.reason.as_deref(), Some("Moved away"));
        assert!(log.iter().all(|e| e.operation != "delete"), "{log:?}");
        assert!(log.iter().any(|e| e.operation == "move-to"));
        assert_eq!(status(&mut s, 5).as_deref(), Some("deactivated"));
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM matter WHERE customer_id = 2"),
            1,
            "the matter moved"
        );
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM invoice WHERE customer_id = 5"),
            1,
            "the invoice stayed"
        );
        // A customer without related data is simply deleted; one with data is refused without move-to.
        let plain = admin(&mut s).delete(&[6, 1], false).unwrap();
        assert_eq!(outcome(&plain, 6), Outcome::Proceeds);
        assert_eq!(outcome(&plain, 1), Outcome::Blocked);
        let err = admin(&mut s).delete_moving(7, 6, None, false).unwrap_err();
        assert!(err.to_string().contains("no customer with id 6"), "{err}");
        // Neither erased nor deactivated (an open invoice blocks): nothing moves at all.
        let dry = admin(&mut s).delete_moving(8, 2, None, true).unwrap();
        let plan = admin(&mut s).delete_moving(8, 2, None, false).unwrap();
        assert_eq!(dry.effects, plan.effects, "no moves are claimed");
        assert!(
            plan.effects
                .values()
                .all(|e| e.keys().all(|k| k == "stayed")),
            "{:?}",
            plan.effects
        );
        let c = &plan.customers[0];
        assert_eq!(c.outcome, Outcome::Blocked);
        assert_eq!(c.blockers[0].rule, "open-invoices");
        assert!(
            c.why.as_deref().unwrap().starts_with("cannot be deleted"),
            "{:?}",
            c.why
        );
        assert_eq!(status(&mut s, 8).as_deref(), Some("active"));
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM matter WHERE customer_id = 8"),
            1,
            "the matter did not move"
        );
    }
);

conformance!(
    transfer_moves_only_transferable_kinds_and_merge_moves_everything,
    |db: TestDb| {
        let mut s = setup(&db, "legal", &moving());
        let plan = admin(&mut s).transfer(5, 2, None, false).unwrap();
        assert_eq!(plan.effects["matter"]["moved"], 1);
        assert_eq!(plan.effects["invoice"]["stayed"], 1);
        assert!(plan.customers[0]
            .why
            .as_deref()
            .unwrap()
            .contains("1 invoice"));
        let err = admin(&mut s)
            .transfer(5, 2, Some(&["invoice".to_string()]), false)
            .unwrap_err();
        assert!(
            err.to_string().contains("`invoice` is not a transferable"),
            "{err}"
        );
        // Only the kinds asked for move; contacts stay linked to the source.
        let plan = admin(&mut s)
            .transfer(1, 2, Some(&["note".to_string()]), false)
            .unwrap();
        assert_eq!(plan.effects["note"]["moved"], 1);
        assert!(
            plan.customers[0]
                .why
                .as_deref()
                .unwrap()
                .contains("1 matter (not chosen)"),
            "{:?}",
            plan.customers[0].why
        );
        assert_eq!(
            s.customer(3).unwrap().fields["company_id"],
            serde_json::json!(1)
        );
        let err = admin(&mut s).merge(5, 2, false).unwrap_err();
        assert!(
            err.to_string().contains("only duplicates of one kind"),
            "{err}"
        );
        let merged = admin(&mut s).merge(5, 7, false).unwrap();
        assert_eq!(merged.to_json()["merged"], 1);
        assert_eq!(status(&mut s, 5), None);
        assert_eq!(
            count(&mut s, "SELECT count(*) FROM invoice WHERE customer_id = 7"),
            1
        );
        // A target linked to its duplicate is not left pointing at itself or at nothing.
        s.update_customer(4, &[("parent_id".into(), "1".into())])
            .unwrap();
        // (The other way round as well would be a loop, which an edit refuses.)
        assert!(s
            .update_customer(1, &[("parent_id".into(), "4".into())])
            .is_err());
        admin(&mut s).merge(1, 4, false).unwrap();
        assert_eq!(
            s.customer(4).unwrap().fields["parent_id"],
            serde_json::Value::Null
        );
        let err = admin(&mut s).merge(2, 2, false).unwrap_err();
        assert!(err.to_string().contains("itself"), "{err}");
        let entries = offboard_engine::audit::list(s.db(), Some(5), None).unwrap();
        assert_eq!(
            entries
                .iter()
                .map(|e| e.operation.as_str())
                .collect::<Vec<_>>(),
            ["merge", "transfer"]
        );
    }
);
