//! The audit log (with the state of its hash chain) and the settings the model file holds.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use offboard_model::model::Operation;

use offboard_engine::audit::AuditFilter;
use offboard_model::value::Date;

use super::{render, ui, Viewer};
use crate::{ApiError, AppState};

/// The audit page's filters (each optional) and its page.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    /// A customer by number (or id), as typed or picked.
    customer: Option<String>,
    operation: Option<String>,
    actor: Option<String>,
    /// Days, `YYYY-MM-DD`, inclusive.
    from: Option<String>,
    to: Option<String>,
    /// The next page: entries older than this sequence number.
    before: Option<i64>,
}

/// Entries per page of the audit log.
const AUDIT_PAGE: u64 = 100;

pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::Audit)?;
        let actor = Viewer::of(e);
        let blank = |v: &Option<String>| v.clone().filter(|t| !t.trim().is_empty());
        let day = |v: &Option<String>, what: &str| -> Result<Option<Date>, ApiError> {
            match blank(v) {
                None => Ok(None),
                Some(t) => Date::parse(t.trim()).map(Some).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`{t}` is not a day for \"{what}\"; use YYYY-MM-DD, e.g. 2026-01-31"
                    ))
                }),
            }
        };
        // A customer as typed: one that exists, else (erased, its log is all that is left) its
        // id or its number as the log recorded them.
        let (customer, number) = match blank(&q.customer) {
            Some(t) => match super::operations::resolve(e, &t, "to show the audit of") {
                Ok(id) => (Some(id), None),
                Err(_) => match t.trim().parse::<i64>() {
                    Ok(id) => (Some(id), None),
                    Err(_) => (
                        None,
                        Some(t.split_whitespace().next().unwrap_or_default().to_string()),
                    ),
                },
            },
            None => (None, None),
        };
        let filter = AuditFilter {
            customer,
            number,
            operation: blank(&q.operation),
            actor: blank(&q.actor),
            from: day(&q.from, "from")?,
            to: day(&q.to, "to")?,
            before: q.before,
            // Entries, not rows: a page shows up to AUDIT_PAGE operations, however many
            // entries a bulk one wrote (its rest is counted, not listed).
            limit: Some(AUDIT_PAGE * 10 + 1),
        };
        let mut r = e.read();
        let verified = r.verify_audit()?;
        let mut list = r.audit_filtered(&filter)?;
        let more = list.len() as u64 > AUDIT_PAGE * 10;
        list.truncate((AUDIT_PAGE * 10) as usize);
        let (actors, operations) = r.audit_facets()?;
        // Which of the entries' customers still exist (one query): the others link to their
        // log, not to a page that is gone.
        let mut ids: Vec<i64> = list.iter().filter_map(|e| e.customer_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut q_ids =
            offboard_store::customers::ListQuery::view(offboard_model::model::View::All);
        q_ids.ids = Some(ids);
        let present: std::collections::HashSet<i64> = r.customer_ids(&q_ids)?.into_iter().collect();
        let undone = r.audit_undone()?;
        let mut ops: Vec<i64> = list.iter().filter_map(|e| e.op).collect();
        ops.dedup();
        let sizes = r.audit_operation_sizes(&ops)?;
        Ok((
            actor, verified, list, more, actors, operations, q, present, undone, sizes,
        ))
    })
    .await;
    let (actor, verified, list, more, actors, operations, q, present, undone, sizes) = match result
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    // One row per operation (a bulk delete of 2,543 is one row, its customers inside it),
    // numbered by the operation's first entry — the one an undo names.
    let mut groups = group_operations(&list);
    let more = more || groups.len() > AUDIT_PAGE as usize;
    groups.truncate(AUDIT_PAGE as usize);
    let entries: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            let e = g[0];
            let key = e.op.unwrap_or(e.seq);
            let mut v = json!(e);
            v["seq"] = json!(key);
            v["lines"] = json!(if g.len() == 1 {
                describe_lines(&e.details)
            } else {
                Vec::new()
            });
            v["operation_text"] = json!(crate::ui::customers::human(&e.operation));
            v["at_text"] = json!(super::when(&e.at));
            v["gone"] = json!(e.customer_id.is_some_and(|c| !present.contains(&c)));
            // The whole operation's size, also when the page shows only part of it.
            let count =
                e.op.and_then(|op| sizes.get(&op).copied())
                    .unwrap_or(g.len() as i64)
                    .max(g.len() as i64);
            v["count"] = json!(count);
            v["count_text"] = json!(super::plural(
                usize::try_from(count).unwrap_or(0),
                "customer"
            ));
            v["members"] = json!(g
                .iter()
                .map(|m| json!({
                    "id": m.customer_id,
                    "number": m.customer_number,
                    "name": m.customer_name,
                    "gone": m.customer_id.is_some_and(|c| !present.contains(&c)),
                    "lines": describe_lines(&m.details),
                }))
                .collect::<Vec<_>>());
            // The reason, when every entry of the operation gives the same one.
            v["reason"] = json!(g
                .iter()
                .all(|m| m.reason == e.reason)
                .then(|| e.reason.clone())
                .flatten());
            let undone_by = undone
                .iter()
                .find(|(first, last, _)| (*first..=*last).contains(&key))
                .map(|(_, _, by)| *by);
            v["undone_by"] = json!(undone_by);
            // Operations an undo takes back (the preview says whether it still can); one
            // taken back already offers none.
            v["undo"] = json!(
                actor.may_undo()
                    && undone_by.is_none()
                    && match e.operation.as_str() {
                        "deactivate" | "delete" => true,
                        "merge" => e.details.get("merged").is_some(),
                        "transfer" | "move-to" => e.details.get("moved_ids").is_some(),
                        _ => false,
                    }
            );
            v
        })
        .collect();
    // The filters as a query, for the next page's link.
    let mut kept = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("customer", &q.customer),
        ("operation", &q.operation),
        ("actor", &q.actor),
        ("from", &q.from),
        ("to", &q.to),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            kept.append_pair(k, v);
        }
    }
    let kept = kept.finish();
    let older = if more {
        // The next page starts below the last operation shown, not inside it.
        list.last().map(|e| {
            let e = groups.last().map_or(e, |g| g[0]);
            let seq = e.op.unwrap_or(e.seq).min(e.seq);
            format!(
                "/audit?{kept}{}before={}",
                if kept.is_empty() { "" } else { "&" },
                seq
            )
        })
    } else {
        None
    };
    let filtered = !kept.is_empty();
    render(
        "audit.html",
        "Audit log",
        Some(&actor),
        json!({
            "verified": verified,
            "entries": entries,
            "older": older,
            "newest": q.before.map(|_| format!("/audit?{kept}")),
            "filtered": filtered,
            "q": {
                "customer": q.customer, "operation": q.operation, "actor": q.actor,
                "from": q.from, "to": q.to,
            },
            "actors": actors,
            "operations": operations.iter().map(|o| (o.clone(), crate::ui::customers::human(o))).collect::<Vec<_>>(),
        }),
    )
}

