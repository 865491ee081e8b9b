//! Privacy requests and `locate` over HTTP: `/api/v1/privacy/requests` (list, log, show, and
//! each step: verify, assign, extend, run, complete, refuse, receipt),
//! `POST /api/v1/privacy/receipts/verify` and `GET /api/v1/privacy/locate`. The workflow is
//! the engine's (`offboard_engine::privacy`); these are its typed doors.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::privacy::{LogRequest, Person, Target};
use offboard_model::Date;
use offboard_store::privacy::{RequestFilter, RequestKind, RequestStatus};

use crate::api::{act, Body, Caller};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/privacy/requests", get(list).post(add))
        .route("/api/v1/privacy/requests/{id}", get(show))
        .route("/api/v1/privacy/requests/{id}/verify", post(verify))
        .route("/api/v1/privacy/requests/{id}/assign", post(assign))
        .route("/api/v1/privacy/requests/{id}/extend", post(extend))
        .route("/api/v1/privacy/requests/{id}/run", post(run))
        .route("/api/v1/privacy/requests/{id}/complete", post(complete))
        .route("/api/v1/privacy/requests/{id}/refuse", post(refuse))
        .route("/api/v1/privacy/requests/{id}/receipt", get(receipt))
        .route("/api/v1/privacy/receipts/verify", post(verify_receipt))
        .route("/api/v1/privacy/locate", get(locate))
}

pub(crate) fn parse_kind(s: &str) -> Result<RequestKind, ApiError> {
    RequestKind::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown request type `{s}`; types are: access, erasure, correction, restriction"
        ))
    })
}

pub(crate) fn parse_status(s: &str) -> Result<RequestStatus, ApiError> {
    RequestStatus::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown request status `{s}`; statuses are: {}",
            RequestStatus::ALL.map(|x| x.name()).join(", ")
        ))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    overdue: bool,
    #[serde(default)]
    open: bool,
    customer: Option<i64>,
}

/// `GET /api/v1/privacy/requests?status=&type=&overdue=true&open=true&customer=ID`: the
/// most urgent first, each with `due_on` and `overdue`. Needs `edit`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = RequestFilter {
        status: p.status.as_deref().map(parse_status).transpose()?,
        kind: p.kind.as_deref().map(parse_kind).transpose()?,
        overdue: p.overdue,
        open: p.open,
        customer_id: p.customer,
    };
    act(&state, caller, move |e| {
        Ok(Json(json!(e.requests(&filter)?)))
    })
    .await
}

/// `POST /api/v1/privacy/requests`: `{"type": "erasure", "email": "ann@example.com",
/// "name": "Ann", "received_on": "2026-12-01"}` (or `"customer": ID`). Needs `edit`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    #[serde(rename = "type")]
    kind: String,
    email: Option<String>,
    customer: Option<i64>,
    name: Option<String>,
    received_on: Option<String>,
    assignee: Option<String>,
    notes: Option<String>,
}

pub(crate) fn log_request_of(
    kind: &str,
    email: Option<String>,
    customer: Option<i64>,
    name: Option<String>,
    received_on: Option<&str>,
    assignee: Option<String>,
    notes: Option<String>,
) -> Result<LogRequest, ApiError> {
    let person = match (customer, email.filter(|e| !e.trim().is_empty())) {
        (Some(c), None) => Person::Customer(c),
        (None, Some(e)) => Person::Contact(e),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give the customer or the email, not both",
            ))
        }
        (None, None) => {
            return Err(ApiError::bad_request(
                "give the person's email (or phone), or the customer",
            ))
        }
    };
    let received_on = match received_on.filter(|d| !d.is_empty()) {
        Some(d) => Some(Date::parse(d).ok_or_else(|| {
            ApiError::bad_request(format!("received_on `{d}` is not a date (YYYY-MM-DD)"))
        })?),
        None => None,
    };
    Ok(LogRequest {
        kind: parse_kind(kind)?,
        person,
        requester: name,
        received_on,
        assignee: assignee.filter(|a| !a.is_empty()),
        notes,
    })
}

