//! Configuration errors of the `process` kind, placed in their files.

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::process::UserRef;

use crate::common::{assert_error, load};

fn check(body: &str) -> String {
    format!("checks:\n  - id: a\n    process:\n{body}")
}

#[test]
fn process_checks_load() {
    let checks = load(
        "checks:\n  - id: nginx\n    process: { name: nginx }\n  - id: workers\n    process:\n      \
         cmdline: 'worker \\d+'\n      user: www-data\n      min: 2\n      max: 8\n      \
         cpu: { warning: 150%, critical: 300% }\n      rss: { warning: 1GiB, critical: 2GiB }\n  \
         - id: root-cron\n    process: { name: cron, user: 0, min: 0 }\n",
    );
    let ProbeSpec::Process(p) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!((p.min(), p.max), (1, None));
    assert_eq!(checks[0].host, None);
    let ProbeSpec::Process(p) = &checks[1].probe else {
        panic!("{:?}", checks[1].probe)
    };
    assert_eq!(
        p.user.as_ref().unwrap().value,
        UserRef::Name("www-data".into())
    );
    assert_eq!(p.filter(), "cmdline=/worker \\d+/ user=www-data");
    let ProbeSpec::Process(p) = &checks[2].probe else {
        panic!("{:?}", checks[2].probe)
    };
    assert_eq!(p.user.as_ref().unwrap().value, UserRef::Uid(0));
}

#[test]
fn bad_process_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    process: { min: 2 }\n",
        "t.yml:3:14: checks[0].process",
        "give at least one of name, cmdline, user",
    );
    assert_error(
        &check("      name: nginx\n      min: 3\n      max: 2\n"),
        "t.yml:6:12: checks[0].process.max",
        "must not be below min (3) (got 2)",
    );
    assert_error(
        &check("      cmdline: 'a('\n"),
        "t.yml:4:16: checks[0].process.cmdline",
        "invalid regular expression: unclosed group (at character 2)",
    );
    assert_error(
        &check("      name: ''\n"),
        "t.yml:4:13: checks[0].process.name",
        "must not be empty",
    );
    assert_error(
        &check("      name: a\n      cpu: { warning: 90, critical: 50 }\n"),
        "t.yml:5:23: checks[0].process.cpu.warning",
        "warning (90%) must not be above critical (50%)",
    );
    assert_error(
        &check("      name: a\n      rss: { warning: lots }\n"),
        "t.yml:5:23: checks[0].process.rss.warning",
        "invalid size \"lots\" (expected e.g. 500M, 2GiB or a number of bytes)",
    );
    assert_error(
        &check("      name: a\n      user: -1\n"),
        "t.yml:5:13: checks[0].process.user",
        "invalid uid -1",
    );
    assert_error(
        &check("      name: a\n      count: 2\n"),
        "t.yml:5:7: checks[0].process.count",
        "unknown field \"count\"",
    );
}
