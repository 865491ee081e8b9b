//! The JSON API under `/api/v1`: customers, records, the lifecycle operations (each returns
//! the plan of docs/design.md), audit, statistics, the model. Every call is authenticated and
//! goes through the engine, which checks the model's permissions and writes the audit log.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::{Actor, Engine, Reader};
use offboard_model::model::Operation;
use offboard_store::customers::NewCustomer;

use crate::auth::Credentials;
use crate::requests::ListParams;
use crate::{ApiError, AppState};

/// A JSON request body, whatever its `Content-Type` (an empty body is `{}`); a body that
/// does not parse is a 400 in the API's error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "the body is larger than {} bytes; nothing was changed",
                        crate::BODY_LIMIT
                    ),
                )
            } else {
                ApiError::bad_request(format!("cannot read the body: {e}"))
            }
        })?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        // The whole body must be JSON before its shape is looked at: a truncated body is
        // "not JSON", never an unknown field that happened to come first.
        serde_json::from_slice::<serde::de::IgnoredAny>(text).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid JSON: {e}; nothing was changed"
            ))
        })?;
        // Only an object is a body: serde would fill a struct from an array by position and
        // take `null` as empty, so `[]` would run a purge with every default.
        let first = text.iter().find(|b| !b.is_ascii_whitespace());
        if first != Some(&b'{') {
            let what = match first {
                Some(b'[') => "an array",
                Some(b'n') => "null",
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                _ => "a number",
            };
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                format!(
                    "the body is {what}; it must be a JSON object ({{...}}); nothing was changed"
                ),
            ));
        }
        serde_json::from_slice(text).map(Body).map_err(body_error)
    }
}

/// A body that is not JSON is a 400; JSON of the wrong shape (an unknown field, a wrong
/// type, a missing field) is a 422 that names the field, with the likely meant one.
fn body_error(e: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    if !matches!(e.classify(), Category::Data) {
        return ApiError::bad_request(format!("the body is not valid JSON: {text}"));
    }
    // serde: "unknown field `dryrun`, expected one of `customers`, `dry_run` at line 1 column 33"
    if let Some(rest) = text.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default().to_string();
        let known: Vec<String> = rest
            .split("expected ")
            .nth(1)
            .unwrap_or_default()
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        let hint = offboard_model::rule::suggest::closest(&field, &known);
        let mut message = format!("unknown field `{field}`");
        match &hint {
            Some(h) => message.push_str(&format!("; did you mean `{h}`?")),
            None if known.is_empty() => message.push_str("; this body takes no fields"),
            None => message.push_str(&format!(
                "; the fields are: {}",
                known
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        message.push_str("; nothing was changed");
        let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message);
        err.details = json!({ "field": field, "did_you_mean": hint, "fields": known });
        return err;
    }
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        format!("the body does not have the expected shape: {text}; nothing was changed"),
    )
}

/// Errors axum itself answers (a path or query that does not parse, a wrong method) get
/// the API's JSON shape too.
async fn json_errors(res: Response) -> Response {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(res.status().is_client_error() || res.status().is_server_error()) || is_json {
        return res;
    }
    let status = res.status();
    let text = axum::body::to_bytes(res.into_body(), 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    ApiError::new(status, code, text).into_response()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/login", post(login))
        .route("/api/v1/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/model", get(model))
        .route("/api/v1/stats", get(stats))
        .route("/api/v1/duplicates", get(duplicates))
        .route("/api/v1/deleted-records", get(deleted_records))
        .route(
            "/api/v1/deleted-records/restore",
            post(restore_deleted_records),
        )
        .route(
            "/api/v1/customers",
            get(list_customers).post(create_customer),
        )
        .route("/api/v1/customers/suggest", get(suggest_customers))
        .route(
            "/api/v1/customers/{id}",
            get(show_customer).patch(update_customer),
        )
        .route(
            "/api/v1/customers/{id}/records/{kind}",
            get(customer_records),
        )
        .route("/api/v1/customers/{id}/export", get(access_document))
        .route("/api/v1/forget", post(forget))
        .route("/api/v1/records/{kind}", post(create_record))
        .route(
            "/api/v1/records/{kind}/{id}",
            get(show_record).patch(update_record),
        )
        .merge(crate::lifecycle::routes())
        .merge(crate::jobs::routes())
        .merge(crate::schedules::routes())
        .merge(crate::export::routes())
        .merge(crate::privacy::routes())
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/{*rest}", any(not_found))
        .layer(axum::middleware::map_response(json_errors))
}

/// 422: the body is well-formed JSON but asks for something that cannot be.
pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}

