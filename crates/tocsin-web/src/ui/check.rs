//! A check's page (`GET /checks/{id}`): its state and the timeline of its changes, a
//! response-time chart of its latest results (total time and phases), 90 days of uptime, the
//! latest results, its alarms, the maintenance windows that cover it, and forms: run it now
//! (`POST /checks/{id}/run`), acknowledge its open alarm, add a maintenance window for it.
//!
//! A check the session's token does not see is a 404, like a check that does not exist.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use tocsin_core::{CheckResult, Dur, Schedule};
use tocsin_engine::{CheckEntry, now_ms};
use tocsin_store::AlarmFilter;

use super::alarms::{self, AlarmView};
use super::error::UiError;
use super::guard::{CsrfOnly, PostForm, Viewer, redirect};
use super::maintenances::{self, MaintView};
use super::{Chrome, Done, chart, fmt};
use crate::auth::Caller;
use crate::{AppState, summary, svg};

/// Results drawn in the chart; the table shows the newest [`TABLE_RESULTS`].
const CHART_RESULTS: u32 = 100;
const TABLE_RESULTS: usize = 20;
/// State changes shown.
const CHANGES: u32 = 30;
/// Alarms shown.
const ALARMS: usize = 10;

/// One result in the table.
struct ResultView {
    at: String,
    status: &'static str,
    total: String,
    dns: String,
    connect: String,
    tls: String,
    first_byte: String,
    message: String,
}

/// One state change in the timeline.
struct ChangeView {
    at: String,
    iso: String,
    from: &'static str,
    to: &'static str,
    kind: String,
    hard: bool,
    message: String,
}

#[derive(Template)]
#[template(path = "ui/check.html")]
struct CheckPage {
    c: Chrome,
    id: String,
    name: String,
    kind: &'static str,
    tags: String,
    host: Option<String>,
    schedule: String,
    /// The owning tenant, shown to the operator.
    tenant: Option<String>,
    status: &'static str,
    summary: String,
    /// (ISO time, readable time, how long ago) of the last status change.
    since: Option<(String, String, String)>,
    last_at: Option<String>,
    last_message: Option<String>,
    running: bool,
    flapping: Option<String>,
    chart: String,
    legend: Vec<(&'static str, &'static str)>,
    bars: String,
    up24: String,
    up30: String,
    results: Vec<ResultView>,
    changes: Vec<ChangeView>,
    alarms: Vec<AlarmView>,
    windows: Vec<MaintView>,
    writes: bool,
    back: String,
}

fn schedule_text(s: &Schedule) -> String {
    match s {
        Schedule::Every(d) => format!("every {}", Dur::from(*d)),
        Schedule::Cron(c) => format!("cron {} ({})", c.expr(), c.tz_name()),
    }
}

