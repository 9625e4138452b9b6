//! Configuration errors of the `push` kind, placed in their files.

use std::time::Duration;

use tocsin_core::ProbeSpec;

use crate::common::{assert_error, load};

#[test]
fn a_push_check_loads() {
    let checks = load(
        "checks:\n  - id: nightly-backup\n    push: { token: 0123456789abcdef, within: 1d, grace: 1h }\n",
    );
    let ProbeSpec::Push(p) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(p.deadline(), Duration::from_secs(25 * 3600));
    assert_eq!(checks[0].host, None);
}

#[test]
fn bad_push_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    push: { token: short, within: 1h }\n",
        "t.yml:3:20: checks[0].push.token",
        "at least 16 characters",
    );
    assert_error(
        "checks:\n  - id: a\n    push: { token: 0123456789abcdef }\n",
        "t.yml:3",
        "within",
    );
    assert_error(
        "checks:\n  - id: a\n    push: { token: 0123456789abcdef, within: 1h, every: 2h }\n",
        "t.yml:3",
        "every",
    );
}
