//! The web UI: server-rendered HTML over the same engine calls as the API, through
//! auto-escaping templates (`templates/`, minijinja). Customers with views, search and bulk
//! actions (`customers.rs`); the deactivate dialog, previews and confirmations of every
//! destructive operation, and their results (`operations.rs`); the audit log and settings
//! (`admin.rs`). A page needs a login session; a form post from another site is refused.

mod admin;
mod customers;
mod duplicates;
mod home;
mod jobs;
mod merge;
mod operations;
mod privacy;
mod records;
mod schedules;

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use offboard_engine::Engine;

use crate::auth::{session_cookie, Credentials};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home::page))
        .route("/assets/app.css", get(stylesheet))
        .route("/favicon.svg", get(favicon))
        .route("/assets/app.js", get(script))
        .route("/assets/htmx.min.js", get(htmx))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/customers", get(customers::list))
        .route("/customers/new", post(customers::create))
        .route("/customers/{id}", get(customers::show))
        .route("/customers/{id}/edit", post(customers::edit))
        .route(
            "/records/{kind}/delete",
            get(records::preview).post(records::delete),
        )
        .route("/records/{kind}/{id}", get(records::page))
        .route("/bulk", post(operations::bulk))
        .route(
            "/deactivate",
            get(operations::deactivate_dialog).post(operations::deactivate),
        )
        .route("/reactivate", post(operations::reactivate))
        .route("/undelete", post(operations::undelete))
        .route(
            "/delete",
            get(operations::delete_preview).post(operations::delete),
        )
        .route(
            "/purge",
            get(operations::purge_preview).post(operations::purge),
        )
        .route(
            "/transfer",
            get(operations::transfer_preview).post(operations::transfer),
        )
        .route(
            "/merge",
            get(operations::merge_preview).post(operations::merge),
        )
        .route(
            "/erase",
            get(operations::erase_preview).post(operations::erase),
        )
        .route(
            "/forget",
            get(operations::forget_preview).post(operations::forget),
        )
        .route("/jobs", get(jobs::page))
        .route("/jobs/{id}", get(jobs::job_page))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/audit", get(admin::audit))
        .route("/duplicates", get(duplicates::page))
        .route("/records/restore", post(records::restore))
        .route(
            "/undo",
            get(operations::undo_preview).post(operations::undo),
        )
        .route("/merge/many", get(merge::page).post(merge::apply))
        .route("/schedules", get(schedules::page))
        .route("/privacy/requests", get(privacy::list).post(privacy::add))
        .route("/privacy/requests/{id}", get(privacy::show))
        .route(
            "/privacy/requests/{id}/{step}",
            post(privacy::step).get(privacy::receipt),
        )
        .route("/schedules/run", post(schedules::run_now))
        .route("/schedules/runs/{id}/approve", post(schedules::approve))
        .route("/schedules/runs/{id}/reject", post(schedules::reject))
        .route("/settings", get(admin::settings))
        .route("/settings/users", post(admin::users_form))
        .route("/settings/reasons", post(admin::reasons_form))
}

/// The UI's routes, with framework errors turned into pages of the layout.
pub fn with_readable_errors(router: Router<AppState>, state: AppState) -> Router<AppState> {
    router.layer(axum::middleware::from_fn_with_state(state, readable_errors))
}

/// Whether a page answered "log in first" (no session, or one that ended).
fn needs_login(res: &Response) -> bool {
    res.status().is_redirection()
        && res
            .headers()
            .get(header::LOCATION)
            .is_some_and(|l| l.as_bytes() == b"/login")
}

/// The login page, as a whole page even when a dialog asked (htmx follows `HX-Redirect`
/// with a full navigation), saying the session expired when the request carried one, and
/// remembering where the person was: the page, or for a dialog's form the page beneath it.
/// After logging in they are back there and confirm again what they were doing.
fn to_login(method: &axum::http::Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let local = |v: &str| -> Option<String> {
        // An absolute URL of this site (htmx's, a Referer) becomes its path and query.
        let path = match v.find("://") {
            Some(i) => {
                let rest = &v[i + 3..];
                &rest[rest.find('/').unwrap_or(rest.len())..]
            }
            None => v,
        };
        safe_next(path).map(String::from)
    };
    let htmx = headers.contains_key("hx-request");
    let back = if htmx {
        headers
            .get("hx-current-url")
            .and_then(|v| v.to_str().ok())
            .and_then(local)
    } else if method == axum::http::Method::GET {
        uri.path_and_query().and_then(|p| local(p.as_str()))
    } else {
        headers
            .get(header::REFERER)
            .and_then(|v| v.to_str().ok())
            .and_then(local)
    };
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(b) = back
        .as_deref()
        .filter(|b| *b != "/" && !b.starts_with("/login"))
    {
        query.append_pair("next", b);
    }
    if session_cookie(headers).is_some() {
        query.append_pair("expired", "1");
    }
    let query = query.finish();
    let to = if query.is_empty() {
        "/login".to_string()
    } else {
        format!("/login?{query}")
    };
    if htmx {
        return (StatusCode::OK, [("HX-Redirect", to)]).into_response();
    }
    Redirect::to(&to).into_response()
}

