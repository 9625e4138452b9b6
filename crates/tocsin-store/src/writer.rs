//! The write-behind: a bounded queue in front of the store that batches writes into
//! transactions, coalesces state writes, retries failed batches with backoff and maintains the
//! per-minute rollups. The hot path never waits for the database, only for queue space. One task
//! takes writes off the queue and cuts batches while a second one commits the previous batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::rollup::{Aggregator, MINUTE_MS};
use crate::store::now_ms;
use crate::{Rollup, Store, Write};

/// Writes per transaction at most, unless [`WriteBehind::spawn_with_batch`] says otherwise.
///
/// Bigger transactions are faster on SQLite: each page a transaction touches goes to the WAL once
/// per commit, and results of many checks touch many index pages. Measured with
/// `examples/write_bench.rs` (200 000 results over 1 000 checks, 2 shared cores, WriteBehind end
/// to end): 250 → 14–17k/s, 1 000 → 19–21k/s, 2 000 → 20–30k/s, 4 000 → 26–35k/s,
/// 8 000 → 35–44k/s, 16 000 → 44–53k/s. 8 000 keeps a commit around 100–200 ms.
pub const DEFAULT_MAX_BATCH: usize = 8_000;

/// A minute is closed (its rollup written) once it ended this long ago, to let late results in.
const ROLLUP_GRACE_MS: i64 = MINUTE_MS;
/// First retry delay of a failed batch; doubles up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// While closing, a failing batch is tried this many times before it is given up.
const ATTEMPTS_WHEN_CLOSING: u32 = 5;

/// Counters of a [`WriteBehind`], for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Rows committed (after coalescing; rollup rows included).
    pub rows_written: u64,
    /// Of those, rollup rows.
    pub rollups_written: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Failed attempts to commit a batch (each is retried).
    pub errors: u64,
    /// Writes lost: pushed after the writer was closed, or given up at shutdown after repeated
    /// failures. Zero in a healthy system.
    pub dropped: u64,
    /// Messages waiting in the queue now.
    pub queue_depth: usize,
}

#[derive(Debug, Default)]
struct Counters {
    rows_written: AtomicU64,
    rollups_written: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
    dropped: AtomicU64,
}

enum Msg {
    Write(Write),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

/// The handle of the write-behind task. Cheap to clone; every clone feeds the same queue.
#[derive(Clone, Debug)]
pub struct WriteBehind {
    tx: mpsc::Sender<Msg>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Write(_) => "Write",
            Self::Flush(_) => "Flush",
            Self::Close(_) => "Close",
        })
    }
}

impl WriteBehind {
    /// Starts the writer task with a queue of `capacity` writes, committing at least every
    /// `flush_every` when there is anything to write, and at most [`DEFAULT_MAX_BATCH`] writes per
    /// transaction.
    pub fn spawn(store: Store, capacity: usize, flush_every: Duration) -> WriteBehind {
        Self::spawn_with_batch(store, capacity, flush_every, DEFAULT_MAX_BATCH)
    }

    /// Like [`WriteBehind::spawn`], with at most `max_batch` writes per transaction.
    pub fn spawn_with_batch(
        store: Store,
        capacity: usize,
        flush_every: Duration,
        max_batch: usize,
    ) -> WriteBehind {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = Task::new(
            store,
            rx,
            Arc::clone(&counters),
            flush_every.max(Duration::from_millis(1)),
            max_batch.max(1),
        );
        tokio::spawn(task.run());
        WriteBehind { tx, counters }
    }

    /// Queues a write, waiting while the queue is full (backpressure; nothing is dropped). After
    /// [`WriteBehind::close`], the write is dropped, logged and counted in `dropped`.
    pub async fn push(&self, w: Write) {
        if self.tx.send(Msg::Write(w)).await.is_err() {
            self.dropped_after_close();
        }
    }

