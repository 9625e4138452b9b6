//! `host_metrics:` — CPU, load per core, memory and swap of this host, from /proc.
//!
//! The spec is the users' contract (field names are the YAML names); [`HostMetricsSpec::validate`]
//! reports every problem with the field it is in, and [`HostMetricsSpec::judge`] turns a
//! [`HostSample`] into findings. Both are pure: the probe reads /proc.

use serde::{Deserialize, Serialize};

use crate::assert::FieldError;
use crate::kinds::limits::{Direction, Finding, Limits, Percent, fmt_bytes, fmt_num, fmt_percent};

/// `host_metrics:` as written in a check. Every threshold is optional; with none, the check
/// only records the metrics (and is `ok`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostMetricsSpec {
    /// Busy CPU time in percent of all cores, averaged since the previous run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Limits<Percent>>,
    /// 1-minute load average divided by the number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load1: Option<Limits<f64>>,
    /// 5-minute load average divided by the number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load5: Option<Limits<f64>>,
    /// 15-minute load average divided by the number of cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load15: Option<Limits<f64>>,
    /// Memory in use, in percent: `(MemTotal − MemAvailable) / MemTotal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Limits<Percent>>,
    /// Swap in use, in percent: `(SwapTotal − SwapFree) / SwapTotal` (0 without swap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<Limits<Percent>>,
}

/// One reading of the host's figures.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HostSample {
    /// Busy CPU in percent of all cores over the sampling interval.
    pub cpu_percent: f64,
    /// Load averages over 1, 5 and 15 minutes (not divided).
    pub load: [f64; 3],
    /// Online CPU cores (at least 1).
    pub cores: u32,
    /// `MemTotal` in bytes.
    pub memory_total: u64,
    /// `MemAvailable` in bytes.
    pub memory_available: u64,
    /// `SwapTotal` in bytes.
    pub swap_total: u64,
    /// `SwapFree` in bytes.
    pub swap_free: u64,
}

impl HostSample {
    /// Load averages divided by the number of cores.
    pub fn load_per_core(&self) -> [f64; 3] {
        let c = f64::from(self.cores.max(1));
        self.load.map(|l| l / c)
    }

    /// Memory in use, bytes.
    pub fn memory_used(&self) -> u64 {
        self.memory_total.saturating_sub(self.memory_available)
    }

    /// Memory in use, percent (0 when the total is unknown).
    pub fn memory_used_percent(&self) -> f64 {
        percent(self.memory_used(), self.memory_total)
    }

    /// Swap in use, bytes.
    pub fn swap_used(&self) -> u64 {
        self.swap_total.saturating_sub(self.swap_free)
    }

