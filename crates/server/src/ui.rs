//! The web UI: server-rendered HTML forms over the same engine calls as the API. Customers
//! with views, search and bulk actions; a customer's page with its records; the deactivate
//! dialog (blocking items with counts and amounts, only Cancel while anything blocks); the
//! recycle bin and its cleanup with a preview; transfer and merge; the audit log; settings.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use offboard_engine::{Actor, CustomerPlan, Engine, Outcome, Plan};
use offboard_model::model::{DeleteMode, Operation, View};
use offboard_store::customers::Customer;
use offboard_store::users::User;

use crate::api::{ListParams, OpBody};
use crate::auth::{session_cookie, set_cookie, Credentials};
use crate::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/customers") }))
        .route("/login", get(login_page).post(login_form))
        .route("/logout", post(logout_form))
        .route("/customers", get(customers_page))
        .route("/customers/{id}", get(customer_page))
        .route("/customers/{id}/edit", post(edit_form))
        .route("/customers/new", post(new_customer_form))
        .route("/records/{kind}/delete", post(delete_records_form))
        .route("/bulk", post(bulk))
        .route("/deactivate", get(deactivate_dialog).post(deactivate_form))
        .route("/reactivate", post(reactivate_form))
        .route("/delete", get(delete_preview).post(delete_form))
        .route("/undelete", post(undelete_form))
        .route("/purge", get(purge_preview).post(purge_form))
        .route("/transfer", post(transfer_form))
        .route("/merge", post(merge_form))
        .route("/audit", get(audit_page))
        .route("/settings", get(settings_page))
}

/// Text made safe for HTML.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#222}header{background:#234;color:#fff;padding:.6em 1em;display:flex;gap:1.2em;align-items:center}header a{color:#fff;text-decoration:none}header form{margin-left:auto}main{padding:1em 1.5em;max-width:72em}table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}th{background:#f4f4f4}.tabs a{margin-right:1em}.tabs a.on{font-weight:bold}.deactivated td{color:#888}.blocked{color:#a00}.ok{color:#070}.note{background:#fff8e0;padding:.6em;border:1px solid #eb5}.error{background:#fee;padding:.6em;border:1px solid #c66}button{margin:.2em .3em .2em 0}fieldset{border:1px solid #ccc;margin:.6em 0}";

fn page(title: &str, user: Option<&Actor>, body: &str) -> Html<String> {
    let nav = match user {
        Some(a) => format!(
            "<a href=\"/customers\">Customers</a><a href=\"/customers?view=deleted\">Recycle bin</a><a href=\"/audit\">Audit log</a><a href=\"/settings\">Settings</a><form method=\"post\" action=\"/logout\">{} ({}) <button>Log out</button></form>",
            esc(&a.name),
            a.role.name()
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} — offboard</title><style>{STYLE}</style></head><body><header><strong>offboard</strong>{nav}</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    ))
}

/// An error as a page: the message, and a way back. Not logged in: to the login page.
fn error_page(e: ApiError) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return Redirect::to("/login").into_response();
    }
    let body = format!(
        "<p class=\"error\">{}</p><p><a href=\"javascript:history.back()\">Back</a></p>",
        esc(&e.message)
    );
    (e.status, page("Not done", None, &body)).into_response()
}

/// Runs `f` with the engine acting for the logged-in user; renders errors as pages.
async fn ui<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    f: impl FnOnce(&mut Engine<'_>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, Response> {
    let creds = match session_cookie(headers) {
        Some(s) => Credentials::Session(s),
        None => return Err(Redirect::to("/login").into_response()),
    };
    state
        .run(move |store| {
            let actor = creds.actor(store)?;
            f(&mut Engine::new(store, actor))
        })
        .await
        .map_err(error_page)
}

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

/// Every `id` of a form (checkboxes) or an `ids=1,2` list.
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

fn hidden_ids(ids: &[i64]) -> String {
    format!(
        "<input type=\"hidden\" name=\"ids\" value=\"{}\">",
        id_list(ids)
    )
}

// ---- login ----------------------------------------------------------------------------

/// Checks a password and starts a session: (user, the session's secret).
pub async fn start_session(
    state: &AppState,
    user: String,
    password: String,
) -> Result<(User, String), ApiError> {
    state
        .run(move |s| {
            let u = s.check_password(&user, &password)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "unknown user or wrong password",
                )
            })?;
            let secret = s.create_session(&u.name)?;
            Ok((u, secret))
        })
        .await
}

