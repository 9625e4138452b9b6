//! Alarm, maintenance and outbox endpoints. Every route here needs a token; those that change
//! something need an `operator` or `admin` token (see [`crate::auth`]).
//!
//! Tenancy: an alarm belongs to its check's tenant (a group's alarm to the operator); a
//! tenant's token sees and acts on its own alarms only, and another's is a 404. A tenant's
//! maintenances name its checks (`scope.checks`); the outbox is the operator's.
//!
//! - `GET /api/v1/alarms?state=open|closed|all&limit=N&before=CURSOR`
//! - `GET /api/v1/alarms/{id}`: the alarm, its timeline and its deliveries
//! - `POST /api/v1/alarms/{id}/{ack|unack|close|reopen|suppress|unsuppress}` with an optional
//!   JSON body `{"by": "…", "comment": "…", "expires": "2h" | RFC 3339}` (`comment` and
//!   `expires` for ack only)
//! - `GET /api/v1/maintenances`, `POST /api/v1/maintenances`,
//!   `POST /api/v1/maintenances/{id}/end`
//! - `GET /api/v1/outbox`: counts by status and the latest dead letters

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::alarm::{Action, AlarmError};
use tocsin_core::directory::MaintenanceScope;
use tocsin_engine::{ActionError, Engine, MaintenanceError, NewMaintenance, Table, now_ms};
use tocsin_store::{AlarmCursor, AlarmFilter};

use crate::ApiError;
use crate::auth::{Caller, Writer};
use crate::error::{ApiQuery, JsonBody, OptionalJsonBody};

const MAX_PAGE: u32 = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlarmsQuery {
    state: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

/// `opened_ms.id` of the last alarm of a page.
fn cursor_text(c: &AlarmCursor) -> String {
    format!("{}.{}", c.opened_ms, c.id)
}

fn parse_cursor(s: &str) -> Result<AlarmCursor, ApiError> {
    let bad = || ApiError::invalid(format!("before {s:?}: expected the next_before of a page"));
    let (ms, id) = s.split_once('.').ok_or_else(bad)?;
    Ok(AlarmCursor {
        opened_ms: ms.parse().map_err(|_| bad())?,
        tenant: String::new(),
        id: id.parse().map_err(|_| bad())?,
    })
}

pub(crate) async fn list(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AlarmsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let filter = match q.state.as_deref() {
        None | Some("open") => AlarmFilter::Open,
        Some("closed") => AlarmFilter::Closed,
        Some("all") => AlarmFilter::All,
        Some(s) => {
            return Err(ApiError::invalid(format!(
                "state {s:?}: expected open, closed or all"
            )));
        }
    };
    let limit = match q.limit.unwrap_or(100) {
        l @ 1..=MAX_PAGE => l,
        l => {
            return Err(ApiError::invalid(format!(
                "limit {l}: expected 1 to {MAX_PAGE}"
            )));
        }
    };
    let before = q.before.as_deref().map(parse_cursor).transpose()?;
    let rows = engine
        .store()
        .alarms(Some(""), filter, before.as_ref(), limit)
        .await
        .map_err(ApiError::internal)?;
    let next = rows
        .last()
        .filter(|_| rows.len() == limit as usize)
        .map(|r| cursor_text(&r.cursor()));
    // The timeline can hold a thousand events: lists leave it out (GET /alarms/{id} has it).
    let table = engine.table();
    let alarms: Vec<serde_json::Value> = rows
        .into_iter()
        .filter(|r| visible(&table, &caller, &r.key))
        .map(|mut r| {
            if let Some(o) = r.body.as_object_mut() {
                o.remove("events");
            }
            r.body
        })
        .collect();
    Ok(Json(
        serde_json::json!({ "alarms": alarms, "next_before": next }),
    ))
}

/// Whether the alarm keyed `key` (`check:<id>`, `group:<id>`) belongs to the caller's tenant.
pub(crate) fn visible(table: &Table, caller: &Caller, key: &str) -> bool {
    caller.is_operator() || caller.sees(&tocsin_engine::alarm_tenant(table, key))
}

/// Alarm `n` if the caller may see it; a 404 otherwise.
async fn visible_alarm(engine: &Engine, caller: &Caller, n: u64) -> Result<i64, ApiError> {
    let id64 = i64::try_from(n).map_err(|_| ApiError::not_found(format!("no alarm #{n}")))?;
    let row = engine
        .store()
        .alarm("", id64)
        .await
        .map_err(ApiError::internal)?
        .filter(|r| visible(&engine.table(), caller, &r.key))
        .ok_or_else(|| ApiError::not_found(format!("no alarm #{n}")))?;
    Ok(row.id)
}

fn alarm_id(id: &str) -> Result<u64, ApiError> {
    id.trim_start_matches('#')
        .parse()
        .map_err(|_| ApiError::not_found(format!("no alarm {id:?}")))
}

pub(crate) async fn get(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = alarm_id(&id)?;
    let store = engine.store();
    let id64 = visible_alarm(&engine, &caller, n).await?;
    let row = store
        .alarm("", id64)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no alarm #{n}")))?;
    let events = store
        .alarm_events("", id64)
        .await
        .map_err(ApiError::internal)?;
    let deliveries = store
        .alarm_deliveries("", id64)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({
        "alarm": row.body,
        "events": events,
        "deliveries": deliveries,
    })))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    by: Option<String>,
    comment: Option<String>,
    expires: Option<String>,
}

