//! The JSON API under `/api/v1`: customers, records, the lifecycle operations (each returns
//! the plan of DESIGN.md), audit, statistics, the model. Every call is authenticated and
//! goes through the engine, which checks the model's permissions and writes the audit log.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use offboard_engine::records::RecordSelection;
use offboard_engine::{DeactivateOptions, Engine, OpenItems, Plan};
use offboard_model::model::{Operation, View};
use offboard_store::customers::{ListQuery, NewCustomer};
use offboard_store::Store;

use crate::auth::Credentials;
use crate::{ApiError, AppState};

/// A JSON request body, whatever its `Content-Type` (an empty body is `{}`); a body that
/// does not parse is a 400 in the API's error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(Body)
            .map_err(|e| ApiError::bad_request(format!("the body is not the JSON expected: {e}")))
    }
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
        .route(
            "/api/v1/customers",
            get(list_customers).post(create_customer),
        )
        .route(
            "/api/v1/customers/{id}",
            get(show_customer).patch(update_customer),
        )
        .route(
            "/api/v1/customers/{id}/records/{kind}",
            get(customer_records),
        )
        .route("/api/v1/records/{kind}", post(create_record))
        .route(
            "/api/v1/records/{kind}/{id}",
            get(show_record).patch(update_record),
        )
        .route("/api/v1/records/{kind}/delete", post(delete_records))
        .route("/api/v1/deactivate", post(deactivate))
        .route("/api/v1/reactivate", post(reactivate))
        .route("/api/v1/delete", post(delete))
        .route("/api/v1/undelete", post(undelete))
        .route("/api/v1/purge", post(purge))
        .route("/api/v1/transfer", post(transfer))
        .route("/api/v1/merge", post(merge))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/audit/verify", get(audit_verify))
        .route("/api/v1/{*rest}", any(not_found))
        .layer(axum::middleware::map_response(json_errors))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}

/// Runs `f` with the engine acting for the request's user.
async fn act<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let creds = Credentials::of(headers);
    state
        .run(move |store| {
            let actor = creds.actor(store)?;
            f(&mut Engine::new(store, actor))
        })
        .await
}

/// Like [`act`], for reading: checks `op` (view, audit) and hands over the store.
async fn read<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    op: Operation,
    f: impl FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    act(state, headers, move |e| {
        e.allow(op)?;
        f(e.store())
    })
    .await
}

async fn openapi(State(state): State<AppState>) -> Json<Value> {
    Json(crate::openapi::document(state.model()))
}

#[derive(Deserialize)]
struct Login {
    user: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    Body(body): Body<Login>,
) -> Result<Response, ApiError> {
    let (user, secret) = crate::ui::start_session(&state, body.user, body.password).await?;
    Ok((
        [(header::SET_COOKIE, state.set_cookie_header(Some(&secret)))],
        Json(json!({ "user": user.name, "role": user.role.name() })),
    )
        .into_response())
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    crate::ui::end_session(&state, &headers).await?;
    Ok((
        [(header::SET_COOKIE, state.set_cookie_header(None))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, |e| {
        let a = e.actor();
        Ok(Json(json!({ "user": a.name, "role": a.role.name() })))
    })
    .await
}

async fn model(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, |s| {
        Ok(Json(serde_json::to_value(s.model()).unwrap_or(Value::Null)))
    })
    .await
}

async fn stats(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, |s| {
        Ok(Json(
            serde_json::to_value(s.stats()?).unwrap_or(Value::Null),
        ))
    })
    .await
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    pub view: Option<String>,
    pub search: Option<String>,
    pub kind: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

impl ListParams {
    /// One page of the customers these parameters ask for, and how many match in all.
    pub fn fetch(
        &self,
        s: &mut Store,
    ) -> Result<(ListQuery, Vec<offboard_store::customers::Customer>, i64), ApiError> {
        let query = self.query(s.model().default_view)?;
        let mut list = Vec::new();
        s.list_customers(&query, &mut |c| {
            list.push(c);
            Ok(())
        })?;
        let total = s.count_customers(&ListQuery {
            limit: None,
            offset: 0,
            ..query.clone()
        })?;
        Ok((query, list, total))
    }

    pub fn query(&self, default_view: View) -> Result<ListQuery, ApiError> {
        let view = match &self.view {
            Some(v) => View::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!("unknown view `{v}`; views are: {}", View::NAMES))
            })?,
            None => default_view,
        };
        Ok(ListQuery {
            view,
            search: self.search.clone().filter(|s| !s.trim().is_empty()),
            kind: self.kind.clone().filter(|s| !s.is_empty()),
            limit: Some(self.limit.unwrap_or(50).min(1000)),
            offset: self.offset.unwrap_or(0).min(i64::MAX as u64 / 2),
            after: None,
        })
    }
}