pub async fn end_session(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(secret) = session_cookie(headers) {
        state.run(move |s| Ok(s.end_session(&secret)?)).await?;
    }
    Ok(())
}

fn login_form_html(message: Option<&str>) -> Html<String> {
    let msg = message
        .map(|m| format!("<p class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    page(
        "Log in",
        None,
        &format!("{msg}<form method=\"post\" action=\"/login\"><p><label>User <input name=\"user\" autofocus></label></p><p><label>Password <input name=\"password\" type=\"password\"></label></p><button>Log in</button></form><p>An administrator sets passwords with <code>offboard users password NAME</code>.</p>"),
    )
}

async fn login_page() -> Html<String> {
    login_form_html(None)
}

async fn login_form(State(state): State<AppState>, body: Bytes) -> Response {
    let f = form(&body);
    let (user, password) = (
        field(&f, "user").unwrap_or_default(),
        field(&f, "password").unwrap_or_default(),
    );
    match start_session(&state, user, password).await {
        Ok((_, secret)) => (
            [(header::SET_COOKIE, set_cookie(Some(&secret)))],
            Redirect::to("/customers"),
        )
            .into_response(),
        Err(e) => (StatusCode::UNAUTHORIZED, login_form_html(Some(&e.message))).into_response(),
    }
}

async fn logout_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let _ = end_session(&state, &headers).await;
    (
        [(header::SET_COOKIE, set_cookie(None))],
        Redirect::to("/login"),
    )
        .into_response()
}

// ---- customers --------------------------------------------------------------------------

fn customer_rows(list: &[Customer], checkboxes: bool) -> String {
    let mut out = String::from("<table><tr>");
    if checkboxes {
        out.push_str("<th></th>");
    }
    out.push_str("<th>Number</th><th>Name</th><th>Kind</th><th>Status</th><th>Email</th></tr>");
    for c in list {
        let _ = write!(out, "<tr class=\"{}\">", esc(&c.status));
        if checkboxes {
            let _ = write!(
                out,
                "<td><input type=\"checkbox\" name=\"id\" value=\"{}\"></td>",
                c.id
            );
        }
        let _ = write!(
            out,
            "<td>{}</td><td><a href=\"/customers/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.number),
            c.id,
            esc(&c.name),
            esc(&c.kind),
            esc(&c.status),
            esc(c.email.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
    out
}

async fn customers_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let actor = e.actor().clone();
        let s = e.store();
        let query = params.query(s.model().default_view)?;
        let mut list = Vec::new();
        s.list_customers(&query, &mut |c| {
            list.push(c);
            Ok(())
        })?;
        let total = s.count_customers(&offboard_store::customers::ListQuery {
            limit: None,
            offset: 0,
            ..query.clone()
        })?;
        let purge = s.model().purge != offboard_model::model::PurgeMode::None;
        let kinds = s.model().customer.kinds.clone();
        Ok((actor, query, list, total, purge, kinds))
    })
    .await;
    let (actor, query, list, total, purge, kinds) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = String::from("<p class=\"tabs\">");
    for v in ["active", "deactivated", "current", "deleted", "all"] {
        let on = if query.view.name() == v {
            " class=\"on\""
        } else {
            ""
        };
        let label = if v == "deleted" {
            "deleted (recycle bin)"
        } else {
            v
        };
        let _ = write!(body, "<a{on} href=\"/customers?view={v}\">{label}</a>");
    }
    let _ = write!(
        body,
        "</p><form method=\"get\" action=\"/customers\"><input type=\"hidden\" name=\"view\" value=\"{}\"><input name=\"search\" value=\"{}\" placeholder=\"name, email or number\"> <button>Search</button></form>",
        query.view.name(),
        esc(query.search.as_deref().unwrap_or(""))
    );
    let shown_to = query.offset + list.len() as u64;
    let _ = write!(
        body,
        "<p>{}–{shown_to} of {total}</p><form method=\"post\" action=\"/bulk\">",
        if list.is_empty() { 0 } else { query.offset + 1 }
    );
    body.push_str(&customer_rows(&list, true));
    let actions: &[(&str, &str)] = match query.view {
        View::Deleted => &[("undelete", "Undelete selected")],
        View::Deactivated => &[
            ("reactivate", "Reactivate selected"),
            ("delete", "Delete selected"),
        ],
        _ => &[
            ("deactivate", "Deactivate selected…"),
            ("delete", "Delete selected…"),
        ],
    };
    for (action, label) in actions {
        let _ = write!(
            body,
            "<button name=\"action\" value=\"{action}\">{label}</button>"
        );
    }
    body.push_str("</form>");
    if matches!(query.view, View::Active | View::Current | View::All) {
        body.push_str("<details><summary>Add a customer</summary><form method=\"post\" action=\"/customers/new\"><p><label>Kind <select name=\"kind\">");
        for k in &kinds {
            let _ = write!(body, "<option>{}</option>", esc(k));
        }
        body.push_str("</select></label> <label>Name <input name=\"name\" required></label> <label>Email <input name=\"email\"></label> <button>Add</button></p></form></details>");
    }
    if query.view == View::Deleted && purge {
        body.push_str("<p><a href=\"/purge\">Clean up the recycle bin…</a> (shows what would be erased first)</p>");
    }
    if shown_to < total as u64 {
        let next = format!(
            "/customers?view={}&offset={shown_to}&search={}",
            query.view.name(),
            esc(query.search.as_deref().unwrap_or(""))
        );
        let _ = write!(body, "<p><a href=\"{next}\">Next page</a></p>");
    }
    page("Customers", Some(&actor), &body).into_response()
}

