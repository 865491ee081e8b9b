//! The lifecycle from the UI. Everything destructive is plan, then apply: a preview (a dry
//! run) first, then the same operation posted from it, and a result page explaining every
//! customer that was not processed. The deactivate dialog shows the blocking items with
//! counts and amounts: for one customer, only Cancel while anything blocks; for several (mass
//! deactivation), OK deactivates the others and the result says why each blocked one stayed.

use crate::ui::ui;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use offboard_engine::{CustomerPlan, DeactivateOptions, Engine, OpenItems, Outcome, Plan};
use offboard_model::model::{DeleteMode, Operation, View};

use super::{error_page, field, form, id_list, ids, render, ui_heavy, BlockerView, Names, Viewer};
use crate::{ApiError, AppState};

/// How many not-processed customers a page lists.
const LISTED: usize = 500;

#[derive(Serialize)]
struct CustomerView {
    id: i64,
    number: String,
    name: String,
    outcome: &'static str,
    why: Option<String>,
    blockers: Vec<BlockerView>,
}

fn customer_view(c: &CustomerPlan, names: &Names) -> CustomerView {
    CustomerView {
        id: c.id,
        number: c.number.clone(),
        name: c.name.clone(),
        outcome: match c.outcome {
            Outcome::Proceeds => "proceeds",
            Outcome::Blocked => "blocked",
            Outcome::Skipped => "skipped",
            Outcome::Deactivated => "deactivated instead",
        },
        why: c.why.clone(),
        blockers: c
            .blockers
            .iter()
            .map(|b| BlockerView::named(b, names))
            .collect(),
    }
}

/// A plan as the templates show it: counts, effects, and the customers not processed (what
/// blocks each named from `names`, [`Names::of_plan`]).
pub(crate) fn plan_view(plan: &Plan, names: &Names) -> Value {
    let not_done: Vec<&CustomerPlan> = plan
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::Proceeds)
        .collect();
    json!({
        "candidates": plan.candidates,
        "done": plan.done,
        "done_key": plan.done_key(),
        "blocked": plan.blocked,
        "skipped": plan.skipped,
        "by_rule": plan.blocked_by_rule.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{} ({n})", super::rule_words(r))).collect::<Vec<_>>(),
        "effects": effect_lines(&plan.effects),
        "candidates_text": super::plural(plan.candidates, "candidate"),
        "dry_run": plan.dry_run,
        "not_done": not_done.iter().take(LISTED).map(|c| customer_view(c, names)).collect::<Vec<_>>(),
        "done_list": plan.customers.iter().filter(|c| c.outcome == Outcome::Proceeds).take(LISTED)
            .map(|c| json!({ "id": c.id, "number": c.number, "name": c.name })).collect::<Vec<_>>(),
        "done_more": plan.done.saturating_sub(LISTED),
        "more": not_done.len().saturating_sub(LISTED),
    })
}

/// Applies an operation posted from a form and shows its result.
/// The fingerprint of the plan a confirmation page showed (its hidden `plan` field).
pub(crate) fn planned(body: &Bytes) -> Option<String> {
    field(&form(body), "plan").filter(|p| !p.is_empty())
}

