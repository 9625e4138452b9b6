//! The telegram channel against a local server playing the Bot API (the contact's `url` replaces
//! `https://api.telegram.org`): the exact `sendMessage` request, how Telegram's answers are
//! judged, and that the bot token (in the URL path) never shows.

use std::time::Duration;

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const TOKEN: &str = "110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const METHOD: &str = "/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage";

fn telegram(server: &HttpServer, settings: serde_json::Value) -> Contact {
    contact(
        ContactKind::Telegram,
        None,
        Some(&server.url("/")),
        settings,
    )
}

fn bot(server: &HttpServer) -> std::sync::Arc<dyn tocsin_notify::Notifier> {
    let c = telegram(
        server,
        serde_json::json!({"token": TOKEN, "chat_id": "@ops"}),
    );
    build(&c, &Defaults::default()).unwrap()
}

#[tokio::test]
async fn send_message_with_every_setting() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(
        METHOD,
        200,
        &serde_json::json!({"ok": true, "result": {"message_id": 7031, "chat": {"id": -1_001_234_567_890_i64}, "date": 0, "text": "…"}}),
    );
    let c = telegram(
        &server,
        serde_json::json!({
            "token": TOKEN,
            "chat_id": -1_001_234_567_890_i64,
            "disable_notification": true,
            "message_thread_id": 12,
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 200 ok, message 7031");

    let req = server.last_request().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", METHOD));
    assert_eq!(req.query, "");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "chat_id": -1_001_234_567_890_i64,
            "text": "[CRITICAL] Web front\n\n\
                     Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                     Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
            "disable_web_page_preview": true,
            "disable_notification": true,
            "message_thread_id": 12,
        })
    );
}

#[tokio::test]
async fn channel_username_and_templates() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(
        METHOD,
        200,
        &serde_json::json!({"ok": true, "result": {"message_id": 1}}),
    );
    let c = telegram(
        &server,
        serde_json::json!({
            "token": TOKEN,
            "chat_id": "@ops_alerts",
            "subject": "🔴 {{ check.name }}",
            "body": "{{ message }}{% for i in range(5000) %}.{% endfor %}",
        }),
    );
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["chat_id"], "@ops_alerts");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.starts_with("🔴 Web front\n\nexpected status 200, got 503..."),
        "{text}"
    );
    assert_eq!(text.chars().count(), 4096);
    assert!(text.ends_with(".…"));
    for absent in ["disable_notification", "message_thread_id", "parse_mode"] {
        assert!(body.get(absent).is_none(), "{absent} in {body}");
    }
}

#[tokio::test]
async fn bot_api_errors_are_classified_without_the_token() {
    let server = HttpServer::start().await.unwrap();
    let n = bot(&server);
    assert!(!format!("{n:?}").contains(TOKEN), "{n:?}");
    assert!(!format!("{n:?}").contains("AAHdqTcv"), "{n:?}");

    // 400: permanent, quoting the description.
    server.respond_json(
        METHOD,
        400,
        &serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        "Telegram sendMessage: error 400: Bad Request: chat not found"
    );
    assert!(!e.reason.contains(TOKEN));

    // A group that became a supergroup: the new id is in the reason.
    server.respond_json(
        METHOD,
        400,
        &serde_json::json!({"ok": false, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat", "parameters": {"migrate_to_chat_id": -1_009_876_i64}}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.reason.contains("now chat -1009876"), "{}", e.reason);

    // A revoked token: 401, permanent.
    server.respond_json(
        METHOD,
        401,
        &serde_json::json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
    );
    assert!(!n.send(&message()).await.unwrap_err().retryable);

    // Flood control: retryable after parameters.retry_after.
    server.respond_json(
        METHOD,
        429,
        &serde_json::json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 35", "parameters": {"retry_after": 35}}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(35)));

    // … or after Retry-After when the parameters do not say.
    server.respond(
        METHOD,
        429,
        &[("retry-after", "9"), ("content-type", "application/json")],
        r#"{"ok": false, "error_code": 429, "description": "Too Many Requests"}"#,
    );
    assert_eq!(
        n.send(&message()).await.unwrap_err().retry_after,
        Some(Duration::from_secs(9))
    );

    server.respond_json(
        METHOD,
        500,
        &serde_json::json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
    );
    assert!(n.send(&message()).await.unwrap_err().retryable);

    // Not the Bot API speaking: a proxy's page, judged by status, still without the token.
    server.respond(
        METHOD,
        502,
        &[("content-type", "text/html")],
        format!("<html>502 Bad Gateway for POST /bot{TOKEN}/sendMessage</html>"),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert!(e.reason.contains("HTTP 502"), "{}", e.reason);
    assert!(!e.reason.contains(TOKEN), "{}", e.reason);
    server.respond(METHOD, 200, &[], "<html>captive portal</html>");
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        "Telegram answered HTTP 200 without the Bot API's JSON"
    );
}

#[test]
fn bad_settings_name_the_field() {
    let field_of = |settings: serde_json::Value, url: Option<&str>| -> String {
        let c = contact(ContactKind::Telegram, None, url, settings);
        match build(&c, &Defaults::default()).unwrap_err() {
            BuildError::Setting { field, reason, .. } => {
                assert!(!reason.contains("AAHdq"), "{reason}");
                field
            }
            e => panic!("{e}"),
        }
    };
    assert_eq!(
        field_of(serde_json::json!({"chat_id": 1}), None),
        "settings.token"
    );
    assert_eq!(
        field_of(serde_json::json!({"token": "", "chat_id": 1}), None),
        "settings.token"
    );
    assert_eq!(
        field_of(
            serde_json::json!({"token": "1:AAHdq/../x", "chat_id": 1}),
            None
        ),
        "settings.token"
    );
    assert_eq!(
        field_of(serde_json::json!({"token": TOKEN}), None),
        "settings.chat_id"
    );
    assert_eq!(
        field_of(serde_json::json!({"token": TOKEN, "chat_id": true}), None),
        "settings.chat_id"
    );
    assert_eq!(
        field_of(serde_json::json!({"token": TOKEN, "chat_id": " "}), None),
        "settings.chat_id"
    );
    assert_eq!(
        field_of(
            serde_json::json!({"token": TOKEN, "chat_id": 1, "parse_mode": "HTML"}),
            None
        ),
        "settings"
    );
    assert_eq!(
        field_of(
            serde_json::json!({"token": TOKEN, "chat_id": 1, "message_thread_id": "x"}),
            None
        ),
        "settings"
    );
    assert_eq!(
        field_of(
            serde_json::json!({"token": TOKEN, "chat_id": 1}),
            Some("api.telegram.org")
        ),
        "url"
    );
    assert_eq!(
        field_of(
            serde_json::json!({"token": TOKEN, "chat_id": 1}),
            Some("https://tg.example.com/?x=1")
        ),
        "url"
    );

    // Without url, Telegram's own API (nothing is sent at build time).
    let c = contact(
        ContactKind::Telegram,
        None,
        None,
        serde_json::json!({"token": TOKEN, "chat_id": "-100123"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let dbg = format!("{n:?}");
    assert!(
        dbg.contains("api.telegram.org:443") && !dbg.contains("AAHdq"),
        "{dbg}"
    );
}
