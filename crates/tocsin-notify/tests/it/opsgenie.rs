//! The opsgenie channel against a local server playing Opsgenie's Alert API v2: create for an
//! open alarm, close by alias for the closing message, and how Opsgenie's answers are judged.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const KEY: &str = "eb243592-faa2-4ba2-a551q-1afdf565c889";

fn opsgenie(url: Option<&str>, settings: serde_json::Value) -> Contact {
    contact(ContactKind::Opsgenie, None, url, settings)
}

fn accepted() -> serde_json::Value {
    serde_json::json!({"result": "Request will be processed", "took": 0.1, "requestId": "43a29c5c"})
}

#[tokio::test]
async fn open_alarm_creates_an_alert() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/alerts", 202, &accepted());
    let c = opsgenie(
        Some(&server.url("")),
        serde_json::json!({"api_key": KEY, "tags": ["prod", "web"]}),
    );
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(
        done.detail,
        "HTTP 202: Request will be processed (requestId 43a29c5c)"
    );

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/v2/alerts", "")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.header("authorization"),
        Some(format!("GenieKey {KEY}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "message": "[CRITICAL] Web front",
            "alias": "acme/42",
            "description": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                            Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
            "priority": "P1",
            "source": "Tocsin",
            "tags": ["prod", "web"],
            "details": {
                "tenant": "acme",
                "alarm": "acme#42",
                "alarm_kind": "opened",
                "check": "web",
                "check_name": "Web front",
                "status": "critical",
                "previous_status": "ok",
                "message": "expected status 200, got 503",
                "dashboard_url": "https://tocsin.example/alarms/acme/42",
            },
            "entity": "web",
        })
    );
}

#[tokio::test]
async fn closing_message_closes_the_alert_by_alias() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/alerts/acme%2F42/close", 202, &accepted());
    server.respond_json("/v2/alerts", 202, &accepted());
    let c = opsgenie(
        Some(&server.url("/")),
        serde_json::json!({"api_key": KEY, "body": "closed: {{ message }}"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let mut m = message();
    m.kind = MessageKind::Closed;
    m.status = Status::Ok;
    m.message = "status 200".into();
    let done = n.send(&m).await.unwrap();
    assert!(done.detail.starts_with("HTTP 202"), "{}", done.detail);
    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/v2/alerts/acme%2F42/close", "identifierType=alias")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("GenieKey {KEY}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"source": "Tocsin", "note": "closed: status 200"})
    );

    // An ack made in Tocsin acknowledges the alert.
    server.respond_json("/v2/alerts/acme%2F42/acknowledge", 202, &accepted());
    m.kind = MessageKind::Acknowledged;
    m.status = Status::Critical;
    m.message = "acknowledged by ann".into();
    n.send(&m).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(
        (req.path.as_str(), req.query.as_str()),
        ("/v2/alerts/acme%2F42/acknowledge", "identifierType=alias")
    );

    // Every other kind creates (Opsgenie deduplicates on the alias), with the status's priority.
    for (kind, status, priority) in [
        (MessageKind::NewFault, Status::Unknown, "P2"),
        (MessageKind::Renotify, Status::Warning, "P3"),
        (MessageKind::FaultCleared, Status::Ok, "P5"),
        (MessageKind::Suppressed, Status::Critical, "P1"),
    ] {
        let mut m = message();
        m.kind = kind;
        m.status = status;
        n.send(&m).await.unwrap();
        let req = server.last_request().unwrap();
        assert_eq!(req.path, "/v2/alerts", "{kind}");
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["alias"], "acme/42", "{kind}");
        assert_eq!(body["priority"], priority, "{kind}");
        assert_eq!(body["details"]["alarm_kind"], kind.as_str());
    }
}

#[tokio::test]
async fn settings_templates_and_limits() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/v2/alerts", 202, &accepted());
    let c = opsgenie(
        Some(&server.url("")),
        serde_json::json!({
            "api_key": KEY,
            "priority": "P4",
            "subject": "{{ check.id }}: {{ message }}",
            "body": "see {{ dashboard_url or tenant }}",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let mut m = message();
    m.message = "ü".repeat(200);
    m.dashboard_url = None;
    n.send(&m).await.unwrap();
    let body: serde_json::Value =
        serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
    assert_eq!(body["priority"], "P4");
    let title = body["message"].as_str().unwrap();
    assert_eq!(title.chars().count(), 130);
    assert!(
        title.starts_with("web: üü") && title.ends_with('…'),
        "{title}"
    );
    assert_eq!(body["description"], "see acme");
    assert_eq!(body["tags"], serde_json::json!([]));
    assert!(body["details"].get("dashboard_url").is_none());
}

#[tokio::test]
async fn opsgenie_answers_are_classified() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &opsgenie(Some(&server.url("")), serde_json::json!({"api_key": KEY})),
        &Defaults::default(),
    )
    .unwrap();
    for status in [401, 403, 422] {
        server.respond_json(
            "/v2/alerts",
            status,
            &serde_json::json!({
                "message": format!("Key format is not valid: {KEY}"),
                "errors": {"message": "Message can not be empty."},
                "took": 0.001,
            }),
        );
        let e = n.send(&message()).await.unwrap_err();
        assert!(!e.retryable, "{status}");
        assert!(
            e.reason
                .starts_with(&format!("Opsgenie: HTTP {status} from 127.0.0.1:"))
                && e.reason.contains(
                    "Key format is not valid: ********; message: Message can not be empty."
                ),
            "{}",
            e.reason
        );
        assert!(!e.reason.contains(KEY), "{}", e.reason);
    }
    server.respond("/v2/alerts", 429, &[("retry-after", "5")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(5)));
    server.respond("/v2/alerts", 502, &[], "bad gateway");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert!(e.reason.ends_with(": bad gateway"), "{}", e.reason);
}

#[test]
fn build_errors_name_the_field_and_hide_the_key() {
    let field = |settings| match build(&opsgenie(None, settings), &Defaults::default()) {
        Err(BuildError::Setting { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field(serde_json::json!({})), "settings.api_key");
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "priority": "P0"})),
        "settings.priority"
    );
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "region": "ap"})),
        "settings.region"
    );
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "tags": ["x".repeat(51)]})),
        "settings.tags"
    );
    assert_eq!(
        field(serde_json::json!({"api_key": KEY, "tags": vec!["t"; 21]})),
        "settings.tags"
    );
    assert_eq!(
        field(serde_json::json!({"api_key": format!("{KEY}\n")})),
        "settings.api_key"
    );
    let e = build(
        &opsgenie(
            Some("http://127.0.0.1:1/base?x=1"),
            serde_json::json!({"api_key": KEY}),
        ),
        &Defaults::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("url: is the API's base URL"), "{e}");

    // The region picks the base; the key never shows in Debug.
    for (region, host) in [
        (serde_json::json!(null), "api.opsgenie.com:443"),
        (serde_json::json!("us"), "api.opsgenie.com:443"),
        (serde_json::json!("eu"), "api.eu.opsgenie.com:443"),
    ] {
        let mut settings = serde_json::json!({"api_key": KEY});
        if !region.is_null() {
            settings["region"] = region;
        }
        let n = build(&opsgenie(None, settings), &Defaults::default()).unwrap();
        let debug = format!("{n:?}");
        assert!(debug.contains(host), "{debug}");
        assert!(!debug.contains(KEY), "{debug}");
    }
}
