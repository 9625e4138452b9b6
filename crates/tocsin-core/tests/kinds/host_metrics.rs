//! Configuration errors of the `host_metrics` kind, placed in their files.

use tocsin_core::ProbeSpec;

use crate::common::{assert_error, load};

fn check(body: &str) -> String {
    format!("checks:\n  - id: a\n    host_metrics:\n{body}")
}

#[test]
fn host_metrics_checks_load() {
    let checks = load(
        "checks:\n  - id: this-host\n    host: web-1\n    host_metrics: {}\n  - id: busy\n    \
         host_metrics:\n      cpu: { warning: 80%, critical: 95% }\n      \
         load1: { critical: 4 }\n      load5: { warning: 1.5, critical: 3 }\n      \
         load15: { warning: 1 }\n      memory: { warning: 85, critical: 95 }\n      \
         swap: { warning: 50%, critical: 80% }\n",
    );
    let ProbeSpec::HostMetrics(h) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert!(h.cpu.is_none() && h.memory.is_none());
    // `host:` stays the check's label; the kind itself has no target host.
    assert_eq!(checks[0].host.as_deref(), Some("web-1"));
    assert_eq!(checks[1].host, None);
    let ProbeSpec::HostMetrics(h) = &checks[1].probe else {
        panic!("{:?}", checks[1].probe)
    };
    assert_eq!(
        h.load5.as_ref().unwrap().warning.as_ref().unwrap().value,
        1.5
    );
}

#[test]
fn bad_host_metrics_fields_are_placed() {
    assert_error(
        &check("      cpu: { critical: 120% }\n"),
        "t.yml:4:24: checks[0].host_metrics.cpu.critical",
        "120% is more than 100%",
    );
    assert_error(
        &check("      memory: { warning: 95%, critical: 90% }\n"),
        "t.yml:4:26: checks[0].host_metrics.memory.warning",
        "warning (95%) must not be above critical (90%)",
    );
    assert_error(
        &check("      load5: { critical: -1 }\n"),
        "t.yml:4:26: checks[0].host_metrics.load5.critical",
        "must be a load per core of 0 or more (got -1)",
    );
    assert_error(
        &check("      swap: {}\n"),
        "t.yml:4:13: checks[0].host_metrics.swap",
        "give warning, critical or both",
    );
    assert_error(
        &check("      load: { critical: 1 }\n"),
        "t.yml:4:7: checks[0].host_metrics.load",
        "unknown field \"load\", expected one of: cpu, load1, load5, load15, memory, swap",
    );
    assert_error(
        &check("      load1: { critical: high }\n"),
        "t.yml:4:26: checks[0].host_metrics.load1.critical",
        "expected a number",
    );
    assert_error(
        &check("      memory: { critical: 'ninety' }\n"),
        "t.yml:4:27: checks[0].host_metrics.memory.critical",
        "invalid percentage \"ninety\"",
    );
}
