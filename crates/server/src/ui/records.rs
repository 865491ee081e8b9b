//! Records: one record's page (its fields, its customer and owner, and the records under it,
//! newest first — lending's contract with its payments and processes), and deleting records
//! with a preview of what goes: chosen ones, the newest, all under an owner, or those from a
//! date or time on.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::records::RecordSelection;
use offboard_engine::Engine;
use offboard_model::model::{Operation, RecordKind, Target};
use offboard_model::FieldType;
use offboard_store::records::Record;

use super::customers::{human, shown};
use super::{error_page, form, render, ui, ui_heavy, Viewer};
use crate::ApiError;
use crate::AppState;

/// How many records of a kind a page lists.
const LISTED: u64 = 50;

/// A record as the office names it: "Contract K-000012", "Payment 3", by its first text
/// where the kind numbers none ("Activity: Call back"), else by its date ("Fund movement of
/// 3 Mar 2024"), "Process #88" where it has neither.
pub(crate) fn title(kind: &RecordKind, r: &Record) -> String {
    let name = human(&kind.name);
    let number = kind
        .numbered
        .as_ref()
        .and_then(|n| r.values.get(&n.field))
        .filter(|v| !v.is_null());
    if let Some(v) = number {
        return format!("{name} {}", super::cell_text(v));
    }
    let text = kind
        .fields
        .iter()
        .filter(|f| f.ty == FieldType::Text && f.values.is_none())
        .find_map(|f| r.values.get(&f.name).and_then(Value::as_str))
        .filter(|t| !t.trim().is_empty());
    if let Some(t) = text {
        return format!("{name}: {t}");
    }
    // Else by its date (a fund movement of 3 Mar 2024).
    let day = kind
        .fields
        .iter()
        .filter(|f| matches!(f.ty, FieldType::Date | FieldType::DateTime))
        .find_map(|f| r.values.get(&f.name).and_then(Value::as_str));
    match day {
        Some(d) => format!("{name} of {}", super::when(d)),
        None => format!("{name} #{}", r.id),
    }
}

/// Makes one cell of a record's row the link to its page, as a list's name links to a
/// customer: the record's number where the kind numbers its records, else its first free
/// text, else its first date (an amount only where there is nothing else). Says whether a cell took it (a row of only links keeps an "Open" link).
pub(crate) fn link_own_cell(
    kind: &RecordKind,
    cols: &[offboard_model::model::Column],
    cells: &mut [Value],
    href: &str,
) -> bool {
    let numbered = kind
        .numbered
        .as_ref()
        .and_then(|n| cols.iter().position(|c| c.name == n.field));
    let free = |i: usize| cells.get(i).is_some_and(|c| c.get("href").is_none());
    // Else what names it best: a free text (a subject, a title), a date, anything but an
    // amount — a tick or a status from a list says little.
    let of = |i: usize| {
        cols.get(i)
            .and_then(|c| kind.fields.iter().find(|f| f.name == c.name))
    };
    let text = |i: usize| of(i).is_some_and(|f| f.ty == FieldType::Text && f.values.is_none());
    let date =
        |i: usize| of(i).is_some_and(|f| matches!(f.ty, FieldType::Date | FieldType::DateTime));
    let not_num = |i: usize| {
        cells
            .get(i)
            .is_some_and(|c| c.get("num") != Some(&Value::Bool(true)))
    };
    let n = cells.len();
    let at = numbered
        .filter(|i| free(*i))
        .or_else(|| (0..n).find(|i| free(*i) && text(*i)))
        .or_else(|| (0..n).find(|i| free(*i) && date(*i)))
        .or_else(|| (0..n).find(|i| free(*i) && not_num(*i)))
        .or_else(|| (0..n).find(|i| free(*i)));
    match at.and_then(|i| cells.get_mut(i)) {
        Some(Value::Object(cell)) => {
            cell.insert("href".into(), Value::String(href.to_string()));
            true
        }
        _ => false,
    }
}

