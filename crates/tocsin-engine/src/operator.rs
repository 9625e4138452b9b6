//! What operators do to a running engine, through the API or `tocsin ctl`: act on alarms (ack,
//! unack, close, reopen, suppress, unsuppress) and add or end maintenance windows.
//!
//! Maintenance windows come from two places: configuration files (read-only here, changed by
//! editing the file) and run time (stored, one-off, ended early with
//! [`Engine::end_maintenance`]). Both hold notifications back the same way; ending a window
//! ticks the alarms at once, so faults still present are notified without waiting for the next
//! periodic tick.

use jiff::Timestamp;
use serde::Serialize;
use tocsin_core::alarm::{Action, Alarm};
use tocsin_core::directory::{Maintenance, MaintenanceScope, MaintenanceWindow, WindowEnd};
use tocsin_core::{CheckId, Dur};
use tocsin_store::{MaintenanceRow, StoreError};

pub use crate::alerting::{ActionError, MaintenanceBody};
use crate::{Engine, lock, now_ms};

/// A maintenance window to create.
#[derive(Clone, Debug, Default)]
pub struct NewMaintenance {
    /// Its id (`[a-z0-9_.-]+`); generated when absent.
    pub id: Option<String>,
    /// When it starts (`None`: now).
    pub start: Option<Timestamp>,
    /// When it ends.
    pub end: Option<Timestamp>,
    /// What it covers.
    pub scope: MaintenanceScope,
    /// Why.
    pub note: Option<String>,
    /// Who creates it.
    pub by: Option<String>,
}

