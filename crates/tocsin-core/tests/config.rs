//! Tests of the configuration loader against real files in temporary directories: defaults,
//! nested folders, interpolation, every kind of error with its exact place, duplicate ids,
//! reloads that keep the last good version, and contacts/groups/maintenances.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tocsin_core::check::{HttpVersion, StatusPattern};
use tocsin_core::config::{ConfigSet, parse_file, validate_dir};
use tocsin_core::directory::{ContactKind, MaintenanceWindow, WindowEnd};
use tocsin_core::{ProbeSpec, Schedule};

fn no_env(_: &str) -> Option<String> {
    None
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Every error of `dir`, displayed.
fn errors_of(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    match validate_dir(dir, env) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// The errors of one file's text, displayed.
fn errors_in(text: &str) -> Vec<String> {
    match parse_file("t.yml", text, &no_env) {
        Ok(_) => vec![],
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const FULL_EXAMPLE: &str = r#"defaults:            # apply to the checks of this file
  every: 30s
  timeout: 10s
checks:
  - id: shop-health              # unique, [a-z0-9_.-]+, the identity across reloads
    name: Shop health endpoint
    tags: [shop, prod]
    host: shop.example.com       # label used for scoping (maintenances, agents)
    every: 30s
    http:
      url: https://shop.example.com/health
      method: GET
      headers: { Accept: application/json }
      expect:
        status: [200]
        body_contains: "ok"
        json:
          - { path: $.status, equals: ok }
          - { path: $.queue.depth, below: 1000 }
        response_time: { warning: 500ms, critical: 2s }
      extract: { version: $.version }
    alert: { failures: 3, recoveries: 2 }
  - id: db-port
    tcp: { host: 127.0.0.1, port: 5432 }
"#;

#[test]
fn the_full_example_loads_with_the_right_defaults() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tocsin.yml", FULL_EXAMPLE);
    let cat = validate_dir(dir.path(), &no_env).unwrap();
    let ids: Vec<&str> = cat.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["db-port", "shop-health"], "sorted by id");

    let db = cat.check("db-port").unwrap();
    assert_eq!(db.name, "db-port");
    assert_eq!(db.host.as_deref(), Some("127.0.0.1"));
    assert_eq!(db.schedule.interval(), Some(Duration::from_secs(30)));
    assert_eq!(db.timeout, Duration::from_secs(10));
    assert_eq!(db.alert.failures, 3);
    assert_eq!(db.alert.recoveries, 1);
    assert_eq!(db.alert.within, None);
    assert!(db.alert.flap.enabled);
    assert_eq!((db.alert.flap.high, db.alert.flap.low), (30.0, 25.0));
    assert!(db.tags.is_empty());
    let ProbeSpec::Tcp(tcp) = &db.probe else {
        panic!("tcp expected")
    };
    assert_eq!((tcp.host.as_str(), tcp.port), ("127.0.0.1", 5432));

    let shop = cat.check("shop-health").unwrap();
    assert_eq!(shop.name, "Shop health endpoint");
    assert_eq!(shop.tags, ["shop", "prod"]);
    assert_eq!(shop.host.as_deref(), Some("shop.example.com"));
    assert_eq!(shop.schedule.interval(), Some(Duration::from_secs(30)));
    assert_eq!((shop.alert.failures, shop.alert.recoveries), (3, 2));
    assert_eq!(shop.origin.to_string(), "tocsin.yml:5:9");
    let ProbeSpec::Http(http) = &shop.probe else {
        panic!("http expected")
    };
    assert_eq!(http.url.value, "https://shop.example.com/health");
    assert_eq!(http.method, "GET");
    assert_eq!(
        http.headers.get("Accept").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        http.expect.status[0].value,
        StatusPattern {
            low: 200,
            high: 200
        }
    );
    assert_eq!(http.expect.body_contains.as_deref(), Some("ok"));
    assert_eq!(http.expect.json.len(), 2);
    assert_eq!(http.expect.json[1].below, Some(1000.0));
    assert_eq!(http.extract["version"].value, "$.version");
    assert_eq!(http.max_redirects, 5);
    assert_eq!(http.max_body.0, 1 << 20);
    assert!(http.tls.verify);
    assert_eq!(http.version, HttpVersion::Auto);
}

#[test]
fn defaults_merge_under_each_check() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        r#"
defaults:
  tags: [prod, web]
  timezone: Europe/Paris
  alert: { failures: 5, flapping: { enabled: false } }
checks:
  - id: nightly
    cron: "30 2 * * *"
    tags: [web, nightly]
    alert: { recoveries: 2 }
    tcp: { host: db.example.com, port: 5432 }
  - id: fast
    every: 5s
    http: { url: "http://[::1]:8080/healthz" }
  - id: utc
    cron: "@hourly"
    timezone: UTC
    tcp: { host: db.example.com, port: 5432 }
"#,
    );
    let cat = validate_dir(dir.path(), &no_env).unwrap();
    let nightly = cat.check("nightly").unwrap();
    assert_eq!(
        nightly.tags,
        ["prod", "web", "nightly"],
        "defaults first, no duplicates"
    );
    assert_eq!((nightly.alert.failures, nightly.alert.recoveries), (5, 2));
    assert!(!nightly.alert.flap.enabled);
    let Schedule::Cron(cron) = &nightly.schedule else {
        panic!("cron expected")
    };
    assert_eq!(
        (cron.expr(), cron.tz_name()),
        ("30 2 * * *", "Europe/Paris")
    );
    assert_eq!(nightly.timeout, Duration::from_secs(10));
    assert_eq!(nightly.host.as_deref(), Some("db.example.com"));

    let fast = cat.check("fast").unwrap();
    assert_eq!(
        fast.timeout,
        Duration::from_secs(5),
        "the default timeout is capped at the interval"
    );
    assert_eq!(fast.host.as_deref(), Some("::1"));
    assert_eq!(fast.schedule.interval(), Some(Duration::from_secs(5)));

    let Schedule::Cron(utc) = &cat.check("utc").unwrap().schedule else {
        panic!()
    };
    assert_eq!(
        utc.tz_name(),
        "UTC",
        "the check's zone wins over the file's"
    );
}

