//! The `icmp` probe: send `count` echo requests `packet_interval` apart, collect the replies, and
//! judge loss and average round-trip time.
//!
//! All icmp checks share one socket per address family (`icmp_socket`): thousands of runs, even
//! to one host, can be in flight through it.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tocsin_core::check::Thresholds;
use tocsin_core::kinds::icmp::{IcmpSpec, IpFamily, LossThresholds, MAX_COUNT};
use tocsin_core::{CheckResult, Status};
use tokio::time::Instant;

use crate::guard::AddressGuard;
use crate::icmp_socket::{EchoSocket, Reply};
use crate::net::ip_literal;
use crate::util::{Deadline, Gathered, fmt_duration};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `icmp` probe, built from an [`IcmpSpec`].
pub(crate) struct IcmpProbe {
    env: Arc<ProbeEnv>,
    guard: AddressGuard,
    host: String,
    family: IpFamily,
    count: u16,
    packet_interval: Duration,
    packet_timeout: Duration,
    payload: Vec<u8>,
    loss: LossThresholds,
    rtt: Thresholds,
}

impl fmt::Debug for IcmpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcmpProbe")
            .field("host", &self.host)
            .field("count", &self.count)
            .field("size", &self.payload.len())
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// What one echo request came to.
enum Outcome {
    Reply(Duration),
    Lost,
    /// An ICMP error or a send error: lost, with a reason worth reporting.
    Failed(String),
}

impl IcmpProbe {
    pub(crate) fn build(
        spec: &IcmpSpec,
        env: &Arc<ProbeEnv>,
        guard: AddressGuard,
    ) -> Result<Self, BuildError> {
        // Validation keeps count within 1..=MAX_COUNT (100).
        let count = u16::try_from(spec.count.clamp(1, MAX_COUNT)).unwrap_or(1);
        let size = usize::try_from(spec.size).unwrap_or(usize::MAX);
        Ok(Self {
            env: env.clone(),
            guard,
            host: spec.host.trim_matches(['[', ']']).to_owned(),
            family: spec.ip,
            count,
            packet_interval: spec.packet_interval.get(),
            packet_timeout: spec.packet_timeout.get(),
            payload: (0..size).map(|i| (i % 251) as u8).collect(),
            loss: spec.loss,
            rtt: spec.rtt,
        })
    }

    /// The address to ping: the literal, or the first resolved address of the wanted family that
    /// the guard allows (if it allows none, its refusal of the first).
    async fn address(&self, deadline: &Deadline, g: &mut Gathered) -> Result<IpAddr, String> {
        if let Some(ip) = ip_literal(&self.host) {
            self.guard.check(ip).map_err(|r| r.to_string())?;
            return Ok(ip);
        }
        let addrs = self
            .env
            .net
            .resolve(&self.host, 0, deadline, g)
            .await
            .map_err(|f| f.0)?;
        let of_family = addrs
            .iter()
            .map(std::net::SocketAddr::ip)
            .filter(|ip| match self.family {
                IpFamily::Auto => true,
                IpFamily::Ipv4 => ip.is_ipv4(),
                IpFamily::Ipv6 => ip.is_ipv6(),
            });
        match self.guard.first_allowed(of_family) {
            Some(Ok(ip)) => Ok(ip),
            Some(Err(refused)) => Err(refused.to_string()),
            None => Err(format!(
                "dns lookup of {:?} returned no {} address",
                self.host,
                if self.family == IpFamily::Ipv6 {
                    "IPv6"
                } else {
                    "IPv4"
                }
            )),
        }
    }

    async fn ping_all(&self, socket: &EchoSocket, ip: IpAddr, deadline: &Deadline) -> Vec<Outcome> {
        let start = Instant::now();
        let mut pending = FuturesUnordered::new();
        for i in 0..self.count {
            let send_at = start + self.packet_interval * u32::from(i);
            pending.push(async move {
                tokio::time::sleep_until(send_at).await;
                let mut request = match socket.send(ip, &self.payload).await {
                    Ok(r) => r,
                    Err(e) => return Outcome::Failed(format!("send failed: {e}")),
                };
                let sent = Instant::now();
                match tokio::time::timeout(self.packet_timeout, request.reply()).await {
                    Ok(Some(Reply::Echo(at))) => Outcome::Reply(at.saturating_duration_since(sent)),
                    Ok(Some(Reply::Error(e))) => Outcome::Failed(e),
                    Ok(None) | Err(_) => Outcome::Lost,
                }
            });
        }
        let mut outcomes = Vec::with_capacity(usize::from(self.count));
        while let Some(Some(o)) = deadline.run(pending.next()).await {
            outcomes.push(o);
        }
        // What the deadline cut off is lost.
        outcomes.resize_with(usize::from(self.count), || Outcome::Lost);
        outcomes
    }