/// The check `id` if `caller` sees it (else the same 404 as a missing check).
pub(crate) fn visible_check(
    app: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Arc<CheckEntry>, UiError> {
    app.engine
        .check(id)
        .filter(|e| caller.sees(&e.spec.tenant))
        .ok_or_else(|| UiError::NotFound(format!("no check {id:?}")))
}

fn phase(us: Option<u64>) -> String {
    us.map(fmt::latency_us).unwrap_or_default()
}

fn result_view(r: &CheckResult) -> ResultView {
    let t = &r.timings;
    ResultView {
        at: fmt::when(r.started_at_ms),
        status: r.status.as_str(),
        total: fmt::latency_us(t.total_us),
        dns: phase(t.dns_us),
        connect: phase(t.connect_us),
        tls: phase(t.tls_us),
        first_byte: phase(t.first_byte_us),
        message: r.message.clone(),
    }
}

/// `GET /checks/{id}`.
pub(crate) async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Result<Html<String>, UiError> {
    let caller = &viewer.caller;
    let entry = visible_check(&app, caller, &id)?;
    let spec = &entry.spec;
    let id = spec.id.as_str();
    let rt = entry.snapshot();
    let now = now_ms();
    let store = app.engine.store();

    let mut results = store.results(id, None, CHART_RESULTS).await?;
    let changes = store.state_changes(id, CHANGES).await?;
    let bars = summary::day_bars(store, id, 90, now).await?;
    let summaries = app.summaries.get();
    let sum = summaries.get(id);

    let catalog = app.engine.catalog();
    let groups = catalog.groups_of(&spec.id);
    let mut keys = vec![format!("check:{id}")];
    keys.extend(groups.iter().map(|g| format!("group:{g}")));
    let alarms = alarms::list(&app, caller, AlarmFilter::All, ALARMS, |row| {
        keys.contains(&row.key)
    })
    .await?;
    let table = app.engine.table();
    let windows: Vec<_> = app
        .engine
        .maintenances()
        .into_iter()
        .filter(|m| m.scope.covers(spec, &groups))
        .collect();
    let windows = maintenances::views(caller, &table, windows);

    let table_rows: Vec<ResultView> = results
        .iter()
        .take(TABLE_RESULTS)
        .map(result_view)
        .collect();
    results.reverse();
    let pending = rt.state.is_pending();
    let mut c = Chrome::new(&viewer, spec.name.clone(), "").done(&done);
    c.live = "check";
    c.check = id.to_owned();
    let page = CheckPage {
        id: id.to_owned(),
        name: spec.name.clone(),
        kind: spec.probe.kind(),
        tags: spec.tags.join(", "),
        host: spec.host.clone(),
        schedule: schedule_text(&spec.schedule),
        tenant: (caller.is_operator() && !spec.tenant.is_empty()).then(|| spec.tenant.clone()),
        status: if pending {
            "pending"
        } else {
            rt.state.status.as_str()
        },
        summary: rt.state.describe(),
        since: (!pending).then(|| {
            (
                fmt::iso(rt.state.since_ms),
                fmt::when(rt.state.since_ms),
                fmt::ago(rt.state.since_ms, now),
            )
        }),
        last_at: rt.last.as_ref().map(|r| fmt::when(r.started_at_ms)),
        last_message: rt.last.as_ref().map(|r| r.message.clone()),
        running: entry.is_running(),
        flapping: rt
            .state
            .flapping
            .then(|| format!("{:.0}% state changes", rt.state.flap_percent)),
        chart: chart::response_times(&results, 720, 220),
        legend: chart::legend(&results),
        bars: svg::uptime_bars(&bars, 720, 32, "Uptime per day, last 90 days"),
        up24: fmt::uptime(sum.and_then(|s| s.uptime_24h)),
        up30: fmt::uptime(sum.and_then(|s| s.uptime_30d)),
        results: table_rows,
        changes: changes
            .into_iter()
            .map(|ch| ChangeView {
                at: fmt::when(ch.at_ms),
                iso: fmt::iso(ch.at_ms),
                from: ch.from.as_str(),
                to: ch.to.as_str(),
                kind: ch.kind,
                hard: ch.hard,
                message: ch.message,
            })
            .collect(),
        alarms,
        windows,
        writes: caller.writes(),
        back: format!("/checks/{id}"),
        c,
    };
    Ok(Html(page.render()?))
}

/// `POST /checks/{id}/run`: runs the check now, off schedule.
pub(crate) async fn run_now(
    State(app): State<AppState>,
    Path(id): Path<String>,
    post: PostForm<CsrfOnly>,
) -> Result<Response, UiError> {
    let viewer = post.viewer;
    let entry = visible_check(&app, &viewer.caller, &id)?;
    viewer.must_write()?;
    let id = entry.spec.id.as_str();
    if !app.engine.run_now(id) {
        return Err(UiError::NotFound(format!("no check {id:?}")));
    }
    Ok(redirect(&fmt::with_done(&format!("/checks/{id}"), "run")))
}
