//! A database from an older offboard, whose audit entries hold a customer's name and values
//! in the chained part itself: an erasure redacts that customer's entries and seals the chain
//! again, so no personal value of it is left and `audit verify` still passes.

use offboard_model::{DateTime, FieldType, Value};
use offboard_store::meta::{get_meta, set_meta};
use offboard_testkit::{conformance, TestDb};
use sha2::{Digest, Sha256};

use crate::helpers::*;

/// The hash every version of offboard chains with (length-prefixed parts).
#[allow(clippy::too_many_arguments)]
fn chain_hash(
    prev: &str,
    seq: i64,
    at: &str,
    actor: &str,
    op: &str,
    cid: Option<i64>,
    number: Option<&str>,
    name: Option<&str>,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        at,
        actor,
        op,
        &cid.map(|c| c.to_string()).unwrap_or_default(),
        number.unwrap_or("\u{0}"),
        name.unwrap_or("\u{0}"),
        "\u{0}",
        details,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends an entry as an older offboard wrote it: name and details in the chain.
fn legacy_entry(
    store: &mut offboard_store::Store,
    cid: i64,
    number: &str,
    name: &str,
    details: serde_json::Value,
) {
    let db = store.db();
    let prev = get_meta(db, "audit_head")
        .unwrap()
        .unwrap_or_else(|| "0".repeat(64));
    let seq = get_meta(db, "audit_count")
        .unwrap()
        .map_or(0, |c| c.parse::<i64>().unwrap())
        + 1;
    let at = DateTime::parse("2025-03-04 10:00:00").unwrap();
    let details = details.to_string();
    let h = chain_hash(
        &prev,
        seq,
        &at.to_string(),
        "old-clerk",
        "edit",
        Some(cid),
        Some(number),
        Some(name),
        &details,
    );
    let ps: Vec<String> = (1..=10)
        .map(|i| offboard_store::db::ph(db.dialect(), i))
        .collect();
    db.execute(
        &format!("INSERT INTO offboard_audit (seq, at, actor, operation, customer_id, customer_number, customer_name, details, prev_hash, hash) VALUES ({})", ps.join(", ")),
        &[
            Value::Int(seq),
            Value::DateTime(at),
            Value::Text("old-clerk".into()),
            Value::Text("edit".into()),
            Value::Int(cid),
            Value::Text(number.into()),
            Value::Text(name.into()),
            Value::Text(details),
            Value::Text(prev),
            Value::Text(h.clone()),
        ],
    )
    .unwrap();
    set_meta(db, "audit_head", &h).unwrap();
    set_meta(db, "audit_count", &seq.to_string()).unwrap();
}

fn mentions(store: &mut offboard_store::Store, text: &str) -> i64 {
    let d = store.db().dialect();
    let p = offboard_store::db::ph(d, 1);
    store
        .db()
        .query_value(
            &format!("SELECT count(*) FROM offboard_audit WHERE customer_name LIKE {p} OR details LIKE {p}"),
            &[Value::Text(format!("%{text}%"))],
            FieldType::Int,
        )
        .unwrap()
        .and_then(|v| v.as_i64())
        .unwrap()
}

conformance!(
    an_erasure_redacts_a_legacy_audit_entry_and_seals_the_chain_again,
    |db: TestDb| {
        let mut s = setup(
            &db,
            "services",
            &[(
                "customers.csv",
                "id,number,kind,name,email,phone,status\n1,1,person,Ann Lee,ann@example.com,+41 11,active\n2,2,person,Bo Ek,bo@example.com,,active\n",
            )],
        );
        legacy_entry(
            &mut s,
            1,
            "1",
            "Ann Lee",
            serde_json::json!({ "changes": { "phone": { "before": "+41 10", "after": "+41 11" } } }),
        );
        legacy_entry(
            &mut s,
            2,
            "2",
            "Bo Ek",
            serde_json::json!({ "changes": { "name": { "before": "Bo E.", "after": "Bo Ek" } } }),
        );
        legacy_entry(
            &mut s,
            1,
            "1",
            "Ann Lee",
            serde_json::json!({ "changes": { "email": { "before": "ann@old.example", "after": "ann@example.com" } } }),
        );
        assert!(
            admin(&mut s).read().verify_audit().unwrap().ok,
            "the legacy chain verifies"
        );
        assert!(mentions(&mut s, "Ann Lee") > 0);
        // A change written by this version after them.
        admin(&mut s).erase_customers(&[1], false).unwrap();
        for text in ["Ann Lee", "+41 10", "ann@old.example", "ann@example.com"] {
            assert_eq!(mentions(&mut s, text), 0, "{text} is still in the log");
        }
        // The other customer's legacy entry is untouched; the chain verifies again.
        assert_eq!(mentions(&mut s, "Bo E."), 1);
        let v = admin(&mut s).read().verify_audit().unwrap();
        assert!(v.ok, "{v:?}");
        let reseal = count(&mut s, "SELECT count(*) FROM offboard_audit WHERE operation = 'reseal' AND details LIKE '%\"redacted\":[1,3]%'");
        assert_eq!(reseal, 1, "the reseal names the redacted entries");
        // A second erasure has nothing legacy left to redact.
        admin(&mut s).erase_customers(&[2], false).unwrap();
        assert_eq!(mentions(&mut s, "Bo E."), 0);
        assert!(admin(&mut s).read().verify_audit().unwrap().ok);
    }
);
