//! Tocsin's own metrics and the Prometheus text exposition of `/metrics`.
//!
//! Engine-wide counters live here as atomics. Per-check series (status, up, phase durations,
//! certificate expiry) are not kept in a registry: they are rendered at scrape time from the
//! check table, so a million checks cost no extra memory for their label sets.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tocsin_core::Status;
use tocsin_store::WriterStats;

/// Upper bounds (seconds) of the scheduler lag histogram.
const LAG_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; LAG_BUCKETS.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LAG_BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LAG_BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Total observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }

    /// Estimates the `q` quantile (0..=1), interpolating linearly inside the bucket.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (i, c) in counts.iter().enumerate() {
            if *c > 0 && (seen + c) as f64 >= rank {
                let low = if i == 0 { 0.0 } else { LAG_BUCKETS[i - 1] };
                let high = LAG_BUCKETS.get(i).copied().unwrap_or(low * 2.0);
                let within = (rank - seen as f64) / *c as f64;
                return Some(Duration::from_secs_f64(low + (high - low) * within));
            }
            seen += c;
        }
        None
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (i, b) in LAG_BUCKETS.iter().enumerate() {
            cum += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        cum += self.counts[LAG_BUCKETS.len()].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cum}");
    }
}

/// Engine-wide counters and gauges.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Runs finished, by result status (Nagios order).
    pub runs: [AtomicU64; 4],
    /// Runs skipped because the previous run of the same check was still going.
    pub overruns: AtomicU64,
    /// Runs stopped by the runner's hard timeout.
    pub timeouts: AtomicU64,
    /// Due times skipped because the scheduler fell more than an interval behind.
    pub missed: AtomicU64,
    /// Start minus due time of every run.
    pub lag: Histogram,
    /// Configuration errors currently reported.
    pub config_errors: AtomicU64,
    /// Successful reloads.
    pub reloads_ok: AtomicU64,
    /// Reloads that found errors (the last good version of broken files stays in force).
    pub reloads_failed: AtomicU64,
}

impl Metrics {
    /// Counts a finished run.
    pub fn count_run(&self, status: Status) {
        self.runs[usize::from(status.code())].fetch_add(1, Relaxed);
    }

    /// Renders the engine-wide families.
    pub fn render(&self, out: &mut String, checks: usize, running: usize, store: &WriterStats) {
        family(
            out,
            "tocsin_runs_total",
            "counter",
            "Check runs finished, by result status.",
        );
        for s in Status::ALL {
            let n = self.runs[usize::from(s.code())].load(Relaxed);
            let _ = writeln!(out, "tocsin_runs_total{{status=\"{s}\"}} {n}");
        }
        let simple: [(&str, &str, &str, u64); 12] = [
            (
                "tocsin_overruns_total",
                "counter",
                "Runs skipped because the check was still running.",
                self.overruns.load(Relaxed),
            ),
            (
                "tocsin_timeouts_total",
                "counter",
                "Runs stopped by the hard timeout.",
                self.timeouts.load(Relaxed),
            ),
            (
                "tocsin_scheduler_missed_total",
                "counter",
                "Due times skipped because the scheduler fell more than one interval behind.",
                self.missed.load(Relaxed),
            ),
            (
                "tocsin_config_errors",
                "gauge",
                "Configuration errors in the latest load (broken files keep their last good version).",
                self.config_errors.load(Relaxed),
            ),
            (
                "tocsin_config_reloads_total",
                "counter",
                "Configuration reloads without errors.",
                self.reloads_ok.load(Relaxed),
            ),
            (
                "tocsin_config_reload_failures_total",
                "counter",
                "Configuration reloads that found errors.",
                self.reloads_failed.load(Relaxed),
            ),
            (
                "tocsin_store_write_errors_total",
                "counter",
                "Failed attempts to commit a store batch (each is retried).",
                store.errors,
            ),
            (
                "tocsin_store_dropped_total",
                "counter",
                "Writes given up (zero in a healthy system).",
                store.dropped,
            ),
            (
                "tocsin_store_rows_written_total",
                "counter",
                "Rows committed to the store.",
                store.rows_written,
            ),
            (
                "tocsin_store_batches_total",
                "counter",
                "Transactions committed to the store.",
                store.batches,
            ),
            (
                "tocsin_store_queue_depth",
                "gauge",
                "Writes waiting in the store's write-behind queue.",
                store.queue_depth as u64,
            ),
            (
                "tocsin_checks",
                "gauge",
                "Checks configured.",
                checks as u64,
            ),
        ];
        for (name, kind, help, v) in simple {
            family(out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
        family(
            out,
            "tocsin_checks_running",
            "gauge",
            "Check runs in progress.",
        );
        let _ = writeln!(out, "tocsin_checks_running {running}");
        self.lag.render(
            out,
            "tocsin_scheduler_lag_seconds",
            "Time from a run's due time to its start.",
        );
    }
}

/// Writes the `# HELP` and `# TYPE` lines of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(10));
        let mut out = String::new();
        h.render(&mut out, "x", "help");
        assert!(out.contains("x_bucket{le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
        assert_eq!(h.count(), 3);
        // Median: the second of three, in the (0.0025, 0.005] bucket.
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        assert!((0.0025..=0.005).contains(&p50), "{p50}");
    }
}
