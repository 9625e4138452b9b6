//! SlapOS monitor compatibility (research/originals.md §4.2): the 2016 `monitor.haljson` index
//! of the operator's public checks, and each public check's `<check>.status.json`.
//!
//! A status document carries both shapes SlapOS readers know: the 2016 run-promise fields
//! (`title`, `status` OK/ERROR, `message`, `start-date` as `%Y-%m-%d %H:%M:%S`, `change-time`
//! as the epoch of the last status change, `instance`, `hosting_subscription`,
//! `_links.monitor.href`) and the current promise result (`name`, `execution-time`,
//! `result{type, failed, date, message}` with `date` as `2018-03-22T15:35:07+0000`). The status
//! follows the check's hard status, as SlapOS's anomaly mode only fails after its threshold of
//! failed runs; messages longer than 5000 characters keep their last 5000, as SlapOS does.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};
use tocsin_engine::{CheckEntry, now_ms};

use super::format;
use super::{Links, public_check, public_checks, respond};
use crate::{ApiError, AppState};

/// SlapOS truncates promise messages to this many characters.
const MAX_MESSAGE: usize = 5000;

/// `GET /monitor.haljson`: the operator's public checks as the 2016 monitor's HAL index.
pub(crate) async fn haljson(State(app): State<AppState>) -> Result<Response, ApiError> {
    let links = Links::of(&app);
    let services: Vec<Value> = public_checks(&app.engine, "")
        .iter()
        .map(|e| service(&links, e))
        .collect();
    let doc = json!({
        "title": "Tocsin monitor",
        "_links": {
            "self": { "href": links.at("/monitor.haljson") },
            "public": { "href": links.status_page("") },
            "rss": { "href": links.at(&Links::feed_path("", "rss")) },
            "atom": { "href": links.at(&Links::feed_path("", "atom")) },
            "related_monitor": [],
        },
        "_embedded": { "service": services },
    });
    Ok(respond(
        "application/hal+json",
        60,
        serde_json::to_string_pretty(&doc).map_err(ApiError::internal)?,
    ))
}

/// One check of the HAL index.
fn service(links: &Links, e: &CheckEntry) -> Value {
    let id = e.id().as_str();
    json!({
        "id": id,
        "title": e.spec.name,
        "_links": {
            "status": { "href": links.at(&format!("/public/{id}.status.json")) },
            "interface": { "href": links.check_on_page(e) },
            "rss": { "href": links.check_feed(id, "rss") },
            "atom": { "href": links.check_feed(id, "atom") },
        },
    })
}

/// `GET /public/{check}.status.json`.
pub(crate) fn status_json(app: &AppState, id: &str) -> Result<Response, ApiError> {
    let e = public_check(&app.engine, id)?;
    let doc = status_doc(&Links::of(app), &e, now_ms());
    Ok(respond(
        "application/json",
        60,
        serde_json::to_string_pretty(&doc).map_err(ApiError::internal)?,
    ))
}

/// The status document of a check at `now`.
fn status_doc(links: &Links, e: &CheckEntry, now: i64) -> Value {
    let rt = e.snapshot();
    let state = &rt.state;
    let (kind, failed, message, date_ms, exec) = match &rt.last {
        Some(r) => (
            "Anomaly Result",
            state.hard_status.is_bad(),
            format::truncate_tail(&r.message, MAX_MESSAGE),
            r.started_at_ms,
            r.timings.total_us as f64 / 1e6,
        ),
        // SlapOS reports a promise without any result as ok.
        None => (
            "Empty Result",
            false,
            "No result found!".to_owned(),
            now,
            0.0,
        ),
    };
    let change_ms = if state.is_pending() {
        date_ms
    } else {
        state.hard_since_ms
    };
    json!({
        "title": e.spec.name,
        "name": e.id().as_str(),
        "instance": e.spec.tenant,
        "hosting_subscription": "",
        "status": if failed { "ERROR" } else { "OK" },
        "message": message,
        "start-date": format::slapos_start_date(date_ms),
        "change-time": change_ms.div_euclid(1000),
        "execution-time": exec,
        "result": {
            "type": kind,
            "failed": failed,
            "date": format::slapos_date(date_ms),
            "message": message,
        },
        "_links": {
            "monitor": { "href": links.at("/monitor.haljson") },
        },
    })
}
