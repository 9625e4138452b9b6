//! The mattermost channel against a local server playing a Mattermost incoming webhook: the exact
//! request (one coloured attachment, optional username, icon, channel and mention) and how
//! Mattermost's answers are judged.

use std::time::Duration;

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const HOOK: &str = "/hooks/xn8dk3ph4bfwzq";

fn mattermost(server: &HttpServer, settings: serde_json::Value) -> Contact {
    contact(
        ContactKind::Mattermost,
        None,
        Some(&server.url(HOOK)),
        settings,
    )
}

#[tokio::test]
async fn posts_one_coloured_attachment() {
    let server = HttpServer::start().await.unwrap();
    server.respond(HOOK, 200, &[("content-type", "text/plain")], "ok");
    let c = mattermost(
        &server,
        serde_json::json!({
            "username": "Alarms",
            "icon_url": "https://tocsin.example/icon.png",
            "channel": "ops-alerts",
            "mention": "@here",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("xn8dk3ph4bfwzq"), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 200");
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", HOOK));
    assert_eq!(req.query, "");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    assert_eq!(req.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "username": "Alarms",
            "icon_url": "https://tocsin.example/icon.png",
            "channel": "ops-alerts",
            "text": "@here",
            "attachments": [{
                "fallback": "[CRITICAL] Web front",
                "color": "#a30200",
                "title": "[CRITICAL] Web front",
                "title_link": "https://tocsin.example/alarms/acme/42",
                "text": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                         Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
            }],
        })
    );
}

#[tokio::test]
async fn defaults_colours_and_templates() {
    let server = HttpServer::start().await.unwrap();
    server.respond(HOOK, 200, &[], "ok");
    let n = build(
        &mattermost(&server, serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();
    let body = |server: &HttpServer| -> serde_json::Value {
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap()
    };

    // Only the username by default (Tocsin); the webhook's own channel and icon.
    n.send(&message()).await.unwrap();
    let b = body(&server);
    assert_eq!(b["username"], "Tocsin");
    for absent in ["icon_url", "channel", "text"] {
        assert!(b.get(absent).is_none(), "{absent} in {b}");
    }

    // Amon's colours: yellow for a cleared fault on an open alarm, green when it closes.
    let mut m = message();
    m.kind = MessageKind::FaultCleared;
    n.send(&m).await.unwrap();
    assert_eq!(body(&server)["attachments"][0]["color"], "#daa038");
    m.kind = MessageKind::Closed;
    m.status = tocsin_core::Status::Ok;
    m.dashboard_url = None;
    n.send(&m).await.unwrap();
    let b = body(&server);
    assert_eq!(b["attachments"][0]["color"], "#2eb886");
    assert_eq!(b["attachments"][0]["title"], "[OK] Web front (closed)");
    assert!(b["attachments"][0].get("title_link").is_none());

    // The contact's templates.
    let c = mattermost(
        &server,
        serde_json::json!({"subject": "{{ check.id }} is {{ status }}", "body": "**{{ message }}**"}),
    );
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let a = &body(&server)["attachments"][0];
    assert_eq!(a["title"], "web is critical");
    assert_eq!(a["fallback"], "web is critical");
    assert_eq!(a["text"], "**expected status 200, got 503**");
}

#[tokio::test]
async fn mattermost_errors_are_judged_by_status() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &mattermost(&server, serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();

    server.respond_json(
        HOOK,
        400,
        &serde_json::json!({"id": "web.incoming_webhook.parse.app_error", "message": "Unable to parse incoming data", "status_code": 400}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.contains("HTTP 400") && e.reason.contains("Unable to parse incoming data"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("xn8dk3ph4bfwzq"), "{}", e.reason);

    server.respond(HOOK, 403, &[], "Incoming webhooks have been disabled");
    assert!(!n.send(&message()).await.unwrap_err().retryable);

    server.respond(HOOK, 503, &[("retry-after", "20")], "maintenance");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(20)));
}

#[test]
fn bad_settings_name_the_field() {
    let c = contact(ContactKind::Mattermost, None, None, serde_json::json!({}));
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "url"),
        "{e}"
    );
    assert!(e.to_string().contains("required"), "{e}");

    let hook = Some("https://chat.example.com/hooks/k");
    let c = contact(
        ContactKind::Mattermost,
        None,
        hook,
        serde_json::json!({"icon": "x"}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, ref reason, .. } if field == "settings" && reason.contains("icon")),
        "{e}"
    );

    let c = contact(
        ContactKind::Mattermost,
        None,
        hook,
        serde_json::json!({"subject": "{{ chek.name }}"}),
    );
    assert!(matches!(
        build(&c, &Defaults::default()).unwrap_err(),
        BuildError::Template(_)
    ));
}
