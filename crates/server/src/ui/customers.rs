//! Customers: the list with views, search, paging and bulk actions; one customer with what
//! blocks deactivating it, its records by kind, moving its data, and editing it (also in the
//! recycle bin, to correct reports); adding customers; deleting records.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::records::RecordSelection;
use offboard_model::model::{Operation, PurgeMode, Status, View};
use offboard_store::customers::NewCustomer;

use super::{
    cell_text, error_page, field, form, ids, may, render, ui, ui_heavy, url_part, BlockerView,
};
use crate::requests::ListParams;
use crate::{ApiError, AppState};

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let counts = state.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let actor = e.actor().clone();
        let may = may(e);
        let mut s = e.read();
        let (query, list, total, exact) = params.fetch(&mut s, counts.counts())?;
        let cleanup = s.model().purge != PurgeMode::None;
        let kinds = s.model().customer.kinds.clone();
        Ok((actor, query, list, (total, exact), cleanup, kinds, may))
    })
    .await;
    let (actor, query, list, (total, exact), cleanup, kinds, may) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let views: Vec<Value> = ["active", "deactivated", "current", "deleted", "all"]
        .iter()
        .map(|v| {
            let label = if *v == "deleted" {
                "deleted (recycle bin)"
            } else {
                v
            };
            json!({ "name": v, "label": label, "on": query.view.name() == *v })
        })
        .collect();
    let allowed = |op: &str| may[op].as_bool().unwrap_or(false);
    let actions: &[(&str, &str)] = match query.view {
        View::Deleted => &[("undelete", "Undelete selected")],
        View::Deactivated => &[
            ("reactivate", "Reactivate selected"),
            ("delete", "Delete selected…"),
        ],
        _ => &[
            ("deactivate", "Deactivate selected…"),
            ("delete", "Delete selected…"),
        ],
    };
    // Only what this user may do is offered.
    let actions: Vec<&(&str, &str)> = actions.iter().filter(|(op, _)| allowed(op)).collect();
    let last = query.offset.saturating_add(list.len() as u64);
    let search = query.search.clone().unwrap_or_default();
    let next = (last < total.max(0) as u64).then(|| {
        let mut url = format!(
            "/customers?view={}&offset={last}&search={}",
            query.view.name(),
            url_part(&search)
        );
        if let Some(k) = &query.kind {
            url.push_str(&format!("&kind={}", url_part(k)));
        }
        url
    });
    render(
        "customers.html",
        "Customers",
        Some(&actor),
        json!({
            "views": views,
            "view": query.view.name(),
            "search": search,
            "first": if list.is_empty() { 0 } else { query.offset + 1 },
            "last": last,
            "total": total,
            "total_exact": exact,
            "customers": list,
            "actions": actions,
            "can_add": allowed("edit") && matches!(query.view, View::Active | View::Current | View::All),
            "kinds": kinds,
            "cleanup": query.view == View::Deleted && cleanup && allowed("purge"),
            "next": next,
        }),
    )
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = ui_heavy(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let actor = e.actor().clone();
        let may = may(e);
        let c = e.read().customer(id)?;
        // At a glance: what would block deactivating it (a dry run, nothing changes).
        let blocking: Vec<BlockerView> =
            if c.status == Status::Active && e.allow(Operation::Deactivate).is_ok() {
                e.deactivate(&[id], &Default::default(), true)?
                    .customers
                    .first()
                    .map(|p| p.blockers.iter().map(BlockerView::from).collect())
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
        let cleanup = cleanup_verdict(e, &c)?;
        let mut records = Vec::new();
        for (kind, n) in e.read().customer_record_counts(id)? {
            let mut s = e.read();
            let mut rows = Vec::new();
            if n > 0 {
                s.customer_records(&kind, id, Some(20), &mut |r| {
                    rows.push(r);
                    Ok(())
                })?;
            }
            let columns: Vec<String> = rows
                .first()
                .map(|r| r.values.keys().cloned().collect())
                .unwrap_or_default();
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| json!({ "id": r.id, "cells": r.values.values().map(cell_text).collect::<Vec<_>>() }))
                .collect();
            let deletable = e.allow_record(Operation::RecordDelete, &kind).is_ok();
            records.push(json!({
                "kind": kind,
                "deletable": deletable,
                "count": n,
                "columns": columns,
                "more": (n - rows.len() as i64).max(0),
                "rows": rows,
            }));
        }
        Ok((actor, c, records, blocking, may, cleanup))
    })
    .await;
    let (actor, c, records, blocking, may, cleanup) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut details = vec![
        ("number".to_string(), c.number.clone()),
        ("kind".to_string(), c.kind.clone()),
        ("status".to_string(), c.status.to_string()),
        ("email".to_string(), c.email.clone().unwrap_or_default()),
    ];
    if c.status == Status::Deactivated {
        details.push(("deactivated on".into(), c.deactivated_on.to_cell()));
        details.push((
            "reason".into(),
            c.deactivation_reason.clone().unwrap_or_default(),
        ));
    }
    if c.status == Status::Deleted {
        details.push(("deleted at".into(), c.deleted_at.to_cell()));
    }
    let mut fields = vec![
        ("name".to_string(), c.name.clone()),
        ("number".to_string(), c.number.clone()),
        ("email".to_string(), c.email.clone().unwrap_or_default()),
    ];
    for (k, v) in &c.fields {
        details.push((k.clone(), cell_text(v)));
        fields.push((k.clone(), cell_text(v)));
    }
    render(
        "customer.html",
        &format!("{} {}", c.number, c.name),
        Some(&actor),
        json!({
            "c": { "id": c.id, "status": c.status },
            "details": details,
            "fields": fields,
            "blocking": blocking,
            "records": records,
            "may": may,
            "cleanup": cleanup,
        }),
    )
}

