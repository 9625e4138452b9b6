//! The `dns` probe against the testkit's DNS server on 127.0.0.1 (UDP and TCP): every record
//! type, response codes, exact sets and `contains`, minimum TTL, response time, TCP, truncation,
//! silence and refusal.

use std::time::Duration;

use tocsin_core::kinds::DnsSpec;
use tocsin_core::{ProbeSpec, Status};
use tocsin_testkit::{DnsServer, refused_addr};

use crate::common::{assert_timings_sane, metric, run};

const T: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_secs(1);
const MARGIN: Duration = Duration::from_millis(500);

const ZONE: &str = r#"
www.example.test.       300  A      192.0.2.1
www.example.test.       300  A      192.0.2.2
www.example.test.       300  AAAA   2001:db8::1
alias.example.test.     600  CNAME  www.example.test.
example.test.           3600 MX     10 mail.example.test.
example.test.           3600 MX     20 backup.example.test.
example.test.           60   TXT    "v=spf1 -all"
example.test.           60   TXT    "hello" " world"
example.test.           3600 NS     ns1.example.test.
example.test.           3600 SOA    ns1.example.test. hostmaster.example.test. 2024010101 7200 3600 1209600 300
_sip._tcp.example.test. 300  SRV    10 5 5060 sip.example.test.
example.test.           3600 CAA    0 issue "ca.example.test"
short.example.test.     5    A      192.0.2.9
"#;

async fn server() -> DnsServer {
    DnsServer::start(ZONE).await.unwrap()
}

fn dns(server: &DnsServer, yaml: &str) -> ProbeSpec {
    let text = format!("server: {}\n{yaml}", server.addr());
    let spec: DnsSpec = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
    ProbeSpec::Dns(Box::new(spec))
}