/// Applies an operation posted from a form and shows its result. `expected` is the
/// fingerprint of the plan the page showed ([`planned`]): the apply is bound to it, and does
/// nothing (409, the new plan said) when it would now differ.
pub(crate) async fn apply(
    state: &AppState,
    headers: &HeaderMap,
    expected: Option<String>,
    title: &'static str,
    f: impl FnOnce(&mut Engine<'_>) -> Result<Plan, ApiError> + Send + 'static,
) -> Response {
    match ui_heavy(state, headers, move |e| {
        e.expect_plan(expected);
        let plan = f(e)?;
        let names = Names::of_plan(e, &plan, LISTED)?;
        Ok((Viewer::of(e), plan, names))
    })
    .await
    {
        Ok((actor, plan, names)) => {
            // A delete that had to deactivate instead says so in its title.
            let title = if plan.done == 0 && plan.deactivated > 0 {
                "Deactivated instead"
            } else {
                title
            };
            super::changed(render(
                "result.html",
                title,
                Some(&actor),
                json!({ "result": plan_view(&plan, &names), "offer": undelete_both(&plan), "undo": undo_offer(&plan, &actor) }),
            ))
        }
        Err(r) => r,
    }
}

/// After a deactivation, a delete to the recycle bin or a merge: an Undo for who may.
fn undo_offer(plan: &Plan, viewer: &Viewer) -> Value {
    use offboard_model::model::Operation as Op;
    let undoable = match plan.operation {
        Op::Merge | Op::Transfer => true,
        Op::Deactivate | Op::Delete => plan
            .effects
            .get("customers")
            .is_some_and(|e| e.contains_key("deactivated") || e.contains_key("deleted")),
        _ => false,
    };
    match (undoable, plan.audit_entry, viewer.may_undo()) {
        (true, Some(seq), true) => json!({
            "action": "/undo",
            "fields": [("entry", seq.to_string())],
            "label": "Undo",
        }),
        _ => Value::Null,
    }
}

/// `GET /undo?entry=SEQ`: what undoing that operation would do.
pub async fn undo_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<UndoParams>,
) -> Response {
    let seq = p.entry;
    match ui_heavy(&state, &headers, move |e| {
        Ok((Viewer::of(e), e.undo(seq, true)?))
    })
    .await
    {
        Ok((viewer, plan)) => render(
            "confirm.html",
            &format!(
                "Undo the {} of entry {}",
                crate::ui::customers::human(&plan.operation).to_lowercase(),
                plan.entries.0
            ),
            Some(&viewer),
            json!({
                "note": "Takes the operation back as the audit log recorded it. A customer changed since stays as it is, and says why.",
                "plan": undo_view(&plan),
                "action": "/undo",
                "hidden": [("entry", seq.to_string()), ("plan", plan.fingerprint.clone())],
                "button": "Undo",
                "cancel": "/audit",
            }),
        ),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoParams {
    entry: i64,
}

/// `POST /undo` (`entry=SEQ`): takes the operation back.
pub async fn undo(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let Some(seq) = field(&f, "entry").and_then(|v| v.parse::<i64>().ok()) else {
        return error_page(ApiError::bad_request(
            "say which audit entry to undo (entry=SEQ)",
        ));
    };
    let expected = planned(&body);
    match ui_heavy(&state, &headers, move |e| {
        e.expect_plan(expected);
        Ok((Viewer::of(e), e.undo(seq, false)?))
    })
    .await
    {
        Ok((viewer, plan)) => {
            state.counts().changed();
            super::changed(render(
                "result.html",
                "Undone",
                Some(&viewer),
                json!({ "result": undo_view(&plan) }),
            ))
        }
        Err(r) => r,
    }
}

/// A plan's effects in words, a line per table: "Invoice: 2 moved back, 1 detached".
fn effect_lines(
    effects: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, i64>>,
) -> Vec<String> {
    effects
        .iter()
        .map(|(t, e)| {
            let what: Vec<String> = e
                .iter()
                .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                .collect();
            format!("{}: {}", crate::ui::customers::human(t), what.join(", "))
        })
        .collect()
}

/// An undo's plan as the plan macro shows plans.
fn undo_view(plan: &offboard_engine::undo::UndoPlan) -> Value {
    let back: Vec<Value> = plan
        .customers
        .iter()
        .filter(|c| c.why.is_none())
        .map(|c| json!({ "id": c.id, "number": c.number, "name": c.name }))
        .collect();
    json!({
        "candidates_text": super::plural(plan.customers.len(), "customer"),
        "done": plan.undone,
        "done_key": "back",
        "blocked": plan.refused,
        "skipped": 0,
        "by_rule": [],
        "effects": effect_lines(&plan.effects),
        "dry_run": plan.dry_run,
        "not_done": plan.customers.iter().filter(|c| c.why.is_some()).map(|c| json!({
            "id": c.id, "number": c.number, "name": c.name, "outcome": "stays", "why": c.why, "blockers": [],
        })).collect::<Vec<_>>(),
        "done_list": if plan.dry_run { Vec::new() } else { back },
        "done_more": 0,
        "more": 0,
    })
}

/// An undelete refused because a customer's company (or another linked customer) is itself
/// in the recycle bin offers to undelete them together.
fn undelete_both(plan: &Plan) -> Value {
    if plan.operation != offboard_model::model::Operation::Undelete {
        return Value::Null;
    }
    let mut ids: Vec<i64> = Vec::new();
    for c in &plan.customers {
        let linked: Vec<i64> = c
            .blockers
            .iter()
            .filter(|b| b.rule.ends_with("-in-recycle-bin"))
            .flat_map(|b| b.ids.iter().copied())
            .collect();
        if !linked.is_empty()
            && linked.len() == c.blockers.iter().map(|b| b.ids.len()).sum::<usize>()
        {
            ids.push(c.id);
            ids.extend(linked);
        }
    }
    if ids.is_empty() {
        return Value::Null;
    }
    ids.sort_unstable();
    ids.dedup();
    json!({
        "action": "/undelete",
        "fields": ids.iter().map(|i| ("id", i.to_string())).collect::<Vec<_>>(),
        "label": format!("Undelete them together ({})", super::plural(ids.len(), "customer")),
    })
}

/// A preview: the dry run's plan, and a form that applies it.
struct Confirm<'a> {
    title: String,
    note: Option<&'a str>,
    action: &'a str,
    hidden: Vec<(&'a str, String)>,
    button: String,
    confirm_text: Option<String>,
    cancel: &'a str,
    move_to: Option<String>,
    /// Reasons for a "move to customer" that has to deactivate instead.
    reasons: Vec<String>,
    /// Two customers side by side (a merge, a transfer): what each has, before.
    compare: Option<Value>,
}

async fn preview(
    state: &AppState,
    headers: &HeaderMap,
    dry_run: impl FnOnce(&mut Engine<'_>) -> Result<(Plan, Value), ApiError> + Send + 'static,
    confirm: impl FnOnce(&Plan, &Value) -> Confirm<'static>,
) -> Response {
    match ui_heavy(state, headers, move |e| {
        let (plan, extra) = dry_run(e)?;
        let names = Names::of_plan(e, &plan, LISTED)?;
        Ok((Viewer::of(e), plan, extra, names))
    })
    .await
    {
        Ok((actor, plan, extra, names)) => {
            let mut c = confirm(&plan, &extra);
            // What the person confirms is what happens: the apply is bound to this plan.
            c.hidden.push(("plan", plan.fingerprint.clone()));
            render(
                "confirm.html",
                &c.title,
                Some(&actor),
                json!({
                    "note": c.note,
                    "plan": plan_view(&plan, &names),
                    "action": c.action,
                    "hidden": c.hidden,
                    "button": c.button,
                    "confirm_text": c.confirm_text,
                    "cancel": c.cancel,
                    "move_to": c.move_to,
                    "reasons": c.reasons,
                    "compare": c.compare,
                }),
            )
        }
        Err(r) => r,
    }
}

/// Which customers a dialog acts on: the ticked ones, or every customer a list's query
/// matches ("select all N matching": the selection is the query, not the ids of a page; it
/// is resolved, in one set-based query, when the dialog plans and again when it applies).
#[derive(Clone, Debug)]
pub(crate) enum Selection {
    Ids(Vec<i64>),
    Matching {
        view: View,
        search: Option<String>,
        kind: Option<String>,
    },
}

impl Selection {
    /// From a form or a query string: `all=1` with `view`, `search`, `kind`; else the `id`s.
    pub(crate) fn from_form(f: &[(String, String)]) -> Result<Selection, ApiError> {
        if field(f, "all").as_deref() == Some("1") {
            let view = match field(f, "view") {
                Some(v) => View::parse(&v).ok_or_else(|| {
                    ApiError::bad_request(format!("unknown view `{v}`; views are: {}", View::NAMES))
                })?,
                None => View::Current,
            };
            return Ok(Selection::Matching {
                view,
                search: field(f, "search"),
                kind: field(f, "kind"),
            });
        }
        let list = ids(f);
        if list.is_empty() {
            return Err(ApiError::bad_request(
                "no customers chosen: tick them in the list first",
            ));
        }
        Ok(Selection::Ids(list))
    }

    /// The customers' ids as things are now.
    pub(crate) fn resolve(&self, e: &mut Engine<'_>) -> Result<Vec<i64>, ApiError> {
        match self {
            Selection::Ids(list) => Ok(list.clone()),
            Selection::Matching { view, search, kind } => {
                e.allow(Operation::View)?;
                let mut q = offboard_store::customers::ListQuery::view(*view);
                q.search = search.clone();
                q.kind = kind.clone();
                let list = e.read().customer_ids(&q)?;
                if list.is_empty() {
                    return Err(ApiError::bad_request(
                        "no customer matches the list's search any more; nothing was changed",
                    ));
                }
                Ok(list)
            }
        }
    }

    /// The fields a form carries it in.
    pub(crate) fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Selection::Ids(list) => vec![("ids", id_list(list))],
            Selection::Matching { view, search, kind } => {
                let mut f = vec![("all", "1".to_string()), ("view", view.name().to_string())];
                if let Some(s) = search {
                    f.push(("search", s.clone()));
                }
                if let Some(k) = kind {
                    f.push(("kind", k.clone()));
                }
                f
            }
        }
    }

    /// As a query string for a dialog's address.
    fn query(&self) -> String {
        if let Selection::Ids(list) = self {
            return format!("ids={}", id_list(list));
        }
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.fields())
            .finish()
    }

    fn is_one(&self) -> bool {
        matches!(self, Selection::Ids(l) if l.len() == 1)
    }
}

