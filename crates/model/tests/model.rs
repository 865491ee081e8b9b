//! Model files: every preset loads, and each kind of mistake is reported at its place.
#![allow(clippy::unwrap_used)]

use offboard_model::model::{DeleteMode, OnErase, Operation, PurgeMode, Role, RuleSubject, Target};
use offboard_model::presets::PRESETS;
use offboard_model::Model;

const BASE: &str = "[model]\nname = \"t\"\n[customer]\nkinds = [\"company\", \"person\"]\n";

fn errors(text: &str) -> Vec<(usize, usize, String)> {
    match Model::parse("m.toml", text) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(e) => e
            .diagnostics
            .into_iter()
            .map(|d| (d.line, d.column, d.message))
            .collect(),
    }
}

#[track_caller]
fn has(errs: &[(usize, usize, String)], line: usize, text: &str) {
    assert!(
        errs.iter().any(|(l, _, m)| *l == line && m.contains(text)),
        "expected line {line} `{text}` in {errs:#?}"
    );
}

#[test]
fn every_preset_loads_with_the_rule_ids_presets_md_fixes() {
    for p in PRESETS {
        let m = Model::parse(p.name, p.source).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        assert_eq!(m.name, p.name);
    }
    let legal = Model::parse("legal", PRESETS[3].source).unwrap();
    let ids: Vec<&str> = legal.rules.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "active-matters",
        "open-advances",
        "open-invoices",
        "customer-funds",
        "movable-properties",
        "active-subsidiaries",
        "open-critical-tasks",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    assert!(matches!(
        legal
            .rules
            .iter()
            .find(|r| r.id == "active-subsidiaries")
            .unwrap()
            .subject,
        RuleSubject::Customers { .. }
    ));
    assert_eq!(legal.delete, DeleteMode::Hard);
    let m = Model::parse("membership", PRESETS[4].source).unwrap();
    let ids: Vec<&str> = m.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "open-orders",
            "unpaid-invoices",
            "active-subscriptions",
            "owed-referrals"
        ]
    );
    assert_eq!(m.record("referral").unwrap().owner.column, "provider_id");
    assert_eq!(m.record("order").unwrap().on_erase, OnErase::Detach);
    assert_eq!(m.purge, PurgeMode::PerCustomer);
    let lending = Model::parse("lending", PRESETS[0].source).unwrap();
    let chain: Vec<&str> = lending
        .owner_chain(lending.record("process").unwrap())
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    assert_eq!(chain, ["process", "contract", "application"]);
    let erp = Model::parse("erp", PRESETS[2].source).unwrap();
    assert!(!erp.permissions.allows(Role::Clerk, Operation::Reactivate));
    assert!(erp.permissions.allows(Role::Manager, Operation::Reactivate));
    assert!(erp.permissions.allows(Role::Clerk, Operation::Delete));
}

#[test]
fn kinds_come_after_the_kinds_they_link_to() {
    let text = format!("{BASE}[record.b]\nowner = \"a\"\n[record.a]\nowner = \"customer\"\n[record.c]\nowner = \"b\"\n");
    let m = Model::parse("m.toml", &text).unwrap();
    let order: Vec<&str> = m.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(order, ["a", "b", "c"]);
    assert_eq!(
        m.record("c").unwrap().owner.target,
        Target::Record("b".into())
    );
}

#[test]
fn an_ownership_cycle_is_refused() {
    let text = format!("{BASE}[record.a]\nowner = \"b\"\n[record.b]\nowner = \"a\"\n");
    has(&errors(&text), 6, "cycle among: a, b");
}

#[test]
fn a_kind_numbered_per_customer_cannot_be_transferable() {
    let text = format!(
        "{BASE}[record.visit]\nowner = \"customer\"\ntransferable = true\nnumbered = {{ field = \"seq\", per = \"owner\" }}\nfields = {{ seq = \"int\" }}\n"
    );
    has(
        &errors(&text),
        6,
        "`visit` is numbered per customer and transferable",
    );
    // Numbered across the kind, it moves with its number.
    let text = format!(
        "{BASE}[record.visit]\nowner = \"customer\"\ntransferable = true\nnumbered = {{ field = \"seq\" }}\nfields = {{ seq = \"int\" }}\n"
    );
    assert!(Model::parse("m.toml", &text).is_ok());
}

