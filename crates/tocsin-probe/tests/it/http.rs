//! The `http` probe against the testkit's HTTP and HTTPS servers.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_testkit::{CertKind, HttpServer, TestPki, refused_addr};

use crate::common::{assert_timings_sane, env, http, metric, run};

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_secs(1);
/// How much later than its timeout a run may return.
const MARGIN: Duration = Duration::from_millis(500);

#[tokio::test]
async fn ok_reports_status_metrics_and_timings() {
    let server = HttpServer::start().await.unwrap();
    let (r, _) = run(&http(&format!("url: {}", server.url("/ok"))), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.starts_with("HTTP 200 in "), "{}", r.message);
    assert_eq!(r.started_at_ms, 1_700_000_000_000);
    assert_eq!(metric(&r, "status_code"), Some(200.0));
    assert_eq!(metric(&r, "body_bytes"), Some(2.0));
    assert_eq!(metric(&r, "http_version"), Some(1.1));
    assert!(metric(&r, "response_time").unwrap() > 0.0);
    assert_eq!(metric(&r, "cert_days_left"), None);
    assert_eq!(r.cert_not_after, None);
    // An IP literal is not looked up; there is no TLS on plain http.
    assert_eq!(r.timings.dns_us, None);
    assert_eq!(r.timings.tls_us, None);
    assert!(r.timings.connect_us.is_some());
    assert!(r.timings.first_byte_us.is_some());
    assert_timings_sane(&r);
    assert_eq!(server.requests(), 1);
    let req = server.last_request().unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.header("user-agent"),
        Some(concat!("Tocsin/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(req.header("host"), Some(server.addr().to_string().as_str()));
    // A new connection per run, said to the server: it closes after the response.
    assert_eq!(req.header("connection"), Some("close"));
}

#[tokio::test]
async fn status_mismatch_is_critical() {
    let server = HttpServer::start().await.unwrap();
    let (r, _) = run(&http(&format!("url: {}", server.url("/status/503"))), T).await;
    assert_eq!(metric(&r, "status_code"), Some(503.0));
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(r.message, "expected status 2xx, got 503");

    let spec = http(&format!(
        "url: {}\nexpect: {{status: [418]}}",
        server.url("/status/418")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn a_stalled_server_times_out_waiting_for_headers() {
    let server = HttpServer::start().await.unwrap();
    let (r, took) = run(&http(&format!("url: {}", server.url("/stall"))), SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "no response headers after 1s");
    assert!(took < SHORT + MARGIN, "took {took:?}");
    assert!(took >= SHORT, "took {took:?}");
    assert!(r.timings.connect_us.is_some());
    assert_eq!(r.timings.first_byte_us, None);
}

#[tokio::test]
async fn a_dripping_body_times_out_in_the_body_read() {
    let server = HttpServer::start().await.unwrap();
    let (r, took) = run(&http(&format!("url: {}", server.url("/drip/100"))), SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("body read timed out after 1s ("),
        "{}",
        r.message
    );
    assert!(r.message.ends_with(" bytes read)"), "{}", r.message);
    assert!(took < SHORT + MARGIN, "took {took:?}");
    // Headers came at once.
    assert!(
        r.timings.first_byte_us.unwrap() < 500_000,
        "{:?}",
        r.timings
    );
}

#[tokio::test]
async fn a_huge_body_is_cut_at_max_body() {
    let server = HttpServer::start().await.unwrap();
    let spec = http(&format!("url: {}\nmax_body: 1MiB", server.url("/huge")));
    let (r, took) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "body_bytes"), Some(f64::from(1u32 << 20)));
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_fine() {
    let server = HttpServer::start().await.unwrap();
    let (r, _) = run(&http(&format!("url: {}", server.url("/slow/200"))), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.timings.first_byte_us.unwrap() >= 200_000,
        "{:?}",
        r.timings
    );
    let (r, took) = run(&http(&format!("url: {}", server.url("/slow/3000"))), SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "no response headers after 1s");
    assert!(took < SHORT + MARGIN, "took {took:?}");
}

#[tokio::test]
async fn connection_refused_names_the_address() {
    let addr = refused_addr().unwrap();
    let (r, _) = run(&http(&format!("url: http://{addr}/")), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, format!("connection refused ({addr})"));
    assert!(r.timings.connect_us.is_some());
}

#[tokio::test]
async fn localhost_is_resolved_and_timed() {
    let server = HttpServer::start().await.unwrap();
    let (r, _) = run(
        &http(&format!(
            "url: {}",
            server.url_with_host("localhost", "/ok")
        )),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.timings.dns_us.is_some(), "{:?}", r.timings);
    assert_timings_sane(&r);
    let req = server.last_request().unwrap();
    assert_eq!(
        req.header("host"),
        Some(format!("localhost:{}", server.port()).as_str())
    );
}

#[tokio::test]
async fn dns_failure_is_critical_and_names_the_host() {
    // `.invalid` is answered NXDOMAIN by the resolver itself (RFC 6761): no query leaves the host.
    let (r, _) = run(&http("url: http://no-such-host.invalid./"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message
            .starts_with(r#"dns lookup of "no-such-host.invalid." failed: "#),
        "{}",
        r.message
    );
    assert!(r.timings.dns_us.is_some());
    assert_eq!(r.timings.connect_us, None);
}

#[tokio::test]
async fn redirect_chains_are_followed() {
    let server = HttpServer::start().await.unwrap();
    let (r, _) = run(&http(&format!("url: {}", server.url("/redirect/3"))), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "status_code"), Some(200.0));
    let paths: Vec<String> = server
        .handle()
        .recorded()
        .into_iter()
        .map(|q| q.path)
        .collect();
    assert_eq!(paths, ["/redirect/3", "/redirect/2", "/redirect/1", "/ok"]);

    let (r, _) = run(
        &http(&format!(
            "url: {}\nmax_redirects: 2",
            server.url("/redirect/3")
        )),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "too many redirects (2)");

    // max_redirects: 0 does not follow: the 302 itself is judged.
    let (r, _) = run(
        &http(&format!(
            "url: {}\nmax_redirects: 0\nexpect: {{status: [302]}}",
            server.url("/redirect/1")
        )),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "status_code"), Some(302.0));
}

#[tokio::test]
async fn a_redirect_loop_is_critical() {
    let server = HttpServer::start().await.unwrap();
    let (r, took) = run(&http(&format!("url: {}", server.url("/loop"))), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "too many redirects (5)");
    assert_eq!(server.requests(), 6);
    assert!(took < Duration::from_secs(1));
}

#[tokio::test]
async fn redirect_methods_follow_the_status_code() {
    let server = HttpServer::start().await.unwrap();
    // 307 keeps the method and the body.
    let spec = http(&format!(
        "url: {}\nmethod: POST\nbody: hello",
        server.url("/redirect/1?status=307&to=/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let last = server.last_request().unwrap();
    assert_eq!(
        (last.path.as_str(), last.method.as_str()),
        ("/echo", "POST")
    );
    assert_eq!(last.body, b"hello");
    assert_eq!(last.header("content-length"), Some("5"));

    // 303 turns it into a GET without a body.
    let spec = http(&format!(
        "url: {}\nmethod: POST\nbody: hello",
        server.url("/redirect/1?status=303&to=/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let last = server.last_request().unwrap();
    assert_eq!((last.path.as_str(), last.method.as_str()), ("/echo", "GET"));
    assert!(last.body.is_empty());
}

#[tokio::test]
async fn auth_headers_and_body_reach_the_server() {
    let server = HttpServer::start().await.unwrap();
    let spec = http(&format!(
        "url: {}\nmethod: put\nheaders: {{X-Test: one, User-Agent: custom/1, Connection: keep-alive}}\nbody: '{{\"a\":1}}'\n\
         auth: {{basic: {{username: user, password: pass}}}}",
        server.url("/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let req = server.last_request().unwrap();
    assert_eq!(req.method, "PUT");
    assert_eq!(req.header("authorization"), Some("Basic dXNlcjpwYXNz"));
    assert_eq!(req.header("x-test"), Some("one"));
    assert_eq!(req.header("user-agent"), Some("custom/1"));
    assert_eq!(req.header("connection"), Some("keep-alive"));
    assert_eq!(req.header("content-length"), Some("7"));
    assert_eq!(req.body, br#"{"a":1}"#);

    let spec = http(&format!(
        "url: {}\nauth: {{bearer: s3cret}}",
        server.url("/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        server.last_request().unwrap().header("authorization"),
        Some("Bearer s3cret")
    );
    // The secret never shows in the probe's Debug output.
    let probe = tocsin_probe::build(&spec, &env()).unwrap();
    assert!(!format!("{probe:?}").contains("s3cret"));
}

#[tokio::test]
async fn a_json_field_that_changes_turns_the_check_critical() {
    let server = HttpServer::start().await.unwrap();
    server.set_json(serde_json::json!({"x": 1, "status": "ok"}));
    let spec = http(&format!(
        "url: {}\nexpect:\n  json:\n    - {{path: $.x, equals: 1}}",
        server.url("/json")
    ));
    let probe = tocsin_probe::build(&spec, &env()).unwrap();
    let cx = tocsin_probe::RunContext {
        timeout: T,
        started_at_ms: 0,
    };
    let r = probe.run(cx).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    server.set_json(serde_json::json!({"x": 2, "status": "ok"}));
    let r = probe.run(cx).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(r.message, "$.x was 2, expected 1");
}

#[tokio::test]
async fn http2_with_prior_knowledge_over_plain_http() {
    let server = HttpServer::start().await.unwrap();
    let spec = http(&format!("url: {}\nversion: '2'", server.url("/echo")));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "http_version"), Some(2.0));
    assert_eq!(server.last_request().unwrap().version, "HTTP/2.0");
}

#[tokio::test]
async fn bad_specs_are_build_errors() {
    let env = env();
    let err = tocsin_probe::build(&http("url: ftp://example.com/"), &env).unwrap_err();
    assert!(err.to_string().contains("not http or https"), "{err}");
    let err = tocsin_probe::build(&http("url: /relative"), &env).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid URL \"/relative\""),
        "{err}"
    );
    let err = tocsin_probe::build(&http("url: http://x/\nmethod: 'G ET'"), &env).unwrap_err();
    assert_eq!(err.to_string(), r#"invalid HTTP method "G ET""#);
    let err = tocsin_probe::build(&http("url: http://x/\nheaders: {'a b': c}"), &env).unwrap_err();
    assert!(
        err.to_string().starts_with(r#"invalid header "a b""#),
        "{err}"
    );
    let err = tocsin_probe::build(
        &http("url: https://x/\ntls: {ca_file: /nonexistent/ca.pem}"),
        &env,
    )
    .unwrap_err();
    assert!(err.to_string().contains("\"/nonexistent/ca.pem\""), "{err}");
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

fn tls_spec(url: &str, tls: &str) -> tocsin_core::ProbeSpec {
    http(&format!("url: {url}\ntls: {tls}"))
}

#[tokio::test]
async fn a_custom_ca_file_is_trusted() {
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let spec = tls_spec(
        &server.url("/ok"),
        &format!("{{ca_file: {}}}", pki.ca_file()),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.cert_not_after, Some(pki.cert(CertKind::Valid).not_after));
    let days = metric(&r, "cert_days_left").unwrap();
    assert!((89.0..=90.0).contains(&days), "{days}");
    assert!(r.timings.tls_us.is_some());
    assert_timings_sane(&r);
}

#[tokio::test]
async fn an_expired_certificate_is_critical_and_says_so() {
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::Expired)
        .await
        .unwrap();
    let spec = tls_spec(
        &server.url("/ok"),
        &format!("{{ca_file: {}}}", pki.ca_file()),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message
            .starts_with("certificate expired 3 days ago (not after "),
        "{}",
        r.message
    );
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::Expired).not_after)
    );
    let days = metric(&r, "cert_days_left").unwrap();
    assert!((-3.1..=-2.9).contains(&days), "{days}");
    // The request never went out.
    assert_eq!(server.requests(), 0);

    // With verification off, the expired certificate is accepted but still reported.
    let (r, _) = run(&tls_spec(&server.url("/ok"), "{verify: false}"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::Expired).not_after)
    );
}

#[tokio::test]
async fn a_self_signed_certificate_is_critical_unless_verify_is_off() {
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::SelfSigned)
        .await
        .unwrap();
    // The system roots do not know it.
    let (r, _) = run(&tls_spec(&server.url("/ok"), "{}"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "certificate is self-signed");
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::SelfSigned).not_after)
    );
    // Neither does our CA.
    let spec = tls_spec(
        &server.url("/ok"),
        &format!("{{ca_file: {}}}", pki.ca_file()),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "certificate is self-signed");

    let (r, _) = run(&tls_spec(&server.url("/ok"), "{verify: false}"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::SelfSigned).not_after)
    );
    assert!(metric(&r, "cert_days_left").is_some());
}

#[tokio::test]
async fn a_ca_signed_certificate_without_the_ca_has_an_unknown_issuer() {
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let (r, _) = run(&tls_spec(&server.url("/ok"), "{}"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("certificate has an unknown issuer (")
            && r.message.contains("Tocsin Test CA"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn the_wrong_name_is_critical_and_sni_can_be_overridden() {
    let pki = TestPki::new().unwrap();
    let ca = pki.ca_file();
    let wrong = HttpServer::start_tls(&pki, CertKind::WrongName)
        .await
        .unwrap();
    let (r, _) = run(
        &tls_spec(&wrong.url("/ok"), &format!("{{ca_file: {ca}}}")),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        r#"certificate not valid for name "127.0.0.1" (it is for wrong.example)"#
    );
    assert!(r.cert_not_after.is_some());
    // Naming the certificate's host makes it valid.
    let spec = tls_spec(
        &wrong.url("/ok"),
        &format!("{{ca_file: {ca}, server_name: wrong.example}}"),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");

    let good = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let spec = tls_spec(
        &good.url("/ok"),
        &format!("{{ca_file: {ca}, server_name: localhost}}"),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let spec = tls_spec(
        &good.url("/ok"),
        &format!("{{ca_file: {ca}, server_name: other.example}}"),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        r#"certificate not valid for name "other.example" (it is for localhost, 127.0.0.1)"#
    );
    // Through DNS, with the host name in the URL.
    let spec = tls_spec(
        &good.url_with_host("localhost", "/ok"),
        &format!("{{ca_file: {ca}}}"),
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.timings.dns_us.is_some());
}

#[tokio::test]
async fn http2_is_negotiated_with_alpn() {
    let pki = TestPki::new().unwrap();
    let ca = pki.ca_file();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let (r, _) = run(
        &tls_spec(&server.url("/echo"), &format!("{{ca_file: {ca}}}")),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "http_version"), Some(2.0));
    assert_eq!(server.last_request().unwrap().version, "HTTP/2.0");

    let spec = http(&format!(
        "url: {}\nversion: '1.1'\ntls: {{ca_file: {ca}}}",
        server.url("/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(metric(&r, "http_version"), Some(1.1));
    assert_eq!(server.last_request().unwrap().version, "HTTP/1.1");

    // A server that only offers http/1.1: auto falls back, "2" cannot be had.
    let h1 = HttpServer::start_tls_alpn(&pki, CertKind::Valid, &["http/1.1"])
        .await
        .unwrap();
    let (r, _) = run(
        &tls_spec(&h1.url("/echo"), &format!("{{ca_file: {ca}}}")),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "http_version"), Some(1.1));
    let spec = http(&format!(
        "url: {}\nversion: '2'\ntls: {{ca_file: {ca}}}",
        h1.url("/echo")
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("tls handshake failed: "),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn https_redirect_chains_and_stalls_keep_their_phase() {
    let pki = TestPki::new().unwrap();
    let ca = pki.ca_file();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let (r, _) = run(
        &tls_spec(
            &server.url("/redirect/2?absolute=1"),
            &format!("{{ca_file: {ca}}}"),
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(server.requests(), 3);

    let (r, took) = run(
        &tls_spec(&server.url("/stall"), &format!("{{ca_file: {ca}}}")),
        SHORT,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "no response headers after 1s");
    assert!(took < SHORT + MARGIN, "took {took:?}");
    assert!(r.cert_not_after.is_some());
}

#[tokio::test]
async fn a_server_that_never_answers_the_tls_handshake_times_out_in_tls() {
    let stall = tocsin_testkit::TcpServer::stall().await.unwrap();
    let (r, took) = run(&http(&format!("url: https://{}/", stall.addr())), SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!("tls handshake with {} timed out after 1s", stall.addr())
    );
    assert!(took < SHORT + MARGIN, "took {took:?}");
    assert!(r.timings.connect_us.is_some() && r.timings.tls_us.is_some());
}
