//! The ICMP echo sockets shared by every `icmp` check: one per address family, opened on first
//! use, with one task per socket that reads every reply and hands it to the run waiting for it.
//!
//! A datagram ICMP socket (Linux "ping socket", allowed to the groups in
//! `net.ipv4.ping_group_range`) is tried first, a raw socket (root or CAP_NET_RAW) next. The
//! receive buffer is raised to 4 MiB (within `net.core.rmem_max`): at thousands of replies per
//! second a default buffer overflows, and a dropped reply would be reported as packet loss.
//!
//! Replies are matched by (address, sequence number). Every request takes a fresh sequence number
//! from a process-wide counter, so two runs in flight never share one, even to the same host;
//! on raw sockets, which see every ICMP packet of the host, the identifier must be ours too.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Receive buffer asked for (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// What came back for one request.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An echo reply, received at this instant.
    Echo(Instant),
    /// An ICMP error about the request (unreachable, time exceeded), from this router.
    Error(String),
}

/// The sockets, one per family, opened on first use (inside the runtime).
#[derive(Default)]
pub(crate) struct IcmpSockets {
    v4: OnceLock<Result<Arc<EchoSocket>, String>>,
    v6: OnceLock<Result<Arc<EchoSocket>, String>>,
}

impl fmt::Debug for IcmpSockets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = |c: &OnceLock<Result<Arc<EchoSocket>, String>>| match c.get() {
            None => "unopened",
            Some(Ok(s)) if s.raw => "raw",
            Some(Ok(_)) => "datagram",
            Some(Err(_)) => "unavailable",
        };
        f.debug_struct("IcmpSockets")
            .field("v4", &state(&self.v4))
            .field("v6", &state(&self.v6))
            .finish()
    }
}

impl IcmpSockets {
    /// The socket for `ip`'s family, or why none can be opened.
    pub(crate) fn get(&self, ip: IpAddr) -> Result<&Arc<EchoSocket>, &str> {
        let cell = if ip.is_ipv4() { &self.v4 } else { &self.v6 };
        cell.get_or_init(|| EchoSocket::open(ip.is_ipv6()))
            .as_ref()
            .map_err(String::as_str)
    }
}

type Waiters = Mutex<HashMap<(IpAddr, u16), oneshot::Sender<Reply>>>;

/// One open ICMP socket and the runs waiting on it.
pub(crate) struct EchoSocket {
    socket: Arc<UdpSocket>,
    v6: bool,
    raw: bool,
    ident: u16,
    waiters: Arc<Waiters>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for EchoSocket {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Sequence numbers: each request takes the next one.
static NEXT_SEQ: AtomicU16 = AtomicU16::new(0);

/// A registered request: dropping it (a run that gave up) unregisters it.
pub(crate) struct Pending {
    waiters: Arc<Waiters>,
    key: (IpAddr, u16),
    rx: oneshot::Receiver<Reply>,
}

impl Pending {
    /// Waits for the reply (the caller bounds the wait).
    pub(crate) async fn reply(&mut self) -> Option<Reply> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        lock(&self.waiters).remove(&self.key);
    }
}

impl EchoSocket {
    fn open(v6: bool) -> Result<Arc<Self>, String> {
        let (domain, proto) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
            Ok(s) => (s, false),
            Err(dgram) => match Socket::new(domain, Type::RAW, Some(proto)) {
                Ok(s) => (s, true),
                Err(raw) => {
                    let v = if v6 { "6" } else { "4" };
                    tracing::warn!(datagram = %dgram, raw = %raw, "cannot open an ICMP socket");
                    return Err(format!(
                        "cannot open an ICMPv{v} socket (datagram: {dgram}; raw: {raw}): allow \
                         unprivileged ping with `sysctl -w net.ipv{v}.ping_group_range=\"0 \
                         2147483647\"` (or a range holding Tocsin's group), or give Tocsin \
                         CAP_NET_RAW (`setcap cap_net_raw+ep` on the binary, or \
                         AmbientCapabilities=CAP_NET_RAW in its systemd unit)"
                    ));
                }
            },
        };
        let setup = || -> io::Result<UdpSocket> {
            // Best effort: the kernel caps it; a smaller buffer still works.
            let _ = socket.set_recv_buffer_size(RECV_BUFFER);
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(std::net::UdpSocket::from(socket))
        };
        let socket = Arc::new(setup().map_err(|e| format!("cannot set up the ICMP socket: {e}"))?);
        let waiters: Arc<Waiters> = Arc::default();
        let ident = u16::try_from(std::process::id() & 0xffff).unwrap_or(0);
        let reader = tokio::spawn(read_replies(
            socket.clone(),
            waiters.clone(),
            v6,
            raw.then_some(ident),
        ));
        tracing::debug!(v6, raw, "ICMP socket open");
        Ok(Arc::new(Self {
            socket,
            v6,
            raw,
            ident,
            waiters,
            reader,
        }))
    }

