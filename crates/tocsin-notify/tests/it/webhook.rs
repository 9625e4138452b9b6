//! The webhook channel against the testkit's recording HTTP(S) server: the exact request
//! (method, path, headers, body, HMAC) and how each failure is classified.

use std::time::{Duration, Instant};

use tocsin_core::directory::ContactKind;
use tocsin_notify::webhook::signature;
use tocsin_notify::{Defaults, build};
use tocsin_testkit::{CertKind, HttpServer, TestPki, refused_addr};

use crate::common::{contact, message};

fn hook(url: &str, settings: serde_json::Value) -> tocsin_core::directory::Contact {
    contact(ContactKind::Webhook, None, Some(url), settings)
}

#[tokio::test]
async fn posts_the_message_document_with_headers_and_signature() {
    let server = HttpServer::start().await.unwrap();
    let c = hook(
        &server.url("/ok?via=tocsin"),
        serde_json::json!({
            "secret": "s3cret",
            "headers": {"Authorization": "Bearer t0ken", "X-Team": "ops"},
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let m = message();
    let done = n.send(&m).await.unwrap();
    assert_eq!(done.detail, "HTTP 200");
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/ok");
    assert_eq!(req.query, "via=tocsin");
    assert_eq!(req.version, "HTTP/1.1");
    let want_body = serde_json::to_vec(&m.document()).unwrap();
    assert_eq!(req.body, want_body);
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("idempotency-key"), Some("acme/42/1/ops"));
    assert_eq!(req.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(req.header("x-team"), Some("ops"));
    assert_eq!(
        req.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert!(req.header("user-agent").unwrap().starts_with("tocsin/"));
    assert_eq!(
        req.header("x-tocsin-signature").unwrap(),
        signature(b"s3cret", &req.body)
    );
    // The body parses back to the documented fields.
    let doc: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(doc["alarm"]["key"], "check=web");
    assert_eq!(doc["check"]["name"], "Web front");
    assert_eq!(doc["message"], "expected status 200, got 503");
}

#[tokio::test]
async fn body_template_and_method() {
    let server = HttpServer::start().await.unwrap();
    let c = hook(
        &server.url("/ok"),
        serde_json::json!({
            "method": "put",
            "secret": "k",
            "body": "{\"text\": {{ (check.name ~ ': ' ~ message) | tojson }}, \"n\": {{ alarm.sequence }}}",
        }),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    n.send(&message()).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.method, "PUT");
    let body = String::from_utf8(req.body.clone()).unwrap();
    assert_eq!(
        body,
        r#"{"text": "Web front: expected status 200, got 503", "n": 1}"#
    );
    assert_eq!(
        req.header("x-tocsin-signature").unwrap(),
        signature(b"k", body.as_bytes())
    );
    // No secret, no signature header.
    let c = hook(&server.url("/ok"), serde_json::json!({}));
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(
        server.last_request().unwrap().header("x-tocsin-signature"),
        None
    );
}

#[tokio::test]
async fn failing_template_falls_back_to_the_document() {
    let server = HttpServer::start().await.unwrap();
    // Fine on the sample message (which has this metric), fails on one without it.
    let c = hook(
        &server.url("/ok"),
        serde_json::json!({"body": "{{ metrics.response_time.value }}"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let mut m = message();
    m.metrics.clear();
    let done = n.send(&m).await.unwrap();
    let err = done.template_fallback.unwrap();
    assert!(err.starts_with("contact \"ops\": settings.body"), "{err}");
    assert_eq!(
        server.last_request().unwrap().body,
        serde_json::to_vec(&m.document()).unwrap()
    );
}

async fn failure(url: &str, settings: serde_json::Value) -> tocsin_notify::DeliveryError {
    let n = build(&hook(url, settings), &Defaults::default()).unwrap();
    n.send(&message()).await.unwrap_err()
}

#[tokio::test]
async fn statuses_are_classified() {
    let server = HttpServer::start().await.unwrap();
    for (code, retryable) in [
        (500, true),
        (503, true),
        (429, true),
        (408, true),
        (400, false),
        (401, false),
        (404, false),
        (302, false),
    ] {
        let e = failure(
            &server.url(&format!("/status/{code}")),
            serde_json::json!({}),
        )
        .await;
        assert_eq!(e.retryable, retryable, "{code}: {e}");
        assert!(
            e.reason
                .starts_with(&format!("HTTP {code} from 127.0.0.1:{}", server.port())),
            "{e}"
        );
        assert!(
            !e.reason.contains("/status"),
            "the path may hold a token: {e}"
        );
    }
    let e = failure(&server.url("/status/500"), serde_json::json!({})).await;
    assert!(e.reason.ends_with(": status 500"), "{e}");
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    let addr = refused_addr().unwrap();
    let e = failure(&format!("http://{addr}/hook"), serde_json::json!({})).await;
    assert!(e.retryable, "{e}");
    assert!(e.reason.starts_with(&format!("connect to {addr}")), "{e}");
}

#[tokio::test]
async fn stalled_server_times_out_retryably() {
    let server = HttpServer::start().await.unwrap();
    let start = Instant::now();
    let e = failure(
        &server.url("/stall"),
        serde_json::json!({"timeout": "300ms"}),
    )
    .await;
    let took = start.elapsed();
    assert!(e.retryable, "{e}");
    assert!(e.reason.contains("within 300ms"), "{e}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test]
async fn https_with_a_ca_file_and_without() {
    tocsin_testkit::init();
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let url = server.url_with_host("localhost", "/ok");
    let n = build(
        &hook(&url, serde_json::json!({"ca_file": pki.ca_file()})),
        &Defaults::default(),
    )
    .unwrap();
    assert_eq!(n.send(&message()).await.unwrap().detail, "HTTP 200");
    assert_eq!(server.requests(), 1);

    let e = failure(&url, serde_json::json!({})).await;
    assert!(
        !e.retryable,
        "an untrusted certificate is a configuration error: {e}"
    );
    assert!(e.reason.starts_with("TLS with localhost:"), "{e}");
}

#[test]
fn build_errors_name_the_field_and_hide_values() {
    let d = Defaults::default();
    let err = |c| match build(&c, &d) {
        Err(e) => e.to_string(),
        Ok(n) => panic!("built {n:?}"),
    };
    let no_url = contact(ContactKind::Webhook, None, None, serde_json::json!({}));
    assert_eq!(err(no_url), "contact \"ops\": url: required for a webhook");
    assert!(err(hook("ftp://x/", serde_json::json!({}))).contains("url: must start with http"));
    assert!(
        err(hook("http://x/", serde_json::json!({"method": "DELETE"})))
            .contains("settings.method: \"DELETE\" is not one of POST, PUT, PATCH")
    );
    assert!(
        err(hook(
            "http://x/",
            serde_json::json!({"headers": {"Idempotency-Key": "x"}})
        ))
        .contains("settings.headers.Idempotency-Key: is set by Tocsin")
    );
    let e = err(hook("http://x/", serde_json::json!({"secret": 12345})));
    assert!(e.contains("settings: invalid type"), "{e}");
    let e = err(hook("http://x/", serde_json::json!({"secrte": "hunter2"})));
    assert!(
        e.contains("unknown field `secrte`") && !e.contains("hunter2"),
        "{e}"
    );
    let e = err(hook("http://x/", serde_json::json!({"timeout": "hunter2"})));
    assert!(!e.contains("hunter2"), "{e}");
    let e = err(hook("http://x/", serde_json::json!({"body": "{% for %}"})));
    assert!(
        e.starts_with("contact \"ops\": settings.body line 1: syntax error"),
        "{e}"
    );
}

#[test]
fn debug_output_hides_url_path_and_headers() {
    let c = hook(
        "http://127.0.0.1:9/T0KEN/path",
        serde_json::json!({"secret": "s3cret", "headers": {"Authorization": "Bearer t0ken"}}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let dbg = format!("{n:?}");
    for secret in ["T0KEN", "s3cret", "t0ken"] {
        assert!(!dbg.contains(secret), "{dbg}");
    }
    assert!(dbg.contains("127.0.0.1:9"), "{dbg}");
}