/// A maintenance window as listed.
#[derive(Clone, Debug, Serialize)]
pub struct MaintenanceView {
    /// Identity.
    pub id: String,
    /// `file` (read-only, edit the file) or `api` (created at run time).
    pub source: &'static str,
    /// Where a file window is written (`people.yml:12:5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Whether it holds notifications back now.
    pub active: bool,
    /// Its start, for one-off windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// Its end, for one-off windows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<Timestamp>,
    /// For recurring windows: the cron expression and how long each lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurring: Option<String>,
    /// What it covers.
    pub scope: MaintenanceScope,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a maintenance could not be added or ended.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// A field is wrong; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The id is taken.
    #[error("a maintenance with id {0:?} already exists")]
    Duplicate(String),
    /// No run-time window has this id (or it has ended).
    #[error("no current maintenance with id {0:?}")]
    NotFound(String),
    /// The window is defined in a file.
    #[error("maintenance {id:?} is defined in {origin}: edit or remove it there")]
    InFile {
        /// The window.
        id: String,
        /// Where.
        origin: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The longest run-time window.
pub const MAX_WINDOW: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

impl Engine {
    /// Applies an operator's action to alarm `id` and returns the alarm after it.
    pub async fn alarm_action(&self, id: u64, action: &Action) -> Result<Alarm, ActionError> {
        let table = self.table();
        self.shared.alerting.act(&table, id, action).await
    }

    /// Every maintenance window: those of the files (current, future and recurring) and the
    /// run-time ones that have not ended, by id.
    pub fn maintenances(&self) -> Vec<MaintenanceView> {
        let now = Timestamp::now();
        let catalog = lock(&self.config).catalog();
        let mut out: Vec<MaintenanceView> = catalog
            .maintenances
            .iter()
            .map(|m| {
                let first = self.shared.alerting.first_seen(&m.id).unwrap_or(now);
                let mut v = view(m, "file", now, first);
                v.origin = Some(m.origin.to_string());
                v
            })
            .collect();
        out.extend(
            self.shared
                .alerting
                .runtime_maintenances()
                .iter()
                .map(|m| view(m, "api", now, now)),
        );
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Adds a one-off maintenance window. Its check and group ids must exist now.
    pub async fn add_maintenance(
        &self,
        new: NewMaintenance,
    ) -> Result<MaintenanceView, MaintenanceError> {
        let now = now_ms();
        let invalid = |m: String| Err(MaintenanceError::Invalid(m));
        if new.scope.is_empty() {
            return invalid(
                "scope: covers nothing: give all, or at least one of checks, groups, tags, hosts"
                    .into(),
            );
        }
        let table = self.table();
        let catalog = lock(&self.config).catalog();
        let unknown: Vec<&str> = new
            .scope
            .checks
            .iter()
            .filter(|c| table.get(*c).is_none())
            .map(CheckId::as_str)
            .collect();
        if !unknown.is_empty() {
            return invalid(format!("scope.checks: no check {}", unknown.join(", ")));
        }
        let unknown: Vec<&str> = new
            .scope
            .groups
            .iter()
            .filter(|g| catalog.group(g).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return invalid(format!("scope.groups: no group {}", unknown.join(", ")));
        }
        let start = new.start.map_or(now, Timestamp::as_millisecond);
        let Some(end) = new.end.map(Timestamp::as_millisecond) else {
            return invalid("end: missing: give an end time or a duration".into());
        };
        if end <= start {
            return invalid("end: must be after start".into());
        }
        if end <= now {
            return invalid("end: must be in the future".into());
        }
        if u64::try_from(end - start).unwrap_or(u64::MAX) > MAX_WINDOW.as_millis() as u64 {
            return invalid(format!(
                "end: a window lasts at most {}",
                Dur::from(MAX_WINDOW)
            ));
        }
        let chosen = new.id.is_some();
        if let Some(id) = &new.id {
            CheckId::new(id).map_err(|e| MaintenanceError::Invalid(format!("id: {e}")))?;
            if let Some(m) = catalog.maintenances.iter().find(|m| &m.id == id) {
                return Err(MaintenanceError::InFile {
                    id: id.clone(),
                    origin: m.origin.to_string(),
                });
            }
        }
        let body = MaintenanceBody {
            scope: new.scope,
            note: new.note.filter(|n| !n.trim().is_empty()),
            by: new.by,
        };
        let mut row = MaintenanceRow {
            tenant: String::new(),
            id: new.id.unwrap_or_else(|| maintenance_id(now)),
            starts_ms: start,
            ends_ms: end,
            ended_ms: None,
            created_ms: now,
            body: serde_json::to_value(&body).unwrap_or_default(),
        };
        // The insert decides (two requests may race for one id): a chosen id that exists is a
        // conflict; a made-up one is made up again.
        let mut tries = 0;
        loop {
            match self.shared.alerting.add_maintenance(&row).await {
                Ok(()) => break,
                Err(e) if e.is_conflict() && chosen => {
                    return Err(MaintenanceError::Duplicate(row.id));
                }
                Err(e) if e.is_conflict() && tries < 5 => {
                    tries += 1;
                    row.id = maintenance_id(now);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let id = row.id;
        tracing::info!(maintenance = %id, "maintenance added");
        self.maintenances()
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(MaintenanceError::NotFound(id))
    }

    /// Ends a run-time maintenance window now; faults it held back are notified at once.
    pub async fn end_maintenance(&self, id: &str) -> Result<(), MaintenanceError> {
        let catalog = lock(&self.config).catalog();
        if let Some(m) = catalog.maintenances.iter().find(|m| m.id == id) {
            return Err(MaintenanceError::InFile {
                id: id.to_owned(),
                origin: m.origin.to_string(),
            });
        }
        if !self.shared.alerting.end_maintenance(id).await? {
            return Err(MaintenanceError::NotFound(id.to_owned()));
        }
        tracing::info!(maintenance = %id, "maintenance ended");
        let table = self.table();
        self.shared.alerting.tick(&table).await;
        Ok(())
    }
}

/// A new maintenance id, `m-<time in hex>-<sequence>`: unique within the process, and across
/// restarts by the time.
fn maintenance_id(now: i64) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("m-{now:x}-{n}")
}

fn view(
    m: &Maintenance,
    source: &'static str,
    now: Timestamp,
    first: Timestamp,
) -> MaintenanceView {
    let (start, end, recurring) = match &m.window {
        MaintenanceWindow::Once { start, end } => {
            let s = start.unwrap_or(first);
            let e = match end {
                WindowEnd::At(t) => Some(*t),
                WindowEnd::After(d) => jiff::SignedDuration::try_from(*d)
                    .ok()
                    .and_then(|d| s.checked_add(d).ok()),
            };
            (Some(s), e, None)
        }
        MaintenanceWindow::Recurring { schedule, duration } => (
            None,
            None,
            Some(match schedule {
                tocsin_core::Schedule::Cron(c) => {
                    format!(
                        "{} ({}) for {}",
                        c.expr(),
                        c.tz_name(),
                        Dur::from(*duration)
                    )
                }
                tocsin_core::Schedule::Every(i) => {
                    format!("every {} for {}", Dur::from(*i), Dur::from(*duration))
                }
            }),
        ),
    };
    MaintenanceView {
        id: m.id.clone(),
        source,
        origin: None,
        active: m.window.is_active(now, first),
        start,
        end,
        recurring,
        scope: m.scope.clone(),
        note: m.note.clone(),
    }
}
