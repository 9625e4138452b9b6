//! Signing in and out: `GET /login` shows the form, `POST /login` turns a valid token into a
//! session cookie, `POST /logout` ends the session.
//!
//! The login form has no session yet, so it is protected by a double-submit token: `GET
//! /login` sets a random `tocsin_login` cookie (HttpOnly, SameSite=Strict, path `/login`) and
//! puts the same value in the form; `POST /login` needs both, equal, and a same-site
//! `Origin`. The token typed in is never echoed back, logged or kept: the session holds its
//! hash.

use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::error::UiError;
use super::guard::{self, CsrfOnly, PostForm, Viewer, redirect, same_secret};
use super::{assets, fmt};
use crate::AppState;
use crate::auth::{hash_token, random_hex};
use crate::session::{COOKIE, cookie};

/// The login form's double-submit cookie.
const LOGIN_COOKIE: &str = "tocsin_login";

#[derive(Template)]
#[template(path = "ui/login.html")]
struct LoginPage<'a> {
    css: &'static str,
    csrf: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Default, Deserialize)]
pub(crate) struct LoginQuery {
    #[serde(default)]
    next: String,
}

/// Where to go after signing in: `next` if it is a page of this site, else the dashboard.
fn next_or_home(next: &str) -> &str {
    fmt::local_path(next)
        .filter(|p| !p.starts_with("/login"))
        .unwrap_or("/")
}

/// The login page with a fresh double-submit token, and `status`.
fn login_page(app: &AppState, status: StatusCode, next: &str, error: Option<&str>) -> Response {
    let nonce = match random_hex(16) {
        Ok(n) => n,
        Err(e) => return UiError::internal(e).into_response(),
    };
    let page = LoginPage {
        css: assets::css_url(),
        csrf: &nonce,
        next: next_or_home(next),
        error,
    };
    match page.render() {
        Ok(html) => (
            status,
            [(
                header::SET_COOKIE,
                guard::set_cookie(app, LOGIN_COOKIE, &nonce, "/login", Some(3600)),
            )],
            Html(html),
        )
            .into_response(),
        Err(e) => UiError::from(e).into_response(),
    }
}

/// `GET /login`: the form (or, with a live session already, where it was going).
pub(crate) async fn form(
    State(app): State<AppState>,
    viewer: Result<Viewer, Response>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if viewer.is_ok() {
        return redirect(next_or_home(&q.next));
    }
    login_page(&app, StatusCode::OK, &q.next, None)
}

#[derive(Default, Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /login`: a valid token opens a session.
pub(crate) async fn submit(
    State(app): State<AppState>,
    headers: header::HeaderMap,
    uri: axum::http::Uri,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, UiError> {
    guard::same_origin(&headers, &uri, &app)?;
    let Form(f) = form.map_err(|e| UiError::BadRequest(format!("form: {}", e.body_text())))?;
    let nonce = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| cookie(h, LOGIN_COOKIE))
        .unwrap_or_default();
    if !same_secret(&f.csrf, nonce) {
        return Err(UiError::Csrf);
    }
    let token = f.token.trim();
    if token.is_empty() {
        return Ok(login_page(
            &app,
            StatusCode::BAD_REQUEST,
            &f.next,
            Some("Enter an API token."),
        ));
    }
    let hash = hash_token(token);
    let known = app.engine.store().token_by_hash(&hash).await?;
    if known.is_none() {
        return Ok(login_page(
            &app,
            StatusCode::UNAUTHORIZED,
            &f.next,
            Some("That token is unknown or has been revoked."),
        ));
    }
    let session = app
        .sessions
        .open(hash, tocsin_engine::now_ms())
        .map_err(UiError::internal)?;
    let mut response = redirect(next_or_home(&f.next));
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        guard::set_cookie(&app, COOKIE, &session, "/", None),
    );
    h.append(
        header::SET_COOKIE,
        guard::set_cookie(&app, LOGIN_COOKIE, "", "/login", Some(0)),
    );
    Ok(response)
}

/// `POST /logout`: ends the session and forgets the cookie.
pub(crate) async fn logout(State(app): State<AppState>, post: PostForm<CsrfOnly>) -> Response {
    app.sessions.close(&post.viewer.cookie);
    let mut response = redirect("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        guard::set_cookie(&app, COOKIE, "", "/", Some(0)),
    );
    response
}