#[test]
fn nested_folders_sorted_hidden_skipped_and_single_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "z.yml",
        "checks:\n  - id: z\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    write(
        d,
        "sub/deeper/b.yaml",
        "checks:\n  - id: b\n    tcp: { host: 127.0.0.1, port: 2 }\n",
    );
    write(
        d,
        "sub/a.yml",
        "checks:\n  - id: a\n    tcp: { host: 127.0.0.1, port: 3 }\n",
    );
    write(d, "notes.txt", "not: yaml: at all: [");
    write(d, ".hidden.yml", "this is: [broken");
    write(d, ".git/config.yml", "this is: [broken");
    write(d, "empty.yml", "");
    write(d, "comments.yaml", "# nothing here yet\n\n   # really\n");

    let mut set = ConfigSet::default();
    set.reload(d, &no_env);
    assert_eq!(set.all_errors(), vec![]);
    let keys: Vec<&str> = set.good.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "comments.yaml",
            "empty.yml",
            "sub/a.yml",
            "sub/deeper/b.yaml",
            "z.yml"
        ]
    );
    let cat = set.catalog();
    assert_eq!(
        cat.checks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["a", "b", "z"]
    );
    assert_eq!(
        cat.check("b").unwrap().origin.to_string(),
        "sub/deeper/b.yaml:2:9"
    );

    // A single file: its key is its name.
    let cat = validate_dir(&d.join("sub/a.yml"), &no_env).unwrap();
    assert_eq!(&*cat.checks[0].origin.file, "a.yml");
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_as_a_kubernetes_config_map_mounts_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // ConfigMap layout: ..2026_01_01/web.yml, ..data -> ..2026_01_01, web.yml -> ..data/web.yml
    write(
        d,
        "..2026_01_01/web.yml",
        "checks:\n  - id: web\n    tcp: { host: 127.0.0.1, port: 80 }\n",
    );
    std::os::unix::fs::symlink("..2026_01_01", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/web.yml", d.join("web.yml")).unwrap();
    // A link loop does not hang the walk.
    std::fs::create_dir(d.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", d.join("loop/up")).unwrap();

    let mut set = ConfigSet::default();
    set.reload(d, &no_env);
    assert_eq!(set.all_errors(), vec![]);
    assert_eq!(set.good.keys().collect::<Vec<_>>(), ["web.yml"]);
}

#[test]
fn interpolation_with_defaults_and_missing_variables() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "env.yml",
        r#"checks:
  - id: api
    http:
      url: "https://${API_HOST}/health"
      headers: { Authorization: "Bearer ${API_TOKEN}" }
      expect: { body_contains: 'pa$$word costs 5$' }
    every: ${EVERY:-45s}
    alert:
      failures: ${FAILURES}
  - id: db
    # Inside { } or [ ], a reference must be quoted: braces are YAML syntax there.
    tcp: { host: "${DB_HOST:-127.0.0.1}", port: "${DB_PORT}" }
"#,
    );
    let env = |k: &str| match k {
        "API_HOST" => Some("api.example.com".to_owned()),
        "API_TOKEN" => Some("s3cret".to_owned()),
        "FAILURES" => Some("4".to_owned()),
        "DB_PORT" => Some("6543".to_owned()),
        _ => None,
    };
    let cat = validate_dir(dir.path(), &env).unwrap();
    let api = cat.check("api").unwrap();
    let ProbeSpec::Http(http) = &api.probe else {
        panic!()
    };
    assert_eq!(http.url.value, "https://api.example.com/health");
    assert_eq!(http.headers["Authorization"], "Bearer s3cret");
    assert_eq!(
        http.expect.body_contains.as_deref(),
        Some("pa$$word costs 5$"),
        "$ stays literal"
    );
    assert_eq!(api.schedule.interval(), Some(Duration::from_secs(45)));
    assert_eq!(
        api.alert.failures, 4,
        "numbers can come from the environment"
    );
    assert_eq!(api.host.as_deref(), Some("api.example.com"));
    let ProbeSpec::Tcp(tcp) = &cat.check("db").unwrap().probe else {
        panic!()
    };
    assert_eq!((tcp.host.as_str(), tcp.port), ("127.0.0.1", 6543));

    // Every missing variable is reported, with its own place.
    assert_eq!(
        errors_of(dir.path(), &|k| (k == "FAILURES").then(|| "3".to_owned())),
        [
            "env.yml:4:21: checks[0].http.url: environment variable \"API_HOST\" is not set \
             (write ${API_HOST:-default} to give a default)",
            "env.yml:5:41: checks[0].http.headers.Authorization: environment variable \
             \"API_TOKEN\" is not set (write ${API_TOKEN:-default} to give a default)",
            "env.yml:12:50: checks[1].tcp.port: environment variable \"DB_PORT\" is not set \
             (write ${DB_PORT:-default} to give a default)",
        ]
    );
    // Reading stops at a value that a missing variable left empty: later ones are still found.
    assert_eq!(
        errors_in(
            "checks:\n  - id: a\n    # every: ${COMMENTED}\n    every: ${E}\n    timeout: ${T}\n    \
             tcp: { host: 127.0.0.1, port: 1 }\n"
        ),
        [
            "t.yml:4:12: checks[0].every: environment variable \"E\" is not set (write \
             ${E:-default} to give a default)",
            "t.yml:5:14: checks[0].timeout: environment variable \"T\" is not set (write \
             ${T:-default} to give a default)",
        ]
    );
    // A value that is not the type the field needs is refused without being repeated.
    assert_eq!(
        errors_of(dir.path(), &|k| Some(
            match k {
                "FAILURES" => "many",
                "EVERY" => "30s",
                _ => "1",
            }
            .to_owned()
        )),
        [
            "env.yml:9:17: checks[0].alert.failures: expected a whole number, but \"${FAILURES}\" \
          expands to something else"
        ]
    );
}

