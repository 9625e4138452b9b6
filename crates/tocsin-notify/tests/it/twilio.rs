//! The twilio channel against a local server playing Twilio's REST API: the SMS and call
//! requests (one per number, Basic auth, form body), and how Twilio's answers are judged, for one
//! number and for several.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tocsin_core::directory::{Contact, ContactKind};
use tocsin_notify::{BuildError, Defaults, build};
use tocsin_testkit::HttpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{contact, message};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "s3cr3t-auth-t0ken";
const MESSAGES: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
const CALLS: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json";

fn twilio(url: Option<&str>, settings: serde_json::Value) -> Contact {
    let mut s = serde_json::json!({
        "account_sid": SID, "auth_token": TOKEN, "from": "+15005550006", "to": "+15005550001",
    });
    for (k, v) in settings.as_object().unwrap() {
        if v.is_null() {
            s.as_object_mut().unwrap().remove(k);
        } else {
            s[k] = v.clone();
        }
    }
    contact(ContactKind::Twilio, None, url, s)
}

/// The fields of an `application/x-www-form-urlencoded` body, in order.
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

/// `Basic base64(sid:token)`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn created(sid: &str) -> serde_json::Value {
    serde_json::json!({"sid": sid, "status": "queued", "account_sid": SID, "to": "+15005550001"})
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn sms_to_each_number() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(MESSAGES, 201, &created("SM1"));
    let c = twilio(
        Some(&server.url("")),
        serde_json::json!({"to": ["+15005550001", "+33612345678"]}),
    );
    let done = build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    assert_eq!(done.detail, "HTTP 201: sms to 2 numbers (SM1, SM1)");

    let reqs = server.handle().recorded();
    assert_eq!(reqs.len(), 2);
    for (req, to) in reqs.iter().zip(["+15005550001", "+33612345678"]) {
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_str()),
            ("POST", MESSAGES, "")
        );
        assert_eq!(
            req.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            req.header("authorization"),
            Some(basic(SID, TOKEN).as_str())
        );
        assert_eq!(
            form_fields(&req.body),
            pairs(&[
                ("To", to),
                ("From", "+15005550006"),
                (
                    "Body",
                    "[CRITICAL] Web front — Web front (web) is CRITICAL (was ok): expected status \
                     200, got 503\nAlarm acme#42 is open: https://tocsin.example/alarms/acme/42"
                ),
            ])
        );
    }
}

#[tokio::test]
async fn sms_templates_and_the_1600_character_cap() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(MESSAGES, 201, &created("SM2"));
    let c = twilio(
        Some(&server.url("")),
        serde_json::json!({"subject": "{{ check.id }} down", "body": "{{ message }}"}),
    );
    let n = build(&c, &Defaults::default()).unwrap();
    let done = n.send(&message()).await.unwrap();
    assert_eq!(done.detail, "HTTP 201: sms to 1 number (SM2)");
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(fields[2].1, "web down — expected status 200, got 503");

    let mut m = message();
    m.message = "€".repeat(3000);
    n.send(&m).await.unwrap();
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(fields[2].0, "Body");
    assert_eq!(fields[2].1.chars().count(), 1600);
    assert!(fields[2].1.ends_with("€€…"));
}

#[tokio::test]
async fn call_says_the_escaped_text() {
    let server = HttpServer::start().await.unwrap();
    server.respond_json(CALLS, 201, &created("CA1"));
    let c = twilio(Some(&server.url("")), serde_json::json!({"mode": "call"}));
    let n = build(&c, &Defaults::default()).unwrap();
    let mut m = message();
    m.message = "expected <200> & \"ok\", got 'down'".into();
    let done = n.send(&m).await.unwrap();
    assert_eq!(done.detail, "HTTP 201: call to 1 number (CA1)");
    let req = server.last_request().unwrap();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", CALLS));
    assert_eq!(
        req.header("authorization"),
        Some(basic(SID, TOKEN).as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        form_fields(&req.body),
        pairs(&[
            ("To", "+15005550001"),
            ("From", "+15005550006"),
            (
                "Twiml",
                "<Response><Say>[CRITICAL] Web front. expected &lt;200&gt; &amp; &quot;ok&quot;, \
                 got &apos;down&apos;</Say></Response>"
            ),
        ])
    );

    // With a body template, the call says it (on one line).
    let c = twilio(
        Some(&server.url("")),
        serde_json::json!({"mode": "call", "body": "Check {{ check.name }}\nnow."}),
    );
    build(&c, &Defaults::default())
        .unwrap()
        .send(&message())
        .await
        .unwrap();
    let fields = form_fields(&server.last_request().unwrap().body);
    assert_eq!(
        fields[2].1,
        "<Response><Say>[CRITICAL] Web front. Check Web front now.</Say></Response>"
    );
}

#[tokio::test]
async fn twilio_answers_are_classified() {
    let server = HttpServer::start().await.unwrap();
    let n = build(
        &twilio(Some(&server.url("")), serde_json::json!({})),
        &Defaults::default(),
    )
    .unwrap();
    for (status, code, said) in [
        (
            400,
            21211,
            "The 'To' number +15005550001 is not a valid phone number.",
        ),
        (401, 20003, "Authenticate"),
        (404, 20404, "The requested resource was not found"),
    ] {
        server.respond_json(
            MESSAGES,
            status,
            &serde_json::json!({
                "code": code, "message": said, "status": status,
                "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            }),
        );
        let e = n.send(&message()).await.unwrap_err();
        assert!(!e.retryable, "{status}");
        assert_eq!(
            e.reason,
            format!(
                "Twilio: HTTP {status} from 127.0.0.1:{}: error {code}: {said}",
                server.port()
            )
        );
    }
    // An echoed token (or the Basic credentials) is never repeated.
    let b64 = basic(SID, TOKEN);
    server.respond_json(
        MESSAGES,
        401,
        &serde_json::json!({"code": 20003, "message": format!("bad {TOKEN} {b64}")}),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(
        !e.reason.contains(TOKEN) && !e.reason.contains(b64.trim_start_matches("Basic ")),
        "{}",
        e.reason
    );

    server.respond(MESSAGES, 429, &[("retry-after", "9")], "");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(9)));
    server.respond_json(
        MESSAGES,
        500,
        &serde_json::json!({"code": 20500, "message": "Internal Server Error"}),
    );
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

/// A one-shot HTTP/1.1 server answering each request with the next of `answers` (status, body)
/// and recording the `To` field of each: Twilio answering differently per number.
async fn scripted(answers: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        for (status, body) in answers {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            let request = loop {
                let n = stream.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + length {
                        break buf[end + 4..end + 4 + length].to_vec();
                    }
                }
                if n == 0 {
                    break Vec::new();
                }
            };
            if let Some((_, to)) = form_fields(&request).into_iter().find(|(k, _)| k == "To") {
                record.lock().unwrap().push(to);
            }
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(reply.as_bytes()).await.unwrap();
            let _ = stream.shutdown().await;
        }
    });
    (url, seen)
}

