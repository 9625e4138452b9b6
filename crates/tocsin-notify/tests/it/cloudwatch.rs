//! The cloudwatch channel against a local server playing CloudWatch's query API: the exact
//! `PutMetricData` form, its SigV4 signature (checked here by an independent implementation of
//! the algorithm, shared with the eventbridge tests), and how CloudWatch's XML errors are judged.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use tocsin_core::directory::ContactKind;
use tocsin_notify::{Defaults, MessageKind, build};
use tocsin_testkit::{HttpServer, RecordedRequest};

use crate::common::{contact, message, setting_field};

/// AWS's documentation example key pair.
pub(crate) const AKID: &str = "AKIDEXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
pub(crate) const TOKEN: &str = "FwoGZXIvYXdzEXAMPLEsessiontoken//////////wEaDEXAMPLE";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// What the `Authorization` header of a SigV4 request says.
#[derive(Debug)]
pub(crate) struct Authorization {
    pub(crate) access_key_id: String,
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
}

/// Parses `AWS4-HMAC-SHA256 Credential=…/date/region/service/aws4_request, SignedHeaders=…,
/// Signature=…`, checking its exact shape.
pub(crate) fn authorization(req: &RecordedRequest) -> Authorization {
    let auth = req
        .header("authorization")
        .expect("an Authorization header");
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 Credential=")
        .unwrap_or_else(|| panic!("{auth}"));
    let (credential, rest) = rest.split_once(", SignedHeaders=").unwrap();
    let (signed, signature) = rest.split_once(", Signature=").unwrap();
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope.len(), 5, "{credential}");
    assert_eq!(scope[4], "aws4_request");
    assert_eq!(signature.len(), 64, "{signature}");
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{signature}"
    );
    Authorization {
        access_key_id: scope[0].into(),
        date: scope[1].into(),
        region: scope[2].into(),
        service: scope[3].into(),
        signed_headers: signed.split(';').map(str::to_owned).collect(),
        signature: signature.into(),
    }
}

/// Recomputes the SigV4 signature of a request as it arrived (method, path, query, the signed
/// headers' received values, the body) from the secret key alone, following AWS's published
/// algorithm, and compares it with the one sent.
pub(crate) fn verify_sigv4(req: &RecordedRequest, secret: &str) -> Result<(), String> {
    let auth = authorization(req);
    let amz_date = req.header("x-amz-date").ok_or("no X-Amz-Date")?;
    if !amz_date.starts_with(&auth.date) {
        return Err(format!("X-Amz-Date {amz_date} is not of {}", auth.date));
    }
    let mut query: Vec<&str> = req.query.split('&').filter(|q| !q.is_empty()).collect();
    query.sort_unstable();
    let mut canonical = format!("{}\n{}\n{}\n", req.method, req.path, query.join("&"));
    for name in &auth.signed_headers {
        let value = req
            .header(name)
            .ok_or_else(|| format!("signed header {name} did not arrive"))?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical.push_str(&format!("{name}:{value}\n"));
    }
    canonical.push_str(&format!(
        "\n{}\n{}",
        auth.signed_headers.join(";"),
        hex(&Sha256::digest(&req.body))
    ));
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let key = hmac(format!("AWS4{secret}").as_bytes(), &auth.date);
    let key = hmac(&key, &auth.region);
    let key = hmac(&key, &auth.service);
    let key = hmac(&key, "aws4_request");
    let expected = hex(&hmac(&key, &to_sign));
    if expected == auth.signature {
        Ok(())
    } else {
        Err(format!(
            "signature {} but {expected} expected for\n{canonical}",
            auth.signature
        ))
    }
}

