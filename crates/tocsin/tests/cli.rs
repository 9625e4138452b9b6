//! End-to-end tests of the `tocsin` binary: validate, cron, check, and serve with real local
//! targets, a real SQLite file, kill -9 and restart.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tocsin_testkit::HttpServer;

fn tocsin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    c.env("TOCSIN_LOG", "info,tocsin_engine=debug");
    c
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A minimal HTTP/1.1 client (one request per connection) for talking to our own server.
fn request(addr: &str, method: &str, path: &str) -> (u16, String) {
    request_with(addr, method, path, "", "")
}

/// The read token made for each server this test process started, by address: `GET`s
/// without an `Authorization` header carry it (every API read needs a token).
fn readers() -> &'static std::sync::Mutex<std::collections::HashMap<String, String>> {
    static READERS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, String>>,
    > = std::sync::OnceLock::new();
    READERS.get_or_init(Default::default)
}

/// `request` with extra header lines (each ending in `\r\n`) and a body.
fn request_with(addr: &str, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
    let mut headers = headers.to_owned();
    if method == "GET"
        && path.starts_with("/api/")
        && !headers.contains("Authorization:")
        && let Some(t) = readers().lock().unwrap().get(addr)
    {
        headers.push_str(&bearer(t));
    }
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    // Bodies of our server are small; undo chunked encoding if used.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// Creates an API token in the store of `data` with `tocsin token create`.
fn make_token(data: &Path, role: &str) -> String {
    let out = tocsin()
        .args([
            "token", "create", "--name", "tests", "--role", role, "--data",
        ])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("tcn_"), "{token}");
    token
}