/// Most deleted customers a customer's page plans the whole cleanup for, to say whether it
/// would erase this one: the answer depends on every other deleted customer (the orphan
/// fixpoint), so beyond this the page points to the cleanup's preview instead.
const CLEANUP_PREVIEW_LIMIT: i64 = 20_000;

/// For a customer in the recycle bin: would the cleanup erase it, and if not, why not.
fn cleanup_verdict(
    e: &mut offboard_engine::Engine<'_>,
    c: &offboard_store::customers::Customer,
) -> Result<Value, ApiError> {
    if c.status != Status::Deleted
        || e.read().model().purge == PurgeMode::None
        || e.allow(Operation::Purge).is_err()
    {
        return Ok(Value::Null);
    }
    let deleted = e.read().stats()?.customers.deleted;
    if deleted > CLEANUP_PREVIEW_LIMIT {
        return Ok(json!({ "large": deleted }));
    }
    let plan = e.purge(true)?;
    Ok(match plan.customers.iter().find(|p| p.id == c.id) {
        Some(p) => json!({
            "outcome": match p.outcome {
                offboard_engine::Outcome::Proceeds => "erased",
                offboard_engine::Outcome::Blocked => "blocked",
                offboard_engine::Outcome::Skipped | offboard_engine::Outcome::Deactivated => {
                    "skipped"
                }
            },
            "why": p.why,
            "blockers": p.blockers.iter().map(BlockerView::from).collect::<Vec<_>>(),
        }),
        // Deleted too recently for the model's retention.
        None => json!({ "outcome": "waiting" }),
    })
}

/// Saves what changed in the edit form (an untouched field is not rewritten or audited).
pub async fn edit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let posted = form(&body);
    let result = ui(&state, &headers, move |e| {
        let before = e.read().customer(id)?;
        let current = |k: &str| -> String {
            match k {
                "name" => before.name.clone(),
                "number" => before.number.clone(),
                "email" => before.email.clone().unwrap_or_default(),
                other => before.fields.get(other).map(cell_text).unwrap_or_default(),
            }
        };
        let changes: Vec<(String, String)> = posted
            .into_iter()
            .filter(|(k, v)| *v != current(k))
            .collect();
        if !changes.is_empty() {
            e.update_customer(id, &changes)?;
        }
        Ok(())
    })
    .await;
    match result {
        Ok(()) => Redirect::to(&format!("/customers/{id}")).into_response(),
        Err(r) => r,
    }
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let new = NewCustomer {
        kind: field(&f, "kind").unwrap_or_default(),
        name: field(&f, "name").unwrap_or_default(),
        number: field(&f, "number"),
        email: field(&f, "email"),
        fields: Vec::new(),
    };
    match ui(&state, &headers, move |e| Ok(e.create_customer(new)?)).await {
        Ok(c) => Redirect::to(&format!("/customers/{}", c.id)).into_response(),
        Err(r) => r,
    }
}

/// Which records a record-deletion form names, and the page to go back to.
#[derive(Deserialize)]
pub struct RecordChoice {
    ids: String,
    customer: Option<i64>,
}

/// Asks before deleting records: the deletion planned (a dry run), with what blocks it, and
/// the button that deletes only when nothing does.
pub async fn preview_delete_records(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(choice): Query<RecordChoice>,
) -> Response {
    let chosen: Vec<i64> = choice
        .ids
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if chosen.is_empty() {
        return error_page(ApiError::bad_request("no records chosen"));
    }
    let back = choice
        .customer
        .map_or_else(|| "/customers".to_string(), |c| format!("/customers/{c}"));
    let ids_text = super::id_list(&chosen);
    let customer = choice.customer;
    let result = ui_heavy(&state, &headers, move |e| {
        let plan = e.delete_records(&kind, &RecordSelection::Ids(chosen), true)?;
        // Whose records they are, as the office knows the customer: number and name.
        let owner = match customer {
            Some(id) => e
                .read()
                .find_customer(id)?
                .map(|c| format!("{} {}", c.number, c.name)),
            None => None,
        };
        Ok((e.actor().clone(), plan, owner))
    })
    .await;
    match result {
        Ok((actor, plan, owner)) => render(
            "records_deleted.html",
            "Delete records?",
            Some(&actor),
            json!({
                "preview": true,
                "owner": owner,
                "kind": plan.kind,
                "ids": ids_text,
                "customer": choice.customer,
                "deleted": plan.candidates,
                "blocked": plan.blocked,
                "back": back,
            }),
        ),
        Err(r) => r,
    }
}

/// Deletes records after the preview; the engine refuses, naming why, what something still
/// depends on or what is not the newest.
pub async fn delete_records(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let chosen = ids(&f);
    if chosen.is_empty() {
        return error_page(ApiError::bad_request("no records chosen"));
    }
    let back = field(&f, "customer")
        .and_then(|c| c.parse::<i64>().ok())
        .map_or_else(|| "/customers".to_string(), |c| format!("/customers/{c}"));
    let result = ui_heavy(&state, &headers, move |e| {
        let plan = e.delete_records(&kind, &RecordSelection::Ids(chosen), false)?;
        Ok((e.actor().clone(), plan))
    })
    .await;
    match result {
        Ok((actor, plan)) => render(
            "records_deleted.html",
            "Delete records",
            Some(&actor),
            json!({ "kind": plan.kind, "deleted": plan.deleted, "blocked": plan.blocked, "back": back }),
        ),
        Err(r) => r,
    }
}