/// The columns a table of `kind` shows under `owner_shown` (its owner column left out).
fn columns(kind: &RecordKind) -> Vec<offboard_model::model::Column> {
    kind.columns()
        .into_iter()
        .filter(|c| c.name != "id" && c.name != kind.owner.column)
        .collect()
}

fn label(kind: &RecordKind, column: &str) -> String {
    kind.fields
        .iter()
        .find(|f| f.name == column)
        .and_then(|f| f.label.clone())
        .unwrap_or_else(|| human(column))
}

/// Rows of a table of `kind`, formatted, each linking to its page.
fn rows(e: &mut Engine<'_>, kind: &RecordKind, list: &[Record]) -> Result<Vec<Value>, ApiError> {
    let currency = e.read().model().currency.clone();
    let cols = columns(kind);
    let mut out = Vec::new();
    let mut r = e.read();
    for rec in list {
        let mut cells = Vec::new();
        for c in &cols {
            let v = rec.values.get(&c.name).cloned().unwrap_or(Value::Null);
            cells.push(shown(&mut r, &v, c, currency.as_deref())?);
        }
        let href = format!("/records/{}/{}", kind.name, rec.id);
        let linked = link_own_cell(kind, &cols, &mut cells, &href);
        out.push(json!({ "id": rec.id, "cells": cells, "href": href, "linked": linked, "title": title(kind, rec) }));
    }
    Ok(out)
}

/// `GET /records/{kind}/{id}`.
pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind_name, id)): Path<(String, i64)>,
) -> Response {
    let back = format!("/records/{kind_name}/{id}");
    let kind_shown = kind_name.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let model = e.read().model().clone();
        let kind = offboard_store::records::kind(&model, &kind_name)?.clone();
        let record = e.read().record(&kind_name, id)?;
        let customer = match e.read().record_customer(&kind_name, id)? {
            Some(c) => e.read().find_customer(c)?,
            None => None,
        };
        // The owner, when it is a record (a contract's application).
        let owner = match &kind.owner.target {
            Target::Record(k) => match record
                .values
                .get(&kind.owner.column)
                .and_then(Value::as_i64)
            {
                Some(oid) => {
                    let ok = offboard_store::records::kind(&model, k)?.clone();
                    let o = e.read().record(k, oid)?;
                    Some(json!({ "href": format!("/records/{k}/{oid}"), "text": title(&ok, &o) }))
                }
                None => None,
            },
            Target::Customer => None,
        };
        let mut fields = Vec::new();
        {
            let mut r = e.read();
            for c in columns(&kind) {
                let v = record.values.get(&c.name).cloned().unwrap_or(Value::Null);
                let cell = shown(&mut r, &v, &c, model.currency.as_deref())?;
                fields.push(json!({ "label": label(&kind, &c.name), "cell": cell }));
            }
        }
        // The records under it, newest first, with the deletions the office does.
        let mut children = Vec::new();
        for child in model
            .records
            .iter()
            .filter(|k| k.owner.target == Target::Record(kind_name.clone()))
        {
            let (list, total) = e.read().owner_records(&child.name, id, LISTED)?;
            let deletable = e.allow_record(Operation::RecordDelete, &child.name).is_ok();
            let from_type = child
                .order_by
                .first()
                .and_then(|f| child.fields.iter().find(|x| &x.name == f))
                .map(|f| match f.ty {
                    FieldType::Date => "date",
                    FieldType::DateTime => "datetime-local",
                    FieldType::Int | FieldType::Money => "number",
                    _ => "text",
                });
            let from_label = child.order_by.first().map(|f| label(child, f));
            children.push(json!({
                "kind": child.name,
                "heading": child.label.clone().unwrap_or_else(|| human(&child.name)),
                "one": human(&child.name).to_lowercase(),
                "total": total,
                "more": (total - list.len() as i64).max(0),
                "columns": columns(child).iter().map(|c| label(child, &c.name)).collect::<Vec<_>>(),
                "rows": rows(e, child, &list)?,
                "newest": list.first().map(|r| r.id),
                "ordered": !child.order_by.is_empty(),
                "from_type": from_type,
                "from_label": from_label,
                "deletable": deletable,
            }));
        }
        let deletable = e.allow_record(Operation::RecordDelete, &kind_name).is_ok();
        Ok((
            Viewer::of(e),
            title(&kind, &record),
            customer,
            owner,
            fields,
            children,
            deletable,
        ))
    })
    .await;
    let (actor, heading, customer, owner, fields, children, deletable) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    render(
        "record.html",
        &heading,
        Some(&actor),
        json!({
            "kind": kind_shown,
            "id": id,
            "customer": customer.map(|c| json!({ "id": c.id, "text": format!("{} {}", c.number, c.name) })),
            "owner": owner,
            "fields": fields,
            "children": children,
            "deletable": deletable,
            "back": back,
        }),
    )
}

