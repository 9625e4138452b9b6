//! Tocsin's store: results, per-minute rollups, per-check state and state changes, alarms and
//! the notification outbox, kept in SQLite (the default, one file) or PostgreSQL (clusters),
//! through one code path.
//!
//! - [`Store`] opens a database from a URL, runs the embedded migrations for its dialect and
//!   offers the reads and writes the engine and the web server need. All SQL is portable (`$N`
//!   placeholders, `BIGINT` epoch milliseconds, JSON as `TEXT`) and goes through sqlx's `Any`
//!   driver, so both backends run the same statements.
//! - [`WriteBehind`] is the hot path: a bounded queue that batches writes into transactions,
//!   coalesces state writes, retries failed batches and maintains the per-minute rollups.
//! - [`spawn_collector`] deletes what retention drops, in small chunks.
//! - [`Store::save_alarm_change`] writes an alarm, its new timeline events and its
//!   notifications (outbox rows) in one transaction; notifier workers read
//!   [`Store::due_deliveries`] and record outcomes with `mark_delivered` / `mark_failed` /
//!   `mark_dead`, retrying on the [`backoff`] schedule.
//!
//! Architecture invariant: this is the only crate that speaks SQL.
//!
//! Decisions worth knowing:
//! - Schema: `check_state`, `results` (status code, message and total time as columns, the rest
//!   as a JSON `body`), `rollups_minute`, `state_changes`; one migration directory per dialect
//!   (`migrations/sqlite`, `migrations/postgres`), kept in lock-step and embedded in the binary.
//! - SQLite runs one writer connection (WAL, `synchronous=NORMAL`, 64 MB page cache, checkpoint
//!   every ~40 MB of WAL) and a few reader connections; PostgreSQL one pool. Opening an unreachable PostgreSQL retries for up to
//!   30 s before failing (so a server may start alongside its database).
//! - SQLite's threads (one per connection, sqlx's) run at nice 10 by default
//!   ([`set_sqlite_nice`]): a commit or a checkpoint keeps one busy for tens of milliseconds,
//!   and at equal priority that stretch delayed the runs due meanwhile. Writes can wait in the
//!   queue; checks due cannot.
//! - Multi-row inserts use anonymous `?` placeholders on SQLite (binding thousands of `$N`
//!   parameters is quadratic in SQLite's C API); every other statement uses `$N` on both.
//! - Retention: results after `keep_results`; rollups and state changes after `keep_rollups`;
//!   check states never (use [`Store::delete_state`]).
//! - Rollups are computed by the [`WriteBehind`] from the results pushed through it; results
//!   written with [`Store::write`] directly do not produce rollups. Closing a minute of every
//!   check and merging it into hours and days take tens of milliseconds of CPU with tens of
//!   thousands of checks: both run off the async workers (`block_in_place`), so that runs due
//!   meanwhile start on time.
//! - Alarms (`alarms`, `alarm_events`, `alarm_ids`) and the `outbox` come with migration 0002.
//!   An alarm is opaque JSON plus the columns queries need; ids are per tenant, from a counter
//!   that never goes back. Closed alarms and their events are kept 30 days, delivered outbox
//!   rows 7 days, dead letters 30 days after they died; open alarms and pending rows forever
//!   (see [`Retention`]).
//! - Migration 0003 adds `maintenances` (one-off windows created through the API or `tocsin
//!   ctl`; scope and note are opaque JSON) and `api_tokens` (SHA-256 hashes only, a public id
//!   per token, revocation by timestamp).
//! - Paging results with `before_ms` is by start time: results sharing the exact millisecond of
//!   a page boundary are on the page before it or skipped, never repeated.

mod admin;
mod alarms;
mod error;
mod objects;
mod outbox;
mod priority;
mod retention;
mod rollup;
mod sql;
mod store;
mod url;
mod writer;

use serde::{Deserialize, Serialize};
use tocsin_core::{CheckResult, Status};

pub use admin::{MaintenanceRow, TokenRow};
pub use alarms::{AlarmChange, AlarmCursor, AlarmEvent, AlarmFilter, AlarmRow};
pub use error::StoreError;
pub use objects::{ObjectRow, TenantRow};
pub use outbox::{Delivery, DeliveryStatus, NewDelivery, OutboxCounts, backoff, idempotency_key};
pub use priority::{DEFAULT_SQLITE_NICE, set_sqlite_nice, sqlite_nice};
pub use retention::{
    DEFAULT_KEEP_CLOSED_ALARMS, DEFAULT_KEEP_DEAD, DEFAULT_KEEP_DELIVERED, DEFAULT_KEEP_RESULTS,
    DEFAULT_KEEP_ROLLUPS, Retention, spawn_collector, spawn_collector_with,
};
pub use rollup::{merge_rollups, minute_of};
pub use store::{Grain, Store};
pub use url::redact;
pub use writer::{DEFAULT_MAX_BATCH, WriteBehind, WriterStats};

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    /// An SQLite file (single node).
    Sqlite,
    /// A PostgreSQL server (cluster).
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing to write. A batch of these is written in one transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// A check's result (appended to the results).
    Result {
        /// The check id.
        check: String,
        /// The result (shared with the engine, which keeps the latest one in memory).
        result: std::sync::Arc<CheckResult>,
    },
    /// A check's state (replaces the stored state; within a batch only the last one per check
    /// is written).
    State {
        /// The check id.
        check: String,
        /// The state engine's state, as JSON (opaque to the store).
        state: serde_json::Value,
    },
    /// A state change (appended to the history).
    Change(StateChange),
}

/// A change of a check's status worth keeping in its history (and telling in feeds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    /// The check id.
    pub check: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The status before.
    pub from: Status,
    /// The status after.
    pub to: Status,
    /// Whether the new state is hard.
    pub hard: bool,
    /// What kind of change: `hard`, `soft`, `recovered`, `flapping_started`, …
    pub kind: String,
    /// A one-line reason (usually the message of the result that caused it).
    pub message: String,
}

/// One minute of a check's results, aggregated.
///
/// `p50_us` and `p95_us` are exact (nearest rank over every result of the minute) when the minute
/// was aggregated in one piece. When a minute is written in several pieces (results that arrive
/// late, a flush in the middle of the minute, a restart), the pieces are merged by
/// [`merge_rollups`]: counts add, `max_us` is the maximum, and the percentiles are the
/// count-weighted mean of the pieces' percentiles, which is an approximation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollup {
    /// Start of the minute, Unix milliseconds (a multiple of 60 000).
    pub minute_ms: i64,
    /// Results in the minute.
    pub count: u32,
    /// Of those, results with status `ok`.
    pub ok: u32,
    /// Median of the total run time, microseconds.
    pub p50_us: u64,
    /// 95th percentile of the total run time, microseconds.
    pub p95_us: u64,
    /// Longest total run time, microseconds.
    pub max_us: u64,
}
