//! The Requests page: privacy requests as a data-protection officer works them — the list
//! with due dates (overdue in red) and filters, a form to log one, and each request's page
//! with the next step it allows: verify the identity, run it (with what it will do shown
//! first), extend, refuse, complete, and the receipt to download.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::privacy::{receipt_html, LogRequest, Person, RunReport};
use offboard_model::model::Operation;
use offboard_model::Date;
use offboard_store::privacy::{PrivacyRequest, RequestFilter, RequestKind, RequestStatus};
use offboard_store::resolve::Purpose;

use super::{field, form, render, ui, ui_heavy, Viewer};
use crate::{ApiError, AppState};

#[derive(Deserialize, Default)]
pub struct ListParams {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    overdue: Option<String>,
}

fn view(r: &PrivacyRequest) -> Value {
    let mut v = json!(r);
    v["type_label"] = json!(match r.kind {
        RequestKind::Access => "Access (a copy of their data)",
        RequestKind::Erasure => "Erasure",
        RequestKind::Correction => "Correction",
        RequestKind::Restriction => "Restriction (stop using, block)",
    });
    v["status_label"] = json!(match r.status {
        RequestStatus::Received => "Received",
        RequestStatus::Verified => "Identity verified",
        RequestStatus::InProgress => "Done, to be closed",
        RequestStatus::Completed => "Completed",
        RequestStatus::Refused => "Refused",
    });
    v
}

/// `GET /privacy/requests`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Response {
    list_page(&state, &headers, p, None).await
}

async fn list_page(
    state: &AppState,
    headers: &HeaderMap,
    p: ListParams,
    said: Option<String>,
) -> Response {
    let status = p
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(RequestStatus::parse);
    let kind = p
        .kind
        .as_deref()
        .filter(|s| !s.is_empty())
        .and_then(RequestKind::parse);
    let overdue = p.overdue.as_deref() == Some("1");
    let result = ui(state, headers, move |e| {
        let list = e.requests(&RequestFilter {
            status,
            kind,
            overdue,
            open: false,
            customer_id: None,
        })?;
        let open = e.requests(&RequestFilter {
            open: true,
            ..RequestFilter::default()
        })?;
        let users: Vec<String> = e.read().users()?.into_iter().map(|u| u.name).collect();
        Ok((
            Viewer::of(e),
            list,
            open.len(),
            open.iter().filter(|r| r.overdue).count(),
            users,
            e.allow(Operation::Privacy).is_ok(),
        ))
    })
    .await;
    let (viewer, list, open, overdue_n, users, runs) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let failed = said.is_some();
    let mut page = render(
        "requests.html",
        "Privacy requests",
        Some(&viewer),
        json!({
            "requests": list.iter().map(view).collect::<Vec<_>>(),
            "open": open,
            "overdue": overdue_n,
            "users": users,
            "runs": runs,
            "today": offboard_model::DateTime::now().date().to_string(),
            "filter": { "status": status.map(|s| s.name()), "type": kind.map(|k| k.name()), "overdue": overdue },
            "statuses": RequestStatus::ALL.map(|s| s.name()),
            "types": RequestKind::ALL.map(|k| k.name()),
            "error": said,
        }),
    );
    if failed {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

/// `POST /privacy/requests`: logs one from the page's form.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body);
    let get = |k: &str| field(&f, k);
    let (kind, who, name, received, assignee, notes) = (
        get("type").unwrap_or_default(),
        get("who").unwrap_or_default(),
        get("name"),
        get("received"),
        get("assignee"),
        get("notes"),
    );
    let result = ui(&state, &headers, move |e| {
        let Some(kind) = RequestKind::parse(&kind) else {
            return Ok(Err("choose the type of request".to_string()));
        };
        let person = if who.contains('@') || who.starts_with('+') {
            Person::Contact(who.clone())
        } else if who.is_empty() {
            return Ok(Err(
                "give the person's email or phone, or the customer's number".to_string(),
            ));
        } else {
            match e.read().resolve_customer(&who, Purpose::Read) {
                Ok(r) => Person::Customer(r.customer.id),
                Err(err) => return Ok(Err(err.to_string())),
            }
        };
        let received_on = match received.as_deref() {
            Some(d) => match Date::parse(d) {
                Some(d) => Some(d),
                None => return Ok(Err(format!("{d} is not a date (YYYY-MM-DD)"))),
            },
            None => None,
        };
        match e.log_request(LogRequest {
            kind,
            person,
            requester: name,
            received_on,
            assignee,
            notes,
        }) {
            Ok(r) => Ok(Ok(r.id)),
            Err(offboard_engine::EngineError::Refused(m)) => Ok(Err(m)),
            Err(err) => Err(ApiError::from(err)),
        }
    })
    .await;
    match result {
        Ok(Ok(id)) => Redirect::to(&format!("/privacy/requests/{id}")).into_response(),
        Ok(Err(message)) => list_page(&state, &headers, ListParams::default(), Some(message)).await,
        Err(r) => r,
    }
}

/// `GET /privacy/requests/{id}`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    request_page(&state, &headers, id, None).await
}

