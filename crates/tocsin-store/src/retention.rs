//! The retention collector: a task that periodically deletes results, rollups and state changes
//! that retention drops (Amon's "db garbage collection").

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::Store;
use crate::store::now_ms;

/// Raw results are kept this long unless configured otherwise: 7 days.
pub const DEFAULT_KEEP_RESULTS: Duration = Duration::from_secs(7 * 24 * 3600);
/// Rollups and state changes are kept this long unless configured otherwise: 400 days.
pub const DEFAULT_KEEP_ROLLUPS: Duration = Duration::from_secs(400 * 24 * 3600);

/// Starts the collector: every `every` (first run one period after the start), it deletes
/// results older than `keep_results` and rollups and state changes older than `keep_rollups`,
/// in small chunks (see [`Store::collect_garbage`]). Failures are logged and retried on the next
/// run. Abort the handle to stop it; an aborted run loses nothing (each chunk is its own
/// transaction).
pub fn spawn_collector(
    store: Store,
    keep_results: Duration,
    keep_rollups: Duration,
    every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = every.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let started = tokio::time::Instant::now();
            match store
                .collect_garbage(now_ms(), keep_results, keep_rollups)
                .await
            {
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