/// Checks the parts of a signed request that do not depend on the operation.
pub(crate) fn check_signed(req: &RecordedRequest, region: &str, service: &str) {
    let amz_date = req.header("x-amz-date").expect("X-Amz-Date");
    assert_eq!(amz_date.len(), 16, "{amz_date}");
    assert!(amz_date.ends_with('Z') && amz_date.as_bytes()[8] == b'T');
    let auth = authorization(req);
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(auth.date, amz_date[..8]);
    assert_eq!(
        (auth.region.as_str(), auth.service.as_str()),
        (region, service)
    );
    for h in ["content-type", "host", "x-amz-date"] {
        assert!(auth.signed_headers.iter().any(|s| s == h), "{h} unsigned");
    }
    assert!(!auth.signed_headers.iter().any(|s| s == "user-agent"));
    verify_sigv4(req, SECRET).unwrap();
    // The check above is meaningful: a changed body, header or key no longer verifies.
    let mut tampered = req.clone();
    tampered.body.push(b' ');
    assert!(verify_sigv4(&tampered, SECRET).is_err());
    let mut tampered = req.clone();
    for (n, v) in &mut tampered.headers {
        if n == "host" {
            v.push('1');
        }
    }
    assert!(verify_sigv4(&tampered, SECRET).is_err());
    assert!(verify_sigv4(req, "another secret").is_err());
}

/// `application/x-www-form-urlencoded` decoding.
fn form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

fn field<'a>(f: &'a [(String, String)], name: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

const OK_XML: &str = "<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\n  \
<ResponseMetadata>\n    <RequestId>e16fc4d3-9a04-11e0-9362-093a1cae5385</RequestId>\n  \
</ResponseMetadata>\n</PutMetricDataResponse>";

fn settings() -> serde_json::Value {
    serde_json::json!({
        "region": "eu-west-1",
        "access_key_id": AKID,
        "secret_access_key": SECRET,
    })
}

#[tokio::test]
async fn puts_alarm_status_and_message_metrics_signed() {
    let server = HttpServer::start().await.unwrap();
    server.respond("/", 200, &[("content-type", "text/xml")], OK_XML);
    let mut s = settings();
    s["namespace"] = "Ops/Tocsin".into();
    let c = contact(ContactKind::Cloudwatch, None, Some(&server.url("/")), s);
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains(SECRET), "{n:?}");
    let done = n.send(&message()).await.unwrap();
    assert_eq!(
        done.detail,
        "HTTP 200, request id e16fc4d3-9a04-11e0-9362-093a1cae5385"
    );
    assert_eq!(done.template_fallback, None);

    let req = server.last_request().unwrap();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/", "")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8")
    );
    assert_eq!(
        req.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert_eq!(req.header("x-amz-security-token"), None);
    check_signed(&req, "eu-west-1", "monitoring");
    assert_eq!(
        authorization(&req).signed_headers,
        ["content-type", "host", "x-amz-date"]
    );

    let f = form(&req.body);
    let expected: Vec<(&str, &str)> = vec![
        ("Action", "PutMetricData"),
        ("Version", "2010-08-01"),
        ("Namespace", "Ops/Tocsin"),
        ("MetricData.member.1.MetricName", "AlarmOpen"),
        ("MetricData.member.1.Value", "1"),
        ("MetricData.member.1.Unit", "Count"),
        ("MetricData.member.1.Timestamp", "1970-01-01T00:00:00Z"),
        ("MetricData.member.1.Dimensions.member.1.Name", "Check"),
        ("MetricData.member.1.Dimensions.member.1.Value", "web"),
        ("MetricData.member.1.Dimensions.member.2.Name", "Tenant"),
        ("MetricData.member.1.Dimensions.member.2.Value", "acme"),
        ("MetricData.member.2.MetricName", "Status"),
        ("MetricData.member.2.Value", "2"),
        ("MetricData.member.2.Unit", "None"),
        ("MetricData.member.2.Timestamp", "1970-01-01T00:00:00Z"),
        ("MetricData.member.2.Dimensions.member.1.Name", "Check"),
        ("MetricData.member.2.Dimensions.member.1.Value", "web"),
        ("MetricData.member.2.Dimensions.member.2.Name", "Tenant"),
        ("MetricData.member.2.Dimensions.member.2.Value", "acme"),
        ("MetricData.member.3.MetricName", "response_time"),
        ("MetricData.member.3.Value", "0.25"),
        ("MetricData.member.3.Unit", "Seconds"),
        ("MetricData.member.3.Timestamp", "1970-01-01T00:00:00Z"),
        ("MetricData.member.3.Dimensions.member.1.Name", "Check"),
        ("MetricData.member.3.Dimensions.member.1.Value", "web"),
        ("MetricData.member.3.Dimensions.member.2.Name", "Tenant"),
        ("MetricData.member.3.Dimensions.member.2.Value", "acme"),
    ];
    let got: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, expected);
    // The namespace's slash is percent-encoded on the wire.
    assert!(
        std::str::from_utf8(&req.body)
            .unwrap()
            .contains("Namespace=Ops%2FTocsin&")
    );

    // The closing notification sets AlarmOpen to 0, Status to the check's.
    let mut m = message();
    m.kind = MessageKind::Closed;
    m.status = tocsin_core::Status::Ok;
    n.send(&m).await.unwrap();
    let req = server.last_request().unwrap();
    let f = form(&req.body);
    assert_eq!(field(&f, "MetricData.member.1.Value"), Some("0"));
    assert_eq!(field(&f, "MetricData.member.2.Value"), Some("0"));
    check_signed(&req, "eu-west-1", "monitoring");
}