async fn customer_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let actor = e.actor().clone();
        let s = e.store();
        let c = s.customer(id)?;
        // At a glance: what would block deactivating it (a dry run, nothing changes).
        let blocking = if c.status == "active" && e.allow(Operation::Deactivate).is_ok() {
            e.deactivate(&[id], &Default::default(), true)?
                .customers
                .into_iter()
                .next()
                .map(|p| p.blockers)
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        let s = e.store();
        let mut records = Vec::new();
        for (kind, n) in s.customer_record_counts(id)? {
            let mut rows = Vec::new();
            if n > 0 {
                s.customer_records(&kind, id, Some(20), &mut |r| {
                    rows.push(r);
                    Ok(())
                })?;
            }
            records.push((kind, n, rows));
        }
        Ok((actor, c, records, blocking))
    })
    .await;
    let (actor, c, records, blocking) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = String::from("<table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(body, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    };
    row("number", c.number.clone());
    row("kind", c.kind.clone());
    row("status", c.status.clone());
    row("email", c.email.clone().unwrap_or_default());
    if c.status == "deactivated" {
        row("deactivated on", c.deactivated_on.to_cell());
        row("reason", c.deactivation_reason.clone().unwrap_or_default());
    }
    if c.status == "deleted" {
        row("deleted at", c.deleted_at.to_cell());
    }
    for (k, v) in &c.fields {
        row(k, cell_text(v));
    }
    body.push_str("</table>");
    if !blocking.is_empty() {
        body.push_str(
            "<div class=\"note\"><p>Deactivating it would need these dealt with first:</p><ul>",
        );
        for b in &blocking {
            let amount = shown_amount(b);
            let ids: Vec<String> = b.ids.iter().map(|i| i.to_string()).collect();
            let _ = write!(
                body,
                "<li>{}{amount} <small>[{}; {}]</small></li>",
                esc(&b.message),
                esc(&b.rule),
                ids.join(", ")
            );
        }
        body.push_str("</ul></div>");
    }
    body.push_str("<p>");
    let one = hidden_ids(&[c.id]);
    match c.status.as_str() {
        "active" => {
            let _ = write!(body, "<a href=\"/deactivate?ids={}\">Deactivate…</a> · <a href=\"/delete?ids={}\">Delete…</a>", c.id, c.id);
        }
        "deactivated" => {
            let _ = write!(body, "<form method=\"post\" action=\"/reactivate\" style=\"display:inline\">{one}<button>Reactivate</button></form> <a href=\"/delete?ids={}\">Delete…</a>", c.id);
        }
        _ => {
            let _ = write!(body, "<form method=\"post\" action=\"/undelete\" style=\"display:inline\">{one}<button>Undelete</button></form>");
        }
    }
    body.push_str("</p><h2>Records</h2>");
    for (kind, n, rows) in &records {
        let _ = write!(body, "<h3>{} ({n})</h3>", esc(kind));
        if let Some(first) = rows.first() {
            body.push_str("<table><tr><th>id</th>");
            for k in first.values.keys() {
                let _ = write!(body, "<th>{}</th>", esc(k));
            }
            body.push_str("<th></th></tr>");
            for r in rows {
                let _ = write!(body, "<tr><td>{}</td>", r.id);
                for v in r.values.values() {
                    let _ = write!(body, "<td>{}</td>", esc(&cell_text(v)));
                }
                let _ = write!(
                    body,
                    "<td><form method=\"post\" action=\"/records/{}/delete\"><input type=\"hidden\" name=\"ids\" value=\"{}\"><input type=\"hidden\" name=\"customer\" value=\"{}\"><button>Delete</button></form></td></tr>",
                    esc(kind),
                    r.id,
                    c.id
                );
            }
            body.push_str("</table>");
            if *n > rows.len() as i64 {
                let _ = write!(body, "<p>… and {} more</p>", *n - rows.len() as i64);
            }
        }
    }
    if c.status == "active" {
        let _ = write!(
            body,
            "<h2>Move data</h2><form method=\"post\" action=\"/transfer\"><input type=\"hidden\" name=\"from\" value=\"{id}\"><fieldset><legend>Transfer transferable records</legend><label>to customer id <input name=\"to\" size=\"8\"></label> <button>Transfer</button></fieldset></form><form method=\"post\" action=\"/merge\"><input type=\"hidden\" name=\"duplicate\" value=\"{id}\"><fieldset><legend>Merge this duplicate into another customer (this one goes)</legend><label>customer id <input name=\"into\" size=\"8\"></label> <button>Merge</button></fieldset></form>",
            id = c.id
        );
    }
    // Edit: also while deleted (to correct reports before the cleanup).
    let _ = write!(
        body,
        "<h2>Edit</h2><form method=\"post\" action=\"/customers/{}/edit\"><table>",
        c.id
    );
    let mut input = |name: &str, value: &str| {
        let _ = write!(
            body,
            "<tr><th>{}</th><td><input name=\"{}\" value=\"{}\" size=\"40\"></td></tr>",
            esc(name),
            esc(name),
            esc(value)
        );
    };
    input("name", &c.name);
    input("number", &c.number);
    input("email", c.email.as_deref().unwrap_or(""));
    for (k, v) in &c.fields {
        input(k, &cell_text(v));
    }
    body.push_str("</table><button>Save</button></form>");
    let _ = write!(
        body,
        "<p><a href=\"/audit?customer={}\">This customer's audit log</a></p>",
        c.id
    );
    page(&format!("{} {}", c.number, c.name), Some(&actor), &body).into_response()
}