/// Which records a record-deletion form names — ids, or every record under an owner (from a
/// value of the kind's first ordering field on) — and the page to go back to.
#[derive(Deserialize, Default)]
pub struct RecordChoice {
    ids: Option<String>,
    owner: Option<i64>,
    from: Option<String>,
    /// A customer's page to go back to.
    customer: Option<i64>,
    /// A record's page to go back to (`/records/KIND/ID`).
    back: Option<String>,
}

impl RecordChoice {
    fn from_form(f: &[(String, String)]) -> RecordChoice {
        let get = |k: &str| super::field(f, k);
        RecordChoice {
            ids: get("ids"),
            owner: get("owner").and_then(|v| v.parse().ok()),
            from: get("from"),
            customer: get("customer").and_then(|v| v.parse().ok()),
            back: get("back"),
        }
    }

    fn selection(&self) -> Result<RecordSelection, ApiError> {
        if let Some(owner) = self.owner {
            // A browser's date-time field says 2026-01-31T14:05; the engine reads that too.
            return Ok(RecordSelection::Owner {
                owner,
                from: self.from.clone().filter(|f| !f.trim().is_empty()),
            });
        }
        let ids: Vec<i64> = self
            .ids
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if ids.is_empty() {
            return Err(ApiError::bad_request("no records chosen"));
        }
        Ok(RecordSelection::Ids(ids))
    }

    /// Where to go back to: a page of this UI only.
    fn back(&self) -> String {
        match (&self.back, self.customer) {
            (Some(b), _) if b.starts_with("/records/") && !b.contains("//") => b.clone(),
            (_, Some(c)) => format!("/customers/{c}"),
            _ => "/customers".into(),
        }
    }

    /// The fields that carry it from the preview to the deletion.
    fn hidden(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(i) = &self.ids {
            h.push(("ids", i.clone()));
        }
        if let Some(o) = self.owner {
            h.push(("owner", o.to_string()));
        }
        if let Some(f) = self.from.as_ref().filter(|f| !f.trim().is_empty()) {
            h.push(("from", f.clone()));
        }
        if let Some(c) = self.customer {
            h.push(("customer", c.to_string()));
        }
        if let Some(b) = &self.back {
            h.push(("back", b.clone()));
        }
        h
    }
}