pub async fn bulk(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    let chosen = match Selection::from_form(&f) {
        Ok(c) => c,
        Err(e) => return error_page(e),
    };
    let query = chosen.query();
    match field(&f, "action").as_deref() {
        // The selection as a file: ticked rows by id, "all matching" as the list's query.
        Some("export") => {
            let mut q = match &chosen {
                Selection::Ids(_) => query.clone(),
                Selection::Matching { .. } => query.replace("all=1&", ""),
            };
            q.push_str("&format=csv");
            let to = format!("/api/v1/customers/export?{q}");
            if headers.contains_key("hx-request") {
                // A download, not a page for a dialog: the browser itself goes there.
                ([("HX-Redirect", to)], "").into_response()
            } else {
                Redirect::to(&to).into_response()
            }
        }
        Some("deactivate") => Redirect::to(&format!("/deactivate?{query}")).into_response(),
        Some("delete") => Redirect::to(&format!("/delete?{query}")).into_response(),
        Some("merge") => match &chosen {
            Selection::Ids(list) if list.len() >= 2 => {
                Redirect::to(&format!("/merge/many?{query}")).into_response()
            }
            _ => error_page(ApiError::bad_request(
                "tick the customers to merge (at least two) — a merge names each one",
            )),
        },
        // Reversible: done at once, and the result page explains every customer.
        Some("undelete") => {
            apply(&state, &headers, planned(&body), "Undeleted", move |e| {
                let list = chosen.resolve(e)?;
                Ok(e.undelete(&list, false)?)
            })
            .await
        }
        Some("reactivate") => {
            apply(&state, &headers, planned(&body), "Reactivated", move |e| {
                let list = chosen.resolve(e)?;
                Ok(e.reactivate(&list, false)?)
            })
            .await
        }
        _ => error_page(ApiError::bad_request("choose an action")),
    }
}

/// The selection a dialog's address names.
fn selection_of(query: &Option<String>) -> Result<Selection, ApiError> {
    let f: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    Selection::from_form(&f)
}

