//! The eventbridge channel against a local server playing EventBridge's JSON 1.1 API: the exact
//! `PutEvents` request and its SigV4 signature (verified independently), and how EventBridge's
//! answers are judged, failed entries in a 200 included.

use std::time::Duration;

use tocsin_core::directory::ContactKind;
use tocsin_notify::{Defaults, build};
use tocsin_testkit::HttpServer;

use crate::cloudwatch::{AKID, SECRET, TOKEN, authorization, check_signed};
use crate::common::{contact, message, setting_field};

fn settings() -> serde_json::Value {
    serde_json::json!({
        "region": "us-east-2",
        "access_key_id": AKID,
        "secret_access_key": SECRET,
    })
}

fn ok() -> serde_json::Value {
    serde_json::json!({
        "FailedEntryCount": 0,
        "Entries": [{"EventId": "11710aed-b79e-4468-a20b-bb3c0c3b4860"}],
    })
}

#[tokio::test]
async fn puts_one_signed_event_with_the_document_as_detail() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/", 200, &ok());
    let c = contact(
        ContactKind::Eventbridge,
        None,
        Some(&server.url("/")),
        settings(),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains(SECRET), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(
        done.detail,
        "HTTP 200, event id 11710aed-b79e-4468-a20b-bb3c0c3b4860"
    );

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/", "")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(req.header("x-amz-target"), Some("AWSEvents.PutEvents"));
    assert_eq!(req.header("x-amz-security-token"), None);
    check_signed(&req, "us-east-2", "events");
    assert_eq!(
        authorization(&req).signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-target"]
    );

    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let entries = body["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e["Source"], "tocsin");
    assert_eq!(e["DetailType"], "Tocsin alarm");
    assert_eq!(e["EventBusName"], "default");
    assert_eq!(e["Resources"], serde_json::json!([]));
    assert_eq!(e["Time"], 0);
    // Detail is a string holding the message's JSON document.
    let detail: serde_json::Value = serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap();
    assert_eq!(detail, message().document());
    assert_eq!(detail["status"], "critical");
    assert_eq!(detail["check"]["id"], "web");
    assert_eq!(body.as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn settings_shape_the_entry_and_a_session_token_is_signed() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json("/", 200, &ok());
    let mut s = settings();
    s["source"] = "com.example.tocsin".into();
    s["detail_type"] = "Check alarm".into();
    s["event_bus"] = "arn:aws:events:us-east-2:123456789012:event-bus/ops".into();
    s["resources"] = serde_json::json!(["arn:aws:ec2:us-east-2:123456789012:instance/i-0abc"]);
    s["session_token"] = TOKEN.into();
    let c = contact(ContactKind::Eventbridge, None, Some(&server.url("/")), s);
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains(TOKEN), "{n:?}");
    let mut m = message();
    m.time = "2026-01-01T00:00:00Z".parse().unwrap();
    n.send(&m).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.header("x-amz-security-token"), Some(TOKEN));
    check_signed(&req, "us-east-2", "events");
    assert!(
        authorization(&req)
            .signed_headers
            .contains(&"x-amz-security-token".to_owned())
    );
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let e = &body["Entries"][0];
    assert_eq!(e["Source"], "com.example.tocsin");
    assert_eq!(e["DetailType"], "Check alarm");
    assert_eq!(
        e["EventBusName"],
        "arn:aws:events:us-east-2:123456789012:event-bus/ops"
    );
    assert_eq!(
        e["Resources"],
        serde_json::json!(["arn:aws:ec2:us-east-2:123456789012:instance/i-0abc"])
    );
    assert_eq!(e["Time"], 1_767_225_600);
}

