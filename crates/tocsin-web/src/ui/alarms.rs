//! The alarms page (`GET /alarms`: open alarms, then recently closed ones) and the alarm
//! forms (`POST /alarms/{id}/{ack|unack|close|reopen}`), also used by the check page.
//!
//! An alarm's tenant is its check's tenant; group alarms belong to the operator. Another
//! tenant's alarm is a 404, as in the API.

use std::fmt::Write as _;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, Response};
use jiff::Timestamp;
use serde::Deserialize;
use tocsin_core::alarm::{Action, Alarm, AlarmError};
use tocsin_core::{CheckId, Dur};
use tocsin_engine::{ActionError, Table, now_ms};
use tocsin_store::{AlarmCursor, AlarmFilter, AlarmRow};

use super::error::UiError;
use super::guard::{PostForm, Viewer, csrf_form, redirect};
use super::{Chrome, Done, fmt};
use crate::AppState;
use crate::auth::Caller;

/// How many alarms a page lists at most, per section.
const OPEN_MAX: usize = 500;
const CLOSED_MAX: usize = 50;
/// Store pages read at most while looking for alarms the caller sees.
const PAGES: usize = 10;
const PAGE: u32 = 200;

/// One fault of an alarm.
pub(crate) struct FaultView {
    pub(crate) check: String,
    /// Whether the check's page can be linked (it exists and the caller sees it).
    pub(crate) link: bool,
    pub(crate) status: &'static str,
    pub(crate) message: String,
    pub(crate) since: String,
    pub(crate) hold: Option<String>,
}

/// An alarm as the pages show it.
pub(crate) struct AlarmView {
    pub(crate) id: u64,
    /// `check web`, `group shop`.
    pub(crate) subject: String,
    /// The check's page, for a check's alarm the caller sees.
    pub(crate) href: Option<String>,
    pub(crate) open: bool,
    pub(crate) opened: String,
    pub(crate) closed: Option<String>,
    pub(crate) faults: Vec<FaultView>,
    /// `by token:ops at …: “comment” (until …)`.
    pub(crate) ack: Option<String>,
    pub(crate) suppressed: bool,
    pub(crate) notifications: u32,
}

fn view(table: &Table, caller: &Caller, row: &AlarmRow, now: i64) -> Option<AlarmView> {
    let alarm: Alarm = match serde_json::from_value(row.body.clone()) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(alarm = row.id, error = %e, "stored alarm unreadable; not shown");
            return None;
        }
    };
    let sees_check = |id: &str| {
        CheckId::new(id)
            .ok()
            .and_then(|id| table.get(&id).map(|e| caller.sees(&e.spec.tenant)))
            .unwrap_or(false)
    };
    let (subject, href) = match row.key.split_once(':') {
        Some(("check", id)) => (
            format!("check {id}"),
            sees_check(id).then(|| format!("/checks/{id}")),
        ),
        Some((kind, id)) => (format!("{kind} {id}"), None),
        None => (row.key.clone(), None),
    };
    let faults = alarm
        .faults
        .iter()
        .map(|(check, f)| FaultView {
            check: check.to_string(),
            link: sees_check(check.as_str()),
            status: f.status.as_str(),
            message: f.message.clone(),
            since: fmt::ago(f.since_ms, now),
            hold: f.hold.as_ref().map(ToString::to_string),
        })
        .collect();
    let ack = alarm.ack.as_ref().map(|a| {
        let mut s = format!("by {} at {}", a.by, fmt::when(a.at_ms));
        if let Some(c) = &a.comment {
            let _ = write!(s, ": “{c}”");
        }
        if let Some(e) = a.expires_ms {
            let _ = write!(s, " (until {})", fmt::when(e));
        }
        s
    });
    Some(AlarmView {
        id: alarm.id,
        subject,
        href,
        open: alarm.closed_ms.is_none(),
        opened: fmt::when(alarm.opened_ms),
        closed: alarm.closed_ms.map(fmt::when),
        faults,
        ack,
        suppressed: alarm.suppressed,
        notifications: alarm.notifications,
    })
}