pub async fn deactivate_dialog(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let selection = match selection_of(&query) {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let chosen = selection.clone();
    let result = ui_heavy(&state, &headers, move |e| {
        let list = chosen.resolve(e)?;
        // What would block, before a reason and a choice for open activities are given.
        let preview = DeactivateOptions {
            preview: true,
            ..Default::default()
        };
        let plan = e.deactivate(&list, &preview, true)?;
        let model = e.read().model().clone();
        // The plans the form can confirm, to bind the apply to: one, or one per choice for
        // the open activities when any would block (with a reason from the list, the apply
        // plans as the preview does).
        let mut bound = vec![("plan".to_string(), plan.fingerprint.clone())];
        if plan.customers.iter().any(|c| !c.blockers.is_empty()) {
            for (name, choice) in [
                ("complete", OpenItems::Complete),
                ("remove", OpenItems::Remove),
            ] {
                let with = DeactivateOptions {
                    preview: true,
                    open_items: Some(choice),
                    ..Default::default()
                };
                let p = e.deactivate(&list, &with, true)?;
                bound.push((format!("plan.{name}"), p.fingerprint));
            }
        }
        // The dialog lists the blocked customers with what blocks them, by name.
        let names = Names::of_plan(e, &plan, LISTED)?;
        Ok((Viewer::of(e), plan, model, bound, names))
    })
    .await;
    let (actor, plan, model, bound, names) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let resolvable: Vec<&str> = model
        .rules_for(Operation::Deactivate)
        .filter(|r| r.resolve.is_some())
        .map(|r| r.id.as_str())
        .collect();
    let resolves = |b: &offboard_engine::Blocker| resolvable.contains(&b.rule.as_str());
    // Blocked for good: by something the user cannot resolve in this dialog.
    let hard = |c: &CustomerPlan| c.blockers.iter().any(|b| !resolves(b));
    let all_blocked: Vec<&CustomerPlan> = plan.customers.iter().filter(|c| hard(c)).collect();
    let blocked: Vec<Value> = all_blocked
        .iter()
        .take(LISTED)
        .map(|c| {
            let items: Vec<BlockerView> = c
                .blockers
                .iter()
                .filter(|b| !resolves(b))
                .map(|b| BlockerView::named(b, &names))
                .collect();
            json!({ "id": c.id, "number": c.number, "name": c.name, "items": items })
        })
        .collect();
    let free: Vec<&CustomerPlan> = plan
        .customers
        .iter()
        .filter(|c| c.outcome != Outcome::Skipped && !hard(c))
        .collect();
    let open: i64 = free
        .iter()
        .flat_map(|c| &c.blockers)
        .filter(|b| resolves(b))
        .map(|b| b.count)
        .sum();
    let skipped: Vec<Value> = plan
        .customers
        .iter()
        .filter(|c| c.outcome == Outcome::Skipped)
        .take(LISTED)
        .map(|c| json!({ "id": c.id, "number": c.number, "name": c.name, "why": c.why }))
        .collect();
    let single = selection.is_one();
    // One customer: only Cancel while anything blocks.
    let can = if single && !blocked.is_empty() {
        0
    } else {
        free.len()
    };
    // A reason list per kind among those that can go: a mixed selection (legal's companies
    // and persons) gets one list per kind, never one list that silently skips the others.
    let mut per_kind: Vec<(String, usize)> = Vec::new();
    for c in &free {
        match per_kind.iter_mut().find(|(name, _)| *name == c.kind) {
            Some((_, n)) => *n += 1,
            None => per_kind.push((c.kind.clone(), 1)),
        }
    }
    let reasons: Vec<Value> = per_kind
        .iter()
        .filter(|(k, _)| !model.customer.reasons_for(k).is_empty())
        .map(|(k, n)| {
            let label = format!(
                "Reason for the {}",
                super::plural(*n, &crate::ui::customers::human(k).to_lowercase())
            );
            json!({ "kind": k, "label": label, "reasons": model.customer.reasons_for(k) })
        })
        .collect();
    let title = match (&selection, plan.customers.first()) {
        (Selection::Ids(l), Some(c)) if l.len() == 1 => {
            format!("Deactivate {} {}", c.number, c.name)
        }
        _ => format!(
            "Deactivate {}",
            super::plural(plan.customers.len(), "customer")
        ),
    };
    render(
        "deactivate.html",
        &title,
        Some(&actor),
        json!({
            "single": single,
            "blocked": blocked,
            "blocked_more": all_blocked.len().saturating_sub(LISTED),
            "blocked_total": all_blocked.len(),
            "skipped": skipped,
            "can": can,
            "selection": selection.fields(),
            "bound": bound,
            "reasons": reasons,
            "one_kind": reasons.len() <= 1,
            "open": open,
            "background": can > BACKGROUND_FROM,
        }),
    )
}

/// A lifecycle operation as the web UI's forms post it.
pub struct OpBody {
    pub customers: Selection,
    pub reason: Option<String>,
    /// `reason.KIND` fields: a reason per customer kind.
    pub reasons: std::collections::BTreeMap<String, String>,
    pub open_activities: Option<OpenItems>,
    /// The customer to move the data to, as typed or picked: a number (or an id).
    pub move_to: Option<String>,
}

impl OpBody {
    pub fn options(&self) -> Result<DeactivateOptions, ApiError> {
        Ok(DeactivateOptions {
            reason: self.reason.clone().filter(|r| !r.is_empty()),
            reasons: self.reasons.clone(),
            open_items: self.open_activities,
            preview: false,
        })
    }
}

fn op_body(f: &[(String, String)]) -> Result<OpBody, ApiError> {
    let move_to = field(f, "move_to").filter(|v| !v.trim().is_empty());
    Ok(OpBody {
        customers: Selection::from_form(f)?,
        reason: field(f, "reason"),
        reasons: f
            .iter()
            .filter_map(|(k, v)| {
                let kind = k.strip_prefix("reason.")?;
                (!v.trim().is_empty()).then(|| (kind.to_string(), v.trim().to_string()))
            })
            .collect(),
        open_activities: match field(f, "open_activities").as_deref() {
            None | Some("") => None,
            Some("complete") => Some(OpenItems::Complete),
            Some("remove") => Some(OpenItems::Remove),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "open activities are completed or removed, not `{other}`"
                )))
            }
        },
        move_to,
    })
}

