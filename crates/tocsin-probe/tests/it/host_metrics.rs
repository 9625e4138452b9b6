//! The `host_metrics` probe against this host's /proc.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_core::kinds::HostMetricsSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};
use tocsin_probe::{Probe, RunContext};

use crate::common::{env, metric, run};

const T: Duration = Duration::from_secs(5);

fn host(yaml: &str) -> ProbeSpec {
    let spec: HostMetricsSpec =
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::HostMetrics(Box::new(spec))
}

fn assert_sane(r: &CheckResult) {
    let m = |name: &str| metric(r, name).unwrap_or_else(|| panic!("no {name} in {r:?}"));
    for pct in [
        "cpu_percent",
        "cpu_iowait_percent",
        "cpu_steal_percent",
        "memory_used_percent",
        "swap_used_percent",
    ] {
        assert!((0.0..=100.0).contains(&m(pct)), "{pct} = {}", m(pct));
    }
    let cores = m("cores");
    assert!(cores >= 1.0);
    for (load, per_core) in [
        ("load1", "load1_per_core"),
        ("load5", "load5_per_core"),
        ("load15", "load15_per_core"),
    ] {
        assert!(m(load) >= 0.0);
        assert!((m(load) / cores - m(per_core)).abs() < 0.01, "{load}");
    }
    assert!(m("memory_total_bytes") > 0.0);
    assert!(m("memory_used_bytes") <= m("memory_total_bytes"));
    assert!(m("memory_available_bytes") <= m("memory_total_bytes"));
    assert!(m("swap_used_bytes") <= m("swap_total_bytes"));
    for metric in &r.metrics {
        assert!(
            metric
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}",
            metric.name
        );
    }
    assert!(r.timings.total_us > 0);
}

#[tokio::test]
async fn metrics_are_present_and_sane() {
    let (r, took) = run(&host("{}"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("cpu "), "{}", r.message);
    assert!(r.message.contains(" cores), memory "), "{}", r.message);
    assert_sane(&r);
    // The first run reads /proc/stat twice, a quarter of a second apart.
    assert!(took >= Duration::from_millis(200), "took {took:?}");
}

#[tokio::test]
async fn later_runs_average_since_the_previous_one() {
    let probe = tocsin_probe::build(&host("{}"), &env()).unwrap();
    let cx = RunContext {
        timeout: T,
        started_at_ms: 1_700_000_000_000,
    };
    let t0 = Instant::now();
    let first = probe.run(cx).await;
    let first_took = t0.elapsed();
    assert_sane(&first);
    assert!(first_took >= Duration::from_millis(250), "{first_took:?}");
    // More than a second later, the previous reading is used: no second reading, no wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t0 = Instant::now();
    let second = probe.run(cx).await;
    assert_sane(&second);
    assert!(
        t0.elapsed() < first_took,
        "{:?} vs {first_took:?}",
        t0.elapsed()
    );
}

#[tokio::test]
async fn thresholds_forced_both_ways() {
    let cases = [
        ("memory: { warning: 0% }", Status::Warning, "memory "),
        ("cpu: { critical: 0% }", Status::Critical, "cpu "),
        (
            "load15: { warning: 0, critical: 1000 }",
            Status::Warning,
            "load ",
        ),
        ("swap: { critical: 0% }", Status::Critical, "swap "),
        // (CPU can really be 100% busy on a loaded machine: not a "never" case.)
        (
            "{ memory: { critical: 100% }, load1: { critical: 1000 } }",
            Status::Ok,
            "cpu ",
        ),
    ];
    for (yaml, want, starts) in cases {
        let (r, _) = run(&host(yaml), T).await;
        assert_eq!(r.status, want, "{yaml}: {r:?}");
        assert!(r.message.starts_with(starts), "{yaml}: {}", r.message);
        assert_sane(&r);
    }
    let (r, _) = run(
        &host("{ memory: { warning: 0% }, load5: { critical: 0 } }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("load ") && r.message.ends_with(", critical at 0 (and 1 more)"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_short_timeout_is_respected() {
    let probe: Arc<dyn Probe> = tocsin_probe::build(&host("{}"), &env()).unwrap();
    let t0 = Instant::now();
    let r = probe
        .run(RunContext {
            timeout: Duration::from_millis(100),
            started_at_ms: 0,
        })
        .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
}