    fn judge(
        &self,
        ip: IpAddr,
        outcomes: &[Outcome],
    ) -> (Status, String, Vec<(&'static str, f64, &'static str)>) {
        let sent = outcomes.len();
        let rtts: Vec<Duration> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Reply(d) => Some(*d),
                _ => None,
            })
            .collect();
        let received = rtts.len();
        let loss = if sent == 0 {
            100.0
        } else {
            100.0 * (sent - received) as f64 / sent as f64
        };
        let mut metrics = vec![
            ("packets_sent", sent as f64, ""),
            ("packets_received", received as f64, ""),
            ("packet_loss", loss, "%"),
        ];
        let failure = outcomes.iter().find_map(|o| match o {
            Outcome::Failed(m) => Some(m.as_str()),
            _ => None,
        });
        let target = if ip.to_string() == self.host {
            self.host.clone()
        } else {
            format!("{} ({ip})", self.host)
        };
        if received == 0 {
            let why = failure.map(|f| format!(": {f}")).unwrap_or_default();
            return (
                Status::Critical,
                format!("no reply from {target} to {sent} echo requests{why}"),
                metrics,
            );
        }
        let total: Duration = rtts.iter().sum();
        let avg = total / u32::try_from(received).unwrap_or(u32::MAX);
        let (min, max) = (
            rtts.iter().min().copied().unwrap_or_default(),
            rtts.iter().max().copied().unwrap_or_default(),
        );
        metrics.extend([
            ("rtt_min", min.as_secs_f64(), "s"),
            ("rtt_avg", avg.as_secs_f64(), "s"),
            ("rtt_max", max.as_secs_f64(), "s"),
        ]);
        let summary = format!(
            "{received}/{sent} replies from {target}, {loss:.0}% loss, rtt avg {} (min {}, max {})",
            fmt_duration(avg),
            fmt_duration(min),
            fmt_duration(max)
        );
        let mut status = Status::Ok;
        let mut reasons = Vec::new();
        if loss > self.loss.critical {
            status = Status::Critical;
            reasons.push(format!("loss {loss:.0}% above {}%", self.loss.critical));
        } else if loss > self.loss.warning {
            status = Status::Warning;
            reasons.push(format!("loss {loss:.0}% above {}%", self.loss.warning));
        }
        if let Some(c) = self.rtt.critical
            && avg > c.get()
        {
            status = Status::Critical;
            reasons.push(format!("rtt avg above {c}"));
        } else if let Some(w) = self.rtt.warning
            && avg > w.get()
        {
            status = status.worst(Status::Warning);
            reasons.push(format!("rtt avg above {w}"));
        }
        let message = if reasons.is_empty() {
            summary
        } else {
            format!("{}: {summary}", reasons.join(", "))
        };
        (status, message, metrics)
    }
}

impl Probe for IcmpProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            let deadline = Deadline::new(cx.timeout);
            let mut g = Gathered::default();
            let ip = match self.address(&deadline, &mut g).await {
                Ok(ip) => ip,
                Err(m) => {
                    return g.result(Status::Critical, m, cx.started_at_ms, deadline.elapsed());
                }
            };
            let socket = match self.env.icmp.get(ip) {
                Ok(s) => s,
                Err(m) => {
                    return g.result(
                        Status::Unknown,
                        m.to_owned(),
                        cx.started_at_ms,
                        deadline.elapsed(),
                    );
                }
            };
            let outcomes = self.ping_all(socket, ip, &deadline).await;
            let (status, message, metrics) = self.judge(ip, &outcomes);
            let mut r = g.result(status, message, cx.started_at_ms, deadline.elapsed());
            for (name, value, unit) in metrics {
                r = r.metric(name, value, unit);
            }
            r
        })
    }
}
