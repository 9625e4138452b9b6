//! Who is looking at a page and whether a form post may be trusted: the session cookie and the
//! token behind it ([`Viewer`]), the form's CSRF field and the request's `Origin`
//! ([`PostForm`]), and the cookies the UI sets.
//!
//! A page without a live session (or whose token was revoked since) redirects to `/login`.
//! A form post is refused (403) when its `Origin` header is present and names another site,
//! when `Sec-Fetch-Site` says `cross-site`, or when its `csrf` field is not the session's
//! CSRF token (compared in constant time); only then is it acted on.

use std::fmt::Write as _;

use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::UiError;
use super::fmt;
use crate::AppState;
use crate::auth::Caller;
use crate::session::{COOKIE, cookie};

/// The session behind a page: its token (as a [`Caller`]) and its CSRF token.
#[derive(Clone, Debug)]
pub(crate) struct Viewer {
    /// The token the session stands for.
    pub(crate) caller: Caller,
    /// What the session's forms carry back in their `csrf` field.
    pub(crate) csrf: String,
    /// The session cookie's value (to end the session).
    pub(crate) cookie: String,
}

impl Viewer {
    /// `token:<name>`, and the tenant for a tenant's token: who the header says is signed in.
    pub(crate) fn who(&self) -> String {
        let t = &self.caller.token;
        if t.tenant.is_empty() {
            format!("{} ({})", t.name, t.role)
        } else {
            format!("{} ({}, tenant {})", t.name, t.role, t.tenant)
        }
    }

    /// Refuses a read-only token.
    pub(crate) fn must_write(&self) -> Result<(), UiError> {
        if self.caller.writes() {
            Ok(())
        } else {
            Err(UiError::Forbidden(format!(
                "token {} is read-only: sign in with an admin or operator token to change things",
                self.caller.token.id
            )))
        }
    }
}

/// Where a request without a session goes: the login page, back here afterwards (for a
/// `GET`).
fn to_login(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| *p != "/" && parts.method == Method::GET);
    let location = match next {
        Some(p) => format!("/login?next={}", fmt::enc(p)),
        None => "/login".to_owned(),
    };
    redirect(&location)
}

/// A `303 See Other` to a path of this site.
pub(crate) fn redirect(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        if let Some(v) = parts.extensions.get::<Self>() {
            return Ok(v.clone());
        }
        let now = tocsin_engine::now_ms();
        let Some(value) = parts
            .headers
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| cookie(h, COOKIE))
            .map(str::to_owned)
        else {
            return Err(to_login(parts));
        };
        let Some(session) = app.sessions.get(&value, now) else {
            return Err(to_login(parts));
        };
        let row = app
            .engine
            .store()
            .token_by_hash(&session.token_hash)
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        let Some(token) = row else {
            // Revoked since: the session ends with it.
            app.sessions.close(&value);
            return Err(to_login(parts));
        };
        app.limit(&token.id, now)
            .map_err(|e| UiError::from(e).into_response())?;
        let viewer = Self {
            caller: Caller { token },
            csrf: session.csrf,
            cookie: value,
        };
        parts.extensions.insert(viewer.clone());
        Ok(viewer)
    }
}

/// A form that carries the CSRF field back.
pub(crate) trait CsrfForm {
    /// The form's `csrf` field (empty when missing).
    fn csrf(&self) -> &str;
}

/// Implements [`CsrfForm`] for structs with a `csrf: String` field.
macro_rules! csrf_form {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::ui::guard::CsrfForm for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        })*
    };
}
pub(crate) use csrf_form;

/// A form with nothing but its CSRF field (sign out, run now).
#[derive(Default, serde::Deserialize)]
pub(crate) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

csrf_form!(CsrfOnly);

/// A trusted form post: from this site, by a live session, carrying the session's CSRF
/// token. Anything else never reaches the handler.
pub(crate) struct PostForm<T> {
    /// Who posts.
    pub(crate) viewer: Viewer,
    /// The form's fields.
    pub(crate) form: T,
}

impl<T> FromRequest<AppState> for PostForm<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, &parts.uri, app).map_err(IntoResponse::into_response)?;
        let viewer = Viewer::from_request_parts(&mut parts, app).await?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, app)
            .await
            .map_err(|e| UiError::BadRequest(format!("form: {}", e.body_text())).into_response())?;
        if !same_secret(form.csrf(), &viewer.csrf) {
            return Err(UiError::Csrf.into_response());
        }
        Ok(Self { viewer, form })
    }
}

/// Whether two secrets are equal, in time that depends on their lengths only.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() || a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")? + 3;
    let end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    Some(url[..end].trim_end_matches('/'))
}

/// Refuses a post from another site: `Sec-Fetch-Site: cross-site`, or an `Origin` that is
/// neither this host (`Host`, or the request's authority) nor the public URL's origin. A post
/// without `Origin` (older browsers, tools) relies on the CSRF field alone.
pub(crate) fn same_origin(headers: &HeaderMap, uri: &Uri, app: &AppState) -> Result<(), UiError> {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(UiError::CrossOrigin);
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| UiError::CrossOrigin)?.trim();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    let this_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .zip(host)
        .is_some_and(|(o, h)| o.eq_ignore_ascii_case(h.trim()));
    let public = app
        .options
        .public_url
        .as_deref()
        .and_then(origin_of)
        .is_some_and(|p| p.eq_ignore_ascii_case(origin));
    if this_host || public {
        Ok(())
    } else {
        Err(UiError::CrossOrigin)
    }
}

/// Whether cookies must be `Secure`: the public URL is https.
fn secure(app: &AppState) -> bool {
    app.options.public_url.as_deref().is_some_and(|u| {
        u.get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, `Secure` when the site is https;
/// `max_age` in seconds (`Some(0)` deletes it; `None`: until the browser closes).
pub(crate) fn set_cookie(
    app: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: Option<u32>,
) -> HeaderValue {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if secure(app) {
        c.push_str("; Secure");
    }
    if let Some(s) = max_age {
        let _ = write!(c, "; Max-Age={s}");
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "abcd"));
        assert!(!same_secret("", ""), "an empty secret never matches");
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://tocsin.example.com/x"),
            Some("https://tocsin.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("nope"), None);
    }
}