/// The user a request acts for. A request that carries a body (every changing one) has its
/// credentials checked before the body is read, so one without valid credentials is a 401
/// whatever its body. A read (`GET`, `HEAD`) has them checked in the same trip to the database
/// as its work: one pooled connection per request instead of two.
#[derive(Clone)]
pub struct Caller {
    credentials: Credentials,
    known: Option<Actor>,
}

impl Caller {
    /// The acting user: already known, or looked up on `store` (401 when the credentials are
    /// not, or no longer, valid).
    fn resolve(self, store: &mut offboard_store::Store) -> Result<Actor, ApiError> {
        match self.known {
            Some(actor) => Ok(actor),
            None => self.credentials.actor(store),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let credentials = Credentials::of(&parts.headers);
        if matches!(credentials, Credentials::None) {
            return Err(ApiError::unauthenticated());
        }
        let reads = matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        );
        let known = if reads {
            None
        } else {
            let creds = credentials.clone();
            Some(state.run(move |store| creds.actor(store)).await?)
        };
        Ok(Caller { credentials, known })
    }
}

/// Runs `f` with the engine acting for the caller.
pub(crate) async fn act<T: Send + 'static>(
    state: &AppState,
    caller: Caller,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .run(move |store| {
            let actor = caller.resolve(store)?;
            f(&mut Engine::new(store, actor))
        })
        .await
}

/// [`act`] for a lifecycle operation: it queues for one of the few plan slots.
pub(crate) async fn act_heavy<T: Send + 'static>(
    state: &AppState,
    caller: Caller,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state
        .run_heavy(move |store| {
            let actor = caller.resolve(store)?;
            f(&mut Engine::new(store, actor))
        })
        .await
}

/// Like [`act`], for reading: checks `op` (view, audit) and hands over a read-only view.
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    caller: Caller,
    op: Operation,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    act(state, caller, move |e| {
        e.allow(op)?;
        f(&mut e.read())
    })
    .await
}

