//! Changes outside the lifecycle — customers and records added or edited, imports, users and
//! roles — permission-checked for the actor and written to the audit log in the same
//! transaction as the change, so the log holds every change or the change did not happen.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use offboard_model::model::Operation;
use offboard_store::credentials::TokenInfo;
use offboard_store::customers::{Customer, NewCustomer};
use offboard_store::import::ImportReport;
use offboard_store::records::Record;
use offboard_store::users::User;
use offboard_store::Store;

use crate::audit::{self, Act, NewEntry};
use crate::{Engine, EngineError};

/// `{"field": [before, after]}` for the fields that changed.
fn changes(before: &Json, after: &Json) -> Json {
    let mut out = Map::new();
    if let (Some(b), Some(a)) = (before.as_object(), after.as_object()) {
        for (k, new) in a {
            let old = b.get(k).cloned().unwrap_or(Json::Null);
            if &old != new {
                out.insert(k.clone(), json!([old, new]));
            }
        }
    }
    Json::Object(out)
}

fn as_json<T: serde::Serialize>(v: &T) -> Json {
    serde_json::to_value(v).unwrap_or(Json::Null)
}

/// The audit entry of a change to a customer, with its number and name as they were.
fn about(c: &Customer, details: Json) -> NewEntry {
    NewEntry::customer(c.id, &c.number, &c.name, None, details)
}

/// An entry about a record: under its customer (number and name as they are now).
fn about_record(
    store: &mut Store,
    r: &Record,
    what: &str,
    details: Json,
) -> Result<NewEntry, offboard_store::StoreError> {
    let customer = match store.record_customer(&r.kind, r.id)? {
        Some(id) => store.find_customer(id)?,
        None => None,
    };
    let details = json!({ "kind": r.kind, "id": r.id, what: details });
    Ok(match customer {
        Some(c) => about(&c, details),
        None => NewEntry {
            customer_id: None,
            customer_number: None,
            customer_name: None,
            reason: None,
            details,
        },
    })
}

/// The audit entry of a change to a user (never a secret).
fn user_entry(u: &User) -> NewEntry {
    NewEntry {
        customer_id: None,
        customer_number: None,
        customer_name: None,
        reason: None,
        details: json!({ "user": u.name, "role": u.role.name() }),
    }
}

