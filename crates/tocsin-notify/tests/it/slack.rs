//! The slack channel against a local server playing Slack: the incoming-webhook request and the
//! chat.postMessage request, and how Slack's answers are judged.

use tocsin_core::directory::ContactKind;
use tocsin_notify::{BuildError, Defaults, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

#[tokio::test]
async fn incoming_webhook_posts_text_and_a_coloured_attachment() {
    let server = HttpServer::start().await.unwrap();
    server.respond(
        "/services/T0/B0/x",
        200,
        &[("content-type", "text/html")],
        "ok",
    );
    let c = contact(
        ContactKind::Slack,
        None,
        Some(&server.url("/services/T0/B0/x")),
        serde_json::json!({}),
    );
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(done.detail, "HTTP 200");
    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/services/T0/B0/x")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["text"], "[CRITICAL] Web front");
    let a = &body["attachments"][0];
    assert_eq!(a["color"], "#a30200");
    assert_eq!(a["title"], "[CRITICAL] Web front");
    assert_eq!(a["title_link"], "https://tocsin.example/alarms/acme/42");
    assert!(
        a["text"]
            .as_str()
            .unwrap()
            .contains("expected status 200, got 503")
    );
    assert_eq!(a["ts"], 0);
    assert!(body.get("channel").is_none());

    // Slack's documented webhook errors are plain-text 4xx: permanent.
    server.respond("/services/T0/B0/x", 404, &[], "no_service");
    let e = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.contains("HTTP 404") && e.reason.contains("no_service"),
        "{}",
        e.reason
    );
}

#[tokio::test]
async fn chat_post_message_with_a_bot_token() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(
        "/api/chat.postMessage",
        200,
        &serde_json::json!({"ok": true, "channel": "C1", "ts": "1.2"}),
    );
    let c = contact(
        ContactKind::Slack,
        None,
        Some(&server.url("/api/chat.postMessage")),
        serde_json::json!({"token": "xoxb-1", "channel": "#ops", "subject": "{{ check.id }} down"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("xoxb-1"), "{n:?}");
    n.send(&message()).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.header("authorization"), Some("Bearer xoxb-1"));
    assert_eq!(
        req.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["channel"], "#ops");
    assert_eq!(body["text"], "web down");

    // HTTP 200 with ok: false: judged by Slack's error code.
    server.respond_json(
        "/api/chat.postMessage",
        200,
        &serde_json::json!({"ok": false, "error": "channel_not_found"}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(e.reason, "Slack chat.postMessage: channel_not_found");
    server.respond("/api/chat.postMessage", 429, &[("retry-after", "30")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(30)));
    server.respond_json(
        "/api/chat.postMessage",
        200,
        &serde_json::json!({"ok": false, "error": "ratelimited"}),
    );
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

#[test]
fn token_and_channel_go_together() {
    let c = contact(
        ContactKind::Slack,
        None,
        None,
        serde_json::json!({"token": "xoxb-1"}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "settings.channel"),
        "{e}"
    );
    let c = contact(ContactKind::Slack, None, None, serde_json::json!({}));
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(e.to_string().contains("url: required"), "{e}");
    // Without url, the token mode uses Slack's own endpoint.
    let c = contact(
        ContactKind::Slack,
        None,
        None,
        serde_json::json!({"token": "xoxb-1", "channel": "C1"}),
    );
    assert!(build(&c, &Defaults::default()).is_ok());
}
