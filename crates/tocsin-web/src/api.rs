//! Check endpoints (list, show, results, state changes, run now) and reload. Every route needs
//! a token and sees only the checks of the token's tenant (the operator's token sees all);
//! another tenant's check is a 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use tocsin_core::{CheckResult, CheckSpec, CheckState};
use tocsin_engine::{CheckEntry, Engine, ReloadReport};
use tocsin_store::StateChange;

use crate::ApiError;
use crate::auth::{Caller, Writer};
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
    #[serde(skip_serializing_if = "str::is_empty")]
    tenant: &'a str,
    public: bool,
    schedule: &'a tocsin_core::Schedule,
    /// `pending`, `ok`, `critical (soft)`, `ok (recovering)`, …
    summary: String,
    running: bool,
    state: CheckState,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_result: Option<Arc<CheckResult>>,
}

/// One check in full: where it comes from and the spec as well.
#[derive(Serialize)]
struct CheckDetail<'a> {
    #[serde(flatten)]
    view: CheckView<'a>,
    /// `file` or `api`.
    source: &'static str,
    /// Where a file defines it.
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<String>,
    /// The version of a check created through the API (its ETag).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
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
        tenant: &e.spec.tenant,
        public: e.spec.public,
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
    tenant: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
}

/// The columns checks can be sorted by.
const SORTS: &str = "id, name, status, since or kind";

pub(crate) async fn list_checks(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
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
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::invalid(format!(
                "order {o:?}: expected asc or desc"
            )));
        }
    };
    let sort = query.sort.as_deref().unwrap_or("id");
    if !["id", "name", "status", "since", "kind"].contains(&sort) {
        return Err(ApiError::invalid(format!(
            "sort {sort:?}: expected {SORTS}"
        )));
    }
    let limit = page_limit(query.limit)?;
    let offset = query.offset.unwrap_or(0) as usize;
    let table = engine.table();
    let needle = query.q.as_deref().map(str::to_lowercase);
    let mut views: Vec<CheckView<'_>> = table
        .values()
        .filter(|e| caller.sees(&e.spec.tenant))
        .filter(|e| query.tenant.as_ref().is_none_or(|t| &e.spec.tenant == t))
        .filter(|e| query.tag.as_ref().is_none_or(|t| e.spec.tags.contains(t)))
        .filter(|e| {
            needle.as_ref().is_none_or(|q| {
                e.id().as_str().contains(q.as_str())
                    || e.spec.name.to_lowercase().contains(q.as_str())
            })
        })
        .map(|e| view(e))
        .filter(|v| status.is_none_or(|s| v.last_result.is_some() && v.state.status == s))
        .collect();
    match sort {
        "name" => views.sort_by(|a, b| a.name.cmp(b.name).then(a.id.cmp(b.id))),
        "status" => views.sort_by(|a, b| {
            b.state
                .status
                .severity()
                .cmp(&a.state.status.severity())
                .then(a.id.cmp(b.id))
        }),
        "since" => {
            views.sort_by(|a, b| a.state.since_ms.cmp(&b.state.since_ms).then(a.id.cmp(b.id)));
        }
        "kind" => views.sort_by(|a, b| a.kind.cmp(b.kind).then(a.id.cmp(b.id))),
        _ => {}
    }
    if descending {
        views.reverse();
    }
    let total = views.len();
    let page: Vec<&CheckView<'_>> = views.iter().skip(offset).take(limit as usize).collect();
    let next_offset = (offset + page.len() < total).then_some(offset + page.len());
    let checks = serde_json::to_value(&page).map_err(ApiError::internal)?;
    Ok(Json(
        serde_json::json!({ "checks": checks, "total": total, "next_offset": next_offset }),
    ))
}

pub(crate) async fn get_check(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;
    let e = find(&engine, &caller, &id)?;
    let object = engine.object(tocsin_engine::ObjectKind::Check, &id);
    let detail = CheckDetail {
        view: view(&e),
        source: object.as_ref().map_or("file", |o| o.source),
        origin: object.as_ref().and_then(|o| o.origin.clone()),
        version: object.as_ref().and_then(|o| o.version),
        spec: &e.spec,
    };
    let etag = detail.version.map(|v| format!("\"{v}\""));
    let mut r = Json(serde_json::to_value(detail).map_err(ApiError::internal)?).into_response();
    if let Some(t) = etag.and_then(|t| axum::http::HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert(axum::http::header::ETAG, t);
    }
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResultsQuery {
    limit: Option<u32>,
    before: Option<i64>,
}

const MAX_PAGE: u32 = 1000;

/// The check `id` if the caller may see it; a 404 otherwise (whether it exists or not).
pub(crate) fn find(
    engine: &Engine,
    caller: &Caller,
    id: &str,
) -> Result<Arc<CheckEntry>, ApiError> {
    engine
        .check(id)
        .filter(|e| caller.sees(&e.spec.tenant))
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
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    find(&engine, &caller, &id)?;
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
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ResultsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    find(&engine, &caller, &id)?;
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
    Writer(caller): Writer,
) -> Result<Json<ReloadReport>, ApiError> {
    if !caller.tenant().is_empty() {
        return Err(ApiError::forbidden(
            "reloading the configuration is the operator's",
        ));
    }
    let report = tokio::task::spawn_blocking(move || engine.reload())
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(report))
}

pub(crate) async fn run_now(
    State(engine): State<Arc<Engine>>,
    Writer(caller): Writer,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    find(&engine, &caller, &id)?;
    if engine.run_now(&id) {
        Ok(axum::http::StatusCode::ACCEPTED)
    } else {
        Err(ApiError::not_found(format!("no check {id:?}")))
    }
}
