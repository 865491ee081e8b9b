//! Login sessions, for the API's `/login` and the web UI's form alike: a password checked
//! (attempts throttled per name), a session started or ended.

use axum::http::{HeaderMap, StatusCode};

use offboard_store::users::User;

use crate::auth::session_cookie;
use crate::{ApiError, AppState};

/// Where a request comes from: the connection's address, or with
/// `--trust-forwarded-for` (behind a proxy) the first address of `X-Forwarded-For`.
pub struct Client(pub Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let forwarded = state
            .trusts_forwarded_for()
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")?
                    .to_str()
                    .ok()?
                    .split(',')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten();
        let socket = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Client(forwarded.or(socket)))
    }
}

/// Checks a password and starts a session: (user, the session's secret).
/// After too many failed attempts for a name, logins for it are refused for a while.
pub async fn start(
    state: &AppState,
    from: &Client,
    user: String,
    password: String,
) -> Result<(User, String), ApiError> {
    state.login_allowed(&user, from.0)?;
    let name = user.clone();
    let result = state
        .run(move |s| {
            let u = s.check_password(&user, &password)?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "unknown user or wrong password",
                )
            })?;
            let secret = s.create_session(&u.name)?;
            Ok((u, secret))
        })
        .await;
    match &result {
        Ok(_) => state.login_result(&name, from.0, true),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => state.login_result(&name, from.0, false),
        Err(_) => {}
    }
    result
}

pub async fn end(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(secret) = session_cookie(headers) {
        state.run(move |s| Ok(s.end_session(&secret)?)).await?;
    }
    Ok(())
}