/// " — 25.00" after a blocker's message, unless the message shows the amount already.
fn shown_amount(b: &offboard_engine::Blocker) -> String {
    match b.amount.map(offboard_model::value::format_money) {
        Some(a) if !b.message.contains(&a) => format!(" — {a}"),
        _ => String::new(),
    }
}

/// A JSON cell as the text a form shows and takes.
fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        other => other.to_string(),
    }
}

async fn edit_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let before = match ui(&state, &headers, move |e| Ok(e.store().customer(id)?)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let current = |k: &str| -> String {
        match k {
            "name" => before.name.clone(),
            "number" => before.number.clone(),
            "email" => before.email.clone().unwrap_or_default(),
            other => before.fields.get(other).map(cell_text).unwrap_or_default(),
        }
    };
    // Only what changed, so an untouched field is not rewritten.
    let changes: Vec<(String, String)> = form(&body)
        .into_iter()
        .filter(|(k, v)| *v != current(k))
        .collect();
    match ui(&state, &headers, move |e| {
        Ok(e.update_customer(id, &changes)?)
    })
    .await
    {
        Ok(_) => Redirect::to(&format!("/customers/{id}")).into_response(),
        Err(r) => r,
    }
}

async fn new_customer_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let new = offboard_store::customers::NewCustomer {
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

async fn delete_records_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let chosen = ids(&f);
    let back = field(&f, "customer")
        .map(|c| format!("/customers/{}", esc(&c)))
        .unwrap_or_else(|| "/customers".into());
    let result = ui(&state, &headers, move |e| {
        let plan = e.delete_records(
            &kind,
            &offboard_engine::records::RecordSelection::Ids(chosen),
            false,
        )?;
        Ok((e.actor().clone(), plan))
    })
    .await;
    let (actor, plan) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = if plan.blocked.is_empty() {
        format!(
            "<p class=\"ok\">{} {} deleted.</p>",
            plan.deleted,
            esc(&plan.kind)
        )
    } else {
        let mut out = String::from("<p class=\"blocked\">Nothing was deleted:</p><ul>");
        for b in &plan.blocked {
            let _ = write!(
                out,
                "<li>{} {}: {}</li>",
                esc(&plan.kind),
                b.id,
                esc(&b.message)
            );
        }
        out.push_str("</ul>");
        out
    };
    let _ = write!(body, "<p><a href=\"{back}\">Back</a></p>");
    page("Delete records", Some(&actor), &body).into_response()
}

