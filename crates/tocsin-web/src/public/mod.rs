//! Public pages, without authentication: status pages per tenant, Atom and RSS feeds of status
//! changes, SlapOS documents (`monitor.haljson`, `<check>.status.json`) and SVG badges.
//!
//! Only checks with `public: true` show. Any other check answers exactly as a check that does
//! not exist (the same 404), so these routes never tell whether a private check exists; the
//! same goes for a tenant without public checks.
//!
//! - `GET /status`, `GET /status/{tenant}`: the status page (`/status` is the operator's own
//!   checks, tenant `""`); `GET /status.css` its stylesheet.
//! - `GET /status/feed.atom|rss`, `GET /status/{tenant}/feed.atom|rss`,
//!   `GET /public/{check}.atom|rss`: feeds of status changes.
//! - `GET /monitor.haljson`, `GET /public/{check}.status.json`: SlapOS compatibility.
//! - `GET /badge/{check}.svg`, `GET /badge/{check}/uptime.svg`, `GET /badge/{check}/latency.svg`.

mod badge;
mod feed;
mod format;
mod page;
mod slapos;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tocsin_engine::{CheckEntry, Engine};

use crate::{ApiError, AppState};

/// The public routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/status", get(status_own))
        .route("/status.css", get(stylesheet))
        .route("/status/feed.atom", get(feed_own_atom))
        .route("/status/feed.rss", get(feed_own_rss))
        .route("/status/{tenant}", get(status_tenant))
        .route("/status/{tenant}/feed.atom", get(feed_tenant_atom))
        .route("/status/{tenant}/feed.rss", get(feed_tenant_rss))
        .route("/public/{file}", get(public_file))
        .route("/monitor.haljson", get(slapos::haljson))
        .route("/badge/{check}", get(badge_status))
        .route("/badge/{check}/uptime.svg", get(badge::uptime))
        .route("/badge/{check}/latency.svg", get(badge::latency))
}

/// The stylesheet of the status pages, served from here so that pages need no inline style.
const STYLESHEET: &str = include_str!("status.css");

/// What public HTML pages may load: their own stylesheet, nothing else (no script at all).
const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
                        form-action 'none'; frame-ancestors 'none'";

/// The answer to anything that is not public: the same whether it exists or not.
pub(crate) fn not_found() -> ApiError {
    ApiError::not_found("no such public page")
}

/// A public check by id, or [`not_found`].
pub(crate) fn public_check(engine: &Engine, id: &str) -> Result<Arc<CheckEntry>, ApiError> {
    engine
        .check(id)
        .filter(|e| e.spec.public)
        .ok_or_else(not_found)
}

/// The public checks of `tenant` (`""`: the operator's own), by name then id.
pub(crate) fn public_checks(engine: &Engine, tenant: &str) -> Vec<Arc<CheckEntry>> {
    let mut checks: Vec<Arc<CheckEntry>> = engine
        .table()
        .values()
        .filter(|e| e.spec.public && e.spec.tenant == tenant)
        .cloned()
        .collect();
    checks.sort_by(|a, b| {
        a.spec
            .name
            .cmp(&b.spec.name)
            .then_with(|| a.id().cmp(b.id()))
    });
    checks
}

/// The public checks of a tenant named in a URL; a tenant without any is a 404.
fn tenant_checks(engine: &Engine, tenant: &str) -> Result<Vec<Arc<CheckEntry>>, ApiError> {
    if tocsin_core::check::validate_tenant(tenant).is_err() {
        return Err(not_found());
    }
    let checks = public_checks(engine, tenant);
    if checks.is_empty() {
        return Err(not_found());
    }
    Ok(checks)
}

/// Where links point: under `public_url` when it is set, else relative to this server.
#[derive(Clone, Debug)]
pub(crate) struct Links {
    base: String,
}

impl Links {
    /// Links under `public_url` (`https://tocsin.example.com`), or relative without one.
    pub(crate) fn new(public_url: Option<&str>) -> Self {
        Self {
            base: public_url.unwrap_or("").trim_end_matches('/').to_owned(),
        }
    }

    /// The links of this server's settings.
    pub(crate) fn of(app: &AppState) -> Self {
        Self::new(app.options.public_url.as_deref())
    }

