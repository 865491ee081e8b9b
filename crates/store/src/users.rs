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
}

fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| {
        StoreError::Invalid(format!(
            "unknown role `{text}`; roles are: viewer, clerk, manager, admin"
        ))
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
        })
    }

    /// Changes a user's role.
    pub fn set_role(&mut self, name: &str, role_name: &str) -> Result<User, StoreError> {
        let role = role(role_name)?;
        // The last admin stays an admin: without one, nobody could change users again. Read
        // in the change's own transaction (the engine's `atomically`), so two admins demoting
        // each other at once cannot both pass (SQLite has one writer; PostgreSQL locks the
        // admins' rows).
        if role != Role::Admin {
            if let Some(current) = self.user(name)? {
                if current.role == Role::Admin {
                    let db = self.db();
                    let lock = if db.dialect() == crate::Dialect::Postgres {
                        " FOR UPDATE"
                    } else {
                        ""
                    };
                    let admins = db
                        .query(
                            &format!("SELECT name FROM offboard_users WHERE role = 'admin'{lock}"),
                            &[],
                            &[FieldType::Text],
                        )?
                        .len();
                    if admins <= 1 {
                        return Err(StoreError::Refused(format!(
                            "`{name}` is the only admin; make another user an admin first, so someone can still manage users"
                        )));
                    }
                }
            }
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
        Ok(User {
            name: name.into(),
            role,
        })
    }

    pub fn user(&mut self, name: &str) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let row = db.query_value(
            &format!("SELECT role FROM offboard_users WHERE name = {}", ph(d, 1)),
            &[Value::Text(name.into())],
            FieldType::Text,
        )?;
        match row.as_ref().and_then(Value::as_str) {
            Some(r) => Ok(Some(User {
                name: name.into(),
                role: role(r)?,
            })),
            None => Ok(None),
        }
    }

    pub fn users(&mut self) -> Result<Vec<User>, StoreError> {
        let rows = self.db().query(
            "SELECT name, role FROM offboard_users ORDER BY name",
            &[],
            &[FieldType::Text, FieldType::Text],
        )?;
        rows.into_iter()
            .map(|r| {
                Ok(User {
                    name: r[0].as_str().unwrap_or_default().into(),
                    role: role(r[1].as_str().unwrap_or_default())?,
                })
            })
            .collect()
    }
}
