use offboard_model::Model;
use offboard_store::{Database, StoreError};
use offboard_testkit::conformance;

use crate::helpers::*;

const SMALL: &str = r#"
[model]
name = "small"
[customer]
kinds = ["company", "person"]
[record.order]
owner = "customer"
fields = { total = "money" }
"#;

conformance!(
    migrating_twice_is_harmless_and_keeps_the_model,
    |db: offboard_testkit::TestDb| {
        let (_, changes) = Database::connect(&db.url)
            .unwrap()
            .with_model(model("membership"))
            .unwrap();
        assert!(
            changes
                .iter()
                .any(|c| c.contains("created table cert_register")),
            "{changes:?}"
        );
        let mut again = Database::connect(&db.url).unwrap();
        assert_eq!(
            again.stored_model().unwrap().as_deref(),
            Some(model("membership").source.as_str())
        );
        let (_, changes) = again.with_model(model("membership")).unwrap();
        assert!(changes.is_empty(), "{changes:?}");
    }
);

conformance!(
    a_changed_model_adds_kinds_and_fields,
    |db: offboard_testkit::TestDb| {
        store_with(&db, SMALL);
        let grown = SMALL.replace(
            r#"fields = { total = "money" }"#,
            r#"fields = { total = "money", note = "text" }"#,
        ) + "[record.refund]\nowner = \"order\"\nfields = { amount = \"money\" }\n";
        let m = Model::parse("grown.toml", &grown).unwrap();
        let (mut store, changes) = Database::connect(&db.url).unwrap().with_model(m).unwrap();
        assert!(
            changes.contains(&"added column order.note (text)".to_string()),
            "{changes:?}"
        );
        assert!(
            changes
                .iter()
                .any(|c| c.starts_with("created table refund")),
            "{changes:?}"
        );
        let c = store
            .create_customer(offboard_store::customers::NewCustomer {
                kind: "person".into(),
                name: "Ann".into(),
                ..Default::default()
            })
            .unwrap();
        let o = store
            .create_record(
                "order",
                &set(&[("customer_id", &c.id.to_string()), ("note", "hi")]),
            )
            .unwrap();
        store
            .create_record(
                "refund",
                &set(&[("order_id", &o.id.to_string()), ("amount", "100")]),
            )
            .unwrap();
        assert_eq!(store.stats().unwrap().records["refund"], 1);
    }
);

conformance!(
    a_model_that_drops_or_retypes_data_is_refused_naming_each_change,
    |db: offboard_testkit::TestDb| {
        store_with(&db, SMALL);
        let changed = SMALL
            .replace(
                r#"fields = { total = "money" }"#,
                r#"fields = { total = "text" }"#,
            )
            .replace("[record.order]", "[record.orders]");
        let err = Database::connect(&db.url)
            .unwrap()
            .with_model(Model::parse("x.toml", &changed).unwrap())
            .err()
            .unwrap();
        let StoreError::Schema(problems) = &err else {
            panic!("{err}")
        };
        assert!(
            problems.iter().any(|p| p.contains("record kind `order`")),
            "{problems:?}"
        );
        let retyped = SMALL.replace(
            r#"fields = { total = "money" }"#,
            r#"fields = { total = "int" }"#,
        );
        let err = Database::connect(&db.url)
            .unwrap()
            .with_model(Model::parse("x.toml", &retyped).unwrap())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("`order.total` from money to int"),
            "{err}"
        );
        // Nothing changed: the original model still applies cleanly.
        let (_, changes) = Database::connect(&db.url)
            .unwrap()
            .with_model(Model::parse("s.toml", SMALL).unwrap())
            .unwrap();
        assert!(changes.is_empty());
    }
);

conformance!(
    every_preset_creates_its_tables,
    |db: offboard_testkit::TestDb| {
        for name in ["lending", "services", "erp", "legal", "membership"] {
            let sub = offboard_testkit::TestDb::new(db.backend).unwrap();
            let mut s = store(&sub, name);
            let stats = s.stats().unwrap();
            assert_eq!(stats.records.len(), s.model().records.len(), "{name}");
        }
    }
);