    /// Swap in use, percent (0 without swap).
    pub fn swap_used_percent(&self) -> f64 {
        percent(self.swap_used(), self.swap_total)
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

const LOAD_FIELDS: [(&str, &str); 3] = [("load1", "1m"), ("load5", "5m"), ("load15", "15m")];

impl HostMetricsSpec {
    /// Every problem with the spec, fields relative to the check (`host_metrics.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let pct_value = |p: &Percent| (p.0 > 100.0).then(|| format!("{p} is more than 100%"));
        let pct_key = |p: &Percent| Some((0, p.0));
        for (field, l) in [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("swap", &self.swap),
        ] {
            if let Some(l) = l {
                l.validate(
                    &format!("host_metrics.{field}"),
                    Direction::Above,
                    pct_value,
                    pct_key,
                    &mut errors,
                );
            }
        }
        for ((field, _), l) in LOAD_FIELDS.iter().zip(self.loads()) {
            if let Some(l) = l {
                l.validate(
                    &format!("host_metrics.{field}"),
                    Direction::Above,
                    |v: &f64| {
                        (!v.is_finite() || *v < 0.0)
                            .then(|| format!("must be a load per core of 0 or more (got {v})"))
                    },
                    |v: &f64| Some((0, *v)),
                    &mut errors,
                );
            }
        }
        errors
    }

    fn loads(&self) -> [&Option<Limits<f64>>; 3] {
        [&self.load1, &self.load5, &self.load15]
    }

    /// This host's own figures: no target host.
    pub fn target_host(&self) -> Option<String> {
        None
    }

    /// Every threshold `s` breaches, in the order cpu, load1, load5, load15, memory, swap.
    pub fn judge(&self, s: &HostSample) -> Vec<Finding> {
        let mut out = Vec::new();
        let pct = |l: &Option<Limits<Percent>>, v: f64| {
            l.as_ref()
                .and_then(|l| l.judge(|t| v >= t.0).map(|(st, t)| (st, *t)))
        };
        if let Some((st, t)) = pct(&self.cpu, s.cpu_percent) {
            out.push(Finding::new(
                st,
                format!("cpu {} busy, {st} at {t}", fmt_percent(s.cpu_percent)),
            ));
        }
        let per_core = s.load_per_core();
        for (i, l) in self.loads().into_iter().enumerate() {
            let v = per_core[i];
            if let Some((st, t)) = l.as_ref().and_then(|l| l.judge(|t| v >= *t)) {
                out.push(Finding::new(
                    st,
                    format!(
                        "load {v:.2} per core over {} ({:.2} on {} cores), {st} at {}",
                        LOAD_FIELDS[i].1,
                        s.load[i],
                        s.cores,
                        fmt_num(*t)
                    ),
                ));
            }
        }
        let mem = s.memory_used_percent();
        if let Some((st, t)) = pct(&self.memory, mem) {
            out.push(Finding::new(
                st,
                format!(
                    "memory {} used ({} of {}), {st} at {t}",
                    fmt_percent(mem),
                    fmt_bytes(s.memory_used()),
                    fmt_bytes(s.memory_total)
                ),
            ));
        }
        let swap = s.swap_used_percent();
        if let Some((st, t)) = pct(&self.swap, swap) {
            out.push(Finding::new(
                st,
                format!(
                    "swap {} used ({} of {}), {st} at {t}",
                    fmt_percent(swap),
                    fmt_bytes(s.swap_used()),
                    fmt_bytes(s.swap_total)
                ),
            ));
        }
        out
    }

    /// The one-line summary of a healthy host:
    /// `cpu 12.0%, load per core 0.21 0.18 0.15 (2 cores), memory 43.0%, swap 0.0%`.
    pub fn summary(&self, s: &HostSample) -> String {
        let [l1, l5, l15] = s.load_per_core();
        let swap = if s.swap_total == 0 {
            "no swap".to_owned()
        } else {
            format!("swap {}", fmt_percent(s.swap_used_percent()))
        };
        format!(
            "cpu {}, load per core {l1:.2} {l5:.2} {l15:.2} ({} cores), memory {}, {swap}",
            fmt_percent(s.cpu_percent),
            s.cores,
            fmt_percent(s.memory_used_percent()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Status;

    fn spec(yaml: &str) -> HostMetricsSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    const GIB: u64 = 1 << 30;

    fn sample() -> HostSample {
        HostSample {
            cpu_percent: 50.0,
            load: [3.0, 2.0, 1.0],
            cores: 2,
            memory_total: 8 * GIB,
            memory_available: 2 * GIB,
            swap_total: 2 * GIB,
            swap_free: GIB,
        }
    }

    #[test]
    fn derived_figures() {
        let s = sample();
        assert_eq!(s.load_per_core(), [1.5, 1.0, 0.5]);
        assert_eq!(s.memory_used_percent(), 75.0);
        assert_eq!(s.swap_used_percent(), 50.0);
        let none = HostSample::default();
        assert_eq!(none.swap_used_percent(), 0.0);
        assert_eq!(none.load_per_core(), [0.0; 3]);
    }

    #[test]
    fn thresholds_table() {
        let cases: [(&str, &[Status]); 9] = [
            ("{}", &[]),
            ("cpu: { warning: 50%, critical: 90% }", &[Status::Warning]),
            ("cpu: { critical: 51 }", &[]),
            ("load1: { warning: 1, critical: 1.5 }", &[Status::Critical]),
            ("load5: { warning: 1, critical: 1.5 }", &[Status::Warning]),
            ("load15: { warning: 1, critical: 1.5 }", &[]),
            (
                "memory: { warning: 70%, critical: 80% }",
                &[Status::Warning],
            ),
            ("swap: { critical: 50% }", &[Status::Critical]),
            (
                "{ memory: { critical: 75% }, swap: { warning: 10% } }",
                &[Status::Critical, Status::Warning],
            ),
        ];
        for (yaml, want) in cases {
            let s = spec(yaml);
            assert!(s.validate().is_empty(), "{yaml}: {:?}", s.validate());
            let got: Vec<Status> = s.judge(&sample()).iter().map(|f| f.status).collect();
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn messages_name_the_value_and_the_threshold() {
        let f = spec("memory: { critical: 75% }").judge(&sample());
        assert_eq!(
            f[0].message,
            "memory 75.0% used (6 GiB of 8 GiB), critical at 75%"
        );
        let f = spec("load1: { warning: 1.2 }").judge(&sample());
        assert_eq!(
            f[0].message,
            "load 1.50 per core over 1m (3.00 on 2 cores), warning at 1.2"
        );
        assert_eq!(
            spec("{}").summary(&sample()),
            "cpu 50.0%, load per core 1.50 1.00 0.50 (2 cores), memory 75.0%, swap 50.0%"
        );
    }

    #[test]
    fn validation() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(
            fields("cpu: { critical: 120% }"),
            ["host_metrics.cpu.critical"]
        );
        assert_eq!(
            fields("memory: { warning: 95%, critical: 90% }"),
            ["host_metrics.memory.warning"]
        );
        assert_eq!(
            fields("load5: { critical: -1 }"),
            ["host_metrics.load5.critical"]
        );
        assert_eq!(fields("swap: {}"), ["host_metrics.swap"]);
    }
}