#[test]
fn unknown_fields_list_the_expected_ones() {
    assert_eq!(
        errors_in("checks:\n  - id: web\n    tcp: { host: 127.0.0.1, port: 80 }\n    timout: 5s\n"),
        [
            "t.yml:4:5: checks[0].timout: unknown field \"timout\", expected one of: id, name, tags, \
          host, tenant, public, every, cron, timezone, timeout, http, tcp, tls, dns, icmp, command, log, process, disk, \
          host_metrics, push, alert, depends_on"
        ]
    );
    assert_eq!(
        errors_in("check:\n  - id: web\n"),
        [
            "t.yml:1:1: check: unknown field \"check\", expected one of: defaults, checks, contacts, \
             contact_groups, self, groups, maintenances"
        ]
    );
    assert_eq!(
        errors_in(
            "checks:\n  - id: web\n    http:\n      url: http://127.0.0.1/\n      expect:\n        \
             json:\n          - { path: $.a, equal: 1 }\n"
        ),
        [
            "t.yml:7:26: checks[0].http.expect.json[0].equal: unknown field \"equal\", expected one \
          of: path, equals, not_equals, below, above, matches, exists, length"
        ]
    );
}

#[test]
fn a_broken_directory_reports_every_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "a-checks.yml",
        r#"defaults:
  every: 500ms
