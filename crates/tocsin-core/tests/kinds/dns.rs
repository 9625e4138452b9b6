//! Configuration errors of the `dns` kind, placed in their files.

use std::time::Duration;

use tocsin_core::ProbeSpec;
use tocsin_core::kinds::dns::{Rcode, RecordType, Transport};

use crate::common::{assert_error, errors, load};

#[test]
fn a_dns_check_loads_with_its_defaults() {
    let checks = load("checks:\n  - id: www\n    dns: { name: www.example.com }\n");
    let ProbeSpec::Dns(d) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(d.record_type, RecordType::A);
    assert_eq!(d.transport, Transport::Udp);
    assert_eq!(d.server, None);
    assert!(d.recursion);
    assert_eq!(d.expect.rcode, Rcode::NoError);
    assert_eq!(d.expect.answers, None);
    // The system's resolver is no particular host.
    assert_eq!(checks[0].host, None);

    let checks = load(
        "checks:\n  - id: mx\n    dns:\n      name: example.com\n      type: mx\n      \
         server: 192.0.2.53:5353\n      transport: tcp\n      expect:\n        \
         contains: ['10 mail.example.com']\n        min_ttl: 5m\n      \
         response_time: { warning: 200ms, critical: 1s }\n",
    );
    let ProbeSpec::Dns(d) = &checks[0].probe else {
        panic!("{:?}", checks[0].probe)
    };
    assert_eq!(d.record_type, RecordType::Mx);
    assert_eq!(d.transport, Transport::Tcp);
    assert_eq!(
        d.expect.min_ttl.map(tocsin_core::Dur::get),
        Some(Duration::from_secs(300))
    );
    assert_eq!(checks[0].host.as_deref(), Some("192.0.2.53"));
}

#[test]
fn bad_dns_fields_are_placed() {
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: example.com\n      type: AAA\n",
        "t.yml:5:13: checks[0].dns.type",
        "unknown record type \"AAA\": expected one of A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, CAA",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: example.com\n      type: PTR\n",
        "t.yml:5:13: checks[0].dns.type",
        "unknown record type \"PTR\"",
    );
    assert_error(
        "checks:\n  - id: a\n    dns: { name: 'a..b' }\n",
        "t.yml:3:18: checks[0].dns.name",
        "empty label",
    );
    assert_error(
        "checks:\n  - id: a\n    dns: { name: x, server: '127.0.0.1:0' }\n",
        "t.yml:3:29: checks[0].dns.server",
        "the port must be a number from 1 to 65535",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      transport: quic\n",
        "t.yml:5:18: checks[0].dns.transport",
        "expected one of: udp, tcp",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      expect: { rcode: NOPE }\n",
        "t.yml:5:24: checks[0].dns.expect.rcode",
        "unknown rcode \"NOPE\"",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      expect:\n        answers:\n          \
         - 192.0.2.1\n          - 192.0.2\n",
        "t.yml:8:13: checks[0].dns.expect.answers[1]",
        "\"192.0.2\" is not an IPv4 address",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      type: MX\n      \
         expect: { contains: [mail.example.com] }\n",
        "t.yml:6:28: checks[0].dns.expect.contains[0]",
        "expected `PREFERENCE EXCHANGE",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      \
         response_time: { warning: 2s, critical: 1s }\n",
        "t.yml:5:22: checks[0].dns.response_time",
        "warning 2s is above critical 1s",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      expect: { min_ttl: soon }\n",
        "t.yml:5",
        "invalid duration",
    );
    assert_error(
        "checks:\n  - id: a\n    dns:\n      name: x\n      \
         expect: { rcode: NXDOMAIN, contains: [192.0.2.1] }\n",
        "t.yml:5:15: checks[0].dns.expect",
        "only NOERROR replies carry answers",
    );
    assert_error(
        "checks:\n  - id: a\n    dns: { name: x, ttl: 5 }\n",
        "t.yml:3",
        "ttl",
    );
}

#[test]
fn every_dns_error_of_a_check_is_reported() {
    let e = errors(
        "checks:\n  - id: a\n    dns:\n      name: 'a b'\n      server: 'x:y'\n      \
         expect: { answers: [1, 2] }\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("t.yml:4:13: checks[0].dns.name"), "{e:#?}");
    assert!(
        e[1].starts_with("t.yml:5:15: checks[0].dns.server"),
        "{e:#?}"
    );
    assert!(
        e[2].starts_with("t.yml:6:27: checks[0].dns.expect.answers[0]"),
        "{e:#?}"
    );
}