async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(state.model()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    from: crate::session::Client,
    Body(body): Body<Login>,
) -> Result<Response, ApiError> {
    let (user, secret) = crate::session::start(&state, &from, body.user, body.password).await?;
    Ok((
        [(header::SET_COOKIE, state.set_cookie_header(Some(&secret)))],
        Json(json!({ "user": user.name, "role": user.role.name() })),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    crate::session::end(&state, &headers).await?;
    Ok((
        [(header::SET_COOKIE, state.set_cookie_header(None))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    act(&state, caller, |e| {
        let a = e.actor();
        Ok(Json(json!({ "user": a.name, "role": a.role.name() })))
    })
    .await
}

async fn model(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::View, |s| {
        Ok(Json(serde_json::to_value(s.model()).unwrap_or(Value::Null)))
    })
    .await
}

async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::View, |s| {
        Ok(Json(
            serde_json::to_value(s.stats()?).unwrap_or(Value::Null),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicatesParams {
    /// email, name, phone (comma-separated).
    by: Option<String>,
    kind: Option<String>,
    limit: Option<u64>,
}

/// The signals asked for (`by=email,name,phone`), or the default: email and name.
pub(crate) fn signals(
    by: Option<&str>,
) -> Result<Vec<offboard_store::duplicates::Signal>, ApiError> {
    use offboard_store::duplicates::Signal;
    match by.filter(|b| !b.trim().is_empty()) {
        Some(list) => list
            .split(',')
            .map(|s| {
                Signal::parse(s.trim()).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`by` takes email, name and phone (comma-separated), not `{}`",
                        s.trim()
                    ))
                })
            })
            .collect(),
        // A phone alone is weak evidence (a shared office line): asked for, not assumed.
        None => Ok(vec![Signal::Email, Signal::Name]),
    }
}

/// `GET /api/v1/duplicates`: possible duplicates, best first.
async fn duplicates(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<DuplicatesParams>,
) -> Result<Json<Value>, ApiError> {
    let by = signals(p.by.as_deref())?;
    // At most 1,000 pairs an answer (0: as many as that).
    let limit = match p.limit.unwrap_or(50) {
        0 => 1000,
        n => n.min(1000),
    };
    read(&state, caller, Operation::View, move |s| {
        let pairs = s.duplicates(&by, p.kind.as_deref(), limit)?;
        Ok(Json(serde_json::to_value(pairs).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BinParams {
    customer: Option<i64>,
}

/// `GET /api/v1/deleted-records`: the records bin, newest first (`customer` filters).
async fn deleted_records(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<BinParams>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        Ok(Json(json!(e.binned_records(p.customer)?)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    entries: Vec<i64>,
    #[serde(default)]
    dry_run: bool,
    /// The fingerprint of the dry run the caller confirmed: a different plan restores nothing.
    #[serde(default)]
    plan: Option<String>,
}

/// `POST /api/v1/deleted-records/restore`: records back from the bin, in order, each unless
/// refused (409 when none came back, the report in `details`).
async fn restore_deleted_records(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<RestoreBody>,
) -> Result<Json<Value>, ApiError> {
    let done = act(&state, caller, move |e| {
        e.expect_plan(b.plan);
        Ok(e.restore_records(&b.entries, b.dry_run)?)
    })
    .await?;
    let json = json!(done);
    if !done.dry_run && done.restored == 0 {
        let mut err = ApiError::new(
            StatusCode::CONFLICT,
            "nothing_done",
            format!(
                "nothing was restored: {}",
                done.entries
                    .iter()
                    .filter_map(|e| e.why.as_ref().map(|w| format!("entry {}: {w}", e.id)))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        );
        err.details = json;
        return Err(err);
    }
    Ok(Json(json))
}

async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let counts = state.clone();
    read(&state, caller, Operation::View, move |s| {
        let (query, list, total, exact) = params.fetch(s, counts.counts())?;
        let next = ListParams::next_cursor(&query, &list)
            .map(|c| format!("/api/v1/customers?{}", params.query_string(&c)));
        Ok(Json(json!({
            "view": query.view.name(),
            "sort": query.sort.name(),
            "total": total,
            "total_exact": exact,
            "offset": query.offset,
            "customers": list,
            "next": next,
        })))
    })
    .await
}

/// Field values as the CLI's `--set` cells: JSON strings, numbers, booleans; null clears.
fn cells(fields: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCustomerBody {
    kind: String,
    name: String,
    number: Option<String>,
    email: Option<String>,
    #[serde(default)]
    fields: serde_json::Map<String, Value>,
}

async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewCustomerBody>,
) -> Result<Response, ApiError> {
    let c = act(&state, caller, move |e| {
        Ok(e.create_customer(NewCustomer {
            kind: body.kind,
            name: body.name,
            number: body.number,
            email: body.email,
            fields: cells(&body.fields),
        })?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SuggestParams {
    q: String,
    /// Which customers: active ones unless told (deactivated and deleted ones are no longer
    /// offered in pickers).
    view: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/customers/suggest?q=`: for pickers and autofill, at most 10 (or `limit`, up
/// to 50) customers, best first: id, number, name, kind, status.
async fn suggest_customers(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<SuggestParams>,
) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::View, move |s| {
        let view = match p.view.as_deref() {
            None => offboard_model::model::View::Active,
            Some(v) => offboard_model::model::View::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown view `{v}`; views are: {}",
                    offboard_model::model::View::NAMES
                ))
            })?,
        };
        let list = s.suggest_customers(&p.q, view, p.limit.unwrap_or(10))?;
        Ok(Json(json!(list
            .iter()
            .map(|c| json!({ "id": c.id, "number": c.number, "name": c.name, "kind": c.kind, "status": c.status }))
            .collect::<Vec<_>>())))
    })
    .await
}

/// `POST /api/v1/forget`: `{"customer": 1042, "dry_run": true}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetBody {
    customer: i64,
    #[serde(default)]
    dry_run: bool,
    /// The fingerprint of the dry run the caller confirmed: a different plan masks nothing.
    #[serde(default)]
    plan: Option<String>,
}

/// Forget now, purge later: masks every personal field of the customer and of its records
/// (needs `purge`); answers what was masked.
async fn forget(
    State(state): State<AppState>,
    caller: Caller,
    Body(b): Body<ForgetBody>,
) -> Result<Json<Value>, ApiError> {
    let report = act(&state, caller, move |e| {
        e.expect_plan(b.plan);
        Ok(e.forget(b.customer, b.dry_run)?)
    })
    .await?;
    Ok(Json(serde_json::to_value(report).unwrap_or(Value::Null)))
}

/// `GET /api/v1/customers/{id}/export`: everything offboard holds about one customer — its
/// fields, records of every kind, links and audit entries — in one document (a person's right
/// of access). Needs `export`.
async fn access_document(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let doc = act(&state, caller, move |e| Ok(e.access_document(id)?)).await?;
    let number = doc["customer"]["number"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"customer-{}.json\"",
                number.replace(['"', '\\', '/'], "_")
            ),
        )],
        Json(doc),
    )
        .into_response())
}

async fn show_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    // A merged-away customer's id answers with where it went: a permanent redirect.
    let shown = read(&state, caller, Operation::View, move |s| {
        match s.find_customer(id)? {
            Some(c) => Ok(Ok(show_one(s, c)?)),
            None => match s.merged_into(id)? {
                Some(into) => Ok(Err(into)),
                // Not found, in the engine's words.
                None => {
                    let c = s.customer(id)?;
                    Ok(Ok(show_one(s, c)?))
                }
            },
        }
    })
    .await?;
    Ok(match shown {
        Ok(json) => json.into_response(),
        Err(into) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, format!("/api/v1/customers/{into}"))],
            Json(json!({ "merged_into": into, "message": format!("customer {id} was merged into customer {into}") })),
        )
            .into_response(),
    })
}

fn show_one(
    s: &mut offboard_engine::Reader<'_>,
    c: offboard_store::customers::Customer,
) -> Result<Json<Value>, ApiError> {
    let counts: BTreeMap<String, i64> = s.customer_record_counts(c.id)?.into_iter().collect();
    let mut v = serde_json::to_value(&c).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("records".into(), json!(counts));
    }
    Ok(Json(v))
}

async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        let c = e.update_customer(id, &cells(&fields))?;
        Ok(Json(serde_json::to_value(c).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Limit {
    limit: Option<u64>,
}

async fn customer_records(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, kind)): Path<(i64, String)>,
    Query(l): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::View, move |s| {
        s.customer(id)?;
        let mut list = Vec::new();
        s.customer_records(
            &kind,
            id,
            Some(l.limit.unwrap_or(100).min(1000)),
            &mut |r| {
                list.push(r);
                Ok(())
            },
        )?;
        Ok(Json(json!(list)))
    })
    .await
}

async fn create_record(
    State(state): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    let r = act(&state, caller, move |e| {
        Ok(e.create_record(&kind, &cells(&fields))?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

async fn show_record(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::View, move |s| {
        Ok(Json(
            serde_json::to_value(s.record(&kind, id)?).unwrap_or(Value::Null),
        ))
    })
    .await
}

async fn update_record(
    State(state): State<AppState>,
    caller: Caller,
    Path((kind, id)): Path<(String, i64)>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    act(&state, caller, move |e| {
        let r = e.update_record(&kind, id, &cells(&fields))?;
        Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    customer: Option<i64>,
    number: Option<String>,
    operation: Option<String>,
    actor: Option<String>,
    from: Option<String>,
    to: Option<String>,
    days: Option<i32>,
    before: Option<i64>,
    limit: Option<u64>,
}

impl AuditParams {
    /// The filter the parameters ask for; a day that is not one, an unknown operation or a
    /// count of days below one is refused, naming the parameter.
    fn filter(self) -> Result<offboard_engine::audit::AuditFilter, ApiError> {
        use offboard_model::value::Date;
        let day = |v: &Option<String>, what: &str| -> Result<Option<Date>, ApiError> {
            match v.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(None),
                Some(t) => Date::parse(t).map(Some).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{t}` is not a day for `{what}`; use YYYY-MM-DD, e.g. 2026-01-31"
                    ))
                }),
            }
        };
        if let Some(op) = &self.operation {
            offboard_engine::audit::check_operation_name(op)
                .map_err(|e| ApiError::bad_request(format!("`operation`: {e}")))?;
        }
        let from = offboard_engine::audit::first_day(day(&self.from, "from")?, self.days)
            .map_err(|e| ApiError::bad_request(format!("`days`: {e}")))?;
        Ok(offboard_engine::audit::AuditFilter {
            customer: self.customer,
            number: self.number.filter(|n| !n.trim().is_empty()),
            operation: self.operation,
            actor: self.actor.filter(|a| !a.trim().is_empty()),
            from,
            to: day(&self.to, "to")?,
            before: self.before,
            limit: Some(self.limit.unwrap_or(100).min(10_000)),
        })
    }
}

async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    let filter = p.filter()?;
    read(&state, caller, Operation::Audit, move |s| {
        let list = s.audit_filtered(&filter)?;
        Ok(Json(json!(list)))
    })
    .await
}

async fn audit_verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    read(&state, caller, Operation::Audit, |s| {
        Ok(Json(json!(s.verify_audit()?)))
    })
    .await
}