checks:
  - id: Web
    every: 10s
    timeout: 20s
    http:
      url: ftp://example.com/
      method: get
      headers: { "bad header": x }
      expect:
        body_matches: "(unclosed"
    alert: { failures: 0, recoveries: 0, flapping: { high: 120, low: 50 } }
  - id: both
    every: 1m
    cron: "*/5 * * * *"
    http: { url: http://127.0.0.1/ }
    tcp: { host: 127.0.0.1, port: 0 }
  - id: nothing
    timezone: Europe/Paris
  - id: feb31
    cron: "0 0 31 2 *"
    timezone: Mars/Olympus
    tcp: { host: 127.0.0.1, port: 22 }
"#,
    );
    write(d, "b-syntax.yml", "checks:\n  - id: a\n   x: [\n");
    write(
        d,
        "c-type.yml",
        "checks:\n  - id: web\n    tcp: { host: 127.0.0.1, port: 70000 }\n",
    );
    write(
        d,
        "d-good.yml",
        "checks:\n  - id: fine\n    tcp: { host: 127.0.0.1, port: 80 }\n",
    );
    write(d, "e-list.yml", "checks: { id: web }\n");

    let errors = errors_of(d, &no_env);
    let want = [
        "a-checks.yml:2:10: defaults.every: must be at least 1s (got 500ms)",
        "a-checks.yml:4:9: checks[0].id: \"Web\" contains 'W'; ids use only a-z, 0-9, '_', '.', '-'",
        "a-checks.yml:6:14: checks[0].timeout: 20s is longer than the interval (10s); a run must \
         end before the next one is due",
        "a-checks.yml:8:12: checks[0].http.url: unsupported URL scheme \"ftp\": expected http or \
         https (got \"ftp://example.com/\")",
        "a-checks.yml:9:15: checks[0].http.method: methods are case-sensitive: write \"GET\", not \
         \"get\"",
        "a-checks.yml:10:32: checks[0].http.headers.bad header: invalid header name \"bad header\"",
        "a-checks.yml:13:24: checks[0].alert.failures: must be at least 1",
        "a-checks.yml:13:39: checks[0].alert.recoveries: must be at least 1",
        "a-checks.yml:13:60: checks[0].alert.flapping.high: must be a percentage between 0 and \
         100 (got 120)",
        "a-checks.yml:14:5: checks[1]: several probes (http, tcp): give exactly one of http, tcp, tls, dns, icmp, command, log, process, disk, host_metrics, push",
        "a-checks.yml:16:11: checks[1].cron: \"every\" and \"cron\" cannot both be given: choose \
         one",
        "a-checks.yml:18:35: checks[1].tcp.port: must be between 1 and 65535 (got 0)",
        "a-checks.yml:19:5: checks[2]: no probe: give exactly one of http, tcp, tls, dns, icmp, command, log, process, disk, host_metrics, push",
        "a-checks.yml:20:15: checks[2].timezone: only applies to a cron schedule: add \"cron\" or \
         remove \"timezone\"",
        "a-checks.yml:22:11: checks[3].cron: cron expression \"0 0 31 2 *\" never fires",
        "a-checks.yml:23:15: checks[3].timezone: unknown time zone \"Mars/Olympus\" (expected an \
         IANA name such as Europe/Paris)",
        "b-syntax.yml:3:4: invalid YAML: while parsing a block collection, did not find expected \
         '-' indicator",
        "c-type.yml:3:35: checks[0].tcp.port: invalid value: integer `70000`, expected a whole \
         number from 0 to 65535",
        "e-list.yml:1:9: checks: expected a list",
    ];
    // The regex error comes from the assertion compiler: its wording is its own.
    let (regex, rest): (Vec<_>, Vec<_>) = errors
        .iter()
        .partition(|e| e.contains("checks[0].http.expect.body_matches"));
    assert_eq!(rest, want);
    assert_eq!(regex.len(), 1);
    assert!(regex[0].starts_with("a-checks.yml:12:23: checks[0].http.expect.body_matches: "));
    // Every error has a place.
    assert!(errors.iter().all(|e| !e.contains(":0:0:")));
}

#[test]
fn never_firing_cron_is_an_error() {
    assert_eq!(
        errors_in(
            "checks:\n  - id: x\n    cron: 0 0 31 2 *\n    tcp: { host: 127.0.0.1, port: 1 }\n"
        ),
        ["t.yml:3:11: checks[0].cron: cron expression \"0 0 31 2 *\" never fires"]
    );
}

#[test]
fn timeouts_against_intervals() {
    // A timeout from defaults that a check's own interval cannot hold.
    assert_eq!(
        errors_in(
            "defaults: { timeout: 30s }\nchecks:\n  - id: x\n    every: 10s\n    tcp: { host: \
             127.0.0.1, port: 1 }\n"
        ),
        [
            "t.yml:4:12: checks[0].every: the interval 10s is shorter than defaults.timeout (30s): \
          give this check a shorter timeout"
        ]
    );
    // Defaults that contradict each other are reported once, not for every check.
    assert_eq!(
        errors_in(
            "defaults: { every: 10s, timeout: 30s }\nchecks:\n  - id: x\n    tcp: { host: \
             127.0.0.1, port: 1 }\n  - id: y\n    tcp: { host: 127.0.0.1, port: 2 }\n"
        ),
        [
            "t.yml:1:34: defaults.timeout: 30s is longer than defaults.every (10s); a run must end \
          before the next one is due"
        ]
    );
    // Cron checks have no interval to compare with.
    assert_eq!(
        errors_in(
            "checks:\n  - id: x\n    cron: '* * * * *'\n    timeout: 5m\n    tcp: { host: \
             127.0.0.1, port: 1 }\n"
        ),
        Vec::<String>::new()
    );
}

#[test]
fn flapping_thresholds_are_checked_after_merging() {
    assert_eq!(
        errors_in(
            "defaults:\n  alert: { flapping: { low: 40 } }\nchecks:\n  - id: x\n    tcp: { host: \
             127.0.0.1, port: 1 }\n"
        ),
        ["t.yml:2:22: defaults.alert.flapping: low (40) must not be above high (30)"]
    );
    assert_eq!(
        errors_in(
            "defaults:\n  alert: { flapping: { low: 20 } }\nchecks:\n  - id: x\n    alert: { \
             flapping: { high: 10 } }\n    tcp: { host: 127.0.0.1, port: 1 }\n"
        ),
        [
            "t.yml:5:24: checks[0].alert.flapping: low (20) must not be above high (10) \
          (defaults.alert applied)"
        ]
    );
}