#[tokio::test]
async fn an_a_record_is_ok_with_metrics_timings_and_extracted_values() {
    let s = server().await;
    let (r, _) = run(&dns(&s, "name: www.example.test"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let prefix = format!(
        "A www.example.test.: 192.0.2.1, 192.0.2.2 ({} over udp in ",
        s.addr()
    );
    assert!(r.message.starts_with(&prefix), "{}", r.message);
    assert_eq!(metric(&r, "answer_count"), Some(2.0));
    assert_eq!(metric(&r, "min_ttl"), Some(300.0));
    assert!(metric(&r, "response_time").is_some());
    assert_eq!(r.extracted["rcode"], "NOERROR");
    assert_eq!(
        r.extracted["answers"],
        serde_json::json!(["192.0.2.1", "192.0.2.2"])
    );
    assert_eq!(r.extracted["server"], s.addr().to_string());
    assert_eq!(r.extracted["authoritative"], true);
    assert!(r.timings.first_byte_us.is_some());
    assert_eq!(r.timings.dns_us, None);
    assert_eq!(r.timings.connect_us, None);
    assert_timings_sane(&r);
    assert_eq!(s.udp_queries(), 1);
}

#[tokio::test]
async fn every_record_type_compares_in_its_normal_form() {
    let s = server().await;
    let cases = [
        ("www.example.test", "A", "[192.0.2.2, 192.0.2.1]"),
        ("www.example.test", "AAAA", "['2001:DB8::1']"),
        ("alias.example.test", "CNAME", "[WWW.example.test]"),
        (
            "example.test",
            "MX",
            "['10 mail.example.test', '20 backup.example.test.']",
        ),
        ("example.test", "TXT", "['v=spf1 -all', 'hello world']"),
        ("example.test", "NS", "[ns1.example.test]"),
        (
            "example.test",
            "SOA",
            "['ns1.example.test hostmaster.example.test 2024010101 7200 3600 1209600 300']",
        ),
        (
            "_sip._tcp.example.test",
            "SRV",
            "['10 5 5060 sip.example.test']",
        ),
        ("example.test", "CAA", "['0 issue ca.example.test']"),
    ];
    for (name, t, answers) in cases {
        let spec = dns(
            &s,
            &format!("name: {name}\ntype: {t}\nexpect: {{ answers: {answers} }}"),
        );
        let (r, _) = run(&spec, T).await;
        assert_eq!(r.status, Status::Ok, "{t}: {r:?}");
        assert!(
            r.message.starts_with(&format!("{t} {name}.: ")),
            "{}",
            r.message
        );
    }
}

#[tokio::test]
async fn a_cname_is_followed_to_the_asked_type() {
    let s = server().await;
    let spec = dns(
        &s,
        "name: alias.example.test\nexpect: { answers: [192.0.2.1, 192.0.2.2] }",
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.extracted["cname"],
        serde_json::json!(["www.example.test."])
    );
}

#[tokio::test]
async fn response_codes() {
    let s = server().await;
    let (r, _) = run(&dns(&s, "name: nope.example.test"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "expected rcode NOERROR, got NXDOMAIN for A nope.example.test."
    );
    assert_eq!(r.extracted["rcode"], "NXDOMAIN");

    let (r, _) = run(
        &dns(&s, "name: nope.example.test\nexpect: { rcode: NXDOMAIN }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.message
            .starts_with("A nope.example.test.: NXDOMAIN as expected ("),
        "{}",
        r.message
    );

    s.set_rcode("broken.example.test", "SERVFAIL").unwrap();
    let (r, _) = run(&dns(&s, "name: broken.example.test"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "expected rcode NOERROR, got SERVFAIL for A broken.example.test."
    );
}

#[tokio::test]
async fn an_empty_answer_is_critical_unless_expected() {
    let s = server().await;
    let (r, _) = run(&dns(&s, "name: short.example.test\ntype: AAAA"), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "no AAAA records for short.example.test. (NOERROR with an empty answer)"
    );
    let (r, _) = run(
        &dns(
            &s,
            "name: short.example.test\ntype: AAAA\nexpect: { answers: [] }",
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn exact_sets_and_contains() {
    let s = server().await;
    let (r, _) = run(
        &dns(
            &s,
            "name: www.example.test\nexpect: { answers: [192.0.2.1, 192.0.2.3] }",
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "A answers differ from the expected set: missing 192.0.2.3, unexpected 192.0.2.2"
    );

    let (r, _) = run(
        &dns(
            &s,
            "name: www.example.test\nexpect: { contains: [192.0.2.2] }",
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");

    let (r, _) = run(
        &dns(
            &s,
            "name: example.test\ntype: MX\nexpect: { contains: ['30 mx3.example.test'] }",
        ),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "MX answers lack \"30 mx3.example.test.\" (got \"10 mail.example.test.\", \
         \"20 backup.example.test.\")"
    );
}

#[tokio::test]
async fn a_ttl_below_the_minimum_is_critical() {
    let s = server().await;
    let (r, _) = run(
        &dns(&s, "name: short.example.test\nexpect: { min_ttl: 60s }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(r.message, "TTL 5s of A 192.0.2.9 is below the minimum 1m");
    let (r, _) = run(
        &dns(&s, "name: www.example.test\nexpect: { min_ttl: 5m }"),
        T,
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
}

#[tokio::test]
async fn response_time_thresholds() {
    let s = server().await;
    s.set_delay(Duration::from_millis(300));
    let spec = dns(
        &s,
        "name: www.example.test\nresponse_time: { warning: 100ms, critical: 2s }",
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Warning, "{r:?}");
    assert!(
        r.message.starts_with("response time 3") && r.message.ends_with("ms above warning 100ms"),
        "{}",
        r.message
    );
    let spec = dns(
        &s,
        "name: www.example.test\nresponse_time: { warning: 100ms, critical: 200ms }",
    );
    let (r, _) = run(&spec, T).await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert!(
        r.message.ends_with("ms above critical 200ms"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn tcp_is_used_when_asked() {
    let s = server().await;
    let (r, _) = run(&dns(&s, "name: www.example.test\ntransport: tcp"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.message.contains(&format!("({} over tcp in ", s.addr())),
        "{}",
        r.message
    );
    assert!(r.timings.connect_us.is_some());
    assert_eq!((s.udp_queries(), s.tcp_queries()), (0, 1));
}

#[tokio::test]
async fn a_truncated_udp_answer_is_asked_again_over_tcp() {
    let s = server().await;
    s.set_truncate_udp(true);
    let (r, _) = run(&dns(&s, "name: www.example.test"), T).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.message
            .contains("over tcp after a truncated udp reply in "),
        "{}",
        r.message
    );
    assert_eq!((s.udp_queries(), s.tcp_queries()), (1, 1));
}

#[tokio::test]
async fn a_silent_server_times_out_and_udp_queries_are_resent() {
    let s = server().await;
    s.set_silent(true);
    let (r, took) = run(&dns(&s, "name: www.example.test"), SHORT).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "dns query to {} over udp timed out after 1s (no reply)",
            s.addr()
        )
    );
    assert!(took >= SHORT && took < SHORT + MARGIN, "took {took:?}");
    assert_eq!(metric(&r, "response_time"), None);

    let timeout = Duration::from_millis(2500);
    let (r, took) = run(&dns(&s, "name: www.example.test"), timeout).await;
    assert_eq!(
        r.message,
        format!(
            "dns query to {} over udp timed out after 2500ms (no reply to 3 queries)",
            s.addr()
        )
    );
    assert!(took < timeout + MARGIN, "took {took:?}");

    let (r, took) = run(&dns(&s, "name: www.example.test\ntransport: tcp"), SHORT).await;
    assert_eq!(
        r.message,
        format!(
            "dns query to {} over tcp timed out after 1s (no reply)",
            s.addr()
        )
    );
    assert!(took < SHORT + MARGIN, "took {took:?}");
}

#[tokio::test]
async fn nothing_listening_is_a_refusal() {
    let addr = refused_addr().unwrap();
    let spec: DnsSpec =
        serde_saphyr::from_str(&format!("{{name: example.test, server: '{addr}'}}")).unwrap();
    let (r, took) = run(&ProbeSpec::Dns(Box::new(spec)), T).await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "dns query to {addr} over udp failed: connection refused (no DNS server listens there)"
        )
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
}
