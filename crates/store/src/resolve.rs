//! The one resolver of what a person typed to name a customer, for every interface (the
//! CLI's arguments, the web UI's pickers): an id, a number, or either.
//!
//! `#2003` (or `id:2003`) is an id and `number:2003` a number, always. A bare `2003` is
//! whichever it is; when it is both the id of one customer and the number of another, or the
//! number of one and the id of a customer erased since, it is refused as ambiguous, naming
//! both, instead of letting the id win silently. A merged-away customer's id or number is
//! followed to the survivor for reading and refused for changing, saying where it went.

use offboard_model::{FieldType, Value};

use crate::customers::Customer;
use crate::db::ph;
use crate::error::StoreError;
use crate::Store;

/// What the customer is named for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Showing or listing: a merged-away customer is followed to the one it went into.
    Read,
    /// Changing it (or acting on it in any way): a merged-away customer is refused.
    Change,
}

/// What a typed reference says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed<'a> {
    Id(i64),
    Number(&'a str),
    Either(&'a str),
}

/// Reads the explicit forms: `#ID`, `id:ID`, `number:NUMBER`; anything else is either.
pub fn typed(text: &str) -> Result<Typed<'_>, StoreError> {
    let text = text.trim();
    let id = |rest: &str| {
        rest.trim().parse::<i64>().map(Typed::Id).map_err(|_| {
            StoreError::Invalid(format!("`{text}`: an id is a whole number (`#2003`)"))
        })
    };
    if let Some(rest) = text.strip_prefix('#') {
        return id(rest);
    }
    if let Some(rest) = text.strip_prefix("id:") {
        return id(rest);
    }
    if let Some(rest) = text.strip_prefix("number:") {
        return Ok(Typed::Number(rest.trim()));
    }
    if text.is_empty() {
        return Err(StoreError::Invalid(
            "name a customer: its number, or its id as #ID".into(),
        ));
    }
    Ok(Typed::Either(text))
}

/// A resolved customer and, when it was reached through a merge, a note saying so.
#[derive(Debug)]
pub struct Resolved {
    pub customer: Customer,
    pub note: Option<String>,
}

fn named(c: &Customer) -> String {
    format!("{} {} (id {})", c.number, c.name, c.id)
}

impl Store {
    /// The customer `text` names, for `purpose` (see the module's documentation).
    pub fn resolve_customer(
        &mut self,
        text: &str,
        purpose: Purpose,
    ) -> Result<Resolved, StoreError> {
        let found = |customer| Resolved {
            customer,
            note: None,
        };
        match typed(text)? {
            Typed::Id(id) => match self.find_customer(id)? {
                Some(c) => Ok(found(c)),
                None => self.gone(&format!("#{id}"), Some(id), None, purpose),
            },
            Typed::Number(n) => match self.customer_by_number(n)? {
                Some(c) => Ok(found(c)),
                None => self.gone(&format!("number {n}"), None, Some(n), purpose),
            },
            Typed::Either(t) => {
                let as_id = t.parse::<i64>().ok();
                let by_id = match as_id {
                    Some(id) => self.find_customer(id)?,
                    None => None,
                };
                let by_number = self.customer_by_number(t)?;
                match (by_id, by_number) {
                    (Some(a), Some(b)) if a.id != b.id => Err(StoreError::Invalid(format!(
                        "`{t}` is both the id of {} and the number of {}; say `#{t}` for the id or `number:{t}` for the number",
                        named(&a),
                        named(&b)
                    ))),
                    (Some(a), _) => Ok(found(a)),
                    (None, Some(b)) => {
                        // The id may have been another customer's, erased since: then the
                        // number's customer is not necessarily the one meant.
                        if let Some(id) = as_id.filter(|id| *id != b.id) {
                            if self.was_erased(id)? {
                                return Err(StoreError::Invalid(format!(
                                    "`{t}` is the number of {}, and was the id of a customer erased since; say `number:{t}` for the number or `#{t}` for the id",
                                    named(&b)
                                )));
                            }
                        }
                        Ok(found(b))
                    }
                    (None, None) => self.gone(t, as_id, Some(t), purpose),
                }
            }
        }
    }

    /// A reference that names no customer now: merged away (followed or refused), erased,
    /// or never there.
    fn gone(
        &mut self,
        shown: &str,
        id: Option<i64>,
        number: Option<&str>,
        purpose: Purpose,
    ) -> Result<Resolved, StoreError> {
        let mut into = None;
        if let Some(id) = id {
            into = self.merged_into(id)?;
        }
        if into.is_none() {
            if let Some(n) = number {
                into = self.merged_number_into(n)?;
            }
        }
        if let Some(into) = into {
            let survivor = self.find_customer(into)?;
            let went = survivor
                .as_ref()
                .map_or_else(|| format!("customer id {into}"), named);
            return match (purpose, survivor) {
                (Purpose::Read, Some(c)) => Ok(Resolved {
                    note: Some(format!("customer {shown} was merged into {went}; showing it")),
                    customer: c,
                }),
                _ => Err(StoreError::Refused(format!(
                    "customer {shown} was merged into {went}; nothing was done to it — name {went} if you mean it"
                ))),
            };
        }
        if let Some(id) = id {
            if self.was_erased(id)? {
                return Err(StoreError::NotFound(format!(
                    "customer {shown} was erased; nothing of it is left to act on"
                )));
            }
        }
        Err(StoreError::NotFound(format!(
            "there is no customer with id or number {shown}"
        )))
    }

    /// Whether a customer with this id existed and is gone: the audit log names it and no
    /// tombstone does (callers ask only once no row has the id).
    fn was_erased(&mut self, id: i64) -> Result<bool, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let seen = db
            .query_value(
                &format!(
                    "SELECT 1 FROM offboard_audit WHERE customer_id = {} LIMIT 1",
                    ph(d, 1)
                ),
                &[Value::Int(id)],
                FieldType::Int,
            )?
            .is_some();
        Ok(seen && self.merged_into(id)?.is_none())
    }
}
