//! The `dns` probe: ask one server one question over UDP or TCP and judge the reply with
//! [`DnsAssertions`] (rcode, exact answer set, values the answer must contain, minimum TTL,
//! response time).
//!
//! Messages are built and read with hickory-proto; the socket work is our own, so that each phase
//! is timed (`dns` for the server's own name, `connect` for TCP, `first_byte` from sending the
//! query to the reply) and bounded by the run's deadline with a message that names it. Over UDP
//! the query is resent every second until the deadline (the same id, so any reply counts), a
//! reply whose id or question does not match is ignored, and a truncated reply is asked again
//! over TCP. The query carries EDNS with a 1232-byte payload size (the DNS flag day 2020 value).
//!
//! Without `server`, the first nameserver of the system configuration (`/etc/resolv.conf`) is
//! asked, read when the probe is built.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use tocsin_core::assert::FieldError;
use tocsin_core::kinds::DnsSpec;
use tocsin_core::kinds::dns::{
    DnsAnswer, DnsAssertions, DnsReplyView, Rcode, Transport, normalise,
};
use tocsin_core::{CheckResult, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::guard::AddressGuard;
use crate::net::Net;
use crate::util::{Deadline, Failure, Gathered};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// EDNS payload size offered (RFC 9715 / DNS flag day 2020).
const EDNS_PAYLOAD: u16 = 1232;
/// Largest UDP reply read.
const MAX_UDP: usize = 65_535;
/// Time between two UDP sends of the same query.
const RESEND: Duration = Duration::from_secs(1);
/// No query is resent when less than this would be left after the resend wait.
const RESEND_MARGIN: Duration = Duration::from_millis(100);

/// The `dns` probe, built from a [`DnsSpec`].
pub(crate) struct DnsProbe {
    env: Arc<ProbeEnv>,
    guard: AddressGuard,
    /// Host and port of the server, or why there is none (no system configuration).
    server: Result<(String, u16), String>,
    transport: Transport,
    name: Name,
    core_type: tocsin_core::kinds::dns::RecordType,
    query_type: RecordType,
    recursion: bool,
    assertions: DnsAssertions,
}

impl fmt::Debug for DnsProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsProbe")
            .field("server", &self.server)
            .field("transport", &self.transport)
            .field("name", &self.name.to_ascii())
            .field("type", &self.core_type)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// A reply that belongs to our query.
struct Reply {
    message: Message,
    server: SocketAddr,
    /// Asked again over TCP after a truncated UDP reply.
    retried_over_tcp: bool,
}

impl DnsProbe {
    pub(crate) fn build(
        spec: &DnsSpec,
        env: &Arc<ProbeEnv>,
        guard: AddressGuard,
    ) -> Result<Self, BuildError> {
        let assertions = DnsAssertions::compile(spec).map_err(BuildError::Assertions)?;
        let name = Name::from_ascii(spec.fqdn()).map_err(|e| {
            BuildError::Assertions(vec![FieldError::nowhere(
                "dns.name",
                format!("invalid name {:?}: {e}", spec.name),
            )])
        })?;
        let server = match spec.server_addr() {
            Some(Ok(hp)) => Ok(hp),
            Some(Err(why)) => {
                return Err(BuildError::Assertions(vec![FieldError::nowhere(
                    "dns.server",
                    why,
                )]));
            }
            None => system_server(),
        };
        Ok(Self {
            env: env.clone(),
            guard,
            server,
            transport: spec.transport,
            name,
            core_type: spec.record_type,
            query_type: RecordType::from(spec.record_type.code()),
            recursion: spec.recursion,
            assertions,
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        if let Err(why) = &self.server {
            // Our environment's fault, not the target's.
            return CheckResult::new(Status::Unknown, why.clone(), cx.started_at_ms);
        }
        let deadline = Deadline::new(cx.timeout);
        let mut g = Gathered::default();
        let asked = self.ask(&deadline, &mut g).await;
        let elapsed = deadline.elapsed();
        let reply = match asked {
            Ok(r) => r,
            Err(Failure(message)) => {
                return g.result(Status::Critical, message, cx.started_at_ms, elapsed);
            }
        };
        let rcode = u16::from(reply.message.metadata.response_code);
        let answers: Vec<DnsAnswer> = reply
            .message
            .answers
            .iter()
            .filter(|r| r.record_type() == self.query_type)
            .map(|r| DnsAnswer {
                data: render(self.core_type, &r.data),
                ttl: r.ttl,
            })
            .collect();
        let transport = if reply.retried_over_tcp {
            "tcp after a truncated udp reply".to_owned()
        } else {
            self.transport.to_string()
        };
        let via = format!("{} over {transport}", reply.server);
        let (status, message) = self.assertions.check(&DnsReplyView {
            rcode,
            answers: &answers,
            via: &via,
            elapsed,
        });
        let mut r = g.result(status, message, cx.started_at_ms, elapsed);
        let count = u32::try_from(answers.len()).unwrap_or(u32::MAX);
        r = r
            .metric("response_time", elapsed.as_secs_f64(), "s")
            .metric("answer_count", f64::from(count), "records");
        if let Some(min) = answers.iter().map(|a| a.ttl).min() {
            r = r.metric("min_ttl", f64::from(min), "s");
        }
        let text = |s: String| serde_json::Value::String(s);
        let e = &mut r.extracted;
        e.insert("rcode".into(), text(Rcode::describe(rcode)));
        e.insert(
            "answers".into(),
            serde_json::Value::Array(answers.iter().map(|a| text(a.data.clone())).collect()),
        );
        e.insert("server".into(), text(reply.server.to_string()));
        e.insert("transport".into(), text(transport));
        e.insert(
            "authoritative".into(),
            serde_json::Value::Bool(reply.message.metadata.authoritative),
        );
        let cnames: Vec<serde_json::Value> = reply
            .message
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::CNAME(c) if self.query_type != RecordType::CNAME => {
                    Some(text(c.0.to_ascii().to_ascii_lowercase()))
                }
                _ => None,
            })
            .collect();
        if !cnames.is_empty() {
            e.insert("cname".into(), serde_json::Value::Array(cnames));
        }
        r
    }

    /// Resolves the server, sends the query, and returns the reply that answers it.
    async fn ask(&self, deadline: &Deadline, g: &mut Gathered) -> Result<Reply, Failure> {
        let (host, port) = match &self.server {
            Ok(hp) => hp,
            Err(why) => return Err(Failure::new(why.clone())),
        };
        let addrs = self.env.net.resolve(host, *port, deadline, g).await?;
        let mut query = Message::query();
        query.metadata.recursion_desired = self.recursion;
        query.add_query(Query::query(self.name.clone(), self.query_type));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        query.edns = Some(edns);
        let wire = query
            .to_vec()
            .map_err(|e| Failure::new(format!("cannot encode the DNS query: {e}")))?;
        match self.transport {
            Transport::Tcp => self.over_tcp(&addrs, &query, &wire, deadline, g).await,
            Transport::Udp => {
                // The server is checked on its resolved address, as a TCP connect is.
                let server = match self.guard.first_allowed(addrs.iter().map(SocketAddr::ip)) {
                    None => {
                        return Err(Failure::new(format!("no address for DNS server {host:?}")));
                    }
                    Some(Err(refused)) => return Err(Failure::new(refused.to_string())),
                    Some(Ok(ip)) => SocketAddr::new(ip, *port),
                };
                let reply = self.over_udp(server, &query, &wire, deadline, g).await?;
                if !reply.message.metadata.truncation {
                    return Ok(reply);
                }
                let mut again = self.over_tcp(&[server], &query, &wire, deadline, g).await?;
                again.retried_over_tcp = true;
                Ok(again)
            }
        }
    }

    async fn over_udp(
        &self,
        server: SocketAddr,
        query: &Message,
        wire: &[u8],
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<Reply, Failure> {
        let fail = |what: String| Failure::new(format!("dns query to {server} over udp {what}"));
        let local: SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| fail(format!("failed: cannot open a socket: {e}")))?;
        socket
            .connect(server)
            .await
            .map_err(|e| fail(format!("failed: {}", describe_io(&e))))?;
        let t0 = Instant::now();
        let mut sent = 0u32;
        let mut buf = vec![0u8; MAX_UDP];
        loop {
            socket
                .send(wire)
                .await
                .map_err(|e| fail(format!("failed: {}", describe_io(&e))))?;
            sent += 1;
            // Send again after RESEND, unless the deadline comes first (or just after).
            let left = deadline.timeout().get().saturating_sub(deadline.elapsed());
            let resend_at = (left > RESEND + RESEND_MARGIN).then(|| Instant::now() + RESEND);
            loop {
                let received = deadline
                    .run(async {
                        match resend_at {
                            Some(at) => tokio::time::timeout_at(at, socket.recv(&mut buf)).await,
                            None => Ok(socket.recv(&mut buf).await),
                        }
                    })
                    .await;
                let n = match received {
                    None => {
                        Gathered::add(&mut g.timings.first_byte_us, t0.elapsed());
                        let tries = if sent > 1 {
                            format!("no reply to {sent} queries")
                        } else {
                            "no reply".to_owned()
                        };
                        return Err(fail(format!(
                            "timed out after {} ({tries})",
                            deadline.timeout()
                        )));
                    }
                    // Time to send again.
                    Some(Err(_elapsed)) => break,
                    Some(Ok(Err(e))) => {
                        return Err(fail(format!("failed: {}", describe_io(&e))));
                    }
                    Some(Ok(Ok(n))) => n,
                };
                match matching_reply(query, &buf[..n]) {
                    Ok(Some(message)) => {
                        Gathered::add(&mut g.timings.first_byte_us, t0.elapsed());
                        return Ok(Reply {
                            message,
                            server,
                            retried_over_tcp: false,
                        });
                    }
                    // Not ours (another id, another question): keep waiting.
                    Ok(None) => {}
                    Err(why) => return Err(fail(why)),
                }
            }
        }
    }

    async fn over_tcp(
        &self,
        addrs: &[SocketAddr],
        query: &Message,
        wire: &[u8],
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<Reply, Failure> {
        let (mut stream, server) = Net::connect(addrs, self.guard, true, deadline, g).await?;
        let fail = |what: String| Failure::new(format!("dns query to {server} over tcp {what}"));
        let len = u16::try_from(wire.len())
            .map_err(|_| fail("failed: the query is too long".to_owned()))?;
        let mut framed = Vec::with_capacity(wire.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(wire);
        let t0 = Instant::now();
        let exchange = async {
            stream.write_all(&framed).await?;
            let mut len = [0u8; 2];
            stream.read_exact(&mut len).await?;
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            stream.read_exact(&mut body).await?;
            Ok::<_, io::Error>(body)
        };
        let done = deadline.run(exchange).await;
        Gathered::add(&mut g.timings.first_byte_us, t0.elapsed());
        let body = match done {
            None => {
                return Err(fail(format!(
                    "timed out after {} (no reply)",
                    deadline.timeout()
                )));
            }
            Some(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(fail(
                    "failed: the server closed the connection without a complete reply".to_owned(),
                ));
            }
            Some(Err(e)) => return Err(fail(format!("failed: {}", describe_io(&e)))),
            Some(Ok(body)) => body,
        };
        match matching_reply(query, &body) {
            Ok(Some(message)) => Ok(Reply {
                message,
                server,
                retried_over_tcp: false,
            }),
            Ok(None) => Err(fail(
                "failed: the reply does not match the query (another id or question)".to_owned(),
            )),
            Err(why) => Err(fail(why)),
        }
    }
}

/// The reply in `bytes` if it answers `query`; `Ok(None)` if it is someone else's; an error if it
/// carries our id but cannot be read.
fn matching_reply(query: &Message, bytes: &[u8]) -> Result<Option<Message>, String> {
    let id = query.metadata.id;
    let Some(head) = bytes.get(..2) else {
        return Ok(None);
    };
    if u16::from_be_bytes([head[0], head[1]]) != id {
        return Ok(None);
    }
    let message = Message::from_vec(bytes).map_err(|e| format!("failed: malformed reply: {e}"))?;
    if message.metadata.message_type != MessageType::Response {
        return Ok(None);
    }
    // A reply repeats the question (a FORMERR may carry none).
    let same_question = message.queries.is_empty()
        || message.queries.iter().zip(&query.queries).all(|(a, q)| {
            // Names compare without regard to case (servers may echo 0x20-mixed case).
            a.query_type() == q.query_type() && a.name() == q.name()
        });
    Ok(same_question.then_some(message))
}

/// Record data in the compared text form ([`normalise`]).
fn render(t: tocsin_core::kinds::dns::RecordType, data: &RData) -> String {
    let name = |n: &Name| n.to_ascii();
    let text = match data {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(c) => name(&c.0),
        RData::NS(n) => name(&n.0),
        RData::MX(mx) => format!("{} {}", mx.preference, name(&mx.exchange)),
        RData::SRV(s) => format!("{} {} {} {}", s.priority, s.weight, s.port, name(&s.target)),
        RData::SOA(s) => format!(
            "{} {} {} {} {} {} {}",
            name(&s.mname),
            name(&s.rname),
            s.serial,
            s.refresh.cast_unsigned(),
            s.retry.cast_unsigned(),
            s.expire.cast_unsigned(),
            s.minimum
        ),
        RData::TXT(txt) => {
            return txt
                .txt_data
                .iter()
                .map(|part| String::from_utf8_lossy(part))
                .collect();
        }
        RData::CAA(c) => format!(
            "{} {} \"{}\"",
            c.flags(),
            c.tag,
            String::from_utf8_lossy(&c.value)
        ),
        other => other.to_string(),
    };
    normalise(t, &text).unwrap_or(text)
}

/// The first nameserver of the system configuration.
fn system_server() -> Result<(String, u16), String> {
    match hickory_resolver::system_conf::read_system_conf() {
        Err(e) => Err(format!(
            "no DNS server to ask: cannot read the system DNS configuration: {e}"
        )),
        Ok((config, _)) => config
            .name_servers()
            .first()
            .map(|ns| {
                let port = ns
                    .connections
                    .first()
                    .map_or(tocsin_core::kinds::dns::DEFAULT_PORT, |c| c.port);
                (ns.ip.to_string(), port)
            })
            .ok_or_else(|| {
                "no DNS server to ask: the system DNS configuration lists no nameserver; set \
                 dns.server"
                    .to_owned()
            }),
    }
}

fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => {
            "connection refused (no DNS server listens there)".to_owned()
        }
        io::ErrorKind::ConnectionReset => "connection reset".to_owned(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_owned(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_owned(),
        _ => e.to_string(),
    }
}

impl Probe for DnsProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::kinds::dns::RecordType as T;

    fn rdata(t: RecordType, s: &str) -> RData {
        RData::try_from_str(t, s).unwrap()
    }

    #[test]
    fn record_data_renders_in_the_compared_form() {
        let cases = [
            (T::A, RecordType::A, "192.0.2.1", "192.0.2.1"),
            (T::Aaaa, RecordType::AAAA, "2001:db8::1", "2001:db8::1"),
            (
                T::Cname,
                RecordType::CNAME,
                "WWW.Example.test.",
                "www.example.test.",
            ),
            (
                T::Mx,
                RecordType::MX,
                "10 Mail.example.test.",
                "10 mail.example.test.",
            ),
            (
                T::Srv,
                RecordType::SRV,
                "10 5 5060 sip.example.test.",
                "10 5 5060 sip.example.test.",
            ),
            (
                T::Soa,
                RecordType::SOA,
                "ns1.example.test. hostmaster.example.test. 7 7200 3600 1209600 300",
                "ns1.example.test. hostmaster.example.test. 7 7200 3600 1209600 300",
            ),
            (T::Txt, RecordType::TXT, "\"v=spf1 -all\"", "v=spf1 -all"),
            (
                T::Caa,
                RecordType::CAA,
                "0 issue \"ca.example.test\"",
                "0 issue \"ca.example.test\"",
            ),
        ];
        for (t, rt, input, want) in cases {
            assert_eq!(render(t, &rdata(rt, input)), want, "{t} {input}");
        }
    }

    #[test]
    fn replies_to_other_queries_are_ignored() {
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii("a.example.test.").unwrap(),
            RecordType::A,
        ));
        let mut other = Message::response(q.metadata.id.wrapping_add(1), q.metadata.op_code);
        other.add_queries(q.queries.clone());
        assert!(matches!(
            matching_reply(&q, &other.to_vec().unwrap()),
            Ok(None)
        ));
        let mut ours = Message::response(q.metadata.id, q.metadata.op_code);
        ours.add_queries(q.queries.clone());
        assert!(matches!(
            matching_reply(&q, &ours.to_vec().unwrap()),
            Ok(Some(_))
        ));
        let mut wrong_q = Message::response(q.metadata.id, q.metadata.op_code);
        wrong_q.add_query(Query::query(
            Name::from_ascii("b.example.test.").unwrap(),
            RecordType::A,
        ));
        assert!(matches!(
            matching_reply(&q, &wrong_q.to_vec().unwrap()),
            Ok(None)
        ));
        let id = q.metadata.id.to_be_bytes();
        assert!(matching_reply(&q, &[id[0], id[1], 0xff]).is_err());
    }
}
