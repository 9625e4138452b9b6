//! Configuration errors of the `log` kind, placed in their files.

use std::time::Duration;

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::log::{MatchKind, Severity, StartAt};

use crate::common::{assert_error, load};

fn check(body: &str) -> String {
    format!("checks:\n  - id: a\n    log:\n{body}")
}

#[test]
fn log_checks_load() {
    let checks = load(
        "checks:\n  - id: app-errors\n    log:\n      path: /var/log/app.log\n      \
         match: { pattern: ERROR }\n  - id: api-errors\n    log:\n      \
         paths: [/var/log/api/*.log, /var/log/api.json]\n      \
         match: { pattern: timeout, type: substring, flags: i, word: true, invert: false, field: msg }\n      \
         fields: { level: '>=warn', req.method: POST, status: 500 }\n      threshold: 5\n      \
         period: 10m\n      severity: warning\n      context: 2\n      show: 3\n      \
         start_at: beginning\n      max_read: 1MiB\n      state_key: api-errors\n",
    );
    let ProbeSpec::Log(a) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(a.all_paths(), ["/var/log/app.log"]);
    assert_eq!((a.threshold, a.period.get()), (1, Duration::from_secs(60)));
    assert_eq!(a.start_at, StartAt::End);
    assert_eq!(checks[0].host, None);
    let ProbeSpec::Log(b) = &checks[1].probe else {
        panic!("{:?}", checks[1].probe)
    };
    assert_eq!(b.all_paths().len(), 2);
    assert_eq!(b.matches.as_ref().unwrap().kind, MatchKind::Substring);
    assert_eq!(b.severity, Severity::Warning);
    assert_eq!(b.fields.len(), 3);
    assert_eq!(b.state_key(), "api-errors");
}

#[test]
fn bad_paths_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    log: { path: app.log, match: { pattern: x } }\n",
        "t.yml:3:18: checks[0].log.path",
        "must be an absolute path (got \"app.log\")",
    );
    assert_error(
        &check("      paths: [/a.log, '/b/[x']\n      match: { pattern: x }\n"),
        "t.yml:4:23: checks[0].log.paths[1]",
        "invalid glob \"/b/[x\"",
    );
    assert_error(
        &check("      match: { pattern: x }\n"),
        "t.yml:4:7: checks[0].log",
        "give path (a file or a glob) or paths",
    );
}

#[test]
fn bad_matches_are_placed() {
    assert_error(
        &check("      path: /a.log\n"),
        "t.yml:4:7: checks[0].log",
        "give match, fields or both",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: '(' }\n"),
        "t.yml:5:25: checks[0].log.match.pattern",
        "invalid regular expression: unclosed group (at character 1)",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: 'a(', word: true }\n"),
        "t.yml:5:25: checks[0].log.match.pattern",
        "unclosed group (at character 2)",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: '' }\n"),
        "t.yml:5:25: checks[0].log.match.pattern",
        "must not be empty",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: x, flags: g }\n"),
        "t.yml:5:35: checks[0].log.match.flags",
        "\"g\" is not allowed",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: x, flags: iq }\n"),
        "t.yml:5:35: checks[0].log.match.flags",
        "unknown flag 'q' (expected any of i, m, s, x)",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: x, type: glob }\n"),
        "t.yml:5:34: checks[0].log.match.type",
        "expected one of: regex, substring",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: x, field: 'a..b' }\n"),
        "t.yml:5:35: checks[0].log.match.field",
        "dotted keys need a name between the dots",
    );
    assert_error(
        &check("      path: /a.log\n      match: { pattern: x, matchWord: true }\n"),
        "t.yml:5",
        "unknown field \"matchWord\"",
    );
}

#[test]
fn bad_fields_are_placed() {
    assert_error(
        &check("      path: /a.log\n      fields: { level: loud }\n"),
        "t.yml:5:24: checks[0].log.fields.level",
        "invalid level \"loud\" (expected a bunyan level name",
    );
    assert_error(
        &check("      path: /a.log\n      fields:\n        req.method: [1]\n"),
        "t.yml:6:21: checks[0].log.fields.req.method",
        "must be a string, number, boolean or null",
    );
}

#[test]
fn bad_counts_and_limits_are_placed() {
    let base = "      path: /a.log\n      fields: { level: error }\n";
    for (line, field, words) in [
        ("threshold: 0", "threshold", "must be at least 1 (got 0)"),
        ("period: 0s", "period", "must be at least 1s (got 0s)"),
        (
            "context: 11",
            "context",
            "must be at most 10 lines (got 11)",
        ),
        ("show: 500", "show", "must be at most 100 lines (got 500)"),
        (
            "max_read: 1",
            "max_read",
            "must be at least 4KiB (got 1 bytes)",
        ),
        (
            "severity: fatal",
            "severity",
            "expected one of: warning, critical",
        ),
        (
            "start_at: middle",
            "start_at",
            "expected one of: end, beginning",
        ),
        ("state_key: A B", "state_key", "ids use only a-z, 0-9"),
    ] {
        let col = 7 + field.len() + 2;
        assert_error(
            &check(&format!("{base}      {line}\n")),
            &format!("t.yml:6:{col}: checks[0].log.{field}"),
            words,
        );
    }
    assert_error(
        &check(&format!("{base}      colour: red\n")),
        "t.yml:6:7: checks[0].log.colour",
        "unknown field \"colour\"",
    );
}
