//! Name resolution and TCP connects, each timed and bounded by the run's deadline.
//!
//! The resolver is hickory's [`TokioResolver`] built from the system configuration
//! (`/etc/resolv.conf`, `/etc/hosts`); IP literals skip resolution entirely, and nothing is cached
//! beyond what hickory caches (TTL-bound).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::guard::AddressGuard;
use crate::util::{Deadline, Failure, Gathered, error_chain};

/// The shared resolver, or why there is none.
pub(crate) struct Net {
    resolver: Result<TokioResolver, String>,
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resolver {
            Ok(_) => f.write_str("Net { resolver: system }"),
            Err(e) => write!(f, "Net {{ resolver: unavailable ({e}) }}"),
        }
    }
}

/// Parses a host as an IP literal (with or without IPv6 brackets).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

impl Net {
    /// A resolver from the system configuration; a failure is kept and reported per lookup.
    pub(crate) fn from_system() -> Self {
        let resolver = TokioResolver::builder_tokio()
            .and_then(hickory_resolver::ResolverBuilder::build)
            .map_err(|e| {
                let msg = format!("cannot read the system DNS configuration: {e}");
                tracing::warn!(error = %e, "DNS resolver unavailable; only IP literals will work");
                msg
            });
        Self { resolver }
    }

    /// The addresses of `host`, timed into `g.timings.dns_us` (untouched for IP literals).
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<Vec<SocketAddr>, Failure> {
        if let Some(ip) = ip_literal(host) {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        let resolver = match &self.resolver {
            Ok(r) => r,
            Err(e) => return Err(Failure::new(format!("dns lookup of {host:?} failed: {e}"))),
        };
        let t0 = Instant::now();
        let looked_up = deadline.run(resolver.lookup_ip(host)).await;
        Gathered::add(&mut g.timings.dns_us, t0.elapsed());
        match looked_up {
            None => Err(Failure::new(format!(
                "dns lookup of {host:?} timed out after {}",
                deadline.timeout()
            ))),
            Some(Err(e)) => Err(Failure::new(format!(
                "dns lookup of {host:?} failed: {}",
                error_chain(&e)
            ))),
            Some(Ok(lookup)) => {
                let addrs: Vec<SocketAddr> =
                    lookup.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                if addrs.is_empty() {
                    Err(Failure::new(format!(
                        "dns lookup of {host:?} returned no addresses"
                    )))
                } else {
                    Ok(addrs)
                }
            }
        }
    }

    /// Connects to the first address that `guard` allows and that accepts, in order; the whole
    /// phase (failed attempts included) is timed into `g.timings.connect_us`. Sets `TCP_NODELAY`
    /// when `nodelay` (a probe that writes; a connect-only check saves the system call).
    ///
    /// Addresses the guard refuses are skipped without a packet sent; if it refuses them all, the
    /// failure is the refusal of the first and no connect phase is recorded.
    pub(crate) async fn connect(
        addrs: &[SocketAddr],
        guard: AddressGuard,
        nodelay: bool,
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<(TcpStream, SocketAddr), Failure> {
        if let Some(Err(refused)) = guard.first_allowed(addrs.iter().map(SocketAddr::ip)) {
            return Err(Failure::new(refused.to_string()));
        }
        let t0 = Instant::now();
        let mut last: Option<(SocketAddr, io::Error)> = None;
        for &addr in addrs {
            if guard.check(addr.ip()).is_err() {
                continue;
            }
            match deadline.run(TcpStream::connect(addr)).await {
                None => {
                    Gathered::add(&mut g.timings.connect_us, t0.elapsed());
                    return Err(Failure::new(format!(
                        "connect to {addr} timed out after {}",
                        deadline.timeout()
                    )));
                }
                Some(Ok(stream)) => {
                    Gathered::add(&mut g.timings.connect_us, t0.elapsed());
                    if nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    return Ok((stream, addr));
                }
                Some(Err(e)) => last = Some((addr, e)),
            }
        }
        Gathered::add(&mut g.timings.connect_us, t0.elapsed());
        Err(Failure::new(match last {
            Some((addr, e)) => describe_connect_error(addr, &e),
            None => "no address to connect to".to_owned(),
        }))
    }
}

fn describe_connect_error(addr: SocketAddr, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused ({addr})"),
        io::ErrorKind::HostUnreachable => format!("host unreachable ({addr})"),
        io::ErrorKind::NetworkUnreachable => format!("network unreachable ({addr})"),
        io::ErrorKind::ConnectionReset => format!("connection reset ({addr})"),
        _ => format!("connect to {addr} failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_are_recognised() {
        assert_eq!(ip_literal("127.0.0.1"), Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("::1"), Some("::1".parse().unwrap()));
        assert_eq!(ip_literal("localhost"), None);
    }
}
