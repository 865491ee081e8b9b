//! Fresh databases for tests: a SQLite file in a temporary directory, or a new PostgreSQL
//! database on the server named by `OFFBOARD_TEST_POSTGRES` (dropped afterwards).
//!
//! Under CI (`CI=true`) a missing `OFFBOARD_TEST_POSTGRES` is a failure, never a silent skip.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use postgres::{Client, NoTls};

/// The backends a conformance test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    /// Keeps the SQLite directory alive.
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database of `backend`, or `None` when PostgreSQL is not configured (outside CI).
    pub fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                Some(TestDb {
                    url,
                    backend,
                    dir,
                    pg: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_url()?;
                static N: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "offboard_test_{}_{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                );
                let mut client = Client::connect(&admin, NoTls).unwrap_or_else(|e| {
                    panic!("cannot connect to OFFBOARD_TEST_POSTGRES={admin}: {e}")
                });
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .expect("drop an old test database");
                client
                    .batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create a test database");
                let url = with_database(&admin, &name);
                Some(TestDb {
                    url,
                    backend,
                    dir,
                    pg: Some((admin, name)),
                })
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg {
            if let Ok(mut c) = Client::connect(admin, NoTls) {
                let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                // And the databases a restore set aside in its place.
                let aside = c
                    .query(
                        "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                        &[&format!("{name}_replaced_")],
                    )
                    .unwrap_or_default();
                for row in aside {
                    let other: String = row.get(0);
                    let _ = c.batch_execute(&format!(
                        "DROP DATABASE IF EXISTS \"{other}\" WITH (FORCE)"
                    ));
                }
            }
        }
    }
}

/// `OFFBOARD_TEST_POSTGRES`, or `None` outside CI when it is unset. Panics under CI.
pub fn postgres_url() -> Option<String> {
    match std::env::var("OFFBOARD_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") => {
            panic!("CI=true but OFFBOARD_TEST_POSTGRES is not set: the PostgreSQL half of the suite must run")
        }
        _ => {
            eprintln!(
                "note: OFFBOARD_TEST_POSTGRES is not set; skipping the PostgreSQL run of this test"
            );
            None
        }
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    format!("{base}/{name}{query}")
}

/// Runs a test body once per backend. `conformance!(name, |db: TestDb| { ... })` makes
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! conformance {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                if let Some(db) = $crate::TestDb::new($crate::Backend::Sqlite) {
                    ($body)(db);
                }
            }
            #[test]
            fn postgres() {
                if let Some(db) = $crate::TestDb::new($crate::Backend::Postgres) {
                    ($body)(db);
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/x", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1", "t1"),
            "postgres://postgres@127.0.0.1/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t"),
            "postgres://u@h/t?sslmode=disable"
        );
    }
}

/// A small data set per preset for permission matrices: customers 1 and 2 alike and active,
/// 3 deleted; record 1 of `kind` on customer 1; and, where the preset has one, record 1 of
/// `guarded`, a kind with a delete permission of its own.
pub struct PresetData {
    pub name: &'static str,
    pub customers: &'static str,
    pub kind: &'static str,
    pub records: &'static str,
    pub guarded: Option<(&'static str, &'static str)>,
}

impl PresetData {
    /// The CSV files to import: (file name, contents).
    pub fn files(&self) -> Vec<(String, &'static str)> {
        let mut files = vec![
            ("customers.csv".to_string(), self.customers),
            (format!("{}.csv", self.kind), self.records),
        ];
        if let Some((kind, body)) = self.guarded {
            files.push((format!("{kind}.csv"), body));
        }
        files
    }
}

pub const PRESET_DATA: [PresetData; 5] = [
    PresetData {
        name: "erp",
        customers: "id,number,kind,name,status,deleted_at\n1,CU1,company,Acme,active,\n2,CU2,company,Acme Two,active,\n3,CU3,company,Gone,deleted,2024-01-01 00:00:00\n",
        kind: "invoice",
        records: "id,customer_id,number,total,balance,issued_on\n1,1,INV-0000001,100,0,2024-01-01\n",
        guarded: None,
    },
    PresetData {
        name: "legal",
        customers: "id,number,kind,name,status,deleted_at\n1,K1,person,Ann,active,\n2,K2,person,Bo,active,\n3,K3,person,Gone,deleted,2024-01-01 00:00:00\n",
        kind: "note",
        records: "id,customer_id,body\n1,1,hello\n",
        guarded: Some((
            "invoice",
            "id,customer_id,number,total,balance,issued_on\n1,1,INV-0000001,100,0,2024-01-01\n",
        )),
    },
    PresetData {
        name: "lending",
        customers: "id,number,kind,name,status,deleted_at\n1,L1,client,Ann,active,\n2,L2,client,Bo,active,\n3,L3,client,Gone,deleted,2024-01-01 00:00:00\n",
        kind: "monitoring",
        records: "id,customer_id,agent,started_on\n1,1,Cy,2024-01-01\n",
        guarded: None,
    },
    PresetData {
        name: "membership",
        customers: "id,number,kind,name,status,deleted_at\n1,M1,company,Acme,active,\n2,M2,company,Acme Two,active,\n3,M3,company,Gone,deleted,2024-01-01 00:00:00\n",
        kind: "note",
        records: "id,customer_id,body\n1,1,hello\n",
        guarded: None,
    },
    PresetData {
        name: "services",
        customers: "id,number,kind,name,status,deleted_at\n1,1,company,Acme,active,\n2,2,company,Acme Two,active,\n3,3,company,Gone,deleted,2024-01-01 00:00:00\n",
        kind: "note",
        records: "id,customer_id,body\n1,1,hello\n",
        guarded: None,
    },
];

/// Who may, as `V C M A` (viewer, clerk, manager, admin): `y` may, `-` may not.
pub mod may {
    pub const ALL: &str = "yyyy";
    pub const CLERK: &str = "-yyy";
    pub const MANAGER: &str = "--yy";
    pub const ADMIN: &str = "---y";
    pub const NONE: &str = "----";
}