/// `next` after a login: a path of this site only (never `//host` or a full URL elsewhere).
fn safe_next(path: &str) -> Option<&str> {
    (path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')).then_some(path)
}

/// What the framework answers by itself (a path or form that does not parse, a wrong
/// method, no such page) becomes a page in the UI's layout, with the navigation, that says
/// it in words, not a bare line of text.
async fn readable_errors(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers().clone();
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let res = next.run(req).await;
    if needs_login(&res) && uri.path() != "/logout" {
        return to_login(&method, &uri, &headers);
    }
    let plain = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    let status = res.status();
    if !(status.is_client_error() && plain) || status == StatusCode::UNAUTHORIZED {
        return res;
    }
    let message = match status {
        StatusCode::NOT_FOUND => "There is no such page.".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "That cannot be done from here.".to_string(),
        _ => {
            let text = axum::body::to_bytes(res.into_body(), 16 * 1024)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            if text.contains("parse") || text.contains("deserialize") {
                "The address or the form has a value that is not what was expected (a number where a number belongs); nothing was changed.".to_string()
            } else {
                format!("The request could not be read; nothing was changed. ({text})")
            }
        }
    };
    let viewer = viewer_of(&state, &headers).await;
    let mut page = render(
        "error.html",
        error_title(status),
        viewer.as_ref(),
        json!({ "message": message, "status": status.as_u16() }),
    );
    *page.status_mut() = status;
    page
}

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/layout.html")),
    (
        "requests.html",
        include_str!("../../templates/requests.html"),
    ),
    ("request.html", include_str!("../../templates/request.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("job.html", include_str!("../../templates/job.html")),
    ("jobs.html", include_str!("../../templates/jobs.html")),
    ("home.html", include_str!("../../templates/home.html")),
    ("login.html", include_str!("../../templates/login.html")),
    (
        "customers.html",
        include_str!("../../templates/customers.html"),
    ),
    (
        "customer.html",
        include_str!("../../templates/customer.html"),
    ),
    (
        "deactivate.html",
        include_str!("../../templates/deactivate.html"),
    ),
    ("confirm.html", include_str!("../../templates/confirm.html")),
    ("ask.html", include_str!("../../templates/ask.html")),
    ("result.html", include_str!("../../templates/result.html")),
    (
        "records_deleted.html",
        include_str!("../../templates/records_deleted.html"),
    ),
    ("audit.html", include_str!("../../templates/audit.html")),
    ("record.html", include_str!("../../templates/record.html")),
    ("forget.html", include_str!("../../templates/forget.html")),
    (
        "settings.html",
        include_str!("../../templates/settings.html"),
    ),
    (
        "schedules.html",
        include_str!("../../templates/schedules.html"),
    ),
    (
        "duplicates.html",
        include_str!("../../templates/duplicates.html"),
    ),
    (
        "merge_many.html",
        include_str!("../../templates/merge_many.html"),
    ),
];

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Counts as people read them: `{{ total | count }}` → "2,543". Anything else (none,
        // a word) is shown as it is.
        env.add_filter("count", |v: minijinja::Value| match i64::try_from(v.clone()) {
            Ok(n) => count(n),
            Err(_) if v.is_none() || v.is_undefined() => String::new(),
            Err(_) => v.to_string(),
        });
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and covered by the tests; one that does
            // not parse is logged here, and its pages answer 500 naming it.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = %name, error = %format!("{e:#}"), "a template does not parse");
            }
        }
        env
    })
}

/// Renders a page: `template` with `context`, the logged-in user and the title.
/// The UI's stylesheet (offboard's own small design system, compiled into the binary).
async fn stylesheet() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/app.css"),
    )
        .into_response()
}

