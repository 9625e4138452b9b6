//! The pushover channel against a local server playing Pushover's Message API: the exact form,
//! priorities (emergency included), and how Pushover's answers are judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};
use crate::twilio::form_fields;

const TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";
const PATH: &str = "/1/messages.json";

fn pushover(url: Option<&str>, settings: serde_json::Value) -> Contact {
    let mut s = serde_json::json!({"token": TOKEN, "user": USER});
    for (k, v) in settings.as_object().unwrap() {
        if v.is_null() {
            s.as_object_mut().unwrap().remove(k);
        } else {
            s[k] = v.clone();
        }
    }
    contact(ContactKind::Pushover, None, url, s)
}

fn accepted() -> serde_json::Value {
    serde_json::json!({"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"})
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn posts_the_documented_form() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(PATH, 200, &accepted());
    let c = pushover(
        Some(&server.url(PATH)),
        serde_json::json!({"device": "phone", "sound": "siren"}),
    );
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(
        done.detail,
        "HTTP 200: request 647d2300-702c-4b38-8b2f-d56326ae460b"
    );

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", PATH, "")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("authorization"), None);
    let want: Vec<(String, String)> = [
        ("token", TOKEN),
        ("user", USER),
        ("title", "[CRITICAL] Web front"),
        (
            "message",
            "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
             Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
        ),
        ("timestamp", "0"),
        ("priority", "1"),
        ("url", "https://tocsin.example/alarms/acme/42"),
        ("url_title", "Open in Tocsin"),
        ("device", "phone"),
        ("sound", "siren"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    assert_eq!(form_fields(&req.body), want);
}

#[tokio::test]
async fn priorities_templates_and_limits() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(PATH, 200, &accepted());
    let n = build(
        &pushover(
            Some(&server.url(PATH)),
            serde_json::json!({"subject": "{{ check.id }}: {{ message }}", "body": "{{ message }}!"}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    for (kind, status, priority) in [
        (MessageKind::Opened, Status::Critical, "1"),
        (MessageKind::Opened, Status::Warning, "0"),
        (MessageKind::NewFault, Status::Unknown, "0"),
        (MessageKind::Closed, Status::Ok, "0"),
    ] {
        let mut m = message();
        m.kind = kind;
        m.status = status;
        m.dashboard_url = None;
        n.send(&m).await.unwrap();
        let fields = form_fields(&server.last_request().unwrap().body);
        assert_eq!(
            field(&fields, "priority"),
            Some(priority),
            "{kind} {status}"
        );
        assert_eq!(
            field(&fields, "title"),
            Some("web: expected status 200, got 503")
        );
        assert_eq!(
            field(&fields, "message"),
            Some("expected status 200, got 503!")
        );
        assert!(field(&fields, "url").is_none() && field(&fields, "url_title").is_none());
        assert!(field(&fields, "retry").is_none() && field(&fields, "device").is_none());
    }

    // Title at most 250 characters, message at most 1024, cut on character boundaries.
    let mut m = message();
    m.message = "ж".repeat(2000);
    n.send(&m).await.unwrap();
    let fields = form_fields(&server.last_request().unwrap().body);
    assert!(field(&fields, "title").unwrap().chars().count() <= 250);
    let text = field(&fields, "message").unwrap();
    assert_eq!(text.chars().count(), 1024);
    assert!(text.ends_with("жж…"));
}

#[tokio::test]
async fn emergency_priority_sends_retry_and_expire() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(
        PATH,
        200,
        &serde_json::json!({"status": 1, "request": "r1", "receipt": "rcpt9"}),
    );
    let n = build(
        &pushover(
            Some(&server.url(PATH)),
            serde_json::json!({"priority": 2, "retry": "1m", "expire": "3h"}),
        ),
        &Defaults::default(),
    )
    .unwrap();
    let mut m = message();
    m.status = Status::Warning;
    let done = n.send(&m).await.unwrap();
    assert_eq!(done.detail, "HTTP 200: request r1, receipt rcpt9");
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(field(&fields, "priority"), Some("2"));
    assert_eq!(field(&fields, "retry"), Some("60"));
    assert_eq!(field(&fields, "expire"), Some("10800"));

    // The closing message is never an emergency.
    m.kind = MessageKind::Closed;
    m.status = Status::Ok;
    n.send(&m).await.unwrap();
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(field(&fields, "priority"), Some("0"));
    assert!(field(&fields, "retry").is_none() && field(&fields, "expire").is_none());

    // A quiet contact stays quiet, closing or not.
    let n = build(
        &pushover(Some(&server.url(PATH)), serde_json::json!({"priority": -1})),
        &Defaults::default(),
    )
    .unwrap();
    n.send(&m).await.unwrap();
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(field(&fields, "priority"), Some("-1"));
}

#[tokio::test]
async fn pushover_answers_are_classified() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &pushover(Some(&server.url(PATH)), serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();

    // 4xx with status 0: permanent, quoting the errors, never the keys even when echoed.
    server.respond_json(
        PATH,
        400,
        &serde_json::json!({
            "user": "invalid",
            "errors": [format!("user identifier {USER} is invalid"), format!("token {TOKEN}")],
            "status": 0,
            "request": "5042853c",
        }),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        format!(
            "Pushover: HTTP 400 from 127.0.0.1:{}: user identifier ******** is invalid; \
             token ********",
            server.port()
        )
    );

    // 200 without status 1: permanent.
    server.respond_json(
        PATH,
        200,
        &serde_json::json!({"status": 0, "errors": ["message cannot be blank"]}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        "Pushover: HTTP 200 without status 1: message cannot be blank"
    );

    // 429 (over the monthly limit) and 5xx: retryable.
    server.respond(PATH, 429, &[("retry-after", "3600")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(3600)));
    server.respond(PATH, 500, &[], "");
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

#[test]
fn build_errors_name_the_field_and_hide_the_keys() {
    let field = |settings| match build(&pushover(None, settings), &Defaults::default()) {
        Err(BuildError::Setting { field, reason, .. }) => format!("{field}: {reason}"),
        other => panic!("{other:?}"),
    };
    assert!(field(serde_json::json!({"token": null})).starts_with("settings.token: required"));
    assert!(field(serde_json::json!({"user": null})).starts_with("settings.user: required"));
    assert!(field(serde_json::json!({"user": ""})).starts_with("settings.user: "));
    assert!(field(serde_json::json!({"priority": 3})).starts_with("settings.priority: "));
    assert!(field(serde_json::json!({"priority": -3})).starts_with("settings.priority: "));
    assert_eq!(
        field(serde_json::json!({"priority": 2, "expire": "1h"})),
        "settings.retry: required with priority 2"
    );
    assert_eq!(
        field(serde_json::json!({"priority": 2, "retry": "1m"})),
        "settings.expire: required with priority 2"
    );
    assert!(
        field(serde_json::json!({"priority": 2, "retry": "10s", "expire": "1h"}))
            .starts_with("settings.retry: 10s is less than 30s")
    );
    assert!(
        field(serde_json::json!({"priority": 2, "retry": "30s", "expire": "4h"}))
            .starts_with("settings.expire: 4h is not between")
    );
    assert!(
        field(serde_json::json!({"priority": 1, "retry": "30s"}))
            .starts_with("settings.retry: only used with priority 2")
    );
    let unknown = field(serde_json::json!({"tokn": TOKEN}));
    assert!(
        unknown.starts_with("settings: unknown field `tokn`") && !unknown.contains(TOKEN),
        "{unknown}"
    );

    let n = build(&pushover(None, serde_json::json!({})), &Defaults::default()).unwrap();
    let debug = format!("{n:?}");
    assert!(debug.contains("api.pushover.net:443"), "{debug}");
    assert!(!debug.contains(TOKEN) && !debug.contains(USER), "{debug}");
}
