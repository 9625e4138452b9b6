//! Configuration errors of the `command` kind, placed in their files.

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::command::{MatchType, Protocol, Run, Stream};

use crate::common::{assert_error, errors, load};

fn command(text: &str) -> tocsin_core::kinds::CommandSpec {
    let checks = load(text);
    match &checks[0].probe {
        ProbeSpec::Command(c) => (**c).clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn command_checks_of_each_protocol_load() {
    let c = command(
        "checks:\n  - id: load\n    command: { protocol: nagios, run: [/usr/lib/nagios/plugins/check_load, -w, \"1,1,1\", -c, 2.50] }\n",
    );
    assert_eq!(c.protocol, Protocol::Nagios);
    assert_eq!(
        c.run,
        Run::Args(
            [
                "/usr/lib/nagios/plugins/check_load",
                "-w",
                "1,1,1",
                "-c",
                "2.50"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(c.max_output.0, 64 << 10);

    let c = command(
        "checks:\n  - id: promise\n    command:\n      protocol: promise\n      run: \"/srv/promise/check-port 8080 | tee /tmp/x\"\n      shell: true\n      env: { PORT: \"8080\" }\n      inherit_env: [HOME]\n      cwd: /srv\n      max_output: 1MiB\n",
    );
    assert_eq!(c.protocol, Protocol::Promise);
    assert!(c.shell);
    assert_eq!(c.env["PORT"].expose(), "8080");
    assert_eq!(c.max_output.0, 1 << 20);

    let c = command(
        "checks:\n  - id: backup\n    command:\n      protocol: exit\n      run: [/usr/local/bin/backup-status]\n      ignore_exit_status: true\n      match:\n        - { pattern: ERROR, type: substring }\n        - { stream: stderr, pattern: 'warn(ing)?', flags: i, match_word: true, status: warning }\n        - { pattern: '^done$', flags: m, invert: true }\n",
    );
    assert_eq!(c.protocol, Protocol::Exit);
    assert_eq!(c.matches.len(), 3);
    assert_eq!(c.matches[0].kind, MatchType::Substring);
    assert_eq!(c.matches[1].stream, Stream::Stderr);
    assert!(c.matches[2].invert);

    // A command check has no target host: the host label is the check's own.
    let checks = load("checks:\n  - id: a\n    host: db1\n    command: { run: [true] }\n");
    assert_eq!(checks[0].host.as_deref(), Some("db1"));
    let checks = load("checks:\n  - id: a\n    command: { run: [true] }\n");
    assert_eq!(checks[0].host, None);
}

#[test]
fn environment_values_are_never_shown() {
    let checks = load(
        "checks:\n  - id: a\n    command: { run: [check_pgsql], env: { PGPASSWORD: hunter2 } }\n",
    );
    let shown = serde_json::to_string(&checks[0]).unwrap();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!format!("{:?}", checks[0]).contains("hunter2"));
}

#[test]
fn bad_run_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    command: { run: \"check_load -w 1\" }\n",
        "t.yml:3:21: checks[0].command.run",
        "write the command as a list ([program, arg, …]) or add shell: true",
    );
    assert_error(
        "checks:\n  - id: a\n    command: { run: [echo, hi], shell: true }\n",
        "t.yml:3:21: checks[0].command.run",
        "one string of shell text",
    );
    assert_error(
        "checks:\n  - id: a\n    command: { run: [] }\n",
        "t.yml:3:21: checks[0].command.run",
        "must name a program",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [\"\", x]\n",
        "t.yml:4:13: checks[0].command.run[0]",
        "the program must not be empty",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run:\n        - plugins/check_x\n",
        "t.yml:5:11: checks[0].command.run[0]",
        "relative path",
    );
    assert_error(
        "checks:\n  - id: a\n    command: { run: 5 }\n",
        "t.yml:3",
        "a list of arguments",
    );
    assert_error(
        "checks:\n  - id: a\n    command: { shell: true }\n",
        "t.yml:3",
        "run",
    );
}

#[test]
fn bad_environment_and_places_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      env:\n        \"A=B\": c\n",
        "t.yml:6:16: checks[0].command.env.A=B",
        "must not contain '='",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      inherit_env: [HOME, \"\"]\n",
        "t.yml:5:27: checks[0].command.inherit_env[1]",
        "must not be empty",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      cwd: relative/dir\n",
        "t.yml:5:12: checks[0].command.cwd",
        "must be an absolute path",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      max_output: 0\n",
        "t.yml:5:19: checks[0].command.max_output",
        "between 1 byte and 16MiB",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      max_output: lots\n",
        "t.yml:5",
        "invalid size",
    );
}

#[test]
fn bad_protocol_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    command: { protocol: icinga, run: [x] }\n",
        "t.yml:3",
        "icinga",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      run: [x]\n      ignore_exit_status: true\n",
        "t.yml:5:27: checks[0].command.ignore_exit_status",
        "only protocol: exit uses it",
    );
    assert_error(
        "checks:\n  - id: a\n    command:\n      protocol: promise\n      run: [x]\n      match: [{ pattern: x }]\n",
        "t.yml:6:14: checks[0].command.match",
        "match rules apply only to protocol: exit (this check has protocol: promise)",
    );
    assert_error(
        "checks:\n  - id: a\n    command: { run: [x], timeout: 5s }\n",
        "t.yml:3",
        "timeout",
    );
}

#[test]
fn bad_match_rules_are_placed() {
    let file = |rule: &str| {
        format!(
            "checks:\n  - id: a\n    command:\n      protocol: exit\n      run: [x]\n      match:\n        - {rule}\n"
        )
    };
    assert_error(
        &file("{ pattern: 'disk (full' }"),
        "t.yml:7:22: checks[0].command.match[0].pattern",
        "invalid regular expression: unclosed group",
    );
    assert_error(
        &file("{ pattern: '' }"),
        "t.yml:7:22: checks[0].command.match[0].pattern",
        "must not be empty",
    );
    assert_error(
        &file("{ pattern: x, flags: gi }"),
        "t.yml:7:32: checks[0].command.match[0].flags",
        "unknown flag 'g'",
    );
    assert_error(
        &file("{ pattern: x, status: ok }"),
        "t.yml:7:33: checks[0].command.match[0].status",
        "must be warning, critical or unknown",
    );
    assert_error(&file("{ pattern: x, stream: both }"), "t.yml:7", "both");
    assert_error(&file("{ pattern: x, type: glob }"), "t.yml:7", "glob");
    assert_error(&file("{ pattern: x, regex: y }"), "t.yml:7", "regex");
    // Several problems are all reported.
    let e = errors(&file("{ pattern: '(', flags: x, status: ok }"));
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].contains("match[0].flags"), "{e:#?}");
    assert!(e[1].contains("match[0].status"), "{e:#?}");
}
