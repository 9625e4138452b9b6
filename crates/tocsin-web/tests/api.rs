//! Route-by-route tests of the token-protected REST API: alarms and their actions,
//! maintenances, the outbox, run-now and reload, and the tokens that guard them.
//!
//! Each test starts a real engine (temporary config directory, SQLite store, local testkit
//! HTTP targets) and drives `tocsin_web::router` in-process with `tower::ServiceExt::oneshot`.
//! Alarms are opened for real, by checks whose target starts failing; waits are bounded polls.

mod common;

use common::{token, wait_for};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tocsin_engine::{Engine, now_ms};
use tocsin_testkit::HttpServer;
use tower::ServiceExt as _;

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// A running engine, its router, and tokens of each role.
struct Api {
    dir: TempDir,
    engine: Arc<Engine>,
    app: Router,
    /// An `operator` token named `ops`.
    op: String,
    /// A `read` token named `viewer`.
    read: String,
}

impl Api {
    /// Starts an engine with an idle check and a failing one (`down`), once the failing one's
    /// alarm (#1) is open.
    async fn with_one_alarm(target: &HttpServer) -> Self {
        let api = Self::start(&[(
            "a.yml",
            format!(
                "checks:\n{}{}",
                idle_check("idle", target),
                failing_check("down", target)
            ),
        )])
        .await;
        api.wait_for_alarms(1).await;
        api
    }

    /// Starts an engine on a config directory holding `files` (name, YAML).
    async fn start(files: &[(&str, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(&conf).unwrap();
        for (name, text) in files {
            std::fs::write(conf.join(name), text).unwrap();
        }
        Self::open(dir).await
    }

    /// Stops the engine, closes its store, and starts another on the same directory.
    async fn restart(self) -> Self {
        let Self {
            dir, engine, app, ..
        } = self;
        drop(app);
        engine.shutdown().await;
        engine.store().close().await;
        drop(engine);
        Self::open(dir).await
    }

    /// Starts an engine on `dir/conf` with its store in `dir/data`, and makes tokens.
    async fn open(dir: TempDir) -> Self {
        let engine = common::engine(dir.path(), false).await;
        let op = token(&engine, "", "ops", "operator").await;
        let read = token(&engine, "", "viewer", "read").await;
        let app = tocsin_web::router(engine.clone());
        Self {
            dir,
            engine,
            app,
            op,
            read,
        }
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    /// Sends a request with an optional bearer token and JSON body; returns the status and
    /// the answer as JSON (`Null` when empty, a string when not JSON). Checks on the way that
    /// the token is not echoed.
    async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        let (status, _, text) = self.send(req.body(body).unwrap()).await;
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status}: {text}"
        );
        if let Some(t) = token {
            assert_not_echoed(t, &text);
        }
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Sends any request; returns the status, the content type and the body as text. Unlike
    /// [`Api::request`], accepts a 5xx.
    async fn send(&self, req: Request<Body>) -> (StatusCode, Option<String>, String) {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        (status, content_type, text)
    }

    /// Sends `n` copies of one `POST` (operator's token) at once; returns their statuses, in
    /// sending order.
    async fn post_at_once(&self, path: &str, body: &Value, n: usize) -> Vec<u16> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let req = Request::builder()
                    .method("POST")
                    .uri(path)
                    .header(header::AUTHORIZATION, format!("Bearer {}", self.op))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap();
                let app = self.app.clone();
                tokio::spawn(async move { app.oneshot(req).await.unwrap().status().as_u16() })
            })
            .collect();
        let mut statuses = Vec::with_capacity(n);
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        statuses
    }

    /// `GET` with the operator's token, expecting 200.
    async fn get_ok(&self, path: &str) -> Value {
        let (status, v) = self.request("GET", path, Some(&self.op), None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        v
    }

    /// `POST` with the operator's token.
    async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.request("POST", path, Some(&self.op), body).await
    }

    /// The alarms listed by `GET path`.
    async fn alarms(&self, path: &str) -> Vec<Value> {
        self.get_ok(path).await["alarms"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Waits until the check's latest result has `status`.
    async fn wait_for_status(&self, check: &str, status: &str) {
        let path = format!("/api/v1/checks/{check}");
        wait_for(15, &format!("{check} to be {status}"), async || {
            let v = self.get_ok(&path).await;
            (v["last_result"]["status"] == status).then_some(())
        })
        .await;
    }

    /// Waits until `GET /api/v1/alarms` lists at least `n` open alarms, and returns them.
    async fn wait_for_alarms(&self, n: usize) -> Vec<Value> {
        wait_for(15, &format!("{n} open alarms"), async || {
            let alarms = self.alarms("/api/v1/alarms").await;
            (alarms.len() >= n).then_some(alarms)
        })
        .await
    }

    /// Opens an alarm on check `api` (see [`api_check`]) for real: waits for an ok result,
    /// makes the target's JSON say `down`, and waits for the alarm to be listed.
    async fn open_alarm(&self, target: &HttpServer) -> Value {
        self.wait_for_status("api", "ok").await;
        assert!(self.alarms("/api/v1/alarms").await.is_empty());
        target.set_json(json!({ "status": "down" }));
        let alarms = self.wait_for_alarms(1).await;
        alarms[0].clone()
    }

    async fn stop(self) {
        self.engine.shutdown().await;
    }
}

/// Neither the token nor its secret part appears in an answer.
#[track_caller]
fn assert_not_echoed(token: &str, text: &str) {
    assert!(!text.contains(token), "the token is echoed: {text}");
    if let Some(secret) = token.rsplit('_').next().filter(|s| s.len() >= 16) {
        assert!(
            !text.contains(secret),
            "the token's secret is echoed: {text}"
        );
    }
}

/// An API error: `status`, `{code, message}` with the message mentioning `mentions`.
#[track_caller]
fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str, mentions: &str) {
    let (s, v) = got;
    assert_eq!(*s, status, "{v}");
    assert_eq!(v["code"], code, "{v}");
    let message = v["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "the message should mention {mentions:?}: {v}"
    );
}

/// Check `api`: every second, ok while the target's `/json` says `{"status": "ok"}`; its
/// alarm opens at the first failure and closes at the first success. `notify` is a YAML list
/// of contacts, or empty for none.
fn api_check(target: &HttpServer, notify: &str) -> String {
    let notify = if notify.is_empty() {
        String::new()
    } else {
        format!(", notify: {notify}")
    };
    format!(
        r#"  - id: api
    every: 1s
    timeout: 900ms
    http:
      url: "{}"
      expect:
        json: [ {{ path: $.status, equals: ok }} ]
    alert: {{ failures: 1, recoveries: 1{notify} }}
"#,
        target.url("/json")
    )
}

