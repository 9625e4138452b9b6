//! The scheduler lag histogram over a window of time.
//!
//! The engine's histogram only grows, and its bucket counts are not public, but the engine-wide
//! part of `/metrics` ([`tocsin_engine::Metrics::render`]) exposes them. Two snapshots of that
//! text give the bucket counts of the observations made between them, and the quantiles are
//! computed the way the engine computes them (linear interpolation inside a bucket).

use std::time::Duration;

const FAMILY: &str = "tocsin_scheduler_lag_seconds";

/// Cumulative bucket counts (upper bound in seconds, `+Inf` as infinity) and the sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct LagSnapshot {
    buckets: Vec<(f64, u64)>,
    sum_secs: f64,
}

impl LagSnapshot {
    /// Reads the engine's lag histogram as it is now.
    pub(crate) fn take(metrics: &tocsin_engine::Metrics) -> Self {
        let mut text = String::with_capacity(4096);
        metrics.render(&mut text, 0, 0, &tocsin_store::WriterStats::default());
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let mut snap = Self::default();
        let bucket_prefix = format!("{FAMILY}_bucket{{le=\"");
        let sum_prefix = format!("{FAMILY}_sum ");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket_prefix) {
                let Some((le, count)) = rest.split_once("\"} ") else {
                    continue;
                };
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::NAN)
                };
                if let Ok(count) = count.trim().parse() {
                    snap.buckets.push((le, count));
                }
            } else if let Some(sum) = line.strip_prefix(&sum_prefix) {
                snap.sum_secs = sum.trim().parse().unwrap_or(0.0);
            }
        }
        snap
    }

    /// The observations made since `earlier`.
    pub(crate) fn since(&self, earlier: &Self) -> LagWindow {
        let mut per_bucket = Vec::with_capacity(self.buckets.len());
        let mut prev_cum = 0u64;
        for (i, (le, cum)) in self.buckets.iter().enumerate() {
            let before = earlier.buckets.get(i).map_or(0, |(_, c)| *c);
            let cum = cum.saturating_sub(before);
            per_bucket.push((*le, cum.saturating_sub(prev_cum)));
            prev_cum = cum;
        }
        LagWindow {
            per_bucket,
            sum_secs: (self.sum_secs - earlier.sum_secs).max(0.0),
        }
    }
}

/// Lag observations of a window, per bucket.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LagWindow {
    per_bucket: Vec<(f64, u64)>,
    sum_secs: f64,
}

impl LagWindow {
    /// Observations in the window.
    pub(crate) fn count(&self) -> u64 {
        self.per_bucket.iter().map(|(_, c)| c).sum()
    }

    /// Mean lag.
    pub(crate) fn mean(&self) -> Option<Duration> {
        let n = self.count();
        (n > 0).then(|| Duration::from_secs_f64(self.sum_secs / n as f64))
    }

    /// The `q` quantile, interpolated inside its bucket, and the bucket's upper bound (a bound
    /// that holds whatever the distribution inside the bucket; infinite for the last bucket).
    pub(crate) fn quantile(&self, q: f64) -> Option<(Duration, f64)> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut seen = 0u64;
        for (i, (le, c)) in self.per_bucket.iter().enumerate() {
            if *c > 0 && (seen + c) as f64 >= rank {
                let low = if i == 0 {
                    0.0
                } else {
                    self.per_bucket[i - 1].0
                };
                let high = if le.is_finite() { *le } else { low * 2.0 };
                let within = (rank - seen as f64) / *c as f64;
                return Some((Duration::from_secs_f64(low + (high - low) * within), *le));
            }
            seen += c;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_the_difference_of_two_snapshots() {
        let m = tocsin_engine::Metrics::default();
        for _ in 0..100 {
            m.lag.observe(Duration::from_millis(50));
        }
        let a = LagSnapshot::take(&m);
        for _ in 0..99 {
            m.lag.observe(Duration::from_millis(0));
        }
        m.lag.observe(Duration::from_millis(3));
        let b = LagSnapshot::take(&m);
        let w = b.since(&a);
        assert_eq!(w.count(), 100);
        let (p50, le50) = w.quantile(0.5).unwrap();
        assert!(p50 <= Duration::from_micros(500), "{p50:?}");
        assert!((le50 - 0.0005).abs() < 1e-12);
        let (p100, le100) = w.quantile(1.0).unwrap();
        assert!(
            p100 <= Duration::from_millis(3) && le100 > 0.002,
            "{p100:?} {le100}"
        );
        let mean = w.mean().unwrap();
        assert!(mean <= Duration::from_micros(40), "{mean:?}");
    }

    #[test]
    fn empty_window_has_no_quantiles() {
        let m = tocsin_engine::Metrics::default();
        let a = LagSnapshot::take(&m);
        assert_eq!(a.since(&a).quantile(0.99), None);
    }
}
