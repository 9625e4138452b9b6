//! Per-minute rollups: the in-memory aggregation of results per (check, minute) that the
//! write-behind keeps, nearest-rank percentiles, and the merge rule for a minute written twice.

use std::collections::{BTreeMap, HashMap};

use tocsin_core::{CheckResult, Status};

use crate::Rollup;

/// One minute in milliseconds.
pub(crate) const MINUTE_MS: i64 = 60_000;

/// The start of the minute that `ms` falls in (Unix milliseconds; works before 1970 too).
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS) * MINUTE_MS
}

/// Merges two rollups of the same minute, exactly as the store's upsert does: counts add,
/// `max_us` is the larger, `p50_us`/`p95_us` are the count-weighted mean of both (approximate:
/// the exact percentile of the union cannot be recovered from two percentiles).
pub fn merge_rollups(a: &Rollup, b: &Rollup) -> Rollup {
    let total = u64::from(a.count) + u64::from(b.count);
    let weighted = |x: u64, y: u64| {
        if total == 0 {
            return 0;
        }
        let sum = u128::from(x) * u128::from(a.count) + u128::from(y) * u128::from(b.count);
        u64::try_from(sum / u128::from(total)).unwrap_or(u64::MAX)
    };
    Rollup {
        minute_ms: a.minute_ms,
        count: a.count.saturating_add(b.count),
        ok: a.ok.saturating_add(b.ok),
        p50_us: weighted(a.p50_us, b.p50_us),
        p95_us: weighted(a.p95_us, b.p95_us),
        max_us: a.max_us.max(b.max_us),
    }
}

/// Runs `f`, a step that takes milliseconds of CPU with many checks (closing every check's
/// minute: 16 ms at 30,000 checks; merging them into hours and days: 21 ms), off the async
/// worker that called it, so that the runs due meanwhile start on time: on a multi-thread
/// runtime the worker hands its queued tasks to another thread first
/// ([`tokio::task::block_in_place`]); elsewhere (a current-thread runtime, as in tests) `f`
/// simply runs.
pub(crate) fn off_the_worker<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// The nearest-rank percentile `num/den` of sorted samples (0 when there are none).
fn nearest_rank(sorted: &[u64], num: usize, den: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // rank = ceil(n * num / den), 1-based, at least 1
    let rank = (sorted.len() * num).div_ceil(den).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// The results of one minute of one check, not yet written.
#[derive(Debug, Default)]
struct Minute {
    ok: u32,
    samples: Vec<u64>,
}

impl Minute {
    fn rollup(mut self, minute_ms: i64) -> Rollup {
        self.samples.sort_unstable();
        let count = u32::try_from(self.samples.len()).unwrap_or(u32::MAX);
        Rollup {
            minute_ms,
            count,
            ok: self.ok,
            p50_us: nearest_rank(&self.samples, 50, 100),
            p95_us: nearest_rank(&self.samples, 95, 100),
            max_us: self.samples.last().copied().unwrap_or(0),
        }
    }
}

/// Open minutes per check.
#[derive(Debug)]
pub(crate) struct Aggregator {
    checks: HashMap<String, BTreeMap<i64, Minute>>,
    /// The earliest open minute (`i64::MAX` when none): asking whether a minute has closed is
    /// then free, and the walk over every check happens only when one has.
    oldest: i64,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self {
            checks: HashMap::new(),
            oldest: i64::MAX,
        }
    }
}

impl Aggregator {
    /// Counts one result.
    pub(crate) fn add(&mut self, check: &str, result: &CheckResult) {
        let minutes = match self.checks.get_mut(check) {
            Some(m) => m,
            None => self.checks.entry(check.to_owned()).or_default(),
        };
        let minute_ms = minute_of(result.started_at_ms);
        self.oldest = self.oldest.min(minute_ms);
        let minute = minutes.entry(minute_ms).or_default();
        if result.status == Status::Ok {
            minute.ok = minute.ok.saturating_add(1);
        }
        minute.samples.push(result.timings.total_us);
    }

    /// Whether some minute starts before `cutoff_ms`.
    pub(crate) fn has_before(&self, cutoff_ms: i64) -> bool {
        self.oldest < cutoff_ms
    }