/// `2h` (from now) or an RFC 3339 time, as Unix ms in the future.
fn future_time(field: &str, s: &str, now: i64) -> Result<i64, ApiError> {
    let ms = if let Ok(d) = s.parse::<Dur>() {
        now.saturating_add(i64::try_from(d.get().as_millis()).unwrap_or(i64::MAX))
    } else if let Ok(t) = s.parse::<Timestamp>() {
        t.as_millisecond()
    } else {
        return Err(ApiError::invalid(format!(
            "{field} {s:?}: expected a duration such as 2h or an RFC 3339 time such as \
             2026-05-01T22:00:00Z"
        )));
    };
    if ms <= now {
        return Err(ApiError::invalid(format!(
            "{field} {s:?} is not in the future"
        )));
    }
    Ok(ms)
}

pub(crate) async fn act(
    State(engine): State<Arc<Engine>>,
    Writer(caller): Writer,
    Path((id, verb)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ActionBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let n = alarm_id(&id)?;
    visible_alarm(&engine, &caller, n).await?;
    let body = body.unwrap_or_default();
    let by = body
        .by
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| caller.who());
    if verb != "ack" && (body.comment.is_some() || body.expires.is_some()) {
        return Err(ApiError::invalid(format!(
            "comment and expires go with ack, not {verb}"
        )));
    }
    let action = match verb.as_str() {
        "ack" => Action::Ack {
            by,
            comment: body.comment.filter(|c| !c.trim().is_empty()),
            expires_ms: body
                .expires
                .as_deref()
                .map(|e| future_time("expires", e, now_ms()))
                .transpose()?,
        },
        "unack" => Action::Unack { by },
        "close" => Action::Close { by },
        "reopen" => Action::Reopen { by },
        "suppress" => Action::Suppress { by },
        "unsuppress" => Action::Unsuppress { by },
        other => {
            return Err(ApiError::not_found(format!(
                "no alarm action {other:?}: expected ack, unack, close, reopen, suppress or \
                 unsuppress"
            )));
        }
    };
    match engine.alarm_action(n, &action).await {
        Ok(alarm) => Ok(Json(
            serde_json::to_value(alarm).map_err(ApiError::internal)?,
        )),
        Err(ActionError::Alarm(e @ AlarmError::NotFound { .. })) => {
            Err(ApiError::not_found(e.to_string()))
        }
        Err(ActionError::Alarm(e)) => Err(ApiError::conflict(e.to_string())),
        Err(ActionError::Store(e)) => Err(ApiError::internal(e)),
    }
}

pub(crate) async fn maintenances(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    let table = engine.table();
    let list: Vec<_> = engine
        .maintenances()
        .into_iter()
        .filter(|m| scope_visible(&table, &caller, &m.scope))
        .collect();
    Ok(Json(serde_json::json!({ "maintenances": list })))
}