impl Engine<'_> {
    /// Adds a customer (permission `edit`).
    pub fn create_customer(&mut self, new: NewCustomer) -> Result<Customer, EngineError> {
        self.allow(Operation::Edit)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let c = s.create_customer(new)?;
            let entry = about(&c, json!({ "created": as_json(&c) }));
            audit::append(s.db(), &actor, Act::CreateCustomer, &[entry])?;
            Ok(c)
        })
    }

    /// Changes a customer's fields (permission `edit`); the audit entry lists each field's
    /// value before and after.
    pub fn update_customer(
        &mut self,
        id: i64,
        cells: &[(String, String)],
    ) -> Result<Customer, EngineError> {
        let allowed = self.allow(Operation::Edit)?;
        self.update_customer_as(&allowed, id, cells)
    }

    /// [`Engine::update_customer`] on a proof already taken (a correction request's run).
    pub(crate) fn update_customer_as(
        &mut self,
        _allowed: &crate::Allowed,
        id: i64,
        cells: &[(String, String)],
    ) -> Result<Customer, EngineError> {
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let before = s.customer(id)?;
            let after = s.update_customer(id, cells)?;
            let entry = about(
                &before,
                json!({ "changed": changes(&as_json(&before), &as_json(&after)) }),
            );
            audit::append(s.db(), &actor, Act::EditCustomer, &[entry])?;
            Ok(after)
        })
    }

    /// Adds a record (permission `record_create` for its kind).
    pub fn create_record(
        &mut self,
        kind: &str,
        cells: &[(String, String)],
    ) -> Result<Record, EngineError> {
        let _allowed = self.allow_record(Operation::RecordCreate, kind)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let r = s.create_record(kind, cells)?;
            let entry = about_record(s, &r, "created", as_json(&r.values))?;
            audit::append(s.db(), &actor, Act::CreateRecord, &[entry])?;
            Ok(r)
        })
    }

    /// Changes a record's fields (permission `record_edit` for its kind). Changing its owner
    /// is a transfer: it needs the `transfer` permission too, a kind that may be moved, the
    /// model's transfer rules passed by the customer it leaves, and it is audited as a
    /// transfer on both customers.
    pub fn update_record(
        &mut self,
        kind: &str,
        id: i64,
        cells: &[(String, String)],
    ) -> Result<Record, EngineError> {
        let _allowed = self.allow_record(Operation::RecordEdit, kind)?;
        let transfer = self.allow(Operation::Transfer);
        let actor = self.actor.name.clone();
        let model = self.store.shared_model();
        let k = offboard_store::records::kind(&model, kind)?;
        let owner = k.owner.column.clone();
        self.store.atomically(|s| {
            let before = s.record(kind, id)?;
            let from = s.record_customer(kind, id)?;
            let after = s.update_record(kind, id, cells)?;
            if before.values.get(&owner) == after.values.get(&owner) {
                let diff = changes(&as_json(&before.values), &as_json(&after.values));
                let entry = about_record(s, &after, "changed", diff)?;
                audit::append(s.db(), &actor, Act::EditRecord, &[entry])?;
                return Ok(after);
            }
            // A move to another owner: a transfer.
            transfer?;
            let to = s.record_customer(kind, id)?;
            if from != to {
                if k.owner.target == offboard_model::model::Target::Customer && !k.transferable {
                    return Err(EngineError::Refused(format!(
                        "a {kind} cannot be moved to another customer: the {} model does not let {kind} records be transferred",
                        model.name
                    )));
                }
                if let Some(from) = from {
                    crate::moves::transfer_blockers(&model, s.db(), from)?;
                }
            }
            let diff = changes(&as_json(&before.values), &as_json(&after.values));
            let mut entries = Vec::new();
            let side = |s: &mut Store, who: Option<i64>, what: Json| -> Result<Option<NewEntry>, EngineError> {
                Ok(match who {
                    Some(c) => s.find_customer(c)?.map(|c| about(&c, what)),
                    None => None,
                })
            };
            let record = json!({ "kind": kind, "id": id, "changed": diff });
            if let Some(e) = side(s, from, json!({ "record": record, "to": to }))? {
                entries.push(e);
            }
            if to != from {
                if let Some(e) = side(s, to, json!({ "record": record, "from": from }))? {
                    entries.push(e);
                }
            }
            audit::append(s.db(), &actor, Act::Op(Operation::Transfer), &entries)?;
            Ok(after)
        })
    }

    /// Imports a directory of CSV files (permission `import`), with one audit entry of the
    /// rows per table, written in the import's transaction.
    pub fn import_dir(
        &mut self,
        dir: &Path,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<ImportReport, EngineError> {
        self.allow(Operation::Import)?;
        let actor = self.actor.name.clone();
        let from = dir.display().to_string();
        Ok(self
            .store
            .import_dir_then(dir, progress, &mut |db, tables| {
                let rows: Map<String, Json> = tables
                    .iter()
                    .map(|t| (t.table.clone(), json!(t.rows)))
                    .collect();
                let entry = NewEntry {
                    customer_id: None,
                    customer_number: None,
                    customer_name: None,
                    reason: None,
                    details: json!({ "from": from, "rows": rows }),
                };
                audit::append(db, &actor, Act::Import, &[entry])
            })?)
    }

    /// Adds a user with a role (permission `users`).
    pub fn add_user(&mut self, name: &str, role: &str) -> Result<User, EngineError> {
        self.user_change(Act::AddUser, |s| s.add_user(name, role))
    }

    /// Adds a user with a role and a password in one change (permission `users`): a password
    /// that is refused (too short) adds nobody.
    pub fn add_user_with_password(
        &mut self,
        name: &str,
        role: &str,
        password: &str,
    ) -> Result<User, EngineError> {
        self.allow(Operation::Users)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            s.add_user(name, role)?;
            let u = s.set_password(name, password)?;
            audit::append(s.db(), &actor, Act::AddUser, &[user_entry(&u)])?;
            Ok(u)
        })
    }

    /// Changes a user's role (permission `users`).
    pub fn set_role(&mut self, name: &str, role: &str) -> Result<User, EngineError> {
        self.user_change(Act::SetRole, |s| s.set_role(name, role))
    }

    /// Sets a user's password (permission `users`; a user may always set their own).
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<User, EngineError> {
        if name == self.actor.name {
            let actor = self.actor.name.clone();
            return self.store.atomically(|s| {
                let u = s.set_password(name, password)?;
                audit::append(s.db(), &actor, Act::SetPassword, &[user_entry(&u)])?;
                Ok(u)
            });
        }
        self.user_change(Act::SetPassword, |s| s.set_password(name, password))
    }

    /// Creates an API token for a user (permission `users`); returns the user and the token,
    /// which is shown once and stored only as a hash.
    pub fn create_token(
        &mut self,
        name: &str,
        label: Option<&str>,
    ) -> Result<(User, String), EngineError> {
        let mut token = String::new();
        let user = self.user_change(Act::CreateToken, |s| {
            token = s.create_token(name, label)?;
            s.user(name)?.ok_or_else(|| {
                offboard_store::StoreError::NotFound(format!("there is no user `{name}`"))
            })
        })?;
        Ok((user, token))
    }

    /// Removes every API token of a user (permission `users`).
    pub fn revoke_tokens(&mut self, name: &str) -> Result<User, EngineError> {
        self.user_change(Act::RevokeTokens, |s| {
            s.revoke_tokens(name)?;
            s.user(name)?.ok_or_else(|| {
                offboard_store::StoreError::NotFound(format!("there is no user `{name}`"))
            })
        })
    }

    /// Removes one API token of a user, named by its id (permission `users`).
    pub fn revoke_token(&mut self, name: &str, id: &str) -> Result<TokenInfo, EngineError> {
        self.allow(Operation::Users)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let t = s.revoke_token(name, id)?;
            let mut entry = user_entry(&s.user(name)?.ok_or_else(|| {
                offboard_store::StoreError::NotFound(format!("there is no user `{name}`"))
            })?);
            entry.details["token"] = json!({ "id": t.id, "label": t.label });
            audit::append(s.db(), &actor, Act::RevokeToken, &[entry])?;
            Ok(t)
        })
    }

    /// The API tokens of a user, or of everyone (permission `users`): ids and labels, never
    /// the secrets.
    pub fn tokens(&mut self, name: Option<&str>) -> Result<Vec<TokenInfo>, EngineError> {
        self.allow(Operation::Users)?;
        if let Some(n) = name {
            if self.store.user(n)?.is_none() {
                return Err(offboard_store::StoreError::NotFound(format!(
                    "there is no user `{n}`"
                ))
                .into());
            }
        }
        Ok(self.store.tokens(name)?)
    }

    /// Disables a user (permission `users`): their sessions end, their tokens stop working;
    /// the last enabled admin cannot be disabled. `false` enables them again.
    pub fn set_user_disabled(&mut self, name: &str, disabled: bool) -> Result<User, EngineError> {
        let act = if disabled {
            Act::DisableUser
        } else {
            Act::EnableUser
        };
        self.user_change(act, |s| s.set_disabled(name, disabled))
    }

    /// Removes a user with their tokens and sessions (permission `users`); the audit log keeps
    /// their name on what they did. The last admin cannot be removed.
    pub fn remove_user(&mut self, name: &str) -> Result<User, EngineError> {
        self.user_change(Act::RemoveUser, |s| s.remove_user(name))
    }

    /// Sets the deactivation reasons of a customer kind (`None`: back to the model file's
    /// list), kept in the database for every connection and server (permission `settings`);
    /// audited with the list before and after.
    pub fn set_reasons(
        &mut self,
        kind: &str,
        reasons: Option<Vec<String>>,
    ) -> Result<Vec<String>, EngineError> {
        self.allow(Operation::Settings)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            s.refresh_settings()?;
            let before = s.model().customer.reasons_for(kind).to_vec();
            let after = s.set_reasons(kind, reasons)?;
            let entry = NewEntry {
                customer_id: None,
                customer_number: None,
                customer_name: None,
                reason: None,
                details: json!({ "kind": kind, "changed": { "reasons": [before.join(", "), after.join(", ")] } }),
            };
            audit::append(s.db(), &actor, Act::SetReasons, &[entry])?;
            Ok(after)
        })
    }

    /// Takes `column`'s `value` off the no-resurrection blocklist (permission `purge`, the
    /// erasures' own); audited with the field, never the value. Whether it was there.
    pub fn lift_blocked(&mut self, column: &str, value: &str) -> Result<bool, EngineError> {
        self.allow(Operation::Purge)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let lifted = s.lift_blocked(column, value)?;
            if lifted {
                let entry = NewEntry {
                    customer_id: None,
                    customer_number: None,
                    customer_name: None,
                    reason: None,
                    details: json!({ "field": column }),
                };
                audit::append(s.db(), &actor, Act::LiftBlock, &[entry])?;
            }
            Ok(lifted)
        })
    }

    /// Reads the settings kept in the database again (the reasons managers edit).
    pub fn refresh_settings(&mut self) -> Result<(), EngineError> {
        Ok(self.store.refresh_settings()?)
    }

    fn user_change(
        &mut self,
        op: Act,
        f: impl FnOnce(&mut Store) -> Result<User, offboard_store::StoreError>,
    ) -> Result<User, EngineError> {
        self.allow(Operation::Users)?;
        let actor = self.actor.name.clone();
        self.store.atomically(|s| {
            let u = f(s)?;
            audit::append(s.db(), &actor, op, &[user_entry(&u)])?;
            Ok(u)
        })
    }
}
