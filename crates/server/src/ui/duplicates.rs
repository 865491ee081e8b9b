//! Possible duplicates: pairs of customers sharing a normalised email, phone or name, best
//! first, each with a Merge… that opens the merge preview.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;

use offboard_model::model::Operation;

use super::{error_page, render, ui, Viewer};
use crate::AppState;

/// How many pairs the page lists.
const SHOWN: u64 = 100;

/// What the page was asked for: the ticked signals (one `by` per box) and a kind.
struct DupQuery {
    by: Vec<String>,
    kind: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    raw_query: axum::extract::RawQuery,
) -> Response {
    // Repeated `by` boxes: read the query by hand (serde_urlencoded takes one value a key).
    let raw = raw_query.0.unwrap_or_default();
    let mut q = DupQuery {
        by: Vec::new(),
        kind: None,
    };
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        match k.as_ref() {
            "by" => q.by.push(v.into_owned()),
            "kind" if !v.is_empty() => q.kind = Some(v.into_owned()),
            "kind" => {}
            other => {
                return error_page(crate::ApiError::bad_request(format!(
                    "unknown parameter `{other}`; this page takes by and kind"
                )))
            }
        }
    }
    let joined = q.by.join(",");
    let by = match crate::api::signals((!q.by.is_empty()).then_some(joined.as_str())) {
        Ok(b) => b,
        Err(e) => return error_page(e),
    };
    let kind = q.kind.clone();
    let result = ui(&state, &headers, move |e| {
        e.allow(Operation::View)?;
        let pairs = e.read().duplicates(&by, kind.as_deref(), SHOWN)?;
        let may_merge = e.allow(Operation::Merge).is_ok();
        Ok((Viewer::of(e), pairs, may_merge, by))
    })
    .await;
    let (viewer, pairs, may_merge, by) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let model = state.model();
    let has_phone = model.customer.fields.iter().any(|f| f.name == "phone");
    let signals: Vec<serde_json::Value> = ["email", "name", "phone"]
        .iter()
        .filter(|s| **s != "phone" || has_phone)
        .map(|s| json!({ "name": s, "on": by.iter().any(|b| b.name() == *s) }))
        .collect();
    render(
        "duplicates.html",
        "Possible duplicates",
        Some(&viewer),
        json!({
            "pairs": pairs.iter().map(|p| json!({
                "score": p.score,
                "strength": match p.score { s if s >= 4 => "strong", 3 => "likely", _ => "possible" },
                "shared": p.shared.join(", "),
                "a": p.a,
                "b": p.b,
            })).collect::<Vec<_>>(),
            "signals": signals,
            "kinds": model.customer.kinds,
            "kind": q.kind,
            "may_merge": may_merge,
            "shown": SHOWN,
        }),
    )
}
