//! Who is asking: a bearer token (machines) or a login session cookie (people).

use axum::http::HeaderMap;

use offboard_engine::Actor;
use offboard_store::Store;

use crate::ApiError;

pub const COOKIE: &str = "offboard_session";

/// The credentials a request carries.
#[derive(Debug, Clone)]
pub enum Credentials {
    Bearer(String),
    Session(String),
    None,
}

impl Credentials {
    pub fn of(headers: &HeaderMap) -> Credentials {
        if let Some(v) = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(t) = v.strip_prefix("Bearer ") {
                return Credentials::Bearer(t.trim().to_string());
            }
        }
        match session_cookie(headers) {
            Some(s) => Credentials::Session(s),
            None => Credentials::None,
        }
    }

    /// The acting user, or 401.
    pub fn actor(&self, store: &mut Store) -> Result<Actor, ApiError> {
        let user = match self {
            Credentials::Bearer(t) => store.token_user(t)?,
            Credentials::Session(s) => store.session_user(s)?,
            Credentials::None => None,
        };
        user.map(|u| Actor {
            name: u.name,
            role: u.role,
        })
        .ok_or_else(ApiError::unauthenticated)
    }
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value that starts (or, with `None`, ends) a session.
pub fn set_cookie(secret: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match secret {
        Some(s) => format!("{COOKIE}={s}; HttpOnly; SameSite=Strict; Path=/{secure}"),
        None => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{secure}"),
    }
}