// ---- plans ------------------------------------------------------------------------------

fn why(c: &CustomerPlan) -> String {
    match &c.why {
        Some(w) => esc(w),
        None => c
            .blockers
            .iter()
            .map(|b| {
                let amount = b
                    .amount
                    .map(|a| format!(", {}", offboard_model::value::format_money(a)))
                    .unwrap_or_default();
                format!(
                    "{} <small>[{}: {}{amount}]</small>",
                    esc(&b.message),
                    esc(&b.rule),
                    b.count
                )
            })
            .collect::<Vec<_>>()
            .join("<br>"),
    }
}

/// A plan as HTML: the counts, what it changes, and every customer not processed, with why.
fn plan_html(plan: &Plan) -> String {
    let mut out = format!(
        "<p>{} candidates: <span class=\"ok\">{} {}</span>, <span class=\"blocked\">{} blocked</span>, {} skipped.</p>",
        plan.candidates,
        plan.done,
        plan.done_key(),
        plan.blocked,
        plan.skipped
    );
    let by_rule: Vec<String> = plan
        .blocked_by_rule
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| format!("{} {n}", esc(r)))
        .collect();
    if !by_rule.is_empty() {
        let _ = write!(out, "<p>Blocked by: {}</p>", by_rule.join(", "));
    }
    if !plan.effects.is_empty() {
        out.push_str("<p>Effects: ");
        let parts: Vec<String> = plan
            .effects
            .iter()
            .map(|(t, e)| {
                let what: Vec<String> = e.iter().map(|(k, n)| format!("{n} {k}")).collect();
                format!("{} {}", esc(t), what.join(", "))
            })
            .collect();
        out.push_str(&parts.join("; "));
        out.push_str("</p>");
    }
    let not_done: Vec<&CustomerPlan> = plan
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::Proceeds)
        .collect();
    if !not_done.is_empty() {
        out.push_str("<table><tr><th>Customer</th><th>Outcome</th><th>Why</th></tr>");
        for c in not_done.iter().take(500) {
            let _ = write!(
                out,
                "<tr><td><a href=\"/customers/{}\">{} {}</a></td><td class=\"blocked\">{}</td><td>{}</td></tr>",
                c.id,
                esc(&c.number),
                esc(&c.name),
                if c.outcome == Outcome::Blocked { "blocked" } else { "skipped" },
                why(c)
            );
        }
        out.push_str("</table>");
        if not_done.len() > 500 {
            let _ = write!(
                out,
                "<p>… and {} more (the API lists every one)</p>",
                not_done.len() - 500
            );
        }
    }
    out
}

fn result_page(actor: &Actor, title: &str, plan: &Plan) -> Response {
    let body = format!(
        "{}<p><a href=\"/customers\">Back to customers</a></p>",
        plan_html(plan)
    );
    page(title, Some(actor), &body).into_response()
}

async fn bulk(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let chosen = ids(&f);
    if chosen.is_empty() {
        return no_customers();
    }
    let list = id_list(&chosen);
    match field(&f, "action").as_deref() {
        Some("deactivate") => Redirect::to(&format!("/deactivate?ids={list}")).into_response(),
        Some("delete") => Redirect::to(&format!("/delete?ids={list}")).into_response(),
        // Reversible: done at once, and the result page explains every customer.
        Some("undelete") => {
            apply(&state, &headers, "Undeleted", move |e| {
                Ok(e.undelete(&chosen, false)?)
            })
            .await
        }
        Some("reactivate") => {
            apply(&state, &headers, "Reactivated", move |e| {
                Ok(e.reactivate(&chosen, false)?)
            })
            .await
        }
        _ => error_page(ApiError::bad_request("choose an action")),
    }
}

#[derive(Deserialize)]
struct IdsParam {
    ids: Option<String>,
}