#[tokio::test]
async fn session_token_is_sent_and_signed() {
    let server = HttpServer::start().await.unwrap();
    server.respond("/", 200, &[("content-type", "text/xml")], OK_XML);
    let mut s = settings();
    s["session_token"] = TOKEN.into();
    let c = contact(ContactKind::Cloudwatch, None, Some(&server.url("/")), s);
    let n = build(&c, &Defaults::default()).unwrap();
    assert!(!format!("{n:?}").contains(TOKEN), "{n:?}");
    n.send(&message()).await.unwrap();
    let req = server.last_request().unwrap();
    assert_eq!(req.header("x-amz-security-token"), Some(TOKEN));
    check_signed(&req, "eu-west-1", "monitoring");
    assert_eq!(
        authorization(&req).signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
    // The namespace defaults to Tocsin.
    assert_eq!(field(&form(&req.body), "Namespace"), Some("Tocsin"));
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\n  \
         <Error>\n    <Type>Sender</Type>\n    <Code>{code}</Code>\n    <Message>{message}</Message>\n  \
         </Error>\n  <RequestId>4b1c-11e0</RequestId>\n</ErrorResponse>"
    )
}

#[tokio::test]
async fn cloudwatch_errors_are_judged_by_code() {
    let server = HttpServer::start().await.unwrap();
    let mut s = settings();
    s["session_token"] = TOKEN.into();
    let c = contact(ContactKind::Cloudwatch, None, Some(&server.url("/")), s);
    let n = build(&c, &Defaults::default()).unwrap();
    let xml = [("content-type", "text/xml")];

    // CloudWatch throttles with a 400: the code makes it retryable.
    server.respond(
        "/",
        400,
        &[("content-type", "text/xml"), ("retry-after", "7")],
        error_xml("Throttling", "Rate exceeded"),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable, "{}", e.reason);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(
        e.reason,
        format!(
            "CloudWatch PutMetricData: HTTP 400 from 127.0.0.1:{}: Throttling: Rate exceeded",
            server.port()
        )
    );

    // Rejected credentials and invalid parameters are permanent.
    server.respond(
        "/",
        403,
        &xml,
        error_xml(
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason.ends_with(
            "InvalidClientTokenId: The security token included in the request is invalid."
        ),
        "{}",
        e.reason
    );
    server.respond(
        "/",
        400,
        &xml,
        error_xml(
            "InvalidParameterValue",
            "The value &lt;NaN&gt; for parameter MetricData.member.3.Value is invalid.",
        ),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(
        e.reason
            .contains("InvalidParameterValue: The value <NaN> for parameter"),
        "{}",
        e.reason
    );

    // A signature mismatch quotes the canonical request, token included: the reason keeps
    // neither the token nor the secret.
    server.respond(
        "/",
        403,
        &xml,
        error_xml(
            "SignatureDoesNotMatch",
            &format!(
                "The request signature we calculated does not match the signature you provided. \
                 x-amz-security-token:{TOKEN} {SECRET}"
            ),
        ),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(!e.retryable);
    assert!(e.reason.contains("SignatureDoesNotMatch"), "{}", e.reason);
    assert!(
        !e.reason.contains(TOKEN) && !e.reason.contains(SECRET),
        "{}",
        e.reason
    );

    // AWS's own failures and gateways' 5xx are retryable.
    server.respond(
        "/",
        500,
        &xml,
        error_xml("InternalFailure", "An internal error occurred."),
    );
    let e = n.send(&message()).await.unwrap_err();
    assert!(
        e.retryable && e.reason.contains("InternalFailure"),
        "{}",
        e.reason
    );
    server.respond("/", 503, &[("retry-after", "30")], "Service Unavailable");
    let e = n.send(&message()).await.unwrap_err();
    assert!(e.retryable);
    assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
    assert!(
        e.reason.ends_with(&format!(
            "HTTP 503 from 127.0.0.1:{}: Service Unavailable",
            server.port()
        )),
        "{}",
        e.reason
    );
}

#[test]
fn build_errors_name_the_setting() {
    let build_with = |s: serde_json::Value| {
        build(
            &contact(ContactKind::Cloudwatch, None, None, s),
            &Defaults::default(),
        )
    };
    // Keys and region given: the regional endpoint, nothing read from the environment.
    assert!(build_with(settings()).is_ok());
    let mut s = settings();
    s.as_object_mut().unwrap().remove("access_key_id");
    let e = build_with(s).unwrap_err();
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert_eq!(setting_field(e), "settings.access_key_id");
    let mut s = settings();
    s.as_object_mut().unwrap().remove("secret_access_key");
    assert_eq!(
        setting_field(build_with(s).unwrap_err()),
        "settings.secret_access_key"
    );
    let mut s = settings();
    s["namespace"] = "AWS/EC2".into();
    assert_eq!(
        setting_field(build_with(s).unwrap_err()),
        "settings.namespace"
    );
    let mut s = settings();
    s["region"] = "eu-west-1.example.com/".into();
    assert_eq!(setting_field(build_with(s).unwrap_err()), "settings.region");
    // Metrics carry no text: templates are unknown settings.
    let mut s = settings();
    s["subject"] = "{{ check.name }}".into();
    let e = build_with(s).unwrap_err();
    assert!(e.to_string().contains("unknown field `subject`"), "{e}");
    assert!(!e.to_string().contains(SECRET), "{e}");
    // Neither settings nor environment: the error names what to set. (Skipped when the test
    // runs with AWS variables set.)
    let env = |v: &str| std::env::var_os(v).is_some();
    if !env("AWS_REGION") && !env("AWS_DEFAULT_REGION") {
        let mut s = settings();
        s.as_object_mut().unwrap().remove("region");
        assert_eq!(setting_field(build_with(s).unwrap_err()), "settings.region");
    }
    if !env("AWS_ACCESS_KEY_ID") && !env("AWS_SECRET_ACCESS_KEY") {
        let e = build_with(serde_json::json!({"region": "eu-west-1"})).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("settings.access_key_id")
                && msg.contains("settings.secret_access_key")
                && msg.contains("AWS_ACCESS_KEY_ID"),
            "{msg}"
        );
    }
}
