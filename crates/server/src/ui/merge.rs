//! The merge wizard: any number of ticked customers into one. The page shows every field's
//! value for each customer with the one that will stay chosen (the survivor's, else the most
//! recent non-empty one) and lets the user pick another, then the plan — what moves, what is
//! repointed, what conflicts and how it is resolved — before the merge is applied.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use offboard_model::model::Operation;

use super::{error_page, form, ids, render, ui_heavy, Viewer};
use crate::{ApiError, AppState};

/// What the wizard was asked: the customers, the survivor, the values chosen.
struct Asked {
    ids: Vec<i64>,
    into: i64,
    /// The survivor the page showed, when the page says.
    shown_into: Option<i64>,
    take: BTreeMap<String, i64>,
}

fn asked(f: &[(String, String)]) -> Result<Asked, ApiError> {
    let mut list = ids(f);
    list.sort_unstable();
    list.dedup();
    if list.len() < 2 {
        return Err(ApiError::bad_request(
            "tick at least two customers to merge (the duplicates and the one that stays)",
        ));
    }
    let into = match super::field(f, "into") {
        Some(v) => v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("`{v}` is not a customer id")))?,
        None => list[0],
    };
    if !list.contains(&into) {
        return Err(ApiError::bad_request(format!(
            "customer {into} is not one of the customers ticked"
        )));
    }
    // The field choices a page showed belong to its survivor: when another survivor was
    // ticked, its own values are the defaults again (never the old survivor's columns).
    let shown = super::field(f, "shown_into").and_then(|v| v.parse::<i64>().ok());
    let mut take = BTreeMap::new();
    for (k, v) in f.iter().filter(|_| shown.is_none_or(|s| s == into)) {
        if let Some(field) = k.strip_prefix("take.") {
            let id = v
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("`{v}` is not a customer id")))?;
            take.insert(field.to_string(), id);
        }
    }
    Ok(Asked {
        ids: list,
        into,
        shown_into: shown,
        take,
    })
}

