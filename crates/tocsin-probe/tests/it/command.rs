//! The `command` probe against real programs: Debian's `monitoring-plugins` (check_tcp and
//! check_http against the testkit's servers, check_disk, check_load, check_procs, check_dummy),
//! SlapOS-style promises, Amon-style match rules, and the process handling itself (process group
//! killed at the timeout, output cap, environment, working directory, no overlapping runs).
//!
//! The plugins come from `apt-get install monitoring-plugins`. Without them these tests are
//! skipped locally and fail under CI (`CI` set), where `.ci/run` installs them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tocsin_core::kinds::CommandSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};
use tocsin_probe::RunContext;
use tocsin_testkit::{HttpServer, TcpServer, refused_addr};

use crate::common::{env, metric, run};

const PLUGINS: &str = "/usr/lib/nagios/plugins";
const T: Duration = Duration::from_secs(10);
/// What the machine may add to a run's expected length (two cores shared with builds).
const SLACK: Duration = Duration::from_millis(1500);

/// The path of a monitoring plugin; `None` (skip) when it is missing outside CI.
fn plugin(name: &str) -> Option<String> {
    let path = format!("{PLUGINS}/{name}");
    if Path::new(&path).exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{path} is missing: install Debian's monitoring-plugins (apt-get install monitoring-plugins)"
    );
    eprintln!("skipped: {path} is missing (apt-get install monitoring-plugins)");
    None
}

fn command(yaml: &str) -> ProbeSpec {
    let spec: CommandSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    let errors = spec.validate();
    assert!(errors.is_empty(), "{yaml}\n{errors:?}");
    ProbeSpec::Command(Box::new(spec))
}

/// A nagios check of `argv` (YAML flow list items).
fn nagios(argv: &[&str]) -> ProbeSpec {
    let items: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    command(&format!("{{ run: [{}] }}", items.join(", ")))
}

fn unit(r: &CheckResult, name: &str) -> Option<String> {
    r.metrics
        .iter()
        .find(|m| m.name == name)
        .map(|m| m.unit.clone())
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
    }
}

