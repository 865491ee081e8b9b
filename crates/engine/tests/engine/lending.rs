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
            msgs.contains(&"2 contract remain (17, 18); delete them first"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"1 application remain (1); delete them first"),
            "{msgs:?}"
        );
        assert!(
            msgs.contains(&"1 monitoring remain (1); delete them first"),
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
    }
);