    /// Registers and sends one echo request to `ip`.
    pub(crate) async fn send(&self, ip: IpAddr, payload: &[u8]) -> io::Result<Pending> {
        let (tx, rx) = oneshot::channel();
        // A sequence number still in use for this host (65,536 requests in flight) is skipped.
        let seq = loop {
            let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
            let mut w = lock(&self.waiters);
            if let std::collections::hash_map::Entry::Vacant(v) = w.entry((ip, seq)) {
                v.insert(tx);
                break seq;
            }
        };
        let pending = Pending {
            waiters: self.waiters.clone(),
            key: (ip, seq),
            rx,
        };
        let packet = echo_request(self.v6, self.ident, seq, payload);
        self.socket.send_to(&packet, SocketAddr::new(ip, 0)).await?;
        Ok(pending)
    }
}

fn lock(w: &Waiters) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), oneshot::Sender<Reply>>> {
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads every packet and completes the request it answers. `ident` is ours on raw sockets
/// (packets with another are other programs' pings); datagram sockets see only their own.
async fn read_replies(socket: Arc<UdpSocket>, waiters: Arc<Waiters>, v6: bool, ident: Option<u16>) {
    let mut buf = vec![0u8; 2048];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            // Errors on an ICMP socket are per packet (e.g. ECONNREFUSED from a queued error):
            // keep reading.
            continue;
        };
        let at = Instant::now();
        let Some(parsed) = parse(&buf[..n], v6, ident.is_some(), from.ip()) else {
            continue;
        };
        if let (Some(mine), Some(theirs)) = (ident, parsed.ident)
            && mine != theirs
        {
            continue;
        }
        let tx = lock(&waiters).remove(&(parsed.target, parsed.seq));
        if let Some(tx) = tx {
            let _ = tx.send(match parsed.error {
                None => Reply::Echo(at),
                Some(e) => Reply::Error(format!("{e} from {}", from.ip())),
            });
        }
    }
}

/// An echo request: type, code, checksum, identifier, sequence, payload. IPv6's checksum covers
/// a pseudo-header, so the kernel fills it in; IPv4's is ours.
fn echo_request(v6: bool, ident: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + payload.len());
    p.push(if v6 { 128 } else { 8 });
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(payload);
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(u16::try_from(sum).unwrap_or(0xffff))
}

/// What a received packet says about one of our requests.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    /// The address the request went to.
    target: IpAddr,
    ident: Option<u16>,
    seq: u16,
    /// `None` for an echo reply, else what went wrong.
    error: Option<&'static str>,
}

