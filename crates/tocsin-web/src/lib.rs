//! Tocsin's HTTP server: `/healthz`, `/metrics` (Prometheus text format), and the REST API
//! under `/api/v1`: checks, their state and results (read-only); alarms and their actions,
//! maintenances and the outbox (with a token, see [`auth`]); `POST /api/v1/reload`; and
//! `POST /api/v1/push/{id}` for push checks (with the check's own token).
//!
//! Architecture invariant: this crate is the only one that knows the wire types of our API;
//! it converts engine and core types into the JSON documents below.

mod alarms;
mod api;
pub mod auth;
mod error;
mod events;
mod objects;
mod openapi;
mod public;
mod push;
pub mod session;
pub mod summary;
pub mod svg;
mod ui;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tocsin_core::directory::{Bucket, RateLimit};
use tocsin_engine::Engine;

pub use error::ApiError;

/// Settings of the HTTP side.
#[derive(Clone, Debug)]
pub struct WebOptions {
    /// Requests per token: a burst of `count`, then `count` per `per` (default 600/min).
    pub api_rate: RateLimit,
    /// Where users reach this server (`https://tocsin.example.com`): links in feeds and
    /// pages, and `Secure` session cookies when it is https.
    pub public_url: Option<String>,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            api_rate: RateLimit {
                count: 600,
                per: std::time::Duration::from_secs(60),
            },
            public_url: None,
        }
    }
}

/// What every handler can reach: the engine, the browser sessions, the per-token buckets.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Browser sessions.
    pub sessions: Arc<session::Sessions>,
    /// Settings.
    pub options: Arc<WebOptions>,
    /// Uptime and latency summaries of every check, refreshed in the background.
    pub summaries: Arc<summary::Summaries>,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl FromRef<AppState> for Arc<Engine> {
    fn from_ref(app: &AppState) -> Self {
        app.engine.clone()
    }
}

impl AppState {
    /// The state of a server with these settings.
    /// The state of a server with these settings; starts the summaries' refresher.
    pub fn new(engine: Arc<Engine>, options: WebOptions) -> Self {
        let summaries = Arc::<summary::Summaries>::default();
        summary::spawn_refresher(summaries.clone(), engine.store().clone());
        Self {
            engine,
            sessions: Arc::default(),
            options: Arc::new(options),
            summaries,
            buckets: Arc::default(),
        }
    }

    /// Takes one request from token `id`'s bucket.
    fn limit(&self, id: &str, now_ms: i64) -> Result<(), ApiError> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        buckets
            .entry(id.to_owned())
            .or_default()
            .take(self.options.api_rate, now_ms)
            .map_err(|at| {
                ApiError::too_many(
                    format!(
                        "token {id} is over its rate limit of {}; retry later",
                        self.options.api_rate
                    ),
                    at - now_ms,
                )
            })
    }
}

/// Builds the router with default settings.
pub fn router(engine: Arc<Engine>) -> Router {
    router_with(AppState::new(engine, WebOptions::default()))
}

/// Builds the router.
pub fn router_with(app: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/checks", get(api::list_checks))
        .route("/api/v1/checks/{id}", get(api::get_check))
        .route("/api/v1/checks/{id}/results", get(api::check_results))
        .route("/api/v1/checks/{id}/changes", get(api::check_changes))
        .route("/api/v1/checks/{id}/run", post(api::run_now))
        .route("/api/v1/reload", post(api::reload))
        .route("/api/v1/alarms", get(alarms::list))
        .route("/api/v1/alarms/{id}", get(alarms::get))
        .route("/api/v1/alarms/{id}/{action}", post(alarms::act))
        .route(
            "/api/v1/maintenances",
            get(alarms::maintenances).post(alarms::add_maintenance),
        )
        .route(
            "/api/v1/maintenances/{id}/end",
            post(alarms::end_maintenance),
        )
        .route("/api/v1/outbox", get(alarms::outbox))
        .route("/api/v1/events", get(events::events))
        .merge(objects::routes())
        .route(
            "/api/v1/push/{id}",
            post(push::push).layer(DefaultBodyLimit::max(push::MAX_BODY)),
        )
        .merge(public::routes())
        .merge(ui::routes())
        .route("/api/v1/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(app)
}

/// Serves the router on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router_with(app))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}\n",
    )
}

async fn metrics(
    axum::extract::State(engine): axum::extract::State<Arc<Engine>>,
) -> impl IntoResponse {
    // Rendering walks the whole table: keep it off the async workers' hot path.
    let body = tokio::task::spawn_blocking(move || engine.render_metrics())
        .await
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