#[test]
fn unknown_kinds_fields_and_types_are_reported_where_they_are() {
    let text = format!("{BASE}[record.order]\nowner = \"client\"\n");
    has(&errors(&text), 6, "unknown kind `client`");
    // TOML stops at the first structural error; the unknown key is reported on its own.
    let text =
        format!("{BASE}[record.order]\nowner = \"customer\"\nfields = {{ total = \"monee\" }}\n");
    has(&errors(&text), 7, "unknown type `monee`");
    let text = format!("{BASE}[record.note]\nowner = \"customer\"\ncolour = \"red\"\n");
    has(&errors(&text), 7, "unknown field `colour`");
}

#[test]
fn rules_on_the_wrong_kind_and_duplicate_names_are_refused() {
    let text = format!(
        "{BASE}[record.order]\nowner = \"customer\"\nfields = {{ stage = \"text\" }}\n[record.invoice]\nowner = \"customer\"\nfields = {{ balance = \"money\" }}\n\
[[rule]]\nid = \"r\"\non = [\"purge\"]\nkind = \"order\"\nwhen = \"balance != 0\"\namount = \"balance\"\n\
[[rule]]\nid = \"r\"\non = [\"erase\"]\nkind = \"invoice\"\nwhen = 'balance like \"A%\"'\n"
    );
    let errs = errors(&text);
    has(&errs, 15, "unknown field `balance`");
    has(&errs, 16, "`order` has no field `balance`");
    has(&errs, 18, "rule id `r` is used twice");
    has(&errs, 19, "`erase` is not an operation");
    has(&errs, 21, "`like` needs text");
    let col = errs.iter().find(|(l, _, _)| *l == 15).unwrap().1;
    assert_eq!(col, 9, "the caret points into the rule text");
}

#[test]
fn link_names_and_reserved_tables_are_checked() {
    let text = format!(
        "{BASE}[customer.links.company]\nkinds = [\"robot\"]\n[record.customers]\nowner = \"customer\"\n[record.x]\nowner = \"customer\"\nlinks = {{ customer = \"customer\" }}\n"
    );
    let errs = errors(&text);
    has(&errs, 6, "unknown customer kind `robot`");
    has(&errs, 7, "reserved");
    has(&errs, 11, "column `customer_id`, which exists already");
    let text = format!("{BASE}[permissions]\npurge = [\"boss\"]\n");
    has(&errors(&text), 6, "unknown role `boss`");
}

#[test]
fn messages_values_and_sizes_are_checked_where_they_are_written() {
    let rule = |message: &str, amount: &str| {
        format!(
            "{BASE}[record.order]\nowner = \"customer\"\nfields = {{ total = \"money\" }}\n\
[[rule]]\nid = \"r\"\non = [\"purge\"]\nkind = \"order\"\n{amount}message = {message:?}\n"
        )
    };
    // (message, amount line, expected problem or none)
    let cases: &[(&str, &str, Option<&str>)] = &[
        ("{count} open {order|orders}", "", None),
        (
            "{count} open {order|orders} ({amount})",
            "amount = \"total\"\n",
            None,
        ),
        ("{bogus} open", "", Some("unknown placeholder `{bogus}`")),
        ("{count} {order|orders", "", Some("not closed")),
        ("{count} orders}", "", Some("without its `{`")),
        ("{count} ({amount})", "", Some("sums no amount")),
    ];
    for (message, amount, expected) in cases {
        let text = rule(message, amount);
        match expected {
            None => {
                Model::parse("m.toml", &text).unwrap_or_else(|e| panic!("{message}: {e}"));
            }
            Some(problem) => {
                let line = text.lines().position(|l| l.starts_with("message")).unwrap() + 1;
                has(&errors(&text), line, problem);
            }
        }
    }
    let text = format!(
        "{BASE}[record.order]\nowner = \"customer\"\nfields = {{ stage = {{ type = \"text\", values = [] }} }}\n"
    );
    has(&errors(&text), 7, "is empty");
    let mut many = String::from(BASE);
    for i in 0..201 {
        many.push_str(&format!("[record.k{i:03}]\nowner = \"customer\"\n"));
    }
    let errs = errors(&many);
    assert!(
        errs.iter()
            .any(|(l, _, m)| *l > 5 && m.contains("at most 200 record kinds")),
        "{errs:?}"
    );
    let fields: Vec<String> = (0..1001).map(|i| format!("f{i} = \"int\"")).collect();
    let wide = format!(
        "{BASE}[record.wide]\nowner = \"customer\"\nfields = {{ {} }}\n",
        fields.join(", ")
    );
    has(&errors(&wide), 5, "a table has at most 1000");
}

#[test]
fn a_file_that_is_not_text_is_reported_where_it_stops_being_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.toml");
    std::fs::write(&path, b"[model]\nname = \"x\x00\xff\xfe\"\n").unwrap();
    let e = Model::load(&path).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.column), (2, 11), "{d:?}");
    assert!(d.message.contains("not a text file"), "{}", d.message);
}

