//! How people and machines prove who they are: passwords (people, for a login session) and
//! API tokens (machines). Secrets come from the operating system's random source, are shown
//! once, and are stored only as hashes: Argon2id for passwords, SHA-256 for tokens and
//! sessions (random secrets need no stretching).

use std::io::Read;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};

use offboard_model::{DateTime, FieldType, Value};

use crate::db::ph;
use crate::error::StoreError;
use crate::users::{user_of, User};
use crate::Store;

/// How many hex digits of a token's hash name it (in lists, to revoke it).
pub const TOKEN_ID_LEN: usize = 12;

/// An API token as an admin sees it: never the secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub label: Option<String>,
    /// When it was made (`YYYY-MM-DD HH:MM:SS`, UTC).
    pub created_at: Option<String>,
}

/// How long a login session lasts.
pub const SESSION_HOURS: i64 = 12;

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    buf.copy_from_slice(&random_vec(N)?);
    Ok(buf)
}

/// `len` bytes from the operating system's random source (salts, secrets, keys).
pub fn random_vec(len: usize) -> Result<Vec<u8>, StoreError> {
    let mut buf = vec![0u8; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|source| StoreError::Io {
            context: "cannot read random bytes from /dev/urandom".into(),
            source,
        })?;
    Ok(buf)
}

fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

/// An Argon2id hash in the PHC string format (salt and parameters included).
fn password_hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| StoreError::Invalid(format!("cannot make a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Invalid(format!("cannot hash the password: {e}")))
}

/// A hash to check against when there is none, so every login costs the same.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password_hash("no such user").unwrap_or_default())
}

