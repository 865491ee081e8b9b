//! Property: for random membership data, the purge erases exactly what a straightforward
//! reference implementation says (rule blockers, then the orphan fixpoint), and the rows left
//! afterwards are what the model's on-erase behaviour implies.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use offboard_engine::{Actor, Engine};
use offboard_store::Store;
use offboard_testkit::{Backend, TestDb};

use crate::helpers::*;

#[derive(Debug, Clone)]
struct Data {
    /// (status, company_id, bill_to_id) per customer 1..=n.
    customers: Vec<(&'static str, Option<usize>, Option<usize>)>,
    orders: Vec<(usize, &'static str)>,
    invoices: Vec<(usize, i64)>,
    subscriptions: Vec<(usize, &'static str)>,
    referrals: Vec<(usize, i64, bool, i64)>,
    notes: Vec<usize>,
    certs: Vec<(usize, Option<usize>)>,
}

fn data() -> impl Strategy<Value = Data> {
    (2usize..16).prop_flat_map(|n| {
        let c = 1..=n;
        let link = prop::option::weighted(0.3, 1..=n);
        (
            prop::collection::vec(
                (
                    prop::sample::select(vec!["active", "deactivated", "deleted", "deleted"]),
                    link.clone(),
                    link.clone(),
                ),
                n,
            ),
            prop::collection::vec(
                (
                    c.clone(),
                    prop::sample::select(vec![
                        "OPEN",
                        "CLOSED",
                        "COMPLETED",
                        "CANCELLED",
                        "PENDING",
                    ]),
                ),
                0..n,
            ),
            prop::collection::vec(
                (c.clone(), prop::sample::select(vec![0i64, 0, -5, 700])),
                0..n,
            ),
            prop::collection::vec(
                (
                    c.clone(),
                    prop::sample::select(vec!["A", "ACTIVE", "I", "a", "XA"]),
                ),
                0..n,
            ),
            prop::collection::vec(
                (
                    c.clone(),
                    prop::sample::select(vec![0i64, 100]),
                    any::<bool>(),
                    prop::sample::select(vec![0i64, 5]),
                ),
                0..4,
            ),
            prop::collection::vec(c.clone(), 0..n),
            prop::collection::vec((c, link), 0..n),
        )
            .prop_map(
                |(customers, orders, invoices, subscriptions, referrals, notes, certs)| Data {
                    customers,
                    orders,
                    invoices,
                    subscriptions,
                    referrals,
                    notes,
                    certs,
                },
            )
    })
}

/// The reference: which customers a purge erases.
fn reference(d: &Data) -> BTreeSet<usize> {
    let n = d.customers.len();
    let deleted = |i: usize| d.customers[i - 1].0 == "deleted";
    let blocked = |i: usize| {
        d.orders
            .iter()
            .any(|(c, s)| *c == i && !["CLOSED", "CANCELLED", "COMPLETED"].contains(s))
            || d.invoices.iter().any(|(c, b)| *c == i && *b != 0)
            || d.subscriptions
                .iter()
                .any(|(c, s)| *c == i && s.starts_with('A'))
            || d.referrals
                .iter()
                .any(|(c, fee, ready, num)| *c == i && *fee > 0 && *ready && *num == 0)
    };
    let mut go: BTreeSet<usize> = (1..=n).filter(|i| deleted(*i) && !blocked(*i)).collect();
    loop {
        let stays = |go: &BTreeSet<usize>, c: usize| {
            (1..=n).any(|s| {
                !go.contains(&s)
                    && (d.customers[s - 1].1 == Some(c) || d.customers[s - 1].2 == Some(c))
            }) || d
                .certs
                .iter()
                .any(|(owner, bill)| *bill == Some(c) && !go.contains(owner))
        };
        let next: BTreeSet<usize> = go.iter().copied().filter(|c| !stays(&go, *c)).collect();
        if next == go {
            return go;
        }
        go = next;
    }
}

fn csv(d: &Data) -> Vec<(&'static str, String)> {
    let opt = |o: Option<usize>| o.map(|x| x.to_string()).unwrap_or_default();
    let mut customers = String::from("id,number,kind,name,company_id,bill_to_id,status\n");
    for (i, (st, co, bt)) in d.customers.iter().enumerate() {
        customers.push_str(&format!(
            "{0},M{0},person,P{0},{1},{2},{st}\n",
            i + 1,
            opt(*co),
            opt(*bt)
        ));
    }
    let rows = |head: &str, lines: Vec<String>| {
        let mut s = format!("{head}\n");
        for (i, l) in lines.iter().enumerate() {
            s.push_str(&format!("{},{l}\n", i + 1));
        }
        s
    };
    vec![
        ("customers.csv", customers),
        (
            "order.csv",
            rows(
                "id,customer_id,stage,total",
                d.orders
                    .iter()
                    .map(|(c, s)| format!("{c},{s},100"))
                    .collect(),
            ),
        ),
        (
            "invoice.csv",
            rows(
                "id,customer_id,balance",
                d.invoices.iter().map(|(c, b)| format!("{c},{b}")).collect(),
            ),
        ),
        (
            "subscription.csv",
            rows(
                "id,customer_id,status",
                d.subscriptions
                    .iter()
                    .map(|(c, s)| format!("{c},{s}"))
                    .collect(),
            ),
        ),
        (
            "referral.csv",
            rows(
                "id,provider_id,referral_fee,ready_to_invoice,order_number",
                d.referrals
                    .iter()
                    .map(|(c, f, r, o)| format!("{c},{f},{},{o}", u8::from(*r)))
                    .collect(),
            ),
        ),
        (
            "note.csv",
            rows(
                "id,customer_id,body",
                d.notes.iter().map(|c| format!("{c},x")).collect(),
            ),
        ),
        (
            "cert_register.csv",
            rows(
                "id,customer_id,bill_to_id",
                d.certs
                    .iter()
                    .map(|(c, b)| format!("{c},{}", opt(*b)))
                    .collect(),
            ),
        ),
    ]
}

fn reset(s: &mut Store) {
    for t in [
        "cert_register",
        "note",
        "address",
        "activity",
        "referral",
        "subscription",
        "invoice",
        "\"order\"",
        "customers",
    ] {
        s.db().execute(&format!("DELETE FROM {t}"), &[]).unwrap();
    }
}

fn check(s: &mut Store, dir: &std::path::Path, d: &Data) -> Result<(), TestCaseError> {
    reset(s);
    for (f, body) in csv(d) {
        std::fs::write(dir.join(f), body).unwrap();
    }
    s.import_dir(dir, &mut |_, _| {})
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let expected = reference(d);
    let plan = Engine::new(s, Actor::local_admin())
        .purge(false)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let purged: BTreeSet<usize> = plan
        .customers
        .iter()
        .filter(|c| c.outcome == offboard_engine::Outcome::Proceeds)
        .map(|c| c.id as usize)
        .collect();
    prop_assert_eq!(&purged, &expected);
    let gone = |c: &usize| expected.contains(c);
    let n = d.customers.len() as i64;
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM customers"),
        n - expected.len() as i64
    );
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM note"),
        d.notes.iter().filter(|c| !gone(c)).count() as i64
    );
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM subscription"),
        d.subscriptions.iter().filter(|(c, _)| !gone(c)).count() as i64
    );
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM cert_register"),
        d.certs.iter().filter(|(c, _)| !gone(c)).count() as i64
    );
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM \"order\""),
        d.orders.len() as i64,
        "orders stay as history"
    );
    prop_assert_eq!(
        count(
            s,
            "SELECT count(*) FROM \"order\" WHERE customer_id IS NULL"
        ),
        d.orders.iter().filter(|(c, _)| gone(c)).count() as i64
    );
    prop_assert_eq!(
        count(s, "SELECT count(*) FROM offboard_audit") >= expected.len() as i64,
        true
    );
    Ok(())
}

#[test]
fn purge_matches_a_reference_implementation_on_random_membership_data() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(db) = TestDb::new(backend) else {
            continue;
        };
        let s = std::cell::RefCell::new(setup(&db, "membership", &[]));
        let dir = db.dir.path().join("prop");
        std::fs::create_dir_all(&dir).unwrap();
        let cases = if backend == Backend::Sqlite { 120 } else { 40 };
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&data(), |d| check(&mut s.borrow_mut(), &dir, &d))
            .unwrap();
    }
}