#[tokio::test]
async fn failed_entries_and_errors_are_judged_by_code() {
    let server = HttpServer::start().await.unwrap();
    let c = contact(
        ContactKind::Eventbridge,
        None,
        Some(&server.url("/")),
        settings(),
    );
    let n = build(&c, &Defaults::default()).unwrap();

    // HTTP 200 with a failed entry: its ErrorCode decides.
    let failed = |code: &str, message: &str| {
        serde_json::json!({
            "FailedEntryCount": 1,
            "Entries": [{"ErrorCode": code, "ErrorMessage": message}],
        })
    };
    server.respond_json("/", 200, &failed("ThrottlingException", "Rate exceeded."));
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(
        e.reason,
        "EventBridge PutEvents: the entry failed: ThrottlingException: Rate exceeded."
    );
    server.respond_json("/", 200, &failed("InternalException", "Internal error."));
    assert!(n.send(&message()).await.unwrap_err().retryable);
    server.respond_json(
        "/",
        200,
        &failed(
            "NotAuthorizedForSourceException",
            "Not authorized for the source.",
        ),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason
            .ends_with("NotAuthorizedForSourceException: Not authorized for the source."),
        "{}",
        e.reason
    );

    // JSON 1.1 errors: {"__type", "message"}.
    server.respond(
        "/",
        400,
        &[("content-type", "application/x-amz-json-1.1")],
        r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/tocsin is not authorized to perform: events:PutEvents"}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert_eq!(
        e.reason,
        format!(
            "EventBridge PutEvents: HTTP 400 from 127.0.0.1:{}: AccessDeniedException: User: \
             arn:aws:iam::123456789012:user/tocsin is not authorized to perform: events:PutEvents",
            server.port()
        )
    );
    server.respond(
        "/",
        400,
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("retry-after", "3"),
        ],
        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    server.respond(
        "/",
        400,
        &[("content-type", "application/x-amz-json-1.1")],
        r#"{"__type":"UnrecognizedClientException","message":"The security token included in the request is invalid."}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(
        !e.retryable && e.reason.contains("UnrecognizedClientException"),
        "{}",
        e.reason
    );
    server.respond(
        "/",
        500,
        &[("content-type", "application/x-amz-json-1.1")],
        r#"{"__type":"InternalFailure"}"#,
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert!(e.reason.ends_with(": InternalFailure"), "{}", e.reason);
    assert!(!e.reason.contains(SECRET));

    // A 200 that is not JSON is permanent (something else answered).
    server.respond("/", 200, &[("content-type", "text/html")], "<html>");
    let e = n.send(&message()).await.unwrap_err();
    assert!(
        !e.retryable && e.reason.contains("not JSON"),
        "{}",
        e.reason
    );
}

#[test]
fn build_errors_name_the_setting() {
    let build_with = |s: serde_json::Value| {
        build(
            &contact(ContactKind::Eventbridge, None, None, s),
            &Defaults::default(),
        )
    };
    assert!(build_with(settings()).is_ok());
    let mut s = settings();
    s["source"] = "aws.ec2".into();
    assert_eq!(setting_field(build_with(s).unwrap_err()), "settings.source");
    let mut s = settings();
    s["detail_type"] = "".into();
    assert_eq!(
        setting_field(build_with(s).unwrap_err()),
        "settings.detail_type"
    );
    let mut s = settings();
    s["resources"] = serde_json::json!([""]);
    assert_eq!(
        setting_field(build_with(s).unwrap_err()),
        "settings.resources"
    );
    let mut s = settings();
    s.as_object_mut().unwrap().remove("access_key_id");
    let e = build_with(s).unwrap_err();
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert_eq!(setting_field(e), "settings.access_key_id");
    let mut s = settings();
    s["bus"] = "default".into();
    let e = build_with(s).unwrap_err();
    assert!(e.to_string().contains("unknown field `bus`"), "{e}");
    let c = contact(
        ContactKind::Eventbridge,
        None,
        Some("ftp://events.example/"),
        settings(),
    );
    assert_eq!(
        setting_field(build(&c, &Defaults::default()).unwrap_err()),
        "url"
    );
}
