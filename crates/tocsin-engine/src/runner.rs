//! Running one check: concurrency permits, the probe under a hard timeout, the state engine,
//! and the writes that follow.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tocsin_core::kinds::PushSpec;
use tocsin_core::state::step;
use tocsin_core::{CheckResult, CheckSpec, ProbeSpec, Status, Transition};
use tocsin_probe::{Probe, ProbeEnv, RunContext};
use tocsin_store::{StateChange, Write};

use crate::events::Event;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;

use crate::Shared;
use crate::table::CheckEntry;

/// Extra time the runner allows past a check's own timeout before it stops the probe itself.
/// Probes enforce `timeout` with a message naming the phase; this is the backstop.
pub const HARD_TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// How often a state without transitions is saved (ms). Transitions are saved at once.
pub const STATE_SAVE_EVERY_MS: i64 = 10_000;

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Runs a probe once under the hard timeout. Returns the result and whether the hard timeout
/// fired.
pub async fn run_probe(
    probe: &dyn Probe,
    timeout: Duration,
    started_at_ms: i64,
) -> (CheckResult, bool) {
    let cx = RunContext {
        timeout,
        started_at_ms,
    };
    match tokio::time::timeout(timeout + HARD_TIMEOUT_GRACE, probe.run(cx)).await {
        Ok(mut r) => {
            r.started_at_ms = started_at_ms;
            (r, false)
        }
        Err(_) => {
            let msg = format!("timed out after {}", tocsin_core::Dur(timeout));
            let mut r = CheckResult::new(Status::Critical, msg, started_at_ms);
            r.timings.total_us =
                u64::try_from((timeout + HARD_TIMEOUT_GRACE).as_micros()).unwrap_or(u64::MAX);
            (r, true)
        }
    }
}

/// Builds and runs one check once, outside the scheduler (`tocsin check`).
pub async fn run_once(spec: &CheckSpec, env: &Arc<ProbeEnv>) -> CheckResult {
    let started = now_ms();
    match tocsin_probe::build(&spec.probe, env) {
        Ok(probe) => run_probe(probe.as_ref(), spec.timeout, started).await.0,
        Err(e) => CheckResult::new(Status::Unknown, format!("cannot build probe: {e}"), started),
    }
}

/// A run's place among the runs in progress at once (the engine's `max_concurrent`).
pub(crate) enum GlobalPermit {
    /// Taken by the scheduler before it started the run.
    Held(OwnedSemaphorePermit),
    /// To wait for (a run asked for out of schedule).
    Wait(Arc<Semaphore>),
}

/// One run of `entry`, due at `due_ms`. The caller has set `entry.running`.
pub(crate) async fn execute(
    shared: Arc<Shared>,
    entry: Arc<CheckEntry>,
    due_ms: i64,
    global: GlobalPermit,
) {
    // Whatever happens to this task (even a panic in a probe), the check may run again.
    let _running = RunningGuard(&entry);
    // Permits: global first, then the target host's. Semaphores are never closed.
    let _global = match global {
        GlobalPermit::Held(permit) => permit,
        GlobalPermit::Wait(semaphore) => match semaphore.acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => return,
        },
    };
    let Ok(_host) = entry.host_limit.clone().acquire_owned().await else {
        return;
    };
    let started_us = jiff::Timestamp::now().as_microsecond();
    let lag_us = started_us.saturating_sub(due_ms.saturating_mul(1000));
    shared
        .metrics
        .lag
        .observe(Duration::from_micros(u64::try_from(lag_us).unwrap_or(0)));

    let span = tracing::debug_span!("check", id = %entry.id(), kind = entry.spec.probe.kind());
    async {
        let started = started_us / 1000;
        if let ProbeSpec::Push(push) = &entry.spec.probe {
            if let Some(overdue) = push_overdue(&entry, push, started) {
                apply(&shared, &entry, overdue).await;
            }
            return;
        }
        let (result, hard_timeout) =
            run_probe(entry.probe.as_ref(), entry.spec.timeout, started).await;
        if hard_timeout {
            shared.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
        }
        apply(&shared, &entry, result).await;
    }
    .instrument(span)
    .await;
}

