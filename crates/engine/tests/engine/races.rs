//! The race suite: operations on one database from several connections at once, a few seeded
//! trials per scenario. After each trial: every committed answer is still true (an undeleted
//! customer exists), the final state is one a serial order could give (each customer's status
//! is what the last audit entry about it says, and the audit's order is the commit order),
//! the customer's state is whole, nothing points at a missing row, and the audit chain
//! verifies.
//!
//! `OFFBOARD_RACE_TRIALS` sets the trials per scenario (2 by default: the short round CI
//! runs); `OFFBOARD_RACE_SEED` the seed. `scripts/race-test` runs the long round.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use offboard_engine::{audit, Actor, DeactivateOptions, Engine, Outcome, Plan};
use offboard_model::presets::preset;
use offboard_model::Model;
use offboard_store::{Database, Store};
use offboard_testkit::{conformance, TestDb};

use crate::helpers::count;

fn trials() -> u64 {
    std::env::var("OFFBOARD_RACE_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn seed() -> u64 {
    std::env::var("OFFBOARD_RACE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_201)
}

/// A small deterministic generator (xorshift): the same seed, the same trial.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn shuffled(&mut self, mut ids: Vec<i64>) -> Vec<i64> {
        for i in (1..ids.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            ids.swap(i, j);
        }
        ids
    }
}

/// The membership preset with its open-orders rule also on deactivation.
fn model() -> Model {
    let source = preset("membership").unwrap().source.replacen(
        "on = [\"purge\"]",
        "on = [\"purge\", \"deactivate\"]",
        1,
    );
    Model::parse("membership", &source).unwrap()
}

const N: i64 = 30;