/// The operation's body from a posted form, with at least one customer.
fn posted(body: &Bytes) -> Result<OpBody, ApiError> {
    op_body(&form(body))
}

pub async fn deactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = match posted(&body) {
        Ok(b) => b,
        Err(e) => return error_page(e),
    };
    let opts = match b.options() {
        Ok(o) => o,
        Err(e) => return error_page(e),
    };
    // The plan the dialog showed for the choice made about open activities.
    let expected = match b.open_activities {
        Some(OpenItems::Complete) => field(&form(&body), "plan.complete"),
        Some(OpenItems::Remove) => field(&form(&body), "plan.remove"),
        None => None,
    }
    .filter(|p| !p.is_empty())
    .or_else(|| planned(&body));
    if field(&form(&body), "background").as_deref() == Some("1") {
        return background_for(&state, &headers, b.customers, move |list| {
            crate::lifecycle::Command::deactivate(list, &opts).with_plan(expected)
        })
        .await;
    }
    apply(&state, &headers, expected, "Deactivated", move |e| {
        let list = b.customers.resolve(e)?;
        Ok(e.deactivate(&list, &opts, false)?)
    })
    .await
}

pub async fn reactivate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let b = match posted(&body) {
        Ok(b) => b,
        Err(e) => return error_page(e),
    };
    apply(&state, &headers, planned(&body), "Reactivated", move |e| {
        let list = b.customers.resolve(e)?;
        Ok(e.reactivate(&list, false)?)
    })
    .await
}

pub async fn undelete(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let b = match posted(&body) {
        Ok(b) => b,
        Err(e) => return error_page(e),
    };
    apply(&state, &headers, planned(&body), "Undeleted", move |e| {
        let list = b.customers.resolve(e)?;
        Ok(e.undelete(&list, false)?)
    })
    .await
}

pub async fn delete_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let selection = match selection_of(&query) {
        Ok(s) => s,
        Err(e) => return error_page(e),
    };
    let single = match &selection {
        Selection::Ids(l) if l.len() == 1 => Some(l[0]),
        _ => None,
    };
    // "Move its data to another customer first": previewed like the delete itself.
    let asked: Vec<(String, String)> =
        form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let move_to = field(&asked, "move_to");
    let move_reason = field(&asked, "reason");
    let move_reason_shown = move_reason.clone();
    let moving = move_to.clone();
    let chosen = selection.clone();
    preview(
        &state,
        &headers,
        move |e| {
            let list = chosen.resolve(e)?;
            let (plan, target) = match (&moving, single) {
                (Some(to), Some(one)) => {
                    let to = resolve(e, to, "to move the data to")?;
                    let target = e.read().customer(to)?;
                    (
                        e.delete_moving(one, to, move_reason.clone(), true)?,
                        Some(format!("{} {}", target.number, target.name)),
                    )
                }
                (Some(_), None) => {
                    return Err(ApiError::bad_request(
                        "moving data to another customer works for one customer at a time",
                    ))
                }
                (None, _) => (e.delete(&list, true)?, None),
            };
            let who = match list.as_slice() {
                [one] => e.read().customer(*one).map(|c| format!("{} {}", c.number, c.name)).ok(),
                _ => None,
            };
            // One customer may be moved to another; when something of it has to stay, it is
            // deactivated instead, which needs a reason for its kind.
            let reasons = match list.as_slice() {
                [one] if matches!(chosen, Selection::Ids(_)) => {
                    let kind = e.read().customer(*one)?.kind;
                    e.read().model().customer.reasons_for(&kind).to_vec()
                }
                _ => Vec::new(),
            };
            Ok((
                plan,
                json!({ "mode": e.read().model().delete, "reasons": reasons, "who": who, "target": target }),
            ))
        },
        move |plan, extra| {
            let reasons: Vec<String> = extra["reasons"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let mode: DeleteMode = match extra["mode"].as_str() {
                Some("hard") => DeleteMode::Hard,
                Some("deactivate") => DeleteMode::Deactivate,
                _ => DeleteMode::Soft,
            };
            let note = match mode {
                DeleteMode::Soft => "They go to the recycle bin, from where they can be undeleted until the cleanup.",
                DeleteMode::Deactivate => "They are inactivated: hidden from search, pickers and new documents; every existing document keeps them.",
                DeleteMode::Hard => "They are erased at once. This cannot be undone.",
            };
            let who = extra["who"].as_str().map(String::from);
            let target = extra["target"].as_str().map(String::from);
            let title = match (&who, &target) {
                (Some(w), Some(t)) => format!("Move the data of {w} to {t}, then delete it"),
                (Some(w), None) => format!("Delete {w}"),
                _ => format!("Delete {}", super::plural(plan.candidates, "customer")),
            };
            Confirm {
                title,
                note: Some(note),
                action: "/delete",
                hidden: {
                    let mut h = selection.fields();
                    if plan.done > BACKGROUND_FROM {
                        h.push(("background", "1".to_string()));
                    }
                    if let Some(to) = &move_to {
                        h.push(("move_to", to.clone()));
                    }
                    if let Some(r) = &move_reason_shown {
                        h.push(("reason", r.clone()));
                    }
                    h
                },
                button: if plan.done == 1 {
                    "Delete 1 customer".to_string()
                } else {
                    format!("Delete {}", super::plural(plan.done, "customer"))
                },
                // Erased at once: a tick first, as the cleanup asks.
                confirm_text: (mode == DeleteMode::Hard).then(|| match &who {
                    Some(w) => format!("I understand that {w} is erased and this cannot be undone"),
                    None => format!(
                        "I understand that erasing {} cannot be undone",
                        super::plural(plan.done, "customer")
                    ),
                }),
                cancel: "/customers",
                move_to: single
                    .filter(|_| mode == DeleteMode::Hard && target.is_none())
                    .map(|one| one.to_string()),
                reasons,
                compare: None,
            }
        },
    )
    .await
}

