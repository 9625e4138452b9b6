//! The `tls` probe against real local targets: the testkit's HTTPS server with good and bad
//! certificates, its STARTTLS servers (SMTP, IMAP, PostgreSQL), and plain TCP servers.

use std::time::Duration;

use tocsin_core::kinds::TlsSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};
use tocsin_testkit::{CertKind, HttpServer, StartTlsServer, TcpServer, TestPki, refused_addr};

use crate::common::{assert_timings_sane, metric, run};

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_secs(1);
const MARGIN: Duration = Duration::from_millis(500);

fn tls(yaml: &str) -> ProbeSpec {
    let spec: TlsSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Tls(Box::new(spec))
}

/// A check of `127.0.0.1:port` for the name `localhost`, trusting the test CA.
fn local(pki: &TestPki, port: u16, extra: &str) -> ProbeSpec {
    tls(&format!(
        "host: 127.0.0.1\nport: {port}\nserver_name: localhost\nca_file: {}\n{extra}",
        pki.ca_file()
    ))
}

async fn serve(pki: &TestPki, kind: CertKind) -> HttpServer {
    HttpServer::start_tls(pki, kind).await.unwrap()
}

fn extracted<'a>(r: &'a CheckResult, key: &str) -> &'a serde_json::Value {
    r.extracted
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {:?}", r.extracted))
}

