//! Tests of the alerting fields of the configuration: `alert.notify`, `alert.renotify`,
//! `alert.max_notifications` (merged from `defaults.alert`) and `depends_on`, with the exact
//! place and text of every error.

use std::path::Path;
use std::time::Duration;

use tocsin_core::config::{parse_file, validate_dir};

fn no_env(_: &str) -> Option<String> {
    None
}

fn write(dir: &Path, rel: &str, text: &str) {
    std::fs::write(dir.join(rel), text).unwrap();
}

fn errors_in(text: &str) -> Vec<String> {
    match parse_file("t.yml", text, &no_env) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn errors_of(dir: &Path) -> Vec<String> {
    match validate_dir(dir, &no_env) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const CONTACTS: &str = "contacts:
  - { id: ops, type: email, to: ops@example.com }
  - { id: dba, type: email, to: dba@example.com }
";

#[test]
fn notify_renotify_and_max_notifications_merge_from_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "contacts.yml", CONTACTS);
    write(
        dir.path(),
        "checks.yml",
        "defaults:
  alert: { notify: [ops], renotify: 30m, max_notifications: 3 }
checks:
  - id: web
    tcp: { host: 127.0.0.1, port: 80 }
  - id: db
    tcp: { host: 127.0.0.1, port: 5432 }
    alert: { notify: [dba, ops, dba], max_notifications: 5 }
  - id: quiet
    tcp: { host: 127.0.0.1, port: 81 }
    alert: { notify: [] }
",
    );
    let cat = validate_dir(dir.path(), &no_env).unwrap();
    let web = cat.check("web").unwrap();
    assert_eq!(web.alert.notify, ["ops"]);
    assert_eq!(web.alert.renotify, Some(Duration::from_secs(1800)));
    assert_eq!(web.alert.max_notifications, Some(3));
    let db = cat.check("db").unwrap();
    assert_eq!(db.alert.notify, ["dba", "ops"], "replaces, without repeats");
    assert_eq!(db.alert.renotify, Some(Duration::from_secs(1800)));
    assert_eq!(db.alert.max_notifications, Some(5));
    assert!(cat.check("quiet").unwrap().alert.notify.is_empty());
}

#[test]
fn without_the_new_fields_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "checks.yml",
        "checks:\n  - id: web\n    tcp: { host: 127.0.0.1, port: 80 }\n",
    );
    let cat = validate_dir(dir.path(), &no_env).unwrap();
    let web = cat.check("web").unwrap();
    assert!(web.alert.notify.is_empty());
    assert_eq!(web.alert.renotify, None);
    assert_eq!(web.alert.max_notifications, None);
    assert!(web.depends_on.is_empty());
    // The serialised form (and so the fingerprint) does not mention them.
    let json = serde_json::to_string(&**web).unwrap();
    for field in ["notify", "renotify", "max_notifications", "depends_on"] {
        assert!(!json.contains(field), "{field} in {json}");
    }
}

#[test]
fn range_errors_name_the_field() {
    let cases = [
        (
            "checks:\n  - id: x\n    tcp: { host: h, port: 1 }\n    alert: { renotify: 30s }\n",
            "t.yml:4:24: checks[0].alert.renotify: must be at least 1m (got 30s)",
        ),
        (
            "checks:\n  - id: x\n    tcp: { host: h, port: 1 }\n    alert: { max_notifications: 0 }\n",
            "t.yml:4:33: checks[0].alert.max_notifications: must be at least 1 (leave it out for \
             no limit)",
        ),
        (
            "defaults:\n  alert: { renotify: 59s }\n",
            "t.yml:2:22: defaults.alert.renotify: must be at least 1m (got 59s)",
        ),
        (
            "checks:\n  - id: x\n    tcp: { host: h, port: 1 }\n    alert: { notify: [Ops] }\n",
            "t.yml:4:23: checks[0].alert.notify[0]: invalid contact id: \"Ops\" contains 'O'; ids \
             use only a-z, 0-9, '_', '.', '-'",
        ),
        (
            "checks:\n  - id: x\n    tcp: { host: h, port: 1 }\n    depends_on: [x]\n",
            "t.yml:4:18: checks[0].depends_on[0]: check \"x\" cannot depend on itself",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(errors_in(text), [want], "{text}");
    }
}

#[test]
fn unknown_contacts_and_checks_are_found_across_files() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "contacts.yml", CONTACTS);
    write(
        dir.path(),
        "checks.yml",
        "defaults:
  alert: { notify: [nobody] }
checks:
  - id: web
    tcp: { host: 127.0.0.1, port: 80 }
    alert: { notify: [ops, ghost] }
    depends_on: [db, missing]
",
    );
    write(
        dir.path(),
        "db.yml",
        "checks:\n  - id: db\n    tcp: { host: 127.0.0.1, port: 5432 }\n",
    );
    assert_eq!(
        errors_of(dir.path()),
        [
            "checks.yml:2:21: defaults.alert.notify[0]: unknown contact \"nobody\": no contact or contact group has this id",
            "checks.yml:6:28: checks[0].alert.notify[1]: unknown contact \"ghost\": no contact or contact group has this id",
            "checks.yml:7:22: checks[0].depends_on[1]: unknown check \"missing\": no check has \
             this id",
        ]
    );
}

#[test]
fn dependency_cycles_are_errors_across_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        "checks:
  - id: a
    tcp: { host: h, port: 1 }
    depends_on: [b]
  - id: c
    tcp: { host: h, port: 3 }
    depends_on: [a]
",
    );
    write(
        dir.path(),
        "b.yml",
        "checks:
  - id: b
    tcp: { host: h, port: 2 }
    depends_on: [c]
  - id: d
    tcp: { host: h, port: 4 }
    depends_on: [a, b]
",
    );
    assert_eq!(
        errors_of(dir.path()),
        ["a.yml:7:18: checks[1].depends_on[0]: dependency cycle: a → b → c → a"]
    );
}

#[test]
fn depends_on_reaches_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        "checks:
  - id: db
    tcp: { host: h, port: 1 }
  - id: web
    tcp: { host: h, port: 2 }
    depends_on: [db, db]
",
    );
    let cat = validate_dir(dir.path(), &no_env).unwrap();
    let deps: Vec<&str> = cat
        .check("web")
        .unwrap()
        .depends_on
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(deps, ["db"]);
}
