//! The check table: one entry per configured check, shared by the scheduler, the runs and the
//! API. An entry is replaced when its check changes; an unchanged check keeps its entry, and so
//! its state, its last result and its place in the schedule.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tocsin_core::{CheckId, CheckResult, CheckSpec, CheckState};
use tocsin_probe::Probe;
use tokio::sync::Semaphore;

/// What changes as a check runs.
#[derive(Debug, Default, Clone)]
pub struct Runtime {
    /// The state engine's state.
    pub state: CheckState,
    /// The latest result.
    pub last: Option<Arc<CheckResult>>,
    /// When the state was last queued for the store (Unix ms; 0 = never).
    pub state_saved_ms: i64,
    /// Push checks: when the last result was pushed, or when the check started waiting for
    /// one (Unix ms; 0 = not yet waiting).
    pub pushed_at_ms: i64,
}

/// One configured check.
#[derive(Debug)]
pub struct CheckEntry {
    /// The validated spec.
    pub spec: Arc<CheckSpec>,
    /// Its fingerprint: equal fingerprints across a reload mean "unchanged".
    pub fingerprint: u64,
    /// The built probe.
    pub probe: Arc<dyn Probe>,
    /// The concurrency limit of the check's target host.
    pub host_limit: Arc<Semaphore>,
    /// State and last result.
    runtime: Mutex<Runtime>,
    /// A run is in progress.
    pub running: AtomicBool,
    /// Removed or replaced by a reload: the scheduler drops it.
    pub retired: AtomicBool,
}

impl CheckEntry {
    /// A new entry.
    pub fn new(
        spec: Arc<CheckSpec>,
        probe: Arc<dyn Probe>,
        host_limit: Arc<Semaphore>,
        runtime: Runtime,
    ) -> Self {
        Self {
            fingerprint: spec.fingerprint(),
            spec,
            probe,
            host_limit,
            runtime: Mutex::new(runtime),
            running: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        }
    }

    /// The check's id.
    pub fn id(&self) -> &CheckId {
        &self.spec.id
    }

    /// Locks the runtime. A poisoned lock (a panic elsewhere while holding it) still yields the
    /// data: the state is plain data and stays consistent between assignments.
    pub fn runtime(&self) -> MutexGuard<'_, Runtime> {
        self.runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A copy of the runtime.
    pub fn snapshot(&self) -> Runtime {
        self.runtime().clone()
    }

    /// Whether a run is in progress.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }
}

/// Every check, by id.
pub type Table = BTreeMap<CheckId, Arc<CheckEntry>>;

/// The tenant of an alarm from its key as stored (`check:<id>`, `group:<id>`): its check's
/// tenant; a group's alarm, or the alarm of a check that is gone, is the operator's (`""`).
pub fn alarm_tenant(table: &Table, key: &str) -> String {
    key.strip_prefix("check:")
        .and_then(|id| tocsin_core::CheckId::new(id).ok())
        .and_then(|id| table.get(&id).map(|e| e.spec.tenant.clone()))
        .unwrap_or_default()
}