    /// `path` (starting with `/`) under the base.
    pub(crate) fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status page of `tenant`, as a path.
    pub(crate) fn status_path(tenant: &str) -> String {
        if tenant.is_empty() {
            "/status".to_owned()
        } else {
            format!("/status/{tenant}")
        }
    }

    /// The status page of `tenant`.
    pub(crate) fn status_page(&self, tenant: &str) -> String {
        self.at(&Self::status_path(tenant))
    }

    /// A check's place on its status page.
    pub(crate) fn check_on_page(&self, e: &CheckEntry) -> String {
        format!("{}#check-{}", self.status_page(&e.spec.tenant), e.id())
    }

    /// The feed (`atom` or `rss`) of `tenant`, as a path.
    pub(crate) fn feed_path(tenant: &str, ext: &str) -> String {
        format!("{}/feed.{ext}", Self::status_path(tenant))
    }

    /// The feed of one check.
    pub(crate) fn check_feed(&self, id: &str, ext: &str) -> String {
        self.at(&format!("/public/{id}.{ext}"))
    }
}

/// A response with a content type, a cache lifetime and `nosniff`.
pub(crate) fn respond(content_type: &'static str, max_age: u32, body: String) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// An HTML page, with the public pages' content security policy.
fn html(body: String) -> Response {
    let mut r = respond("text/html; charset=utf-8", 30, body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

async fn stylesheet() -> Response {
    respond("text/css; charset=utf-8", 3600, STYLESHEET.to_owned())
}

async fn status_own(State(app): State<AppState>) -> Result<Response, ApiError> {
    let checks = public_checks(&app.engine, "");
    page::render(&app, "", &checks).await.map(html)
}

async fn status_tenant(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let checks = tenant_checks(&app.engine, &tenant)?;
    page::render(&app, &tenant, &checks).await.map(html)
}

async fn feed_own_atom(State(app): State<AppState>) -> Result<Response, ApiError> {
    let checks = public_checks(&app.engine, "");
    feed::tenant(&app, "", &checks, feed::Kind::Atom).await
}

async fn feed_own_rss(State(app): State<AppState>) -> Result<Response, ApiError> {
    let checks = public_checks(&app.engine, "");
    feed::tenant(&app, "", &checks, feed::Kind::Rss).await
}

async fn feed_tenant_atom(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let checks = tenant_checks(&app.engine, &tenant)?;
    feed::tenant(&app, &tenant, &checks, feed::Kind::Atom).await
}

async fn feed_tenant_rss(
    State(app): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let checks = tenant_checks(&app.engine, &tenant)?;
    feed::tenant(&app, &tenant, &checks, feed::Kind::Rss).await
}

/// `/public/{check}.status.json`, `/public/{check}.atom`, `/public/{check}.rss` (the router
/// cannot match a suffix after a parameter, so the suffix is read here).
async fn public_file(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    if let Some(id) = file.strip_suffix(".status.json") {
        slapos::status_json(&app, id)
    } else if let Some(id) = file.strip_suffix(".atom") {
        feed::check(&app, id, feed::Kind::Atom).await
    } else if let Some(id) = file.strip_suffix(".rss") {
        feed::check(&app, id, feed::Kind::Rss).await
    } else {
        Err(not_found())
    }
}

/// `/badge/{check}.svg`.
async fn badge_status(
    State(app): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let id = file.strip_suffix(".svg").ok_or_else(not_found)?;
    badge::status(&app, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_absolute_with_a_public_url_and_relative_without() {
        let abs = Links::new(Some("https://tocsin.example.com/"));
        assert_eq!(abs.status_page(""), "https://tocsin.example.com/status");
        assert_eq!(
            abs.status_page("acme"),
            "https://tocsin.example.com/status/acme"
        );
        assert_eq!(
            abs.check_feed("web", "atom"),
            "https://tocsin.example.com/public/web.atom"
        );
        let rel = Links::new(None);
        assert_eq!(
            rel.at(&Links::feed_path("acme", "rss")),
            "/status/acme/feed.rss"
        );
        assert_eq!(rel.at(&Links::feed_path("", "atom")), "/status/feed.atom");
    }
}
