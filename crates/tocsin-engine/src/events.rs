//! The engine's live event stream: state changes and alarm changes, as they are committed,
//! for the API's server-sent events and the dashboard.
//!
//! One `tokio::sync::broadcast` channel: sending never waits, and a subscriber that falls
//! more than [`CAPACITY`] events behind is told how many it missed (it should reload what it
//! shows). Events are shared (`Arc`) so a thousand subscribers cost one copy.

use std::sync::Arc;

use serde::Serialize;
use tocsin_core::Status;
use tokio::sync::broadcast;

/// Events kept for slow subscribers before they start missing some.
pub const CAPACITY: usize = 4096;

/// One thing that happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A check's state changed (soft or hard, recovery, flapping).
    State {
        /// The owning tenant (`""`: the operator).
        #[serde(skip)]
        tenant: String,
        /// The check.
        check: String,
        /// When, Unix milliseconds.
        at_ms: i64,
        /// The status before.
        from: Status,
        /// The status now.
        to: Status,
        /// Whether the new state is hard.
        hard: bool,
        /// `hard`, `soft`, `recovered`, `flapping_started`, …
        kind: String,
        /// The state as one phrase: `critical (soft)`, `ok (recovering)`, …
        summary: String,
        /// The message of the result that caused it.
        message: String,
    },
    /// An alarm was opened, changed or closed.
    Alarm {
        /// The owning tenant (`""`: the operator).
        #[serde(skip)]
        tenant: String,
        /// The alarm's short id.
        id: u64,
        /// `check:<id>` or `group:<id>`.
        key: String,
        /// Whether it is still open.
        open: bool,
        /// Whether someone acknowledged it.
        acked: bool,
        /// What happened last (`opened`, `fault`, `acked`, `closed`, …).
        event: String,
        /// When, Unix milliseconds.
        at_ms: i64,
    },
}

impl Event {
    /// The tenant the event belongs to (`""`: the operator).
    pub fn tenant(&self) -> &str {
        match self {
            Self::State { tenant, .. } | Self::Alarm { tenant, .. } => tenant,
        }
    }

    /// The event's type, as the SSE `event:` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::State { .. } => "state",
            Self::Alarm { .. } => "alarm",
        }
    }
}

/// An event as it is sent: the event and its JSON, serialised once for every subscriber.
#[derive(Debug)]
pub struct Published {
    /// The event.
    pub event: Event,
    /// `event` as JSON (with its `type` tag).
    pub json: String,
}

/// The sending side, shared by the engine's tasks.
#[derive(Debug)]
pub(crate) struct Events {
    tx: broadcast::Sender<Arc<Published>>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    /// Sends to whoever listens (nobody is fine).
    pub(crate) fn send(&self, event: Event) {
        if self.tx.receiver_count() > 0 {
            let json = serde_json::to_string(&event).unwrap_or_default();
            let _ = self.tx.send(Arc::new(Published { event, json }));
        }
    }

    /// A new subscription, from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.tx.subscribe()
    }
}
