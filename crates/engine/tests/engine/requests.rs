//! Privacy requests through the library API: the retention that leaves a closed request only
//! what proves it was answered, and the model's `keep_requests_days` checked.

use offboard_engine::privacy::{LogRequest, Person};
use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_store::privacy::{RequestFilter, RequestKind};
use offboard_store::Database;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

conformance!(
    a_closed_request_keeps_its_contact_only_for_the_models_retention,
    |db: TestDb| {
        let source = format!(
            "{}\n[privacy]\nkeep_requests_days = 10\n",
            preset("services").unwrap().source
        );
        let model = Model::parse("services", &source).unwrap();
        assert_eq!(model.keep_requests_days, 10);
        let (mut s, _) = Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        let dir = db.dir.path().join("csv");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("customers.csv"),
            "id,number,kind,name,email,status\n1,1,person,Ann Lee,ann@example.com,active\n",
        )
        .unwrap();
        s.import_dir(&dir, &mut |_, _| {}).unwrap();
        let log = |s: &mut offboard_store::Store| {
            admin(s)
                .log_request(LogRequest {
                    kind: RequestKind::Access,
                    person: Person::Contact("ann@example.com".into()),
                    requester: Some("Ann".into()),
                    received_on: None,
                    assignee: None,
                    notes: Some("called on Monday".into()),
                })
                .unwrap()
        };
        let old = log(&mut s);
        let recent = log(&mut s);
        for r in [&old, &recent] {
            admin(&mut s).verify_request(r.id, "ID card").unwrap();
            admin(&mut s).run_request(r.id, &[], false).unwrap();
            admin(&mut s).complete_request(r.id).unwrap();
        }
        // One closed eleven days ago, one now.
        let eleven_days_ago = offboard_model::DateTime::from_seconds(
            offboard_model::DateTime::now().seconds() - 11 * 86_400,
        );
        s.db()
            .execute(
                &format!(
                    "UPDATE offboard_privacy_requests SET closed_at = '{eleven_days_ago}' WHERE id = {}",
                    old.id
                ),
                &[],
            )
            .unwrap();
        let list = admin(&mut s).requests(&RequestFilter::default()).unwrap();
        let old = list.iter().find(|r| r.id == old.id).unwrap();
        let recent = list.iter().find(|r| r.id == recent.id).unwrap();
        assert_eq!(old.contact, None, "past the retention: {old:?}");
        assert_eq!(old.requester, None);
        assert_eq!(old.notes, None);
        assert!(old.redacted_at.is_some());
        // What proves it was answered stays.
        assert!(old.receipt.is_some() && old.verified_method.is_some());
        assert_eq!(recent.contact.as_deref(), Some("ann@example.com"));
        let check = admin(&mut s)
            .verify_receipt(old.receipt.as_ref().unwrap())
            .unwrap();
        assert!(check.ok(), "{:?}", check.problems);
    }
);

#[test]
fn a_retention_out_of_range_is_an_error_with_its_place() {
    let source = format!(
        "{}\n[privacy]\nkeep_requests_days = 0\n",
        preset("services").unwrap().source
    );
    let err = Model::parse("services", &source).unwrap_err().to_string();
    assert!(err.contains("keep_requests_days is 0"), "{err}");
    assert!(err.contains(":"), "names the line: {err}");
}