fn password_matches(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

impl Store {
    /// Sets a user's password (at least 8 characters), for logging in to the web UI.
    pub fn set_password(&mut self, name: &str, password: &str) -> Result<User, StoreError> {
        if password.chars().count() < 8 {
            return Err(StoreError::Invalid(
                "a password needs at least 8 characters".into(),
            ));
        }
        let user = self
            .user(name)?
            .ok_or_else(|| StoreError::NotFound(format!("there is no user `{name}`")))?;
        let hash = password_hash(password)?;
        let db = self.db();
        let d = db.dialect();
        db.execute(
            &format!(
                "UPDATE offboard_users SET password = {} WHERE name = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Text(hash), Value::Text(name.into())],
        )?;
        // A new password ends the sessions the old one started.
        db.execute(
            &format!(
                "DELETE FROM offboard_sessions WHERE user_name = {}",
                ph(d, 1)
            ),
            &[Value::Text(name.into())],
        )?;
        Ok(user)
    }

    /// The user, when the name and password match.
    pub fn check_password(
        &mut self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let stored = db.query_value(
            &format!(
                "SELECT password FROM offboard_users WHERE name = {}",
                ph(d, 1)
            ),
            &[Value::Text(name.into())],
            FieldType::Text,
        )?;
        match stored.as_ref().and_then(Value::as_str) {
            // A disabled user's right password opens nothing, like a wrong one.
            Some(hash) if password_matches(hash, password) => {
                Ok(self.user(name)?.filter(|u| !u.disabled))
            }
            Some(_) => Ok(None),
            None => {
                // As slow for an unknown user as for a wrong password: the time of the answer
                // does not tell which names exist.
                let _ = password_matches(dummy_hash(), password);
                Ok(None)
            }
        }
    }

    /// Creates an API token for a user; the token is returned once and stored as a hash.
    pub fn create_token(&mut self, name: &str, label: Option<&str>) -> Result<String, StoreError> {
        if self.user(name)?.is_none() {
            return Err(StoreError::NotFound(format!("there is no user `{name}`")));
        }
        let token = format!("obt_{}", hex(&random_bytes::<24>()?));
        let db = self.db();
        let d = db.dialect();
        db.execute(
            &format!(
                "INSERT INTO offboard_tokens (hash, user_name, label, created_at) VALUES ({}, {}, {}, {})",
                ph(d, 1),
                ph(d, 2),
                ph(d, 3),
                ph(d, 4)
            ),
            &[
                Value::Text(sha256_hex(&token)),
                Value::Text(name.into()),
                label.map_or(Value::Null, |l| Value::Text(l.into())),
                Value::DateTime(DateTime::now()),
            ],
        )?;
        Ok(token)
    }

    /// Removes every token of a user and ends their login sessions: a revoked user is out,
    /// by API and in the browser. Returns how many tokens there were.
    pub fn revoke_tokens(&mut self, name: &str) -> Result<u64, StoreError> {
        let db = self.db();
        let d = db.dialect();
        db.execute(
            &format!(
                "DELETE FROM offboard_sessions WHERE user_name = {}",
                ph(d, 1)
            ),
            &[Value::Text(name.into())],
        )?;
        db.execute(
            &format!("DELETE FROM offboard_tokens WHERE user_name = {}", ph(d, 1)),
            &[Value::Text(name.into())],
        )
    }

    /// The API tokens of one user (or of everyone), oldest first: never the secret, only a
    /// short id (the start of its hash) to revoke it by, its label and when it was made.
    pub fn tokens(&mut self, user: Option<&str>) -> Result<Vec<TokenInfo>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let (filter, params) = match user {
            Some(u) => (
                format!(" WHERE user_name = {}", ph(d, 1)),
                vec![Value::Text(u.into())],
            ),
            None => (String::new(), Vec::new()),
        };
        let rows = db.query(
            &format!(
                "SELECT hash, user_name, label, created_at FROM offboard_tokens{filter} \
                 ORDER BY created_at, label, hash"
            ),
            &params,
            &[
                FieldType::Text,
                FieldType::Text,
                FieldType::Text,
                FieldType::DateTime,
            ],
        )?;
        rows.into_iter()
            .map(|row| {
                let mut cells = row.into_iter();
                let (Some(Value::Text(hash)), Some(Value::Text(user))) =
                    (cells.next(), cells.next())
                else {
                    return Err(StoreError::Invalid(
                        "a token row without a hash or a user".into(),
                    ));
                };
                let label = match cells.next() {
                    Some(Value::Text(l)) => Some(l),
                    _ => None,
                };
                let created_at = match cells.next() {
                    Some(Value::DateTime(t)) => Some(t.to_string()),
                    _ => None,
                };
                Ok(TokenInfo {
                    id: hash.chars().take(TOKEN_ID_LEN).collect(),
                    user,
                    label,
                    created_at,
                })
            })
            .collect()
    }

    /// Removes one token of a user, named by its id (as [`tokens`](Self::tokens) lists it).
    pub fn revoke_token(&mut self, user: &str, id: &str) -> Result<TokenInfo, StoreError> {
        let found = self
            .tokens(Some(user))?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or_else(|| {
                StoreError::NotFound(format!(
                    "`{user}` has no token `{id}`; `offboard users tokens {user}` lists them"
                ))
            })?;
        let db = self.db();
        let d = db.dialect();
        // The id is the hash's start: the prefix match stays within this user's tokens, and
        // ids are long enough (48 bits) that two of one user's never share one.
        db.execute(
            &format!(
                "DELETE FROM offboard_tokens WHERE user_name = {} AND substr(hash, 1, {TOKEN_ID_LEN}) = {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[Value::Text(user.into()), Value::Text(id.into())],
        )?;
        Ok(found)
    }

    /// The user a token belongs to (one statement: every API request asks it).
    pub fn token_user(&mut self, token: &str) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let row = db.query(
            &format!(
                "SELECT u.name, u.role FROM offboard_tokens t \
                 JOIN offboard_users u ON u.name = t.user_name \
                 WHERE t.hash = {} AND u.disabled_at IS NULL",
                ph(d, 1)
            ),
            &[Value::Text(sha256_hex(token))],
            &[FieldType::Text, FieldType::Text],
        )?;
        row.into_iter().next().map(user_of).transpose()
    }

    /// Starts a login session for a user; returns its secret (the cookie's value).
    pub fn create_session(&mut self, name: &str) -> Result<String, StoreError> {
        let secret = hex(&random_bytes::<24>()?);
        let now = DateTime::now();
        let expires = DateTime::from_seconds(now.seconds() + SESSION_HOURS * 3600);
        let db = self.db();
        let d = db.dialect();
        // Expired sessions are cleared as new ones start.
        db.execute(
            &format!(
                "DELETE FROM offboard_sessions WHERE expires_at <= {}",
                ph(d, 1)
            ),
            &[Value::DateTime(now)],
        )?;
        db.execute(
            &format!(
                "INSERT INTO offboard_sessions (hash, user_name, expires_at) VALUES ({}, {}, {})",
                ph(d, 1),
                ph(d, 2),
                ph(d, 3)
            ),
            &[
                Value::Text(sha256_hex(&secret)),
                Value::Text(name.into()),
                Value::DateTime(expires),
            ],
        )?;
        Ok(secret)
    }

    /// The user of a session that has not expired.
    pub fn session_user(&mut self, secret: &str) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let row = db.query(
            &format!(
                "SELECT u.name, u.role FROM offboard_sessions s \
                 JOIN offboard_users u ON u.name = s.user_name \
                 WHERE s.hash = {} AND s.expires_at > {} AND u.disabled_at IS NULL",
                ph(d, 1),
                ph(d, 2)
            ),
            &[
                Value::Text(sha256_hex(secret)),
                Value::DateTime(DateTime::now()),
            ],
            &[FieldType::Text, FieldType::Text],
        )?;
        row.into_iter().next().map(user_of).transpose()
    }

    /// Ends a session (logging out).
    pub fn end_session(&mut self, secret: &str) -> Result<(), StoreError> {
        let db = self.db();
        let d = db.dialect();
        db.execute(
            &format!("DELETE FROM offboard_sessions WHERE hash = {}", ph(d, 1)),
            &[Value::Text(sha256_hex(secret))],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_password_matches_only_itself() {
        let stored = password_hash("correct horse").expect("random bytes");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(password_matches(&stored, "correct horse"));
        assert!(!password_matches(&stored, "correct horsE"));
        assert!(!password_matches("garbage", "correct horse"));
        let again = password_hash("correct horse").expect("random bytes");
        assert_ne!(stored, again, "every hash has its own salt");
    }
}