pub async fn delete(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let b = match posted(&body) {
        Ok(b) => b,
        Err(e) => return error_page(e),
    };
    if b.move_to.is_some() && !b.customers.is_one() {
        return error_page(ApiError::bad_request(
            "moving data to another customer works for one customer at a time",
        ));
    }
    // A delete that erases at once (the model's `delete = "hard"`) is done only when ticked.
    let confirmed = field(&form(&body), "confirm").as_deref() == Some("yes");
    let erases_unconfirmed = move |e: &mut Engine<'_>| {
        if e.read().model().delete == DeleteMode::Hard && !confirmed {
            return Err(ApiError::bad_request(
                "confirm that the erasure cannot be undone (tick the box)",
            ));
        }
        Ok(())
    };
    if field(&form(&body), "background").as_deref() == Some("1") {
        let expected = planned(&body);
        return queue(&state, &headers, move |e| {
            erases_unconfirmed(e)?;
            let list = b.customers.resolve(e)?;
            Ok(crate::lifecycle::Command::delete(list).with_plan(expected))
        })
        .await;
    }
    apply(&state, &headers, planned(&body), "Deleted", move |e| {
        erases_unconfirmed(e)?;
        let list = b.customers.resolve(e)?;
        Ok(match (b.move_to.as_deref(), list.as_slice()) {
            (Some(to), [one]) => {
                let to = resolve(e, to, "to move the data to")?;
                e.delete_moving(*one, to, b.reason.clone(), false)?
            }
            _ => e.delete(&list, false)?,
        })
    })
    .await
}

pub async fn purge_preview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    preview(
        &state,
        &headers,
        |e| Ok((e.purge(true)?, Value::Null)),
        |plan, _| Confirm {
            title: "Clean up the recycle bin".into(),
            note: Some(if plan.done > BACKGROUND_FROM {
                "The cleanup erases the deleted customers for good: they cannot be undeleted afterwards, and their numbers become free. It is a big one: it runs in the background, and the next page shows how far it is."
            } else {
                "The cleanup erases the deleted customers for good: they cannot be undeleted afterwards, and their numbers become free."
            }),
            action: "/purge",
            hidden: if plan.done > BACKGROUND_FROM {
                vec![("background", "1".to_string())]
            } else {
                Vec::new()
            },
            button: "Erase".into(),
            confirm_text: Some(format!(
                "I understand that erasing {} customer(s) cannot be undone",
                plan.done
            )),
            cancel: "/customers?view=deleted",
            move_to: None,
            reasons: Vec::new(),
            compare: None,
        },
    )
    .await
}

pub async fn purge(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if field(&form(&body), "confirm").as_deref() != Some("yes") {
        return error_page(ApiError::bad_request(
            "confirm that the cleanup cannot be undone",
        ));
    }
    if field(&form(&body), "background").as_deref() == Some("1") {
        return background(
            &state,
            &headers,
            crate::lifecycle::Command::purge().with_plan(planned(&body)),
        )
        .await;
    }
    apply(&state, &headers, planned(&body), "Cleaned up", |e| {
        Ok(e.purge(false)?)
    })
    .await
}

/// A cleanup of more customers than this runs as a background job with a progress page.
const BACKGROUND_FROM: usize = 1_000;

/// Queues `command` as a job for the logged-in user and shows its progress page.
async fn background(
    state: &AppState,
    headers: &HeaderMap,
    command: crate::lifecycle::Command,
) -> Response {
    queue(state, headers, move |_| Ok(command)).await
}

/// [`background`] for an operation on a selection: the selection is resolved now (the
/// customers the job acts on are those the query matches when the user confirms).
async fn background_for(
    state: &AppState,
    headers: &HeaderMap,
    selection: Selection,
    command: impl FnOnce(Vec<i64>) -> crate::lifecycle::Command + Send + 'static,
) -> Response {
    queue(state, headers, move |e| Ok(command(selection.resolve(e)?))).await
}