impl IdsParam {
    fn list(&self) -> Vec<i64> {
        self.ids
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter_map(|v| v.trim().parse().ok())
            .collect()
    }
}

fn no_customers() -> Response {
    error_page(ApiError::bad_request(
        "no customers chosen: tick them in the list first",
    ))
}

async fn deactivate_dialog(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<IdsParam>,
) -> Response {
    let list = p.list();
    if list.is_empty() {
        return no_customers();
    }
    let ids = list.clone();
    let result = ui(&state, &headers, move |e| {
        // What would block, before a reason and a choice for open activities are given.
        let plan = e.deactivate(&ids, &Default::default(), true)?;
        let model = e.store().model().clone();
        let mut kinds = Vec::new();
        for id in &ids {
            if let Some(c) = e.store().find_customer(*id)? {
                kinds.push(c.kind);
            }
        }
        Ok((e.actor().clone(), plan, model, kinds))
    })
    .await;
    let (actor, plan, model, kinds) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let resolvable: Vec<&str> = model
        .rules_for(Operation::Deactivate)
        .filter(|r| r.resolve.is_some())
        .map(|r| r.id.as_str())
        .collect();
    // Blocked for good: a blocker the user cannot resolve here.
    let hard = |c: &CustomerPlan| {
        c.blockers
            .iter()
            .any(|b| !resolvable.contains(&b.rule.as_str()))
    };
    let open: i64 = plan
        .customers
        .iter()
        .flat_map(|c| &c.blockers)
        .filter(|b| resolvable.contains(&b.rule.as_str()))
        .map(|b| b.count)
        .sum();
    let blocked: Vec<&CustomerPlan> = plan.customers.iter().filter(|c| hard(c)).collect();
    let can: usize = plan
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::Skipped && !hard(c))
        .count();
    let mut body = String::new();
    if !blocked.is_empty() {
        body.push_str("<div class=\"note\"><p>These cannot be deactivated while the items below exist:</p><table><tr><th>Customer</th><th>Blocking items</th></tr>");
        for c in &blocked {
            let items: Vec<&offboard_engine::Blocker> = c
                .blockers
                .iter()
                .filter(|b| !resolvable.contains(&b.rule.as_str()))
                .collect();
            let text: Vec<String> = items
                .iter()
                .map(|b| format!("{}{}", esc(&b.message), shown_amount(b)))
                .collect();
            let _ = write!(
                body,
                "<tr><td><a href=\"/customers/{}\">{} {}</a></td><td>{}</td></tr>",
                c.id,
                esc(&c.number),
                esc(&c.name),
                text.join("<br>")
            );
        }
        body.push_str("</table></div>");
    }
    for c in plan
        .customers
        .iter()
        .filter(|c| c.outcome == Outcome::Skipped)
    {
        let _ = write!(
            body,
            "<p>{} {}: {}</p>",
            esc(&c.number),
            esc(&c.name),
            esc(c.why.as_deref().unwrap_or(""))
        );
    }
    if can == 0 {
        body.push_str("<p><a href=\"/customers\"><button>Cancel</button></a></p>");
        return page("Deactivate", Some(&actor), &body).into_response();
    }
    let mut reasons: Vec<&String> = Vec::new();
    for k in &kinds {
        for r in model.customer.reasons_for(k) {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/deactivate\">{}<p>{can} customer(s) can be deactivated{}.</p>",
        hidden_ids(&list),
        if blocked.is_empty() { "" } else { "; the blocked ones stay active" }
    );
    if !reasons.is_empty() {
        body.push_str("<p><label>Reason <select name=\"reason\">");
        for r in reasons {
            let _ = write!(body, "<option>{}</option>", esc(r));
        }
        body.push_str("</select></label></p>");
    }
    if open > 0 {
        let _ = write!(
            body,
            "<fieldset><legend>{open} open activities</legend><label><input type=\"radio\" name=\"open_activities\" value=\"complete\" checked> mark them completed</label><br><label><input type=\"radio\" name=\"open_activities\" value=\"remove\"> remove them</label></fieldset>"
        );
    }
    body.push_str("<button>OK</button> <a href=\"/customers\">Cancel</a></form>");
    page("Deactivate", Some(&actor), &body).into_response()
}