/// Waits (polling: nothing to await for a process that is not our child) until `pid` is dead.
async fn assert_dies(pid: u32, what: &str) {
    let until = Instant::now() + Duration::from_secs(3);
    while !dead(pid) {
        assert!(
            Instant::now() < until,
            "{what} (pid {pid}) is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads a pid a shell wrote to `file`.
fn read_pid(file: &Path) -> u32 {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn kill(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

fn write_script(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// Nagios plugins.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn check_dummy_exit_codes_are_the_statuses() {
    let Some(dummy) = plugin("check_dummy") else {
        return;
    };
    for (code, status, text) in [
        ("0", Status::Ok, "OK: all good"),
        ("1", Status::Warning, "WARNING: all good"),
        ("2", Status::Critical, "CRITICAL: all good"),
        ("3", Status::Unknown, "UNKNOWN: all good"),
    ] {
        let (r, _) = run(&nagios(&[&dummy, code, "all good"]), T).await;
        assert_eq!((r.status, r.message.as_str()), (status, text), "{r:?}");
        assert_eq!(metric(&r, "exit_code"), Some(code.parse().unwrap()));
        assert!(metric(&r, "response_time").is_some());
        assert!(r.timings.total_us > 0);
    }
}

#[tokio::test]
async fn check_tcp_against_a_local_listener() {
    let Some(check_tcp) = plugin("check_tcp") else {
        return;
    };
    let server = TcpServer::stall().await.unwrap();
    let port = server.port().to_string();
    let (r, _) = run(&nagios(&[&check_tcp, "-H", "127.0.0.1", "-p", &port]), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("TCP OK"), "{}", r.message);
    assert!(r.message.contains(&format!("port {port}")), "{}", r.message);
    assert!(metric(&r, "time").is_some_and(|t| t >= 0.0), "{r:?}");
    assert_eq!(unit(&r, "time").as_deref(), Some("s"));
    assert_eq!(r.extracted["perfdata"]["time"]["min"], 0.0);

    let refused = refused_addr().unwrap().port().to_string();
    let (r, _) = run(&nagios(&[&check_tcp, "-H", "127.0.0.1", "-p", &refused]), T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.contains("Connection refused"), "{}", r.message);
}

#[tokio::test]
async fn check_http_against_the_testkit_server() {
    let Some(check_http) = plugin("check_http") else {
        return;
    };
    let server = HttpServer::start().await.unwrap();
    let port = server.port().to_string();
    let http = |path: &str, extra: &[&str]| {
        let mut argv = vec![check_http.as_str(), "-H", "127.0.0.1", "-p", &port, "-u"];
        argv.push(path);
        argv.extend_from_slice(extra);
        nagios(&argv)
    };
    let (r, _) = run(&http("/ok", &["-s", "ok"]), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("HTTP OK: HTTP/1."), "{}", r.message);
    assert!(r.message.contains("200 OK"), "{}", r.message);
    assert!(metric(&r, "time").is_some());
    assert_eq!(metric(&r, "size").map(|s| s > 0.0), Some(true));
    assert_eq!(unit(&r, "size").as_deref(), Some("B"));
    assert_eq!(
        server.last_request().map(|q| q.path),
        Some("/ok".to_owned())
    );

    let (r, _) = run(&http("/status/503", &[]), T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.starts_with("HTTP CRITICAL"), "{}", r.message);
    assert!(r.message.contains("503"), "{}", r.message);

    let (r, _) = run(&http("/ok", &["-s", "absent-text"]), T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.contains("absent-text"), "{}", r.message);
}

#[tokio::test]
async fn check_disk_reports_the_root_file_system() {
    let Some(check_disk) = plugin("check_disk") else {
        return;
    };
    let (r, _) = run(
        &nagios(&[&check_disk, "-w", "0%", "-c", "0%", "-p", "/"]),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("DISK OK"), "{}", r.message);
    // The label "/" leaves no name: the metric is perf_1, the label is kept in `extracted`.
    assert!(metric(&r, "perf_1").is_some_and(|b| b > 0.0), "{r:?}");
    assert_eq!(unit(&r, "perf_1").as_deref(), Some("B"));
    assert_eq!(r.extracted["perfdata"]["perf_1"]["label"], "/");
    assert!(r.extracted["perfdata"]["perf_1"]["max"].as_f64() > Some(0.0));

    let (r, _) = run(
        &nagios(&[&check_disk, "-w", "100%", "-c", "100%", "-p", "/"]),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.starts_with("DISK CRITICAL"), "{}", r.message);

    let (r, _) = run(
        &nagios(&[
            &check_disk,
            "-w",
            "10%",
            "-c",
            "5%",
            "-p",
            "/nonexistent-tocsin",
        ]),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.contains("/nonexistent-tocsin"), "{}", r.message);
}

#[tokio::test]
async fn check_load_gives_three_metrics_with_thresholds() {
    let Some(check_load) = plugin("check_load") else {
        return;
    };
    let (r, _) = run(
        &nagios(&[&check_load, "-w", "1000,1000,1000", "-c", "2000,2000,2000"]),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("LOAD OK"), "{}", r.message);
    for name in ["load1", "load5", "load15"] {
        assert!(metric(&r, name).is_some_and(|l| l >= 0.0), "{name}: {r:?}");
        assert_eq!(
            r.extracted["perfdata"][name],
            serde_json::json!({"warn": "1000", "crit": "2000", "min": 0.0}),
            "{name}"
        );
    }
    // A usage error is the plugin's UNKNOWN.
    let (r, _) = run(&nagios(&[&check_load, "--no-such-option"]), T).await;
    assert_eq!(r.status, Status::Unknown, "{r:?}");
}

#[tokio::test]
async fn check_procs_counts_processes() {
    let Some(check_procs) = plugin("check_procs") else {
        return;
    };
    let (r, _) = run(
        &nagios(&[&check_procs, "-w", ":100000", "-c", ":200000"]),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("PROCS OK"), "{}", r.message);
    assert!(metric(&r, "procs").is_some_and(|n| n >= 1.0), "{r:?}");
    assert_eq!(r.extracted["perfdata"]["procs"]["warn"], "100000");

    let (r, _) = run(&nagios(&[&check_procs, "-c", "0"]), T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(r.message.starts_with("PROCS CRITICAL"), "{}", r.message);
}

#[tokio::test]
async fn a_missing_plugin_is_an_unknown_result() {
    let (r, _) = run(&nagios(&["/usr/lib/nagios/plugins/check_tocsin_nope"]), T).await;
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert_eq!(
        r.message,
        "cannot run /usr/lib/nagios/plugins/check_tocsin_nope: no such file"
    );
    let (r, _) = run(&nagios(&["check_tocsin_nope"]), T).await;
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert!(
        r.message
            .starts_with("cannot run check_tocsin_nope: not found in PATH (/usr/local/sbin:"),
        "{}",
        r.message
    );
    // Through a shell, the shell's 127 says the same.
    let (r, _) = run(
        &command("{ run: 'check_tocsin_nope -w 1', shell: true }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Unknown, "{r:?}");
    assert!(
        r.message
            .starts_with("exit status 127 is not a plugin status"),
        "{}",
        r.message
    );
    assert!(r.message.contains("not found"), "{}", r.message);
}

#[tokio::test]
async fn programs_that_cannot_start_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let not_executable = write_script(dir.path(), "plain", "#!/bin/sh\necho hi\n", 0o644);
    let no_shebang = write_script(dir.path(), "noshebang", "echo hi\n", 0o755);
    let bad_interpreter = write_script(dir.path(), "badinterp", "#!/no/such/sh\necho hi\n", 0o755);
    for (path, words) in [
        (&not_executable, "permission denied (is it executable?)"),
        (
            &no_shebang,
            "not an executable format (a script needs a #! line)",
        ),
        (
            &bad_interpreter,
            "its interpreter (the #! line) was not found",
        ),
    ] {
        let p = path.display().to_string();
        let (r, _) = run(&nagios(&[&p]), T).await;
        assert_eq!(r.status, Status::Unknown, "{r:?}");
        assert_eq!(r.message, format!("cannot run {p}: {words}"));
        let (r, _) = run(&command(&format!("{{ protocol: exit, run: [{p:?}] }}")), T).await;
        assert_eq!(r.status, Status::Critical, "{r:?}");
    }
    let (r, _) = run(
        &command("{ protocol: exit, run: [/bin/true], cwd: /nonexistent-tocsin-dir }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(
        r.message,
        "working directory /nonexistent-tocsin-dir: does not exist"
    );
}

// ---------------------------------------------------------------------------------------------
// The process group, the timeout and the output.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("grandchild.pid");
    // The shell starts a sleeping grandchild and waits for it.
    let spec = command(&format!(
        "{{ run: 'echo started; sleep 30 & echo $! > {}; wait', shell: true }}",
        pid_file.display()
    ));
    let timeout = Duration::from_millis(800);
    let (r, took) = run(&spec, timeout).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(
        r.message,
        "timed out after 800ms: killed the command and its whole process group (stdout so far: \"started\")"
    );
    assert!(took >= timeout && took < timeout + SLACK, "took {took:?}");
    assert_dies(read_pid(&pid_file), "the sleeping grandchild").await;
}

#[tokio::test]
async fn a_timeout_is_critical_for_every_protocol() {
    for protocol in ["nagios", "promise", "exit"] {
        let spec = command(&format!("{{ protocol: {protocol}, run: [sleep, '5'] }}"));
        let (r, took) = run(&spec, Duration::from_millis(300)).await;
        assert_eq!(r.status, Status::Critical, "{protocol}: {r:?}");
        assert!(
            r.message.starts_with("timed out after 300ms"),
            "{}",
            r.message
        );
        assert!(took < Duration::from_millis(300) + SLACK, "took {took:?}");
    }
}

#[tokio::test]
async fn what_a_command_leaves_behind_is_killed_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("left.pid");
    // The background sleep keeps stdout open; the run must not wait for it.
    let spec = command(&format!(
        "{{ protocol: exit, run: 'sleep 30 & echo $! > {}; echo done', shell: true }}",
        pid_file.display()
    ));
    let (r, took) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.ends_with(": done"), "{}", r.message);
    assert!(took < SLACK, "took {took:?}");
    assert_dies(read_pid(&pid_file), "the background sleep").await;
}

#[tokio::test]
async fn a_process_that_leaves_the_group_does_not_hold_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("escaped.pid");
    // setsid: a new session, out of the process group, still holding stdout. The shell waits
    // until it has left the group (the pid file is written after setsid) before it exits.
    let f = pid_file.display();
    let spec = command(&format!(
        "{{ protocol: exit, run: 'setsid sh -c \"echo \\$\\$ > {f}; exec sleep 30\" & while [ ! -s {f} ]; do sleep 0.01; done; echo done', shell: true }}"
    ));
    let (r, took) = run(&spec, T).await;
    let pid = read_pid(&pid_file);
    kill(pid);
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.ends_with(": done"), "{}", r.message);
    // It waited for the pipe as long as it allows (200ms), not for the sleep.
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(200) + SLACK,
        "took {took:?}"
    );
}

#[tokio::test]
async fn an_abandoned_run_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let spec = command(&format!(
        "{{ run: 'echo $$ > {}; exec sleep 30', shell: true }}",
        pid_file.display()
    ));
    let probe = tocsin_probe::build(&spec, &env()).unwrap();
    let cx = RunContext {
        timeout: Duration::from_secs(30),
        started_at_ms: 0,
    };
    // The runner's backstop (or a shutdown) drops the run part-way.
    let dropped = tokio::time::timeout(Duration::from_millis(500), probe.run(cx)).await;
    assert!(dropped.is_err());
    assert_dies(read_pid(&pid_file), "the abandoned command").await;
}

#[tokio::test]
async fn output_is_capped() {
    // 1 MB on one line, then a second line; only 1 KiB is kept.
    let spec = command(
        "{ protocol: exit, run: 'head -c 1000000 /dev/zero | tr \"\\0\" x; echo; echo second; echo err >&2', shell: true, max_output: 1KiB }",
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.extracted.get("stdout_truncated"),
        Some(&serde_json::json!(true))
    );
    assert_eq!(r.extracted.get("stderr_truncated"), None);
    assert!(r.message.chars().count() <= 1001, "{}", r.message.len());
    assert!(r.message.ends_with('…'), "{}", r.message);

    // A program that never stops talking is read (not blocked) and killed at the timeout.
    let spec = command("{ protocol: exit, run: [yes, tocsin], max_output: 4KiB }");
    let (r, took) = run(&spec, Duration::from_millis(500)).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(
        r.message.starts_with("timed out after 500ms"),
        "{}",
        r.message
    );
    assert!(
        r.message.ends_with("(stdout so far: \"tocsin\")"),
        "{}",
        r.message
    );
    assert!(took < Duration::from_millis(500) + SLACK, "took {took:?}");
}

#[tokio::test]
async fn one_probe_never_runs_twice_at_once() {
    let spec = command("{ protocol: exit, run: [sleep, '0.5'] }");
    let probe = tocsin_probe::build(&spec, &env()).unwrap();
    let cx = RunContext {
        timeout: T,
        started_at_ms: 0,
    };
    let (a, b) = tokio::join!(probe.run(cx), probe.run(cx));
    let mut statuses = [a.status, b.status];
    statuses.sort_by_key(|s| s.code());
    assert_eq!(statuses, [Status::Ok, Status::Unknown], "{a:?}\n{b:?}");
    let skipped = if a.status == Status::Unknown { &a } else { &b };
    assert_eq!(
        skipped.message,
        "skipped: the previous run of this command is still running"
    );
    // Once done, it runs again.
    let r = probe.run(cx).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// Environment and working directory.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_environment_is_built_from_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().canonicalize().unwrap();
    // The whole environment on one line (without what the shell itself adds).
    let spec = command(&format!(
        "{{ protocol: exit, shell: true, run: '/usr/bin/env | grep -v -e ^PWD= -e ^SHLVL= -e ^_= | sort | tr \"\\n\" \";\"', cwd: {:?}, env: {{ FOO: bar baz, LANG: C.UTF-8 }}, inherit_env: [HOME, TOCSIN_NO_SUCH_VARIABLE] }}",
        cwd.display()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let mut want = vec!["FOO=bar baz".to_owned()];
    if let Ok(home) = std::env::var("HOME") {
        want.push(format!("HOME={home}"));
    }
    want.push("LANG=C.UTF-8".into());
    want.push(format!(
        "PATH={}",
        tocsin_core::kinds::command::DEFAULT_PATH
    ));
    let want = format!(": {};", want.join(";"));
    assert!(r.message.ends_with(&want), "{}\nwant …{want}", r.message);

    let spec = command(&format!(
        "{{ protocol: exit, run: [/bin/pwd], cwd: {:?} }}",
        cwd.display()
    ));
    let (r, _) = run(&spec, T).await;
    assert!(
        r.message.ends_with(&format!(": {}", cwd.display())),
        "{}",
        r.message
    );
    // A relative program runs from cwd.
    write_script(
        &cwd,
        "here.sh",
        "#!/bin/sh\necho \"OK - ran from $(pwd)\"\n",
        0o755,
    );
    let spec = command(&format!("{{ run: [./here.sh], cwd: {:?} }}", cwd.display()));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.message, format!("OK - ran from {}", cwd.display()));
}

// ---------------------------------------------------------------------------------------------
// Promises and the exit protocol.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn promises_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_script(
        dir.path(),
        "check-good",
        "#!/bin/sh\necho '{\"title\": \"good\", \"message\": \"buildout is OK\", \"count\": 3}'\n",
        0o755,
    );
    let bad = write_script(
        dir.path(),
        "check-port",
        "#!/bin/sh\necho '{\"message\": \"port 8080 is closed\"}'\nexit 1\n",
        0o755,
    );
    let legacy = write_script(
        dir.path(),
        "legacy",
        "#!/bin/sh\necho 'Traceback: oops' >&2\nexit 2\n",
        0o755,
    );
    let spec = |p: &Path| {
        command(&format!(
            "{{ protocol: promise, run: [{:?}] }}",
            p.display()
        ))
    };
    let (r, _) = run(&spec(&good), T).await;
    assert_eq!(
        (r.status, r.message.as_str()),
        (Status::Ok, "buildout is OK")
    );
    assert_eq!(r.extracted.get("title"), Some(&serde_json::json!("good")));
    assert_eq!(r.extracted.get("count"), Some(&serde_json::json!(3)));
    let (r, _) = run(&spec(&bad), T).await;
    assert_eq!(
        (r.status, r.message.as_str()),
        (Status::Critical, "port 8080 is closed")
    );
    assert_eq!(metric(&r, "exit_code"), Some(1.0));
    let (r, _) = run(&spec(&legacy), T).await;
    assert_eq!(
        (r.status, r.message.as_str()),
        (Status::Critical, "exited with status 2: Traceback: oops")
    );
}

