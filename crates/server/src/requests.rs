//! Request types the JSON API and the web UI share: what a list of customers asks for.

use serde::Deserialize;

use offboard_engine::Reader;
use offboard_model::model::View;
use offboard_model::{DateTime, Value};
use offboard_store::customers::{Customer, ListQuery, Sort, SortKey};

use crate::ApiError;

/// Lists count their matches exactly up to this many.
pub const COUNT_CAP: i64 = 10_000;
/// Searches count theirs up to this many: past it, the search is too wide to page through,
/// and counting its matches is most of what it costs.
pub const SEARCH_COUNT_CAP: i64 = 1_000;

/// The cap of a query's count.
pub fn count_cap(query: &ListQuery) -> i64 {
    if query.search.is_some() {
        SEARCH_COUNT_CAP
    } else {
        COUNT_CAP
    }
}

/// How long a list's total is reused for the same view, kind and search, unless something
/// changed through this server meanwhile (each changing request starts a new generation).
const COUNT_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// Recent totals of lists: counting up to [`COUNT_CAP`] matches for every page is most of
/// what a list page costs; paging through one list counts once.
#[derive(Default)]
pub struct CountCache {
    totals:
        std::sync::Mutex<std::collections::HashMap<String, (i64, bool, std::time::Instant, u64)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl CountCache {
    /// Something changed: every cached total is stale.
    pub fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn key(q: &ListQuery) -> String {
        format!(
            "{}\u{1f}{}\u{1f}{}",
            q.view.name(),
            q.kind.as_deref().unwrap_or(""),
            q.search.as_deref().unwrap_or("")
        )
    }

    fn get(&self, q: &ListQuery) -> Option<(i64, bool)> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        let totals = self.totals.lock().ok()?;
        let (n, exact, at, g) = totals.get(&Self::key(q))?;
        (*g == generation && at.elapsed() < COUNT_TTL).then_some((*n, *exact))
    }

    fn put(&self, q: &ListQuery, n: i64, exact: bool) {
        let generation = self.generation.load(std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut totals) = self.totals.lock() {
            if totals.len() > 10_000 {
                totals.clear();
            }
            totals.insert(
                Self::key(q),
                (n, exact, std::time::Instant::now(), generation),
            );
        }
    }
}

/// The furthest a list jumps by `offset`; further on, pages follow the `next` cursor.
pub const MAX_OFFSET: u64 = 10_000;

/// The query of a customer list (`?view=&search=&kind=&sort=&limit=&offset=&cursor=`).
#[derive(Deserialize, Default, Clone)]
pub struct ListParams {
    pub view: Option<String>,
    pub search: Option<String>,
    pub kind: Option<String>,
    /// `number`, `name`, `created_at`, `status` or `id`; a leading `-` sorts descending.
    pub sort: Option<String>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
    /// Where the page starts: the `next` cursor of the page before.
    pub cursor: Option<String>,
}

/// A keyset cursor: the sort, and the last row's sort value and id, as hex of their JSON (URL
/// safe, opaque to clients).
fn encode_cursor(sort: Sort, c: &Customer) -> String {
    let value = match c.sort_value(sort.key) {
        None => serde_json::Value::Null,
        Some(Value::DateTime(d)) => d.to_string().into(),
        Some(Value::Text(t)) => t.into(),
        Some(other) => serde_json::to_value(other).unwrap_or_default(),
    };
    let json = serde_json::json!([sort.name(), value, c.id]).to_string();
    json.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(text: &str, sort: Sort) -> Result<(i64, Option<Value>), ApiError> {
    let bad = || {
        ApiError::bad_request(
            "the cursor is not one this server gave (use the `next` link of the page before)",
        )
    };
    let bytes: Vec<u8> = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if v[0].as_str() != Some(sort.name().as_str()) {
        return Err(ApiError::bad_request(format!(
            "the cursor belongs to a list sorted by `{}`, not `{}`; start again without it",
            v[0].as_str().unwrap_or("?"),
            sort.name()
        )));
    }
    let id = v[2].as_i64().ok_or_else(bad)?;
    let value = match (sort.key, &v[1]) {
        (SortKey::Id, _) => None,
        (SortKey::CreatedAt | SortKey::DeletedAt, serde_json::Value::String(t)) => {
            Some(Value::DateTime(DateTime::parse(t).ok_or_else(bad)?))
        }
        (_, serde_json::Value::String(t)) => Some(Value::Text(t.clone())),
        _ => return Err(bad()),
    };
    Ok((id, value))
}

impl ListParams {
    /// One page of the customers these parameters ask for, and how many match in all.
    /// One page of the customers these parameters ask for, and how many match in all (exact
    /// up to [`COUNT_CAP`]; the flag says whether it is).
    pub fn fetch(
        &self,
        s: &mut Reader<'_>,
        counts: &CountCache,
    ) -> Result<(ListQuery, Vec<Customer>, i64, bool), ApiError> {
        let query = self.query(s.model().default_view)?;
        let mut list = Vec::new();
        s.list_customers(&query, &mut |c| {
            list.push(c);
            Ok(())
        })?;
        let (total, exact) = match counts.get(&query) {
            Some(t) => t,
            None => {
                let (n, exact) = s.count_customers_capped(
                    &ListQuery {
                        limit: None,
                        offset: 0,
                        after: None,
                        after_value: None,
                        ..query.clone()
                    },
                    count_cap(&query),
                )?;
                counts.put(&query, n, exact);
                (n, exact)
            }
        };
        Ok((query, list, total, exact))
    }

    /// The cursor of the page after `list` (none when the list is the last page).
    pub fn next_cursor(query: &ListQuery, list: &[Customer]) -> Option<String> {
        let full = query.limit.is_some_and(|l| l > 0 && list.len() as u64 == l);
        list.last()
            .filter(|_| full)
            .map(|c| encode_cursor(query.sort, c))
    }

    /// These parameters as a query string, with `cursor` (and no offset).
    pub fn query_string(&self, cursor: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("view", &self.view),
            ("search", &self.search),
            ("kind", &self.kind),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        q.append_pair("cursor", cursor);
        q.finish()
    }

    pub fn query(&self, default_view: View) -> Result<ListQuery, ApiError> {
        let view = match &self.view {
            Some(v) => View::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!("unknown view `{v}`; views are: {}", View::NAMES))
            })?,
            None => default_view,
        };
        let sort = match self.sort.as_deref().filter(|s| !s.is_empty()) {
            None => Sort::default(),
            Some(s) => Sort::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!("unknown sort `{s}`; sort by {}", SortKey::NAMES))
            })?,
        };
        let offset = self.offset.unwrap_or(0);
        if offset > MAX_OFFSET {
            return Err(ApiError::bad_request(format!(
                "offset {offset} is past {MAX_OFFSET}: page further with the `next` link (cursor)"
            )));
        }
        let (after, after_value) = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => (None, None),
            Some(c) => {
                let (id, v) = decode_cursor(c, sort)?;
                (Some(id), v)
            }
        };
        Ok(ListQuery {
            view,
            search: self.search.clone().filter(|s| !s.trim().is_empty()),
            kind: self.kind.clone().filter(|s| !s.is_empty()),
            limit: Some(self.limit.unwrap_or(50).min(1000)),
            offset,
            sort,
            after,
            after_value,
            ids: None,
        })
    }
}
