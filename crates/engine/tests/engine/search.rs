//! Search and suggestions are indexed (SQLite FTS5 trigram, PostgreSQL pg_trgm) and agree with
//! a plain scan; suggestions offer active customers only (erp: inactive ones are no longer in
//! pickers), the number first; an erased name is gone from the index.

use offboard_model::model::View;
use offboard_store::customers::{Customer, ListQuery};
use offboard_store::Store;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn demo(db: &TestDb, preset: &str, n: u64) -> Store {
    let mut s = setup(db, preset, &[]);
    let model = s.model().clone();
    let dir = db.dir.path().join("demo");
    offboard_demo::generate(&model, n, 11, &dir).unwrap();
    s.import_dir(&dir, &mut |_, _| {}).unwrap();
    s
}

fn all(s: &mut Store) -> Vec<Customer> {
    let mut list = Vec::new();
    s.list_customers(
        &ListQuery {
            limit: None,
            ..ListQuery::view(View::All)
        },
        &mut |c| {
            list.push(c);
            Ok(())
        },
    )
    .unwrap();
    list
}

fn search(s: &mut Store, text: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    s.list_customers(
        &ListQuery {
            search: Some(text.into()),
            limit: None,
            ..ListQuery::view(View::All)
        },
        &mut |c| {
            ids.push(c.id);
            Ok(())
        },
    )
    .unwrap();
    ids
}

conformance!(search_agrees_with_a_plain_scan, |db: TestDb| {
    let mut s = demo(&db, "membership", 400);
    let everyone = all(&mut s);
    let mut terms: Vec<String> = vec![
        "lee".into(),
        "LEE".into(),
        "son".into(),
        "ex".into(),
        "@example".into(),
        "zzzq".into(),
    ];
    terms.extend(everyone.iter().step_by(97).map(|c| c.number.clone()));
    terms.extend(
        everyone
            .iter()
            .step_by(53)
            .map(|c| c.name[1..4.min(c.name.len())].to_string()),
    );
    for t in terms {
        let low = t.to_lowercase();
        let expected: Vec<i64> = everyone
            .iter()
            .filter(|c| {
                c.name.to_lowercase().contains(&low)
                    || c.email
                        .as_deref()
                        .is_some_and(|e| e.to_lowercase().contains(&low))
                    || c.number == t
            })
            .map(|c| c.id)
            .collect();
        assert_eq!(search(&mut s, &t), expected, "search {t:?}");
    }
    // Kept in step: an edit and a new customer are found at once.
    let c = everyone[0].id;
    admin(&mut s)
        .update_customer(c, &[("name".into(), "Zebedee Quux".into())])
        .unwrap();
    assert_eq!(search(&mut s, "ebedee"), vec![c]);
    assert!(search(&mut s, &everyone[0].name).iter().all(|i| *i != c));
});

conformance!(
    suggestions_rank_the_number_first_and_offer_only_active_customers,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "erp",
            &[(
                "customers.csv",
                "id,number,kind,name,status,deactivation_reason\n\
1,CU000101,company,Acme Tools,active,\n\
2,CU000102,company,Acme Gone,deactivated,Inactive\n\
3,CU000010,company,Tools For Acme,active,\n\
4,CU000200,company,Bolt and Acme,active,\n",
            )],
        );
        let names = |list: Vec<Customer>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(
            names(s.suggest_customers("acme", View::Active, 10).unwrap()),
            [1, 4, 3]
        );
        assert_eq!(
            names(s.suggest_customers("CU00010", View::Active, 10).unwrap()),
            [1]
        );
        assert_eq!(
            names(s.suggest_customers("CU000010", View::Active, 10).unwrap()),
            [3]
        );
        assert_eq!(
            names(s.suggest_customers("acme", View::Active, 1).unwrap()),
            [1]
        );
        assert!(names(s.suggest_customers("Gone", View::Active, 10).unwrap()).is_empty());
        assert_eq!(
            names(s.suggest_customers("Gone", View::All, 10).unwrap()),
            [2]
        );
    }
);

conformance!(
    an_erased_name_is_gone_from_the_search_index,
    |db: TestDb| {
        let mut s = setup(
        &db,
        "membership",
        &[(
            "customers.csv",
            "id,number,kind,name,status\n1,M1,person,Zebedee Quux,deleted\n2,M2,person,Ann Lee,active\n",
        )],
    );
        assert_eq!(search(&mut s, "zebedee"), vec![1]);
        admin(&mut s).purge(false).unwrap();
        assert!(search(&mut s, "zebedee").is_empty());
        if s.dialect() == offboard_store::Dialect::Sqlite {
            assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM customers_search WHERE customers_search MATCH '\"zeb\" AND \"bed\"'"
            ),
            0
        );
        }
    }
);
