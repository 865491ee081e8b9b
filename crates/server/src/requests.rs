//! Request types the JSON API and the web UI share: what a list of customers asks for.

use serde::Deserialize;

use offboard_engine::Reader;
use offboard_model::model::View;
use offboard_store::customers::{Customer, ListQuery};

use crate::ApiError;

/// Lists count their matches exactly up to this many.
pub const COUNT_CAP: i64 = 10_000;

/// The query of a customer list (`?view=&search=&kind=&limit=&offset=`).
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
    /// One page of the customers these parameters ask for, and how many match in all (exact
    /// up to [`COUNT_CAP`]; the flag says whether it is).
    pub fn fetch(
        &self,
        s: &mut Reader<'_>,
    ) -> Result<(ListQuery, Vec<Customer>, i64, bool), ApiError> {
        let query = self.query(s.model().default_view)?;
        let mut list = Vec::new();
        s.list_customers(&query, &mut |c| {
            list.push(c);
            Ok(())
        })?;
        let (total, exact) = s.count_customers_capped(
            &ListQuery {
                limit: None,
                offset: 0,
                ..query.clone()
            },
            COUNT_CAP,
        )?;
        Ok((query, list, total, exact))
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