async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<AddBody>,
) -> Result<Json<Value>, ApiError> {
    let new = log_request_of(
        &b.kind,
        b.email,
        b.customer,
        b.name,
        b.received_on.as_deref(),
        b.assignee,
        b.notes,
    )?;
    act(&state, caller, move |e| {
        Ok(Json(json!(e.log_request(new)?)))
    })
    .await
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| Ok(Json(json!(e.request(id)?)))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodBody {
    method: String,
}

/// `POST …/{id}/verify`: `{"method": "ID card seen at the desk"}`. Needs `privacy`.
async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(b): Body<MethodBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.verify_request(id, &b.method)?)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: String,
}

async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(b): Body<UserBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.assign_request(id, &b.user)?)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    reason: String,
}

async fn extend(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(b): Body<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.extend_request(id, &b.reason)?)))
    })
    .await
}

async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(b): Body<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.refuse_request(id, &b.reason)?)))
    })
    .await
}

/// `POST …/{id}/run`: `{"dry_run": true}`, a correction's `{"set": {"email": "…"}}`. An
/// access request answers with the package. Needs `privacy`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunBody {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    set: BTreeMap<String, String>,
}

async fn run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(b): Body<RunBody>,
) -> Result<Json<Value>, ApiError> {
    let cells: Vec<(String, String)> = b.set.into_iter().collect();
    act(&state, caller, move |e| {
        Ok(Json(json!(e.run_request(id, &cells, b.dry_run)?)))
    })
    .await
}

async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.complete_request(id)?)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptParams {
    /// `json` (default) or `html`.
    format: Option<String>,
}

/// `GET …/{id}/receipt?format=json|html`: the receipt of a completed request, as a file.
async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(p): Query<ReceiptParams>,
) -> Result<Response, ApiError> {
    let html = match p.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(f) => {
            return Err(ApiError::bad_request(format!(
                "unknown format `{f}`; formats are json and html"
            )))
        }
    };
    let r = act(&state, caller, move |e| Ok(e.request(id)?)).await?;
    let Some(receipt) = r.receipt.clone() else {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "refused",
            format!(
                "request {id} is {}: a receipt is made when it is completed",
                r.status.name()
            ),
        ));
    };
    let disposition = format!(
        "attachment; filename=\"privacy-request-{id}-receipt.{}\"",
        if html { "html" } else { "json" }
    );
    if html {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            offboard_engine::privacy::receipt_html(&r),
        )
            .into_response());
    }
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(receipt)).into_response())
}

/// `POST /api/v1/privacy/receipts/verify`: the receipt as the body; answers its seal, its
/// place in the audit chain and whether the request holds it. Needs `audit`.
async fn verify_receipt(
    State(state): State<AppState>,
    caller: Caller,
    Body(receipt): Body<Value>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        let check = e.verify_receipt(&receipt)?;
        let ok = check.ok();
        let mut v = json!(check);
        v["ok"] = json!(ok);
        Ok(Json(v))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LocateParams {
    customer: Option<i64>,
    email: Option<String>,
    #[serde(default)]
    bytes: bool,
}

/// `GET /api/v1/privacy/locate?customer=ID` or `?email=E`, `&bytes=true` for the byte scan:
/// where the person still appears. Needs `privacy`.
async fn locate(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<LocateParams>,
) -> Result<Json<Value>, ApiError> {
    let target = match (p.customer, p.email) {
        (Some(id), None) => Target::Id(id),
        (None, Some(e)) if !e.trim().is_empty() => Target::Value(e),
        _ => {
            return Err(ApiError::bad_request(
                "give customer=ID or email=ADDRESS (one of them)",
            ))
        }
    };
    let files = offboard_store::inventory::database_files(state.url());
    let url = state.url().to_string();
    act(&state, caller, move |e| {
        let mut book = offboard_store::jobs::JobBook::open(&url).ok();
        let found = e.locate(&target, p.bytes.then_some(files.as_slice()), book.as_mut())?;
        Ok(Json(json!(found)))
    })
    .await
}
