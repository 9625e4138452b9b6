//! Engine tests against real local targets and a real SQLite store: phase-aligned runs,
//! overruns, per-host limits, reloads that keep state and phase, graceful shutdown.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;
use tocsin_testkit::HttpServer;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

async fn engine(dir: &Path, tweak: impl FnOnce(&mut EngineOptions)) -> Arc<Engine> {
    tocsin_testkit::init();
    let store = Store::open_sqlite_dir(&dir.join("data")).await.unwrap();
    let mut options = EngineOptions::new(dir.join("conf"));
    options.store_flush = Duration::from_millis(50);
    tweak(&mut options);
    Engine::start(options, store).await.unwrap()
}

async fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn conf(dir: &Path) -> std::path::PathBuf {
    let c = dir.join("conf");
    std::fs::create_dir_all(&c).unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_runs_start_on_their_phase() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    write(
        &c,
        "a.yml",
        &format!(
            "checks:\n  - id: phased\n    every: 1s\n    http: {{ url: \"{}\" }}\n",
            target.url("/ok")
        ),
    );
    let engine = engine(dir.path(), |_| {}).await;
    wait_for(10, "three results", || {
        engine.metrics().runs[0].load(Ordering::Relaxed) >= 3
    })
    .await;
    engine.flush().await;
    let results = engine.store().results("phased", None, 10).await.unwrap();
    let phase = tocsin_core::Schedule::phase_ms("phased", Duration::from_secs(1));
    for r in &results {
        // Each run started at (or just after) its due time: k·1000 + phase.
        let late = (r.started_at_ms - phase).rem_euclid(1000);
        assert!(late < 100, "started {late}ms after its slot");
    }
    // Lag is measured.
    assert!(engine.metrics().lag.count() >= 3);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_never_runs_twice_at_once_and_overruns_are_counted() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    // Due every second, each run takes ~2.5s: every other due time finds it running.
    write(
        &c,
        "a.yml",
        &format!(
            "checks:\n  - id: slow\n    cron: \"* * * * * *\"\n    timeout: 5s\n    http: {{ url: \"{}\" }}\n",
            target.url("/slow/2500")
        ),
    );
    let engine = engine(dir.path(), |_| {}).await;
    wait_for(15, "two overruns", || {
        engine.metrics().overruns.load(Ordering::Relaxed) >= 2
    })
    .await;
    // Never more than one request in flight: the target saw at most one per 2.5s.
    let runs = engine
        .metrics()
        .runs
        .iter()
        .map(|r| r.load(Ordering::Relaxed))
        .sum::<u64>();
    assert!(
        target.requests() <= runs + 1,
        "{} requests for {runs} runs",
        target.requests()
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_permit_is_taken_due_checks_wait_in_the_schedule() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    // Three checks due every second, each run taking ~600ms, one run at a time: 1.8s of work
    // per second. Due checks wait for the permit; none is started (and left waiting) while its
    // previous run is going, so there is no overrun, and slots fall behind (missed).
    let mut yml = String::from("defaults:\n  every: 1s\n  timeout: 1s\nchecks:\n");
    for i in 0..3 {
        yml.push_str(&format!(
            "  - id: w{i}\n    http: {{ url: \"{}\" }}\n",
            target.url("/slow/600")
        ));
    }
    write(&c, "a.yml", &yml);
    let engine = engine(dir.path(), |o| o.max_concurrent = 1).await;
    let m = engine.metrics();
    wait_for(20, "missed slots", || m.missed.load(Ordering::Relaxed) >= 2).await;
    engine.flush().await;
    assert_eq!(m.overruns.load(Ordering::Relaxed), 0);
    // The runs never overlapped: one permit, one run at a time.
    let mut spans = Vec::new();
    for i in 0..3 {
        for r in engine
            .store()
            .results(&format!("w{i}"), None, 100)
            .await
            .unwrap()
        {
            let end = r.started_at_ms + i64::try_from(r.timings.total_us / 1000).unwrap();
            spans.push((r.started_at_ms, end));
        }
    }
    spans.sort_unstable();
    assert!(spans.len() >= 4, "{spans:?}");
    for pair in spans.windows(2) {
        // 5ms of slack for the rounding of start times to milliseconds.
        assert!(pair[1].0 + 5 >= pair[0].1, "overlapping runs: {pair:?}");
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_host_limit_holds_runs_back() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    let mut yml = String::from("defaults:\n  every: 10s\n  timeout: 5s\nchecks:\n");
    for i in 0..4 {
        yml.push_str(&format!(
            "  - id: s{i}\n    http: {{ url: \"{}\" }}\n",
            target.url("/slow/400")
        ));
    }
    write(&c, "a.yml", &yml);
    let engine = engine(dir.path(), |o| o.max_per_host = 1).await;
    for i in 0..4 {
        assert!(engine.run_now(&format!("s{i}")));
    }
    let start = Instant::now();
    wait_for(10, "four runs", || {
        engine
            .metrics()
            .runs
            .iter()
            .map(|r| r.load(Ordering::Relaxed))
            .sum::<u64>()
            >= 4
    })
    .await;
    // One at a time against the host: at least ~4 × 400ms.
    assert!(
        start.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_checks_and_state_of_changed_ones() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    let a = format!(
        "checks:\n  - id: keep\n    every: 1s\n    http: {{ url: \"{}\" }}\n",
        target.url("/status/500")
    );
    write(&c, "a.yml", &a);
    write(
        &c,
        "b.yml",
        &format!(
            "checks:\n  - id: change\n    every: 1s\n    alert: {{ failures: 1 }}\n    http: {{ url: \"{}\" }}\n",
            target.url("/status/500")
        ),
    );
    let engine = engine(dir.path(), |_| {}).await;
    wait_for(10, "change hard critical", || {
        engine
            .check("change")
            .is_some_and(|e| e.snapshot().state.hard_status == tocsin_core::Status::Critical)
    })
    .await;
    let keep_before = engine.check("keep").unwrap();

    // Change only b.yml: "keep" is the very same entry; "change" is rebuilt with its state.
    write(
        &c,
        "b.yml",
        &format!(
            "checks:\n  - id: change\n    every: 2s\n    alert: {{ failures: 1 }}\n    http: {{ url: \"{}\" }}\n  - id: new\n    tcp: {{ host: 127.0.0.1, port: {} }}\n",
            target.url("/status/500"),
            target.port()
        ),
    );
    let report = engine.reload();
    assert_eq!(
        (
            report.added,
            report.changed,
            report.removed,
            report.unchanged
        ),
        (1, 1, 0, 1),
        "{report:?}"
    );
    assert!(Arc::ptr_eq(&keep_before, &engine.check("keep").unwrap()));
    assert_eq!(
        engine.check("change").unwrap().snapshot().state.hard_status,
        tocsin_core::Status::Critical
    );

    // A broken file keeps its last good version; a removed file's checks go.
    write(
        &c,
        "b.yml",
        "checks:\n  - id: change\n    every: nonsense\n",
    );
    std::fs::remove_file(c.join("a.yml")).unwrap();
    let report = engine.reload();
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(report.errors[0].starts_with("b.yml:3:"), "{report:?}");
    assert_eq!(report.removed, 1);
    assert!(engine.check("keep").is_none());
    assert!(engine.check("change").is_some() && engine.check("new").is_some());
    assert_eq!(engine.metrics().config_errors.load(Ordering::Relaxed), 1);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_settles_runs_in_progress_and_flushes() {
    let target = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    write(
        &c,
        "a.yml",
        &format!(
            "checks:\n  - id: slow\n    every: 1h\n    timeout: 5s\n    http: {{ url: \"{}\" }}\n",
            target.url("/slow/700")
        ),
    );
    let engine = engine(dir.path(), |_| {}).await;
    assert!(engine.run_now("slow"));
    wait_for(5, "the run to start", || {
        engine.check("slow").unwrap().is_running()
    })
    .await;
    engine.shutdown().await;
    // The run in progress finished and its result reached the store.
    let results = engine.store().results("slow", None, 10).await.unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].status, tocsin_core::Status::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_checks_take_results_and_turn_critical_when_silent() {
    use tocsin_core::{Metric, Status};
    use tocsin_engine::{PushError, Pushed};

    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    write(
        &c,
        "a.yml",
        "checks:\n  - id: job\n    every: 1s\n    alert: { failures: 1 }\n    push: { token: \
         0123456789abcdef, within: 1s, grace: 500ms }\n  - id: web\n    every: 1h\n    tcp: { \
         host: 127.0.0.1, port: 9 }\n",
    );
    let engine = engine(dir.path(), |_| {}).await;
    let ok = |msg: &str| Pushed {
        status: Status::Warning,
        message: Some(msg.to_owned()),
        metrics: vec![Metric {
            name: "rows".into(),
            value: 12.0,
            unit: String::new(),
        }],
    };
    assert_eq!(
        engine.push("job", "wrong-token-0000", ok("x")).await,
        Err(PushError::Token)
    );
    assert_eq!(
        engine.push("web", "0123456789abcdef", ok("x")).await,
        Err(PushError::NotFound("web".into()))
    );
    assert_eq!(
        engine.push("nope", "0123456789abcdef", ok("x")).await,
        Err(PushError::NotFound("nope".into()))
    );
    engine
        .push("job", "0123456789abcdef", ok("nightly run slow"))
        .await
        .unwrap();
    let last = engine.check("job").unwrap().snapshot().last.unwrap();
    assert_eq!(last.status, Status::Warning);
    assert_eq!(last.message, "nightly run slow");
    assert_eq!(last.metrics[0].name, "rows");

    // Silence: within 1s + 500ms grace, then the next scheduled run says so.
    let pushed = Instant::now();
    wait_for(5, "the deadline to pass", || {
        engine
            .check("job")
            .unwrap()
            .snapshot()
            .last
            .is_some_and(|r| r.status == Status::Critical)
    })
    .await;
    assert!(
        pushed.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        pushed.elapsed()
    );
    let rt = engine.check("job").unwrap().snapshot();
    let last = rt.last.unwrap();
    assert!(
        last.message.starts_with("nothing pushed for ")
            && last
                .message
                .ends_with("(expected every 1s plus 500ms grace)"),
        "{}",
        last.message
    );
    assert_eq!(rt.state.hard_status, Status::Critical);

    // A push brings it back at once.
    engine
        .push("job", "0123456789abcdef", Pushed::default())
        .await
        .unwrap();
    let rt = engine.check("job").unwrap().snapshot();
    assert_eq!(rt.state.status, Status::Ok);
    assert_eq!(rt.last.unwrap().message, "result pushed");
    engine.flush().await;
    let stored = engine.store().results("job", None, 10).await.unwrap();
    assert!(stored.len() >= 3, "{}", stored.len());
    engine.shutdown().await;
}

/// The webhooks a test server received, as JSON documents, oldest first.
fn webhooks(hook: &HttpServer) -> Vec<serde_json::Value> {
    hook.handle()
        .recorded()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn alerting_config(target: &HttpServer, hook_url: &str) -> String {
    format!(
        "contacts:\n  - id: ops-hook\n    type: webhook\n    url: \"{hook_url}\"\nchecks:\n  - id: \
         api\n    every: 1s\n    timeout: 500ms\n    http:\n      url: \"{}\"\n      expect:\n        \
         json:\n          - {{ path: $.status, equals: ok }}\n    alert: {{ failures: 1, notify: \
         [ops-hook] }}\n",
        target.url("/json")
    )
}

/// A failing check (its target answers `down`) notifying a webhook nobody answers, written to
/// `conf/a.yml`; the target (keep it alive) and the dead receiver's address.
async fn failing_check_and_dead_receiver(conf: &Path) -> (HttpServer, std::net::SocketAddr) {
    let target = HttpServer::start().await.unwrap();
    target.set_json(serde_json::json!({ "status": "down" }));
    let closed = tocsin_testkit::refused_addr().unwrap();
    write(
        conf,
        "a.yml",
        &alerting_config(&target, &format!("http://{closed}/hook")),
    );
    (target, closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_opens_an_alarm_and_its_webhooks_arrive() {
    let target = HttpServer::start().await.unwrap();
    let hook = HttpServer::start().await.unwrap();
    target.set_json(serde_json::json!({ "status": "ok" }));
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    write(&c, "a.yml", &alerting_config(&target, &hook.url("/ok")));
    let engine = engine(dir.path(), |_| {}).await;
    wait_for(10, "a first ok result", || {
        engine
            .check("api")
            .unwrap()
            .snapshot()
            .last
            .is_some_and(|r| r.status == tocsin_core::Status::Ok)
    })
    .await;

    target.set_json(serde_json::json!({ "status": "down" }));
    wait_for(10, "the opening webhook", || !webhooks(&hook).is_empty()).await;
    let opened = &webhooks(&hook)[0];
    assert_eq!(opened["alarm"]["kind"], "opened", "{opened}");
    assert_eq!(opened["check"]["id"], "api", "{opened}");
    assert_eq!(opened["status"], "critical", "{opened}");
    let req = hook
        .handle()
        .recorded()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(req.header("idempotency-key").is_some(), "{:?}", req.headers);

    target.set_json(serde_json::json!({ "status": "ok" }));
    wait_for(10, "the closing webhook", || webhooks(&hook).len() >= 2).await;
    let closed = &webhooks(&hook)[1];
    assert_eq!(closed["alarm"]["kind"], "closed", "{closed}");
    assert_eq!(closed["alarm"]["closed"], true, "{closed}");
    assert_eq!(closed["status"], "ok", "{closed}");
    let m = engine.alerting_metrics();
    assert_eq!(m.alarms_opened.load(Ordering::Relaxed), 1);
    assert_eq!(m.delivered.load(Ordering::Relaxed), 2);
    let text = engine.render_metrics();
    assert!(
        text.contains("tocsin_notifications_delivered_total 2"),
        "{text}"
    );
    engine.shutdown().await;
    let alarms = engine
        .store()
        .alarms(None, tocsin_store::AlarmFilter::All, None, 10)
        .await
        .unwrap();
    assert_eq!(alarms.len(), 1);
    assert!(!alarms[0].open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_notifications_survive_a_restart_and_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    // The webhook's receiver is down: the notification stays in the outbox.
    let (target, _closed) = failing_check_and_dead_receiver(&c).await;
    let first = engine(dir.path(), |_| {}).await;
    wait_for(10, "a failed delivery attempt", || {
        first.alerting_metrics().failed.load(Ordering::Relaxed) >= 1
    })
    .await;
    first.shutdown().await;
    first.store().close().await;
    drop(first);

    // Restart with the receiver up: the pending notification is delivered, once.
    let hook = HttpServer::start().await.unwrap();
    write(&c, "a.yml", &alerting_config(&target, &hook.url("/ok")));
    let second = engine(dir.path(), |o| {
        o.delivery.retry_base = Duration::from_millis(100);
        o.delivery.retry_max = Duration::from_millis(200);
    })
    .await;
    wait_for(15, "the delivery after the restart", || {
        !webhooks(&hook).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = webhooks(&hook);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["alarm"]["kind"], "opened");
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_alarms_reach_the_self_contacts_through_a_contact_group() {
    let target = HttpServer::start().await.unwrap();
    target.set_json(serde_json::json!({ "status": "down" }));
    let watcher = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    let closed = tocsin_testkit::refused_addr().unwrap();
    // `broken` has a setting its channel refuses: a configuration error. `dead-end` is a
    // webhook nobody answers: its deliveries keep failing.
    write(
        &c,
        "a.yml",
        &format!(
            r#"contacts:
  - {{ id: watcher, type: webhook, url: "{}" }}
  - {{ id: dead-end, type: webhook, url: "http://{closed}/hook" }}
  - {{ id: broken, type: webhook, url: "http://127.0.0.1:9/", settings: {{ method: DELETE }} }}
contact_groups:
  - {{ id: admins, contacts: [watcher] }}
self:
  notify: [admins]
checks:
  - id: api
    every: 1s
    timeout: 500ms
    http:
      url: "{}"
      expect: {{ json: [ {{ path: $.status, equals: ok }} ] }}
    alert: {{ failures: 1, recoveries: 1, notify: [dead-end] }}
"#,
            watcher.url("/ok"),
            target.url("/json"),
        ),
    );
    let engine = engine(dir.path(), |o| {
        o.delivery.retry_base = Duration::from_millis(50);
        o.delivery.retry_max = Duration::from_millis(100);
        o.delivery.tick = Duration::from_millis(100);
    })
    .await;
    let about = |id: &str| {
        webhooks(&watcher)
            .into_iter()
            .filter(|w| w["check"]["id"] == id)
            .collect::<Vec<_>>()
    };
    wait_for(15, "the configuration self-alarm", || {
        !about("tocsin.config").is_empty()
    })
    .await;
    let config = &about("tocsin.config")[0];
    assert_eq!(config["alarm"]["kind"], "opened", "{config}");
    assert_eq!(config["status"], "critical", "{config}");
    assert!(
        config["message"]
            .as_str()
            .unwrap()
            .contains("contact \"broken\": settings.method"),
        "{config}"
    );
    // An ack of a self-alarm is told to `self.notify` too.
    let id = config["alarm"]["id"].as_u64().unwrap();
    engine
        .alarm_action(
            id,
            &tocsin_core::alarm::Action::Ack {
                by: "ann".into(),
                comment: None,
                expires_ms: None,
            },
        )
        .await
        .unwrap();
    wait_for(10, "the ack of the self-alarm", || {
        about("tocsin.config")
            .iter()
            .any(|w| w["alarm"]["kind"] == "acknowledged")
    })
    .await;
    wait_for(15, "the notifications self-alarm", || {
        !about("tocsin.notifications").is_empty()
    })
    .await;
    let failing = &about("tocsin.notifications")[0];
    assert!(
        failing["message"]
            .as_str()
            .unwrap()
            .starts_with("contact dead-end: "),
        "{failing}"
    );

    // Fixing the file closes the configuration self-alarm.
    std::fs::write(
        c.join("a.yml"),
        std::fs::read_to_string(c.join("a.yml"))
            .unwrap()
            .replace("method: DELETE", "method: PUT"),
    )
    .unwrap();
    let report = engine.reload();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    wait_for(15, "the configuration self-alarm closing", || {
        about("tocsin.config")
            .iter()
            .any(|w| w["alarm"]["kind"] == "closed")
    })
    .await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_scheduler_trouble_open_self_alarms() {
    let watcher = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    write(
        &c,
        "a.yml",
        &format!(
            "contacts:\n  - {{ id: watcher, type: webhook, url: \"{}\" }}\nself:\n  notify: [watcher]\n",
            watcher.url("/ok")
        ),
    );
    let engine = engine(dir.path(), |o| {
        o.delivery.tick = Duration::from_millis(100);
    })
    .await;
    let about = |id: &str| {
        webhooks(&watcher)
            .into_iter()
            .filter(|w| w["check"]["id"] == id)
            .collect::<Vec<_>>()
    };
    // What the store and the scheduler count when they are in trouble.
    engine
        .alerting_metrics()
        .store_errors
        .fetch_add(1, Ordering::Relaxed);
    engine.metrics().missed.fetch_add(5, Ordering::Relaxed);
    wait_for(10, "both self-alarms", || {
        !about("tocsin.store").is_empty() && !about("tocsin.scheduler").is_empty()
    })
    .await;
    assert_eq!(about("tocsin.store")[0]["status"], "critical");
    let scheduler = &about("tocsin.scheduler")[0];
    assert_eq!(scheduler["status"], "warning", "{scheduler}");
    assert!(
        scheduler["message"]
            .as_str()
            .unwrap()
            .contains("5 since the last look"),
        "{scheduler}"
    );
    assert!(
        about("tocsin.config").is_empty(),
        "a good configuration opens nothing"
    );
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_hold_deliveries_back_without_counting_attempts() {
    let target = HttpServer::start().await.unwrap();
    target.set_json(serde_json::json!({ "status": "down" }));
    let hook = HttpServer::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    // Three checks fail at once; the contact takes one notification a minute.
    let checks: String = ["a", "b", "c"]
        .iter()
        .map(|id| {
            format!(
                "  - id: {id}\n    every: 1s\n    timeout: 500ms\n    http: {{ url: \"{}\", expect: {{ json: [ {{ path: $.status, equals: ok }} ] }} }}\n    alert: {{ failures: 1, notify: [slow] }}\n",
                target.url("/json")
            )
        })
        .collect();
    write(
        &c,
        "a.yml",
        &format!(
            "contacts:\n  - {{ id: slow, type: webhook, url: \"{}\", rate_limit: 1/min }}\nchecks:\n{checks}",
            hook.url("/ok")
        ),
    );
    let engine = engine(dir.path(), |o| {
        o.delivery.poll = Duration::from_millis(50);
    })
    .await;
    wait_for(10, "the first notification", || !webhooks(&hook).is_empty()).await;
    wait_for(10, "the others held back", || {
        engine
            .alerting_metrics()
            .rate_limited
            .load(Ordering::Relaxed)
            >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(webhooks(&hook).len(), 1, "one a minute");
    let counts = engine.store().outbox_counts().await.unwrap();
    assert_eq!((counts.delivered, counts.pending), (1, 2), "{counts:?}");
    let alarms = engine
        .store()
        .alarms(None, tocsin_store::AlarmFilter::Open, None, 10)
        .await
        .unwrap();
    for a in alarms {
        for d in engine.store().alarm_deliveries("", a.id).await.unwrap() {
            assert!(d.attempts <= 1, "a postponed row counts no attempt: {d:?}");
        }
    }
    assert_eq!(engine.alerting_metrics().failed.load(Ordering::Relaxed), 0);
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_failing_past_the_give_up_time_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let c = conf(dir.path());
    let (_target, closed) = failing_check_and_dead_receiver(&c).await;
    let engine = engine(dir.path(), |o| {
        o.delivery.retry_base = Duration::from_millis(100);
        o.delivery.retry_max = Duration::from_millis(200);
        o.delivery.poll = Duration::from_millis(50);
        o.delivery.give_up_after = Duration::from_secs(1);
    })
    .await;
    wait_for(15, "the dead letter", || {
        engine.alerting_metrics().dead.load(Ordering::Relaxed) >= 1
    })
    .await;
    let dead = engine.store().dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].attempts >= 2, "retried before giving up: {dead:?}");
    assert!(
        dead[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains(&closed.to_string()),
        "{dead:?}"
    );
    assert!(
        engine
            .render_metrics()
            .contains("tocsin_notifications_dead_total 1")
    );
    engine.shutdown().await;
}
