//! Users: the people who act in offboard, each with a role the model's permissions name.

use serde::Serialize;

use offboard_model::model::Role;
use offboard_model::{DateTime, FieldType, Value};

use crate::db::ph;
use crate::error::StoreError;
use crate::Store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// A disabled user is kept (the audit log names them) but cannot log in or use a token.
    pub disabled: bool,
}

fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| {
        StoreError::Invalid(format!(
            "unknown role `{text}`; roles are: viewer, clerk, manager, admin"
        ))
    })
}

/// A user from a `(name, role, disabled_at)` row.
pub(crate) fn user_of(row: Vec<Value>) -> Result<User, StoreError> {
    let mut cells = row.into_iter();
    let name = match cells.next() {
        Some(Value::Text(n)) => n,
        other => {
            return Err(StoreError::Invalid(format!(
                "a user's name is not text: {other:?}"
            )))
        }
    };
    let role = match cells.next() {
        Some(Value::Text(r)) => role(&r)?,
        other => {
            return Err(StoreError::Invalid(format!(
                "the role of `{name}` is not text: {other:?}"
            )))
        }
    };
    let disabled = !matches!(cells.next(), None | Some(Value::Null));
    Ok(User {
        name,
        role,
        disabled,
    })
}

impl Store {
    /// Adds a user; a name in use is refused.
    pub fn add_user(&mut self, name: &str, role_name: &str) -> Result<User, StoreError> {
        let role = role(role_name)?;
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("a user needs a name".into()));
        }
        if self.user(name)?.is_some() {
            return Err(StoreError::Refused(format!("user `{name}` exists already")));
        }
        let db = self.db();
        let d = db.dialect();
        db.execute(
            &format!(
                "INSERT INTO offboard_users (name, role, created_at) VALUES ({}, {}, {})",
                ph(d, 1),
                ph(d, 2),
                ph(d, 3)
            ),
            &[
                Value::Text(name.into()),
                Value::Text(role.name().into()),
                Value::DateTime(DateTime::now()),
            ],
        )?;
        Ok(User {
            name: name.into(),
            role,
            disabled: false,
        })
    }

    /// Changes a user's role.
    pub fn set_role(&mut self, name: &str, role_name: &str) -> Result<User, StoreError> {
        let role = role(role_name)?;
        if role != Role::Admin {
            self.keep_an_admin(name, "is the only admin")?;
        }
        let db = self.db();
        let d = db.dialect();
        let n = db.execute(
            &format!(
                "UPDATE offboard_users SET role = {} WHERE name = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Text(role.name().into()), Value::Text(name.into())],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("there is no user `{name}`")));
        }
        self.existing_user(name)
    }

    /// Refuses a change that would leave no enabled admin: without one, nobody could manage
    /// users again. `name` is the user about to stop being one (demoted, disabled, removed).
    /// Read in the change's own transaction (the engine's `atomically`), so two admins
    /// demoting each other at once cannot both pass (SQLite has one writer; PostgreSQL locks
    /// the admins' rows).
    fn keep_an_admin(&mut self, name: &str, why: &str) -> Result<(), StoreError> {
        let Some(current) = self.user(name)? else {
            return Ok(());
        };
        if current.role != Role::Admin || current.disabled {
            return Ok(());
        }
        let db = self.db();
        let lock = if db.dialect() == crate::Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let admins = db
            .query(
                &format!(
                    "SELECT name FROM offboard_users WHERE role = 'admin' AND disabled_at IS NULL{lock}"
                ),
                &[],
                &[FieldType::Text],
            )?
            .len();
        if admins <= 1 {
            return Err(StoreError::Refused(format!(
                "`{name}` {why}; make another user an admin first, so someone can still manage users"
            )));
        }
        Ok(())
    }

    /// Disables a user (`true`) or enables them again: a disabled user's sessions end and
    /// their tokens stop working (they are kept, and work again once enabled).
    pub fn set_disabled(&mut self, name: &str, disabled: bool) -> Result<User, StoreError> {
        if disabled {
            self.keep_an_admin(name, "is the only enabled admin")?;
        }
        let db = self.db();
        let d = db.dialect();
        let n = db.execute(
            &format!(
                "UPDATE offboard_users SET disabled_at = {} WHERE name = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[
                if disabled {
                    Value::DateTime(DateTime::now())
                } else {
                    Value::Null
                },
                Value::Text(name.into()),
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("there is no user `{name}`")));
        }
        if disabled {
            db.execute(
                &format!(
                    "DELETE FROM offboard_sessions WHERE user_name = {}",
                    ph(d, 1)
                ),
                &[Value::Text(name.into())],
            )?;
        }
        self.existing_user(name)
    }

    /// Removes a user with their tokens and sessions. The audit log keeps their name on what
    /// they did; the name may be given to a new user afterwards.
    pub fn remove_user(&mut self, name: &str) -> Result<User, StoreError> {
        self.keep_an_admin(name, "is the only admin")?;
        let user = self.existing_user(name)?;
        let db = self.db();
        let d = db.dialect();
        for table in ["offboard_sessions", "offboard_tokens"] {
            db.execute(
                &format!("DELETE FROM {table} WHERE user_name = {}", ph(d, 1)),
                &[Value::Text(name.into())],
            )?;
        }
        db.execute(
            &format!("DELETE FROM offboard_users WHERE name = {}", ph(d, 1)),
            &[Value::Text(name.into())],
        )?;
        Ok(user)
    }

    fn existing_user(&mut self, name: &str) -> Result<User, StoreError> {
        self.user(name)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no user `{name}`")))
    }

    pub fn user(&mut self, name: &str) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let rows = db.query(
            &format!(
                "SELECT name, role, disabled_at FROM offboard_users WHERE name = {}",
                ph(d, 1)
            ),
            &[Value::Text(name.into())],
            &[FieldType::Text, FieldType::Text, FieldType::DateTime],
        )?;
        rows.into_iter().next().map(user_of).transpose()
    }

    pub fn users(&mut self) -> Result<Vec<User>, StoreError> {
        let rows = self.db().query(
            "SELECT name, role, disabled_at FROM offboard_users ORDER BY name",
            &[],
            &[FieldType::Text, FieldType::Text, FieldType::DateTime],
        )?;
        rows.into_iter().map(user_of).collect()
    }
}