#[test]
fn a_key_without_a_value_says_what_is_wrong() {
    let errs = errors(&format!("{BASE}[permissions]\nrecord_delete =\n"));
    assert!(
        errs.iter().all(|(l, _, m)| *l == 6 && !m.trim().is_empty()),
        "{errs:?}"
    );
}

#[test]
fn labels_and_the_currency_are_read_and_checked() {
    let text = "[model]\nname = \"t\"\ncurrency = \"EUR\"\n[customer]\nkinds = [\"person\"]\n[record.fund_movement]\nlabel = \"Fund movements\"\nowner = \"customer\"\nfields = { due = { type = \"date\", label = \"Due on\" }, amount = \"money\" }\n";
    let m = Model::parse("m.toml", text).unwrap();
    assert_eq!(m.currency.as_deref(), Some("EUR"));
    let k = m.record("fund_movement").unwrap();
    assert_eq!(k.label.as_deref(), Some("Fund movements"));
    let due = k.fields.iter().find(|f| f.name == "due").unwrap();
    assert_eq!(due.label.as_deref(), Some("Due on"));
    assert!(k
        .fields
        .iter()
        .find(|f| f.name == "amount")
        .unwrap()
        .label
        .is_none());
    let text = "[model]\nname = \"t\"\ncurrency = \"\"\n[customer]\nkinds = [\"person\"]\n";
    has(&errors(text), 3, "give a currency code");
    let text = format!(
        "{BASE}[record.note]\nowner = \"customer\"\nfields = {{ body = {{ type = \"text\", label = \" \" }} }}\n"
    );
    has(&errors(&text), 7, "`label` of `body` is empty");
    // Every preset names what its record kinds are called.
    for p in PRESETS {
        let m = Model::parse(p.name, p.source).unwrap();
        for k in &m.records {
            assert!(k.label.is_some(), "{}: {} has no label", p.name, k.name);
        }
    }
}

#[test]
fn schedules_are_read_and_each_mistake_is_reported_where_it_is() {
    let good = format!(
        "{BASE}[[schedule]]\nid = \"empty-bin\"\nrun = \"purge\"\n\n[[schedule]]\nid = \"dormant\"\nlabel = \"Delete people deactivated 7 years ago\"\nrun = \"delete\"\nevery = \"week\"\ncustomers = \"status = 'deactivated' and kind = 'person'\"\nolder_than = \"7 years\"\nsince = \"deactivated_on\"\nreview = \"manager\"\n"
    );
    let m = Model::parse("m.toml", &good).unwrap();
    assert_eq!(m.schedules.len(), 2);
    let d = &m.schedules[1];
    assert_eq!(d.label, "Delete people deactivated 7 years ago");
    assert_eq!(d.review, vec![Role::Manager, Role::Admin]);
    assert_eq!(
        d.describe(),
        "delete customers where status is deactivated and kind is person, deactivated on more than 7 years ago, every week, approved by a manager first"
    );
    assert_eq!(
        m.schedules[0].describe(),
        "purge the recycle bin past its retention, every day"
    );

    let bad = format!(
        "{BASE}[[schedule]]\nid = \"a\"\nrun = \"shred\"\n\n[[schedule]]\nid = \"b\"\nrun = \"delete\"\nevery = \"fortnight\"\ncustomers = \"statuz = 'deleted'\"\n\n[[schedule]]\nid = \"c\"\nrun = \"delete\"\nolder_than = \"seven years\"\nsince = \"name\"\n\n[[schedule]]\nid = \"d\"\nrun = \"erase\"\n\n[[schedule]]\nid = \"e\"\nrun = \"purge\"\ncustomers = \"kind = 'person'\"\n\n[[schedule]]\nid = \"f\"\nrun = \"delete\"\nolder_than = \"1 year\"\n"
    );
    let errs = errors(&bad);
    has(&errs, 7, "`shred` is not an operation a schedule runs");
    has(&errs, 12, "`every = \"fortnight\"` is not a period");
    has(&errs, 13, "unknown field `statuz`");
    has(&errs, 18, "not a length of time");
    has(
        &errs,
        19,
        "`since` must be a date or date-time column; `name` is text",
    );
    has(&errs, 22, "schedule `d` would erase every customer");
    has(
        &errs,
        27,
        "schedule `e` has `customers`, but a purge takes the recycle bin",
    );
    has(&errs, 33, "`older_than` counts from a date");
}
