//! Fuzzing imports: customers.csv and a record file with cells drawn from good and bad values
//! (junk numbers, unknown kinds and statuses, torn states, dangling and wrong-kind links,
//! odd dates, NUL bytes, quotes). An import is all or nothing: it loads every row or refuses
//! with each problem at a line of its file and loads none; never a panic, and the database
//! stays usable (a purge plan runs). `OFFBOARD_FUZZ_CASES` sets the cases (16 by default).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use offboard_store::StoreError;
use offboard_testkit::{conformance, TestDb};

use crate::helpers::*;

fn cases() -> u32 {
    std::env::var("OFFBOARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

fn cell(good: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(good).prop_map(str::to_string),
        1 => prop::sample::select(&[
            "", "x", "-1", "0", "9223372036854775807", "1.5", "\"", "a,b", "2024-13-45",
            "nul\u{0}byte", "  ", "null", "DELETED",
        ][..])
        .prop_map(str::to_string),
    ]
}

/// A customers.csv of `n` rows and an order.csv (membership).
fn files() -> impl Strategy<Value = (String, String)> {
    let customer = (
        cell(&["1", "2", "3", "4", "5", "6"]),
        cell(&["company", "person"]),
        cell(&["active", "deactivated", "deleted"]),
        cell(&["", "1", "2", "7"]),
        cell(&["", "2024-01-01 00:00:00"]),
        cell(&["", "Moved away", "Deceased", "Membership lapsed"]),
    );
    let order = (
        cell(&["1", "2", "3"]),
        cell(&["1", "2", "3", "9"]),
        cell(&["OPEN", "CLOSED"]),
        cell(&["100", "0"]),
    );
    (
        prop::collection::vec(customer, 1..7),
        prop::collection::vec(order, 0..4),
    )
        .prop_map(|(cs, os)| {
            let quote = |s: &str| {
                if s.contains([',', '"', '\n']) {
                    format!("\"{}\"", s.replace('"', "\"\""))
                } else {
                    s.to_string()
                }
            };
            let mut c = String::from(
                "id,number,kind,name,company_id,status,deleted_at,deactivation_reason\n",
            );
            for (i, (id, kind, status, company, deleted, reason)) in cs.iter().enumerate() {
                c.push_str(&format!(
                    "{},M{i},{},Name {i},{},{},{},{}\n",
                    quote(id),
                    quote(kind),
                    quote(company),
                    quote(status),
                    quote(deleted),
                    quote(reason)
                ));
            }
            let mut o = String::from("id,customer_id,stage,total\n");
            for (id, cust, stage, total) in os {
                o.push_str(&format!(
                    "{},{},{},{}\n",
                    quote(&id),
                    quote(&cust),
                    quote(&stage),
                    quote(&total)
                ));
            }
            (c, o)
        })
}

conformance!(
    an_import_of_odd_rows_loads_all_or_nothing_and_never_panics,
    |db: TestDb| {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        let n = std::cell::Cell::new(0);
        runner
            .run(&files(), |(customers, orders)| {
                n.set(n.get() + 1);
                let Some(fresh) = TestDb::new(db.backend) else {
                    return Ok(());
                };
                let mut s = setup(&fresh, "membership", &[]);
                let dir = fresh.dir.path().join("fuzz");
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(dir.join("customers.csv"), &customers).unwrap();
                std::fs::write(dir.join("order.csv"), &orders).unwrap();
                let rows = customers.lines().count() as i64 - 1;
                match s.import_dir(&dir, &mut |_, _| {}) {
                    Ok(_) => {
                        prop_assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), rows);
                    }
                    Err(StoreError::Import(list)) => {
                        prop_assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
                        prop_assert_eq!(count(&mut s, "SELECT count(*) FROM \"order\""), 0);
                        for e in &list.errors {
                            let lines = if e.file == "customers.csv" {
                                customers.lines().count()
                            } else {
                                orders.lines().count()
                            } as u64;
                            prop_assert!(e.line >= 1 && e.line <= lines, "{e:?}");
                        }
                    }
                    Err(other) => prop_assert!(false, "not an import error: {other}"),
                }
                // The database stays usable.
                prop_assert!(admin(&mut s).purge(true).is_ok());
                Ok(())
            })
            .unwrap();
    }
);
