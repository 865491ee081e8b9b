use offboard_model::model::View;
use offboard_model::Value;
use offboard_store::customers::{ListQuery, NewCustomer};
use offboard_store::{Store, StoreError};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn add(s: &mut Store, kind: &str, name: &str) -> i64 {
    s.create_customer(NewCustomer {
        kind: kind.into(),
        name: name.into(),
        email: Some(format!(
            "{}@example.com",
            name.to_lowercase().replace(' ', ".")
        )),
        ..Default::default()
    })
    .unwrap()
    .id
}

fn names(s: &mut Store, q: &ListQuery) -> Vec<String> {
    let mut out = Vec::new();
    s.list_customers(q, &mut |c| {
        out.push(c.name);
        Ok(())
    })
    .unwrap();
    out
}

pub(crate) fn set_status(s: &mut Store, id: i64, status: &str) {
    let sql = match s.dialect() {
        offboard_store::Dialect::Sqlite => "UPDATE customers SET status = ?1 WHERE id = ?2",
        offboard_store::Dialect::Postgres => "UPDATE customers SET status = $1 WHERE id = $2",
    };
    s.db()
        .execute(sql, &[Value::Text(status.into()), Value::Int(id)])
        .unwrap();
}

conformance!(
    customer_numbers_are_sequential_and_a_number_in_use_is_refused,
    |db: TestDb| {
        let mut s = store(&db, "membership");
        let a = s
            .create_customer(NewCustomer {
                kind: "person".into(),
                name: "Ann Lee".into(),
                ..Default::default()
            })
            .unwrap();
        let b = s
            .create_customer(NewCustomer {
                kind: "company".into(),
                name: "Acme".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            (a.number.as_str(), b.number.as_str()),
            ("M0000001", "M0000002")
        );
        assert_eq!(a.status.name(), "active");
        let given = s
            .create_customer(NewCustomer {
                kind: "person".into(),
                name: "Bo".into(),
                number: Some("M0000009".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(given.number, "M0000009");
        let err = s
            .create_customer(NewCustomer {
                kind: "person".into(),
                name: "Cy".into(),
                number: Some("M0000002".into()),
                ..Default::default()
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Refused(_)), "{err}");
        assert!(
            err.to_string().contains("M0000002 is in use by customer"),
            "{err}"
        );
        // The sequence goes on past numbers given by hand only when it reaches them.
        let next = s
            .create_customer(NewCustomer {
                kind: "person".into(),
                name: "Di".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(next.number, "M0000003");
    }
);

conformance!(
    views_search_and_paging_list_the_right_customers,
    |db: TestDb| {
        let mut s = store(&db, "membership");
        let ann = add(&mut s, "person", "Ann Lee");
        let _bo = add(&mut s, "person", "Bo Ek");
        let acme = add(&mut s, "company", "Acme Ltd");
        let zed = add(&mut s, "person", "Zed Annex");
        set_status(&mut s, acme, "deactivated");
        set_status(&mut s, zed, "deleted");
        assert_eq!(
            names(&mut s, &ListQuery::view(View::Active)),
            ["Ann Lee", "Bo Ek"]
        );
        assert_eq!(
            names(&mut s, &ListQuery::view(View::Deactivated)),
            ["Acme Ltd"]
        );
        assert_eq!(
            names(&mut s, &ListQuery::view(View::Current)),
            ["Ann Lee", "Bo Ek", "Acme Ltd"]
        );
        assert_eq!(
            names(&mut s, &ListQuery::view(View::Deleted)),
            ["Zed Annex"]
        );
        assert_eq!(names(&mut s, &ListQuery::view(View::All)).len(), 4);
        let search = |text: &str| ListQuery {
            search: Some(text.into()),
            ..ListQuery::view(View::All)
        };
        assert_eq!(
            names(&mut s, &search("ANN")),
            ["Ann Lee", "Zed Annex"],
            "name, any case"
        );
        assert_eq!(names(&mut s, &search("bo.ek@")), ["Bo Ek"], "email");
        assert_eq!(names(&mut s, &search("M0000003")), ["Acme Ltd"], "number");
        let page = ListQuery {
            limit: Some(2),
            offset: 1,
            ..ListQuery::view(View::All)
        };
        assert_eq!(names(&mut s, &page), ["Bo Ek", "Acme Ltd"]);
        let after = ListQuery {
            after: Some(ann),
            limit: Some(1),
            ..ListQuery::view(View::All)
        };
        assert_eq!(names(&mut s, &after), ["Bo Ek"]);
        assert_eq!(s.count_customers(&search("ann")).unwrap(), 2);
        // A count past its cap says it is not exact.
        let everyone = ListQuery::view(View::All);
        let n = s.count_customers(&everyone).unwrap();
        assert_eq!(
            s.count_customers_capped(&everyone, n - 1).unwrap(),
            (n - 1, false)
        );
        assert_eq!(s.count_customers_capped(&everyone, n).unwrap(), (n, true));
        assert_eq!(
            s.count_customers_capped(&search("ann"), 5).unwrap(),
            (2, true)
        );
    }
);

conformance!(
    editing_checks_links_and_keeps_deleted_customers_editable,
    |db: TestDb| {
        // legal: a contact person's company is a company.
        let mut s = store(&db, "legal");
        let ann = add(&mut s, "person", "Ann Lee");
        let acme = add(&mut s, "company", "Acme Ltd");
        let gone = add(&mut s, "company", "Gone Inc");
        set_status(&mut s, gone, "deleted");
        let c = s
            .update_customer(
                ann,
                &set(&[("company_id", &acme.to_string()), ("name", "Ann Lee-Ek")]),
            )
            .unwrap();
        assert_eq!(c.fields["company_id"], serde_json::json!(acme));
        assert_eq!(c.name, "Ann Lee-Ek");
        let err = s
            .update_customer(ann, &set(&[("company_id", "999")]))
            .unwrap_err();
        assert!(err.to_string().contains("no customer with id 999"), "{err}");
        let err = s
            .update_customer(ann, &set(&[("company_id", &gone.to_string())]))
            .unwrap_err();
        assert!(err.to_string().contains("is deleted"), "{err}");
        let err = s
            .update_customer(acme, &set(&[("company_id", &ann.to_string())]))
            .unwrap_err();
        assert!(
            err.to_string().contains("a company has no `company` link"),
            "{err}"
        );
        let err = s
            .update_customer(ann, &set(&[("status", "active")]))
            .unwrap_err();
        assert!(err.to_string().contains("lifecycle"), "{err}");
        // A deleted customer can still be corrected.
        let g = s
            .update_customer(gone, &set(&[("email", "fixed@example.com")]))
            .unwrap();
        assert_eq!(
            (g.status.name(), g.email.as_deref()),
            ("deleted", Some("fixed@example.com"))
        );
        let err = s.customer(4242).unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)) && err.to_string().contains("4242"));
    }
);
