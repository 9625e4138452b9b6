//! The datadog channel against a local server playing Datadog's Events API v1: the exact event,
//! and how Datadog's answers are judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn datadog(url: Option<&str>, settings: serde_json::Value) -> Contact {
    contact(ContactKind::Datadog, None, url, settings)
}

fn accepted() -> serde_json::Value {
    serde_json::json!({"status": "ok", "event": {"id": 6_789_012_345_u64, "title": "[CRITICAL] Web front"}})
}

#[tokio::test]
async fn posts_the_documented_event() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/api/v1/events", 202, &accepted());
    let c = datadog(
        Some(&server.url("/api/v1/events")),
        serde_json::json!({"api_key": KEY, "tags": ["env:prod", "team:web"]}),
    );
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(done.detail, "HTTP 202: ok (event 6789012345)");

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/api/v1/events", "")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("dd-api-key"), Some(KEY));
    assert_eq!(req.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "title": "[CRITICAL] Web front",
            "text": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                     Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
            "alert_type": "error",
            "aggregation_key": "acme/42",
            "source_type_name": "tocsin",
            "tags": ["check:web", "tenant:acme", "status:critical", "env:prod", "team:web"],
            "date_happened": 0,
            "priority": "normal",
        })
    );
}

#[tokio::test]
async fn alert_types_templates_and_limits() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/api/v1/events", 202, &accepted());
    let c = datadog(
        Some(&server.url("/api/v1/events")),
        serde_json::json!({
            "api_key": KEY,
            "source_type_name": "my_apps",
            "subject": "{{ check.id }} {{ message }}",
            "body": "{{ message }} in {{ tenant }}",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    for (kind, status, alert_type) in [
        (MessageKind::Opened, Status::Unknown, "error"),
        (MessageKind::Renotify, Status::Warning, "warning"),
        (MessageKind::FaultCleared, Status::Ok, "success"),
        (MessageKind::Closed, Status::Ok, "success"),
    ] {
        let mut m = message();
        m.kind = kind;
        m.status = status;
        m.time = "2026-11-21T18:58:55Z".parse().unwrap();
        n.send(&m).await.unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
        assert_eq!(body["alert_type"], alert_type, "{kind}");
        assert_eq!(body["aggregation_key"], "acme/42", "{kind}");
        assert_eq!(body["title"], "web expected status 200, got 503");
        assert_eq!(body["text"], "expected status 200, got 503 in acme");
        assert_eq!(body["source_type_name"], "my_apps");
        assert_eq!(body["date_happened"], 1_795_287_535);
        assert_eq!(body["tags"][2], format!("status:{}", status.as_str()));
    }

    // Title at most 100 characters, text at most 4000, cut on character boundaries.
    let mut m = message();
    m.message = "ß".repeat(5000);
    n.send(&m).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["title"].as_str().unwrap().chars().count(), 100);
    let text = body["text"].as_str().unwrap();
    assert_eq!(text.chars().count(), 4000);
    assert!(text.ends_with("ß…"));
}

#[tokio::test]
async fn datadog_answers_are_classified() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &datadog(
            Some(&server.url("/api/v1/events")),
            serde_json::json!({"api_key": KEY}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    server.respond_json(
        "/api/v1/events",
        403,
        &serde_json::json!({"errors": ["Forbidden"]}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        format!(
            "Datadog: HTTP 403 from 127.0.0.1:{}: Forbidden",
            server.port()
        )
    );
    server.respond_json(
        "/api/v1/events",
        400,
        &serde_json::json!({"errors": [format!("Invalid API key {KEY}"), "title is required"]}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason
            .ends_with("Invalid API key ********; title is required"),
        "{}",
        e.reason
    );
    server.respond("/api/v1/events", 429, &[("retry-after", "60")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    server.respond("/api/v1/events", 500, &[], "oops");
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

#[test]
fn build_errors_name_the_field_and_hide_the_key() {
    let field = |settings| match build(&datadog(None, settings), &Defaults::default()) {
        Err(BuildError::Setting { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(serde_json::json!({})), "settings.api_key");
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "site": "evil.com/x?"})),
        "settings.site"
    );
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "tags": [""]})),
        "settings.tags"
    );
    let e = build(
        &datadog(None, serde_json::json!({"api_key": KEY, "apikey": KEY})),
        &Defaults::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("unknown field `apikey`") && !e.to_string().contains(KEY),
        "{e}"
    );

    // The site picks the endpoint; the key never shows in Debug.
    for (site, host) in [
        (None, "api.datadoghq.com:443"),
        (Some("datadoghq.eu"), "api.datadoghq.eu:443"),
        (Some("us5.datadoghq.com"), "api.us5.datadoghq.com:443"),
    ] {
        let mut settings = serde_json::json!({"api_key": KEY});
        if let Some(site) = site {
            settings["site"] = serde_json::json!(site);
        }
        let n = build(&datadog(None, settings), &Defaults::default()).unwrap();
        let debug = format!("{n:?}");
        assert!(debug.contains(host), "{debug}");
        assert!(!debug.contains(KEY), "{debug}");
    }
}