#[test]
fn duplicate_ids_name_both_places_and_the_first_wins() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "a.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:8080/ }\n",
    );
    write(
        d,
        "b.yml",
        "checks:\n  - id: db\n    tcp: { host: 127.0.0.1, port: 5432 }\n  - id: web\n    tcp: { \
         host: 127.0.0.1, port: 80 }\n  - id: db\n    tcp: { host: 127.0.0.1, port: 5433 }\n",
    );
    let mut set = ConfigSet::default();
    set.reload(d, &no_env);
    let errors: Vec<String> = set.all_errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "b.yml:4:9: checks[1].id: duplicate check id \"web\" (first defined at a.yml:2:9)",
            "b.yml:6:9: checks[2].id: duplicate check id \"db\" (first defined at b.yml:2:9)",
        ]
    );
    let cat = set.catalog();
    assert_eq!(cat.checks.len(), 2);
    assert_eq!(&*cat.check("web").unwrap().origin.file, "a.yml");
    let ProbeSpec::Tcp(db) = &cat.check("db").unwrap().probe else {
        panic!()
    };
    assert_eq!(db.port, 5432);
}

#[test]
fn reload_keeps_the_last_good_version_and_drops_removed_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "web.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:8080/ }\n",
    );
    write(
        d,
        "db.yml",
        "checks:\n  - id: db\n    tcp: { host: 127.0.0.1, port: 5432 }\n",
    );
    let mut set = ConfigSet::default();
    set.reload(d, &no_env);
    assert!(set.all_errors().is_empty());
    assert_eq!(set.catalog().checks.len(), 2);

    // web.yml breaks: its last good version stays in force and its error is reported.
    write(
        d,
        "web.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:9090/ }\n    bad: 1\n",
    );
    set.reload(d, &no_env);
    let errors: Vec<String> = set.all_errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "web.yml:4:5: checks[0].bad: unknown field \"bad\", expected one of: id, name, tags, host, \
          tenant, public, every, cron, timezone, timeout, http, tcp, tls, dns, icmp, command, log, process, disk, \
          host_metrics, push, alert, depends_on"
        ]
    );
    let cat = set.catalog();
    let ProbeSpec::Http(http) = &cat.check("web").unwrap().probe else {
        panic!()
    };
    assert_eq!(
        http.url.value, "http://127.0.0.1:8080/",
        "the last good version"
    );

    // db.yml is removed: its checks go.
    std::fs::remove_file(d.join("db.yml")).unwrap();
    set.reload(d, &no_env);
    assert!(set.catalog().check("db").is_none());
    assert_eq!(set.all_errors().len(), 1);

    // web.yml is fixed: its errors clear and the new version is in force.
    write(
        d,
        "web.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:9090/ }\n",
    );
    set.reload(d, &no_env);
    assert!(set.all_errors().is_empty());
    let cat = set.catalog();
    let ProbeSpec::Http(http) = &cat.check("web").unwrap().probe else {
        panic!()
    };
    assert_eq!(http.url.value, "http://127.0.0.1:9090/");

    // A broken file that never had a good version contributes nothing but its errors.
    write(d, "new.yml", "checks: [");
    set.reload(d, &no_env);
    assert_eq!(set.catalog().checks.len(), 1);
    assert_eq!(set.all_errors()[0].file, "new.yml");

    // A broken file that is removed takes its errors with it.
    std::fs::remove_file(d.join("new.yml")).unwrap();
    set.reload(d, &no_env);
    assert!(set.all_errors().is_empty());

    // Cross-file errors are recomputed: a duplicate appears, then goes.
    write(
        d,
        "dup.yml",
        "checks:\n  - id: web\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    set.reload(d, &no_env);
    assert_eq!(set.all_errors().len(), 1);
    std::fs::remove_file(d.join("dup.yml")).unwrap();
    set.reload(d, &no_env);
    assert!(set.all_errors().is_empty());

    // A configuration directory that disappears keeps everything in force and says so.
    let gone = d.join("gone");
    std::fs::create_dir(&gone).unwrap();
    write(
        &gone,
        "x.yml",
        "checks:\n  - id: x\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    let mut set = ConfigSet::default();
    set.reload(&gone, &no_env);
    std::fs::remove_dir_all(&gone).unwrap();
    set.reload(&gone, &no_env);
    set.reload(&gone, &no_env);
    assert_eq!(set.catalog().checks.len(), 1);
    let errors = set.all_errors();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .starts_with("cannot read the configuration: "),
        "{}",
        errors[0]
    );
}