/// A push check's scheduled run: a `critical` result if nothing was pushed within the deadline,
/// else nothing (the pushed results speak for themselves). The first deadline counts from when
/// the check started waiting: when it was added, or when Tocsin started.
fn push_overdue(entry: &CheckEntry, push: &PushSpec, now: i64) -> Option<CheckResult> {
    let since = {
        let mut rt = entry.runtime();
        if rt.pushed_at_ms == 0 {
            rt.pushed_at_ms = now;
        }
        rt.pushed_at_ms
    };
    let silent = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
    if silent <= push.deadline() {
        return None;
    }
    let grace = if push.grace.get().is_zero() {
        String::new()
    } else {
        format!(" plus {} grace", push.grace)
    };
    let message = format!(
        "nothing pushed for {} (expected every {}{grace})",
        tocsin_core::assert::format_duration(silent),
        push.within
    );
    let mut r = CheckResult::new(Status::Critical, message, now);
    r = r.metric("seconds_since_push", silent.as_secs_f64(), "s");
    Some(r)
}

/// A result pushed through the API for a push check: it counts as the check's run.
pub(crate) async fn accept_push(shared: &Shared, entry: &CheckEntry, result: CheckResult) {
    entry.runtime().pushed_at_ms = result.started_at_ms;
    apply(shared, entry, result).await;
}

/// Clears `running` when a run ends, however it ends.
struct RunningGuard<'a>(&'a CheckEntry);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// Feeds a result to the state engine and queues the writes.
pub(crate) async fn apply(shared: &Shared, entry: &CheckEntry, result: CheckResult) {
    shared.metrics.count_run(result.status);
    let id = entry.id().as_str().to_owned();
    let at = result.started_at_ms;
    let (writes, transitions, result, summary) = {
        let mut rt = entry.runtime();
        let before = rt.state.status;
        let (state, transitions) = step(&rt.state, result.status, at, &entry.spec.alert);
        let mut writes = Vec::with_capacity(2 + transitions.len());
        for t in &transitions {
            writes.push(Write::Change(change(
                &id,
                at,
                before,
                state.status,
                t,
                &result.message,
            )));
        }
        // Every transition is saved at once; between transitions (counters and flap history
        // only), at most every STATE_SAVE_EVERY per check, which keeps the store's load to
        // about one row per result.
        if !transitions.is_empty() || at - rt.state_saved_ms >= STATE_SAVE_EVERY_MS {
            writes.push(Write::State {
                check: id.clone(),
                state: serde_json::to_value(&state).unwrap_or_default(),
            });
            rt.state_saved_ms = at;
        }
        rt.state = state;
        let result = Arc::new(result);
        rt.last = Some(result.clone());
        writes.push(Write::Result {
            check: id.clone(),
            result: result.clone(),
        });
        // Only state events carry the summary.
        let summary = if transitions.is_empty() {
            String::new()
        } else {
            rt.state.describe()
        };
        (writes, transitions, result, summary)
    };
    for t in &transitions {
        match t {
            Transition::Soft { .. }
            | Transition::SoftRecovered { .. }
            | Transition::Recovering { .. } => {
                tracing::debug!(check = %id, transition = %t, "state change");
            }
            _ => tracing::info!(check = %id, transition = %t, "state change"),
        }
    }
    for w in writes {
        if let Write::Change(c) = &w {
            shared.alerting.events.send(Event::State {
                tenant: entry.spec.tenant.clone(),
                check: c.check.clone(),
                at_ms: c.at_ms,
                from: c.from,
                to: c.to,
                hard: c.hard,
                kind: c.kind.clone(),
                summary: summary.clone(),
                message: c.message.clone(),
            });
        }
        shared.writer.push(w).await;
    }
    if !transitions.is_empty() {
        let table = shared.table();
        shared
            .alerting
            .on_transitions(&table, entry, &transitions, &result)
            .await;
    }
}

fn change(
    id: &str,
    at: i64,
    before: Status,
    after: Status,
    t: &Transition,
    message: &str,
) -> StateChange {
    let (from, to) = match t {
        Transition::Hard { from, to } => (*from, *to),
        _ => (before, after),
    };
    StateChange {
        check: id.to_owned(),
        at_ms: at,
        from,
        to,
        hard: matches!(t, Transition::Hard { .. }),
        kind: t.kind().to_owned(),
        message: message.to_owned(),
    }
}