/// A script compiled into the binary.
fn javascript(source: &'static str) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/javascript; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        source,
    )
        .into_response()
}

/// The UI's own script: customer pickers, dialogs over the page, the list refreshing.
async fn script() -> Response {
    javascript(include_str!("../../assets/app.js"))
}

/// htmx, vendored from its npm package (`assets/VENDORED.md`).
async fn htmx() -> Response {
    javascript(include_str!("../../assets/htmx.min.js"))
}

async fn favicon() -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        include_str!("../../assets/favicon.svg"),
    )
        .into_response()
}

/// Which part of the UI a page belongs to (the top bar marks it).
fn section(template: &str, context: &Value) -> &'static str {
    match template {
        "audit.html" => "audit",
        "settings.html" => "settings",
        "schedules.html" => "schedules",
        "requests.html" | "request.html" => "requests",
        "duplicates.html" => "duplicates",
        "jobs.html" | "job.html" => "jobs",
        "home.html" => "home",
        "customers.html" if context["view"] == "deleted" => "bin",
        "customers.html" | "customer.html" => "customers",
        _ => "",
    }
}

/// Who is looking at a page, and which parts of the navigation they may use (a viewer is
/// not shown an Audit link it would be refused).
#[derive(Clone, Serialize)]
pub(crate) struct Viewer {
    name: String,
    role: &'static str,
    audit: bool,
    /// Whether the model has a recycle bin (deletes softly).
    bin: bool,
    /// Whether the model has schedules (the Schedules page).
    schedules: bool,
    /// Whether they may see privacy requests (the Requests page: `edit`).
    requests: bool,
}

impl Viewer {
    /// Whether an Undo is offered: the undo's own permission is checked when it runs
    /// (reactivate, undelete or merge); a viewer is not offered one.
    pub(crate) fn may_undo(&self) -> bool {
        self.role != "viewer"
    }

    pub(crate) fn of(e: &Engine<'_>) -> Viewer {
        Viewer {
            name: e.actor().name.clone(),
            role: e.actor().role.name(),
            audit: e.allow(offboard_model::model::Operation::Audit).is_ok(),
            bin: e.model().delete == offboard_model::model::DeleteMode::Soft,
            schedules: !e.model().schedules.is_empty(),
            requests: e.allow(offboard_model::model::Operation::Edit).is_ok(),
        }
    }
}

fn render(template: &str, title: &str, user: Option<&Viewer>, context: Value) -> Response {
    let mut ctx = context;
    let section = section(template, &ctx);
    if let Some(o) = ctx.as_object_mut() {
        o.insert("title".into(), json!(title));
        o.insert("user".into(), json!(user));
        o.insert("section".into(), json!(section));
    }
    match templates()
        .get_template(template)
        .and_then(|t| t.render(&ctx))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(%template, error = %format!("{e:#}"), "a page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the page {template} could not be shown; the server's log says why"),
            )
                .into_response()
        }
    }
}

/// Marks a page as the outcome of a change: a dialog that shows it has the page beneath read
/// again when it closes (`assets/app.js`); a dialog that only asked does not.
pub(crate) fn changed(mut page: Response) -> Response {
    page.headers_mut().insert(
        "X-Offboard-Changed",
        axum::http::HeaderValue::from_static("1"),
    );
    page
}

/// A count with thousands separators, as every page and message writes one: "2,543".
pub(crate) fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A word for `n` things: "1 company", "2 companies", "2,543 matches".
pub(crate) fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!(
            "{} {}",
            count(i64::try_from(n).unwrap_or(i64::MAX)),
            plural_word(one)
        )
    }
}

pub(crate) use offboard_model::model::plural_word;

/// A rule as people read it: `remaining-fund_movement` → "fund movements still there",
/// `open-invoices` → "open invoices".
pub(crate) fn rule_words(rule: &str) -> String {
    match rule.strip_prefix("remaining-") {
        Some(kind) => format!(
            "{} still there",
            plural_word(&customers::human(kind).to_lowercase())
        ),
        None => rule.replace(['-', '_'], " "),
    }
}

/// An error page's title, by its status.
fn error_title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        _ => "Not done",
    }
}

/// An error as a page: the message, and a way back. Not logged in: to the login page.
fn error_page(e: ApiError) -> Response {
    error_page_for(e, None)
}

