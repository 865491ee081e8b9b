//! Customers: the list with views, search, paging and bulk actions; one customer with what
//! blocks deactivating it, its records by kind, moving its data, and editing it (also in the
//! recycle bin, to correct reports); adding customers; deleting records.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{json, Value};

use offboard_model::model::{Operation, PurgeMode, Status, View};
use offboard_store::customers::NewCustomer;

use super::{cell_text, field, form, may, render, ui, ui_heavy, BlockerView, Names, Viewer};
use crate::requests::ListParams;
use crate::{ApiError, AppState};

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    // Where a later page starts in the list (the next page's link says it; keyset paging
    // does not know it otherwise), for "26–50 of 399".
    let at = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "at")
        .and_then(|(_, v)| v.parse::<u64>().ok())
        .filter(|_| params.cursor.as_deref().is_some_and(|c| !c.is_empty()));
    list_page(&state, &headers, params, None, at).await
}

/// The customers list; after a refused "Add a customer", with the form open, the typed
/// values kept and the error next to its field.
async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    params: ListParams,
    added: Option<Edited>,
    at: Option<u64>,
) -> Response {
    let refused = added.is_some();
    let counts = state.clone();
    let asked = params.clone();
    let result = ui(state, headers, move |e| {
        e.allow(Operation::View)?;
        let actor = Viewer::of(e);
        let may = may(e);
        let mut s = e.read();
        let (query, list, total, exact) = asked.fetch(&mut s, counts.counts())?;
        // A search that finds nothing in this view: where it would find something ("1 in
        // Deactivated"), so the person is not left with "No customers match".
        let mut elsewhere: Vec<(String, usize)> = Vec::new();
        if list.is_empty() && query.search.is_some() && query.view != View::All {
            let all = offboard_store::customers::ListQuery {
                view: View::All,
                limit: Some(100),
                offset: 0,
                after: None,
                after_value: None,
                ids: None,
                ..query.clone()
            };
            s.list_customers(&all, &mut |c| {
                let status = c.status.name().to_string();
                match elsewhere.iter_mut().find(|(st, _)| *st == status) {
                    Some((_, n)) => *n += 1,
                    None => elsewhere.push((status, 1)),
                }
                Ok(())
            })?;
        }
        // In the recycle bin: who deleted each one (one query for the page).
        let deleted_by = if query.view == View::Deleted {
            let ids: Vec<i64> = list.iter().map(|c| c.id).collect();
            s.deleted_by(&ids)?
        } else {
            Default::default()
        };
        let cleanup = s.model().purge != PurgeMode::None;
        let kinds = s.model().customer.kinds.clone();
        Ok((
            actor,
            query,
            list,
            (total, exact),
            cleanup,
            kinds,
            may,
            (elsewhere, deleted_by),
        ))
    })
    .await;
    let (actor, query, list, (total, exact), cleanup, kinds, may, (elsewhere, deleted_by)) =
        match result {
            Ok(v) => v,
            Err(r) => return r,
        };
    // A model that never deletes softly has no recycle bin to show (unless one is asked for).
    let soft = state.model().delete == offboard_model::model::DeleteMode::Soft;
    let views: Vec<Value> = ["active", "deactivated", "current", "deleted", "all"]
        .iter()
        .filter(|v| soft || **v != "deleted" || query.view == View::Deleted)
        .map(|v| {
            let label = match *v {
                "active" => "Active",
                "deactivated" => "Deactivated",
                "current" => "Active and deactivated",
                "deleted" => "Recycle bin",
                _ => "All",
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
            ("merge", "Merge selected…"),
        ],
    };
    // Only what this user may do is offered.
    let export: &[(&str, &str)] = &[("export", "Export")];
    let actions: Vec<&(&str, &str)> = actions
        .iter()
        .chain(export)
        .filter(|(op, _)| allowed(op))
        .collect();
    let start = at.unwrap_or(query.offset + 1).max(1);
    let last = (start - 1).saturating_add(list.len() as u64);
    let search = query.search.clone().unwrap_or_default();
    // Pages follow the keyset cursor; the filters and the sort go along.
    let next = ListParams::next_cursor(&query, &list)
        .map(|c| format!("/customers?{}&at={}", params.query_string(&c), last + 1));
    let on_later_page = params.cursor.as_deref().is_some_and(|c| !c.is_empty()) || query.offset > 0;
    let base = |extra: &[(&str, &str)]| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("view", query.view.name());
        if !search.is_empty() {
            q.append_pair("search", &search);
        }
        if let Some(k) = &query.kind {
            q.append_pair("kind", k);
        }
        if let Some(l) = query.limit.filter(|l| *l != 50) {
            q.append_pair("limit", &l.to_string());
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
        q.finish()
    };
    let first_page =
        on_later_page.then(|| format!("/customers?{}", base(&[("sort", &query.sort.name())])));
    // Column headers sort; a second click turns the order round.
    // In the recycle bin: when each customer will be erased (the model's retention after it
    // was deleted; none where no cleanup runs).
    let model = state.model();
    let retention = i64::from(model.purge_retention_days) * 86_400;
    let now = offboard_model::DateTime::now().seconds();
    let purge_schedule = model
        .schedules
        .iter()
        .find(|s| s.run == offboard_model::model::ScheduleRun::Purge)
        .map(|s| s.every);
    let rows: Vec<Value> = list
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
            // An email may wrap before its "@", not in the middle of a word.
            if let Some((local, domain)) = c.email.as_deref().and_then(|e| e.split_once('@')) {
                v["email_at"] = json!([local, domain]);
            }
            if query.view == View::Deleted {
                v["deleted_on"] = json!(match &c.deleted_at {
                    offboard_model::Value::DateTime(d) => super::when(&d.to_string()),
                    offboard_model::Value::Text(t) => super::when(t),
                    _ => "–".to_string(),
                });
                v["deleted_by"] = json!(deleted_by.get(&c.id));
                let text = if model.purge == PurgeMode::None {
                    "kept (no cleanup runs)".to_string()
                } else {
                    let deleted = match &c.deleted_at {
                        offboard_model::Value::DateTime(d) => Some(d.seconds()),
                        offboard_model::Value::Text(t) => {
                            offboard_model::DateTime::parse(t).map(|d| d.seconds())
                        }
                        _ => None,
                    };
                    let eligible = deleted.map_or(now, |d| d + retention);
                    match purge_schedule {
                        // A schedule empties the bin: by the start of the period after the
                        // one in which the customer's retention ends.
                        Some(every) => format!(
                            "by {}",
                            super::when(
                                &every
                                    .next_start(offboard_model::DateTime::from_seconds(
                                        eligible.max(now)
                                    ))
                                    .to_string()
                            )
                        ),
                        None if eligible > now => format!(
                            "from {}",
                            super::when(
                                &offboard_model::DateTime::from_seconds(eligible).to_string()
                            )
                        ),
                        None => "at the next cleanup".to_string(),
                    }
                };
                v["erase"] = json!(text);
            }
            v
        })
        .collect();
    // In the recycle bin: when and by whom each was deleted, newest first on a click.
    let bin: &[(&str, Option<&str>)] = if query.view == View::Deleted {
        &[("Deleted on", Some("deleted_at")), ("Deleted by", None)]
    } else {
        &[]
    };
    let columns: Vec<Value> = [
        ("Number", Some("number")),
        ("Name", Some("name")),
        ("Kind", None),
        ("Status", Some("status")),
        ("Email", None),
    ]
    .iter()
    .chain(bin)
    // In the recycle bin every status is "deleted": its place goes to when and by whom.
    .filter(|(label, _)| !(query.view == View::Deleted && *label == "Status"))
    .map(|(label, key)| match key {
        Some(key) => {
            let on = query.sort.key.name() == *key;
            let desc = on && query.sort.descending;
            let next_sort = if on && !desc {
                format!("-{key}")
            } else {
                key.to_string()
            };
            json!({ "label": label, "sort": true, "on": on, "desc": desc,
                    "href": format!("/customers?{}", base(&[("sort", &next_sort)])) })
        }
        None => json!({ "label": label, "sort": false }),
    })
    .collect();
    let export = |format: &str| {
        format!(
            "/api/v1/customers/export?{}",
            base(&[("sort", &query.sort.name()), ("format", format)])
        )
    };
    let mut page = render(
        "customers.html",
        if query.view == View::Deleted {
            "Recycle bin"
        } else {
            "Customers"
        },
        Some(&actor),
        json!({
            "views": views,
            "view": query.view.name(),
            "elsewhere": elsewhere.iter().map(|(status, n)| json!({
                "href": format!(
                    "/customers?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .append_pair("view", status)
                        .append_pair("search", query.search.as_deref().unwrap_or_default())
                        .finish()
                ),
                "label": if status == "deleted" { "the recycle bin".to_string() } else { human(status) },
                "n": n,
            })).collect::<Vec<_>>(),
            "search": search,
            "first": if list.is_empty() { 0 } else { start },
            "last": last,
            "total": total,
            "total_exact": exact,
            "customers": rows,
            "erase_column": query.view == View::Deleted,
            "actions": actions,
            "can_add": allowed("edit") && matches!(query.view, View::Active | View::Current | View::All),
            "kinds": kinds,
            "cleanup": query.view == View::Deleted && cleanup && allowed("purge") && !list.is_empty(),
            "next": next,
            "first_page": first_page,
            "columns": columns,
            "sort": params.sort.clone().unwrap_or_default(),
            "kind": query.kind.clone().unwrap_or_default(),
            "may_export": allowed("export"),
            "limit": query.limit.unwrap_or(50),
            "export_csv": export("csv"),
            "export_xlsx": export("xlsx"),
            "added": added.map(|a| {
                let value = |k: &str| a.values.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
                json!({
                    "kind": value("kind"), "name": value("name"), "number": value("number"), "email": value("email"),
                    "field": a.field, "error": a.error,
                })
            }),
        }),
    );
    if refused {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    // After a record came back from the bin, the page says so.
    let restored = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "restored")
        .map(|(_, v)| v.into_owned());
    // A merged-away customer's page is its survivor's.
    let merged = super::ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let mut r = e.read();
        Ok(match r.find_customer(id)? {
            Some(_) => None,
            None => r.merged_into(id)?,
        })
    })
    .await;
    match merged {
        Ok(Some(into)) => {
            axum::response::Redirect::permanent(&format!("/customers/{into}")).into_response()
        }
        Ok(None) => page(&state, &headers, id, None, restored).await,
        Err(r) => r,
    }
}

