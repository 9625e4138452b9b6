//! The `icmp` probe against real local targets.
//!
//! Every test pings 127.0.0.1 (or ::1): loss is produced by the run's own deadline, which cuts
//! off the requests that were not yet sent.

use std::time::Duration;

use tocsin_core::kinds::IcmpSpec;
use tocsin_core::{ProbeSpec, Status};

use crate::common::{env, metric, run};

fn icmp(yaml: &str) -> ProbeSpec {
    let spec: IcmpSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Icmp(Box::new(spec))
}

#[tokio::test]
async fn loopback_answers_every_request() {
    let (r, took) = run(
        &icmp("{ host: 127.0.0.1, count: 3, packet_interval: 10ms }"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert!(
        r.message.starts_with("3/3 replies from 127.0.0.1, 0% loss"),
        "{}",
        r.message
    );
    assert_eq!(metric(&r, "packets_received"), Some(3.0));
    assert_eq!(metric(&r, "packet_loss"), Some(0.0));
    let avg = metric(&r, "rtt_avg").unwrap();
    assert!(avg > 0.0 && avg < 0.5, "{avg}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn the_deadline_cuts_off_requests_and_counts_them_lost() {
    // 5 requests 300ms apart in 700ms: 3 are sent and answered, 2 never leave.
    let spec = icmp("{ host: 127.0.0.1, count: 5, packet_interval: 300ms }");
    let (r, took) = run(&spec, Duration::from_millis(700)).await;
    assert_eq!(r.status, Status::Warning, "{}", r.message);
    assert!(
        r.message.starts_with("loss 40% above 25%: 3/5 replies"),
        "{}",
        r.message
    );
    assert!(took < Duration::from_millis(800), "{took:?}");
    // Tighter bands make the same loss critical.
    let spec =
        icmp("{ host: 127.0.0.1, count: 5, packet_interval: 300ms, loss: { critical: 30% } }");
    let (r, _) = run(&spec, Duration::from_millis(700)).await;
    assert_eq!(r.status, Status::Critical, "{}", r.message);
}

#[tokio::test]
async fn rtt_thresholds() {
    let spec = icmp("{ host: 127.0.0.1, count: 2, packet_interval: 1ms, rtt: { warning: 0s } }");
    let (r, _) = run(&spec, Duration::from_secs(2)).await;
    assert_eq!(r.status, Status::Warning, "{}", r.message);
    assert!(
        r.message.starts_with("rtt avg above 0s: 2/2"),
        "{}",
        r.message
    );
    let spec = icmp(
        "{ host: 127.0.0.1, count: 2, packet_interval: 1ms, rtt: { warning: 0s, critical: 0s } }",
    );
    let (r, _) = run(&spec, Duration::from_secs(2)).await;
    assert_eq!(r.status, Status::Critical, "{}", r.message);
    let spec = icmp("{ host: 127.0.0.1, count: 2, packet_interval: 1ms, rtt: { warning: 1s } }");
    let (r, _) = run(&spec, Duration::from_secs(2)).await;
    assert_eq!(r.status, Status::Ok, "{}", r.message);
}

#[tokio::test]
async fn many_runs_share_one_socket_without_mixing_replies() {
    // 300 runs of 3 requests each to the same host, started 1ms apart as a scheduler spreads
    // them: every reply finds its request.
    let env = env();
    let spec = icmp("{ host: 127.0.0.1, count: 3, packet_interval: 5ms }");
    let probes: Vec<_> = (0..300)
        .map(|_| tocsin_probe::build(&spec, &env).expect("build"))
        .collect();
    let runs = probes.iter().enumerate().map(|(i, p)| async move {
        tokio::time::sleep(Duration::from_millis(i as u64)).await;
        p.run(tocsin_probe::RunContext {
            timeout: Duration::from_secs(3),
            started_at_ms: 0,
        })
        .await
    });
    let results = futures_util::future::join_all(runs).await;
    let bad: Vec<_> = results.iter().filter(|r| r.status != Status::Ok).collect();
    assert!(
        bad.is_empty(),
        "{} of 300 failed, first: {}",
        bad.len(),
        bad[0].message
    );
}

#[tokio::test]
async fn ipv6_loopback_when_the_machine_has_it() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let (r, _) = run(
        &icmp("{ host: \"::1\", count: 2, packet_interval: 1ms }"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.message);
}

#[tokio::test]
async fn a_family_the_name_lacks_is_a_clear_failure() {
    let (r, _) = run(
        &icmp("{ host: localhost, ip: ipv6, count: 1 }"),
        Duration::from_secs(2),
    )
    .await;
    // /etc/hosts maps localhost to 127.0.0.1 and usually ::1: either it answers, or says why not.
    if r.status != Status::Ok {
        assert!(
            r.message.contains("no IPv6 address") || r.message.contains("reply"),
            "{}",
            r.message
        );
    }
    let (r, _) = run(
        &icmp("{ host: localhost, ip: ipv4, count: 1 }"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(r.status, Status::Ok, "{}", r.message);
    assert!(
        r.message.contains("from localhost (127.0.0.1)"),
        "{}",
        r.message
    );
}
