//! Self-alarms: Tocsin watching its own trouble, with the same alarms and notifications as any
//! check, sent to the contacts of `self.notify`.
//!
//! Four internal checks, evaluated at every alarm tick from the engine's own counters:
//!
//! | id | bad when | status |
//! |---|---|---|
//! | `tocsin.config` | the configuration has errors (broken files keep their last good version) | critical |
//! | `tocsin.notifications` | a contact's deliveries failed [`FAILING_IN_A_ROW`] times in a row, or a notification was given up (dead letter) in the last [`RECENT`] | critical |
//! | `tocsin.store` | writing results or alarm changes failed in the last [`RECENT`] | critical |
//! | `tocsin.scheduler` | due runs were skipped because the scheduler fell behind, in the last [`RECENT`] | warning |
//!
//! Each goes through the state engine with `failures: 1, recoveries: 1`, so an alarm opens on
//! the first bad evaluation and closes on the first good one. Their ids start with
//! [`tocsin_core::config::SELF_PREFIX`], which checks in files may not use.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tocsin_core::alarm::AlarmKey;
use tocsin_core::state::step;
use tocsin_core::{AlertPolicy, CheckId, CheckResult, CheckState, Status};

use crate::Shared;
use crate::runner::now_ms;

/// Consecutive failed deliveries to one contact that make `tocsin.notifications` bad.
pub(crate) const FAILING_IN_A_ROW: u32 = 3;

/// How long an event (a dead letter, a store error, a skipped run) keeps its check bad.
pub(crate) const RECENT: Duration = Duration::from_secs(600);

/// The counters seen at the previous evaluation, and when each last moved.
#[derive(Debug, Default)]
struct Seen {
    dead: u64,
    store_errors: u64,
    missed: u64,
    dead_at_ms: Option<i64>,
    store_at_ms: Option<i64>,
    missed_at_ms: Option<i64>,
}

/// The self-checks' states and what they last saw.
#[derive(Debug, Default)]
pub(crate) struct SelfWatch {
    states: Mutex<HashMap<&'static str, CheckState>>,
    seen: Mutex<Seen>,
}

/// One evaluation: a status and a message per self-check.
fn evaluate(shared: &Shared, seen: &mut Seen, now: i64) -> [(&'static str, Status, String); 4] {
    let recent = |at: Option<i64>| {
        at.is_some_and(|t| now - t < i64::try_from(RECENT.as_millis()).unwrap_or(i64::MAX))
    };
    let moved = |last: &mut u64, at: &mut Option<i64>, now_value: u64| -> u64 {
        let delta = now_value.saturating_sub(*last);
        if delta > 0 {
            *at = Some(now);
        }
        *last = now_value;
        delta
    };

    let errors = shared.config_errors();
    let config = match errors.first() {
        None => (Status::Ok, "configuration loaded without errors".to_owned()),
        Some(first) => (
            Status::Critical,
            format!(
                "{} configuration error(s); broken files keep their last good version: {first}",
                errors.len()
            ),
        ),
    };

    let a = &shared.alerting.metrics;
    moved(
        &mut seen.dead,
        &mut seen.dead_at_ms,
        a.dead.load(Ordering::Relaxed),
    );
    let failing = shared.alerting.failing_contacts(FAILING_IN_A_ROW);
    let notifications = if let Some((contact, n, error)) = failing.first() {
        (
            Status::Critical,
            format!("contact {contact}: {n} deliveries failed in a row: {error}"),
        )
    } else if recent(seen.dead_at_ms) {
        (
            Status::Critical,
            "notifications were given up (dead letters) in the last 10 minutes; see \
             /api/v1/outbox"
                .to_owned(),
        )
    } else {
        (Status::Ok, "notifications are delivered".to_owned())
    };

    let store_errors = a.store_errors.load(Ordering::Relaxed) + shared.writer.stats().errors;
    moved(&mut seen.store_errors, &mut seen.store_at_ms, store_errors);
    let store = if recent(seen.store_at_ms) {
        (
            Status::Critical,
            "writing to the store failed in the last 10 minutes (writes are retried); see the \
             server log"
                .to_owned(),
        )
    } else {
        (Status::Ok, "the store accepts writes".to_owned())
    };

    let missed = shared.metrics.missed.load(Ordering::Relaxed);
    let skipped = moved(&mut seen.missed, &mut seen.missed_at_ms, missed);
    let scheduler = if recent(seen.missed_at_ms) {
        (
            Status::Warning,
            format!(
                "the scheduler fell behind: due runs were skipped in the last 10 minutes \
                 ({skipped} since the last look); raise --max-concurrent or lower the load"
            ),
        )
    } else {
        (Status::Ok, "the scheduler keeps up".to_owned())
    };

    [
        ("tocsin.config", config.0, config.1),
        ("tocsin.notifications", notifications.0, notifications.1),
        ("tocsin.store", store.0, store.1),
        ("tocsin.scheduler", scheduler.0, scheduler.1),
    ]
}

impl SelfWatch {
    /// Evaluates the self-checks and steps their alarms.
    pub(crate) async fn tick(&self, shared: &Shared) {
        let now = now_ms();
        let checks = evaluate(shared, &mut lock(&self.seen), now);
        let alert = AlertPolicy {
            failures: 1,
            recoveries: 1,
            ..AlertPolicy::default()
        };
        let policy = shared.alerting.self_policy();
        for (id, status, message) in checks {
            let transitions = {
                let mut states = lock(&self.states);
                let state = states.entry(id).or_default();
                let (next, transitions) = step(state, status, now, &alert);
                *state = next;
                transitions
            };
            if transitions.is_empty() {
                continue;
            }
            let Ok(check) = CheckId::new(id) else {
                continue;
            };
            let result = CheckResult::new(status, message, now);
            tracing::warn!(check = id, status = %status, message = %result.message, "self-check changed");
            let table = shared.table();
            shared
                .alerting
                .step_alarm(
                    &table,
                    AlarmKey::Check(check.clone()),
                    &policy,
                    &check,
                    &transitions,
                    &result,
                )
                .await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
