//! The ntfy channel against a local server playing an ntfy server: the published text and its
//! headers (title, priority, tags, click, authentication), and how ntfy's answers are judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::ContactKind;
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message, setting_field};

fn published() -> serde_json::Value {
    serde_json::json!({
        "id": "sPs71M8A2T",
        "time": 1_700_000_000,
        "expires": 1_700_043_200,
        "event": "message",
        "topic": "alerts",
        "title": "[CRITICAL] Web front",
        "message": "…",
        "priority": 5,
        "tags": ["rotating_light"],
    })
}

#[tokio::test]
async fn publishes_text_with_title_priority_tags_and_click() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/alerts", 200, &published());
    let c = contact(
        ContactKind::Ntfy,
        None,
        Some(&server.url("/alerts")),
        serde_json::json!({}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 200, ntfy message sPs71M8A2T");
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/alerts", "")
    );
    assert_eq!(
        req.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(req.header("title"), Some("[CRITICAL] Web front"));
    assert_eq!(req.header("priority"), Some("5"));
    assert_eq!(req.header("tags"), Some("rotating_light"));
    assert_eq!(
        req.header("click"),
        Some("https://tocsin.example/alarms/acme/42")
    );
    assert_eq!(req.header("authorization"), None);
    let text = String::from_utf8(req.body.clone()).unwrap();
    assert_eq!(
        text,
        "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
         Alarm acme#42 is open: https://tocsin.example/alarms/acme/42"
    );

    // A warning: priority 4 and the warning tag; no dashboard link, no Click.
    let mut m = message();
    m.status = Status::Warning;
    m.dashboard_url = None;
    n.send(&m).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.header("priority"), Some("4"));
    assert_eq!(req.header("tags"), Some("warning"));
    assert_eq!(req.header("click"), None);

    // The alarm closes: default priority, a check mark.
    let mut m = message();
    m.kind = MessageKind::Closed;
    m.status = Status::Ok;
    n.send(&m).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.header("priority"), Some("3"));
    assert_eq!(req.header("tags"), Some("white_check_mark"));
    assert_eq!(req.header("title"), Some("[OK] Web front (closed)"));
}

/// Decodes `=?UTF-8?B?…?=` words separated by spaces (as ntfy's Go server does).
fn decode_words(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for word in s.split(' ') {
        let b64 = word
            .strip_prefix("=?UTF-8?B?")
            .and_then(|w| w.strip_suffix("?="))
            .unwrap_or_else(|| panic!("not an encoded word: {word}"));
        let (mut bits, mut n) = (0u32, 0);
        for c in b64.bytes().filter(|&c| c != b'=') {
            bits = (bits << 6) | ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn token_templates_fixed_priority_and_a_non_ascii_title() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/alerts", 200, &published());
    let c = contact(
        ContactKind::Ntfy,
        None,
        Some(&server.url("/alerts")),
        serde_json::json!({
            "token": "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2",
            "priority": "high",
            "subject": "{{ check.name }} en panne — {{ status }}",
            "body": "{{ message }} ({{ tenant }})",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(
        !format!("{n:?}").contains("tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"),
        "{n:?}"
    );
    n.send(&message()).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(
        req.header("authorization"),
        Some("Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2")
    );
    assert_eq!(req.header("priority"), Some("4"));
    let title = req.header("title").unwrap();
    assert!(
        title.is_ascii() && title.starts_with("=?UTF-8?B?"),
        "{title}"
    );
    assert_eq!(decode_words(title), "Web front en panne — critical");
    assert_eq!(req.body, b"expected status 200, got 503 (acme)");
}

#[tokio::test]
async fn basic_authentication() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/alerts", 200, &published());
    let c = contact(
        ContactKind::Ntfy,
        None,
        Some(&server.url("/alerts")),
        serde_json::json!({"username": "phil", "password": "mypass", "priority": 2}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("mypass"), "{n:?}");
    n.send(&message()).await.unwrap();
    let req = server.last_request().unwrap();
    // base64("phil:mypass"), as in ntfy's documentation.
    assert_eq!(req.header("authorization"), Some("Basic cGhpbDpteXBhc3M="));
    assert_eq!(req.header("priority"), Some("2"));
}

#[tokio::test]
async fn ntfy_errors_are_quoted_and_judged() {
    let server = HttpServer::start().await.unwrap();
    let c = contact(
        ContactKind::Ntfy,
        None,
        Some(&server.url("/alerts")),
        serde_json::json!({"token": "tk_secret"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    server.respond_json(
        "/alerts",
        403,
        &serde_json::json!({
            "code": 40301, "http": 403, "error": "forbidden",
            "link": "https://ntfy.sh/docs/publish/#authentication",
        }),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        format!(
            "ntfy: HTTP 403 from 127.0.0.1:{}: forbidden (ntfy error 40301)",
            server.port()
        )
    );
    assert!(!e.reason.contains("tk_secret") && !e.reason.contains("/alerts"));
    server.respond(
        "/alerts",
        429,
        &[("content-type", "application/json"), ("retry-after", "60")],
        r#"{"code":42901,"http":429,"error":"limit reached: too many requests"}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(60)));
    assert!(
        e.reason
            .ends_with("limit reached: too many requests (ntfy error 42901)"),
        "{}",
        e.reason
    );
    // A proxy's 502 in HTML: retryable, judged as any HTTP channel.
    server.respond(
        "/alerts",
        502,
        &[("content-type", "text/html")],
        "<h1>Bad Gateway</h1>",
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert!(e.reason.starts_with("HTTP 502 from "), "{}", e.reason);
}

#[test]
fn build_errors_name_the_setting() {
    let url = Some("https://ntfy.sh/alerts");
    let build_with = |url: Option<&str>, s: serde_json::Value| {
        build(
            &contact(ContactKind::Ntfy, None, url, s),
            &Defaults::default(),
        )
    };
    assert!(build_with(url, serde_json::json!({})).is_ok());
    assert_eq!(
        setting_field(build_with(None, serde_json::json!({})).unwrap_err()),
        "url"
    );
    assert_eq!(
        setting_field(build_with(Some("https://ntfy.sh/"), serde_json::json!({})).unwrap_err()),
        "url"
    );
    let e = build_with(
        url,
        serde_json::json!({"token": "tk_secret", "username": "phil", "password": "pw"}),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("tk_secret"), "{e}");
    assert_eq!(setting_field(e), "settings.token");
    assert_eq!(
        setting_field(build_with(url, serde_json::json!({"username": "phil"})).unwrap_err()),
        "settings.password"
    );
    assert_eq!(
        setting_field(build_with(url, serde_json::json!({"password": "pw"})).unwrap_err()),
        "settings.username"
    );
    for bad in [
        serde_json::json!(0),
        serde_json::json!(6),
        serde_json::json!("loud"),
    ] {
        assert_eq!(
            setting_field(build_with(url, serde_json::json!({"priority": bad})).unwrap_err()),
            "settings.priority"
        );
    }
    let e = build_with(url, serde_json::json!({"tags": ["x"]})).unwrap_err();
    assert!(e.to_string().contains("unknown field `tags`"), "{e}");
    let e = build_with(url, serde_json::json!({"subject": "{{ chek.name }}"})).unwrap_err();
    assert!(matches!(e, BuildError::Template(_)), "{e}");
}