fn op_body(f: &[(String, String)]) -> OpBody {
    OpBody {
        customers: ids(f),
        reason: field(f, "reason"),
        open_activities: field(f, "open_activities"),
        move_to: field(f, "move_to").and_then(|v| v.trim().parse().ok()),
        dry_run: false,
    }
}

/// Applies an operation posted from a form and shows its result.
async fn apply(
    state: &AppState,
    headers: &HeaderMap,
    title: &'static str,
    f: impl FnOnce(&mut Engine<'_>) -> Result<Plan, ApiError> + Send + 'static,
) -> Response {
    match ui(state, headers, move |e| Ok((e.actor().clone(), f(e)?))).await {
        Ok((actor, plan)) => result_page(&actor, title, &plan),
        Err(r) => r,
    }
}

async fn deactivate_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = op_body(&form(&body));
    if b.customers.is_empty() {
        return no_customers();
    }
    let opts = match b.options() {
        Ok(o) => o,
        Err(e) => return error_page(e),
    };
    apply(&state, &headers, "Deactivated", move |e| {
        Ok(e.deactivate(&b.customers, &opts, false)?)
    })
    .await
}

async fn reactivate_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = op_body(&form(&body));
    apply(&state, &headers, "Reactivated", move |e| {
        Ok(e.reactivate(&b.customers, false)?)
    })
    .await
}

async fn undelete_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let b = op_body(&form(&body));
    apply(&state, &headers, "Undeleted", move |e| {
        Ok(e.undelete(&b.customers, false)?)
    })
    .await
}

async fn delete_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<IdsParam>,
) -> Response {
    let list = p.list();
    if list.is_empty() {
        return no_customers();
    }
    let ids = list.clone();
    let result = ui(&state, &headers, move |e| {
        let plan = e.delete(&ids, true)?;
        Ok((e.actor().clone(), plan, e.store().model().delete))
    })
    .await;
    let (actor, plan, mode) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let what = match mode {
        DeleteMode::Soft => "They go to the recycle bin, from where they can be undeleted until the cleanup.",
        DeleteMode::Deactivate => "They are inactivated: hidden from search, pickers and new documents; every existing document keeps them.",
        DeleteMode::Hard => "They are erased at once. This cannot be undone.",
    };
    let mut body = format!("<p class=\"note\">{what}</p>{}", plan_html(&plan));
    if plan.done > 0 {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/delete\">{}<button>Delete {} customer(s)</button> <a href=\"/customers\">Cancel</a></form>",
            hidden_ids(&list),
            plan.done
        );
    } else {
        body.push_str("<p><a href=\"/customers\"><button>Cancel</button></a></p>");
    }
    if mode == DeleteMode::Hard && list.len() == 1 {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/delete\">{}<fieldset><legend>Or move its data to another customer first</legend><label>customer id <input name=\"move_to\" size=\"8\"></label> <button>Move and delete</button></fieldset></form>",
            hidden_ids(&list)
        );
    }
    page("Delete", Some(&actor), &body).into_response()
}

async fn delete_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let b = op_body(&form(&body));
    if b.customers.is_empty() {
        return no_customers();
    }
    apply(&state, &headers, "Deleted", move |e| {
        Ok(match (b.move_to, b.customers.as_slice()) {
            (Some(to), [one]) => e.delete_moving(*one, to, false)?,
            _ => e.delete(&b.customers, false)?,
        })
    })
    .await
}

async fn purge_preview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = ui(&state, &headers, |e| {
        Ok((e.actor().clone(), e.purge(true)?))
    })
    .await;
    let (actor, plan) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = format!(
        "<p class=\"note\">The cleanup erases the deleted customers for good: they cannot be undeleted afterwards, and their numbers become free.</p>{}",
        plan_html(&plan)
    );
    if plan.done > 0 {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/purge\"><p><label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> I understand that erasing {} customer(s) cannot be undone</label></p><button>Erase</button> <a href=\"/customers?view=deleted\">Cancel</a></form>",
            plan.done
        );
    }
    page("Clean up the recycle bin", Some(&actor), &body).into_response()
}

async fn purge_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if field(&form(&body), "confirm").as_deref() != Some("yes") {
        return error_page(ApiError::bad_request(
            "confirm that the cleanup cannot be undone",
        ));
    }
    apply(&state, &headers, "Cleaned up", |e| Ok(e.purge(false)?)).await
}

fn number(f: &[(String, String)], name: &str) -> Result<i64, ApiError> {
    field(f, name)
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("`{name}` needs a customer id")))
}

