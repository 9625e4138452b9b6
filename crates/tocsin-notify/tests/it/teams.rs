//! The teams channel against a local server playing a Teams Workflows webhook: the exact Adaptive
//! Card message and how the answers are judged.

use std::time::Duration;

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, MessageKind, build};
use tocsin_testkit::HttpServer;

use crate::common::{contact, message};

const FLOW: &str = "/workflows/0f1e/triggers/manual/paths/invoke";
const QUERY: &str = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zk9s3cret";

fn teams(server: &HttpServer, settings: serde_json::Value) -> Contact {
    contact(
        ContactKind::Teams,
        None,
        Some(&server.url(&format!("{FLOW}?{QUERY}"))),
        settings,
    )
}

#[tokio::test]
async fn posts_an_adaptive_card() {
    let server = HttpServer::start().await.unwrap();
    server.respond(FLOW, 202, &[], "");
    let n = build(&teams(&server, serde_json::json!({})), &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains("Zk9s3cret"), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 202");

    let req = server.last_request().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", FLOW));
    assert_eq!(req.query, QUERY);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": "[CRITICAL] Web front",
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": true,
                            "color": "Attention",
                        },
                        {
                            "type": "TextBlock",
                            "text": "Web front (web) is CRITICAL (was ok): expected status 200, got 503\n\
                                     Alarm acme#42 is open: https://tocsin.example/alarms/acme/42",
                            "wrap": true,
                        },
                    ],
                    "actions": [{
                        "type": "Action.OpenUrl",
                        "title": "Open in Tocsin",
                        "url": "https://tocsin.example/alarms/acme/42",
                    }],
                },
            }],
        })
    );
}

#[tokio::test]
async fn colours_links_and_templates() {
    let server = HttpServer::start().await.unwrap();
    server.respond(FLOW, 200, &[], "");
    let card = |server: &HttpServer| -> serde_json::Value {
        let body: serde_json::Value =
            serde_json::from_slice(&server.last_request().unwrap().body).unwrap();
        body["attachments"][0]["content"].clone()
    };
    let c = teams(
        &server,
        serde_json::json!({"subject": "{{ tenant }}: {{ check.name }}", "body": "_{{ message }}_"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();

    let mut m = message();
    m.kind = MessageKind::FaultCleared;
    assert_eq!(n.send(&m).await.unwrap().detail, "HTTP 200");
    let card1 = card(&server);
    assert_eq!(card1["body"][0]["text"], "acme: Web front");
    assert_eq!(card1["body"][0]["color"], "Warning");
    assert_eq!(card1["body"][1]["text"], "_expected status 200, got 503_");

    // Closed, and no dashboard: green and no action.
    m.kind = MessageKind::Closed;
    m.dashboard_url = None;
    n.send(&m).await.unwrap();
    let card2 = card(&server);
    assert_eq!(card2["body"][0]["color"], "Good");
    assert!(card2.get("actions").is_none(), "{card2}");
}

#[tokio::test]
async fn workflow_errors_are_judged_by_status() {
    let server = HttpServer::start().await.unwrap();
    let n = build(&teams(&server, serde_json::json!({})), &Defaults::default()).unwrap();

    server.respond_json(
        FLOW,
        400,
        &serde_json::json!({"error": {"code": "TriggerInputSchemaMismatch", "message": "The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.contains("HTTP 400") && e.reason.contains("TriggerInputSchemaMismatch"),
        "{}",
        e.reason
    );
    assert!(!e.reason.contains("Zk9s3cret"), "{}", e.reason);

    server.respond(FLOW, 401, &[], "");
    assert!(!n.send(&message()).await.unwrap_err().retryable);

    server.respond(
        FLOW,
        429,
        &[("retry-after", "7"), ("content-type", "application/json")],
        r#"{"error": {"code": "WorkflowTriggeredTooFrequently"}}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));

    server.respond(FLOW, 502, &[], "Bad Gateway");
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

#[test]
fn bad_settings_name_the_field() {
    let c = contact(ContactKind::Teams, None, None, serde_json::json!({}));
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "url"),
        "{e}"
    );

    let c = contact(
        ContactKind::Teams,
        None,
        Some("ftp://example.com/x"),
        serde_json::json!({}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "url"),
        "{e}"
    );

    let flow = Some("https://prod.example.logic.azure.com/workflows/1");
    let c = contact(
        ContactKind::Teams,
        None,
        flow,
        serde_json::json!({"colour": "red"}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "settings"),
        "{e}"
    );

    let c = contact(
        ContactKind::Teams,
        None,
        flow,
        serde_json::json!({"timeout": "0s"}),
    );
    let e = build(&c, &Defaults::default()).unwrap_err();
    assert!(
        matches!(e, BuildError::Setting { ref field, .. } if field == "settings.timeout"),
        "{e}"
    );
}