async fn list_customers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, move |s| {
        let (query, list, total) = params.fetch(s)?;
        Ok(Json(json!({
            "view": query.view.name(),
            "total": total,
            "offset": query.offset,
            "customers": list,
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
    headers: HeaderMap,
    Body(body): Body<NewCustomerBody>,
) -> Result<Response, ApiError> {
    let c = act(&state, &headers, move |e| {
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

async fn show_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, move |s| {
        let c = s.customer(id)?;
        let counts: BTreeMap<String, i64> = s.customer_record_counts(id)?.into_iter().collect();
        let mut v = serde_json::to_value(&c).unwrap_or(Value::Null);
        if let Some(o) = v.as_object_mut() {
            o.insert("records".into(), json!(counts));
        }
        Ok(Json(v))
    })
    .await
}

async fn update_customer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |e| {
        let c = e.update_customer(id, &cells(&fields))?;
        Ok(Json(serde_json::to_value(c).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<u64>,
}

async fn customer_records(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, kind)): Path<(i64, String)>,
    Query(l): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, move |s| {
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
    headers: HeaderMap,
    Path(kind): Path<String>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Response, ApiError> {
    let r = act(&state, &headers, move |e| {
        Ok(e.create_record(&kind, &cells(&fields))?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(r)).into_response())
}

async fn show_record(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::View, move |s| {
        Ok(Json(
            serde_json::to_value(s.record(&kind, id)?).unwrap_or(Value::Null),
        ))
    })
    .await
}

async fn update_record(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, i64)>,
    Body(fields): Body<serde_json::Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |e| {
        let r = e.update_record(&kind, id, &cells(&fields))?;
        Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
struct DeleteRecords {
    ids: Option<Vec<i64>>,
    /// Every record under this owner (or, with `from`, from this value of the ordering field).
    owner: Option<i64>,
    from: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

async fn delete_records(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Body(body): Body<DeleteRecords>,
) -> Result<Json<Value>, ApiError> {
    let sel = match (body.ids, body.owner) {
        (Some(ids), None) => RecordSelection::Ids(ids),
        (None, Some(owner)) => RecordSelection::Owner {
            owner,
            from: body.from,
        },
        _ => {
            return Err(ApiError::bad_request(
                "give either `ids` or `owner` (with an optional `from`)",
            ))
        }
    };
    act(&state, &headers, move |e| {
        let plan = e.delete_records(&kind, &sel, body.dry_run)?;
        Ok(Json(serde_json::to_value(plan).unwrap_or(Value::Null)))
    })
    .await
}

/// The body of a lifecycle operation.
#[derive(Deserialize, Default)]
pub struct OpBody {
    #[serde(default)]
    pub customers: Vec<i64>,
    pub reason: Option<String>,
    /// `complete` or `remove`.
    pub open_activities: Option<String>,
    pub move_to: Option<i64>,
    #[serde(default)]
    pub dry_run: bool,
}

impl OpBody {
    pub fn options(&self) -> Result<DeactivateOptions, ApiError> {
        let open_items = match self.open_activities.as_deref() {
            None | Some("") => None,
            Some("complete") => Some(OpenItems::Complete),
            Some("remove") => Some(OpenItems::Remove),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "open_activities is `complete` or `remove`, not `{other}`"
                )))
            }
        };
        Ok(DeactivateOptions {
            reason: self.reason.clone().filter(|r| !r.is_empty()),
            open_items,
        })
    }
}

fn plan_json(plan: Plan) -> Json<Value> {
    Json(plan.to_json())
}

fn needs_customers(body: &OpBody) -> Result<(), ApiError> {
    if body.customers.is_empty() {
        return Err(ApiError::bad_request(
            "`customers` lists the ids to work on",
        ));
    }
    Ok(())
}

/// A lifecycle operation on the body's customers; answers with its plan.
async fn on_customers(
    state: &AppState,
    headers: &HeaderMap,
    body: OpBody,
    op: impl FnOnce(&mut Engine<'_>, &OpBody) -> Result<Plan, ApiError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    needs_customers(&body)?;
    act(state, headers, move |e| Ok(plan_json(op(e, &body)?))).await
}

async fn deactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<OpBody>,
) -> Result<Json<Value>, ApiError> {
    let opts = body.options()?;
    on_customers(&state, &headers, body, move |e, b| {
        Ok(e.deactivate(&b.customers, &opts, b.dry_run)?)
    })
    .await
}

async fn reactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<OpBody>,
) -> Result<Json<Value>, ApiError> {
    on_customers(&state, &headers, body, |e, b| {
        Ok(e.reactivate(&b.customers, b.dry_run)?)
    })
    .await
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<OpBody>,
) -> Result<Json<Value>, ApiError> {
    on_customers(&state, &headers, body, |e, b| {
        Ok(match (b.move_to, b.customers.as_slice()) {
            (Some(to), [one]) => e.delete_moving(*one, to, b.dry_run)?,
            (Some(_), _) => {
                return Err(ApiError::bad_request(
                    "`move_to` takes exactly one customer",
                ))
            }
            (None, ids) => e.delete(ids, b.dry_run)?,
        })
    })
    .await
}

async fn undelete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<OpBody>,
) -> Result<Json<Value>, ApiError> {
    on_customers(&state, &headers, body, |e, b| {
        Ok(e.undelete(&b.customers, b.dry_run)?)
    })
    .await
}

async fn purge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<OpBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |e| {
        Ok(plan_json(e.purge(body.dry_run)?))
    })
    .await
}

#[derive(Deserialize)]
struct Pair {
    from: i64,
    to: i64,
    kinds: Option<Vec<String>>,
    #[serde(default)]
    dry_run: bool,
}

async fn transfer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<Pair>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |e| {
        Ok(plan_json(e.transfer(
            body.from,
            body.to,
            body.kinds.as_deref(),
            body.dry_run,
        )?))
    })
    .await
}

#[derive(Deserialize)]
struct MergeBody {
    duplicate: i64,
    into: i64,
    #[serde(default)]
    dry_run: bool,
}

async fn merge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(body): Body<MergeBody>,
) -> Result<Json<Value>, ApiError> {
    act(&state, &headers, move |e| {
        Ok(plan_json(e.merge(
            body.duplicate,
            body.into,
            body.dry_run,
        )?))
    })
    .await
}

#[derive(Deserialize)]
struct AuditParams {
    customer: Option<i64>,
    limit: Option<u64>,
}

async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<AuditParams>,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::Audit, move |s| {
        let list = offboard_engine::audit::list(
            s.db(),
            p.customer,
            Some(p.limit.unwrap_or(100).min(10_000)),
        )?;
        Ok(Json(json!(list)))
    })
    .await
}

async fn audit_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    read(&state, &headers, Operation::Audit, |s| {
        Ok(Json(json!(offboard_engine::audit::verify(s.db())?)))
    })
    .await
}
