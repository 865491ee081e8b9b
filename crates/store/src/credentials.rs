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
use crate::users::User;
use crate::Store;

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
            Some(hash) if password_matches(hash, password) => self.user(name),
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

    /// The user a token belongs to.
    pub fn token_user(&mut self, token: &str) -> Result<Option<User>, StoreError> {
        let db = self.db();
        let d = db.dialect();
        let name = db.query_value(
            &format!(
                "SELECT user_name FROM offboard_tokens WHERE hash = {}",
                ph(d, 1)
            ),
            &[Value::Text(sha256_hex(token))],
            FieldType::Text,
        )?;
        match name.as_ref().and_then(Value::as_str) {
            Some(n) => self.user(n),
            None => Ok(None),
        }
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
        let name = db.query_value(
            &format!(
                "SELECT user_name FROM offboard_sessions WHERE hash = {} AND expires_at > {}",
                ph(d, 1),
                ph(d, 2)
            ),
            &[
                Value::Text(sha256_hex(secret)),
                Value::DateTime(DateTime::now()),
            ],
            FieldType::Text,
        )?;
        match name.as_ref().and_then(Value::as_str) {
            Some(n) => self.user(n),
            None => Ok(None),
        }
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
