//! What goes wrong on a page or a form, as a page: the right status, a message that says what
//! to do, and never an internal detail (those go to the log).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::ApiError;

/// Why a page or a form could not be served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UiError {
    /// Nothing here, or nothing this session may see (another tenant's object).
    #[error("{0}")]
    NotFound(String),
    /// A field of a form is wrong; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// The session's token may not do this (a read-only token).
    #[error("{0}")]
    Forbidden(String),
    /// The object's state does not allow it (an ack of a closed alarm).
    #[error("{0}")]
    Conflict(String),
    /// The form's CSRF field is missing or is not the session's.
    #[error(
        "this form has expired or did not come from a page of this site: go back, reload the \
         page and try again"
    )]
    Csrf,
    /// The form was posted from another site (`Origin` or `Sec-Fetch-Site`).
    #[error("this form was posted from another site; Tocsin only accepts its own forms")]
    CrossOrigin,
    /// The token is over its rate limit.
    #[error("{0}")]
    TooMany(String),
    /// Our own fault; the detail is in the log.
    #[error("internal error; see the server log")]
    Internal,
}

impl UiError {
    /// Logs `detail` and returns [`UiError::Internal`].
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error rendering a page");
        Self::Internal
    }

    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) | Self::Csrf | Self::CrossOrigin => StatusCode::FORBIDDEN,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        let m = e.message().to_owned();
        match e.status() {
            StatusCode::NOT_FOUND => Self::NotFound(m),
            StatusCode::FORBIDDEN => Self::Forbidden(m),
            StatusCode::CONFLICT => Self::Conflict(m),
            StatusCode::TOO_MANY_REQUESTS => Self::TooMany(m),
            s if s.is_server_error() => Self::Internal,
            _ => Self::BadRequest(m),
        }
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> Self {
        Self::internal(e)
    }
}

impl From<tocsin_store::StoreError> for UiError {
    fn from(e: tocsin_store::StoreError) -> Self {
        Self::internal(e)
    }
}

#[derive(Template)]
#[template(path = "ui/error.html")]
struct ErrorPage<'a> {
    css: &'static str,
    status: u16,
    reason: &'a str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let page = ErrorPage {
            css: super::assets::css_url(),
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.to_string(),
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, self.to_string()).into_response(),
        }
    }
}