/// An edit that was refused: what the user typed, kept in the form, and why (next to the
/// field it is about, where one is named).
pub(crate) struct Edited {
    values: Vec<(String, String)>,
    field: Option<String>,
    error: String,
}

/// One customer's page; after a refused edit, with the typed values and the error inline.
async fn page(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
    edited: Option<Edited>,
    restored: Option<String>,
) -> Response {
    let refused = edited.is_some();
    let result = ui_heavy(state, headers, move |e| {
        e.allow(Operation::View)?;
        let actor = Viewer::of(e);
        let may = may(e);
        let c = e.read().customer(id)?;
        // At a glance: what would block deactivating it (a dry run, nothing changes).
        let blocking: Vec<BlockerView> =
            if c.status == Status::Active && e.allow(Operation::Deactivate).is_ok() {
                e.deactivate(
                    &[id],
                    &offboard_engine::DeactivateOptions {
                        preview: true,
                        ..Default::default()
                    },
                    true,
                )?
                .customers
                .into_iter()
                .next()
                .map(|p| -> Result<Vec<BlockerView>, ApiError> {
                    let names = Names::of(e, &p.blockers)?;
                    Ok(p.blockers
                        .iter()
                        .map(|b| BlockerView::named(b, &names))
                        .collect())
                })
                .transpose()?
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
            // The kind's columns as people read them: the owner column left out where the
            // owner is this page's customer, links to customers by number and name.
            let model = s.model().clone();
            let cols: Vec<offboard_model::model::Column> = model
                .record(&kind)
                .map(|k| {
                    k.columns()
                        .into_iter()
                        .filter(|c| {
                            c.name != "id"
                                && !(c.name == k.owner.column
                                    && k.owner.target == offboard_model::model::Target::Customer)
                        })
                        .collect()
                })
                .unwrap_or_default();
            let columns: Vec<String> = cols
                .iter()
                .map(|c| {
                    model
                        .record(&kind)
                        .and_then(|k| k.fields.iter().find(|f| f.name == c.name))
                        .and_then(|f| f.label.clone())
                        .unwrap_or_else(|| human(&c.name))
                })
                .collect();
            let heading = model
                .record(&kind)
                .and_then(|k| k.label.clone())
                .unwrap_or_else(|| human(&kind));
            let mut rows_out: Vec<Value> = Vec::new();
            for r in &rows {
                let mut cells = Vec::new();
                for c in &cols {
                    let v = r.values.get(&c.name).cloned().unwrap_or(Value::Null);
                    cells.push(shown(&mut s, &v, c, model.currency.as_deref())?);
                }
                let href = format!("/records/{kind}/{}", r.id);
                let (linked, title) = match model.record(&kind) {
                    Some(k) => (
                        super::records::link_own_cell(k, &cols, &mut cells, &href),
                        super::records::title(k, r),
                    ),
                    None => (false, format!("{} #{}", human(&kind), r.id)),
                };
                rows_out.push(json!({ "id": r.id, "cells": cells, "href": href, "linked": linked, "title": title }));
            }
            let rows = rows_out;
            // A deleted customer's records wait with it in the bin: nothing to delete there.
            let deletable = c.status != Status::Deleted
                && e.allow_record(Operation::RecordDelete, &kind).is_ok();
            records.push(json!({
                "kind": kind,
                "heading": heading,
                "deletable": deletable,
                "count": n,
                "columns": columns,
                "more": (n - rows.len() as i64).max(0),
                "rows": rows,
            }));
        }
        let mut linked = std::collections::HashMap::new();
        let link_columns: Vec<String> = e
            .read()
            .model()
            .customer
            .links
            .iter()
            .map(|l| l.link.column.clone())
            .collect();
        for col in link_columns {
            if let Some(other) = c.fields.get(&col).and_then(Value::as_i64) {
                if let Some(o) = e.read().find_customer(other)? {
                    linked.insert(col, (format!("{} {}", o.number, o.name), other));
                }
            }
        }
        // Who links here: a company's contact persons, its subsidiaries, ...
        let model = e.read().model().clone();
        let linking: Vec<Value> = e
            .read()
            .linked_customers(id, 20)?
            .into_iter()
            .map(|(link, list, total)| {
                // The link's label in the model, else what it says in words.
                let heading = model
                    .customer
                    .links
                    .iter()
                    .find(|l| l.link.name == link)
                    .and_then(|l| l.label.clone())
                    .unwrap_or_else(|| {
                        format!("Customers whose {} this is", human(&link).to_lowercase())
                    });
                json!({
                    "heading": heading,
                    "total": total,
                    "more": (total - list.len() as i64).max(0),
                    "customers": list.iter().map(|c| json!({
                        "id": c.id, "number": c.number, "name": c.name,
                        "kind": human(&c.kind), "status": c.status.name(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        // Its records deleted for good, waiting in the records bin, their values as the
        // record lists show them.
        let mut binned = Vec::new();
        let model = e.read().model().clone();
        for b in e.binned_records(Some(id))? {
            let mut what = Vec::new();
            if let Some(k) = model.record(&b.kind) {
                for c in k
                    .columns()
                    .iter()
                    .filter(|c| c.name != "id" && c.link.is_none())
                {
                    let v = b.record.get(&c.name).cloned().unwrap_or(Value::Null);
                    if v.is_null() {
                        continue;
                    }
                    let label = k
                        .field(&c.name)
                        .and_then(|f| f.label.clone())
                        .unwrap_or_else(|| human(&c.name));
                    let cell = shown(&mut e.read(), &v, c, model.currency.as_deref())?;
                    what.push(format!(
                        "{label}: {}",
                        cell["text"].as_str().unwrap_or_default()
                    ));
                }
            }
            // Named by its number where the kind numbers its records; its values say the rest.
            let number = model
                .record(&b.kind)
                .and_then(|k| k.numbered.as_ref())
                .and_then(|n| b.record.get(&n.field))
                .filter(|v| !v.is_null())
                .map(super::cell_text);
            binned.push(json!({
                "id": b.id,
                "kind": human(&b.kind),
                "number": number,
                "what": what.join(", "),
                "deleted": super::when(&b.deleted_at),
                "by": b.deleted_by,
            }));
        }
        Ok((
            actor,
            c,
            records,
            blocking,
            may,
            cleanup,
            linked,
            (linking, binned),
        ))
    })
    .await;
    let (actor, c, records, blocking, may, cleanup, linked, (linking, binned)) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let row = |label: &str, text: String| json!({ "label": label, "text": text });
    let mut details = vec![
        row("Number", c.number.clone()),
        row("Kind", human(&c.kind)),
        json!({ "label": "Status", "text": human(c.status.name()), "pill": c.status.name() }),
        row("Email", c.email.clone().unwrap_or_default()),
    ];
    if c.status == Status::Deactivated {
        details.push(row(
            "Deactivated on",
            super::when(&c.deactivated_on.to_cell()),
        ));
        details.push(row(
            "Reason",
            c.deactivation_reason.clone().unwrap_or_default(),
        ));
    }
    if c.status == Status::Deleted {
        details.push(row("Deleted at", super::when(&c.deleted_at.to_cell())));
    }
    let mut fields = vec![
        (
            "name".to_string(),
            "Name".to_string(),
            c.name.clone(),
            false,
        ),
        (
            "number".to_string(),
            "Number".to_string(),
            c.number.clone(),
            false,
        ),
        (
            "email".to_string(),
            "Email".to_string(),
            c.email.clone().unwrap_or_default(),
            false,
        ),
    ];
    let model = state.model();
    for (k, v) in &c.fields {
        // A link the customer's kind cannot have (a person's parent company) is not offered:
        // the save would refuse it.
        let inapplicable = model
            .customer
            .links
            .iter()
            .any(|l| &l.link.column == k && !l.kinds.is_empty() && !l.kinds.contains(&c.kind));
        if inapplicable && v.is_null() {
            continue;
        }
        let field = model.customer.fields.iter().find(|f| &f.name == k);
        let label = field
            .and_then(|f| f.label.clone())
            .unwrap_or_else(|| human(k));
        // A link to another customer: its number and name.
        match linked.get(k) {
            Some((text, id)) => details
                .push(json!({ "label": label, "text": text, "href": format!("/customers/{id}") })),
            None => {
                let text = match (field.map(|f| f.ty), v) {
                    (Some(offboard_model::FieldType::Money), Value::Number(n)) => {
                        money_in(n.as_i64().unwrap_or(0), model.currency.as_deref())
                    }
                    (Some(offboard_model::FieldType::Bool), v) => {
                        if v.as_bool() == Some(true) || v.as_i64() == Some(1) {
                            "✓".to_string()
                        } else {
                            "–".to_string()
                        }
                    }
                    _ => cell_text(v),
                };
                details.push(row(&label, text))
            }
        }
        // The form shows a linked customer by number and name, and takes one back so.
        let is_link = model.customer.links.iter().any(|l| &l.link.column == k);
        let value = match linked.get(k) {
            Some((text, _)) => text.clone(),
            None => cell_text(v),
        };
        let pick = is_link;
        let label = field
            .and_then(|f| f.label.clone())
            .unwrap_or_else(|| human(k));
        fields.push((k.clone(), label, value, pick));
    }
    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(name, label, value, pick)| {
            let typed = edited
                .as_ref()
                .and_then(|e| e.values.iter().find(|(k, _)| *k == name))
                .map(|(_, v)| v.clone());
            let error = edited
                .as_ref()
                .filter(|e| e.field.as_deref() == Some(name.as_str()))
                .map(|e| e.error.clone());
            json!({ "name": name, "label": label, "value": typed.unwrap_or(value), "pick": pick, "error": error })
        })
        .collect();
    let edit_error = edited.filter(|e| e.field.is_none()).map(|e| e.error);
    let mut page = render(
        "customer.html",
        &format!("{} {}", c.number, c.name),
        Some(&actor),
        json!({
            "c": { "id": c.id, "status": c.status },
            "details": details,
            "fields": fields,
            "edit_error": edit_error,
            "refused": refused,
            "blocking": blocking,
            "records": records,
            "may": may,
            "cleanup": cleanup,
            "linking": linking,
            "binned": binned,
            "restored": restored,
        }),
    );
    if refused {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

/// A field or column name as a label: `bill_to_id` → "Bill to", `due_on` → "Due on".
pub(crate) fn human(name: &str) -> String {
    let base = name
        .strip_suffix("_id")
        .unwrap_or(name)
        .replace(['_', '-'], " ");
    let mut chars = base.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Minor units as money people read, in the model's currency: `1479670` → "€14,796.70"
/// (EUR), "CHF 14,796.70", or "14,796.70" where the model names none.
pub(crate) fn money_in(cents: i64, currency: Option<&str>) -> String {
    let amount = money(cents);
    let (sign, amount) = match amount.strip_prefix('-') {
        Some(a) => ("-", a.to_string()),
        None => ("", amount),
    };
    match currency {
        Some("EUR") => format!("{sign}€{amount}"),
        Some("USD") => format!("{sign}${amount}"),
        Some("GBP") => format!("{sign}£{amount}"),
        Some(code) => format!("{sign}{code} {amount}"),
        None => format!("{sign}{amount}"),
    }
}

/// Minor units with thousands separators and two decimals: `1479670` → "14,796.70".
pub(crate) fn money(cents: i64) -> String {
    let text = offboard_model::value::format_money(cents);
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text.as_str()),
    };
    let (units, decimals) = rest.split_once('.').unwrap_or((rest, "00"));
    let mut grouped = String::new();
    for (i, ch) in units.chars().enumerate() {
        if i > 0 && (units.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}.{decimals}")
}

/// A record's value as a cell: text, and a link where it names a customer.
pub(crate) fn shown(
    s: &mut offboard_engine::Reader<'_>,
    v: &Value,
    c: &offboard_model::model::Column,
    currency: Option<&str>,
) -> Result<Value, ApiError> {
    use offboard_model::FieldType;
    if v.is_null() {
        return Ok(json!({ "text": "–" }));
    }
    if c.link == Some(offboard_model::model::Target::Customer) {
        if let Some(id) = v.as_i64() {
            let text = match s.find_customer(id)? {
                Some(other) => format!("{} {}", other.number, other.name),
                None => format!("customer {id}"),
            };
            return Ok(json!({ "text": text, "href": format!("/customers/{id}") }));
        }
    }
    // A link to another record (lending's payment to its contract): its number, its page.
    if let Some(offboard_model::model::Target::Record(k)) = &c.link {
        if let Some(id) = v.as_i64() {
            let kind = s.model().record(k).cloned();
            let found = s.records_by_ids(k, &[id])?;
            let text = match (kind, found.first()) {
                (Some(kind), Some(r)) => super::records::title(&kind, r),
                _ => format!("{} #{id}", human(k)),
            };
            return Ok(json!({ "text": text, "href": format!("/records/{k}/{id}") }));
        }
    }
    let text = match (c.ty, v) {
        (FieldType::Money, Value::Number(n)) => money_in(n.as_i64().unwrap_or(0), currency),
        (FieldType::Bool, Value::Bool(b)) => if *b { "✓" } else { "–" }.to_string(),
        (FieldType::Bool, Value::Number(n)) => {
            if n.as_i64() == Some(1) { "✓" } else { "–" }.to_string()
        }
        (FieldType::Date | FieldType::DateTime, Value::String(t)) => super::when(t),
        _ => cell_text(v),
    };
    Ok(json!({ "text": text, "num": matches!(c.ty, FieldType::Money | FieldType::Int) }))
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
    let names = match plan.customers.iter().find(|p| p.id == c.id) {
        Some(p) => Names::of(e, &p.blockers)?,
        None => Names::default(),
    };
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
            "blockers": p.blockers.iter().map(|b| BlockerView::named(b, &names)).collect::<Vec<_>>(),
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
    let typed = posted.clone();
    let result = ui(&state, &headers, move |e| {
        let model = e.read().model().clone();
        let before = e.read().customer(id)?;
        let links: Vec<String> = model
            .customer
            .links
            .iter()
            .map(|l| l.link.column.clone())
            .collect();
        let current = |k: &str| -> String {
            match k {
                "name" => before.name.clone(),
                "number" => before.number.clone(),
                "email" => before.email.clone().unwrap_or_default(),
                other => before.fields.get(other).map(cell_text).unwrap_or_default(),
            }
        };
        // A link to another customer is typed as its number (or picked by name): the id
        // it stands for is what is saved.
        let mut changes: Vec<(String, String)> = Vec::new();
        for (k, v) in posted {
            let v = if links.contains(&k) && !v.trim().is_empty() {
                match super::operations::resolve(
                    e,
                    &v,
                    &format!("for {}", human(&k).to_lowercase()),
                ) {
                    Ok(other) => other.to_string(),
                    Err(err) => return Ok(Err((Some(k), err))),
                }
            } else {
                v
            };
            if v != current(&k) {
                changes.push((k, v));
            }
        }
        if changes.is_empty() {
            return Ok(Ok(()));
        }
        Ok(match e.update_customer(id, &changes) {
            Ok(_) => Ok(()),
            Err(err) => {
                let err = ApiError::from(err);
                // The field the error is about, where it names one.
                let lower = err.message.to_lowercase();
                let field = changes.iter().map(|(k, _)| k.clone()).find(|k| {
                    lower.contains(&format!("`{k}`"))
                        || lower.contains(&format!("{} ", human(k).to_lowercase()))
                        || lower.contains(&format!(" {k} "))
                });
                Err((field, err))
            }
        })
    })
    .await;
    match result {
        Ok(Ok(())) => Redirect::to(&format!("/customers/{id}")).into_response(),
        // Not allowed is not a mistake in the form: 403, not the form again.
        Ok(Err((_, err))) if err.status == axum::http::StatusCode::FORBIDDEN => {
            super::error_page(err)
        }
        Ok(Err((field, err))) => {
            page(
                &state,
                &headers,
                id,
                Some(Edited {
                    values: typed,
                    field,
                    error: super::for_people(&err.message),
                }),
                None,
            )
            .await
        }
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
    let result = ui(&state, &headers, move |e| {
        Ok(e.create_customer(new).map_err(ApiError::from))
    })
    .await;
    match result {
        Ok(Ok(c)) => {
            let to = format!("/customers/{}", c.id);
            if headers.contains_key("hx-request") {
                // htmx follows this to the new customer's page.
                ([("HX-Redirect", to)], "").into_response()
            } else {
                Redirect::to(&to).into_response()
            }
        }
        Ok(Err(err)) if err.status == axum::http::StatusCode::FORBIDDEN => super::error_page(err),
        Ok(Err(err)) => {
            let lower = err.message.to_lowercase();
            let field = ["number", "email", "name", "kind"]
                .into_iter()
                .find(|k| lower.contains(k))
                .map(String::from);
            list_page(
                &state,
                &headers,
                ListParams::default(),
                Some(Edited {
                    values: f,
                    field,
                    error: super::for_people(&err.message),
                }),
                None,
            )
            .await
        }
        Err(r) => r,
    }
}