/// Up to `max` alarms (newest opened first) that `caller` sees and `keep` accepts.
pub(crate) async fn list(
    app: &AppState,
    caller: &Caller,
    filter: AlarmFilter,
    max: usize,
    keep: impl Fn(&AlarmRow) -> bool,
) -> Result<Vec<AlarmView>, UiError> {
    let table = app.engine.table();
    let store = app.engine.store();
    let now = now_ms();
    let mut out = Vec::new();
    let mut cursor: Option<AlarmCursor> = None;
    for _ in 0..PAGES {
        let rows = store.alarms(None, filter, cursor.as_ref(), PAGE).await?;
        let full = rows.len() == PAGE as usize;
        cursor = rows.last().map(AlarmRow::cursor);
        for row in &rows {
            if keep(row)
                && crate::alarms::visible(&table, caller, &row.key)
                && let Some(v) = view(&table, caller, row, now)
            {
                out.push(v);
                if out.len() >= max {
                    return Ok(out);
                }
            }
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "ui/alarms.html")]
struct AlarmsPage {
    c: Chrome,
    open: Vec<AlarmView>,
    closed: Vec<AlarmView>,
    writes: bool,
    back: &'static str,
}

/// `GET /alarms`.
pub(crate) async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(done): Query<Done>,
) -> Result<Html<String>, UiError> {
    let caller = &viewer.caller;
    let open = list(&app, caller, AlarmFilter::Open, OPEN_MAX, |_| true).await?;
    let closed = list(&app, caller, AlarmFilter::Closed, CLOSED_MAX, |_| true).await?;
    let mut c = Chrome::new(&viewer, "Alarms", "alarms").done(&done);
    c.live = "alarms";
    let page = AlarmsPage {
        c,
        open,
        closed,
        writes: caller.writes(),
        back: "/alarms",
    };
    Ok(Html(page.render()?))
}

/// The fields of the alarm forms (`comment` and `expires` for an ack only).
#[derive(Default, Deserialize)]
pub(crate) struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    comment: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    back: String,
}

csrf_form!(ActForm);

/// `2h` (from now) or an RFC 3339 time, as Unix ms in the future.
fn future_time(field: &str, s: &str, now: i64) -> Result<i64, UiError> {
    let ms = if let Ok(d) = s.parse::<Dur>() {
        now.saturating_add(i64::try_from(d.get().as_millis()).unwrap_or(i64::MAX))
    } else if let Ok(t) = s.parse::<Timestamp>() {
        t.as_millisecond()
    } else {
        return Err(UiError::BadRequest(format!(
            "{field} {s:?}: expected a duration such as 2h or a time such as \
             2026-05-01T22:00:00Z"
        )));
    };
    if ms <= now {
        return Err(UiError::BadRequest(format!(
            "{field} {s:?} is not in the future"
        )));
    }
    Ok(ms)
}

/// `POST /alarms/{id}/{action}`.
pub(crate) async fn act(
    State(app): State<AppState>,
    Path((id, verb)): Path<(String, String)>,
    post: PostForm<ActForm>,
) -> Result<Response, UiError> {
    let PostForm { viewer, form } = post;
    let not_found = || UiError::NotFound(format!("no alarm {id:?}"));
    let n: u64 = id
        .trim_start_matches('#')
        .parse()
        .map_err(|_| not_found())?;
    let row = app
        .engine
        .store()
        .alarm("", i64::try_from(n).map_err(|_| not_found())?)
        .await?
        .ok_or_else(not_found)?;
    if !crate::alarms::visible(&app.engine.table(), &viewer.caller, &row.key) {
        return Err(not_found());
    }
    viewer.must_write()?;
    let by = viewer.caller.who();
    let action = match verb.as_str() {
        "ack" => Action::Ack {
            by,
            comment: Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty()),
            expires_ms: Some(form.expires.trim())
                .filter(|e| !e.is_empty())
                .map(|e| future_time("until", e, now_ms()))
                .transpose()?,
        },
        "unack" => Action::Unack { by },
        "close" => Action::Close { by },
        "reopen" => Action::Reopen { by },
        other => {
            return Err(UiError::NotFound(format!(
                "no alarm action {other:?}: expected ack, unack, close or reopen"
            )));
        }
    };
    match app.engine.alarm_action(n, &action).await {
        Ok(_) => {}
        Err(ActionError::Alarm(e @ AlarmError::NotFound { .. })) => {
            return Err(UiError::NotFound(e.to_string()));
        }
        Err(ActionError::Alarm(e)) => return Err(UiError::Conflict(e.to_string())),
        Err(ActionError::Store(e)) => return Err(UiError::internal(e)),
    }
    let back = fmt::local_path(&form.back).unwrap_or("/alarms");
    Ok(redirect(&fmt::with_done(back, &verb)))
}