async fn transfer_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let (from, to) = match (number(&f, "from"), number(&f, "to")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    apply(&state, &headers, "Transferred", move |e| {
        Ok(e.transfer(from, to, None, false)?)
    })
    .await
}

async fn merge_form(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let (dup, into) = match (number(&f, "duplicate"), number(&f, "into")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return error_page(e),
    };
    apply(&state, &headers, "Merged", move |e| {
        Ok(e.merge(dup, into, false)?)
    })
    .await
}

#[derive(Deserialize)]
struct AuditQuery {
    customer: Option<i64>,
}

async fn audit_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::Audit)?;
        let actor = e.actor().clone();
        let db = e.store().db();
        let verified = offboard_engine::audit::verify(db)?;
        let list = offboard_engine::audit::list(db, q.customer, Some(500))?;
        Ok((actor, verified, list))
    })
    .await;
    let (actor, verified, list) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = if verified.ok {
        format!(
            "<p class=\"ok\">The hash chain is intact ({} entries).</p>",
            verified.entries
        )
    } else {
        format!(
            "<p class=\"error\">The audit log was tampered with: {}</p>",
            esc(verified.problem.as_deref().unwrap_or("unknown problem"))
        )
    };
    body.push_str("<table><tr><th>#</th><th>When</th><th>Who</th><th>Operation</th><th>Customer</th><th>Reason</th><th>Details</th></tr>");
    for e in &list {
        let customer = match (e.customer_id, &e.customer_number, &e.customer_name) {
            (Some(id), n, name) => format!(
                "{} {} <small>(id {id})</small>",
                esc(n.as_deref().unwrap_or("")),
                esc(name.as_deref().unwrap_or(""))
            ),
            _ => String::new(),
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{customer}</td><td>{}</td><td><small>{}</small></td></tr>",
            e.seq,
            esc(&e.at),
            esc(&e.actor),
            esc(&e.operation),
            esc(e.reason.as_deref().unwrap_or("")),
            esc(&e.details.to_string())
        );
    }
    body.push_str("</table>");
    page("Audit log", Some(&actor), &body).into_response()
}

async fn settings_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = ui(&state, &headers, |e| {
        e.allow(Operation::View)?;
        let users = if e.allow(Operation::Users).is_ok() {
            e.store().users()?
        } else {
            Vec::new()
        };
        Ok((e.actor().clone(), e.store().model().clone(), users))
    })
    .await;
    let (actor, model, users) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = format!(
        "<p>Model <strong>{}</strong>: delete is <em>{:?}</em>, cleanup <em>{:?}</em>. Everything below comes from the model file; edit it (and run any offboard command) to change it.</p><h2>Deactivation reasons</h2><table><tr><th>Kind</th><th>Reasons</th></tr>",
        esc(&model.name),
        model.delete,
        model.purge
    );
    for k in &model.customer.kinds {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(k),
            esc(&model.customer.reasons_for(k).join(", "))
        );
    }
    body.push_str("</table><h2>Rules</h2><table><tr><th>Rule</th><th>On</th><th>Message</th></tr>");
    for r in &model.rules {
        let on: Vec<&str> = r.on.iter().map(|o| o.name()).collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.id),
            on.join(", "),
            esc(&r.message)
        );
    }
    body.push_str("</table><h2>Permissions</h2><table><tr><th>Operation</th><th>Roles</th></tr>");
    for op in Operation::ALL {
        let roles: Vec<&str> = model
            .permissions
            .roles(op)
            .iter()
            .map(|r| r.name())
            .collect();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            op.name(),
            roles.join(", ")
        );
    }
    body.push_str("</table>");
    if !users.is_empty() {
        let by_role: BTreeMap<&str, Vec<&str>> = users.iter().fold(BTreeMap::new(), |mut m, u| {
            m.entry(u.role.name())
                .or_insert_with(Vec::new)
                .push(u.name.as_str());
            m
        });
        body.push_str("<h2>Users</h2><table><tr><th>Role</th><th>Users</th></tr>");
        for (role, names) in by_role {
            let _ = write!(
                body,
                "<tr><td>{role}</td><td>{}</td></tr>",
                esc(&names.join(", "))
            );
        }
        body.push_str(
            "</table><p>Add users with <code>offboard users add NAME --role clerk</code>.</p>",
        );
    }
    page("Settings", Some(&actor), &body).into_response()
}