    /// Removes and returns the rollups of the minutes that start before `cutoff_ms`
    /// (`i64::MAX`: all of them).
    pub(crate) fn take_before(&mut self, cutoff_ms: i64) -> Vec<(String, Rollup)> {
        let mut out = Vec::new();
        if !self.has_before(cutoff_ms) {
            return out;
        }
        let mut oldest = i64::MAX;
        self.checks.retain(|check, minutes| {
            while let Some(first) = minutes.first_entry() {
                if *first.key() >= cutoff_ms {
                    oldest = oldest.min(*first.key());
                    break;
                }
                let (minute_ms, minute) = first.remove_entry();
                out.push((check.clone(), minute.rollup(minute_ms)));
            }
            !minutes.is_empty()
        });
        self.oldest = oldest;
        out
    }

    /// How many (check, minute) pairs are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.checks.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(at: i64, status: Status, total_us: u64) -> CheckResult {
        let mut r = CheckResult::new(status, "m", at);
        r.timings.total_us = total_us;
        r
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn heavy_steps_leave_the_worker_on_a_multi_thread_runtime() {
        // On the runtime's only worker, a task queues another and then runs a step that waits
        // for it: the queued task can only run if the step left the worker.
        let step = tokio::spawn(async {
            let (tx, rx) = std::sync::mpsc::channel();
            tokio::spawn(async move { tx.send("ran meanwhile").unwrap() });
            off_the_worker(|| rx.recv_timeout(std::time::Duration::from_secs(5)))
        });
        assert_eq!(step.await.unwrap(), Ok("ran meanwhile"));
    }

    #[tokio::test]
    async fn heavy_steps_run_inline_on_a_current_thread_runtime() {
        assert_eq!(off_the_worker(|| "inline"), "inline");
        assert_eq!(off_the_worker(|| 7), 7);
    }

    #[test]
    fn minutes_and_percentiles() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 60_000);
        assert_eq!(minute_of(-1), -60_000);

        assert_eq!(nearest_rank(&[], 50, 100), 0);
        assert_eq!(nearest_rank(&[7], 95, 100), 7);
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&s, 50, 100), 50);
        assert_eq!(nearest_rank(&s, 95, 100), 95);
        let s: Vec<u64> = (1..=10).collect();
        assert_eq!(nearest_rank(&s, 50, 100), 5);
        assert_eq!(nearest_rank(&s, 95, 100), 10);
    }

    #[test]
    fn aggregates_per_check_and_minute() {
        let mut agg = Aggregator::default();
        // Shuffled samples 1..=100 in minute 0, one in minute 1.
        for i in 0..100u64 {
            let v = (i * 37) % 100 + 1;
            let status = if v % 10 == 0 {
                Status::Critical
            } else {
                Status::Ok
            };
            agg.add("a", &result(i64::try_from(i).unwrap() * 100, status, v));
        }
        agg.add("a", &result(60_001, Status::Ok, 5));
        agg.add("b", &result(1, Status::Warning, 9));
        assert_eq!(agg.len(), 3);
        assert!(agg.has_before(60_000));
        let mut closed = agg.take_before(60_000);
        closed.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            closed,
            vec![
                (
                    "a".to_owned(),
                    Rollup {
                        minute_ms: 0,
                        count: 100,
                        ok: 90,
                        p50_us: 50,
                        p95_us: 95,
                        max_us: 100
                    }
                ),
                (
                    "b".to_owned(),
                    Rollup {
                        minute_ms: 0,
                        count: 1,
                        ok: 0,
                        p50_us: 9,
                        p95_us: 9,
                        max_us: 9
                    }
                ),
            ]
        );
        assert!(!agg.has_before(60_000));
        assert_eq!(agg.len(), 1);
        let rest = agg.take_before(i64::MAX);
        assert_eq!(rest.len(), 1);
        assert_eq!(agg.len(), 0);
        assert!(!agg.has_before(i64::MAX));
    }

    #[test]
    fn merge_is_count_weighted() {
        let a = Rollup {
            minute_ms: 0,
            count: 3,
            ok: 3,
            p50_us: 100,
            p95_us: 200,
            max_us: 250,
        };
        let b = Rollup {
            minute_ms: 0,
            count: 1,
            ok: 0,
            p50_us: 500,
            p95_us: 600,
            max_us: 900,
        };
        let m = merge_rollups(&a, &b);
        assert_eq!(
            m,
            Rollup {
                minute_ms: 0,
                count: 4,
                ok: 3,
                p50_us: 200,
                p95_us: 300,
                max_us: 900
            }
        );
        assert_eq!(
            merge_rollups(&Rollup::default(), &Rollup::default()),
            Rollup::default()
        );
    }
}
