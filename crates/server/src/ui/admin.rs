//! The audit log (with the state of its hash chain) and the settings the model file holds.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use offboard_model::model::Operation;

use super::{render, ui};
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
        let actor = e.actor().clone();
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
            v["details_text"] = json!(e.details.to_string());
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
        Ok((e.actor().clone(), e.read().model().clone(), users))
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