    /// Queues a write if there is room now; gives it back if the queue is full or closed.
    #[allow(
        clippy::result_large_err,
        reason = "the caller gets its write back to keep or retry"
    )]
    pub fn try_push(&self, w: Write) -> Result<(), Write> {
        match self.tx.try_send(Msg::Write(w)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(Msg::Write(w))) => Err(w),
            Err(mpsc::error::TrySendError::Closed(Msg::Write(w))) => Err(w),
            // We only sent a Write.
            Err(_) => Ok(()),
        }
    }

    /// Messages waiting in the queue (for the `store queue depth` metric).
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        let c = &self.counters;
        WriterStats {
            rows_written: c.rows_written.load(Ordering::Relaxed),
            rollups_written: c.rollups_written.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            queue_depth: self.depth(),
        }
    }

    /// Returns once everything pushed before this call is committed, together with the rollups
    /// of every minute seen so far (open minutes included; a later piece of the same minute is
    /// merged into the stored one).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Flush(ack)).await.is_ok() {
            // An error means the task is gone (closed): nothing left to wait for.
            let _ = done.await;
        }
    }

    /// Flushes everything (as [`WriteBehind::flush`]) and stops the task; for graceful shutdown.
    /// Pushes through other clones after this are dropped.
    pub async fn close(self) {
        let (ack, done) = oneshot::channel();
        if self.tx.send(Msg::Close(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    fn dropped_after_close(&self) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::error!("store write dropped: the write-behind is closed");
    }
}

/// The receiving half: takes writes off the queue, keeps the rollups, cuts batches. It hands
/// each batch to the [`Committer`] and goes on filling the next one while that one commits.
struct Task {
    rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
    flush_every: Duration,
    max_batch: usize,
    pending: Vec<Write>,
    rollups: Aggregator,
    jobs: mpsc::Sender<Job>,
    committer: tokio::task::JoinHandle<()>,
}

/// What the task was asked to do besides writing.
#[derive(Default)]
struct Wanted {
    /// Commit now, with every open rollup, then acknowledge these.
    acks: Vec<oneshot::Sender<()>>,
    /// Stop after that.
    close: bool,
}

/// One batch to commit, and who to tell when it is.
struct Job {
    batch: Vec<Write>,
    rollups: Vec<(String, Rollup)>,
    acks: Vec<oneshot::Sender<()>>,
    closing: bool,
}

impl Task {
    fn new(
        store: Store,
        rx: mpsc::Receiver<Msg>,
        counters: Arc<Counters>,
        flush_every: Duration,
        max_batch: usize,
    ) -> Self {
        // One batch committing and one waiting at most; the queue holds the rest.
        let (jobs, jobs_rx) = mpsc::channel(1);
        let committer = Committer {
            store,
            counters: Arc::clone(&counters),
        };
        let committer = tokio::spawn(committer.run(jobs_rx));
        Task {
            rx,
            counters,
            flush_every,
            max_batch,
            pending: Vec::new(),
            rollups: Aggregator::default(),
            jobs,
            committer,
        }
    }

    async fn run(mut self) {
        let start = tokio::time::Instant::now() + self.flush_every;
        let mut ticker = tokio::time::interval_at(start, self.flush_every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut wanted = Wanted::default();
            let mut ticked = false;
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    Some(msg) => self.take(msg, &mut wanted),
                    // Every handle dropped without close: write what we have and stop.
                    None => wanted.close = true,
                },
                _ = ticker.tick() => ticked = true,
            }
            // Take whatever else is queued, up to a full batch or a flush marker.
            while self.pending.len() < self.max_batch && wanted.acks.is_empty() && !wanted.close {
                match self.rx.try_recv() {
                    Ok(msg) => self.take(msg, &mut wanted),
                    Err(_) => break,
                }
            }

            let force = !wanted.acks.is_empty() || wanted.close;
            let cutoff = if force {
                i64::MAX
            } else {
                now_ms() - MINUTE_MS - ROLLUP_GRACE_MS + 1
            };
            let due = self.pending.len() >= self.max_batch
                || force
                || (ticked && (!self.pending.is_empty() || self.rollups.has_before(cutoff)));
            if due {
                // Closed minutes go out on ticks (and flushes) only, so that results arriving
                // late for an old minute make one more piece per period, not one per batch.
                let rollups = if (ticked || force) && self.rollups.has_before(cutoff) {
                    crate::rollup::off_the_worker(|| self.rollups.take_before(cutoff))
                } else {
                    Vec::new()
                };
                let job = Job {
                    batch: std::mem::replace(&mut self.pending, Vec::with_capacity(self.max_batch)),
                    rollups,
                    acks: std::mem::take(&mut wanted.acks),
                    closing: wanted.close,
                };
                // A flush with nothing pending still goes through the committer, so that it
                // returns only after the batches before it are committed.
                if (!job.batch.is_empty() || !job.rollups.is_empty() || !job.acks.is_empty())
                    && let Err(mpsc::error::SendError(job)) = self.jobs.send(job).await
                {
                    self.lost(job.batch.len() + job.rollups.len());
                }
            }
            if wanted.close {
                self.rx.close();
                // Anything that raced in before the queue closed is dropped and counted.
                while let Ok(msg) = self.rx.try_recv() {
                    if let Msg::Write(_) = msg {
                        self.lost(1);
                    }
                }
                drop(self.jobs);
                if let Err(error) = self.committer.await {
                    tracing::error!(%error, "store committer task failed");
                }
                tracing::debug!("store write-behind stopped");
                return;
            }
        }
    }

    fn lost(&self, writes: usize) {
        self.counters
            .dropped
            .fetch_add(writes as u64, Ordering::Relaxed);
        tracing::error!(writes, "store writes dropped: the write-behind is stopping");
    }

    fn take(&mut self, msg: Msg, wanted: &mut Wanted) {
        match msg {
            Msg::Write(w) => {
                if let Write::Result { check, result } = &w {
                    self.rollups.add(check, result);
                }
                self.pending.push(w);
            }
            Msg::Flush(ack) => wanted.acks.push(ack),
            Msg::Close(ack) => {
                wanted.acks.push(ack);
                wanted.close = true;
            }
        }
    }
}

