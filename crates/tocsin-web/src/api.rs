//! Read-only check endpoints, and reload (which needs a writer's token).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use tocsin_core::{CheckResult, CheckSpec, CheckState};
use tocsin_engine::{CheckEntry, Engine, ReloadReport};
use tocsin_store::StateChange;

use crate::ApiError;
use crate::error::ApiQuery;

/// A check as listed: identity, schedule, state and latest result.
#[derive(Serialize)]
struct CheckView<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'static str,
    tags: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    schedule: &'a tocsin_core::Schedule,
    /// `pending`, `ok`, `critical (soft)`, `ok (recovering)`, …
    summary: String,
    running: bool,
    state: CheckState,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_result: Option<Arc<CheckResult>>,
}

/// One check in full: the spec as well.
#[derive(Serialize)]
struct CheckDetail<'a> {
    #[serde(flatten)]
    view: CheckView<'a>,
    spec: &'a CheckSpec,
}

fn view(e: &CheckEntry) -> CheckView<'_> {
    let rt = e.snapshot();
    CheckView {
        id: e.id().as_str(),
        name: &e.spec.name,
        kind: e.spec.probe.kind(),
        tags: &e.spec.tags,
        host: e.spec.host.as_deref(),
        schedule: &e.spec.schedule,
        summary: rt.state.describe(),
        running: e.is_running(),
        state: rt.state,
        last_result: rt.last,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    tag: Option<String>,
    status: Option<String>,
    q: Option<String>,
}

pub(crate) async fn list_checks(
    State(engine): State<Arc<Engine>>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(
            tocsin_core::Status::ALL
                .into_iter()
                .find(|x| x.as_str() == s)
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "status {s:?}: expected ok, warning, critical or unknown"
                    ))
                })?,
        ),
    };
    let table = engine.table();
    let views: Vec<CheckView<'_>> = table
        .values()
        .filter(|e| query.tag.as_ref().is_none_or(|t| e.spec.tags.contains(t)))
        .filter(|e| {
            query.q.as_ref().is_none_or(|q| {
                e.id().as_str().contains(q.as_str()) || e.spec.name.contains(q.as_str())
            })
        })
        .map(|e| view(e))
        .filter(|v| status.is_none_or(|s| v.last_result.is_some() && v.state.status == s))
        .collect();
    let checks = serde_json::to_value(&views).map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "checks": checks })))
}

pub(crate) async fn get_check(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let e = find(&engine, &id)?;
    let detail = CheckDetail {
        view: view(&e),
        spec: &e.spec,
    };
    serde_json::to_value(detail)
        .map(Json)
        .map_err(ApiError::internal)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResultsQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

const MAX_PAGE: u32 = 1000;

fn find(engine: &Engine, id: &str) -> Result<Arc<CheckEntry>, ApiError> {
    engine
        .check(id)
        .ok_or_else(|| ApiError::not_found(format!("no check {id:?}")))
}

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(100) {
        l @ 1..=MAX_PAGE => Ok(l),
        l => Err(ApiError::invalid(format!(
            "limit {l}: expected 1 to {MAX_PAGE}"
        ))),
    }
}

pub(crate) async fn check_results(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    find(&engine, &id)?;
    let limit = page_limit(q.limit)?;
    let results = engine
        .store()
        .results(&id, q.before, limit)
        .await
        .map_err(ApiError::internal)?;
    let next = results
        .last()
        .filter(|_| results.len() == limit as usize)
        .map(|r| r.started_at_ms);
    Ok(Json(
        serde_json::json!({ "results": results, "next_before": next }),
    ))
}

pub(crate) async fn check_changes(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    find(&engine, &id)?;
    if q.before.is_some() {
        return Err(ApiError::invalid("before is not supported for changes"));
    }
    let limit = page_limit(q.limit)?;
    let changes: Vec<StateChange> = engine
        .store()
        .state_changes(&id, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "changes": changes })))
}

pub(crate) async fn reload(
    State(engine): State<Arc<Engine>>,
    _writer: crate::auth::Writer,
) -> Result<Json<ReloadReport>, ApiError> {
    let report = tokio::task::spawn_blocking(move || engine.reload())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(report))
}

pub(crate) async fn run_now(
    State(engine): State<Arc<Engine>>,
    _writer: crate::auth::Writer,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    if engine.run_now(&id) {
        Ok(axum::http::StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found(format!("no check {id:?}")))
    }
}