/// An error as office staff read it: advice written for the command line (`an admin can lift
/// it with `offboard blocklist lift …``) said without the command.
pub(crate) fn for_people(message: &str) -> String {
    const LIFT: &str = "an admin can lift it with `offboard blocklist";
    match message.find(LIFT) {
        Some(at) => format!(
            "{}an admin can take it off the blocklist if the person asks to come back",
            &message[..at]
        ),
        None => message.to_string(),
    }
}

/// [`error_page`] inside the layout with the navigation of who is logged in.
fn error_page_for(e: ApiError, viewer: Option<&Viewer>) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    let changed = (e.code == "plan_changed").then(|| changed_view(&e.details));
    let mut page = render(
        "error.html",
        if changed.is_some() {
            "The plan changed: nothing was changed"
        } else {
            error_title(e.status)
        },
        viewer,
        json!({ "message": for_people(&e.message), "status": e.status.as_u16(), "changed": changed }),
    );
    *page.status_mut() = e.status;
    page
}

/// What a plan that changed since it was shown would do now, in lines a person reads: each
/// customer (number, name, outcome and why) or record, the first few.
fn changed_view(plan: &Value) -> Value {
    const SHOWN: usize = 20;
    let mut lines: Vec<String> = Vec::new();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(list) = plan["customers"].as_array() {
        for c in list.iter().take(SHOWN) {
            let why = text(&c["why"]);
            lines.push(format!(
                "{} {}: {}{}",
                text(&c["number"]),
                text(&c["name"]),
                text(&c["outcome"]).replace('_', " "),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" — {why}")
                }
            ));
        }
    } else if let Some(list) = plan["entries"].as_array() {
        for r in list.iter().take(SHOWN) {
            lines.push(format!(
                "{} {}: {}",
                text(&r["kind"]),
                r["record_id"],
                match r["why"].as_str() {
                    Some(w) => format!("refused — {w}"),
                    None => "restored".into(),
                }
            ));
        }
    } else if let Some(ids) = plan["ids"].as_array() {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        lines.push(format!(
            "{} {}: {}",
            ids.len(),
            text(&plan["kind"]),
            ids.join(", ")
        ));
        for b in plan["blocked"].as_array().into_iter().flatten().take(SHOWN) {
            lines.push(format!(
                "{} {}: blocked — {}",
                text(&plan["kind"]),
                b["id"],
                text(&b["message"])
            ));
        }
    } else if let Some(masked) = plan["masked"].as_object() {
        for (table, n) in masked {
            lines.push(format!("{n} {table} masked"));
        }
    }
    json!(lines)
}

/// Runs `f` with the engine acting for the logged-in user; errors become pages.
async fn ui<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    ui_as(state, headers, false, f).await
}

/// [`ui`] for a page that plans or runs a lifecycle operation: it queues for a plan slot.
async fn ui_heavy<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    ui_as(state, headers, true, f).await
}

async fn ui_as<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    heavy: bool,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    let creds = match session_cookie(headers) {
        Some(s) => Credentials::Session(s),
        None => return Err(Redirect::to("/login").into_response()),
    };
    // An error is shown inside the layout, with the navigation of who asked.
    let work = move |store: &mut offboard_store::Store| {
        let actor = creds.actor(store)?;
        let mut engine = Engine::new(store, actor);
        let viewer = Viewer::of(&engine);
        // Pages show the reasons as managers set them last (kept in the database).
        if let Err(e) = engine.refresh_settings() {
            return Ok(Err((ApiError::from(e), viewer)));
        }
        Ok(f(&mut engine).map_err(|e| (e, viewer)))
    };
    let result = if heavy {
        state.run_heavy(work).await
    } else {
        state.run(work).await
    };
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err((e, viewer))) => Err(error_page_for(e, Some(&viewer))),
        Err(e) => Err(error_page(e)),
    }
}

/// Who holds the session of `headers`, if anyone (for pages the framework answers itself).
async fn viewer_of(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let creds = Credentials::Session(session_cookie(headers)?);
    state
        .run(move |store| {
            let actor = creds.actor(store)?;
            Ok(Viewer::of(&Engine::new(store, actor)))
        })
        .await
        .ok()
}

/// A form body's fields, in order (checkboxes repeat a name).
fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Every `id` of a form (checkboxes) and every id of an `ids=1,2` list.
fn ids(form: &[(String, String)]) -> Vec<i64> {
    form.iter()
        .filter(|(k, _)| k == "id" || k == "ids")
        .flat_map(|(_, v)| v.split(',').map(str::to_string).collect::<Vec<_>>())
        .filter_map(|v| v.trim().parse().ok())
        .collect()
}

