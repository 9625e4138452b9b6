//! The scheduler: one timer heap for every check — never a task per check sleeping.
//!
//! Each heap entry is a due time and a check entry. When the earliest is due the scheduler
//! pops it, starts a run unless the previous run of that check is still going (an *overrun*,
//! counted), and pushes the next due time, computed from the previous *due* time so schedules
//! do not drift. If the scheduler ever falls more than one interval behind, it skips to the
//! next due time after now and counts the missed ones rather than firing a burst.
//!
//! A scheduled run starts only with one of the global permits (`max_concurrent`) in hand: when
//! all are taken, due checks wait in the heap, not as tasks, so an overloaded engine holds at
//! most `max_concurrent` runs and its memory stays bounded; they start late (the lag says by how
//! much) or skip slots (counted as missed).

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::Shared;
use crate::runner::{GlobalPermit, execute, now_ms};
use crate::table::CheckEntry;

/// What the scheduler is asked to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Start scheduling these (new or replaced) entries.
    Add(Vec<Arc<CheckEntry>>),
    /// Run this check now, off schedule (unless it is running).
    RunNow(Arc<CheckEntry>),
}

/// The longest the scheduler sleeps without looking at its heap.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// How long from `now_us` (Unix microseconds) until `due_ms` (Unix milliseconds), at most
/// [`MAX_SLEEP`]. To the microsecond: the timer rounds a sleep up to its next millisecond tick,
/// so a sleep computed from the whole milliseconds of "now" would start runs up to a
/// millisecond later still.
fn time_to(due_ms: i64, now_us: i64) -> Duration {
    let us = due_ms.saturating_mul(1000).saturating_sub(now_us);
    Duration::from_micros(u64::try_from(us).unwrap_or(0)).min(MAX_SLEEP)
}

struct Due {
    at_ms: i64,
    seq: u64,
    entry: Arc<CheckEntry>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

pub(crate) struct Scheduler {
    heap: BinaryHeap<Due>,
    seq: u64,
    shared: Arc<Shared>,
    global: Arc<Semaphore>,
    runs: JoinSet<()>,
}

impl Scheduler {
    pub(crate) fn new(shared: Arc<Shared>, global_limit: usize) -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            shared,
            global: Arc::new(Semaphore::new(global_limit.max(1))),
            runs: JoinSet::new(),
        }
    }

    fn push(&mut self, at_ms: i64, entry: Arc<CheckEntry>) {
        self.seq += 1;
        self.heap.push(Due {
            at_ms,
            seq: self.seq,
            entry,
        });
    }

    fn add(&mut self, entry: Arc<CheckEntry>, now: i64) {
        if let Some(next) = entry.spec.schedule.next_after(entry.id().as_str(), now) {
            self.push(next, entry);
        }
    }

    /// Starts a run of `entry` unless one is going (then the permit, unused, is released).
    fn start(&mut self, entry: Arc<CheckEntry>, due_ms: i64, global: GlobalPermit) {
        if entry.running.swap(true, Ordering::AcqRel) {
            self.shared.metrics.overruns.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(check = %entry.id(), "overrun: previous run still going");
            return;
        }
        let shared = self.shared.clone();
        self.runs.spawn(execute(shared, entry, due_ms, global));
    }

    /// Runs until `stop` turns true, then waits for the runs in progress (at most `grace`).
    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut stop: watch::Receiver<bool>,
        grace: Duration,
    ) {
        // The permit a run gave back while the scheduler was waiting for one.
        let mut freed: Option<OwnedSemaphorePermit> = None;
        loop {
            let now = now_ms();
            // Fire everything due, as long as there are permits for it.
            let mut saturated = false;
            while self.heap.peek().is_some_and(|d| d.at_ms <= now) {
                let free = freed.take();
                let Some(permit) = free.or_else(|| self.global.clone().try_acquire_owned().ok())
                else {
                    saturated = true;
                    break;
                };
                let Some(Due { at_ms, entry, .. }) = self.heap.pop() else {
                    break;
                };
                if entry.retired.load(Ordering::Acquire) {
                    continue;
                }
                self.start(entry.clone(), at_ms, GlobalPermit::Held(permit));
                let id = entry.id().as_str();
                let mut next = entry.spec.schedule.next_after(id, at_ms);
                if let (Some(n), Some(interval)) = (next, entry.spec.schedule.interval()) {
                    let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
                    if n + interval_ms <= now {
                        // More than one interval behind: skip to the next slot after now.
                        let skip_to = entry.spec.schedule.next_after(id, now);
                        let missed = skip_to.map_or(0, |s| (s - n) / interval_ms.max(1));
                        self.shared
                            .metrics
                            .missed
                            .fetch_add(u64::try_from(missed).unwrap_or(0), Ordering::Relaxed);
                        next = skip_to;
                    }
                }
                if let Some(n) = next {
                    self.push(n, entry);
                }
            }
            // Reap finished runs without waiting.
            while self.runs.try_join_next().is_some() {}

            let wait = self.heap.peek().map_or(MAX_SLEEP, |d| {
                time_to(d.at_ms, jiff::Timestamp::now().as_microsecond())
            });
            let sleep = tokio::time::sleep(wait);
            // Saturated: wait for a run to end (its permit) rather than for the clock.
            let wait_permit = async {
                if saturated {
                    self.global.clone().acquire_owned().await.ok()
                } else {
                    std::future::pending().await
                }
            };
            tokio::select! {
                () = sleep, if !saturated => {}
                permit = wait_permit => freed = permit,
                cmd = commands.recv() => match cmd {
                    Some(Command::Add(entries)) => {
                        let now = now_ms();
                        for e in entries {
                            self.add(e, now);
                        }
                    }
                    Some(Command::RunNow(entry)) => {
                        let global = GlobalPermit::Wait(self.global.clone());
                        self.start(entry, now_ms(), global);
                    }
                    None => break,
                },
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
            }
        }
        // Settle: let runs in progress finish (each is bounded by its own timeout).
        let settle = async { while self.runs.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, settle).await.is_err() {
            tracing::warn!(
                left = self.runs.len(),
                "runs still going after the shutdown grace period; abandoning them"
            );
            self.runs.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleeps_are_computed_to_the_microsecond() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        let cases = [
            // (due ms, now µs, sleep)
            (1_002, 1_000_100, us(1_900)),
            (1_002, 1_000_999, us(1_001)),
            (1_002, 1_002_000, Duration::ZERO),
            (1_002, 1_002_500, Duration::ZERO),
            (1_000_000, 0, MAX_SLEEP),
            (i64::MAX, 0, MAX_SLEEP),
            (0, i64::MAX, Duration::ZERO),
            (5, 1_000, ms(4)),
        ];
        for (due, now, want) in cases {
            assert_eq!(time_to(due, now), want, "due {due} ms, now {now} µs");
        }
    }
}