/// `Authorization: Bearer …\r\n`.
fn bearer(token: &str) -> String {
    format!("Authorization: Bearer {token}\r\n")
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, body) = request(addr, "GET", path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `f` until it returns Some, or panics after `secs`.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `tocsin serve`, with its address read from its log.
struct Server {
    child: Child,
    addr: String,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(config: &Path, data: &Path) -> Self {
        Self::start_with(tocsin(), config, data)
    }

    /// Starts `cmd` (a `tocsin` command with its environment set) as `serve`.
    fn start_with(mut cmd: Command, config: &Path, data: &Path) -> Self {
        let reader = make_token(data, "read");
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data")
            .arg(data)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[tocsin] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("server did not start");
            if let Some(rest) = line.split("address=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        readers().lock().unwrap().insert(addr.clone(), reader);
        Self {
            child,
            addr,
            log: rx,
        }
    }

    fn check(&self, id: &str) -> Value {
        get_json(&self.addr, &format!("/api/v1/checks/{id}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nice value of each SQLite thread of process `pid` (field 19 of its `stat`).
fn sqlite_thread_nices(pid: u32) -> Vec<i64> {
    let mut nices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("sqlx-sqlite") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // After "pid (comm) ", fields start at the third: the nice value is the 17th of them.
        if let Some(nice) = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').nth(16))
            .and_then(|n| n.parse().ok())
        {
            nices.push(nice);
        }
    }
    nices
}

#[test]
fn serve_refuses_a_store_nice_value_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "conf/main.yml", "checks: []\n");
    let out = tocsin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store-nice",
            "25",
            "--config",
        ])
        .arg(dir.path().join("conf"))
        .arg("--data")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--store-nice") && stderr.contains("0..=19"),
        "{stderr}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn validate_reports_every_error_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.yml",
        "checks:\n  - id: web\n    http: { url: http://127.0.0.1:1/ }\n    timout: 5s\n",
    );
    write(
        dir.path(),
        "sub/b.yml",
        "checks:\n  - id: Bad Id\n    tcp: { host: 127.0.0.1, port: 1 }\n  - id: nightly\n    cron: \"0 0 31 2 *\"\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    write(
        dir.path(),
        "c.yaml",
        "checks:\n  - id: dup\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    write(
        dir.path(),
        "d.yaml",
        "checks:\n  - id: dup\n    tcp: { host: 127.0.0.1, port: 2 }\n",
    );
    let out = tocsin().arg("validate").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for want in [
        "a.yml:4:5:",
        "timout",
        "sub/b.yml:2:9:",
        "sub/b.yml:5:11:",
        "never fires",
        "d.yaml:2:9:",
        "c.yaml:2:9",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    // Every error is on its own line, and there are at least the four above.
    assert!(stdout.lines().count() >= 4, "{stdout}");
}

#[test]
fn validate_accepts_the_examples() {
    for dir in ["quickstart", "reference"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(dir);
        let out = tocsin().arg("validate").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{dir}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn cron_prints_next_times() {
    let out = tocsin()
        .args(["cron", "0 0 13 * 5", "-n", "4", "--tz", "Europe/Paris"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let times: Vec<jiff::Zoned> = text
        .lines()
        .map(|l| {
            let ts: jiff::Timestamp = l.parse().unwrap_or_else(|e| panic!("{l:?}: {e}"));
            ts.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
        })
        .collect();
    assert_eq!(times.len(), 4);
    for t in &times {
        // Day of month OR day of week: the 13th, or a Friday, at midnight Paris time.
        assert!(
            t.day() == 13 || t.weekday() == jiff::civil::Weekday::Friday,
            "{t}"
        );
        assert_eq!((t.hour(), t.minute()), (0, 0));
    }
    assert!(times.windows(2).all(|w| w[0] < w[1]));
    let bad = tocsin().args(["cron", "61 * * * *"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid cron"));
}

#[test]
fn check_prints_a_table_and_exits_with_the_worst_code() {
    let rt = runtime();
    let server = rt.block_on(HttpServer::start()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "checks:\n  - id: up\n    http: {{ url: \"{}\" }}\n  - id: slow-warn\n    http:\n      url: \"{}\"\n      expect: {{ response_time: {{ warning: 1ms }} }}\n",
        server.url("/ok"),
        server.url("/slow/20")
    );
    write(dir.path(), "c.yml", &cfg);
    let out = tocsin().arg("check").arg(dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.starts_with("CHECK"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("up ") && l.contains(" OK ")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("slow-warn") && l.contains("WARNING")),
        "{stdout}"
    );

    write(
        dir.path(),
        "d.yml",
        "checks:\n  - id: closed\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    let out = tocsin()
        .arg("check")
        .arg(dir.path())
        .args(["--id", "closed", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["id"], "closed");
    assert_eq!(json[0]["result"]["status"], "critical");
}

#[test]
fn serve_keeps_state_across_kill_9_and_reloads() {
    let rt = runtime();
    let target = rt.block_on(HttpServer::start()).unwrap();
    target.set_json(serde_json::json!({ "status": "ok" }));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("conf");
    let data = dir.path().join("data");
    let cfg = format!(
        "defaults:\n  every: 1s\n  timeout: 900ms\nchecks:\n  - id: api\n    http:\n      url: \"{}\"\n      expect:\n        json: [ {{ path: $.status, equals: ok }} ]\n    alert: {{ failures: 2, recoveries: 2 }}\n",
        target.url("/json")
    );
    write(&config, "main.yml", &cfg);

    let server = Server::start(&config, &data);
    assert_eq!(request(&server.addr, "GET", "/healthz").0, 200);
    let (status, body) = request(&server.addr, "GET", "/api/v1/checks/nope");
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "NotFound"
    );
    let (status, body) = request(&server.addr, "GET", "/api/v1/checks/api/results?limit=0");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("expected 1 to 1000"), "{body}");
    let (status, _) = request(&server.addr, "GET", "/api/v1/checks?status=bogus");
    assert_eq!(status, 400);
    let list = get_json(&server.addr, "/api/v1/checks");
    assert_eq!(list["checks"][0]["id"], "api");
    // The embedded database's threads give way to the runs (`--store-nice`, default 10).
    let nices = sqlite_thread_nices(server.child.id());
    assert!(
        !nices.is_empty() && nices.iter().all(|&n| n == 10),
        "SQLite threads' nice values: {nices:?}"
    );
    wait_for(20, "a first ok result", || {
        let c = server.check("api");
        (c["last_result"]["status"] == "ok").then_some(())
    });

    // The JSON field changes: soft critical, then hard critical after two failures.
    target.set_json(serde_json::json!({ "status": "degraded" }));
    let c = wait_for(20, "hard critical", || {
        let c = server.check("api");
        (c["state"]["hard_status"] == "critical").then_some(c)
    });
    assert_eq!(
        c["last_result"]["message"],
        "$.status was \"degraded\", expected \"ok\""
    );
    let (_, metrics) = request(&server.addr, "GET", "/metrics");
    assert!(
        metrics.contains("tocsin_check_status{check=\"api\",kind=\"http\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tocsin_scheduler_lag_seconds_count"),
        "{metrics}"
    );
    // The write-behind flushes every 200ms; wait until the hard change is on disk.
    wait_for(10, "the hard change in the store", || {
        let ch = get_json(&server.addr, "/api/v1/checks/api/changes");
        ch["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["hard"] == true && c["to"] == "critical")
            .then_some(())
    });
    let page = get_json(&server.addr, "/api/v1/checks/api/results?limit=2");
    let page = page["results"].as_array().unwrap();
    assert_eq!(page.len(), 2);
    assert!(
        page[0]["started_at_ms"].as_i64() > page[1]["started_at_ms"].as_i64(),
        "newest first"
    );
    let before = server.check("api")["state"]["results"].as_u64().unwrap();

    // kill -9, restart: still hard critical, with the count of results it had.
    drop(server);
    let server = Server::start(&config, &data);
    let c = server.check("api");
    assert_eq!(c["state"]["hard_status"], "critical", "{c}");
    assert_eq!(c["state"]["hard"], true, "{c}");
    // Transitions are saved at once, counters at least every 10 s: the count may lag a little.
    assert!(
        c["state"]["results"].as_u64().unwrap() >= 3 && before >= 3,
        "{c}"
    );
    assert!(
        c["last_result"]["message"]
            .as_str()
            .unwrap()
            .contains("degraded"),
        "{c}"
    );

    // Recover: recovering first, then ok.
    target.set_json(serde_json::json!({ "status": "ok" }));
    wait_for(20, "recovery", || {
        (server.check("api")["state"]["hard_status"] == "ok").then_some(())
    });

    // Reload through the API: a new check appears, the old one is untouched.
    write(
        &config,
        "more/extra.yml",
        "checks:\n  - id: closed-port\n    every: 1s\n    timeout: 500ms\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    // Reload needs a writer's token.
    let (status, body) = request(&server.addr, "POST", "/api/v1/reload");
    assert_eq!(status, 401, "{body}");
    let reader = make_token(&data, "read");
    let (status, body) = request_with(&server.addr, "POST", "/api/v1/reload", &bearer(&reader), "");
    assert_eq!(status, 403, "{body}");
    let token = make_token(&data, "operator");
    let (status, body) = request_with(&server.addr, "POST", "/api/v1/reload", &bearer(&token), "");
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (report["added"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    wait_for(20, "the new check's first result", || {
        (server.check("closed-port")["last_result"]["status"] == "critical").then_some(())
    });

    // A broken file keeps its last good version and is reported.
    write(
        &config,
        "more/extra.yml",
        "checks:\n  - id: closed-port\n    tcp: { host: 127.0.0.1, port: 1 }\n    bogus: 1\n",
    );
    let (_, body) = request_with(&server.addr, "POST", "/api/v1/reload", &bearer(&token), "");
    let report: Value = serde_json::from_str(&body).unwrap();
    assert!(
        report["errors"][0]
            .as_str()
            .unwrap()
            .contains("more/extra.yml:4:5"),
        "{report}"
    );
    assert_eq!(
        get_json(&server.addr, "/api/v1/checks")["checks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, metrics) = request(&server.addr, "GET", "/metrics");
    assert!(metrics.contains("tocsin_config_errors 1"), "{metrics}");

    // The file watcher picks up a change by itself.
    write(
        &config,
        "more/extra.yml",
        "checks:\n  - id: closed-port\n    tcp: { host: 127.0.0.1, port: 1 }\n  - id: watched\n    tcp: { host: 127.0.0.1, port: 1 }\n",
    );
    wait_for(20, "the watcher's reload", || {
        let (s, _) = request(&server.addr, "GET", "/api/v1/checks/watched");
        (s == 200).then_some(())
    });

    // SIGTERM: graceful shutdown, exit 0.
    let mut server = server;
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_for(30, "exit after SIGTERM", || {
        server.child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
    let logs: Vec<String> = server.log.try_iter().collect();
    assert!(logs.iter().any(|l| l.contains("store flushed")), "{logs:?}");
}

/// One check of every kind against local targets: each shows up in the API with its kind, on
/// `/metrics` with a `kind` label (the document passes promtool), and in `tocsin check`.
#[test]
fn every_kind_shows_in_the_api_metrics_and_check() {
    let Ok(promtool) = which("promtool") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is missing (Debian package prometheus); .ci/run installs it"
        );
        eprintln!("skipping: promtool not installed");
        return;
    };
    let rt = runtime();
    let pki = tocsin_testkit::TestPki::new().unwrap();
    let (web, tls, dns) = rt.block_on(async {
        (
            HttpServer::start().await.unwrap(),
            HttpServer::start_tls(&pki, tocsin_testkit::CertKind::Valid)
                .await
                .unwrap(),
            tocsin_testkit::DnsServer::start("www.example.com. 300 A 192.0.2.10\n")
                .await
                .unwrap(),
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "started\n").unwrap();
    let web_port = web
        .url("/")
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let tls_port = tls
        .url("/")
        .split(':')
        .nth(2)
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let conf = format!(
        r#"defaults: {{ every: 1s, timeout: 900ms }}
checks:
  - id: k-http
    http: {{ url: "{web}" }}
  - id: k-tcp
    tcp: {{ host: 127.0.0.1, port: {web_port} }}
  - id: k-tls
    tls: {{ host: 127.0.0.1, port: {tls_port}, server_name: localhost, ca_file: "{ca}" }}
  - id: k-dns
    dns: {{ name: www.example.com, type: A, server: "{dns}", expect: {{ answers: [192.0.2.10] }} }}
  - id: k-icmp
    icmp: {{ host: 127.0.0.1, count: 1, packet_timeout: 500ms }}
  - id: k-command
    command: {{ protocol: exit, run: [/bin/true] }}
  - id: k-log
    log: {{ path: "{log}", match: {{ pattern: ERROR }} }}
  - id: k-process
    process: {{ cmdline: "." }}
  - id: k-disk
    disk: {{ path: / }}
  - id: k-host-metrics
    host_metrics: {{}}
  - id: k-push
    push: {{ token: 0123456789abcdef, within: 1h }}
"#,
        web = web.url("/ok"),
        ca = pki.ca_file(),
        dns = dns.addr(),
        log = log.display(),
    );
    write(dir.path(), "conf/all.yml", &conf);
    let kinds = [
        ("k-http", "http"),
        ("k-tcp", "tcp"),
        ("k-tls", "tls"),
        ("k-dns", "dns"),
        ("k-icmp", "icmp"),
        ("k-command", "command"),
        ("k-log", "log"),
        ("k-process", "process"),
        ("k-disk", "disk"),
        ("k-host-metrics", "host_metrics"),
        ("k-push", "push"),
    ];

    let server = Server::start(&dir.path().join("conf"), &dir.path().join("data"));
    let (status, body) = request_with(
        &server.addr,
        "POST",
        "/api/v1/push/k-push",
        "Authorization: Bearer 0123456789abcdef\r\n",
        "",
    );
    assert_eq!(status, 204, "{body}");
    for (id, kind) in kinds {
        let check = wait_for(20, &format!("a result of {id}"), || {
            let c = server.check(id);
            c["last_result"].is_object().then_some(c)
        });
        assert_eq!(check["kind"], kind, "{check}");
        assert_eq!(check["last_result"]["status"], "ok", "{id}: {check}");
    }
    let (_, metrics) = request(&server.addr, "GET", "/metrics");
    for (id, kind) in kinds {
        assert!(
            metrics.contains(&format!(
                "tocsin_check_status{{check=\"{id}\",kind=\"{kind}\"}} 0"
            )),
            "{id} missing from /metrics"
        );
    }
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // `tocsin check` runs each once; a push check has nothing to run and says so.
    let out = tocsin()
        .arg("check")
        .arg(dir.path().join("conf"))
        .arg("--json")
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), kinds.len());
    for (id, kind) in kinds {
        let row = rows.iter().find(|r| r["id"] == id).unwrap();
        assert_eq!(row["kind"], kind, "{row}");
        let want = if kind == "push" { "unknown" } else { "ok" };
        assert_eq!(row["result"]["status"], want, "{row}");
    }
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}

#[test]
fn push_results_arrive_over_http_with_the_checks_token() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "conf/a.yml",
        "checks:\n  - id: backup\n    every: 1h\n    push: { token: \"${BACKUP_TOKEN}\", within: 1d }\n",
    );
    let mut cmd = tocsin();
    cmd.env("BACKUP_TOKEN", "s3cret-token-0123456789");
    let server = Server::start_with(cmd, &dir.path().join("conf"), &dir.path().join("data"));
    let path = "/api/v1/push/backup";
    let json = "Content-Type: application/json\r\n";
    let auth = "Authorization: Bearer s3cret-token-0123456789\r\n";

    let (status, body) = request_with(&server.addr, "POST", path, "", "");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Unauthenticated"), "{body}");
    let (status, _) = request_with(
        &server.addr,
        "POST",
        path,
        "Authorization: Bearer not-the-token-0000\r\n",
        "",
    );
    assert_eq!(status, 401);
    let (status, body) = request_with(&server.addr, "POST", "/api/v1/push/nope", auth, "");
    assert_eq!(status, 404, "{body}");
    let (status, body) = request_with(
        &server.addr,
        "POST",
        path,
        &format!("{auth}{json}"),
        "{\"status\": 9}",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a Nagios code"), "{body}");

    let (status, body) = request_with(
        &server.addr,
        "POST",
        path,
        &format!("{auth}{json}"),
        r#"{"status": "warning", "message": "backup took 3h", "metrics": {"bytes": 1200}}"#,
    );
    assert_eq!(status, 204, "{body}");
    let check = server.check("backup");
    assert_eq!(check["kind"], "push");
    assert_eq!(check["last_result"]["status"], "warning");
    assert_eq!(check["last_result"]["message"], "backup took 3h");
    assert_eq!(check["last_result"]["metrics"][0]["name"], "bytes");
    // The token never shows in the API.
    assert!(!check.to_string().contains("s3cret"), "{check}");

    // ?token= works for senders that cannot set headers; an empty body means ok.
    let (status, _) = request_with(
        &server.addr,
        "POST",
        "/api/v1/push/backup?token=s3cret-token-0123456789",
        "",
        "",
    );
    assert_eq!(status, 204);
    let check = server.check("backup");
    assert_eq!(check["last_result"]["status"], "ok");
    let (_, metrics) = request(&server.addr, "GET", "/metrics");
    assert!(
        metrics.contains("tocsin_check_status{check=\"backup\",kind=\"push\"} 0"),
        "{metrics}"
    );
}

/// Runs `tocsin ctl` against `server` with `token`; returns stdout, panics on failure.
fn ctl(server: &Server, token: &str, args: &[&str]) -> String {
    let out = tocsin()
        .args([
            "ctl",
            "--server",
            &format!("http://{}", server.addr),
            "--token",
            token,
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The webhook bodies received so far, as JSON.
fn hooks(receiver: &HttpServer) -> Vec<Value> {
    receiver
        .handle()
        .recorded()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn alerting_config(target: &HttpServer, hook: &str, smtp_port: u16) -> String {
    format!(
        r#"contacts:
  - id: hook
    type: webhook
    url: "{hook}"
  - id: mail
    type: email
    to: ops@example.com
    settings: {{ port: {smtp_port}, tls: none }}
checks:
  - id: api
    every: 1s
    timeout: 900ms
    http:
      url: "{}"
      expect:
        json: [ {{ path: $.status, equals: ok }} ]
    alert: {{ failures: 1, recoveries: 1, notify: [hook, mail] }}
"#,
        target.url("/json")
    )
}

/// The issue's end-to-end story with real local servers: the target goes down, the alarm opens,
/// the webhook and the email arrive; an operator acks with `tocsin ctl`; the target recovers and
/// the resolve messages arrive. A maintenance added with ctl holds the next alarm back; ending
/// it queues the notification while the webhook receiver is down; kill -9; after a restart the
/// pending delivery arrives.
#[test]
fn alarms_notify_by_webhook_and_email_and_survive_kill_9() {
    let Some(smtp) = tocsin_testkit::SmtpServer::start(None, &[]) else {
        return;
    };
    let rt = runtime();
    let target = rt.block_on(HttpServer::start()).unwrap();
    target.set_json(serde_json::json!({ "status": "ok" }));
    let receiver = rt.block_on(HttpServer::start()).unwrap();
    receiver.respond("/hook", 204, &[], "");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("conf");
    let data = dir.path().join("data");
    write(
        &config,
        "main.yml",
        &alerting_config(&target, &receiver.url("/hook"), smtp.port()),
    );
    let token = make_token(&data, "operator");
    // The SMTP server and sender come from the server-wide defaults.
    let serve = || {
        let mut cmd = tocsin();
        cmd.env("TOCSIN_PUBLIC_URL", "https://tocsin.example/")
            .env("TOCSIN_SMTP_HOST", "127.0.0.1")
            .env("TOCSIN_SMTP_FROM", "Tocsin <tocsin@example.com>");
        Server::start_with(cmd, &config, &data)
    };
    let mut server = serve();
    wait_for(20, "the first ok", || {
        (server.check("api")["state"]["hard_status"] == "ok").then_some(())
    });

    // Down: the alarm opens, both channels hear of it.
    target.set_json(serde_json::json!({ "status": "down" }));
    let opened = wait_for(20, "the webhook of the new alarm", || {
        hooks(&receiver).into_iter().next()
    });
    assert_eq!(opened["alarm"]["id"], 1, "{opened}");
    assert_eq!(opened["alarm"]["kind"], "opened", "{opened}");
    assert_eq!(opened["status"], "critical", "{opened}");
    assert_eq!(opened["check"]["id"], "api", "{opened}");
    assert_eq!(
        opened["dashboard_url"], "https://tocsin.example/api/v1/alarms/1",
        "{opened}"
    );
    let mail = wait_for(20, "the email of the new alarm", || {
        smtp.messages().into_iter().next()
    });
    assert!(
        mail.contains("Subject: [Alarm: NEW, check=api] #1"),
        "{mail}"
    );
    assert!(mail.contains("X-Envelope-To: ops@example.com"), "{mail}");
    assert!(mail.contains("From: Tocsin <tocsin@example.com>"), "{mail}");

    // An operator takes it.
    let listed = ctl(&server, &token, &["alarms"]);
    assert!(
        listed.contains("#1") && listed.contains("check api"),
        "{listed}"
    );
    let acked = ctl(
        &server,
        &token,
        &["ack", "1", "--comment", "on it", "--by", "alice"],
    );
    assert!(acked.contains("acked"), "{acked}");
    let shown = ctl(&server, &token, &["alarm", "#1"]);
    assert!(
        shown.contains("acked") && shown.contains("alice"),
        "{shown}"
    );

    // Recovery: the alarm closes, both channels hear of it.
    target.set_json(serde_json::json!({ "status": "ok" }));
    let closed = wait_for(20, "the webhook of the closed alarm", || {
        hooks(&receiver)
            .into_iter()
            .find(|h| h["alarm"]["kind"] == "closed")
    });
    assert_eq!(closed["status"], "ok", "{closed}");
    let mail = wait_for(20, "the email of the closed alarm", || {
        smtp.messages().into_iter().find(|m| m.contains("CLOSED"))
    });
    assert!(
        mail.contains("Subject: Re: [Alarm: CLOSED, check=api] #1"),
        "{mail}"
    );

    // A maintenance from ctl holds the next alarm back.
    let added = ctl(
        &server,
        &token,
        &[
            "maintenance",
            "add",
            "--id",
            "upgrade",
            "--checks",
            "api",
            "--for",
            "1h",
            "--note",
            "db upgrade",
        ],
    );
    assert!(added.contains("maintenance upgrade added"), "{added}");
    let listed = ctl(&server, &token, &["maintenance", "list"]);
    assert!(
        listed.contains("upgrade") && listed.contains("yes"),
        "{listed}"
    );
    target.set_json(serde_json::json!({ "status": "down" }));
    let held = wait_for(20, "the held alarm", || {
        let out = ctl(&server, &token, &["alarms"]);
        out.contains("#2").then_some(out)
    });
    assert!(held.contains("held"), "{held}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        hooks(&receiver).len(),
        3,
        "nothing is sent during a maintenance"
    );
    assert_eq!(smtp.messages().len(), 3);

    // The receiver goes away; ending the maintenance queues the notification; kill -9.
    drop(receiver);
    ctl(&server, &token, &["maintenance", "end", "upgrade"]);
    wait_for(20, "the email after the maintenance", || {
        smtp.messages().into_iter().nth(3)
    });
    let outbox: Value = serde_json::from_str(&ctl(&server, &token, &["--json", "outbox"])).unwrap();
    assert!(
        outbox["counts"]["pending"].as_u64().unwrap() >= 1,
        "{outbox}"
    );
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);

    // A new receiver (the contact's URL changes with it); restart: the pending row goes out.
    let receiver = rt.block_on(HttpServer::start()).unwrap();
    receiver.respond("/hook", 204, &[], "");
    write(
        &config,
        "main.yml",
        &alerting_config(&target, &receiver.url("/hook"), smtp.port()),
    );
    server = serve();
    let late = wait_for(30, "the pending webhook after the restart", || {
        hooks(&receiver).into_iter().next()
    });
    assert_eq!(late["alarm"]["id"], 2, "{late}");
    assert_eq!(
        late["alarm"]["kind"], "maintenance_ended_with_faults",
        "{late}"
    );
    let email = &smtp.messages()[3];
    assert!(email.contains("check=api] #2"), "{email}");
    drop(server);
}