async fn request_page(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
    said: Option<Result<String, String>>,
) -> Response {
    let result = ui_heavy(state, headers, move |e| {
        let r = e.request(id)?;
        let runs = e.allow(Operation::Privacy).is_ok();
        // What running it would do, shown before the button that does it.
        let preview = if runs && r.status == RequestStatus::Verified && r.customer_id.is_some() {
            match e.run_request(id, &[], true) {
                Ok(RunReport { request, .. }) => request.outcome,
                Err(offboard_engine::EngineError::Refused(m)) => Some(json!({ "refused": m })),
                Err(err) => return Err(ApiError::from(err)),
            }
        } else {
            None
        };
        let customer = match r.customer_id {
            Some(c) => e
                .read()
                .find_customer(c)?
                .map(|c| json!({ "id": c.id, "number": c.number, "name": c.name })),
            None => None,
        };
        let users: Vec<String> = e.read().users()?.into_iter().map(|u| u.name).collect();
        Ok((Viewer::of(e), r, runs, preview, customer, users))
    })
    .await;
    let (viewer, r, runs, preview, customer, users) = match result {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let refused = matches!(said, Some(Err(_)));
    let said = said.map(|s| match s {
        Ok(m) => json!({ "ok": true, "message": m }),
        Err(m) => json!({ "ok": false, "message": m }),
    });
    let mut page = render(
        "request.html",
        &format!("Privacy request {id}"),
        Some(&viewer),
        json!({
            "r": view(&r),
            "runs": runs,
            "preview": preview,
            "plan": preview.as_ref().and_then(|p| p["fingerprint"].as_str().map(str::to_string)),
            "customer": customer,
            "users": users,
            "said": said,
            "outcome": r.outcome.as_ref().map(|o| serde_json::to_string_pretty(o).unwrap_or_default()),
        }),
    );
    if refused {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

/// `POST /privacy/requests/{id}/{step}`: verify, assign, extend, run, complete, refuse.
pub async fn step(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, step)): Path<(i64, String)>,
    body: axum::body::Bytes,
) -> Response {
    let f = form(&body);
    let text = |k: &str| field(&f, k).unwrap_or_default();
    let (method, user, reason, plan) = (
        text("method"),
        text("user"),
        text("reason"),
        field(&f, "plan"),
    );
    let result = ui_heavy(&state, &headers, move |e| {
        let done = match step.as_str() {
            "verify" => e
                .verify_request(id, &method)
                .map(|_| ("The identity is recorded as verified.".to_string(), None)),
            "assign" => e
                .assign_request(id, &user)
                .map(|_| (format!("The request is now {user}'s."), None)),
            "extend" => e
                .extend_request(id, &reason)
                .map(|r| (format!("Extended: now due {}.", r.due_on), None)),
            "refuse" => e
                .refuse_request(id, &reason)
                .map(|_| ("Refused; tell the person why.".to_string(), None)),
            "complete" => e.complete_request(id).map(|_| {
                (
                    "Completed. Download the receipt below and send it to the person.".to_string(),
                    None,
                )
            }),
            "run" => {
                e.expect_plan(plan);
                e.run_request(id, &[], false).map(|rep| {
                    let said = match rep.request.kind {
                        RequestKind::Access => "The package was prepared and downloaded; send it to the person, then complete the request.",
                        _ => "Done. Complete the request to seal its receipt.",
                    };
                    (said.to_string(), rep.package)
                })
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown step `{other}`; steps are verify, assign, extend, run, complete, refuse"
                )))
            }
        };
        match done {
            Ok(v) => Ok(Ok(v)),
            Err(offboard_engine::EngineError::Refused(m)) => Ok(Err(m)),
            Err(err @ offboard_engine::EngineError::PlanChanged { .. }) => Ok(Err(format!(
                "{err} — the page now shows what it would do."
            ))),
            Err(err) => Err(ApiError::from(err)),
        }
    })
    .await;
    match result {
        // An access package is handed over as a download; the request's page says so next.
        Ok(Ok((_, Some(package)))) => (
            [
                (header::CONTENT_TYPE, "application/json".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"privacy-request-{id}-package.json\""),
                ),
            ],
            serde_json::to_string_pretty(&package).unwrap_or_default(),
        )
            .into_response(),
        Ok(Ok((message, None))) => request_page(&state, &headers, id, Some(Ok(message))).await,
        Ok(Err(message)) => request_page(&state, &headers, id, Some(Err(message))).await,
        Err(r) => r,
    }
}

/// `GET /privacy/requests/{id}/receipt.json` and `…/receipt.html`.
pub async fn receipt(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, file)): Path<(i64, String)>,
) -> Response {
    let html = match file.as_str() {
        "receipt.json" => false,
        "receipt.html" => true,
        _ => return Redirect::to(&format!("/privacy/requests/{id}")).into_response(),
    };
    let result = ui(&state, &headers, move |e| Ok(e.request(id)?)).await;
    let r = match result {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let Some(receipt) = r.receipt.clone() else {
        return request_page(
            &state,
            &headers,
            id,
            Some(Err("a receipt is made when the request is completed".into())),
        )
        .await;
    };
    let (body, ty) = if html {
        (receipt_html(&r), "text/html; charset=utf-8")
    } else {
        (
            serde_json::to_string_pretty(&receipt).unwrap_or_default(),
            "application/json",
        )
    };
    (
        [
            (header::CONTENT_TYPE, ty.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"privacy-request-{id}-{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}