/// Queues the command `make` gives, once the user may run it, and shows the job's page.
pub(crate) async fn queue(
    state: &AppState,
    headers: &HeaderMap,
    make: impl FnOnce(&mut Engine<'_>) -> Result<crate::lifecycle::Command, ApiError> + Send + 'static,
) -> Response {
    let book = state.clone();
    let job = ui(state, headers, move |e| {
        let command = make(e)?;
        command.allow(e)?;
        let a = e.actor().clone();
        book.with_book(|b| {
            Ok(b.submit(command.name(), &a.name, a.role.name(), &command.request())?)
        })
    })
    .await;
    match job {
        Ok(job) => {
            state.jobs_signal().wake();
            Redirect::to(&format!("/jobs/{}", job.id)).into_response()
        }
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub struct PairParams {
    from: Option<String>,
    to: Option<String>,
    duplicate: Option<String>,
    into: Option<String>,
}

/// The customer a user typed or picked: its number (what people know), else its id; a
/// picked suggestion ("M0001042 Acme GmbH") by its first word.
pub(crate) fn resolve(e: &mut Engine<'_>, text: &str, what: &str) -> Result<i64, ApiError> {
    let token = text.split_whitespace().next().unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request(format!(
            "name the customer {what}: type its number, name or email and pick it from the list"
        )));
    }
    // A picked suggestion starts with the number; what people type is a number too.
    let typed = match offboard_store::resolve::typed(token)? {
        offboard_store::resolve::Typed::Either(t) => format!("number:{t}"),
        _ => token.to_string(),
    };
    let mut r = e.read();
    match r.resolve_customer(&typed, offboard_store::resolve::Purpose::Change) {
        Ok(found) => Ok(found.customer.id),
        Err(offboard_store::StoreError::NotFound(_)) => {
            // Not a number: an id typed by hand (or refused as ambiguous).
            match r.resolve_customer(token, offboard_store::resolve::Purpose::Change) {
                Ok(found) => Ok(found.customer.id),
                Err(offboard_store::StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
                    "there is no customer with the number `{token}`; type a number, name or email and pick the customer from the list"
                ))),
                Err(other) => Err(other.into()),
            }
        }
        Err(other) => Err(other.into()),
    }
}

fn number(v: Option<&String>, what: &str) -> Result<i64, ApiError> {
    v.and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| ApiError::bad_request(format!("`{what}` needs a customer id")))
}

fn pair(f: &[(String, String)], a: &str, b: &str) -> Result<(i64, i64), ApiError> {
    let get = |n: &str| f.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    Ok((number(get(a).as_ref(), a)?, number(get(b).as_ref(), b)?))
}

pub async fn transfer_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<PairParams>,
) -> Response {
    let from = match number(p.from.as_ref(), "from") {
        Ok(a) => a,
        Err(e) => return error_page(e),
    };
    let to_text = p.to.clone().unwrap_or_default();
    preview(
        &state,
        &headers,
        move |e| {
            let to = resolve(e, &to_text, "to transfer to")?;
            let plan = e.transfer(from, to, None, true)?;
            Ok((plan, side_by_side(e, from, to, "Gives its records", "Receives them")?))
        },
        move |_, pair| Confirm {
            title: format!("Transfer from {} to {}", pair["left"]["title"].as_str().unwrap_or_default(), pair["right"]["title"].as_str().unwrap_or_default()),
            note: Some("Transferable records move to the other customer; customers linked to this one are repointed. What cannot move stays, and the plan says so."),
            action: "/transfer",
            hidden: vec![("from", from.to_string()), ("to", pair["right"]["id"].to_string())],
            button: "Transfer".into(),
            confirm_text: None,
            cancel: "/customers",
            move_to: None,
            reasons: Vec::new(),
            compare: Some(pair.clone()),
        },
    )
    .await
}

pub async fn transfer(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (from, to) = match pair(&form(&body), "from", "to") {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    apply(&state, &headers, planned(&body), "Transferred", move |e| {
        Ok(e.transfer(from, to, None, false)?)
    })
    .await
}

pub async fn merge_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<PairParams>,
) -> Response {
    let dup = match number(p.duplicate.as_ref(), "duplicate") {
        Ok(a) => a,
        Err(e) => return error_page(e),
    };
    let into_text = p.into.clone().unwrap_or_default();
    preview(
        &state,
        &headers,
        move |e| {
            let into = resolve(e, &into_text, "to merge into")?;
            let plan = e.merge(dup, into, true)?;
            Ok((plan, side_by_side(e, dup, into, "Goes (the duplicate)", "Stays")?))
        },
        move |_, pair| Confirm {
            title: format!("Merge {} into {}", pair["left"]["title"].as_str().unwrap_or_default(), pair["right"]["title"].as_str().unwrap_or_default()),
            note: Some("Every record and link of the duplicate moves to the other customer, and the duplicate is removed. This cannot be undone."),
            action: "/merge",
            hidden: vec![("duplicate", dup.to_string()), ("into", pair["right"]["id"].to_string())],
            button: "Merge".into(),
            confirm_text: None,
            cancel: "/customers",
            move_to: None,
            reasons: Vec::new(),
            compare: Some(pair.clone()),
        },
    )
    .await
}

/// `GET /erase?id=`: a person's erasure request, planned as the purge (whatever the status).
pub async fn erase_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<OneCustomer>,
) -> Response {
    let id = p.id;
    preview(
        &state,
        &headers,
        move |e| {
            let c = e.read().customer(id)?;
            Ok((e.erase_customers(&[id], true)?, json!(format!("{} {}", c.number, c.name))))
        },
        move |plan, who| Confirm {
            title: format!("Erase {} on request", who.as_str().unwrap_or_default()),
            note: Some("An erasure request: the customer and its data go now, whatever its status, unless something that must legally stay blocks it (the plan below says what). Its email may not come back. This cannot be undone."),
            action: "/erase",
            hidden: vec![("id", id.to_string())],
            button: "Erase".into(),
            confirm_text: Some(format!(
                "I understand that erasing {} customer(s) cannot be undone",
                plan.done
            )),
            cancel: "/customers",
            move_to: None,
            reasons: Vec::new(),
            compare: None,
        },
    )
    .await
}