fn id_list(ids: &[i64]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A date or date-time as every page shows it: "31 Jan 2026", "31 Jan 2026, 14:05" (the
/// server's times are UTC). Text that is neither is shown as it is.
pub(crate) fn when(text: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = text.trim();
    let date = t
        .get(..10)
        .filter(|d| d.len() == 10 && d.as_bytes()[4] == b'-' && d.as_bytes()[7] == b'-');
    let Some(date) = date else {
        return text.to_string();
    };
    let (Ok(y), Ok(m), Ok(d)) = (
        date[..4].parse::<u32>(),
        date[5..7].parse::<usize>(),
        date[8..10].parse::<u32>(),
    ) else {
        return text.to_string();
    };
    let Some(month) = m.checked_sub(1).and_then(|i| MONTHS.get(i)) else {
        return text.to_string();
    };
    let day = format!("{d} {month} {y}");
    match t.get(11..16) {
        Some(hm) if t.len() > 10 && hm.as_bytes().get(2) == Some(&b':') => format!("{day}, {hm}"),
        _ => day,
    }
}

/// A JSON cell as the text a page shows and a form takes.
fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        other => other.to_string(),
    }
}

/// What the acting user may do, for the templates to offer only that.
fn may(e: &Engine<'_>) -> Value {
    use offboard_model::model::Operation as Op;
    let ops = [
        ("edit", Op::Edit),
        ("deactivate", Op::Deactivate),
        ("reactivate", Op::Reactivate),
        ("delete", Op::Delete),
        ("undelete", Op::Undelete),
        ("purge", Op::Purge),
        ("transfer", Op::Transfer),
        ("merge", Op::Merge),
        ("audit", Op::Audit),
        ("export", Op::Export),
    ];
    let map: serde_json::Map<String, Value> = ops
        .iter()
        .map(|(name, op)| (name.to_string(), json!(e.allow(*op).is_ok())))
        .collect();
    Value::Object(map)
}

/// What blockers' ids point at, as the office names it — a customer by number and name, a
/// record by its number — each with its page. Read once for a page: one query for the
/// customers, one per record kind.
#[derive(Default)]
pub(crate) struct Names {
    /// Each blocker rule's table.
    tables: std::collections::HashMap<String, String>,
    /// (table, id) → (text, page).
    rows: std::collections::HashMap<(String, i64), (String, String)>,
    /// The model's currency, for the amounts blockers name.
    currency: Option<String>,
}

impl Names {
    /// The names of what `blockers` point at.
    pub(crate) fn of<'b>(
        e: &mut Engine<'_>,
        blockers: impl IntoIterator<Item = &'b offboard_engine::Blocker>,
    ) -> Result<Names, ApiError> {
        let model = e.read().model().clone();
        let mut wanted: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        let mut names = Names {
            currency: model.currency.clone(),
            ..Names::default()
        };
        for b in blockers {
            if let Some(table) = blocker_table(&model, &b.rule) {
                wanted.entry(table.clone()).or_default().extend(&b.ids);
                names.tables.insert(b.rule.clone(), table);
            }
        }
        for (table, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            if table == "customers" {
                let mut q =
                    offboard_store::customers::ListQuery::view(offboard_model::model::View::All);
                q.ids = Some(ids);
                e.read().list_customers(&q, &mut |c| {
                    names.rows.insert(
                        ("customers".into(), c.id),
                        (
                            format!("{} {}", c.number, c.name),
                            format!("/customers/{}", c.id),
                        ),
                    );
                    Ok(())
                })?;
            } else if let Some(kind) = model.record(&table) {
                for r in e.read().records_by_ids(&table, &ids)? {
                    names.rows.insert(
                        (table.clone(), r.id),
                        (
                            records::title(kind, &r),
                            format!("/records/{table}/{}", r.id),
                        ),
                    );
                }
            }
        }
        Ok(names)
    }

    /// The names of what the first `listed` customers of a plan not done are blocked by.
    pub(crate) fn of_plan(
        e: &mut Engine<'_>,
        plan: &offboard_engine::Plan,
        listed: usize,
    ) -> Result<Names, ApiError> {
        let blockers = plan
            .customers
            .iter()
            .filter(|c| c.outcome != offboard_engine::Outcome::Proceeds)
            .take(listed)
            .flat_map(|c| &c.blockers);
        Names::of(e, blockers)
    }
}