/// `GET /merge/many?ids=1,2,3[&into=1][&take.email=3]`: the fields, the choice, the plan.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let f: Vec<(String, String)> = form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect();
    let a = match asked(&f) {
        Ok(a) => a,
        Err(e) => return error_page(e),
    };
    let (ids_text, into) = (super::id_list(&a.ids), a.into);
    let result = ui_heavy(&state, &headers, move |e| {
        e.allow(Operation::Merge)?;
        let dups: Vec<i64> = a.ids.iter().copied().filter(|i| *i != a.into).collect();
        let plan = e.merge_many(&dups, a.into, &a.take, true)?;
        let names = super::Names::of_plan(e, &plan, 500)?;
        // A field that links to a customer (a person's company) shows that customer by
        // number and name, not its id.
        let model = e.read().model().clone();
        let link_columns: Vec<String> = model
            .customer
            .links
            .iter()
            .map(|l| l.link.column.clone())
            .collect();
        let mut linked_ids: Vec<i64> = plan
            .merge
            .as_ref()
            .and_then(|m| m["fields"].as_array())
            .into_iter()
            .flatten()
            .filter(|f| link_columns.iter().any(|c| f["field"] == c.as_str()))
            .flat_map(|f| f["candidates"].as_array().into_iter().flatten())
            .filter_map(|c| c["value"].as_i64())
            .collect();
        linked_ids.sort_unstable();
        linked_ids.dedup();
        let mut linked = std::collections::HashMap::new();
        if !linked_ids.is_empty() {
            let mut q = offboard_store::customers::ListQuery::view(offboard_model::model::View::All);
            q.ids = Some(linked_ids);
            e.read().list_customers(&q, &mut |c| {
                linked.insert(c.id, format!("{} {}", c.number, c.name));
                Ok(())
            })?;
        }
        let mut people = Vec::new();
        for id in &a.ids {
            let c = e.read().customer(*id)?;
            people.push(json!({ "id": c.id, "number": c.number, "name": c.name, "status": c.status.name(), "survivor": c.id == a.into }));
        }
        Ok((Viewer::of(e), plan, people, names, (link_columns, linked)))
    })
    .await;
    let (viewer, plan, people, names, (link_columns, linked)) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let merge = plan.merge.clone().unwrap_or(Value::Null);
    let fields: Vec<Value> = merge["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let is_link = link_columns.iter().any(|c| f["field"] == c.as_str());
            let cells: Vec<Value> = people
                .iter()
                .map(|p| {
                    let c = f["candidates"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|c| c["customer"] == p["id"]);
                    let v = c.map(|c| &c["value"]).unwrap_or(&Value::Null);
                    let named = v
                        .as_i64()
                        .filter(|_| is_link)
                        .map(|id| (linked.get(&id).cloned().unwrap_or_else(|| format!("customer {id}")), format!("/customers/{id}")));
                    if let Some((text, href)) = named {
                        return json!({
                            "customer": p["id"],
                            "text": text,
                            "href": href,
                            "chosen": c.is_some_and(|c| c["customer"] == f["winner"]),
                        });
                    }
                    json!({
                        "customer": p["id"],
                        "text": match v { Value::Null => "–".to_string(), Value::String(s) if s.is_empty() => "–".to_string(), Value::String(s) => s.clone(), o => o.to_string() },
                        "chosen": c.is_some_and(|c| c["customer"] == f["winner"]),
                    })
                })
                .collect();
            json!({
                "field": f["field"],
                "label": crate::ui::customers::human(f["field"].as_str().unwrap_or_default()),
                "rule": f["rule"],
                "cells": cells,
            })
        })
        .collect();
    let survivor = people
        .iter()
        .find(|p| p["survivor"] == true)
        .cloned()
        .unwrap_or(Value::Null);
    render(
        "merge_many.html",
        &format!(
            "Merge {} customers into {} {}",
            people.len(),
            survivor["number"].as_str().unwrap_or_default(),
            survivor["name"].as_str().unwrap_or_default()
        ),
        Some(&viewer),
        json!({
            "people": people,
            "ids": ids_text,
            "into": into,
            "fields": fields,
            "conflicts": merge["conflicts"],
            "moves": merge["moves"].as_array().into_iter().flatten().map(|m| {
                let who = people.iter().find(|p| p["id"] == m["customer"]).cloned().unwrap_or(Value::Null);
                let what: Vec<String> = m["records"].as_object().into_iter().flatten().map(|(k, ids)| {
                    let n = ids.as_array().map_or(0, Vec::len);
                    super::plural(n, &crate::ui::customers::human(k).to_lowercase())
                }).collect();
                json!({ "from": format!("{} {}", who["number"].as_str().unwrap_or_default(), who["name"].as_str().unwrap_or_default()), "what": what })
            }).collect::<Vec<_>>(),
            "result": super::operations::plan_view(&plan, &names),
            "fingerprint": plan.fingerprint,
        }),
    )
}

/// `POST /merge/many`: applies the merge as the page showed it.
pub async fn apply(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let a = match asked(&f) {
        Ok(a) => a,
        Err(e) => return error_page(e),
    };
    // Another survivor than the page showed: show the merge into it first, never apply it
    // unseen.
    if a.shown_into.is_some_and(|s| s != a.into) {
        return axum::response::Redirect::to(&format!(
            "/merge/many?ids={}&into={}",
            super::id_list(&a.ids),
            a.into
        ))
        .into_response();
    }
    super::operations::apply(
        &state,
        &headers,
        super::operations::planned(&body),
        "Merged",
        move |e| {
            let dups: Vec<i64> = a.ids.iter().copied().filter(|i| *i != a.into).collect();
            Ok(e.merge_many(&dups, a.into, &a.take, false)?)
        },
    )
    .await
}
