//! The retention collector: a task that periodically deletes the results, rollups, state
//! changes, closed alarms and finished outbox rows that retention drops (Amon's "db garbage
//! collection").

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::Store;
use crate::store::now_ms;

/// Raw results are kept this long unless configured otherwise: 7 days.
pub const DEFAULT_KEEP_RESULTS: Duration = Duration::from_secs(7 * 24 * 3600);
/// Rollups and state changes are kept this long unless configured otherwise: 400 days.
pub const DEFAULT_KEEP_ROLLUPS: Duration = Duration::from_secs(400 * 24 * 3600);
/// Closed alarms (with their timelines) are kept this long after they closed: 30 days.
pub const DEFAULT_KEEP_CLOSED_ALARMS: Duration = Duration::from_secs(30 * 24 * 3600);
/// Delivered outbox rows are kept this long after delivery: 7 days.
pub const DEFAULT_KEEP_DELIVERED: Duration = Duration::from_secs(7 * 24 * 3600);
/// Dead letters are kept this long after they were given up on: 30 days.
pub const DEFAULT_KEEP_DEAD: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long the collector keeps each kind of row. Open alarms, pending deliveries and check
/// states are never collected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    /// Raw results, by start time.
    pub keep_results: Duration,
    /// Rollups and state changes.
    pub keep_rollups: Duration,
    /// Closed alarms and their events, from the time they closed.
    pub keep_closed_alarms: Duration,
    /// Delivered outbox rows, from the time they were delivered.
    pub keep_delivered: Duration,
    /// Dead letters, from the time they were given up on (independently of their alarm: a dead
    /// letter carries its own payload and error, and may outlive the alarm).
    pub keep_dead: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep_results: DEFAULT_KEEP_RESULTS,
            keep_rollups: DEFAULT_KEEP_ROLLUPS,
            keep_closed_alarms: DEFAULT_KEEP_CLOSED_ALARMS,
            keep_delivered: DEFAULT_KEEP_DELIVERED,
            keep_dead: DEFAULT_KEEP_DEAD,
        }
    }
}

/// Starts the collector with the default retention of alarms and outbox rows: see
/// [`spawn_collector_with`].
pub fn spawn_collector(
    store: Store,
    keep_results: Duration,
    keep_rollups: Duration,
    every: Duration,
) -> JoinHandle<()> {
    spawn_collector_with(
        store,
        Retention {
            keep_results,
            keep_rollups,
            ..Retention::default()
        },
        every,
    )
}

/// Starts the collector: every `every` (first run one period after the start), it deletes
/// what `retention` drops, in small chunks (see [`Store::collect_garbage_with`]). Failures are
/// logged and retried on the next run. Abort the handle to stop it; an aborted run loses
/// nothing (each chunk is its own transaction).
pub fn spawn_collector_with(store: Store, retention: Retention, every: Duration) -> JoinHandle<()> {
    let Retention {
        keep_results,
        keep_rollups,
        ..
    } = retention;
    tokio::spawn(async move {
        let every = every.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let started = tokio::time::Instant::now();
            match store.collect_garbage_with(now_ms(), &retention).await {
                Ok(deleted) => tracing::info!(
                    deleted,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    keep_results_s = keep_results.as_secs(),
                    keep_rollups_s = keep_rollups.as_secs(),
                    "store garbage collected"
                ),
                Err(error) => {
                    tracing::warn!(%error, "store garbage collection failed; retrying next period");
                }
            }
        }
    })
}
