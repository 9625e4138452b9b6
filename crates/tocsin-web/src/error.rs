//! API errors: `{code, message}` with the right HTTP status; internals never leak on a 5xx.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// 404 `NotFound`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            message: message.into(),
        }
    }

    /// 400 `InvalidArgument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidArgument",
            message: message.into(),
        }
    }

    /// 401 `Unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthenticated",
            message: message.into(),
        }
    }

    /// 403 `PermissionDenied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "PermissionDenied",
            message: message.into(),
        }
    }

    /// 409 `Conflict`: the request is valid but the object's state does not allow it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "Conflict",
            message: message.into(),
        }
    }

    /// 500 `Internal`: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error answering an API request");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "Internal",
            message: "internal error; see the server log".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response()
    }
}
