//! The pagerduty channel against a local server playing PagerDuty's Events API v2: the exact
//! trigger and resolve events, and how PagerDuty's answers are judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12";

fn pagerduty(url: Option<&str>, settings: serde_json::Value) -> Contact {
    contact(ContactKind::Pagerduty, None, url, settings)
}

fn accepted() -> serde_json::Value {
    serde_json::json!({"status": "success", "message": "Event processed", "dedup_key": "acme/42"})
}

#[tokio::test]
async fn trigger_event_as_documented() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/enqueue", 202, &accepted());
    let c = pagerduty(
        Some(&server.url("/v2/enqueue")),
        serde_json::json!({
            "routing_key": KEY, "component": "nginx", "group": "shop", "class": "http",
        }),
    );
    let m = message();
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&m)
        .await
        .unwrap();
    assert_eq!(done.detail, "HTTP 202: Event processed (dedup_key acme/42)");
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/v2/enqueue", "")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    let mut details = m.document();
    details["text"] = serde_json::json!(
        "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
         Alarm acme#42 is open: https://tocsin.example/alarms/acme/42"
    );
    let want = serde_json::json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": "acme/42",
        "payload": {
            "summary": "[CRITICAL] Web front",
            "source": "tocsin",
            "severity": "critical",
            "timestamp": "1970-01-01T00:00:00Z",
            "component": "nginx",
            "group": "shop",
            "class": "http",
            "custom_details": details,
        },
        "links": [{"href": "https://tocsin.example/alarms/acme/42", "text": "Tocsin"}],
        "client": "Tocsin",
        "client_url": "https://tocsin.example/alarms/acme/42",
    });
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body, want);
}

#[tokio::test]
async fn closing_resolves_the_same_dedup_key_and_other_kinds_trigger() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/enqueue", 202, &accepted());
    let n = build(
        &pagerduty(
            Some(&server.url("/v2/enqueue")),
            serde_json::json!({"routing_key": KEY}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    let sent = |kind, status| {
        let mut m = message();
        m.kind = kind;
        m.status = status;
        m.sequence = 3;
        m.dashboard_url = None;
        m
    };

    n.send(&sent(MessageKind::Closed, Status::Ok))
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["event_action"], "resolve");
    assert_eq!(body["dedup_key"], "acme/42");
    assert_eq!(body["payload"]["severity"], "info");
    assert_eq!(body["payload"]["summary"], "[OK] Web front (closed)");
    // Without a dashboard URL: no links, no client_url, and no optional payload fields unset.
    assert!(body.get("links").is_none() && body.get("client_url").is_none());
    assert!(body["payload"].get("component").is_none());

    n.send(&sent(MessageKind::Acknowledged, Status::Critical))
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["event_action"], "acknowledge");
    assert_eq!(body["dedup_key"], "acme/42");

    for (kind, status, severity) in [
        (MessageKind::NewFault, Status::Unknown, "error"),
        (MessageKind::Renotify, Status::Warning, "warning"),
        (MessageKind::FaultCleared, Status::Ok, "info"),
        (MessageKind::FlappingStarted, Status::Critical, "critical"),
        (
            MessageKind::ParentRecoveredWithFaults,
            Status::Critical,
            "critical",
        ),
    ] {
        n.send(&sent(kind, status)).await.unwrap();
        let body: serde_json::Value =
            serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
        assert_eq!(body["event_action"], "trigger", "{kind}");
        assert_eq!(body["dedup_key"], "acme/42", "{kind}");
        assert_eq!(body["payload"]["severity"], severity, "{kind}");
    }
}

#[tokio::test]
async fn settings_and_templates_shape_the_event() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/enqueue", 202, &accepted());
    let c = pagerduty(
        Some(&server.url("/v2/enqueue")),
        serde_json::json!({
            "routing_key": KEY,
            "severity": "warning",
            "source": "tocsin-eu",
            "subject": "{{ check.id }} is {{ status }}",
            "body": "custom {{ tenant }}",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    n.send(&message()).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["payload"]["summary"], "web is critical");
    assert_eq!(body["payload"]["custom_details"]["text"], "custom acme");
    assert_eq!(body["payload"]["severity"], "warning");
    assert_eq!(body["payload"]["source"], "tocsin-eu");
}

#[tokio::test]
async fn pagerduty_answers_are_classified() {
    let server = HttpServer::start().await.unwrap();
    let c = pagerduty(
        Some(&server.url("/v2/enqueue")),
        serde_json::json!({"routing_key": KEY}),
    );
    let n = build(&c, &Defaults::default()).unwrap();

    // 400 invalid event: permanent, quoting PagerDuty, never the key even when echoed.
    server.respond_json(
        "/v2/enqueue",
        400,
        &serde_json::json!({
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": [format!("Invalid routing key {KEY}")],
        }),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.starts_with("PagerDuty: HTTP 400 from 127.0.0.1:")
            && e.reason
                .contains("Event object is invalid; Invalid routing key ********"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains(KEY), "{}", e.reason);

    // 429: retryable, with Retry-After.
    server.respond(
        "/v2/enqueue",
        429,
        &[("retry-after", "17")],
        "Too many requests",
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(17)));

    // 5xx: retryable.
    server.respond("/v2/enqueue", 503, &[], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(
        e.reason,
        format!("PagerDuty: HTTP 503 from 127.0.0.1:{}", server.port())
    );
}

#[test]
fn build_errors_name_the_field_and_hide_the_key() {
    let field = |settings| match build(&pagerduty(None, settings), &Defaults::default()) {
        Err(BuildError::Setting { field, reason, .. }) => (field, reason),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(serde_json::json!({})),
        (
            "settings.routing_key".to_owned(),
            "required for a pagerduty contact".to_owned()
        )
    );
    assert_eq!(
        field(serde_json::json!({"routing_key": ""})).0,
        "settings.routing_key"
    );
    assert_eq!(
        field(serde_json::json!({"routing_key": KEY, "severity": "fatal"})).0,
        "settings.severity"
    );
    assert_eq!(
        field(serde_json::json!({"routing_key": KEY, "source": " "})).0,
        "settings.source"
    );
    let (f, reason) = field(serde_json::json!({"routing_key": KEY, "routing": KEY}));
    assert_eq!(f, "settings");
    assert!(reason.contains("unknown field `routing`"), "{reason}");
    assert!(!reason.contains(KEY), "{reason}");
    let (_, reason) = field(serde_json::json!({"routing_key": KEY, "source": {"x": KEY}}));
    assert!(!reason.contains(KEY), "{reason}");
    let e = build(
        &pagerduty(
            Some("ftp://example.com"),
            serde_json::json!({"routing_key": KEY}),
        ),
        &Defaults::default(),
    )
    .unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "url"),
        "{e}"
    );

    // Without url, PagerDuty's own endpoint; the key never shows in Debug.
    let n = build(
        &pagerduty(None, serde_json::json!({"routing_key": KEY})),
        &Defaults::default(),
    )
    .unwrap();
    let debug = format!("{n:?}");
    assert!(debug.contains("events.pagerduty.com:443"), "{debug}");
    assert!(!debug.contains(KEY), "{debug}");
}
