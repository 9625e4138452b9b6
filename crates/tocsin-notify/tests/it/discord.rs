//! The discord channel against a local server playing a Discord webhook: the exact request
//! (`?wait=true`, one embed, no mentions), Discord's limits, and how its answers (rate limits
//! included) are judged.

use std::time::Duration;

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const HOOK: &str = "/api/webhooks/1187/dQw4w9WgXcQtoken";

fn discord(server: &HttpServer, query: &str, settings: serde_json::Value) -> Contact {
    contact(
        ContactKind::Discord,
        None,
        Some(&server.url(&format!("{HOOK}{query}"))),
        settings,
    )
}

fn last_body(server: &HttpServer) -> serde_json::Value {
    serde_json::from_slice(&server.last_request().unwrap().body).unwrap()
}

#[tokio::test]
async fn posts_an_embed_and_waits_for_the_message() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(
        HOOK,
        200,
        &serde_json::json!({"id": "1203", "channel_id": "99", "type": 0, "content": "[CRITICAL] Web front"}),
    );
    let c = discord(
        &server,
        "",
        serde_json::json!({"username": "Tocsin", "avatar_url": "https://tocsin.example/a.png"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("dQw4w9WgXcQtoken"), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 200, message 1203");

    let req = server.last_request().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", HOOK));
    assert_eq!(req.query, "wait=true");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "username": "Tocsin",
            "avatar_url": "https://tocsin.example/a.png",
            "content": "[CRITICAL] Web front",
            "embeds": [{
                "title": "[CRITICAL] Web front",
                "description": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                                Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
                "url": "https://tocsin.example/alarms/acme/42",
                "color": 0xa3_0200,
                "timestamp": "1970-01-01T00:00:00Z",
            }],
            "allowed_mentions": {"parse": []},
        })
    );
}

#[tokio::test]
async fn keeps_the_query_and_accepts_204() {
    let server = HttpServer::start().await.unwrap();
    server.respond(HOOK, 204, &[], "");
    let n = build(
        &discord(&server, "?thread_id=42", serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();
    let mut m = message();
    m.kind = MessageKind::Closed;
    m.status = tocsin_core::Status::Ok;
    m.dashboard_url = None;
    assert_eq!(n.send(&m).await.unwrap().detail, "HTTP 204");
    assert_eq!(
        server.last_request().unwrap().query,
        "thread_id=42&wait=true"
    );
    let body = last_body(&server);
    for absent in ["username", "avatar_url"] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
    let embed = &body["embeds"][0];
    assert_eq!(embed["color"], 0x2e_b886);
    assert_eq!(embed["title"], "[OK] Web front (closed)");
    assert!(embed.get("url").is_none());
}

#[tokio::test]
async fn templates_are_cut_to_discords_limits() {
    let server = HttpServer::start().await.unwrap();
    server.respond(HOOK, 204, &[], "");
    let c = discord(
        &server,
        "",
        serde_json::json!({
            // A title stays one line of at most 300 bytes; Discord's embed title takes 256.
            "subject": "{{ check.id }} {% for i in range(280) %}y{% endfor %}",
            "body": "{% for i in range(5000) %}x{% endfor %}",
        }),
    );
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let body = last_body(&server);
    let content = body["content"].as_str().unwrap();
    assert_eq!(content, format!("web {}", "y".repeat(280)));
    let title = body["embeds"][0]["title"].as_str().unwrap();
    assert_eq!(title.chars().count(), 256);
    assert!(
        title.starts_with("web y") && title.ends_with("y…"),
        "{title}"
    );
    let description = body["embeds"][0]["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 4096);
    assert!(description.ends_with("x…"));
}

#[tokio::test]
async fn rate_limits_and_errors() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &discord(&server, "", serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();

    // 429 without Retry-After: the body's fractional seconds, rounded up.
    server.respond_json(
        HOOK,
        429,
        &serde_json::json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": false}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    assert!(e.reason.contains("HTTP 429"), "{}", e.reason);

    // The header wins when both are there.
    server.respond(
        HOOK,
        429,
        &[("retry-after", "5"), ("content-type", "application/json")],
        r#"{"message": "You are being rate limited.", "retry_after": 4.2, "global": true}"#,
    );
    assert_eq!(
        n.send(&message()).await.unwrap_err().retry_after,
        Some(Duration::from_secs(5))
    );

    server.respond_json(
        HOOK,
        400,
        &serde_json::json!({"code": 50006, "message": "Cannot send an empty message"}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.contains("Cannot send an empty message"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("dQw4w9WgXcQtoken"), "{}", e.reason);

    server.respond_json(
        HOOK,
        404,
        &serde_json::json!({"code": 10015, "message": "Unknown Webhook"}),
    );
    assert!(!n.send(&message()).await.unwrap_err().retryable);

    server.respond(HOOK, 502, &[], "upstream connect error");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable && e.retry_after.is_none(), "{e:?}");
}

#[test]
fn bad_settings_name_the_field() {
    let c = contact(ContactKind::Discord, None, None, serde_json::json!({}));
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "url"),
        "{e}"
    );

    let hook = Some("https://discord.com/api/webhooks/1/t");
    let c = contact(
        ContactKind::Discord,
        None,
        hook,
        serde_json::json!({"avatar": "x"}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "settings"),
        "{e}"
    );

    let c = contact(
        ContactKind::Discord,
        None,
        hook,
        serde_json::json!({"username": 3}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "settings"),
        "{e}"
    );
}