#[tokio::test]
async fn the_exit_protocol_applies_match_rules() {
    let base = |run: &str, rest: &str| {
        command(&format!(
            "{{ protocol: exit, shell: true, run: {run:?}{rest} }}"
        ))
    };
    let rules = ", match: [{ pattern: ERROR, type: substring }, { stream: stderr, pattern: 'warn(ing)?', flags: i, match_word: true, status: warning }, { pattern: '^ready$', flags: m, invert: true, status: unknown }]";
    // (script, extra, status, message)
    let rows = [
        ("echo hello", "", Status::Ok, None),
        (
            "echo hello; exit 3",
            "",
            Status::Critical,
            Some("exited with status 3: hello"),
        ),
        (
            "echo hello; exit 3",
            ", ignore_exit_status: true",
            Status::Ok,
            None,
        ),
        ("echo starting; echo ready", rules, Status::Ok, None),
        (
            "echo starting; echo 'ERROR: disk full'; echo ready",
            rules,
            Status::Critical,
            Some("stdout matches \"ERROR\" on line 2: \"ERROR: disk full\""),
        ),
        (
            "echo ready; echo 'Warning: low' >&2",
            rules,
            Status::Warning,
            Some("stderr matches /warn(ing)?/i on line 1: \"Warning: low\""),
        ),
        (
            "echo almost ready",
            rules,
            Status::Unknown,
            Some("stdout does not match /^ready$/m"),
        ),
    ];
    for (script, extra, status, message) in rows {
        let (r, _) = run(&base(script, extra), T).await;
        assert_eq!(r.status, status, "{script}: {r:?}");
        match message {
            Some(m) => assert_eq!(r.message, m, "{script}"),
            None => assert!(r.message.starts_with("exited with status"), "{}", r.message),
        }
    }
}