#[test]
fn contacts_groups_and_maintenances() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "checks.yml",
        "checks:\n  - id: web\n    tags: [prod]\n    http: { url: http://127.0.0.1:8080/ }\n  - id: \
         db\n    tcp: { host: db.example.com, port: 5432 }\n",
    );
    write(
        d,
        "people.yml",
        r#"contacts:
  - id: ops-mail
    name: Operations
    type: email
    to: ops@example.com
  - id: ops-slack
    type: slack
    url: https://hooks.example.com/services/T000/B000/XXXX
  - id: pager
    type: pagerduty
    settings: { routing_key: abc123, severity: critical }
groups:
  - id: shop
    name: Shop
    checks: [web, db]
    contacts: [ops-mail, ops-slack]
maintenances:
  - id: upgrade
    note: database upgrade
    start: 2026-05-01T22:00:00Z
    end: 2h
    scope: { checks: [db] }
  - id: nightly-backup
    recurring: { cron: "0 3 * * *", duration: 30m, timezone: Europe/Paris }
    scope: { groups: [shop], tags: [prod], hosts: [db.example.com] }
  - id: now
    start: now
    end: 45m
    scope: { all: true }
"#,
    );
    let cat = validate_dir(d, &no_env).unwrap();
    assert_eq!(
        cat.contacts
            .iter()
            .map(|c| c.id.as_str())
            .collect::<Vec<_>>(),
        ["ops-mail", "ops-slack", "pager"]
    );
    let mail = cat.contact("ops-mail").unwrap();
    assert_eq!(
        (mail.kind, mail.name.as_str(), mail.to.as_deref()),
        (ContactKind::Email, "Operations", Some("ops@example.com"))
    );
    let slack = cat.contact("ops-slack").unwrap();
    assert!(
        !format!("{slack:?}").contains("XXXX"),
        "webhook URLs are secret"
    );
    let pager = cat.contact("pager").unwrap();
    assert_eq!(pager.settings.get_str("routing_key"), Some("abc123"));
    assert!(
        !format!("{pager:?}").contains("abc123"),
        "settings are secret"
    );

    let shop = cat.group("shop").unwrap();
    assert_eq!(
        shop.checks.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["web", "db"]
    );
    assert_eq!(cat.groups_of(&cat.check("db").unwrap().id), ["shop"]);

    let upgrade = cat.maintenance("upgrade").unwrap();
    let MaintenanceWindow::Once { start, end } = &upgrade.window else {
        panic!()
    };
    assert_eq!(start.unwrap().to_string(), "2026-05-01T22:00:00Z");
    assert_eq!(
        *end,
        WindowEnd::At("2026-05-02T00:00:00Z".parse().unwrap()),
        "2h after start"
    );
    let now = cat.maintenance("now").unwrap();
    assert!(
        matches!(now.window, MaintenanceWindow::Once { start: None, end: WindowEnd::After(d) } if d == Duration::from_secs(2700))
    );
    let backup = cat.maintenance("nightly-backup").unwrap();
    let db = cat.check("db").unwrap();
    let web = cat.check("web").unwrap();
    assert!(backup.scope.covers(db, &cat.groups_of(&db.id)));
    assert!(cat.maintenance("upgrade").unwrap().scope.covers(db, &[]));
    assert!(!cat.maintenance("upgrade").unwrap().scope.covers(web, &[]));
}

