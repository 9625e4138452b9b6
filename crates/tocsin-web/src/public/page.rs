//! The public status page of a tenant: an overall banner, each public check with its status in
//! words, 90 days of uptime bars and its uptime, and the incidents derived from alarms (open
//! ones, then those closed in the last 14 days).
//!
//! Incidents show only what the public may see: when, how long, and a short timeline (problem
//! detected, acknowledged, status changes, recovered). Who acknowledged, their comments, the
//! contacts told and the fault messages stay private.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use tocsin_core::Status;
use tocsin_core::alarm::{Alarm, EventKind};
use tocsin_engine::{CheckEntry, now_ms};
use tocsin_store::{AlarmCursor, AlarmFilter, AlarmRow, Store, StoreError};

use super::Links;
use super::format::{self, Level, Overall};
use crate::{ApiError, AppState, summary, svg};

/// Days of uptime bars.
const BAR_DAYS: u32 = 90;

/// Closed incidents are listed for this long after they close.
const CLOSED_FOR_MS: i64 = 14 * 86_400_000;

/// Closed alarms opened longer ago than this before the window are not looked for: an
/// incident that lasted more than 30 days and closed in the last 14 does not show.
const LONGEST_MS: i64 = 30 * 86_400_000;

/// Alarms read per page while looking for incidents, and at most this many pages.
const SCAN_PAGE: u32 = 500;
const SCAN_PAGES: usize = 10;

/// Steps of an incident's timeline shown at most (the first and the latest).
const MAX_STEPS: usize = 10;

#[derive(Template)]
#[template(path = "public/status.html")]
struct StatusPage {
    title: String,
    overall: Overall,
    updated: String,
    updated_iso: String,
    checks: Vec<CheckRow>,
    incidents: Vec<Incident>,
    feed_atom: String,
    feed_rss: String,
}

/// One check on the page.
struct CheckRow {
    id: String,
    name: String,
    level: Level,
    bars: String,
    uptime: String,
}

/// One incident, as the public sees it.
#[derive(Debug)]
struct Incident {
    title: String,
    level: Level,
    open: bool,
    start: String,
    start_iso: String,
    end: Option<(String, String)>,
    duration: String,
    timeline: Vec<Step>,
}

/// One step of an incident's timeline.
#[derive(Debug, PartialEq)]
struct Step {
    at: String,
    at_iso: String,
    text: &'static str,
}

/// Renders the status page of `tenant` listing `checks` (its public checks).
pub(crate) async fn render(
    app: &AppState,
    tenant: &str,
    checks: &[Arc<CheckEntry>],
) -> Result<String, ApiError> {
    let now = now_ms();
    let store = app.engine.store();
    let mut rows = Vec::with_capacity(checks.len());
    for e in checks {
        let state = e.snapshot().state;
        let bars = summary::day_bars(store, e.id().as_str(), BAR_DAYS, now)
            .await
            .map_err(ApiError::internal)?;
        let (count, ok) = bars.iter().fold((0u64, 0u64), |(c, o), b| {
            (c + u64::from(b.count), o + u64::from(b.ok))
        });
        let uptime = (count > 0).then(|| 100.0 * ok as f64 / count as f64);
        let label = format!("{}: uptime per day, last {BAR_DAYS} days", e.spec.name);
        rows.push(CheckRow {
            id: e.id().to_string(),
            name: e.spec.name.clone(),
            level: Level::of(&state),
            bars: svg::uptime_bars(&bars, 450, 34, &label),
            uptime: format::uptime(uptime),
        });
    }
    let overall = Overall::of(rows.iter().map(|r| r.level));
    let incidents = incidents(store, checks, now)
        .await
        .map_err(ApiError::internal)?;
    let title = if tenant.is_empty() {
        "Status".to_owned()
    } else {
        format!("{tenant} status")
    };
    let links = Links::new(None);
    let page = StatusPage {
        title,
        overall,
        updated: format::time(now),
        updated_iso: format::rfc3339(now),
        checks: rows,
        incidents,
        feed_atom: links.at(&Links::feed_path(tenant, "atom")),
        feed_rss: links.at(&Links::feed_path(tenant, "rss")),
    };
    page.render().map_err(ApiError::internal)
}

