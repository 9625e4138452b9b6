//! Configuration errors of the `icmp` kind, placed in their files.

use tocsin_core::ProbeSpec;

use crate::common::{assert_error, load};

#[test]
fn an_icmp_check_loads_with_amon_and_pymon_defaults() {
    let checks = load("checks:\n  - id: gw\n    icmp: { host: 127.0.0.1 }\n");
    let ProbeSpec::Icmp(i) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(i.count, 5);
    assert_eq!((i.loss.warning, i.loss.critical), (25.0, 75.0));
    assert_eq!(checks[0].host.as_deref(), Some("127.0.0.1"));
}

#[test]
fn bad_icmp_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    icmp: { host: 127.0.0.1, count: 0 }\n",
        "t.yml:3:37: checks[0].icmp.count",
        "between 1 and 100",
    );
    assert_error(
        "checks:\n  - id: a\n    icmp:\n      host: h\n      loss: { warning: 120 }\n",
        "t.yml:5:24: checks[0].icmp.loss.warning",
        "between 0 and 100",
    );
    assert_error(
        "checks:\n  - id: a\n    icmp: { host: h, loss: { warning: lots } }\n",
        "t.yml:3",
        "invalid percentage",
    );
    assert_error(
        "checks:\n  - id: a\n    icmp: { host: h, ttl: 3 }\n",
        "t.yml:3",
        "ttl",
    );
    assert_error(
        "checks:\n  - id: a\n    timeout: 1s\n    icmp: { host: h, count: 10 }\n",
        "t.yml:4:29: checks[0].icmp.count",
        "more than the check's timeout (1s)",
    );
}