/// Parses a received packet: an echo reply, or an ICMP error quoting one of our requests.
/// IPv4 raw sockets deliver the IP header too; the other kinds start at the ICMP header.
fn parse(packet: &[u8], v6: bool, raw: bool, from: IpAddr) -> Option<Parsed> {
    let icmp = if !v6 && raw {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    let ident_seq = |h: &[u8]| -> Option<(u16, u16)> {
        Some((
            u16::from_be_bytes([*h.get(4)?, *h.get(5)?]),
            u16::from_be_bytes([*h.get(6)?, *h.get(7)?]),
        ))
    };
    let echo_reply = if v6 { 129 } else { 0 };
    if kind == echo_reply {
        let (ident, seq) = ident_seq(icmp)?;
        return Some(Parsed {
            target: from,
            ident: Some(ident),
            seq,
            error: None,
        });
    }
    let error = error_name(v6, kind, code)?;
    // An error quotes the offending packet: its IP header, then the first 8 bytes of our request.
    let inner = icmp.get(8..)?;
    let (target, request) = if v6 {
        let dst: [u8; 16] = inner.get(24..40)?.try_into().ok()?;
        (IpAddr::V6(Ipv6Addr::from(dst)), inner.get(40..)?)
    } else {
        let ihl = usize::from(inner.first()? & 0x0f) * 4;
        let dst: [u8; 4] = inner.get(16..20)?.try_into().ok()?;
        (IpAddr::V4(Ipv4Addr::from(dst)), inner.get(ihl..)?)
    };
    let echo_request = if v6 { 128 } else { 8 };
    if *request.first()? != echo_request {
        return None;
    }
    let (ident, seq) = ident_seq(request)?;
    Some(Parsed {
        target,
        ident: Some(ident),
        seq,
        error: Some(error),
    })
}

fn error_name(v6: bool, kind: u8, code: u8) -> Option<&'static str> {
    Some(match (v6, kind, code) {
        (false, 3, 0) | (true, 1, 0) => "network unreachable",
        (false, 3, 1) | (true, 1, 3) => "host unreachable",
        (false, 3, 13) | (true, 1, 1) => "communication administratively prohibited",
        (false, 3, _) | (true, 1, _) => "destination unreachable",
        (false, 11, _) | (true, 3, _) => "time to live exceeded",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_as_rfc_1071() {
        // RFC 1071 §3's example words.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        let p = echo_request(false, 0x1234, 7, b"abc");
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(&p[..2], &[8, 0]);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn parses_replies_and_errors() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Datagram socket: starts at the ICMP header.
        let reply = [0, 0, 0, 0, 0x12, 0x34, 0, 9, b'x'];
        assert_eq!(
            parse(&reply, false, false, lo),
            Some(Parsed {
                target: lo,
                ident: Some(0x1234),
                seq: 9,
                error: None
            })
        );
        // Raw socket: a 20-byte IP header first.
        let mut raw = vec![0x45; 1];
        raw.extend_from_slice(&[0; 19]);
        raw.extend_from_slice(&reply);
        assert_eq!(parse(&raw, false, true, lo).map(|p| p.seq), Some(9));
        // Host unreachable from a router, quoting our request to 192.0.2.7.
        let router = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut err = vec![3, 1, 0, 0, 0, 0, 0, 0];
        let mut inner_ip = vec![0x45];
        inner_ip.extend_from_slice(&[0; 15]);
        inner_ip.extend_from_slice(&[192, 0, 2, 7]);
        err.extend_from_slice(&inner_ip);
        err.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 5]);
        assert_eq!(
            parse(&err, false, false, router),
            Some(Parsed {
                target: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
                ident: Some(0x1234),
                seq: 5,
                error: Some("host unreachable"),
            })
        );
        // Echo requests (seen by raw sockets on loopback) and junk are ignored.
        assert_eq!(parse(&[8, 0, 0, 0, 0, 1, 0, 1], false, false, lo), None);
        assert_eq!(parse(&[0, 0, 0], false, false, lo), None);
        assert_eq!(parse(&[], false, true, lo), None);
        // IPv6 echo reply.
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        assert_eq!(
            parse(&[129, 0, 0, 0, 0, 1, 0, 2], true, true, lo6).map(|p| p.seq),
            Some(2)
        );
    }
}
