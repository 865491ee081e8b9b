//! Under saturation the server answers 503 with `Retry-After` in the error shape, never a
//! 500, and changes nothing; once the load is gone it answers again.

use std::time::Duration;

use serde_json::json;

use offboard_model::Model;
use offboard_store::{Database, Dialect};
use offboard_testkit::{conformance, TestDb};

use crate::{legal, request, start_with};

conformance!(
    a_burst_past_the_servers_limits_is_answered_503_not_500,
    |db: TestDb| {
        let limits = offboard_server::Limits {
            connections: 1,
            heavy: 1,
            wait: Duration::from_millis(300),
        };
        let s = start_with(&db, "legal", &legal(), |s| s.limits(limits));
        // Another connection holds customer 14 (PostgreSQL: a row lock; SQLite: the write
        // lock), so a deactivation of it waits, holding the server's only connection.
        let model = {
            let mut d = Database::connect(&db.url).unwrap();
            Model::parse("stored", &d.stored_model().unwrap().unwrap()).unwrap()
        };
        let (mut other, _) = Database::connect(&db.url)
            .unwrap()
            .with_model(model)
            .unwrap();
        other.db().begin().unwrap();
        if other.dialect() == Dialect::Postgres {
            other
                .db()
                .batch("SELECT id FROM customers WHERE id = 14 FOR UPDATE")
                .unwrap();
        } else {
            other
                .db()
                .batch("UPDATE customers SET name = name WHERE id = 14")
                .unwrap();
        }
        let (addr, token) = (s.addr, s.admin.clone());
        let slow = std::thread::spawn(move || {
            let auth = format!("Bearer {token}");
            request(
                addr,
                "POST",
                "/api/v1/deactivate",
                &[("Authorization", &auth)],
                r#"{"customers":[14],"reason":"Moved away","open_activities":"complete"}"#,
            )
        });
        std::thread::sleep(Duration::from_millis(300));
        let burst: Vec<_> = (0..12)
            .map(|i| {
                let token = s.admin.clone();
                std::thread::spawn(move || {
                    let auth = format!("Bearer {token}");
                    let (path, body) = if i % 2 == 0 {
                        ("/api/v1/purge", r#"{"dry_run":true}"#)
                    } else {
                        ("/api/v1/stats", "")
                    };
                    let method = if body.is_empty() { "GET" } else { "POST" };
                    request(addr, method, path, &[("Authorization", &auth)], body)
                })
            })
            .collect();
        let replies: Vec<_> = burst.into_iter().map(|h| h.join().unwrap()).collect();
        for r in &replies {
            assert!(r.status < 500 || r.status == 503, "{} {}", r.status, r.body);
            if r.status == 503 {
                assert_eq!(r.json()["error"]["code"], "busy", "{}", r.body);
                assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
            }
        }
        assert!(
            replies.iter().any(|r| r.status == 503),
            "a burst past one connection is refused: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        other.db().commit().unwrap();
        let slow = slow.join().unwrap();
        assert!(
            slow.status == 200 || slow.status == 503,
            "{} {}",
            slow.status,
            slow.body
        );
        // The load is gone: the server answers again.
        let r = s.api("GET", "/api/v1/stats", &s.admin, json!(null));
        assert_eq!(r.status, 200, "{}", r.body);
    }
);