/// A check that fails from its first run (HTTP 500), every second.
fn failing_check(id: &str, target: &HttpServer) -> String {
    format!(
        "  - id: {id}\n    every: 1s\n    timeout: 900ms\n    http: {{ url: \"{}\" }}\n    \
         alert: {{ failures: 1, recoveries: 1 }}\n",
        target.url("/status/500")
    )
}

/// A check that only runs when asked (or once an hour).
fn idle_check(id: &str, target: &HttpServer) -> String {
    format!(
        "  - id: {id}\n    every: 1h\n    timeout: 900ms\n    http: {{ url: \"{}\" }}\n",
        target.url("/ok")
    )
}

/// The webhook contact `hook`, posting to `url`.
fn hook_contact(url: &str) -> String {
    format!("contacts:\n  - id: hook\n    type: webhook\n    url: \"{url}\"\n")
}

/// The POSTs a test server received, as JSON documents, oldest first.
fn webhooks(hook: &HttpServer) -> Vec<Value> {
    hook.handle()
        .recorded()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// The kinds of an alarm's timeline (from `GET /api/v1/alarms/{id}`), oldest first.
fn event_kinds(shown: &Value) -> Vec<String> {
    shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tokens.
// ---------------------------------------------------------------------------------------------

/// The routes that read (`GET` paths), and those that change something (`POST` paths with a
/// valid body); `maintenance` is the id of the window the latter create and end.
fn routes(maintenance: &str) -> (Vec<String>, Vec<(String, Option<Value>)>) {
    let reads = [
        "/api/v1/alarms",
        "/api/v1/alarms/1",
        "/api/v1/maintenances",
        "/api/v1/outbox",
    ]
    .map(str::to_owned)
    .to_vec();
    let mut writes: Vec<(String, Option<Value>)> =
        ["ack", "unack", "close", "reopen", "suppress", "unsuppress"]
            .into_iter()
            .map(|a| (format!("/api/v1/alarms/1/{a}"), None))
            .collect();
    writes.extend([
        (
            "/api/v1/maintenances".to_owned(),
            Some(json!({ "id": maintenance, "scope": { "checks": ["idle"] }, "for": "1h" })),
        ),
        (format!("/api/v1/maintenances/{maintenance}/end"), None),
        ("/api/v1/reload".to_owned(), None),
        ("/api/v1/checks/idle/run".to_owned(), None),
    ]);
    (reads, writes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_requests_without_a_valid_token() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let (reads, writes) = routes("w");
    let all = reads
        .into_iter()
        .map(|p| ("GET", p, None))
        .chain(writes.into_iter().map(|(p, b)| ("POST", p, b)));
    for (method, path, body) in all {
        let path = path.as_str();
        let none = api.request(method, path, None, body.clone()).await;
        assert_error(
            &none,
            StatusCode::UNAUTHORIZED,
            "Unauthenticated",
            "tocsin token create",
        );
        for garbage in ["garbage", "tcn_00000000_00000000000000000000000000000000"] {
            let got = api.request(method, path, Some(garbage), body.clone()).await;
            assert_error(&got, StatusCode::UNAUTHORIZED, "Unauthenticated", "token");
        }
        // Not a bearer token at all.
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {}", api.op))
            .body(Body::empty())
            .unwrap();
        let (status, _, text) = api.send(req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}: {text}");
        assert!(text.contains("Bearer"), "{text}");
        assert_not_echoed(&api.op, &text);
    }
    // Nothing was changed by any of them.
    assert!(
        api.get_ok("/api/v1/maintenances").await["maintenances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let (row, token) =
        tocsin_web::auth::issue_token(api.engine.store(), "", "temp", "operator", now_ms())
            .await
            .unwrap();
    let (status, v) = api
        .request("GET", "/api/v1/alarms", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        api.engine
            .store()
            .revoke_token(&row.id, now_ms())
            .await
            .unwrap()
    );
    for (method, path) in [
        ("GET", "/api/v1/alarms"),
        ("GET", "/api/v1/outbox"),
        ("POST", "/api/v1/reload"),
    ] {
        let got = api.request(method, path, Some(&token), None).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "Unauthenticated", "revoked");
    }
    // Other tokens still work.
    api.get_ok("/api/v1/alarms").await;
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_reads_but_cannot_change_anything() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::with_one_alarm(&target).await;
    let (reads, writes) = routes("w");
    for path in reads {
        let (status, v) = api.request("GET", &path, Some(&api.read), None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
    }
    let tokens = api.engine.store().tokens().await.unwrap();
    let read_id = &tokens.iter().find(|t| t.role == "read").unwrap().id;
    for (path, body) in writes {
        let got = api.request("POST", &path, Some(&api.read), body).await;
        assert_error(&got, StatusCode::FORBIDDEN, "PermissionDenied", read_id);
        assert!(
            got.1["message"].as_str().unwrap().contains("read-only"),
            "{}",
            got.1
        );
    }
    // Nothing changed: no maintenance, the alarm neither acked, closed nor suppressed.
    assert!(
        api.get_ok("/api/v1/maintenances").await["maintenances"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let alarm = &api.get_ok("/api/v1/alarms/1").await["alarm"];
    assert!(
        alarm["ack"].is_null() && alarm["closed_ms"].is_null(),
        "{alarm}"
    );
    assert_eq!(alarm["suppressed"], false, "{alarm}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_and_admin_tokens_may_change_things() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::with_one_alarm(&target).await;
    let admin = token(&api.engine, "", "boss", "admin").await;
    // In order (ack, unack, close, reopen, suppress, unsuppress), each action is valid and the
    // alarm is open again for the next token.
    for (i, token) in [&api.op, &admin].into_iter().enumerate() {
        let (reads, writes) = routes(&format!("w{i}"));
        for path in reads {
            let (status, v) = api.request("GET", &path, Some(token), None).await;
            assert_eq!(status, StatusCode::OK, "GET {path}: {v}");
        }
        for (path, body) in writes {
            let expect = match path.as_str() {
                "/api/v1/maintenances" => StatusCode::CREATED,
                p if p.ends_with("/end") => StatusCode::NO_CONTENT,
                p if p.ends_with("/run") => StatusCode::ACCEPTED,
                _ => StatusCode::OK,
            };
            let (status, v) = api.request("POST", &path, Some(token), body).await;
            assert_eq!(status, expect, "POST {path}: {v}");
        }
    }
    // Who did it shows: the token's name.
    let shown = api.get_ok("/api/v1/alarms/1").await;
    let acked: Vec<&Value> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "acked")
        .map(|e| &e["body"]["by"])
        .collect();
    assert_eq!(
        acked,
        [&json!("token:ops"), &json!("token:boss")],
        "{shown}"
    );
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Alarms: listing and showing.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_are_listed_and_shown() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    let opened = api.open_alarm(&target).await;
    assert_eq!(opened["id"], 1, "{opened}");
    assert_eq!(
        opened["key"],
        json!({ "kind": "check", "id": "api" }),
        "{opened}"
    );
    assert_eq!(opened["faults"]["api"]["status"], "critical", "{opened}");

    // Default: open ones; closed: none; all: the same one.
    let listed = api.get_ok("/api/v1/alarms").await;
    assert_eq!(listed["alarms"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["alarms"][0]["id"], 1, "{listed}");
    assert!(
        listed["alarms"][0].get("events").is_none(),
        "lists leave the timeline out: {listed}"
    );
    assert!(listed["next_before"].is_null(), "{listed}");
    assert_eq!(api.alarms("/api/v1/alarms?state=open").await.len(), 1);
    assert!(api.alarms("/api/v1/alarms?state=closed").await.is_empty());
    assert_eq!(api.alarms("/api/v1/alarms?state=all").await.len(), 1);

    // Bad queries name what is wrong.
    for (query, mentions) in [
        ("state=bogus", "state"),
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=501", "limit"),
        ("before=garbage", "before"),
        ("before=123", "before"),
        ("before=1.x", "before"),
    ] {
        let got = api
            .request(
                "GET",
                &format!("/api/v1/alarms?{query}"),
                Some(&api.op),
                None,
            )
            .await;
        assert_error(&got, StatusCode::BAD_REQUEST, "InvalidArgument", mentions);
    }
    assert_eq!(api.alarms("/api/v1/alarms?limit=500").await.len(), 1);

    // One alarm: itself, its timeline and its deliveries, by `1` or `#1`.
    for path in ["/api/v1/alarms/1", "/api/v1/alarms/%231"] {
        let shown = api.get_ok(path).await;
        assert_eq!(shown["alarm"]["id"], 1, "{shown}");
        assert!(shown["alarm"]["closed_ms"].is_null(), "{shown}");
        let kinds = event_kinds(&shown);
        assert_eq!(kinds.first().map(String::as_str), Some("opened"), "{shown}");
        assert!(kinds.iter().any(|k| k == "fault_added"), "{shown}");
        // Nobody to tell: no deliveries.
        assert_eq!(shown["deliveries"], json!([]), "{shown}");
    }
    for path in [
        "/api/v1/alarms/999",
        "/api/v1/alarms/abc",
        "/api/v1/alarms/-1",
        "/api/v1/alarms/18446744073709551615",
    ] {
        let got = api.request("GET", path, Some(&api.op), None).await;
        assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "no alarm");
    }
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_pages_follow_next_before_to_the_end() {
    let target = HttpServer::start().await.unwrap();
    let checks: String = ["a1", "a2", "a3", "a4"]
        .into_iter()
        .map(|id| failing_check(id, &target))
        .collect();
    let api = Api::start(&[("a.yml", format!("checks:\n{checks}"))]).await;
    let all = api.wait_for_alarms(4).await;
    assert_eq!(all.len(), 4);

    for limit in [1, 3] {
        let mut seen: Vec<(i64, u64)> = Vec::new();
        let mut before: Option<String> = None;
        for page in 0.. {
            assert!(page <= 5, "too many pages: {seen:?}");
            let path = match &before {
                Some(b) => format!("/api/v1/alarms?limit={limit}&before={b}"),
                None => format!("/api/v1/alarms?limit={limit}"),
            };
            let v = api.get_ok(&path).await;
            let alarms = v["alarms"].as_array().unwrap();
            assert!(alarms.len() <= limit, "{v}");
            seen.extend(
                alarms
                    .iter()
                    .map(|a| (a["opened_ms"].as_i64().unwrap(), a["id"].as_u64().unwrap())),
            );
            match v["next_before"].as_str() {
                Some(next) => {
                    assert_eq!(alarms.len(), limit, "{v}");
                    let last = seen.last().unwrap();
                    assert_eq!(next, format!("{}.{}", last.0, last.1), "{v}");
                    before = Some(next.to_owned());
                }
                None => {
                    assert!(v["next_before"].is_null(), "{v}");
                    break;
                }
            }
        }
        // Every alarm once, newest opened first (ties by id, descending).
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            seen.windows(2).all(|w| w[0] > w[1]),
            "not strictly decreasing: {seen:?}"
        );
        let mut ids: Vec<u64> = seen.iter().map(|s| s.1).collect();
        ids.sort_unstable();
        assert_eq!(ids, [1, 2, 3, 4], "{seen:?}");
    }
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Alarms: actions.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_validates_its_body_and_takes_the_alarm() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    api.open_alarm(&target).await;

    // Refused, and the alarm untouched.
    let bad = [
        ("ack", json!({ "expires": "yesterday" }), "expires"),
        (
            "ack",
            json!({ "expires": "2020-01-01T00:00:00Z" }),
            "expires",
        ),
        ("ack", json!({ "expires": "0s" }), "expires"),
        ("close", json!({ "comment": "done" }), "comment"),
        ("unack", json!({ "expires": "2h" }), "expires"),
    ];
    for (action, body, mentions) in bad {
        let got = api
            .post(&format!("/api/v1/alarms/1/{action}"), Some(body))
            .await;
        assert_error(&got, StatusCode::BAD_REQUEST, "InvalidArgument", mentions);
    }
    let got = api.post("/api/v1/alarms/1/explode", None).await;
    assert_error(
        &got,
        StatusCode::NOT_FOUND,
        "NotFound",
        "ack, unack, close, reopen, suppress or unsuppress",
    );
    assert!(
        got.1["message"].as_str().unwrap().contains("explode"),
        "{}",
        got.1
    );
    let (status, v) = api
        .post(
            "/api/v1/alarms/1/ack",
            Some(json!({ "by": "alice", "who": "bob" })),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {v}");
    let got = api.post("/api/v1/alarms/999/ack", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "999");
    let got = api.post("/api/v1/alarms/abc/ack", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "abc");
    let shown = api.get_ok("/api/v1/alarms/1").await;
    assert!(shown["alarm"]["ack"].is_null(), "{shown}");
    assert!(
        !event_kinds(&shown).contains(&"acked".to_owned()),
        "{shown}"
    );

    // Taken by alice for two hours.
    let (status, alarm) = api
        .post(
            "/api/v1/alarms/1/ack",
            Some(json!({ "by": "alice", "comment": "on it", "expires": "2h" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert_eq!(alarm["id"], 1, "{alarm}");
    assert_eq!(alarm["ack"]["by"], "alice", "{alarm}");
    assert_eq!(alarm["ack"]["comment"], "on it", "{alarm}");
    let expires = alarm["ack"]["expires_ms"].as_i64().unwrap();
    let ahead = expires - now_ms();
    assert!(
        (7_200_000 - 60_000..=7_200_000).contains(&ahead),
        "expires {ahead}ms ahead"
    );
    // The same through GET.
    let shown = api.get_ok("/api/v1/alarms/%231").await;
    assert_eq!(shown["alarm"]["ack"]["by"], "alice", "{shown}");
    assert_eq!(shown["alarm"]["ack"]["expires_ms"], expires, "{shown}");

    // An RFC 3339 expiry.
    let at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(3);
    let (status, alarm) = api
        .post(
            "/api/v1/alarms/1/ack",
            Some(json!({ "by": "carol", "expires": at.to_string() })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert_eq!(alarm["ack"]["expires_ms"], at.as_millisecond(), "{alarm}");

    // Unack, then ack with no body at all: the token's name is who.
    let (status, alarm) = api.post("/api/v1/alarms/1/unack", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert!(alarm["ack"].is_null(), "{alarm}");
    let (status, alarm) = api.post("/api/v1/alarms/1/ack", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert_eq!(alarm["ack"]["by"], "token:ops", "{alarm}");
    assert!(alarm["ack"]["expires_ms"].is_null(), "{alarm}");
    // A blank `by` also falls back to the token.
    let (status, alarm) = api
        .post("/api/v1/alarms/1/ack", Some(json!({ "by": "  " })))
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert_eq!(alarm["ack"]["by"], "token:ops", "{alarm}");

    let shown = api.get_ok("/api/v1/alarms/1").await;
    let kinds: Vec<String> = event_kinds(&shown)
        .into_iter()
        .filter(|k| k.contains("ack"))
        .collect();
    assert_eq!(
        kinds,
        ["acked", "acked", "unacked", "acked", "acked"],
        "{shown}"
    );
    let unacked = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unacked")
        .unwrap();
    assert_eq!(unacked["body"]["by"], "token:ops", "{unacked}");

    // A short ack runs out by itself at a tick.
    let (status, alarm) = api
        .post("/api/v1/alarms/1/ack", Some(json!({ "expires": "1s" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    let shown = wait_for(10, "the ack to expire", async || {
        let shown = api.get_ok("/api/v1/alarms/1").await;
        shown["alarm"]["ack"].is_null().then_some(shown)
    })
    .await;
    assert_eq!(
        event_kinds(&shown).last().map(String::as_str),
        Some("ack_expired"),
        "{shown}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reopen_and_suppress_follow_the_alarm_state() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    api.open_alarm(&target).await;

    let (status, alarm) = api
        .post("/api/v1/alarms/1/ack", Some(json!({ "by": "alice" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");

    // Close: closed, listed as such; the ack goes with it.
    let (status, alarm) = api
        .post("/api/v1/alarms/1/close", Some(json!({ "by": "bob" })))
        .await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert!(alarm["closed_ms"].as_i64().is_some(), "{alarm}");
    assert!(alarm["ack"].is_null(), "{alarm}");
    assert!(api.alarms("/api/v1/alarms").await.is_empty());
    let closed = api.alarms("/api/v1/alarms?state=closed").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["id"], 1);
    assert!(closed[0]["closed_ms"].as_i64().is_some());

    // What needs an open alarm is refused.
    for action in ["close", "ack", "unack", "suppress", "unsuppress"] {
        let got = api.post(&format!("/api/v1/alarms/1/{action}"), None).await;
        assert_error(&got, StatusCode::CONFLICT, "Conflict", "closed");
    }

    // Reopen: open again; a second reopen is refused.
    let (status, alarm) = api.post("/api/v1/alarms/1/reopen", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert!(alarm["closed_ms"].is_null(), "{alarm}");
    let got = api.post("/api/v1/alarms/1/reopen", None).await;
    assert_error(&got, StatusCode::CONFLICT, "Conflict", "open");
    let open = api.alarms("/api/v1/alarms").await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["id"], 1);

    // Suppress and unsuppress are idempotent.
    for _ in 0..2 {
        let (status, alarm) = api.post("/api/v1/alarms/1/suppress", None).await;
        assert_eq!(status, StatusCode::OK, "{alarm}");
        assert_eq!(alarm["suppressed"], true, "{alarm}");
    }
    for _ in 0..2 {
        let (status, alarm) = api.post("/api/v1/alarms/1/unsuppress", None).await;
        assert_eq!(status, StatusCode::OK, "{alarm}");
        assert_eq!(alarm["suppressed"], false, "{alarm}");
    }

    // The timeline, in order, with who did what.
    let shown = api.get_ok("/api/v1/alarms/1").await;
    let manual: Vec<&Value> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            ["acked", "closed", "reopened", "suppressed", "unsuppressed"]
                .contains(&e["kind"].as_str().unwrap())
        })
        .collect();
    let kinds: Vec<&str> = manual.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["acked", "closed", "reopened", "suppressed", "unsuppressed"],
        "{shown}"
    );
    let by: Vec<&str> = manual
        .iter()
        .map(|e| e["body"]["by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        ["alice", "bob", "token:ops", "token:ops", "token:ops"],
        "{shown}"
    );
    let seqs: Vec<i64> = shown["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");

    // Closed again; the check recovers and fails anew: alarm #2 holds the key, so #1 cannot
    // be reopened.
    let (status, alarm) = api.post("/api/v1/alarms/1/close", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    target.set_json(json!({ "status": "ok" }));
    api.wait_for_status("api", "ok").await;
    target.set_json(json!({ "status": "down" }));
    let open = api.wait_for_alarms(1).await;
    assert_eq!(open[0]["id"], 2, "{open:?}");
    let got = api.post("/api/v1/alarms/1/reopen", None).await;
    assert_error(&got, StatusCode::CONFLICT, "Conflict", "#2");
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Maintenances.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenances_are_added_listed_and_ended() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[(
        "a.yml",
        format!(
            "checks:\n{}maintenances:\n  - id: planned\n    note: far ahead\n    start: \
             2099-01-01T00:00:00Z\n    end: 2h\n    scope: {{ checks: [idle] }}\n",
            idle_check("idle", &target)
        ),
    )])
    .await;

    let (status, m) = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "id": "upg", "scope": { "checks": ["idle"] }, "for": "1h", "note": "x" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["id"], "upg", "{m}");
    assert_eq!(m["active"], true, "{m}");
    assert_eq!(m["source"], "api", "{m}");
    assert_eq!(m["note"], "x", "{m}");
    assert_eq!(m["scope"]["checks"], json!(["idle"]), "{m}");
    let start: jiff::Timestamp = m["start"].as_str().unwrap().parse().unwrap();
    let end: jiff::Timestamp = m["end"].as_str().unwrap().parse().unwrap();
    let length = end.duration_since(start).as_secs_f64();
    assert!((3599.0..=3601.0).contains(&length), "{m}");

    // Listed with the file's window.
    let listed = api.get_ok("/api/v1/maintenances").await;
    let all = listed["maintenances"].as_array().unwrap();
    let ids: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["planned", "upg"], "{listed}");
    assert_eq!(all[0]["source"], "file", "{listed}");
    assert_eq!(all[0]["active"], false, "{listed}");
    assert!(
        all[0]["origin"].as_str().unwrap().starts_with("a.yml:"),
        "{listed}"
    );
    assert_eq!(all[1]["active"], true, "{listed}");

    // Taken ids.
    let got = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "id": "upg", "scope": { "checks": ["idle"] }, "for": "1h" })),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "Conflict", "upg");
    let got = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "id": "planned", "scope": { "checks": ["idle"] }, "for": "1h" })),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "Conflict", "a.yml");

    // Invalid windows, each naming what is wrong.
    let scope = json!({ "checks": ["idle"] });
    let bad = [
        (json!({ "scope": {}, "for": "1h" }), "scope"),
        (json!({ "scope": { "all": false }, "for": "1h" }), "scope"),
        (
            json!({ "scope": { "checks": ["nope"] }, "for": "1h" }),
            "nope",
        ),
        (
            json!({ "scope": { "groups": ["nogroup"] }, "for": "1h" }),
            "nogroup",
        ),
        (json!({ "scope": scope, "end": "2h", "for": "1h" }), "end"),
        (json!({ "scope": scope }), "end"),
        (json!({ "scope": scope, "for": "soon" }), "for"),
        (
            json!({ "scope": scope, "start": "tomorrow", "for": "1h" }),
            "start",
        ),
        (
            json!({ "scope": scope, "start": "2099-01-02T00:00:00Z", "end": "2099-01-01T00:00:00Z" }),
            "end",
        ),
        (
            json!({ "scope": scope, "start": "2020-01-01T00:00:00Z", "for": "1h" }),
            "end",
        ),
        (json!({ "scope": scope, "for": "400d" }), "end"),
        (
            json!({ "scope": scope, "end": "2999-01-01T00:00:00Z" }),
            "end",
        ),
        (
            json!({ "id": "Not An Id!", "scope": scope, "for": "1h" }),
            "id",
        ),
    ];
    for (body, mentions) in bad {
        let got = api.post("/api/v1/maintenances", Some(body.clone())).await;
        assert_error(&got, StatusCode::BAD_REQUEST, "InvalidArgument", mentions);
    }
    // Bodies that do not parse: unknown fields, a missing scope.
    for body in [
        json!({ "scope": { "checks": ["idle"], "bogus": true }, "for": "1h" }),
        json!({ "scope": scope, "for": "1h", "colour": "red" }),
        json!({ "for": "1h" }),
    ] {
        let (status, v) = api.post("/api/v1/maintenances", Some(body)).await;
        assert!(status.is_client_error(), "{status}: {v}");
    }
    // None of them was added.
    let listed = api.get_ok("/api/v1/maintenances").await;
    assert_eq!(
        listed["maintenances"].as_array().unwrap().len(),
        2,
        "{listed}"
    );

    // A window to come is listed but not active; no id: one is made up.
    let (status, m) = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "scope": scope, "start": "2098-01-01T00:00:00Z", "for": "2h" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["active"], false, "{m}");
    assert!(m["id"].as_str().unwrap().starts_with("m-"), "{m}");
    assert_eq!(m["start"], "2098-01-01T00:00:00Z", "{m}");
    assert_eq!(m["end"], "2098-01-01T02:00:00Z", "{m}");

    // Ending: gone from the list; a second end finds nothing; a file's window is not ours.
    let (status, v) = api.post("/api/v1/maintenances/upg/end", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    assert!(v.is_null(), "{v}");
    let listed = api.get_ok("/api/v1/maintenances").await;
    assert!(
        listed["maintenances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != "upg"),
        "{listed}"
    );
    let got = api.post("/api/v1/maintenances/upg/end", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "upg");
    let got = api.post("/api/v1/maintenances/never-was/end", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "never-was");
    let got = api.post("/api/v1/maintenances/planned/end", None).await;
    assert_error(&got, StatusCode::CONFLICT, "Conflict", "a.yml");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_holds_notifications_back_until_it_ends() {
    let target = HttpServer::start().await.unwrap();
    let hook = HttpServer::start().await.unwrap();
    let api = Api::start(&[(
        "a.yml",
        format!(
            "{}checks:\n{}",
            hook_contact(&hook.url("/ok")),
            api_check(&target, "[hook]")
        ),
    )])
    .await;
    api.wait_for_status("api", "ok").await;

    let (status, m) = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "id": "upg", "scope": { "checks": ["api"] }, "for": "1h" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    // Only results of runs started inside the window count as in it.
    let added = now_ms();
    wait_for(10, "a run started in the window", async || {
        let r = api.engine.check("api")?.snapshot().last?;
        (r.started_at_ms > added).then_some(())
    })
    .await;

    // A failure: the alarm opens, its fault held, and nothing is queued.
    target.set_json(json!({ "status": "down" }));
    let alarm = api.wait_for_alarms(1).await.remove(0);
    assert_eq!(
        alarm["faults"]["api"]["hold"],
        json!({ "kind": "maintenance" }),
        "{alarm}"
    );
    // Give the worker and a few ticks the chance to (wrongly) send something.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let outbox = api.get_ok("/api/v1/outbox").await;
    assert_eq!(
        outbox["counts"],
        json!({ "pending": 0, "delivered": 0, "dead": 0 }),
        "{outbox}"
    );
    let shown = api.get_ok("/api/v1/alarms/1").await;
    assert_eq!(shown["deliveries"], json!([]), "{shown}");
    let kinds = event_kinds(&shown);
    assert_eq!(
        kinds,
        ["opened", "fault_added", "maintenance_started"],
        "{shown}"
    );
    assert_eq!(hook.requests(), 0);

    // The window ends: the fault still there is notified at once.
    let (status, v) = api.post("/api/v1/maintenances/upg/end", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    let sent = wait_for(10, "the held notification", async || {
        webhooks(&hook).into_iter().next()
    })
    .await;
    assert_eq!(sent["alarm"]["id"], 1, "{sent}");
    assert_eq!(
        sent["alarm"]["kind"], "maintenance_ended_with_faults",
        "{sent}"
    );
    assert_eq!(sent["check"]["id"], "api", "{sent}");
    assert_eq!(sent["status"], "critical", "{sent}");
    let shown = wait_for(10, "the delivery to be recorded", async || {
        let shown = api.get_ok("/api/v1/alarms/1").await;
        (shown["deliveries"][0]["status"] == "delivered").then_some(shown)
    })
    .await;
    assert!(shown["alarm"]["faults"]["api"]["hold"].is_null(), "{shown}");
    assert!(
        event_kinds(&shown).contains(&"maintenance_ended".to_owned()),
        "{shown}"
    );
    assert_eq!(shown["deliveries"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["deliveries"][0]["contact"], "hook", "{shown}");
    assert_eq!(webhooks(&hook).len(), 1);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_errors_say_what_is_wrong_with_the_window() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let scope = json!({ "checks": ["idle"] });
    let got = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "scope": scope, "for": "99999999999d" })),
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "InvalidArgument", "at most");
    let got = api
        .post(
            "/api/v1/maintenances",
            Some(json!({ "scope": scope, "start": "2099-01-02T00:00:00Z", "end": "2099-01-01T00:00:00Z" })),
        )
        .await;
    assert_error(
        &got,
        StatusCode::BAD_REQUEST,
        "InvalidArgument",
        "after start",
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_maintenances_with_one_id_make_one_and_conflicts() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let body = json!({ "id": "race", "scope": { "checks": ["idle"] }, "for": "1h" });
    let mut statuses = api.post_at_once("/api/v1/maintenances", &body, 32).await;
    statuses.sort_unstable();
    let mut expect = vec![409; 32];
    expect[0] = 201;
    assert_eq!(statuses, expect);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_maintenances_without_an_id_each_get_one() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let body = json!({ "scope": { "checks": ["idle"] }, "for": "1h" });
    let statuses = api.post_at_once("/api/v1/maintenances", &body, 8).await;
    assert_eq!(statuses, [201; 8]);
    let listed = api.get_ok("/api/v1/maintenances").await;
    assert_eq!(
        listed["maintenances"].as_array().unwrap().len(),
        8,
        "{listed}"
    );
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_alarm_can_be_reopened_after_a_restart() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    api.open_alarm(&target).await;
    let (status, alarm) = api.post("/api/v1/alarms/1/close", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");

    let api = api.restart().await;
    // Still shown, and still closed.
    let shown = api.get_ok("/api/v1/alarms/1").await;
    assert!(shown["alarm"]["closed_ms"].as_i64().is_some(), "{shown}");
    let (status, alarm) = api.post("/api/v1/alarms/1/reopen", None).await;
    assert_eq!(status, StatusCode::OK, "{alarm}");
    assert!(alarm["closed_ms"].is_null(), "{alarm}");
    assert_eq!(api.alarms("/api/v1/alarms").await.len(), 1);
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Outbox, run-now, reload.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_counts_rows_and_lists_dead_letters() {
    let target = HttpServer::start().await.unwrap();
    let hook = HttpServer::start().await.unwrap();
    // The receiver answers 404: a permanent failure, so the first attempt is the last.
    let hook_url = hook.url("/status/404");
    let api = Api::start(&[(
        "a.yml",
        format!(
            "{}checks:\n{}",
            hook_contact(&hook_url),
            failing_check("down", &target).replace(
                "alert: { failures: 1, recoveries: 1 }",
                "alert: { failures: 1, recoveries: 1, notify: [hook] }"
            )
        ),
    )])
    .await;
    let outbox = wait_for(15, "a dead letter", async || {
        let v = api.get_ok("/api/v1/outbox").await;
        (v["counts"]["dead"] == 1).then_some(v)
    })
    .await;
    assert_eq!(
        outbox["counts"],
        json!({ "pending": 0, "delivered": 0, "dead": 1 }),
        "{outbox}"
    );
    let dead = &outbox["dead"][0];
    assert_eq!(outbox["dead"].as_array().unwrap().len(), 1, "{outbox}");
    assert_eq!(dead["status"], "dead", "{dead}");
    assert_eq!(dead["contact"], "hook", "{dead}");
    assert_eq!(dead["channel"], "webhook", "{dead}");
    assert_eq!(dead["alarm_id"], 1, "{dead}");
    assert_eq!(dead["attempts"], 1, "{dead}");
    assert!(dead["dead_ms"].as_i64().is_some(), "{dead}");
    let error = dead["last_error"].as_str().unwrap();
    assert!(error.contains("404"), "{dead}");
    // The contact's URL is not kept with the row.
    assert!(!outbox.to_string().contains(&hook_url), "{outbox}");
    assert_eq!(hook.requests(), 1);

    // The alarm shows the same delivery.
    let shown = api.get_ok("/api/v1/alarms/1").await;
    assert_eq!(shown["deliveries"][0]["status"], "dead", "{shown}");

    // A read token may look; limits are clamped; a bad one is refused.
    let (status, v) = api
        .request("GET", "/api/v1/outbox?limit=0", Some(&api.read), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["dead"].as_array().unwrap().len(), 1, "{v}");
    let (status, v) = api
        .request("GET", "/api/v1/outbox?limit=bogus", Some(&api.op), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_runs_a_check_and_reload_reports_changes() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let (status, v) = api.post("/api/v1/checks/idle/run", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert!(v.is_null(), "{v}");
    api.wait_for_status("idle", "ok").await;
    assert!(target.requests() >= 1);
    let got = api.post("/api/v1/checks/nope/run", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NotFound", "nope");

    std::fs::write(
        api.conf().join("b.yml"),
        format!("checks:\n{}", idle_check("later", &target)),
    )
    .unwrap();
    let (status, report) = api.post("/api/v1/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report,
        json!({ "added": 1, "changed": 0, "removed": 0, "unchanged": 1, "errors": [] })
    );
    let (status, v) = api.post("/api/v1/checks/later/run", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    api.wait_for_status("later", "ok").await;
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Error shape.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_queries_and_bodies_answer_code_and_message() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    api.open_alarm(&target).await;
    let cases = [
        ("GET", "/api/v1/outbox?limit=bogus", None),
        ("GET", "/api/v1/alarms?limit=-1", None),
        ("GET", "/api/v1/alarms?colour=red", None),
        ("POST", "/api/v1/alarms/1/ack", Some(r#"{"who":"bob"}"#)),
        ("POST", "/api/v1/alarms/1/ack", Some("{not json")),
        ("POST", "/api/v1/maintenances", Some("")),
    ];
    let mut wrong = Vec::new();
    for (method, path, body) in cases {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", api.op));
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Body::from(body.unwrap_or_default().to_owned()))
            .unwrap();
        let (status, content_type, text) = api.send(req).await;
        let code = serde_json::from_str::<Value>(&text)
            .ok()
            .map(|v| v["code"].clone());
        if status != StatusCode::BAD_REQUEST || code != Some(json!("InvalidArgument")) {
            wrong.push(format!(
                "{method} {path} {body:?}: {status} {content_type:?} {text}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "not 400 {{code, message}}:\n{}",
        wrong.join("\n")
    );
    // An empty body is no body, whatever its content type says: the action's defaults apply.
    let req = Request::builder()
        .method("POST")
        .uri("/api/v1/alarms/1/ack")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.op))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, _, text) = api.send(req).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    api.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Objects created through the API, tenants and tokens, rate limits, events.
// ---------------------------------------------------------------------------------------------

impl Api {
    /// Sends a request with extra headers; returns the status, the answer's headers and its
    /// JSON (`Null` when empty).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
        let resp = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(!status.is_server_error(), "{method} {path}: {status}");
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, headers, v)
    }

    /// Creates tenant `id` and an `admin` token for it; returns the token.
    async fn tenant(&self, id: &str) -> String {
        let (s, _, v) = self
            .raw(
                "POST",
                "/api/v1/tenants",
                &self.op,
                Some(json!({ "id": id })),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, _, v) = self
            .raw(
                "POST",
                "/api/v1/tokens",
                &self.op,
                Some(json!({ "name": format!("{id}-admin"), "role": "admin", "tenant": id })),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["token"].as_str().unwrap().to_owned()
    }
}

fn etag(h: &axum::http::HeaderMap) -> &str {
    h.get(header::ETAG).unwrap().to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_are_created_replaced_and_deleted_with_etags_and_survive_a_restart() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let def = json!({ "id": "web", "every": "1s", "http": { "url": target.url("/ok") } });
    let (s, h, v) = api
        .raw("POST", "/api/v1/checks", &api.op, Some(def), &[])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(etag(&h), "\"1\"");
    assert_eq!(
        (v["source"].as_str(), v["version"].as_i64()),
        (Some("api"), Some(1)),
        "{v}"
    );
    api.wait_for_status("web", "ok").await;
    let detail = api.get_ok("/api/v1/checks/web").await;
    assert_eq!(detail["source"], "api", "{detail}");

    // Replace with the ETag read; a second replace with the same (now stale) ETag fails.
    let renamed =
        json!({ "every": "1s", "name": "Web front", "http": { "url": target.url("/ok") } });
    let (s, h, v) = api
        .raw(
            "PUT",
            "/api/v1/checks/web",
            &api.op,
            Some(renamed.clone()),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(etag(&h), "\"2\"");
    assert_eq!(v["spec"]["name"], "Web front", "{v}");
    let (s, _, v) = api
        .raw(
            "PUT",
            "/api/v1/checks/web",
            &api.op,
            Some(renamed),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("FailedPrecondition")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("version 2"), "{v}");

    // Objects are stored: a restart keeps them, with their versions.
    let api = api.restart().await;
    let (s, h, v) = api
        .raw("GET", "/api/v1/checks/web", &api.op, None, &[])
        .await;
    assert_eq!((s, etag(&h)), (StatusCode::OK, "\"2\""), "{v}");
    assert_eq!(v["name"], "Web front", "{v}");

    let (s, _, _) = api
        .raw(
            "DELETE",
            "/api/v1/checks/web",
            &api.op,
            None,
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = api
        .raw("GET", "/api/v1/checks/web", &api.op, None, &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_from_files_are_read_only_and_bad_definitions_name_the_field() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[(
        "a.yml",
        format!(
            "{}checks:\n{}",
            hook_contact(&target.url("/hook")),
            idle_check("idle", &target)
        ),
    )])
    .await;
    let op = api.op.clone();
    let url = target.url("/ok");
    for (method, path) in [
        ("PUT", "/api/v1/checks/idle"),
        ("DELETE", "/api/v1/checks/idle"),
        ("DELETE", "/api/v1/contacts/hook"),
    ] {
        let body = (method == "PUT").then(|| json!({ "http": { "url": url } }));
        let (s, _, v) = api.raw(method, path, &op, body, &[]).await;
        assert_eq!(s, StatusCode::CONFLICT, "{method} {path}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains("a.yml:"),
            "names the file: {v}"
        );
    }
    let cases = [
        (
            json!({ "id": "x", "http": { "url": "nope" } }),
            StatusCode::BAD_REQUEST,
            "http.url",
        ),
        (
            json!({ "id": "x", "http": { "url": url }, "evry": "1s" }),
            StatusCode::BAD_REQUEST,
            "evry",
        ),
        (
            json!({ "http": { "url": url } }),
            StatusCode::BAD_REQUEST,
            "id",
        ),
        (
            json!({ "id": "idle", "http": { "url": url } }),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            json!({ "id": "x", "http": { "url": url }, "depends_on": ["ghost"] }),
            StatusCode::BAD_REQUEST,
            "ghost",
        ),
        (
            json!({ "id": "x", "command": { "run": ["true"] } }),
            StatusCode::FORBIDDEN,
            "command checks are not accepted",
        ),
        (
            json!({ "id": "x", "http": { "url": url }, "tenant": "nobody" }),
            StatusCode::BAD_REQUEST,
            "no tenant",
        ),
        (json!([1, 2]), StatusCode::BAD_REQUEST, "JSON object"),
    ];
    for (body, status, needle) in cases {
        let (s, _, v) = api
            .raw("POST", "/api/v1/checks", &op, Some(body.clone()), &[])
            .await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    // Contacts: secrets never come back.
    let (s, _, v) = api
        .raw(
            "POST",
            "/api/v1/contacts",
            &op,
            Some(json!({ "id": "ops-hook", "type": "webhook", "url": "http://127.0.0.1:9/secret-path" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, _, list) = api.raw("GET", "/api/v1/contacts", &op, None, &[]).await;
    assert!(!list.to_string().contains("secret-path"), "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_and_change_only_their_own_objects() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::with_one_alarm(&target).await;
    let acme = api.tenant("acme").await;
    let beta = api.tenant("beta").await;

    // Nothing of the operator's is visible to a tenant: lists are empty, objects are 404.
    let (_, _, v) = api.raw("GET", "/api/v1/checks", &acme, None, &[]).await;
    assert_eq!(v["total"], 0, "{v}");
    for path in [
        "/api/v1/checks/idle",
        "/api/v1/alarms/1",
        "/api/v1/checks/idle/results",
    ] {
        let (s, _, v) = api.raw("GET", path, &acme, None, &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (_, _, v) = api.raw("GET", "/api/v1/alarms", &acme, None, &[]).await;
    assert!(v["alarms"].as_array().unwrap().is_empty(), "{v}");
    for (method, path) in [
        ("POST", "/api/v1/alarms/1/ack"),
        ("POST", "/api/v1/checks/idle/run"),
        ("PUT", "/api/v1/checks/idle"),
        ("DELETE", "/api/v1/checks/idle"),
    ] {
        let body = (method == "PUT").then(|| json!({ "http": { "url": target.url("/ok") } }));
        let (s, _, v) = api.raw(method, path, &acme, body, &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
    }
    for path in ["/api/v1/tenants", "/api/v1/tokens", "/api/v1/outbox"] {
        let (s, _, v) = api.raw("GET", path, &acme, None, &[]).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {v}");
    }

    // A tenant creates network checks with its prefix, never commands, never for another.
    let url = target.url("/ok");
    let refusals = [
        (
            json!({ "id": "web", "http": { "url": url } }),
            StatusCode::BAD_REQUEST,
            "start with \"acme.\"",
        ),
        (
            json!({ "id": "acme.cmd", "command": { "run": ["true"] } }),
            StatusCode::FORBIDDEN,
            "for tenants",
        ),
        (
            json!({ "id": "acme.push", "push": {} }),
            StatusCode::FORBIDDEN,
            "for tenants",
        ),
        (
            json!({ "id": "acme.x", "http": { "url": url }, "tenant": "beta" }),
            StatusCode::FORBIDDEN,
            "own tenant",
        ),
        (
            json!({ "id": "acme.x", "http": { "url": url }, "depends_on": ["idle"] }),
            StatusCode::BAD_REQUEST,
            "idle",
        ),
    ];
    for (body, status, needle) in refusals {
        let (s, _, v) = api
            .raw("POST", "/api/v1/checks", &acme, Some(body.clone()), &[])
            .await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{body}: {v}"
        );
    }
    let def = json!({ "id": "acme.web", "every": "1s", "http": { "url": url } });
    let (s, _, v) = api
        .raw("POST", "/api/v1/checks", &acme, Some(def), &[])
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["tenant"], "acme", "{v}");

    // Its probe refuses loopback: the check is critical, and the target saw nothing.
    let before = target.handle().recorded().len();
    wait_for(15, "acme.web to be refused", async || {
        let (_, _, v) = api
            .raw("GET", "/api/v1/checks/acme.web", &acme, None, &[])
            .await;
        let m = v["last_result"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        m.contains("refused").then_some(())
    })
    .await;
    let (_, _, v) = api
        .raw("GET", "/api/v1/checks/acme.web", &acme, None, &[])
        .await;
    assert_eq!(v["last_result"]["status"], "critical", "{v}");
    assert!(
        v["last_result"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{v}"
    );
    assert!(
        target.handle().recorded()[before..]
            .iter()
            .all(|r| r.path != "/ok"),
        "the tenant's probe reached loopback"
    );

    // Each tenant sees its own; the operator sees everything.
    let (_, _, v) = api.raw("GET", "/api/v1/checks", &acme, None, &[]).await;
    let ids: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme.web"], "{v}");
    let (s, _, _) = api
        .raw("GET", "/api/v1/checks/acme.web", &beta, None, &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = api
        .raw("DELETE", "/api/v1/checks/acme.web", &beta, None, &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, v) = api
        .raw("GET", "/api/v1/checks?tenant=acme", &api.op, None, &[])
        .await;
    assert_eq!(v["total"], 1, "{v}");

    // A tenant that still owns objects cannot be deleted.
    let (s, _, v) = api
        .raw("DELETE", "/api/v1/tenants/acme", &api.op, None, &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_over_its_rate_limit_gets_429_with_retry_after() {
    let target = HttpServer::start().await.unwrap();
    let mut api =
        Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let options = tocsin_web::WebOptions {
        api_rate: tocsin_core::directory::RateLimit::parse("3/min").unwrap(),
        ..tocsin_web::WebOptions::default()
    };
    api.app = tocsin_web::router_with(tocsin_web::AppState::new(api.engine.clone(), options));
    for _ in 0..3 {
        let (s, _, _) = api.raw("GET", "/api/v1/checks", &api.op, None, &[]).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, h, v) = api.raw("GET", "/api/v1/checks", &api.op, None, &[]).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("TooManyRequests")),
        "{v}"
    );
    let retry: u64 = h
        .get(header::RETRY_AFTER)
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    // Another token has its own bucket.
    let (s, _, _) = api.raw("GET", "/api/v1/checks", &api.read, None, &[]).await;
    assert_eq!(s, StatusCode::OK);
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_state_changes_to_the_tenants_that_own_them() {
    use futures_util::StreamExt as _;
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", api_check(&target, "")))]).await;
    api.wait_for_status("api", "ok").await;
    let acme = api.tenant("acme").await;
    let open = |token: String| {
        let app = api.app.clone();
        async move {
            let req = Request::builder()
                .uri("/api/v1/events?types=state")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
            resp.into_body().into_data_stream()
        }
    };
    let mut ops = open(api.op.clone()).await;
    let mut tenant = open(acme).await;
    target.set_json(json!({ "status": "down" }));
    let mut seen = String::new();
    let end = Instant::now() + Duration::from_secs(15);
    while !seen.contains("\"check\":\"api\"") {
        assert!(Instant::now() < end, "no state event: {seen}");
        let chunk = tokio::time::timeout(Duration::from_secs(15), ops.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: state"), "{seen}");
    assert!(seen.contains("\"to\":\"critical\""), "{seen}");
    // The tenant's stream carries nothing of the operator's check.
    let quiet = tokio::time::timeout(Duration::from_millis(500), tenant.next()).await;
    assert!(quiet.is_err(), "the tenant got an event: {quiet:?}");
    let (s, _, v) = api
        .raw("GET", "/api/v1/events?types=nope", &api.op, None, &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    api.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_take_a_grain_and_a_bounded_range() {
    let target = HttpServer::start().await.unwrap();
    let api = Api::start(&[("a.yml", format!("checks:\n{}", idle_check("idle", &target)))]).await;
    let (s, _, v) = api
        .raw(
            "GET",
            "/api/v1/checks/idle/rollups?grain=day",
            &api.op,
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["rollups"].is_array(), "{v}");
    for (query, needle) in [
        ("grain=week", "grain"),
        ("from=10&to=5", "before"),
        ("grain=minute&from=-9223372036854775808", "1500"),
        ("to=-9223372036854775808", "before"),
    ] {
        let path = format!("/api/v1/checks/idle/rollups?{query}");
        let (s, _, v) = api.raw("GET", &path, &api.op, None, &[]).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(
            v["message"].as_str().unwrap().contains(needle),
            "{query}: {v}"
        );
    }
    api.stop().await;
}