/// `POST /erase`: the erasure request, applied.
pub async fn erase(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    if field(&f, "confirm").as_deref() != Some("yes") {
        return error_page(ApiError::bad_request(
            "confirm that the erasure cannot be undone",
        ));
    }
    let Some(id) = field(&f, "id").and_then(|v| v.parse::<i64>().ok()) else {
        return error_page(ApiError::bad_request("name the customer to erase"));
    };
    apply(&state, &headers, planned(&body), "Erased", move |e| {
        Ok(e.erase_customers(&[id], false)?)
    })
    .await
}

/// A forget's report in words: "1 customer, 3 notes"; "name, email, note body".
fn forget_view(report: &offboard_engine::forget::ForgetReport) -> Value {
    use crate::ui::customers::human;
    let masked: Vec<String> = report
        .masked
        .iter()
        .map(|(table, n)| {
            let one = if table == "customers" {
                "customer".to_string()
            } else {
                human(table).to_lowercase()
            };
            super::plural(usize::try_from(*n).unwrap_or(0), &one)
        })
        .collect();
    let fields: Vec<String> = report
        .columns
        .iter()
        .map(|c| match c.split_once('.') {
            Some(("customers", col)) => human(col).to_lowercase(),
            Some((kind, col)) => format!(
                "{} {}",
                human(kind).to_lowercase(),
                human(col).to_lowercase()
            ),
            None => c.clone(),
        })
        .collect();
    json!({
        "number": report.number, "blocked_values": report.blocked_values, "notes": report.notes,
        "masked": masked, "fields": fields,
    })
}

#[derive(Deserialize)]
pub struct OneCustomer {
    id: i64,
}

/// `GET /forget?id=`: what a forget would mask, and the button that does it.
pub async fn forget_preview(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<OneCustomer>,
) -> Response {
    let id = p.id;
    let result = ui_heavy(&state, &headers, move |e| {
        let c = e.read().customer(id)?;
        let report = e.forget(id, true)?;
        Ok((Viewer::of(e), c, report))
    })
    .await;
    match result {
        Ok((actor, c, report)) => render(
            "forget.html",
            &format!("Forget {} {}", c.number, c.name),
            Some(&actor),
            json!({ "id": id, "report": forget_view(&report), "preview": true, "plan": report.fingerprint }),
        ),
        Err(r) => r,
    }
}

/// `POST /forget`: masks the customer's personal data.
pub async fn forget(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    if field(&f, "confirm").as_deref() != Some("yes") {
        return error_page(ApiError::bad_request(
            "confirm that forgetting cannot be undone",
        ));
    }
    let Some(id) = field(&f, "id").and_then(|v| v.parse::<i64>().ok()) else {
        return error_page(ApiError::bad_request("name the customer to forget"));
    };
    let expected = field(&f, "plan").filter(|p| !p.is_empty());
    let result = ui_heavy(&state, &headers, move |e| {
        e.expect_plan(expected);
        let report = e.forget(id, false)?;
        Ok((Viewer::of(e), report))
    })
    .await;
    match result {
        Ok((actor, report)) => super::changed(render(
            "forget.html",
            "Forgotten",
            Some(&actor),
            json!({ "id": id, "report": forget_view(&report), "preview": false }),
        )),
        Err(r) => r,
    }
}

/// Two customers side by side for a merge or a transfer: their fields and their records per
/// kind, as they are before it.
fn side_by_side(
    e: &mut Engine<'_>,
    left: i64,
    right: i64,
    left_role: &str,
    right_role: &str,
) -> Result<Value, ApiError> {
    use crate::ui::customers::human;
    let model = e.read().model().clone();
    let mut one = |id: i64, role: &str| -> Result<(Value, Vec<(String, String)>), ApiError> {
        let c = e.read().customer(id)?;
        let mut fields = vec![
            ("Number".to_string(), c.number.clone()),
            ("Kind".to_string(), human(&c.kind)),
            ("Status".to_string(), human(c.status.name())),
            ("Email".to_string(), c.email.clone().unwrap_or_default()),
        ];
        for f in &model.customer.fields {
            let v = c
                .fields
                .get(&f.name)
                .map(super::cell_text)
                .unwrap_or_default();
            fields.push((f.label.clone().unwrap_or_else(|| human(&f.name)), v));
        }
        for (kind, n) in e.read().customer_record_counts(id)? {
            let label = model
                .record(&kind)
                .and_then(|k| k.label.clone())
                .unwrap_or_else(|| human(&kind));
            fields.push((label, n.to_string()));
        }
        Ok((
            json!({ "id": c.id, "title": format!("{} {}", c.number, c.name), "role": role }),
            fields,
        ))
    };
    let (l, lf) = one(left, left_role)?;
    let (r, rf) = one(right, right_role)?;
    let rows: Vec<Value> = lf
        .iter()
        .map(|(label, lv)| {
            let rv = rf
                .iter()
                .find(|(k, _)| k == label)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            json!({ "label": label, "left": lv, "right": rv, "differs": *lv != rv })
        })
        .collect();
    Ok(json!({ "left": l, "right": r, "rows": rows }))
}

pub async fn merge(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let (dup, into) = match pair(&form(&body), "duplicate", "into") {
        Ok(p) => p,
        Err(e) => return error_page(e),
    };
    apply(&state, &headers, planned(&body), "Merged", move |e| {
        Ok(e.merge(dup, into, false)?)
    })
    .await
}
