//! The address guard of tenants' checks: with `PublicOnly`, a probe to a loopback address (as a
//! literal or as a name that resolves to one) is `critical` with the refusal and the target sees
//! no connection and no packet; with `Open`, the same checks reach their target. Kinds that are
//! not network probes cannot be built for tenants.
//!
//! Every target is on 127.0.0.1: the allowed public side is covered by the classifier's tables.

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use tocsin_core::kinds::{
    CommandSpec, DiskSpec, DnsSpec, HostMetricsSpec, IcmpSpec, LogSpec, ProcessSpec, PushSpec,
    TlsSpec,
};
use tocsin_core::{ProbeSpec, Status};
use tocsin_probe::{AddressGuard, BuildError};
use tocsin_testkit::{DnsServer, HttpServer, TcpServer};

use crate::common::{env, http, run_guarded, tcp};

const T: Duration = Duration::from_secs(5);

fn refusal(addr: &str) -> String {
    format!(
        "address {addr} refused: loopback addresses are not allowed for tenants' checks (the \
         operator's policy)"
    )
}

/// A listener that nobody serves: a connection made to it waits in its backlog, so after a run
/// a non-blocking accept tells whether the probe connected (the handshake on loopback is
/// complete when the probe's connect returns).
fn silent_listener() -> TcpListener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l
}

fn connected(l: &TcpListener) -> bool {
    match l.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    }
}

fn boxed<S: serde::de::DeserializeOwned>(yaml: &str) -> Box<S> {
    Box::new(serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}")))
}

