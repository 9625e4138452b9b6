//! Helpers shared by the probe integration tests: specs from YAML, running a probe, metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tocsin_core::check::{HttpSpec, TcpSpec};
use tocsin_core::{CheckResult, ProbeSpec};
use tocsin_probe::{AddressGuard, ProbeEnv, RunContext};

pub(crate) fn env() -> Arc<ProbeEnv> {
    tocsin_testkit::init();
    Arc::new(ProbeEnv::new().expect("probe env"))
}

pub(crate) fn http(yaml: &str) -> ProbeSpec {
    let spec: HttpSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Http(spec)
}

pub(crate) fn tcp(yaml: &str) -> ProbeSpec {
    let spec: TcpSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Tcp(spec)
}

/// Builds and runs once; returns the result and the wall time of the run.
pub(crate) async fn run(spec: &ProbeSpec, timeout: Duration) -> (CheckResult, Duration) {
    run_guarded(spec, AddressGuard::Open, timeout).await
}

/// Builds under `guard` and runs once; returns the result and the wall time of the run.
pub(crate) async fn run_guarded(
    spec: &ProbeSpec,
    guard: AddressGuard,
    timeout: Duration,
) -> (CheckResult, Duration) {
    let probe = tocsin_probe::build_guarded(spec, &env(), guard).expect("build");
    let t0 = Instant::now();
    let r = probe
        .run(RunContext {
            timeout,
            started_at_ms: 1_700_000_000_000,
        })
        .await;
    (r, t0.elapsed())
}

pub(crate) fn metric(r: &CheckResult, name: &str) -> Option<f64> {
    r.metrics.iter().find(|m| m.name == name).map(|m| m.value)
}

/// The phases that happened are in order and fit in the total.
pub(crate) fn assert_timings_sane(r: &CheckResult) {
    let t = &r.timings;
    let sum: u64 = [t.dns_us, t.connect_us, t.tls_us, t.first_byte_us]
        .iter()
        .flatten()
        .sum();
    assert!(sum <= t.total_us, "phases {t:?} exceed the total");
    assert!(t.total_us > 0, "{t:?}");
}