pub async fn settings(State(state): State<AppState>, headers: HeaderMap) -> Response {
    settings_page(&state, &headers, None).await
}

/// What a settings form did, shown at the top of the page: done, or refused and why.
pub(crate) enum Said {
    Done(String),
    /// A token, shown this once.
    Token(String, String),
    Refused(String),
}

async fn settings_page(state: &AppState, headers: &HeaderMap, said: Option<Said>) -> Response {
    let refused = matches!(said, Some(Said::Refused(_)));
    let result = ui(state, headers, |e| {
        e.allow(Operation::View)?;
        let (users, tokens) = if e.allow(Operation::Users).is_ok() {
            (e.read().users()?, e.tokens(None)?)
        } else {
            (Vec::new(), Vec::new())
        };
        let edited = e.allow(Operation::Settings).is_ok();
        Ok((
            Viewer::of(e),
            e.read().model().clone(),
            users,
            tokens,
            edited,
        ))
    })
    .await;
    let (actor, model, users, tokens, may_edit_reasons) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let reasons: Vec<(String, Vec<String>)> = model
        .customer
        .kinds
        .iter()
        .map(|k| (k.clone(), model.customer.reasons_for(k).to_vec()))
        .collect();
    let rules: Vec<serde_json::Value> = model
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "on": r.on.iter().map(|o| crate::ui::customers::human(o.name())).collect::<Vec<_>>(),
                // What a person reads when the rule blocks, for two of them: "2 open orders
                // (€1,200.00)" rather than the template's `{count} open {order|orders}`.
                "message": offboard_model::model::plural(&r.message, 2)
                    .replace("{count}", "2")
                    .replace("{amount}", &crate::ui::customers::money_in(123_456, model.currency.as_deref())),
            })
        })
        .collect();
    let permissions: Vec<(String, Vec<&str>)> = Operation::ALL
        .iter()
        .map(|op| {
            (
                crate::ui::customers::human(op.name()),
                model
                    .permissions
                    .roles(*op)
                    .iter()
                    .map(|r| r.name())
                    .collect(),
            )
        })
        .collect();
    let said = said.map(|s| match s {
        Said::Done(m) => json!({ "ok": true, "message": m }),
        Said::Token(user, token) => json!({ "ok": true, "message": format!("A new API token for {user}; copy it now, it is not shown again:"), "token": token }),
        Said::Refused(m) => json!({ "ok": false, "message": m }),
    });
    let mut page = render(
        "settings.html",
        "Settings",
        Some(&actor),
        json!({
            "model": { "name": model.name, "delete": json!(model.delete), "purge": json!(model.purge) },
            "reasons": reasons,
            "rules": rules,
            "permissions": permissions,
            "users": users.iter().map(|u| json!({
                "name": u.name,
                "role": u.role.name(),
                "disabled": u.disabled,
                "tokens": tokens.iter().filter(|t| t.user == u.name).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "roles": ["viewer", "clerk", "manager", "admin"],
            "may_edit_reasons": may_edit_reasons,
            "said": said,
        }),
    );
    if refused {
        *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page
}

/// A settings form's refusal, said on the page — except a missing permission, which is an
/// error page of its own (403).
fn refused(err: offboard_engine::EngineError) -> Result<Said, ApiError> {
    let err = ApiError::from(err);
    if err.status == axum::http::StatusCode::FORBIDDEN {
        return Err(err);
    }
    Ok(Said::Refused(err.message))
}

/// `POST /settings/reasons`: a kind's deactivation reasons, one per line (`do=reset`: back to
/// the model file's list), saved through the engine (permission `settings`, audited).
pub async fn reasons_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::form(&body);
    let kind = super::field(&f, "kind").unwrap_or_default();
    let reset = super::field(&f, "do").as_deref() == Some("reset");
    let lines: Vec<String> = f
        .iter()
        .find(|(k, _)| k == "reasons")
        .map(|(_, v)| {
            v.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let result = ui(&state, &headers, move |e| {
        let list = if reset { None } else { Some(lines) };
        Ok(match e.set_reasons(&kind, list) {
            Ok(after) => Said::Done(format!(
                "The reasons for a {} are now: {}.",
                crate::ui::customers::human(&kind).to_lowercase(),
                after.join(", ")
            )),
            Err(err) => refused(err)?,
        })
    })
    .await;
    match result {
        Ok(said) => settings_page(&state, &headers, Some(said)).await,
        Err(page) => page,
    }
}

/// `POST /settings/users`: what an admin does to users and tokens, through the engine (which
/// checks the `users` permission and audits each change). `do` is add, role, password, token,
/// revoke (every token), revoke-token (one, `token` its id), disable, enable or remove. A
/// change that is hard to take back (a role, a revocation, disabling, removing) is asked once
/// more first: it is done only with `confirm=yes`.
pub async fn users_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let f = super::form(&body);
    let get = |k: &str| super::field(&f, k).unwrap_or_default();
    let (action, name, role, password, label, token) = (
        get("do"),
        get("user"),
        get("role"),
        f.iter()
            .find(|(k, _)| k == "password")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        get("label"),
        get("token"),
    );
    let confirmed = get("confirm") == "yes";
    let result = ui(&state, &headers, move |e| {
        if name.is_empty() {
            return Ok(Outcome::Said(Said::Refused("name the user".into())));
        }
        if !confirmed {
            if let Some(ask) = ask_first(e, &action, &name, &role, &token)? {
                return Ok(Outcome::Ask(Viewer::of(e), ask));
            }
        }
        let outcome = match action.as_str() {
            "add" if password.is_empty() => {
                return Ok(Outcome::Said(Said::Refused(format!(
                    "give {name} a password, so they can log in (at least 8 characters)"
                ))))
            }
            "add" => e
                .add_user_with_password(&name, &role, &password)
                .map(|u| Said::Done(format!("{} was added as {}.", u.name, u.role.name()))),
            "role" => e
                .set_role(&name, &role)
                .map(|u| Said::Done(format!("{} is now {}.", u.name, u.role.name()))),
            "password" => e.set_password(&name, &password).map(|u| {
                Said::Done(format!(
                    "The password of {} was set; their other sessions end.",
                    u.name
                ))
            }),
            "token" => e
                .create_token(
                    &name,
                    Some(&label).filter(|l| !l.is_empty()).map(String::as_str),
                )
                .map(|(u, t)| Said::Token(u.name, t)),
            "revoke" => e.revoke_tokens(&name).map(|u| {
                Said::Done(format!(
                    "Every API token of {} was revoked, and their sessions ended.",
                    u.name
                ))
            }),
            "revoke-token" => e.revoke_token(&name, &token).map(|t| {
                Said::Done(format!(
                    "The token {} of {name} was revoked.",
                    t.label.unwrap_or(t.id)
                ))
            }),
            "disable" => e.set_user_disabled(&name, true).map(|u| {
                Said::Done(format!(
                    "{} is disabled: they cannot log in or use their tokens until enabled again.",
                    u.name
                ))
            }),
            "enable" => e
                .set_user_disabled(&name, false)
                .map(|u| Said::Done(format!("{} is enabled again.", u.name))),
            "remove" => e.remove_user(&name).map(|u| {
                Said::Done(format!(
                    "{} was removed; the audit log keeps what they did.",
                    u.name
                ))
            }),
            other => {
                return Ok(Outcome::Said(Said::Refused(format!(
                    "`{other}` is not something done to a user"
                ))))
            }
        };
        Ok(Outcome::Said(match outcome {
            Ok(said) => said,
            // Refused (a weak password, a name in use, no permission): said on the page.
            Err(err) => refused(err)?,
        }))
    })
    .await;
    match result {
        Ok(Outcome::Said(said)) => settings_page(&state, &headers, Some(said)).await,
        Ok(Outcome::Ask(viewer, ask)) => render(
            "ask.html",
            &ask.title,
            Some(&viewer),
            json!({
                "message": ask.message,
                "action": "/settings/users",
                "hidden": ask.fields,
                "button": ask.button,
                "danger": ask.danger,
                "cancel": "/settings#users",
            }),
        ),
        Err(page) => page,
    }
}

enum Outcome {
    Said(Said),
    Ask(Viewer, Ask),
}

/// A change asked once more before it is done.
struct Ask {
    title: String,
    message: String,
    button: String,
    danger: bool,
    /// The form's fields, sent again with `confirm=yes`.
    fields: Vec<(&'static str, String)>,
}

/// What to ask before `action` on `name`, or nothing (done at once). The permission is
/// checked first: a clerk is refused, not asked.
fn ask_first(
    e: &mut offboard_engine::Engine<'_>,
    action: &str,
    name: &str,
    role: &str,
    token: &str,
) -> Result<Option<Ask>, ApiError> {
    if !matches!(
        action,
        "role" | "revoke" | "revoke-token" | "disable" | "remove"
    ) {
        return Ok(None);
    }
    e.allow(Operation::Users)?;
    let users = e.read().users()?;
    let Some(user) = users.iter().find(|u| u.name == name) else {
        // Said by the change itself ("there is no user …").
        return Ok(None);
    };
    // The last enabled admin is not asked about stepping down: the change refuses it, in
    // words, at once.
    let admins = users
        .iter()
        .filter(|u| u.role == offboard_model::model::Role::Admin && !u.disabled)
        .count();
    let last_admin =
        user.role == offboard_model::model::Role::Admin && !user.disabled && admins <= 1;
    if last_admin && matches!(action, "role" | "disable" | "remove") {
        return Ok(None);
    }
    let fields = |extra: &[(&'static str, &str)]| {
        let mut f = vec![("do", action.to_string()), ("user", name.to_string())];
        f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        f
    };
    Ok(Some(match action {
        "role" if user.role.name() == role => return Ok(None),
        "role" => Ask {
            title: format!("Make {name} {}", article(role)),
            message: format!(
                "{name} is {} now. As {}, what they may do changes at once, in the sessions they have open too.",
                article(user.role.name()),
                article(role)
            ),
            button: format!("Make {name} {}", article(role)),
            danger: false,
            fields: fields(&[("role", role)]),
        },
        "revoke" => Ask {
            title: format!("Revoke every API token of {name}"),
            message: format!(
                "Every script or integration using a token of {name} stops working at once, and their sessions end (they can log in again). New tokens can be made; these cannot be brought back."
            ),
            button: "Revoke all".into(),
            danger: true,
            fields: fields(&[]),
        },
        "revoke-token" => {
            let t = e
                .tokens(Some(name))?
                .into_iter()
                .find(|t| t.id == token)
                .ok_or_else(|| {
                    ApiError::not_found(format!("{name} has no token `{token}` (any more)"))
                })?;
            let what = t.label.clone().unwrap_or_else(|| format!("token {}", t.id));
            Ask {
                title: format!("Revoke {what} of {name}"),
                message: format!(
                    "Whatever uses {what} stops working at once. It cannot be brought back; a new token can be made."
                ),
                button: "Revoke".into(),
                danger: true,
                fields: fields(&[("token", token)]),
            }
        }
        "disable" => Ask {
            title: format!("Disable {name}"),
            message: format!(
                "{name} is logged out, and cannot log in or use their API tokens until an admin enables them again. Nothing they did changes."
            ),
            button: format!("Disable {name}"),
            danger: true,
            fields: fields(&[]),
        },
        _ => Ask {
            title: format!("Remove {name}"),
            message: format!(
                "{name} and their API tokens are removed: they cannot log in again. The audit log keeps their name on what they did. This cannot be undone (disabling can)."
            ),
            button: format!("Remove {name}"),
            danger: true,
            fields: fields(&[]),
        },
    }))
}

/// "a viewer", "an admin".
fn article(role: &str) -> String {
    match role.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {role}"),
        _ => format!("a {role}"),
    }
}

/// Consecutive entries of one operation together (the log is newest first, and an
/// operation's entries are consecutive); an entry without an operation id stands alone.
fn group_operations(
    list: &[offboard_engine::audit::Entry],
) -> Vec<Vec<&offboard_engine::audit::Entry>> {
    let mut groups: Vec<Vec<&offboard_engine::audit::Entry>> = Vec::new();
    for e in list {
        match (groups.last_mut(), e.op) {
            (Some(g), Some(op)) if g[0].op == Some(op) && g[0].operation == e.operation => {
                g.push(e);
            }
            _ => groups.push(vec![e]),
        }
    }
    groups
}

/// What an entry keeps only to be undone (rows as they were, ids moved): not for reading.
const UNDO_DATA: &[&str] = &[
    "undo",
    "undoes",
    "moved_ids",
    "removed_ids",
    "completed_rows",
];

/// Keys whose value is another customer's or a record's id (`into`, `merged`): shown by the
/// number the entry keeps beside it (`into_number`), else not at all.
const ID_KEYS: &[&str] = &["into", "to", "from", "merged", "restored"];

/// An entry's details as people may read them: the undo data left out, ids replaced by the
/// numbers kept beside them.
fn readable(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !UNDO_DATA.contains(&k.as_str())
                        && !k.ends_with("_number")
                        && !k.ends_with("_numbers")
                })
                .filter_map(|(k, val)| {
                    if ID_KEYS.contains(&k.as_str()) {
                        let number = map
                            .get(&format!("{k}_number"))
                            .or_else(|| map.get(&format!("{k}_numbers")))?;
                        return Some((k.clone(), number.clone()));
                    }
                    Some((k.clone(), readable(val)))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(readable).collect()),
        other => other.clone(),
    }
}

/// An audit entry's details as a list, one line per thing recorded: an edit's fields as
/// "Name: Ada → Ada Lovelace", a deactivation's "Status: deactivated". What is kept only to
/// undo it is not shown, and other customers are named by number, not id.
pub(crate) fn describe_lines(v: &serde_json::Value) -> Vec<String> {
    use crate::ui::customers::human;
    use serde_json::Value;
    let v = &readable(v);
    // An edit's changes: {"changed": {"name": ["Ed", "Edward"]}} → "Name: Ed → Edward".
    let change = |k: &str, val: &Value| -> Option<String> {
        let pair = val.as_array().filter(|a| a.len() == 2)?;
        let text = |v: &Value| match v {
            Value::Null => "–".to_string(),
            Value::String(t) if t.is_empty() => "–".to_string(),
            Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        Some(format!(
            "{}: {} → {}",
            human(k),
            text(&pair[0]),
            text(&pair[1])
        ))
    };
    match v {
        Value::Object(map) if !map.values().all(Value::is_number) => map
            .iter()
            .filter(|(_, val)| match val {
                Value::Null | Value::Bool(false) => false,
                Value::Object(o) => !o.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            })
            .flat_map(|(k, val)| match val {
                Value::Bool(true) => vec![human(k)],
                Value::Object(changed) if k == "changed" => changed
                    .iter()
                    .map(|(f, pair)| {
                        change(f, pair)
                            .unwrap_or_else(|| format!("{}: {}", human(f), describe(pair)))
                    })
                    .collect::<Vec<_>>(),
                _ => vec![format!("{}: {}", human(k), describe(val))],
            })
            .collect(),
        Value::Null => Vec::new(),
        other => vec![describe(other)],
    }
}

/// An audit entry's details in words: `{"status": "deactivated", "records": {"activity":
/// {"completed": 2}}}` → "Status: deactivated · Records: Activity: 2 completed".
pub(crate) fn describe(v: &serde_json::Value) -> String {
    use crate::ui::customers::human;
    use serde_json::Value;
    let scalar = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    };
    match v {
        Value::Object(map) => {
            // Counts: {"removed": 3, "detached": 1} → "3 removed, 1 detached".
            if !map.is_empty() && map.values().all(Value::is_number) {
                return map
                    .iter()
                    .map(|(k, n)| format!("{n} {}", k.replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join(", ");
            }
            // A change: {"before": "A", "after": "B"} → "A → B".
            if let (Some(b), Some(a), 2) = (map.get("before"), map.get("after"), map.len()) {
                return format!("{} → {}", scalar(b), scalar(a));
            }
            let nested = map.values().any(Value::is_object);
            map.iter()
                .filter_map(|(k, val)| match val {
                    Value::Null | Value::Bool(false) => None,
                    Value::Bool(true) => Some(human(k)),
                    Value::Array(items) if items.is_empty() => None,
                    Value::Array(items) if items.iter().all(|i| !i.is_object()) => Some(format!(
                        "{}: {}",
                        human(k),
                        items.iter().map(scalar).collect::<Vec<_>>().join(", ")
                    )),
                    Value::Array(items) => Some(format!("{}: {}", human(k), list_of(items))),
                    Value::Object(o) if o.is_empty() => None,
                    Value::Object(_) => Some(format!("{}: {}", human(k), describe(val))),
                    other => Some(format!("{}: {}", human(k), scalar(other))),
                })
                .collect::<Vec<_>>()
                .join(if nested { " · " } else { "; " })
        }
        Value::Array(items) => list_of(items),
        other => scalar(other),
    }
}

/// A list of records in a log entry: by their ids ("#60, #61"), else how many.
fn list_of(items: &[serde_json::Value]) -> String {
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("id").and_then(serde_json::Value::as_i64))
        .map(|i| format!("#{i}"))
        .collect();
    if ids.len() == items.len() && !ids.is_empty() {
        ids.join(", ")
    } else if items.iter().all(|i| !i.is_object()) {
        items
            .iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        format!("{} entries", items.len())
    }
}