#[test]
fn contact_group_and_maintenance_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "checks.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:8080/ }\n",
    );
    write(
        d,
        "people.yml",
        r#"contacts:
  - id: mail
    type: email
  - id: bad-mail
    type: email
    to: not-an-address
  - id: hook
    type: webhook
    url: ftp://example.com/x
  - id: pager
    type: pagerduty
    to: ops@example.com
    url: https://events.example.com/
  - id: Bad
    type: slack
    url: https://hooks.example.com/x
groups:
  - id: shop
    checks: [web, missing-check]
    contacts: [mail, missing-contact]
  - id: bad-refs
    checks: ["Not An Id"]
maintenances:
  - id: m1
    start: tomorrow
    end: 2h
    scope: {}
  - id: m2
    start: 2026-05-01T22:00:00Z
    end: 2026-05-01T21:00:00Z
    scope: { checks: [ghost], groups: [phantom] }
  - id: m3
    start: now
    scope: { all: true }
  - id: m4
    start: now
    end: 1h
    recurring: { cron: "0 3 * * *", duration: 30m }
    scope: { all: true }
  - id: m5
    recurring: { cron: "0 0 31 2 *", duration: 0s, timezone: Nowhere/Land }
    scope: { tags: [prod] }
  - id: m6
    start: now
    end: soon
    scope: { hosts: [db.example.com] }
"#,
    );
    // people.yml fails on its own rules; its references are checked once it is good.
    assert_eq!(
        errors_of(d, &no_env),
        [
            "people.yml:2:5: contacts[0].to: missing field \"to\": email contacts need an address",
            "people.yml:6:9: contacts[1].to: invalid email address \"not-an-address\" (expected \
             e.g. ops@example.com)",
            "people.yml:9:10: contacts[2].url: unsupported URL scheme \"ftp\": expected http or \
             https",
            "people.yml:12:9: contacts[3].to: only email contacts take \"to\"; put what pagerduty \
             needs under \"settings\"",
            "people.yml:14:9: contacts[4].id: \"Bad\" contains 'B'; ids use only a-z, 0-9, '_', \
             '.', '-'",
            "people.yml:22:14: groups[1].checks[0]: invalid check id: \"Not An Id\" contains 'N'; \
             ids use only a-z, 0-9, '_', '.', '-'",
            "people.yml:25:12: maintenances[0].start: invalid start \"tomorrow\": expected \"now\" \
             or an RFC 3339 time such as 2026-05-01T22:00:00Z",
            "people.yml:27:12: maintenances[0].scope: covers nothing: give all: true, or at least \
             one of checks, groups, tags, hosts",
            "people.yml:30:10: maintenances[1].end: end 2026-05-01T21:00:00Z is not after start \
             2026-05-01T22:00:00Z",
            "people.yml:32:5: maintenances[2].end: missing field \"end\": a maintenance needs \
             \"start\" and \"end\", or \"recurring\"",
            "people.yml:38:16: maintenances[3].recurring: \"recurring\" cannot be combined with \
             \"start\" and \"end\": choose one",
            "people.yml:41:24: maintenances[4].recurring.cron: cron expression \"0 0 31 2 *\" never \
             fires",
            "people.yml:41:48: maintenances[4].recurring.duration: must be more than 0s",
            "people.yml:41:62: maintenances[4].recurring.timezone: unknown time zone \
             \"Nowhere/Land\" (expected an IANA name such as Europe/Paris)",
            "people.yml:45:10: maintenances[5].end: invalid end \"soon\": expected an RFC 3339 time \
             such as 2026-05-02T02:00:00Z or a duration after start such as 2h",
        ]
    );

    // Dangling references name the missing id and where it was referenced.
    write(
        d,
        "people.yml",
        r#"contacts:
  - id: mail
    type: email
    to: ops@example.com
groups:
  - id: shop
    checks: [web, missing-check]
    contacts: [mail, missing-contact]
maintenances:
  - id: m2
    start: 2026-05-01T22:00:00Z
    end: 2026-05-01T23:00:00Z
    scope: { checks: [ghost], groups: [shop, phantom] }
"#,
    );
    let mut set = ConfigSet::default();
    set.reload(d, &no_env);
    let errors: Vec<String> = set.all_errors().iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "people.yml:7:19: groups[0].checks[1]: unknown check \"missing-check\": no check has \
             this id",
            "people.yml:8:22: groups[0].contacts[1]: unknown contact \"missing-contact\": no \
             contact or contact group has this id",
            "people.yml:13:23: maintenances[0].scope.checks[0]: unknown check \"ghost\": no check \
             has this id",
            "people.yml:13:46: maintenances[0].scope.groups[1]: unknown group \"phantom\": no group \
             has this id",
        ]
    );
    // The catalog leaves dangling references out (a scope never widens because of them).
    let cat = set.catalog();
    let shop = cat.group("shop").unwrap();
    assert_eq!(
        shop.checks.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["web"]
    );
    assert_eq!(shop.contacts, ["mail"]);
    let m2 = cat.maintenance("m2").unwrap();
    assert!(m2.scope.checks.is_empty());
    assert_eq!(m2.scope.groups, ["shop"]);
    assert!(!m2.scope.all);

    // A contact type that does not exist lists the ones that do.
    assert_eq!(
        errors_in("contacts:\n  - id: x\n    type: sms\n"),
        [
            "t.yml:3:11: contacts[0].type: unknown value \"sms\", expected one of: email, webhook, \
          slack, mattermost, teams, discord, telegram, pagerduty, opsgenie, twilio, datadog, \
          cloudwatch, eventbridge, ntfy, gotify, pushover"
        ]
    );
}

#[test]
fn the_examples_load_without_errors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    for example in ["quickstart", "reference"] {
        let env = |k: &str| (k == "TOCSIN_EXAMPLE_TOKEN").then(|| "example-token".to_owned());
        let cat = match validate_dir(&root.join(example), &env) {
            Ok(cat) => cat,
            Err(errors) => {
                let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
                panic!("examples/{example}:\n{}", shown.join("\n"));
            }
        };
        assert!(!cat.checks.is_empty(), "{example}");
        // Examples only talk to this machine or to example.com.
        for c in &cat.checks {
            let host = c.probe.target_host().unwrap_or_default();
            assert!(
                // Local kinds (command, log, disk, …) target no host.
                host.is_empty()
                    || host == "127.0.0.1"
                    || host == "localhost"
                    || host.ends_with("example.com"),
                "{example}: {} targets {host}",
                c.id
            );
        }
    }
}

#[test]
fn contact_urls_required_optional_or_refused() {
    // Email takes none; webhook-like kinds need one; API kinds may replace their endpoint.
    assert_eq!(
        errors_in(
            "contacts:\n  - id: m\n    type: email\n    to: a@example.com\n    url: https://x.example/\n  - id: h\n    type: teams\n  - id: p\n    type: pagerduty\n    url: http://127.0.0.1:9/v2/enqueue\n  - id: s\n    type: slack\n"
        ),
        [
            "t.yml:5:10: contacts[0].url: email contacts take no \"url\"; put what they need \
             under \"settings\"",
            "t.yml:6:5: contacts[1].url: missing field \"url\": teams contacts need a URL",
        ]
    );
}

