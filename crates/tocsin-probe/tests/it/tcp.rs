//! The `tcp` probe against the testkit's raw TCP servers and its HTTPS server.

use std::time::Duration;

use tocsin_core::Status;
use tocsin_testkit::{CertKind, HttpServer, TcpServer, TestPki, refused_addr};

use crate::common::{assert_timings_sane, metric, run, tcp};

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_secs(1);
const MARGIN: Duration = Duration::from_millis(500);

fn spec(port: u16, extra: &str) -> tocsin_core::ProbeSpec {
    tcp(&format!("host: 127.0.0.1\nport: {port}\n{extra}"))
}

#[tokio::test]
async fn a_plain_connect_is_ok() {
    let server = TcpServer::stall().await.unwrap();
    let (r, _) = run(&spec(server.port(), ""), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let prefix = format!("connected to {} in ", server.addr());
    assert!(
        r.message.starts_with(&prefix) && r.message.ends_with("ms"),
        "{}",
        r.message
    );
    assert!(metric(&r, "response_time").is_some());
    assert!(r.timings.connect_us.is_some());
    assert_eq!(r.timings.dns_us, None);
    assert_timings_sane(&r);
}

#[tokio::test]
async fn connection_refused_is_critical() {
    let addr = refused_addr().unwrap();
    let (r, _) = run(&spec(addr.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, format!("connection refused ({addr})"));
    assert_eq!(metric(&r, "response_time"), None);
    assert!(r.timings.connect_us.is_some());
}

#[tokio::test]
async fn a_banner_that_matches_is_ok_without_waiting_for_close() {
    let server = TcpServer::banner("SSH-2.0-test\r\n").await.unwrap();
    let (r, took) = run(&spec(server.port(), "expect: SSH-2.0"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.contains("reply as expected"), "{}", r.message);
    assert!(r.timings.first_byte_us.is_some());
    // The server keeps the connection open: the probe stops reading once satisfied.
    assert!(took < Duration::from_secs(1), "took {took:?}");

    let (r, _) = run(&spec(server.port(), "expect_matches: '^SSH-\\d\\.\\d-'"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn a_banner_that_does_not_match_is_critical() {
    let server = TcpServer::banner("SSH-2.0-test\r\n").await.unwrap();
    let (r, _) = run(&spec(server.port(), "expect: '220 '"), SHORT).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(r.message, r#"reply does not contain "220 ""#);
}

#[tokio::test]
async fn a_stalled_server_times_out_reading_the_reply() {
    let server = TcpServer::stall().await.unwrap();
    let (r, took) = run(
        &spec(server.port(), "send: \"PING\\r\\n\"\nexpect: PONG"),
        SHORT,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "reply read timed out after 1s (0 bytes read)");
    assert!(took < SHORT + MARGIN, "took {took:?}");
    assert!(took >= SHORT, "took {took:?}");
}

#[tokio::test]
async fn send_and_expect_against_an_echo_server() {
    let server = TcpServer::echo().await.unwrap();
    let (r, _) = run(
        &spec(server.port(), "send: \"PING\\r\\n\"\nexpect: PING"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.contains("reply as expected"), "{}", r.message);
}

#[tokio::test]
async fn tls_to_an_https_port() {
    let pki = TestPki::new().unwrap();
    let server = HttpServer::start_tls(&pki, CertKind::Valid).await.unwrap();
    let (r, _) = run(
        &spec(
            server.port(),
            &format!("tls: {{ca_file: {}}}", pki.ca_file()),
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.message.contains(", TLS handshake in "), "{}", r.message);
    assert_eq!(r.cert_not_after, Some(pki.cert(CertKind::Valid).not_after));
    assert!(metric(&r, "cert_days_left").unwrap() > 89.0);
    assert!(r.timings.tls_us.is_some());
    assert_timings_sane(&r);

    let expired = HttpServer::start_tls(&pki, CertKind::Expired)
        .await
        .unwrap();
    let (r, _) = run(
        &spec(
            expired.port(),
            &format!("tls: {{ca_file: {}}}", pki.ca_file()),
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("certificate expired 3 days ago"),
        "{}",
        r.message
    );
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::Expired).not_after)
    );
}
