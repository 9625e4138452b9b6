//! The gotify channel against a local server playing a Gotify server: the `POST /message`
//! request (application token, title, text, priority, extras), and how Gotify's answers are
//! judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::ContactKind;
use tocsin_notify::{Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message, setting_field};

const TOKEN: &str = "AAVnz0Pb8wqCyl.";

fn stored() -> serde_json::Value {
    serde_json::json!({
        "id": 25,
        "appid": 5,
        "message": "…",
        "title": "[CRITICAL] Web front",
        "priority": 8,
        "date": "2026-01-01T00:00:00Z",
    })
}

#[tokio::test]
async fn posts_a_message_with_the_application_token() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/message", 200, &stored());
    let c = contact(
        ContactKind::Gotify,
        None,
        Some(&server.url("/")),
        serde_json::json!({"token": TOKEN}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains(TOKEN), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 200, Gotify message 25");
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/message", "")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-gotify-key"), Some(TOKEN));
    assert_eq!(req.header("authorization"), None);
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "title": "[CRITICAL] Web front",
            "message": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                        Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
            "priority": 8,
            "extras": {
                "client::display": {"contentType": "text/plain"},
                "client::notification": {"click": {"url": "https://tocsin.example/alarms/acme/42"}},
            },
        })
    );

    // Priority follows the status; without a dashboard link there is no click extra.
    let mut m = message();
    m.status = Status::Warning;
    m.dashboard_url = None;
    n.send(&m).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["priority"], 5);
    assert_eq!(
        body["extras"],
        serde_json::json!({"client::display": {"contentType": "text/plain"}})
    );
    let mut m = message();
    m.kind = MessageKind::Closed;
    m.status = Status::Ok;
    n.send(&m).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["priority"], 2);
}

#[tokio::test]
async fn path_prefix_templates_and_a_fixed_priority() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/gotify/message", 200, &stored());
    let c = contact(
        ContactKind::Gotify,
        None,
        Some(&server.url("/gotify")),
        serde_json::json!({
            "token": TOKEN,
            "priority": 10,
            "subject": "{{ tenant }}: {{ check.id }} is {{ status }}",
            "body": "{{ message }}",
        }),
    );
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.path, "/gotify/message");
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["title"], "acme: web is critical");
    assert_eq!(body["message"], "expected status 200, got 503");
    assert_eq!(body["priority"], 10);
}

#[tokio::test]
async fn gotify_errors_are_quoted_and_judged() {
    let server = HttpServer::start().await.unwrap();
    let c = contact(
        ContactKind::Gotify,
        None,
        Some(&server.url("")),
        serde_json::json!({"token": TOKEN}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    server.respond_json(
        "/message",
        401,
        &serde_json::json!({
            "error": "Unauthorized",
            "errorCode": 401,
            "errorDescription": "you need to provide a valid access token or user credentials to access this api",
        }),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        format!(
            "Gotify: HTTP 401 from 127.0.0.1:{}: Unauthorized: you need to provide a valid \
             access token or user credentials to access this api",
            server.port()
        )
    );
    assert!(!e.reason.contains(TOKEN));
    server.respond_json(
        "/message",
        400,
        &serde_json::json!({
            "error": "Bad Request",
            "errorCode": 400,
            "errorDescription": "Field 'message' is required",
        }),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason
            .ends_with("Bad Request: Field 'message' is required"),
        "{}",
        e.reason
    );
    server.respond("/message", 503, &[("retry-after", "12")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(12)));
    server.respond_json(
        "/message",
        500,
        &serde_json::json!({"error": "Internal Server Error", "errorCode": 500, "errorDescription": "database is locked"}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(
        e.retryable && e.reason.ends_with("database is locked"),
        "{}",
        e.reason
    );
}

#[test]
fn build_errors_name_the_setting() {
    let url = Some("https://gotify.example.com");
    let build_with = |url: Option<&str>, s: serde_json::Value| {
        build(
            &contact(ContactKind::Gotify, None, url, s),
            &Defaults::default(),
        )
    };
    assert!(build_with(url, serde_json::json!({"token": TOKEN})).is_ok());
    assert_eq!(
        setting_field(build_with(url, serde_json::json!({})).unwrap_err()),
        "settings.token"
    );
    assert_eq!(
        setting_field(build_with(url, serde_json::json!({"token": ""})).unwrap_err()),
        "settings.token"
    );
    assert_eq!(
        setting_field(build_with(None, serde_json::json!({"token": TOKEN})).unwrap_err()),
        "url"
    );
    assert_eq!(
        setting_field(
            build_with(
                Some("https://gotify.example.com/message?token=x"),
                serde_json::json!({"token": TOKEN})
            )
            .unwrap_err()
        ),
        "url"
    );
    for bad in [-1, 11] {
        let e = build_with(url, serde_json::json!({"token": TOKEN, "priority": bad})).unwrap_err();
        assert!(!e.to_string().contains(TOKEN), "{e}");
        assert_eq!(setting_field(e), "settings.priority");
    }
    let e = build_with(url, serde_json::json!({"token": TOKEN, "app": "x"})).unwrap_err();
    assert!(e.to_string().contains("unknown field `app`"), "{e}");
}
