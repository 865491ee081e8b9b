//! How people and machines prove who they are: passwords (people, for a login session) and
//! API tokens (machines). Secrets come from the operating system's random source, are shown
//! once, and are stored only as hashes: PBKDF2-HMAC-SHA256 for passwords, SHA-256 for tokens
//! and sessions (random secrets need no stretching).

use std::io::Read;

use sha2::{Digest, Sha256};

use offboard_model::{DateTime, FieldType, Value};

use crate::db::ph;
use crate::error::StoreError;
use crate::users::User;
use crate::Store;

const ITERATIONS: u32 = 100_000;
/// How long a login session lasts.
pub const SESSION_HOURS: i64 = 12;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
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

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// PBKDF2-HMAC-SHA256, one block (RFC 8018).
fn pbkdf2(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn password_hash(password: &str) -> Result<String, StoreError> {
    let salt = random_bytes::<16>()?;
    let hash = pbkdf2(password.as_bytes(), &salt, ITERATIONS);
    Ok(format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        hex(&salt),
        hex(&hash)
    ))
}

fn password_matches(stored: &str, password: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [scheme, iterations, salt, hash] = parts.as_slice() else {
        return false;
    };
    let (Ok(iterations), true) = (iterations.parse::<u32>(), *scheme == "pbkdf2-sha256") else {
        return false;
    };
    let salt: Option<Vec<u8>> = (0..salt.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(salt.get(i..i + 2)?, 16).ok())
        .collect();
    salt.is_some_and(|salt| same(&hex(&pbkdf2(password.as_bytes(), &salt, iterations)), hash))
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
            _ => Ok(None),
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

    /// Removes every token of a user; returns how many there were.
    pub fn revoke_tokens(&mut self, name: &str) -> Result<u64, StoreError> {
        let db = self.db();
        let d = db.dialect();
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
        let expires = DateTime::from_seconds(DateTime::now().seconds() + SESSION_HOURS * 3600);
        let db = self.db();
        let d = db.dialect();
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
    fn pbkdf2_matches_the_rfc_7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256, P="passwd", S="salt", c=1, first 32 bytes.
        assert_eq!(
            hex(&pbkdf2(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn a_stored_password_matches_only_itself() {
        let stored = password_hash("correct horse").expect("random bytes");
        assert!(password_matches(&stored, "correct horse"));
        assert!(!password_matches(&stored, "correct horsE"));
        assert!(!password_matches("garbage", "correct horse"));
    }
}