/// Whether a maintenance's scope is the caller's: everything for the operator and the
/// operator's own tenant; for a tenant, a scope that names only its checks (a window over tags
/// or all checks would also hold back other tenants' notifications).
pub(crate) fn scope_visible(table: &Table, caller: &Caller, scope: &MaintenanceScope) -> bool {
    if caller.is_operator() || caller.tenant().is_empty() {
        return true;
    }
    let only_checks = !scope.all
        && scope.groups.is_empty()
        && scope.tags.is_empty()
        && scope.hosts.is_empty()
        && !scope.checks.is_empty();
    only_checks
        && scope
            .checks
            .iter()
            .all(|c| table.get(c).is_some_and(|e| caller.sees(&e.spec.tenant)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewMaintenanceBody {
    id: Option<String>,
    start: Option<String>,
    end: Option<String>,
    #[serde(rename = "for")]
    duration: Option<String>,
    scope: MaintenanceScope,
    note: Option<String>,
    by: Option<String>,
}

pub(crate) async fn add_maintenance(
    State(engine): State<Arc<Engine>>,
    Writer(caller): Writer,
    JsonBody(b): JsonBody<NewMaintenanceBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    if !scope_visible(&engine.table(), &caller, &b.scope) {
        return Err(ApiError::forbidden(
            "a tenant's maintenance names its own checks: give scope.checks only, with ids \
             of your checks",
        ));
    }
    let start = match b.start.as_deref() {
        None | Some("now") => None,
        Some(s) => Some(s.parse::<Timestamp>().map_err(|_| {
            ApiError::invalid(format!(
                "start {s:?}: expected \"now\" or an RFC 3339 time such as 2026-05-01T22:00:00Z"
            ))
        })?),
    };
    let from = start.unwrap_or_else(Timestamp::now);
    let end = match (b.end.as_deref(), b.duration.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid("give end or for, not both"));
        }
        (None, None) => return Err(ApiError::invalid("end: missing: give end or for")),
        (Some(e), None) => e.parse::<Timestamp>().map_err(|_| {
            ApiError::invalid(format!(
                "end {e:?}: expected an RFC 3339 time such as 2026-05-01T22:00:00Z (for a \
                 duration, use \"for\": \"2h\")"
            ))
        })?,
        (None, Some(d)) => {
            let dur: Dur = d.parse().map_err(|_| {
                ApiError::invalid(format!("for {d:?}: expected a duration such as 2h"))
            })?;
            jiff::SignedDuration::try_from(dur.get())
                .ok()
                .and_then(|sd| from.checked_add(sd).ok())
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "for {d:?}: too long: a window lasts at most {}",
                        Dur::from(tocsin_engine::MAX_WINDOW)
                    ))
                })?
        }
    };
    let new = NewMaintenance {
        id: b.id,
        start,
        end: Some(end),
        scope: b.scope,
        note: b.note,
        by: Some(
            b.by.filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| caller.who()),
        ),
    };
    match engine.add_maintenance(new).await {
        Ok(v) => Ok((
            StatusCode::CREATED,
            Json(serde_json::to_value(v).map_err(ApiError::internal)?),
        )),
        Err(e) => Err(maintenance_error(e)),
    }
}

pub(crate) async fn end_maintenance(
    State(engine): State<Arc<Engine>>,
    Writer(caller): Writer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let table = engine.table();
    let scoped = !(caller.is_operator() || caller.tenant().is_empty());
    if scoped
        && !engine
            .maintenances()
            .iter()
            .any(|m| m.id == id && scope_visible(&table, &caller, &m.scope))
    {
        return Err(ApiError::not_found(format!("no maintenance {id:?}")));
    }
    engine
        .end_maintenance(&id)
        .await
        .map(|()| StatusCode::NO_CONTENT)
        .map_err(maintenance_error)
}

fn maintenance_error(e: MaintenanceError) -> ApiError {
    match e {
        MaintenanceError::Invalid(m) => ApiError::invalid(m),
        e @ (MaintenanceError::Duplicate(_) | MaintenanceError::InFile { .. }) => {
            ApiError::conflict(e.to_string())
        }
        e @ MaintenanceError::NotFound(_) => ApiError::not_found(e.to_string()),
        MaintenanceError::Store(e) => ApiError::internal(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutboxQuery {
    limit: Option<u32>,
}

pub(crate) async fn outbox(
    State(engine): State<Arc<Engine>>,
    caller: Caller,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !caller.tenant().is_empty() {
        return Err(ApiError::forbidden(
            "the outbox is the operator's: it holds every tenant's notifications",
        ));
    }
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let store = engine.store();
    let counts = store.outbox_counts().await.map_err(ApiError::internal)?;
    let dead = store
        .dead_letters(limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(serde_json::json!({ "counts": counts, "dead": dead })))
}