#[tokio::test]
async fn several_numbers_all_tried_and_failures_reported() {
    let numbers = serde_json::json!({"to": ["+15005550001", "+33612345678", "+447700900123"]});
    let ok = r#"{"sid":"SMa","status":"queued"}"#;
    let invalid = r#"{"code":21211,"message":"The 'To' number is not valid.","status":400}"#;

    // The second fails transiently: every number was tried, the whole is retryable.
    let (url, seen) = scripted(vec![(201, ok), (503, "{}"), (201, ok)]).await;
    let n = build(&twilio(Some(&url), numbers.clone()), &Defaults::default()).unwrap();
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert!(
        e.reason
            .starts_with("sms to 1 of 3 numbers failed: +33612345678: Twilio: HTTP 503 from "),
        "{}",
        e.reason
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["+15005550001", "+33612345678", "+447700900123"]
    );

    // Only permanent failures: permanent.
    let (url, _) = scripted(vec![(400, invalid), (201, ok), (400, invalid)]).await;
    let n = build(&twilio(Some(&url), numbers.clone()), &Defaults::default()).unwrap();
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.starts_with(
            "sms to 2 of 3 numbers failed: +15005550001: Twilio: HTTP 400 from 127.0.0.1:"
        ) && e
            .reason
            .contains("error 21211: The 'To' number is not valid.; +447700900123: "),
        "{}",
        e.reason
    );

    // A permanent and a transient failure: retryable (the retry re-sends to every number).
    let (url, _) = scripted(vec![(400, invalid), (429, "{}"), (201, ok)]).await;
    let n = build(&twilio(Some(&url), numbers), &Defaults::default()).unwrap();
    assert!(n.send(&message()).await.unwrap_err().retryable);
}

#[test]
fn build_errors_name_the_field_and_hide_the_token() {
    let field = |settings| match build(&twilio(None, settings), &Defaults::default()) {
        Err(BuildError::Setting { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    for missing in ["account_sid", "auth_token", "from", "to"] {
        assert_eq!(
            field(serde_json::json!({ missing: null })),
            format!("settings.{missing}")
        );
    }
    assert_eq!(
        field(serde_json::json!({"account_sid": "AC/../x"})),
        "settings.account_sid"
    );
    assert_eq!(
        field(serde_json::json!({"auth_token": ""})),
        "settings.auth_token"
    );
    assert_eq!(
        field(serde_json::json!({"from": "0612345678"})),
        "settings.from"
    );
    assert_eq!(
        field(serde_json::json!({"to": ["+15005550001", "555-1234"]})),
        "settings.to"
    );
    assert_eq!(field(serde_json::json!({"to": []})), "settings.to");
    assert_eq!(field(serde_json::json!({"mode": "fax"})), "settings.mode");
    let e = build(
        &twilio(None, serde_json::json!({"auth_token": 12})),
        &Defaults::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("settings: invalid type"), "{e}");

    let n = build(&twilio(None, serde_json::json!({})), &Defaults::default()).unwrap();
    let debug = format!("{n:?}");
    assert!(debug.contains("api.twilio.com:443"), "{debug}");
    let b64 = basic(SID, TOKEN);
    assert!(
        !debug.contains(TOKEN) && !debug.contains(b64.trim_start_matches("Basic ")),
        "{debug}"
    );
}
