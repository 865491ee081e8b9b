//! Login sessions, for the API's `/login` and the web UI's form alike: a password checked
//! (attempts throttled per name), a session started or ended.

use axum::http::{HeaderMap, StatusCode};

use offboard_store::users::User;

use crate::auth::session_cookie;
use crate::{ApiError, AppState};

/// Checks a password and starts a session: (user, the session's secret).
/// After too many failed attempts for a name, logins for it are refused for a while.
pub async fn start(
    state: &AppState,
    user: String,
    password: String,
) -> Result<(User, String), ApiError> {
    state.login_allowed(&user)?;
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
        Ok(_) => state.login_result(&name, true),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => state.login_result(&name, false),
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