#[tokio::test]
async fn a_valid_certificate_is_ok_and_described() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::Valid).await;
    let (r, _) = run(&local(&pki, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    // 90 days from when the PKI was made: 89 once a second has passed.
    assert!(
        r.message
            .starts_with("certificate for localhost and 1 more valid for 89 days (not_after ")
            || r.message
                .starts_with("certificate for localhost and 1 more valid for 90 days (not_after "),
        "{}",
        r.message
    );
    assert!(
        r.message.ends_with("), issued by CN=Tocsin Test CA"),
        "{}",
        r.message
    );
    let not_after = pki.cert(CertKind::Valid).not_after;
    assert_eq!(r.cert_not_after, Some(not_after));
    let days = metric(&r, "days_left").unwrap();
    assert!((89.0..=90.0).contains(&days), "{days}");
    assert_eq!(metric(&r, "cert_days_left"), None);
    assert!(metric(&r, "response_time").is_some());
    assert_eq!(extracted(&r, "subject"), "CN=localhost");
    assert_eq!(extracted(&r, "issuer"), "CN=Tocsin Test CA");
    assert_eq!(
        extracted(&r, "sans"),
        &serde_json::json!(["localhost", "127.0.0.1"])
    );
    let na = jiff::Timestamp::from_second(not_after).unwrap().to_string();
    assert_eq!(extracted(&r, "not_after"), na.as_str());
    assert_eq!(extracted(&r, "chain"), &serde_json::json!(["CN=localhost"]));
    assert_eq!(extracted(&r, "tls_version"), "TLSv1.3");
    assert!(r.timings.connect_us.is_some() && r.timings.tls_us.is_some());
    assert_eq!(r.timings.dns_us, None);
    assert_timings_sane(&r);
}

#[tokio::test]
async fn a_host_name_is_resolved_and_verified() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::Valid).await;
    let spec = tls(&format!(
        "{{host: localhost, port: {}, ca_file: {}}}",
        server.port(),
        pki.ca_file()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(r.timings.dns_us.is_some(), "{:?}", r.timings);
}

#[tokio::test]
async fn an_expired_certificate_is_critical() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::Expired).await;
    let (r, _) = run(&local(&pki, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    let na = jiff::Timestamp::from_second(pki.cert(CertKind::Expired).not_after).unwrap();
    assert_eq!(
        r.message,
        format!("certificate expired 3 days ago (not_after {na})")
    );
    assert_eq!(
        r.cert_not_after,
        Some(pki.cert(CertKind::Expired).not_after)
    );
    let days = metric(&r, "days_left").unwrap();
    assert!((-3.1..=-2.9).contains(&days), "{days}");
    // Verification off does not make an expired certificate good.
    let (r, _) = run(&local(&pki, server.port(), "verify: false"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(r.message.starts_with("certificate expired 3 days ago"));
}

#[tokio::test]
async fn a_certificate_not_valid_yet_is_critical() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::NotYetValid).await;
    let (r, _) = run(&local(&pki, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    // Valid from two days after the PKI was made: "in 1 day" once a second has passed.
    assert!(
        r.message.starts_with("certificate not valid until ")
            && (r.message.ends_with("(in 1 day)") || r.message.ends_with("(in 2 days)")),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn the_wrong_name_is_critical() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::WrongName).await;
    let (r, _) = run(&local(&pki, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "certificate is for wrong.example, not localhost");
    // The name it is for is fine.
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, server_name: wrong.example, ca_file: {}}}",
        server.port(),
        pki.ca_file()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    // An IP address is checked against the IP SANs.
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, ca_file: {}}}",
        server.port(),
        pki.ca_file()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.message, "certificate is for wrong.example, not 127.0.0.1");
    // Verification off: only the dates count.
    let (r, _) = run(&local(&pki, server.port(), "verify: false"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn a_self_signed_certificate_is_critical() {
    let pki = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::SelfSigned).await;
    let (r, _) = run(&local(&pki, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "self-signed certificate");
    assert_eq!(extracted(&r, "issuer"), "CN=Tocsin Self-Signed");
    let (r, _) = run(&local(&pki, server.port(), "verify: false"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    // Trusting the certificate itself makes it good.
    let pinned = pki.dir().join("self-signed.pem");
    std::fs::write(&pinned, &pki.cert(CertKind::SelfSigned).pem).unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, server_name: localhost, ca_file: {}}}",
        server.port(),
        pinned.display()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn a_chain_without_its_intermediate_is_incomplete() {
    let pki = TestPki::new().unwrap();
    let complete = serve(&pki, CertKind::Chained).await;
    let (r, _) = run(&local(&pki, complete.port(), ""), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.message.ends_with("issued by CN=Tocsin Test Intermediate"),
        "{}",
        r.message
    );
    assert_eq!(
        extracted(&r, "chain"),
        &serde_json::json!(["CN=localhost", "CN=Tocsin Test Intermediate"])
    );

    let incomplete = serve(&pki, CertKind::MissingIntermediate).await;
    let (r, _) = run(&local(&pki, incomplete.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "incomplete chain: issuer \"CN=Tocsin Test Intermediate\" not found (not sent by the \
         server, not a trusted root)"
    );
}

#[tokio::test]
async fn another_ca_with_the_same_name_is_not_trusted() {
    let pki = TestPki::new().unwrap();
    let other = TestPki::new().unwrap();
    let server = serve(&pki, CertKind::Valid).await;
    let (r, _) = run(&local(&other, server.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "issuer \"CN=Tocsin Test CA\" is a trusted name, but its key did not sign the certificate"
    );
}

#[tokio::test]
async fn days_left_thresholds_decide_warning_and_critical() {
    let pki = TestPki::new().unwrap();
    let soon = serve(&pki, CertKind::ExpiresIn20Days).await;
    let (r, _) = run(&local(&pki, soon.port(), ""), T).await;
    assert_eq!(r.status, Status::Warning, "{r:?}");
    assert!(
        r.message
            .starts_with("certificate expires in 20 days (not_after ")
            && r.message
                .ends_with("), below the warning threshold of 30 days"),
        "{}",
        r.message
    );
    let days = metric(&r, "days_left").unwrap();
    assert!((20.0..=20.1).contains(&days), "{days}");

    let very_soon = serve(&pki, CertKind::ExpiresIn5Days).await;
    let (r, _) = run(&local(&pki, very_soon.port(), ""), T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(
        r.message
            .ends_with("), below the critical threshold of 7 days"),
        "{}",
        r.message
    );

    // Thresholds of one's own.
    let custom = "days_left: { warning: 10, critical: 3 }";
    let (r, _) = run(&local(&pki, soon.port(), custom), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let (r, _) = run(&local(&pki, very_soon.port(), custom), T).await;
    assert_eq!(r.status, Status::Warning, "{r:?}");
}

#[tokio::test]
async fn starttls_smtp_imap_and_postgres() {
    let pki = TestPki::new().unwrap();
    let smtp = StartTlsServer::smtp(&pki, CertKind::Valid).await.unwrap();
    let imap = StartTlsServer::imap(&pki, CertKind::Valid).await.unwrap();
    let pg = StartTlsServer::postgres(&pki, CertKind::ExpiresIn20Days)
        .await
        .unwrap();
    for (server, proto, status) in [
        (&smtp, "smtp", Status::Ok),
        (&imap, "imap", Status::Ok),
        (&pg, "postgres", Status::Warning),
    ] {
        let spec = local(&pki, server.port(), &format!("starttls: {proto}"));
        let (r, _) = run(&spec, T).await;
        assert_eq!(r.status, status, "{proto}: {r:?}");
        assert!(
            r.message.starts_with("certificate"),
            "{proto}: {}",
            r.message
        );
        assert!(metric(&r, "days_left").is_some(), "{proto}");
        assert!(r.timings.tls_us.is_some(), "{proto}");
        assert_eq!(server.starttls_accepted(), 1, "{proto}");
    }
}

#[tokio::test]
async fn starttls_refusals_say_what_the_server_answered() {
    let smtp = StartTlsServer::smtp_refusing().await.unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, starttls: smtp}}",
        smtp.port()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "SMTP server {} refused STARTTLS: 454 4.7.0 TLS not available due to temporary reason",
            smtp.addr()
        )
    );
    assert_eq!(metric(&r, "days_left"), None);

    let imap = StartTlsServer::imap_refusing().await.unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, starttls: imap}}",
        imap.port()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(
        r.message,
        format!(
            "IMAP server {} refused STARTTLS: NO STARTTLS is disabled",
            imap.addr()
        )
    );

    let pg = StartTlsServer::postgres_refusing().await.unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, starttls: postgres}}",
        pg.port()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "PostgreSQL server {} does not accept TLS (it answered N to SSLRequest)",
            pg.addr()
        )
    );
}

