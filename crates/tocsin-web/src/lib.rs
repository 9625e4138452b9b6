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
mod push;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tocsin_engine::Engine;

pub use error::ApiError;

/// Builds the router.
pub fn router(engine: Arc<Engine>) -> Router {
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
        .route(
            "/api/v1/push/{id}",
            post(push::push).layer(DefaultBodyLimit::max(push::MAX_BODY)),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(engine)
}

/// Serves the router on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(engine))
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
