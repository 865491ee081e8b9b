//! The audit log (with the state of its hash chain) and the settings the model file holds.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use offboard_model::model::Operation;

use super::{render, ui, Viewer};
use crate::AppState;

#[derive(Deserialize)]
pub struct AuditQuery {
    customer: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::Audit)?;
        let actor = Viewer::of(e);
        let mut r = e.read();
        let verified = r.verify_audit()?;
        let list = r.audit(q.customer, Some(500))?;
        Ok((actor, verified, list))
    })
    .await;
    let (actor, verified, list) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let entries: Vec<serde_json::Value> = list
        .iter()
        .map(|e| {
            let mut v = json!(e);
            v["details_text"] = json!(describe(&e.details));
            v["operation_text"] = json!(crate::ui::customers::human(&e.operation));
            v
        })
        .collect();
    render(
        "audit.html",
        "Audit log",
        Some(&actor),
        json!({ "verified": verified, "entries": entries }),
    )
}

pub async fn settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = ui(&state, &headers, |e| {
        e.allow(Operation::View)?;
        let users = if e.allow(Operation::Users).is_ok() {
            e.read().users()?
        } else {
            Vec::new()
        };
        Ok((Viewer::of(e), e.read().model().clone(), users))
    })
    .await;
    let (actor, model, users) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let reasons: Vec<(String, Vec<String>)> = model
        .customer
        .kinds
        .iter()
        .map(|k| (k.clone(), model.customer.reasons_for(k).to_vec()))
        .collect();
    let rules: Vec<serde_json::Value> = model
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "on": r.on.iter().map(|o| o.name()).collect::<Vec<_>>(),
                "message": r.message,
            })
        })
        .collect();
    let permissions: Vec<(&str, Vec<&str>)> = Operation::ALL
        .iter()
        .map(|op| {
            (
                op.name(),
                model
                    .permissions
                    .roles(*op)
                    .iter()
                    .map(|r| r.name())
                    .collect(),
            )
        })
        .collect();
    render(
        "settings.html",
        "Settings",
        Some(&actor),
        json!({
            "model": { "name": model.name, "delete": json!(model.delete), "purge": json!(model.purge) },
            "reasons": reasons,
            "rules": rules,
            "permissions": permissions,
            "users": users,
        }),
    )
}

/// An audit entry's details in words: `{"status": "deactivated", "records": {"activity":
/// {"completed": 2}}}` → "Status: deactivated · Records: Activity: 2 completed".
pub(crate) fn describe(v: &serde_json::Value) -> String {
    use crate::ui::customers::human;
    use serde_json::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    match v {
        Value::Object(map) => {
            // Counts: {"removed": 3, "detached": 1} → "3 removed, 1 detached".
            if !map.is_empty() && map.values().all(Value::is_number) {
                return map
                    .iter()
                    .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            // A change: {"before": "A", "after": "B"} → "A → B".
            if let (Some(b), Some(a), 2) = (map.get("before"), map.get("after"), map.len()) {
                return format!("{} → {}", scalar(b), scalar(a));
            }
            let nested = map.values().any(Value::is_object);
            map.iter()
                .filter_map(|(k, val)| match val {
                    Value::Null | Value::Bool(false) => None,
                    Value::Bool(true) => Some(human(k)),
                    Value::Array(items) if items.is_empty() => None,
                    Value::Array(items) if items.iter().all(|i| !i.is_object()) => Some(format!(
                        "{}: {}",
                        human(k),
                        items.iter().map(scalar).collect::<Vec<_>>().join(", ")
                    )),
                    Value::Array(items) => Some(format!("{}: {}", human(k), items.len())),
                    Value::Object(o) if o.is_empty() => None,
                    Value::Object(_) => Some(format!("{}: {}", human(k), describe(val))),
                    other => Some(format!("{}: {}", human(k), scalar(other))),
                })
                .collect::<Vec<_>>()
                .join(if nested { " · " } else { "; " })
        }
        other => scalar(other),
    }
}