/// The committing half: writes batches in order, one transaction each.
struct Committer {
    store: Store,
    counters: Arc<Counters>,
}

impl Committer {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            if !job.batch.is_empty() || !job.rollups.is_empty() {
                self.commit(&job.batch, &job.rollups, job.closing).await;
            }
            for ack in job.acks {
                let _ = ack.send(());
            }
        }
    }

    /// Commits one batch, retrying with exponential backoff until it succeeds (the queue fills
    /// up meanwhile and pushes wait: backpressure). When closing, gives up after a few attempts.
    async fn commit(&self, batch: &[Write], rollups: &[(String, Rollup)], closing: bool) {
        let mut backoff = FIRST_BACKOFF;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            match self.store.write_batch(batch, rollups).await {
                Ok(rows) => {
                    let c = &self.counters;
                    c.rows_written.fetch_add(rows as u64, Ordering::Relaxed);
                    c.rollups_written
                        .fetch_add(rollups.len() as u64, Ordering::Relaxed);
                    c.batches.fetch_add(1, Ordering::Relaxed);
                    if attempt > 1 {
                        tracing::info!(attempt, rows, "store batch committed after retrying");
                    }
                    return;
                }
                Err(error) => {
                    self.counters.errors.fetch_add(1, Ordering::Relaxed);
                    if closing && attempt >= ATTEMPTS_WHEN_CLOSING {
                        let lost = (batch.len() + rollups.len()) as u64;
                        self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
                        tracing::error!(
                            %error,
                            attempt,
                            writes = batch.len(),
                            rollups = rollups.len(),
                            "store batch given up at shutdown after repeated failures"
                        );
                        return;
                    }
                    tracing::warn!(
                        %error,
                        attempt,
                        writes = batch.len(),
                        rollups = rollups.len(),
                        backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        "store batch failed; retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_debug_names_the_kind() {
        let (ack, _rx) = oneshot::channel();
        assert_eq!(format!("{:?}", Msg::Flush(ack)), "Flush");
    }
}