/// The table a blocker's ids are rows of: the customers (a company's subsidiaries, a link in
/// use), a record kind (the rule's records, the records still there), or none known (the
/// orphan check names rows of several tables).
fn blocker_table(model: &offboard_model::Model, rule: &str) -> Option<String> {
    use offboard_model::model::RuleSubject;
    if let Some(kind) = rule.strip_prefix("remaining-") {
        return Some(kind.to_string());
    }
    if rule.ends_with("-in-use") || rule.ends_with("-in-recycle-bin") {
        return Some("customers".into());
    }
    match &model.rules.iter().find(|r| r.id == rule)?.subject {
        RuleSubject::Records { kind, .. } | RuleSubject::Siblings { kind, .. } => {
            Some(kind.clone())
        }
        RuleSubject::Customers { .. } => Some("customers".into()),
    }
}

/// A blocker as the templates show it (amounts formatted, what blocks by name with its page).
#[derive(Serialize)]
struct BlockerView {
    rule: String,
    message: String,
    count: i64,
    amount: Option<String>,
    ids: Vec<i64>,
    /// What blocks, named and linked (where the names were read).
    refs: Vec<Value>,
}

impl BlockerView {
    /// The blocker with what blocks named from `names`.
    fn named(b: &offboard_engine::Blocker, names: &Names) -> BlockerView {
        let mut view = BlockerView::from(b);
        // Amounts in the model's currency: "customer funds of -€24.17".
        if let (Some(a), Some(_)) = (b.amount, &names.currency) {
            let plain = customers::money_in(a, None);
            let shown = customers::money_in(a, names.currency.as_deref());
            view.message = view.message.replace(&plain, &shown);
            view.amount = Some(shown);
        }
        if let Some(table) = names.tables.get(&b.rule) {
            view.refs = b
                .ids
                .iter()
                .filter_map(|id| names.rows.get(&(table.clone(), *id)))
                .map(|(text, href)| json!({ "text": text, "href": href }))
                .collect();
        }
        view
    }
}

impl From<&offboard_engine::Blocker> for BlockerView {
    fn from(b: &offboard_engine::Blocker) -> BlockerView {
        // Records that block their customer's erasure, in words: "3 activities still there".
        let message = match b.rule.strip_prefix("remaining-") {
            Some(kind) => format!(
                "{} still there; delete them first",
                plural(
                    usize::try_from(b.count).unwrap_or(0),
                    &customers::human(kind).to_lowercase()
                )
            ),
            // Amounts as people read them: "-2,178.34", not "-2178.34".
            None => match b.amount {
                Some(a) => b.message.replace(
                    &offboard_model::value::format_money(a),
                    &customers::money_in(a, None),
                ),
                None => b.message.clone(),
            },
        };
        BlockerView {
            rule: b.rule.clone(),
            message,
            count: b.count,
            amount: b.amount.map(|a| customers::money_in(a, None)),
            ids: b.ids.clone(),
            refs: Vec::new(),
        }
    }
}

// ---- login ------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    let next = q.next.as_deref().and_then(safe_next);
    render(
        "login.html",
        "Log in",
        None,
        json!({
            "next": next,
            "notice": q.expired.is_some().then_some(
                "Your session expired. Log in again to go on where you were; anything you had not confirmed yet was not done."
            ),
        }),
    )
}

async fn login_form(
    State(state): State<AppState>,
    from: crate::session::Client,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let (user, password) = (
        field(&f, "user").unwrap_or_default(),
        f.iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
    );
    let next = field(&f, "next").filter(|n| safe_next(n).is_some());
    match crate::session::start(&state, &from, user, password).await {
        Ok((_, secret)) => (
            [(header::SET_COOKIE, state.set_cookie_header(Some(&secret)))],
            Redirect::to(next.as_deref().unwrap_or("/customers")),
        )
            .into_response(),
        Err(e) => {
            let mut page = render(
                "login.html",
                "Log in",
                None,
                json!({ "message": e.message, "next": next }),
            );
            *page.status_mut() = e.status;
            page
        }
    }
}

async fn logout_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let _ = crate::session::end(&state, &headers).await;
    (
        [(header::SET_COOKIE, state.set_cookie_header(None))],
        Redirect::to("/login"),
    )
        .into_response()
}
