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
    /// Seconds for a `Retry-After` header (429).
    retry_after: Option<u64>,
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
            retry_after: None,
        }
    }

    /// 400 `InvalidArgument`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidArgument",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 `Unauthenticated`.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthenticated",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 403 `PermissionDenied`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "PermissionDenied",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 409 `Conflict`: the request is valid but the object's state does not allow it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            code: "Conflict",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 412 `FailedPrecondition`: `If-Match` names another version.
    pub fn precondition(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PRECONDITION_FAILED,
            code: "FailedPrecondition",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 `TooManyRequests`, with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after_ms: i64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "TooManyRequests",
            message: message.into(),
            retry_after: Some(
                u64::try_from(retry_after_ms)
                    .unwrap_or(0)
                    .div_ceil(1000)
                    .max(1),
            ),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 500 `Internal`: the detail goes to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error answering an API request");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "Internal",
            message: "internal error; see the server log".into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, s.into());
        }
        response
    }
}

/// `axum::extract::Query<T>` whose rejection is an [`ApiError`] (`{code, message}`, 400) naming the problem.
pub(crate) struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| ApiError::invalid(e.body_text()))
    }
}

/// A JSON body, optional (an empty body is `None`), whose rejection is an [`ApiError`]: 400
/// naming the field or the syntax error. The content type is not checked: a JSON body is
/// accepted whatever it says.
pub(crate) struct OptionalJsonBody<T>(pub Option<T>);

impl<T, S> axum::extract::FromRequest<S> for OptionalJsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        serde_json::from_slice(&bytes)
            .map(|v| Self(Some(v)))
            .map_err(|e| ApiError::invalid(format!("request body: {e}")))
    }
}

/// A required JSON body; see [`OptionalJsonBody`].
pub(crate) struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match OptionalJsonBody::<T>::from_request(req, state).await?.0 {
            Some(v) => Ok(Self(v)),
            None => Err(ApiError::invalid("request body: missing (expected JSON)")),
        }
    }
}
