//! Configuration errors of the `disk` kind, placed in their files.

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::limits::Space;

use crate::common::{assert_error, load};

fn check(body: &str) -> String {
    format!("checks:\n  - id: a\n    disk:\n      path: /var\n{body}")
}

#[test]
fn disk_checks_load() {
    let checks = load(
        "checks:\n  - id: root-disk\n    disk: { path: / }\n  - id: data-disk\n    disk:\n      \
         path: /data\n      free: { warning: 20%, critical: 500M }\n      \
         used: { warning: 80%, critical: 90% }\n      inodes_free: { critical: 5% }\n      \
         inodes_used: { warning: 1000000 }\n",
    );
    let ProbeSpec::Disk(d) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    // Amon's default: critical below 20% free.
    let free = d.free_limits().unwrap();
    assert_eq!(free.critical.unwrap().value, Space::Percent(20.0));
    assert_eq!(checks[0].host, None);
    let ProbeSpec::Disk(d) = &checks[1].probe else {
        panic!("{:?}", checks[1].probe)
    };
    let free = d.free.as_ref().unwrap();
    assert_eq!(
        free.critical.as_ref().unwrap().value,
        Space::Bytes(500 << 20)
    );
}

#[test]
fn bad_disk_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    disk: { path: var }\n",
        "t.yml:3:19: checks[0].disk.path",
        "must be an absolute path (got \"var\")",
    );
    assert_error(
        "checks:\n  - id: a\n    disk: {}\n",
        "t.yml:3:11: checks[0].disk",
        "missing field \"path\"",
    );
    assert_error(
        &check("      free: { warning: 10%, critical: 20% }\n"),
        "t.yml:5:24: checks[0].disk.free.warning",
        "warning (10%) must not be below critical (20%)",
    );
    assert_error(
        &check("      free: { warning: 10 percent }\n"),
        "t.yml:5:24: checks[0].disk.free.warning",
        "invalid amount \"10 percent\" (expected e.g. 20%, 500M, 2GiB)",
    );
    assert_error(
        &check("      used: { critical: 120% }\n"),
        "t.yml:5:25: checks[0].disk.used.critical",
        "120% is more than 100%",
    );
    assert_error(
        &check("      used: { warning: 90%, critical: 80% }\n"),
        "t.yml:5:24: checks[0].disk.used.warning",
        "must not be above critical (80%)",
    );
    assert_error(
        &check("      inodes_free: {}\n"),
        "t.yml:5:20: checks[0].disk.inodes_free",
        "give warning, critical or both",
    );
    assert_error(
        &check("      inodes_used: { critical: 5M }\n"),
        "t.yml:5:32: checks[0].disk.inodes_used.critical",
        "invalid inode amount \"5M\" (expected e.g. 5% or 10000)",
    );
    assert_error(
        &check("      free: { warn: 5% }\n"),
        "t.yml:5:15: checks[0].disk.free.warn",
        "unknown field \"warn\", expected one of: warning, critical",
    );
    assert_error(
        &check("      threshold: 20%\n"),
        "t.yml:5:7: checks[0].disk.threshold",
        "unknown field \"threshold\"",
    );
}