/// A fresh database with `N` persons of the given status (deleted ones have no date, so they
/// are past the retention), and a connection to it.
fn fresh(db: &TestDb, status: &str) -> Store {
    let (mut s, _) = Database::connect(&db.url)
        .unwrap()
        .with_model(model())
        .unwrap();
    let dir = db.dir.path().join(format!("race-{status}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = String::from("id,number,kind,name,status\n");
    for id in 1..=N {
        csv.push_str(&format!("{id},M{id},person,Person {id},{status}\n"));
    }
    std::fs::write(dir.join("customers.csv"), csv).unwrap();
    let mut orders = String::from("id,customer_id,stage,total\n");
    for id in 1..=N {
        orders.push_str(&format!("{id},{id},CLOSED,100\n"));
    }
    std::fs::write(dir.join("order.csv"), orders).unwrap();
    s.import_dir(&dir, &mut |_, _| {}).unwrap();
    s
}

fn connect(db: &TestDb) -> Store {
    Database::connect(&db.url)
        .unwrap()
        .with_model(model())
        .unwrap()
        .0
}

fn engine(s: &mut Store) -> Engine<'_> {
    Engine::new(s, Actor::local_admin())
}

fn ids(plan: &Plan, outcome: Outcome) -> BTreeSet<i64> {
    plan.customers
        .iter()
        .filter(|c| c.outcome == outcome)
        .map(|c| c.id)
        .collect()
}

/// Work for one connection of a trial.
type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// Runs each closure on its own connection, all started together.
fn together(db: &TestDb, jobs: Vec<Job>) {
    let barrier = Arc::new(Barrier::new(jobs.len()));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let mut s = connect(db);
            let b = Arc::clone(&barrier);
            std::thread::spawn(move || {
                b.wait();
                job(&mut s);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// The checks after every trial: the state is whole and one a serial order gives.
fn check_serial(s: &mut Store, what: &str) {
    assert!(audit::verify(s.db()).unwrap().ok, "{what}: the audit chain");
    assert_eq!(
        count(
            s,
            "SELECT count(*) FROM customers WHERE (deleted_at IS NOT NULL AND status <> 'deleted') OR (status = 'active' AND (deactivated_on IS NOT NULL OR deactivation_reason IS NOT NULL))"
        ),
        0,
        "{what}: a torn customer"
    );
    assert_eq!(
        count(
            s,
            "SELECT count(*) FROM \"order\" o WHERE o.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)"
        ),
        0,
        "{what}: an orphaned order"
    );
    // Each customer is what the last audit entry about it says (the log's order is the
    // order the changes committed in).
    let mut last: BTreeMap<i64, String> = BTreeMap::new();
    let mut entries = audit::list(s.db(), None, None).unwrap();
    entries.reverse();
    for e in entries {
        if let Some(id) = e.customer_id {
            if e.operation != "create-record" {
                last.insert(id, e.operation.clone());
            }
        }
    }
    for (id, op) in last {
        let status = s.find_customer(id).unwrap().map(|c| c.status.name());
        let expected: &[Option<&str>] = match op.as_str() {
            "deactivate" => &[Some("deactivated")],
            "reactivate" => &[Some("active")],
            "delete" => &[Some("deleted")],
            "undelete" => &[Some("active"), Some("deactivated")],
            "purge" => &[None],
            _ => continue,
        };
        assert!(
            expected.contains(&status),
            "{what}: customer {id} is {status:?} but its last entry is `{op}`"
        );
    }
}

conformance!(
    a_purge_and_undeletes_at_once_lose_no_undeleted_customer,
    |db: TestDb| {
        let mut rng = Rng(seed());
        for trial in 0..trials() {
            let trial_db = TestDb::new(db.backend).unwrap();
            let mut s = fresh(&trial_db, "deleted");
            let order = rng.shuffled((1..=N).collect());
            let undeleted = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
            let purged = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
            let (u, p) = (Arc::clone(&undeleted), Arc::clone(&purged));
            together(
                &trial_db,
                vec![
                    Box::new(move |s| {
                        let plan = engine(s).purge(false).unwrap();
                        p.lock().unwrap().extend(ids(&plan, Outcome::Proceeds));
                    }),
                    Box::new(move |s| {
                        for id in order {
                            // A customer the purge erased first is gone: an error naming it.
                            if let Ok(plan) = engine(s).undelete(&[id], false) {
                                u.lock().unwrap().extend(ids(&plan, Outcome::Proceeds));
                            }
                        }
                    }),
                ],
            );
            let what = format!("trial {trial}");
            for id in undeleted.lock().unwrap().iter() {
                let c = s.find_customer(*id).unwrap();
                assert!(
                    c.is_some_and(|c| c.status.name() == "active"),
                    "{what}: customer {id} was undeleted, then lost"
                );
            }
            for id in purged.lock().unwrap().iter() {
                assert!(
                    s.find_customer(*id).unwrap().is_none(),
                    "{what}: {id} purged"
                );
            }
            assert!(undeleted
                .lock()
                .unwrap()
                .is_disjoint(&purged.lock().unwrap()));
            check_serial(&mut s, &what);
        }
    }
);

conformance!(
    a_mass_deactivation_and_new_open_orders_never_leave_one_behind,
    |db: TestDb| {
        let mut rng = Rng(seed() ^ 1);
        for trial in 0..trials() {
            let trial_db = TestDb::new(db.backend).unwrap();
            let mut s = fresh(&trial_db, "active");
            let order = rng.shuffled((1..=N).collect());
            together(
                &trial_db,
                vec![
                    Box::new(|s| {
                        let all: Vec<i64> = (1..=N).collect();
                        let opts = DeactivateOptions {
                            reason: Some("Moved away".into()),
                            open_items: None,
                            ..Default::default()
                        };
                        engine(s).deactivate(&all, &opts, false).unwrap();
                    }),
                    Box::new(move |s| {
                        for id in order {
                            let cells = vec![
                                ("customer_id".to_string(), id.to_string()),
                                ("stage".to_string(), "OPEN".to_string()),
                                ("total".to_string(), "10".to_string()),
                            ];
                            // Refused once the customer is deactivated.
                            let _ = engine(s).create_record("order", &cells);
                        }
                    }),
                ],
            );
            let what = format!("trial {trial}");
            assert_eq!(
            count(
                &mut s,
                "SELECT count(*) FROM customers c WHERE c.status = 'deactivated' AND EXISTS (SELECT 1 FROM \"order\" o WHERE o.customer_id = c.id AND o.stage = 'OPEN')"
            ),
            0,
            "{what}: a customer was deactivated with an open order"
        );
            check_serial(&mut s, &what);
        }
    }
);

conformance!(
    three_purges_at_once_erase_each_customer_once,
    |db: TestDb| {
        for trial in 0..trials() {
            let trial_db = TestDb::new(db.backend).unwrap();
            let mut s = fresh(&trial_db, "deleted");
            let done = Arc::new(std::sync::Mutex::new(Vec::new()));
            let jobs: Vec<Job> = (0..3)
                .map(|_| {
                    let d = Arc::clone(&done);
                    Box::new(move |s: &mut Store| {
                        let plan = engine(s).purge(false).unwrap();
                        d.lock().unwrap().extend(ids(&plan, Outcome::Proceeds));
                    }) as Job
                })
                .collect();
            together(&trial_db, jobs);
            let mut erased = done.lock().unwrap().clone();
            erased.sort_unstable();
            assert_eq!(
                erased,
                (1..=N).collect::<Vec<_>>(),
                "trial {trial}: each once"
            );
            assert_eq!(count(&mut s, "SELECT count(*) FROM customers"), 0);
            assert_eq!(
                count(
                    &mut s,
                    "SELECT count(*) FROM offboard_audit WHERE operation = 'purge'"
                ),
                N
            );
            check_serial(&mut s, &format!("trial {trial}"));
        }
    }
);

conformance!(
    merges_and_transfers_never_move_records_into_a_deleted_customer,
    |db: TestDb| {
        let mut rng = Rng(seed() ^ 2);
        for trial in 0..trials() {
            let trial_db = TestDb::new(db.backend).unwrap();
            let mut s = fresh(&trial_db, "active");
            let pairs: Vec<(i64, i64, bool)> = (0..N)
                .map(|_| {
                    let a = 1 + rng.below(N as u64) as i64;
                    let b = 1 + rng.below(N as u64) as i64;
                    (a, b, rng.below(2) == 0)
                })
                .filter(|(a, b, _)| a != b)
                .collect();
            let deletes = rng.shuffled((1..=N).collect());
            together(
                &trial_db,
                vec![
                    Box::new(move |s| {
                        for (a, b, merge) in pairs {
                            let _ = if merge {
                                engine(s).merge(a, b, false)
                            } else {
                                engine(s).transfer(a, b, None, false)
                            };
                        }
                    }),
                    Box::new(move |s| {
                        for id in deletes.into_iter().take(N as usize / 2) {
                            let _ = engine(s).delete(&[id], false);
                        }
                    }),
                ],
            );
            let what = format!("trial {trial}");
            // In the log's order: no move into a customer after its delete.
            let mut entries = audit::list(s.db(), None, None).unwrap();
            entries.reverse();
            let mut deleted = BTreeSet::new();
            for e in entries {
                // The receiving side's entry names where the records came from.
                let received = e.details.get("from").or(e.details.get("merged")).is_some();
                match (e.operation.as_str(), e.customer_id) {
                    ("delete", id) => {
                        deleted.insert(id);
                    }
                    ("transfer" | "merge", Some(t)) if received => assert!(
                        !deleted.contains(&Some(t)),
                        "{what}: records moved into customer {t} after it was deleted"
                    ),
                    _ => {}
                }
            }
            check_serial(&mut s, &what);
        }
    }
);

conformance!(
    deletes_and_deactivations_at_once_end_as_the_last_one_said,
    |db: TestDb| {
        let mut rng = Rng(seed() ^ 3);
        for trial in 0..trials() {
            let trial_db = TestDb::new(db.backend).unwrap();
            let mut s = fresh(&trial_db, "active");
            let a = rng.shuffled((1..=N).collect());
            let b = rng.shuffled((1..=N).collect());
            together(
                &trial_db,
                vec![
                    Box::new(move |s| {
                        for chunk in a.chunks(5) {
                            let opts = DeactivateOptions {
                                reason: Some("Moved away".into()),
                                open_items: None,
                                ..Default::default()
                            };
                            engine(s).deactivate(chunk, &opts, false).unwrap();
                        }
                    }),
                    Box::new(move |s| {
                        for chunk in b.chunks(5) {
                            engine(s).delete(chunk, false).unwrap();
                        }
                    }),
                ],
            );
            let what = format!("trial {trial}");
            assert_eq!(
                count(
                    &mut s,
                    "SELECT count(*) FROM customers WHERE status = 'deleted'"
                ),
                N,
                "{what}: every delete holds (a deactivation after it skips the customer)"
            );
            check_serial(&mut s, &what);
        }
    }
);