/// The incidents of `checks`: their open alarms (newest first), then their alarms closed in
/// the last 14 days (latest closed first).
async fn incidents(
    store: &Store,
    checks: &[Arc<CheckEntry>],
    now: i64,
) -> Result<Vec<Incident>, StoreError> {
    let names: HashMap<String, &str> = checks
        .iter()
        .map(|e| (format!("check:{}", e.id()), e.spec.name.as_str()))
        .collect();
    let open = scan(store, AlarmFilter::Open, &names, i64::MIN).await?;
    let mut closed = scan(
        store,
        AlarmFilter::Closed,
        &names,
        now - CLOSED_FOR_MS - LONGEST_MS,
    )
    .await?;
    closed.retain(|r| r.closed_ms.is_some_and(|c| c >= now - CLOSED_FOR_MS));
    closed.sort_by_key(|r| std::cmp::Reverse(r.closed_ms));
    let mut out = Vec::with_capacity(open.len() + closed.len());
    for row in open.iter().chain(&closed) {
        let Ok(alarm) = serde_json::from_value::<Alarm>(row.body.clone()) else {
            tracing::warn!(alarm = row.id, "skipping an alarm that cannot be decoded");
            continue;
        };
        let name = names.get(&row.key).copied().unwrap_or_default();
        out.push(incident(&alarm, name, now));
    }
    Ok(out)
}

/// The alarms of `filter` whose key is in `keys`, newest opened first, reading pages until
/// alarms opened before `opened_after`.
async fn scan(
    store: &Store,
    filter: AlarmFilter,
    keys: &HashMap<String, &str>,
    opened_after: i64,
) -> Result<Vec<AlarmRow>, StoreError> {
    let mut out = Vec::new();
    if keys.is_empty() {
        return Ok(out);
    }
    let mut cursor: Option<AlarmCursor> = None;
    for _ in 0..SCAN_PAGES {
        let page = store
            .alarms(None, filter, cursor.as_ref(), SCAN_PAGE)
            .await?;
        let full = page.len() == SCAN_PAGE as usize;
        cursor = page.last().map(AlarmRow::cursor);
        let mut done = !full;
        for row in page {
            if row.opened_ms < opened_after {
                done = true;
                break;
            }
            if keys.contains_key(&row.key) {
                out.push(row);
            }
        }
        if done {
            break;
        }
    }
    Ok(out)
}