#[tokio::test]
async fn an_smtp_server_without_starttls_is_named() {
    let server = StartTlsServer::smtp_without_starttls().await.unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, starttls: smtp}}",
        server.port()
    ));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "SMTP server {} does not offer STARTTLS (EHLO lists: PIPELINING, SIZE 1000000)",
            server.addr()
        )
    );
}

#[tokio::test]
async fn a_silent_smtp_server_times_out_waiting_for_the_ehlo_reply() {
    // A banner, then it reads and never answers.
    let server = TcpServer::banner("220 plain ESMTP\r\n").await.unwrap();
    let spec = tls(&format!(
        "{{host: 127.0.0.1, port: {}, starttls: smtp}}",
        server.port()
    ));
    let (r, took) = run(&spec, SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "starttls (smtp) with {} timed out after 1s waiting for the EHLO reply",
            server.addr()
        )
    );
    assert!(took < SHORT + MARGIN, "took {took:?}");
}

#[tokio::test]
async fn a_plain_text_port_suggests_starttls() {
    let server = TcpServer::banner("220 mail.example ESMTP\r\n")
        .await
        .unwrap();
    let spec = tls(&format!("{{host: 127.0.0.1, port: {}}}", server.port()));
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical);
    assert!(
        r.message.starts_with("tls handshake failed: ")
            && r.message.ends_with(&format!(
                "(the server does not speak TLS on port {}; does it need starttls?)",
                server.port()
            )),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_stalled_server_times_out_in_the_phase_it_was_in() {
    let server = TcpServer::stall().await.unwrap();
    let (r, took) = run(
        &tls(&format!("{{host: 127.0.0.1, port: {}}}", server.port())),
        SHORT,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!("tls handshake with {} timed out after 1s", server.addr())
    );
    assert!(took >= SHORT && took < SHORT + MARGIN, "took {took:?}");

    let (r, took) = run(
        &tls(&format!(
            "{{host: 127.0.0.1, port: {}, starttls: imap}}",
            server.port()
        )),
        SHORT,
    )
    .await;
    assert_eq!(
        r.message,
        format!(
            "starttls (imap) with {} timed out after 1s waiting for the greeting",
            server.addr()
        )
    );
    assert!(took < SHORT + MARGIN, "took {took:?}");
}

#[tokio::test]
async fn a_refused_connection_is_critical() {
    let addr = refused_addr().unwrap();
    let (r, _) = run(
        &tls(&format!("{{host: 127.0.0.1, port: {}}}", addr.port())),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, format!("connection refused ({addr})"));
    assert_eq!(r.cert_not_after, None);
}

#[tokio::test]
async fn a_missing_ca_file_is_a_build_error() {
    let spec = tls("{host: 127.0.0.1, ca_file: /nonexistent/tocsin-ca.pem}");
    let env = crate::common::env();
    let err = tocsin_probe::build(&spec, &env).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/tocsin-ca.pem"), "{err}");
}
