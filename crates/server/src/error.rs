//! API errors: `{ "error": { "code", "message", "details" } }` with the status that fits.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use offboard_engine::EngineError;
use offboard_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    /// Seconds after which trying again may succeed (`Retry-After`, with a 503).
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Value::Null,
            retry_after: None,
        }
    }

    /// 503: the server or the database is busy; nothing was changed, try again shortly.
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(2),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in, or send `Authorization: Bearer <token>` (offboard users token NAME)",
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let message = e.to_string();
        match e {
            StoreError::NotFound(_) => ApiError::not_found(message),
            StoreError::Refused(_) => ApiError::new(StatusCode::CONFLICT, "refused", message),
            StoreError::Cancelled(_) => ApiError::new(StatusCode::CONFLICT, "cancelled", message),
            StoreError::Invalid(_) | StoreError::Url(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            StoreError::Import(errors) => ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_import",
                message,
                details: serde_json::to_value(&errors).unwrap_or(Value::Null),
                retry_after: None,
            },
            StoreError::Schema(changes) => ApiError {
                status: StatusCode::CONFLICT,
                code: "schema",
                message,
                details: json!(changes),
                retry_after: None,
            },
            e if e.is_constraint() => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            e if e.is_busy() => {
                tracing::warn!(%message, "database busy");
                ApiError::busy("the database is busy; nothing was changed, try again shortly")
            }
            _ => {
                // The details stay in the server's log; the client learns that it failed.
                tracing::error!(%message, "internal error");
                ApiError::internal(
                    "the database failed to carry out the request; the server's log says why",
                )
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::Forbidden { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", e.to_string())
            }
            EngineError::Refused(m) => ApiError::new(StatusCode::CONFLICT, "refused", m),
            EngineError::PlanChanged { ref plan, .. } => {
                let details = plan.to_json();
                let mut err = ApiError::new(StatusCode::CONFLICT, "plan_changed", e.to_string());
                err.details = details;
                err
            }
            EngineError::Changed { ref plan, .. } => {
                let details = plan.clone();
                let mut err = ApiError::new(StatusCode::CONFLICT, "plan_changed", e.to_string());
                err.details = details;
                err
            }
            EngineError::UndoChanged { ref plan, .. } => {
                let details = serde_json::to_value(plan.as_ref()).unwrap_or_default();
                let mut err = ApiError::new(StatusCode::CONFLICT, "plan_changed", e.to_string());
                err.details = details;
                err
            }
            EngineError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        res
    }
}