/// An alarm as a public incident of the check named `name`.
fn incident(alarm: &Alarm, name: &str, now: i64) -> Incident {
    let mut worst: Option<Status> = None;
    let mut steps: Vec<Step> = Vec::new();
    for e in &alarm.events {
        let text = match &e.what {
            EventKind::Opened => Some("Problem detected"),
            EventKind::FaultAdded { status, .. } => {
                worst = Some(worst.map_or(*status, |w| w.worst(*status)));
                None
            }
            EventKind::FaultChanged { to, .. } => {
                worst = Some(worst.map_or(*to, |w| w.worst(*to)));
                Some(match Level::of_status(*to) {
                    Level::Degraded => "Status changed: degraded",
                    Level::Down => "Status changed: down",
                    _ => "Status changed: unknown",
                })
            }
            EventKind::Acked { .. } => Some("Acknowledged: the team is looking into it"),
            EventKind::Closed { by: None } => Some("Recovered"),
            EventKind::Closed { by: Some(_) } => Some("Resolved"),
            EventKind::Reopened { .. } => Some("Reopened"),
            _ => None,
        };
        if let Some(text) = text
            && steps.last().is_none_or(|s| s.text != text)
        {
            steps.push(Step {
                at: format::time(e.at_ms),
                at_iso: format::rfc3339(e.at_ms),
                text,
            });
        }
    }
    if steps.len() > MAX_STEPS {
        steps.drain(1..steps.len() - (MAX_STEPS - 1));
    }
    let level = Level::of_status(worst.unwrap_or(Status::Critical));
    let open = alarm.closed_ms.is_none();
    let verb = if open { "is" } else { "was" };
    Incident {
        title: format!("{name} {verb} {}", level.words().to_lowercase()),
        level,
        open,
        start: format::time(alarm.opened_ms),
        start_iso: format::rfc3339(alarm.opened_ms),
        end: alarm
            .closed_ms
            .map(|c| (format::time(c), format::rfc3339(c))),
        duration: format::duration(alarm.closed_ms.unwrap_or(now) - alarm.opened_ms),
        timeline: steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::CheckId;
    use tocsin_core::alarm::{AlarmEvent, AlarmKey};

    fn event(at_ms: i64, what: EventKind) -> AlarmEvent {
        AlarmEvent { at_ms, what }
    }

    #[test]
    fn incidents_keep_private_details_out() {
        let id = CheckId::new("shop").unwrap();
        let mut alarm = Alarm::new(7, AlarmKey::Check(id.clone()), 1_000);
        alarm.events = vec![
            event(1_000, EventKind::Opened),
            event(
                1_000,
                EventKind::FaultAdded {
                    check: id.clone(),
                    status: Status::Warning,
                    message: "internal host db-7 refused".into(),
                },
            ),
            event(
                61_000,
                EventKind::FaultChanged {
                    check: id,
                    from: Status::Warning,
                    to: Status::Critical,
                },
            ),
            event(
                121_000,
                EventKind::Acked {
                    by: "alice@example.com".into(),
                    comment: Some("restarting db-7, password in vault".into()),
                    expires_ms: None,
                },
            ),
            event(
                181_000,
                EventKind::Notified {
                    kind: tocsin_core::alarm::NotificationKind::Opened,
                    seq: 1,
                    contacts: 2,
                },
            ),
            event(3_661_000, EventKind::Closed { by: None }),
        ];
        alarm.closed_ms = Some(3_661_000);
        let i = incident(&alarm, "Shop", 10_000_000);
        assert_eq!(i.title, "Shop was down");
        assert!(!i.open);
        assert_eq!(i.duration, "1 h 1 min");
        let texts: Vec<&str> = i.timeline.iter().map(|s| s.text).collect();
        assert_eq!(
            texts,
            [
                "Problem detected",
                "Status changed: down",
                "Acknowledged: the team is looking into it",
                "Recovered"
            ]
        );
        let shown = format!("{i:?}");
        for private in ["alice", "db-7", "vault", "contacts"] {
            assert!(!shown.contains(private), "{private} shows: {shown}");
        }
    }

    #[test]
    fn long_timelines_keep_the_first_and_latest_steps() {
        let id = CheckId::new("shop").unwrap();
        let mut alarm = Alarm::new(1, AlarmKey::Check(id.clone()), 0);
        alarm.events.push(event(0, EventKind::Opened));
        for i in 0..30 {
            let (from, to) = if i % 2 == 0 {
                (Status::Critical, Status::Warning)
            } else {
                (Status::Warning, Status::Critical)
            };
            alarm.events.push(event(
                i * 1000,
                EventKind::FaultChanged {
                    check: id.clone(),
                    from,
                    to,
                },
            ));
        }
        let i = incident(&alarm, "Shop", 100_000);
        assert!(i.open);
        assert_eq!(i.title, "Shop is down");
        assert_eq!(i.timeline.len(), MAX_STEPS);
        assert_eq!(i.timeline[0].text, "Problem detected");
        assert_eq!(i.timeline[MAX_STEPS - 1].text, "Status changed: down");
    }
}