#[tokio::test]
async fn tcp_like_probes_to_loopback_are_refused_before_connecting() {
    let l = silent_listener();
    let port = l.local_addr().unwrap().port();
    let cases: Vec<(&str, ProbeSpec, &[&str])> = vec![
        (
            "http to an IP literal",
            http(&format!("url: http://127.0.0.1:{port}/")),
            &["127.0.0.1"],
        ),
        (
            "https to an IP literal",
            http(&format!("url: https://127.0.0.1:{port}/")),
            &["127.0.0.1"],
        ),
        (
            "http to localhost",
            http(&format!("url: http://localhost:{port}/")),
            &["127.0.0.1", "::1"],
        ),
        (
            "tcp to an IP literal",
            tcp(&format!("host: 127.0.0.1\nport: {port}")),
            &["127.0.0.1"],
        ),
        (
            "tcp to localhost",
            tcp(&format!("host: localhost\nport: {port}")),
            &["127.0.0.1", "::1"],
        ),
        (
            "tcp to an IPv4-mapped IPv6 literal",
            tcp(&format!("host: '::ffff:127.0.0.1'\nport: {port}")),
            &["::ffff:127.0.0.1"],
        ),
        (
            "tls",
            ProbeSpec::Tls(boxed::<TlsSpec>(&format!("host: 127.0.0.1\nport: {port}"))),
            &["127.0.0.1"],
        ),
        (
            "dns over tcp",
            ProbeSpec::Dns(boxed::<DnsSpec>(&format!(
                "name: example.test\nserver: '127.0.0.1:{port}'\ntransport: tcp"
            ))),
            &["127.0.0.1"],
        ),
    ];
    for (what, spec, addrs) in cases {
        let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
        assert_eq!(r.status, Status::Critical, "{what}: {r:?}");
        assert!(
            addrs.iter().any(|a| r.message == refusal(a)),
            "{what}: {}",
            r.message
        );
        assert_eq!(r.timings.connect_us, None, "{what}");
        assert!(!connected(&l), "{what}: the target saw a connection");
    }
    // The same listener sees an unguarded probe: the check above can see a connection.
    let (r, _) = run_guarded(
        &tcp(&format!("host: 127.0.0.1\nport: {port}")),
        AddressGuard::Open,
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(connected(&l));
}

#[tokio::test]
async fn a_name_is_checked_on_the_address_it_resolves_to() {
    let l = silent_listener();
    let port = l.local_addr().unwrap().port();
    let (r, _) = run_guarded(
        &http(&format!("url: http://localhost:{port}/")),
        AddressGuard::PublicOnly,
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(
        r.message == refusal("127.0.0.1") || r.message == refusal("::1"),
        "{}",
        r.message
    );
    // It was looked up (that is how the address was known), never connected to.
    assert!(r.timings.dns_us.is_some(), "{:?}", r.timings);
    assert_eq!(r.timings.connect_us, None);
    assert!(!connected(&l));
}

#[tokio::test]
async fn http_and_tcp_to_loopback_are_ok_with_the_open_guard() {
    let server = HttpServer::start().await.unwrap();
    for url in [server.url("/ok"), server.url_with_host("localhost", "/ok")] {
        let spec = http(&format!("url: {url}"));
        let (r, _) = run_guarded(&spec, AddressGuard::Open, T).await;
        assert_eq!(r.status, Status::Ok, "{url}: {r:?}");
        let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
        assert_eq!(r.status, Status::Critical, "{url}: {r:?}");
    }
    // Two runs got through, the two refused ones never made a request.
    assert_eq!(server.requests(), 2);

    let server = TcpServer::stall().await.unwrap();
    let spec = tcp(&format!("host: 127.0.0.1\nport: {}", server.port()));
    let (r, _) = run_guarded(&spec, AddressGuard::Open, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
    assert_eq!(r.message, refusal("127.0.0.1"));
}

#[tokio::test]
async fn a_dns_server_on_loopback_gets_no_query_over_udp() {
    let server = DnsServer::start("www.example.test. 300 A 192.0.2.1\n")
        .await
        .unwrap();
    let spec = ProbeSpec::Dns(boxed::<DnsSpec>(&format!(
        "name: www.example.test\nserver: '{}'",
        server.addr()
    )));
    let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(r.message, refusal("127.0.0.1"));
    assert_eq!(r.timings.first_byte_us, None);
    let (r, _) = run_guarded(&spec, AddressGuard::Open, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(server.udp_queries(), 1);

    // A silent UDP socket: nothing arrives when the guard refuses.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let spec = ProbeSpec::Dns(boxed::<DnsSpec>(&format!(
        "name: www.example.test\nserver: '{}'",
        silent.local_addr().unwrap()
    )));
    let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
    assert_eq!(r.message, refusal("127.0.0.1"));
    let mut buf = [0u8; 512];
    let got = silent.recv(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
        "{got:?}"
    );
}

#[tokio::test]
async fn icmp_to_loopback_is_refused_before_any_socket_is_used() {
    for host in ["127.0.0.1", "::1", "localhost"] {
        let spec = ProbeSpec::Icmp(boxed::<IcmpSpec>(&format!(
            "{{ host: '{host}', count: 1 }}"
        )));
        let (r, _) = run_guarded(&spec, AddressGuard::PublicOnly, T).await;
        assert_eq!(r.status, Status::Critical, "{host}: {r:?}");
        let want: &[&str] = if host == "localhost" {
            &["127.0.0.1", "::1"]
        } else {
            &[host]
        };
        assert!(
            want.iter().any(|a| r.message == refusal(a)),
            "{host}: {}",
            r.message
        );
        assert!(r.metrics.is_empty(), "{host}: {r:?}");
    }
}

#[test]
fn only_network_kinds_can_be_built_for_tenants() {
    let env = env();
    let local: Vec<ProbeSpec> = vec![
        ProbeSpec::Command(boxed::<CommandSpec>("{ protocol: exit, run: [/bin/true] }")),
        ProbeSpec::Log(boxed::<LogSpec>(
            "{ path: /nonexistent/app.log, match: { pattern: ERROR } }",
        )),
        ProbeSpec::Process(boxed::<ProcessSpec>("{ name: tocsin }")),
        ProbeSpec::Disk(boxed::<DiskSpec>("{ path: / }")),
        ProbeSpec::HostMetrics(boxed::<HostMetricsSpec>("{}")),
        ProbeSpec::Push(boxed::<PushSpec>(
            "{ token: abcdefghijklmnopqrstuvwx, within: 5m }",
        )),
    ];
    for spec in &local {
        let kind = spec.kind();
        match tocsin_probe::build_guarded(spec, &env, AddressGuard::PublicOnly) {
            Err(e @ BuildError::KindNotAllowed { .. }) => assert_eq!(
                e.to_string(),
                format!(
                    "{kind} checks are not allowed for tenants (only network probes are: http, \
                     tcp, tls, dns, icmp)"
                )
            ),
            other => panic!("{kind}: {other:?}"),
        }
        assert!(
            tocsin_probe::build_guarded(spec, &env, AddressGuard::Open).is_ok(),
            "{kind}"
        );
        assert!(tocsin_probe::build(spec, &env).is_ok(), "{kind}");
    }
    let network = [
        http("url: http://127.0.0.1:1/"),
        tcp("host: 127.0.0.1\nport: 1"),
        ProbeSpec::Tls(boxed::<TlsSpec>("host: 127.0.0.1\nport: 1")),
        ProbeSpec::Dns(boxed::<DnsSpec>("name: example.test\nserver: 127.0.0.1")),
        ProbeSpec::Icmp(boxed::<IcmpSpec>("host: 127.0.0.1")),
    ];
    for spec in &network {
        assert!(
            tocsin_probe::build_guarded(spec, &env, AddressGuard::PublicOnly).is_ok(),
            "{}",
            spec.kind()
        );
    }
}