#[test]
fn contact_groups_expand_and_self_is_defined_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "a.yml",
        "contacts:\n  - { id: alice, type: email, to: alice@example.com }\n  - { id: bob, type: webhook, url: \"http://127.0.0.1:9/\" }\ncontact_groups:\n  - { id: oncall, contacts: [alice, bob] }\nchecks:\n  - id: web\n    http: { url: \"http://127.0.0.1:9/\" }\n    alert: { notify: [oncall, alice] }\nself:\n  notify: [oncall]\n",
    );
    let catalog = validate_dir(d, &no_env).unwrap();
    assert_eq!(catalog.self_notify, ["oncall"]);
    let web = catalog.check("web").unwrap();
    assert_eq!(
        catalog.expand_contacts(&web.alert.notify),
        ["alice", "bob"],
        "groups expand in place, duplicates dropped"
    );
    write(
        d,
        "b.yml",
        "contact_groups:\n  - { id: alice, contacts: [bob] }\n  - { id: nested, contacts: [oncall] }\n  - { id: empty, contacts: [] }\nself:\n  notify: [ghost]\n",
    );
    assert_eq!(
        errors_of(d, &no_env),
        ["b.yml:4:5: contact_groups[2].contacts: a contact group needs at least one contact",]
    );
    write(
        d,
        "b.yml",
        "contact_groups:\n  - { id: alice, contacts: [bob] }\n  - { id: nested, contacts: [oncall] }\nself:\n  notify: [ghost]\n",
    );
    assert_eq!(
        errors_of(d, &no_env),
        [
            "b.yml:2:11: contact_groups[0].id: duplicate contact id \"alice\" (first defined at \
             a.yml:2:11)",
            "b.yml:3:30: contact_groups[1].contacts[0]: \"oncall\" is a contact group: contact \
             groups list contacts, not other groups",
            "b.yml:5:3: self: \"self\" is already defined at a.yml:11:3: define it once",
            "b.yml:5:12: self.notify[0]: unknown contact \"ghost\": no contact or contact group \
             has this id",
        ]
    );
}

#[test]
fn rate_limits_default_by_provider_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        "contacts:\n  - { id: s, type: slack, url: \"http://127.0.0.1:9/\" }\n  - { id: h, type: webhook, url: \"http://127.0.0.1:9/\", rate_limit: 10/min }\n  - { id: m, type: email, to: a@example.com }\n",
    );
    let c = validate_dir(dir.path(), &no_env).unwrap();
    let limit = |id: &str| c.contact(id).unwrap().rate_limit.map(|l| l.to_string());
    assert_eq!(limit("s").as_deref(), Some("1/s"));
    assert_eq!(limit("h").as_deref(), Some("10/min"));
    assert_eq!(limit("m"), None);
    assert_eq!(
        errors_in(
            "contacts:\n  - { id: h, type: webhook, url: \"http://x/\", rate_limit: 3/day }\n"
        ),
        [
            "t.yml:2:59: contacts[0].rate_limit: invalid rate limit \"3/day\": expected N/s, N/min or \
          N/h, e.g. 30/min"
        ]
    );
}

#[test]
fn weekly_maintenance_windows_run_past_midnight_in_their_zone() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "m.yml",
        "maintenances:\n  - id: nightly\n    recurring: { days: [mon, Friday], from: \"22:00\", to: \"01:30\", timezone: Europe/Paris }\n    scope: { all: true }\n",
    );
    let c = validate_dir(dir.path(), &no_env).unwrap();
    let w = &c.maintenance("nightly").unwrap().window;
    // Paris is UTC+1 in January 2027; Friday 2027-01-08.
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    let first = at("2027-01-01T00:00:00Z");
    for (t, want) in [
        ("2027-01-08T21:30:00Z", true),  // Fri 22:30 Paris
        ("2027-01-09T00:15:00Z", true),  // Sat 01:15 Paris, Friday's window
        ("2027-01-09T00:45:00Z", false), // Sat 01:45 Paris
        ("2027-01-05T21:30:00Z", false), // Tue 22:30 Paris
        ("2027-01-04T20:59:00Z", false), // Mon 21:59 Paris
        ("2027-01-04T21:00:00Z", true),  // Mon 22:00 Paris
    ] {
        assert_eq!(w.is_active(at(t), first), want, "{t}");
    }
    assert_eq!(
        errors_in(
            "maintenances:\n  - id: a\n    recurring: { days: [mon, someday], from: \"25:00\", to: \"1:30\" }\n    scope: { all: true }\n  - id: b\n    recurring: { cron: \"0 3 * * *\", duration: 1h, days: [sun], from: \"01:00\", to: \"02:00\" }\n    scope: { all: true }\n  - id: c\n    recurring: { days: [sun], from: \"01:00\" }\n    scope: { all: true }\n"
        ),
        [
            "t.yml:3:30: maintenances[0].recurring.days[1]: \"someday\" is not a weekday: expected \
             mon, tue, wed, thu, fri, sat or sun",
            "t.yml:3:46: maintenances[0].recurring.from: \"25:00\" is not a time of day: expected \
             HH:MM, e.g. 22:00",
            "t.yml:5:5: maintenances[1].recurring: give cron and duration, or days, from and to: \
             not both",
            "t.yml:8:5: maintenances[2].recurring.to: missing: give a time, e.g. 22:00",
        ]
    );
}