/// Asks before deleting records: what goes (the records, listed), what blocks it, and the
/// button that deletes only when nothing does.
pub async fn preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(choice): Query<RecordChoice>,
) -> Response {
    let selection = match choice.selection() {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let result = ui_heavy(&state, &headers, move |e| {
        let plan = e.delete_records(&kind, &selection, true)?;
        let model = e.read().model().clone();
        let k = offboard_store::records::kind(&model, &kind)?.clone();
        // What goes, as the office reads it (the first of a long list).
        let shown: Vec<i64> = plan.ids.iter().take(LISTED as usize).copied().collect();
        let going = e.read().records_by_ids(&kind, &shown)?;
        let going = rows(e, &k, &going)?;
        let heading = k.label.clone().unwrap_or_else(|| human(&kind));
        let columns: Vec<String> = columns(&k).iter().map(|c| label(&k, &c.name)).collect();
        // Whose records they are, as the office knows the customer: number and name.
        let owner = match plan.ids.first() {
            Some(first) => match e.read().record_customer(&kind, *first)? {
                Some(c) => e
                    .read()
                    .find_customer(c)?
                    .map(|c| format!("{} {}", c.number, c.name)),
                None => None,
            },
            None => None,
        };
        Ok((Viewer::of(e), plan, going, heading, columns, owner))
    })
    .await;
    let (actor, plan, going, heading, columns, owner) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let n = plan.candidates;
    let mut hidden = choice.hidden();
    hidden.push(("plan", plan.fingerprint.clone()));
    render(
        "records_deleted.html",
        &if n == 0 {
            format!("No {} to delete", heading.to_lowercase())
        } else if n == 1 {
            format!("Delete 1 {}?", human(&plan.kind).to_lowercase())
        } else {
            format!("Delete {n} {}?", heading.to_lowercase())
        },
        Some(&actor),
        json!({
            "preview": true,
            "owner": owner,
            "one": human(&plan.kind).to_lowercase(),
            "ids": plan.ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
            "kind": plan.kind,
            "heading": heading,
            "columns": columns,
            "going": going,
            "more": n.saturating_sub(going.len()),
            "hidden": hidden,
            "deleted": n,
            "blocked": plan.blocked,
            "back": choice.back(),
        }),
    )
}

/// Deletes records after the preview; the engine refuses, naming why, what something still
/// depends on or what is not the newest.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let choice = RecordChoice::from_form(&form(&body));
    let selection = match choice.selection() {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let back = choice.back();
    let expected = super::operations::planned(&body);
    let result = ui_heavy(&state, &headers, move |e| {
        e.expect_plan(expected);
        let plan = e.delete_records(&kind, &selection, false)?;
        let label = e
            .read()
            .model()
            .record(&kind)
            .and_then(|k| k.label.clone())
            .unwrap_or_else(|| human(&kind));
        Ok((Viewer::of(e), plan, label))
    })
    .await;
    match result {
        Ok((actor, plan, heading)) => super::changed(render(
            "records_deleted.html",
            &format!("{} deleted", heading),
            Some(&actor),
            json!({
                "kind": plan.kind, "heading": heading, "deleted": plan.deleted, "blocked": plan.blocked, "back": back,
                "what": if plan.deleted == 1 { human(&plan.kind).to_lowercase() } else { heading.to_lowercase() },
            }),
        )),
        Err(r) => r,
    }
}

/// `POST /records/restore` (`entry`, `customer`): a record back from the records bin; the
/// customer's page again, saying what happened.
pub async fn restore(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let f = super::form(&body);
    let entry = super::field(&f, "entry").and_then(|v| v.parse::<i64>().ok());
    let customer = super::field(&f, "customer").and_then(|v| v.parse::<i64>().ok());
    let (Some(entry), Some(customer)) = (entry, customer) else {
        return super::error_page(crate::ApiError::bad_request(
            "say which bin entry to restore, and for which customer",
        ));
    };
    let done = super::ui(&state, &headers, move |e| {
        Ok(e.restore_records(&[entry], false)?)
    })
    .await;
    match done {
        Ok(r) => match r.entries.first().and_then(|x| x.why.clone()) {
            Some(why) => super::error_page(crate::ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "refused",
                format!("the record was not restored: {why}"),
            )),
            None => {
                let what = r
                    .entries
                    .first()
                    .map(|x| format!("{} {}", crate::ui::customers::human(&x.kind), x.record_id))
                    .unwrap_or_else(|| "The record".into());
                let mut q = form_urlencoded::Serializer::new(String::new());
                q.append_pair("restored", &what);
                super::changed(
                    axum::response::Redirect::to(&format!(
                        "/customers/{customer}?{}#records",
                        q.finish()
                    ))
                    .into_response(),
                )
            }
        },
        Err(page) => page,
    }
}
