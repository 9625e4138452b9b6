//! Smoke tests of the testkit's servers over raw sockets (the probes' tests cover the rest).

use std::time::Duration;

use tocsin_testkit::{CertKind, HttpServer, TcpServer, TestPki, refused_addr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get(server: &HttpServer, path: &str) -> String {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn routes_answer_and_requests_are_counted() {
    let server = HttpServer::start().await.unwrap();
    assert!(get(&server, "/ok").await.starts_with("HTTP/1.1 200 OK"));
    assert!(
        get(&server, "/status/503")
            .await
            .starts_with("HTTP/1.1 503")
    );
    let r = get(&server, "/redirect/3").await;
    assert!(
        r.starts_with("HTTP/1.1 302") && r.contains("location: 2\r\n"),
        "{r}"
    );
    assert!(
        get(&server, "/redirect/2")
            .await
            .contains("location: /redirect/1\r\n")
    );
    assert!(
        get(&server, "/redirect/1")
            .await
            .contains("location: /ok\r\n")
    );
    assert!(get(&server, "/loop").await.contains("location: /loop\r\n"));
    server.set_json(serde_json::json!({"x": 42}));
    assert!(get(&server, "/json").await.ends_with(r#"{"x":42}"#));
    assert_eq!(server.requests(), 7);
    assert_eq!(server.last_request().unwrap().path, "/json");
}

#[tokio::test]
async fn stall_never_answers_and_dropping_the_server_closes_it() {
    let server = HttpServer::start().await.unwrap();
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await;
    assert!(read.is_err(), "the stall route answered");
    drop(server);
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .unwrap();
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
}

#[tokio::test]
async fn tcp_servers_behave() {
    let banner = TcpServer::banner("SSH-2.0-test\r\n").await.unwrap();
    let mut s = TcpStream::connect(banner.addr()).await.unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"SSH-2.0-test\r\n");

    let echo = TcpServer::echo().await.unwrap();
    let mut s = TcpStream::connect(echo.addr()).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    let n = s.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(echo.connections(), 1);

    let refused = refused_addr().unwrap();
    assert!(TcpStream::connect(refused).await.is_err());
}

#[test]
fn the_pki_writes_the_ca_and_dates_the_leaves() {
    let pki = TestPki::new().unwrap();
    let pem = std::fs::read_to_string(pki.ca_pem_path()).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(pem, pki.ca_pem());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(pki.cert(CertKind::Expired).not_after < now);
    assert!(pki.cert(CertKind::Valid).not_after > now);
    let dir = pki.dir().to_owned();
    drop(pki);
    assert!(!dir.exists());
}
