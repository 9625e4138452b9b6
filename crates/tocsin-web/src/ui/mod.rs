//! The web UI: server-rendered pages for people, behind a browser session.
//!
//! - `GET /login`, `POST /login` (a token becomes a session cookie), `POST /logout`;
//! - `GET /`: the dashboard (every check the session's token sees; sort, filter, live
//!   updates through `/assets/app.js` and `/api/v1/events`);
//! - `GET /checks/{id}`: state, timeline, response-time chart, 90-day uptime, latest results,
//!   alarms, and forms: `POST /checks/{id}/run`, an ack, a maintenance window;
//! - `GET /alarms` and `POST /alarms/{id}/{ack|unack|close|reopen}`;
//! - `GET /maintenances`, `POST /maintenances`, `POST /maintenances/{id}/end`;
//! - `GET /contacts` (id, name and kind: nothing secret);
//! - `GET /assets/{name}`: the stylesheet and the script, compiled in, content-hashed names.
//!
//! Every page renders completely on the server: the script only adds live updates. Pages
//! carry a strict `Content-Security-Policy` (no inline script or style), `nosniff` and
//! `Referrer-Policy: same-origin`. Every form post checks the `Origin` header and the
//! session's CSRF token (see [`guard`]). Lists are scoped by the token's tenant: another
//! tenant's check is a 404, as in the API.

mod alarms;
mod assets;
mod chart;
mod check;
mod contacts;
mod dashboard;
mod error;
mod fmt;
mod guard;
mod login;
mod maintenances;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;

/// The policy of every page: nothing inline, nothing from elsewhere, never in a frame.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                       img-src 'self' data:; frame-ancestors 'none'; form-action 'self'";

/// The UI's routes (merged into the API's router by [`crate::router_with`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/checks/{id}", get(check::page))
        .route("/checks/{id}/run", post(check::run_now))
        .route("/alarms", get(alarms::page))
        .route("/alarms/{id}/{action}", post(alarms::act))
        .route(
            "/maintenances",
            get(maintenances::page).post(maintenances::create),
        )
        .route("/maintenances/{id}/end", post(maintenances::end))
        .route("/contacts", get(contacts::page))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::map_response(secure))
}

/// Adds the security headers to every answer of the UI; pages (anything not already given a
/// cache policy) are not to be stored: they hold CSRF tokens and tenants' data.
async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What every signed-in page shows around its content: title, navigation, who is signed in,
/// the sign-out form, the notice left by the last form, and what the script listens for.
pub(crate) struct Chrome {
    /// The page's title (without the site name).
    pub(crate) title: String,
    /// Which navigation entry is this page (`dashboard`, `alarms`, …).
    pub(crate) nav: &'static str,
    /// The session's CSRF token, for the sign-out form.
    pub(crate) csrf: String,
    /// Who is signed in.
    pub(crate) who: String,
    /// The stylesheet's URL.
    pub(crate) css: &'static str,
    /// The script's URL.
    pub(crate) js: &'static str,
    /// A notice from the last form (`Alarm acknowledged.`).
    pub(crate) notice: Option<&'static str>,
    /// What the script updates live: `dashboard`, `check`, `alarms` or nothing.
    pub(crate) live: &'static str,
    /// The check of a check page (for live notices).
    pub(crate) check: String,
}

impl Chrome {
    /// The chrome of a page seen by `viewer`.
    pub(crate) fn new(viewer: &guard::Viewer, title: impl Into<String>, nav: &'static str) -> Self {
        Self {
            title: title.into(),
            nav,
            csrf: viewer.csrf.clone(),
            who: viewer.who(),
            css: assets::css_url(),
            js: assets::js_url(),
            notice: None,
            live: "",
            check: String::new(),
        }
    }

    /// With the notice of a `done` code.
    pub(crate) fn done(mut self, done: &Done) -> Self {
        self.notice = done.notice();
        self
    }
}

/// `?done=<code>`: what the last form did, to say so on the page it returned to.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Done {
    #[serde(default)]
    done: Option<String>,
}

impl Done {
    /// The sentence for the code (unknown codes say nothing: nothing is reflected).
    fn notice(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "run" => "Run requested: the result appears here when it arrives.",
            "ack" => "Alarm acknowledged.",
            "unack" => "Acknowledgement withdrawn.",
            "close" => "Alarm closed.",
            "reopen" => "Alarm reopened.",
            "maintenance-added" => "Maintenance window added.",
            "maintenance-ended" => "Maintenance window ended.",
            _ => return None,
        })
    }
}
