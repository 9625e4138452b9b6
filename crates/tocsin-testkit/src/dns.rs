//! A DNS test server on `127.0.0.1`, UDP and TCP on the same port, answering from a small zone
//! given as text. It can be told to answer a name with an error code (NXDOMAIN, SERVFAIL, …), to
//! wait before answering, to stay silent, and to truncate its UDP answers.
//!
//! The zone is one record per line, `NAME TTL TYPE DATA`, with data in zone-file syntax (quote
//! TXT strings that contain spaces); blank lines and lines starting with `#` are skipped:
//!
//! ```text
//! www.example.test.  300  A      192.0.2.1
//! example.test.      3600 MX     10 mail.example.test.
//! example.test.      60   TXT    "v=spf1 -all"
//! alias.example.test. 300 CNAME  www.example.test.
//! ```
//!
//! Answers: the records of the asked name and type; a CNAME of the name (followed within the
//! zone) when the type is not there; NOERROR with an empty answer when the name has other types
//! only; NXDOMAIN when the name is not in the zone at all.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// Largest UDP message read.
const MAX_UDP: usize = 4096;

#[derive(Debug, Default)]
struct State {
    /// Records by lower-case absolute name.
    records: Mutex<HashMap<String, Vec<Record>>>,
    /// Names answered with an error code.
    rcodes: Mutex<HashMap<String, ResponseCode>>,
    delay: Mutex<Duration>,
    silent: AtomicBool,
    truncate_udp: AtomicBool,
    udp_queries: AtomicU64,
    tcp_queries: AtomicU64,
}

/// A running DNS server; it stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    addr: SocketAddr,
    state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// The lower-case absolute form of a name, as the table keys it.
fn key(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    }
}

/// The first word of `s` and the rest after it.
fn word(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

/// Parses the zone text into records by name.
fn parse_zone(zone: &str) -> io::Result<HashMap<String, Vec<Record>>> {
    let mut records: HashMap<String, Vec<Record>> = HashMap::new();
    for (n, raw) in zone.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bad = |why: String| invalid(format!("zone line {}: {why}: {l:?}", n + 1));
        let malformed = || bad("expected NAME TTL TYPE DATA".into());
        let (name, rest) = word(l).ok_or_else(malformed)?;
        let (ttl, rest) = word(rest).ok_or_else(malformed)?;
        let (rtype, data) = word(rest).ok_or_else(malformed)?;
        if data.trim().is_empty() {
            return Err(malformed());
        }
        let ttl: u32 = ttl.parse().map_err(|_| bad(format!("bad TTL {ttl:?}")))?;
        let rtype = RecordType::from_str(&rtype.to_ascii_uppercase())
            .map_err(|e| bad(format!("bad type: {e}")))?;
        let rdata = RData::try_from_str(rtype, data.trim())
            .map_err(|e| bad(format!("bad {rtype} data: {e}")))?;
        let k = key(name);
        let owner = Name::from_ascii(&k).map_err(|e| bad(format!("bad name: {e}")))?;
        records
            .entry(k)
            .or_default()
            .push(Record::from_rdata(owner, ttl, rdata));
    }
    Ok(records)
}

impl DnsServer {
    /// Starts a server answering from `zone` (see the module documentation for the format).
    pub async fn start(zone: &str) -> io::Result<Self> {
        let records = parse_zone(zone)?;
        let state = Arc::new(State {
            records: Mutex::new(records),
            ..State::default()
        });
        // UDP first on an ephemeral port, then TCP on the same port (retry if it is taken).
        let mut last_err = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0").await?;
            let addr = udp.local_addr()?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => {
                    let tasks = vec![
                        tokio::spawn(udp_loop(udp, state.clone())),
                        tokio::spawn(tcp_loop(tcp, state.clone())),
                    ];
                    return Ok(Self { addr, state, tasks });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| io::Error::other("no port free for UDP and TCP")))
    }

    /// The address (`127.0.0.1:PORT`), for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Answers `name` with `rcode` (`NXDOMAIN`, `SERVFAIL`, `REFUSED`, … or a number) and no
    /// records, whatever the zone says.
    pub fn set_rcode(&self, name: &str, rcode: &str) -> io::Result<()> {
        let code = match rcode.to_ascii_uppercase().as_str() {
            "NOERROR" => ResponseCode::NoError,
            "FORMERR" => ResponseCode::FormErr,
            "SERVFAIL" => ResponseCode::ServFail,
            "NXDOMAIN" => ResponseCode::NXDomain,
            "NOTIMP" => ResponseCode::NotImp,
            "REFUSED" => ResponseCode::Refused,
            other => other
                .parse::<u16>()
                .map(<ResponseCode as From<u16>>::from)
                .map_err(|_| invalid(format!("unknown rcode {rcode:?}")))?,
        };
        self.state
            .rcodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key(name), code);
        Ok(())
    }

    /// Waits this long before each answer.
    pub fn set_delay(&self, delay: Duration) {
        *self
            .state
            .delay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// Reads queries and never answers them (`true`), or answers again (`false`).
    pub fn set_silent(&self, silent: bool) {
        self.state.silent.store(silent, Ordering::Relaxed);
    }

    /// Answers over UDP with the TC (truncated) bit and no records, so that clients ask again
    /// over TCP.
    pub fn set_truncate_udp(&self, truncate: bool) {
        self.state.truncate_udp.store(truncate, Ordering::Relaxed);
    }

    /// Queries received over UDP so far (answered or not).
    pub fn udp_queries(&self) -> u64 {
        self.state.udp_queries.load(Ordering::Relaxed)
    }

    /// Queries received over TCP so far (answered or not).
    pub fn tcp_queries(&self) -> u64 {
        self.state.tcp_queries.load(Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl State {
    fn delay(&self) -> Duration {
        *self.delay.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wire answer to `query`, or `None` to stay silent.
    fn answer(&self, query: &[u8], udp: bool) -> Option<Vec<u8>> {
        if self.silent.load(Ordering::Relaxed) {
            return None;
        }
        let Ok(request) = Message::from_vec(query) else {
            // Not a DNS message: FORMERR with the id, if there is one.
            let id = u16::from_be_bytes([*query.first()?, *query.get(1)?]);
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok();
        };
        let mut response = Message::new(
            request.metadata.id,
            MessageType::Response,
            request.metadata.op_code,
        );
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.authoritative = true;
        response.add_queries(request.queries.iter().cloned());
        if let Some(q) = request.queries.first() {
            let (rcode, answers) = self.lookup(&q.name().to_ascii(), q.query_type());
            response.metadata.response_code = rcode;
            if udp && self.truncate_udp.load(Ordering::Relaxed) {
                response.metadata.truncation = true;
            } else {
                response.add_answers(answers);
            }
        } else {
            response.metadata.response_code = ResponseCode::FormErr;
        }
        response.to_vec().ok()
    }

    fn lookup(&self, name: &str, rtype: RecordType) -> (ResponseCode, Vec<Record>) {
        let mut k = key(name);
        if let Some(code) = self
            .rcodes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&k)
        {
            return (*code, Vec::new());
        }
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let mut answers = Vec::new();
        for _ in 0..8 {
            let Some(here) = records.get(&k) else {
                let code = if answers.is_empty() {
                    ResponseCode::NXDomain
                } else {
                    ResponseCode::NoError
                };
                return (code, answers);
            };
            let matching: Vec<Record> = here
                .iter()
                .filter(|r| r.record_type() == rtype)
                .cloned()
                .collect();
            if !matching.is_empty() {
                answers.extend(matching);
                break;
            }
            let cname = here.iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some((r.clone(), target.0.to_ascii())),
                _ => None,
            });
            match cname {
                Some((record, target)) => {
                    answers.push(record);
                    k = key(&target);
                }
                None => break,
            }
        }
        (ResponseCode::NoError, answers)
    }
}

async fn udp_loop(socket: UdpSocket, state: Arc<State>) {
    let socket = Arc::new(socket);
    let mut replies = JoinSet::new();
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, peer)) = r else { continue };
                state.udp_queries.fetch_add(1, Ordering::Relaxed);
                let query = buf[..n].to_vec();
                let (socket, state) = (socket.clone(), state.clone());
                replies.spawn(async move {
                    let delay = state.delay();
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if let Some(answer) = state.answer(&query, true) {
                        let _ = socket.send_to(&answer, peer).await;
                    }
                });
            }
            Some(_) = replies.join_next(), if !replies.is_empty() => {}
        }
    }
}

async fn tcp_loop(listener: TcpListener, state: Arc<State>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    conns.spawn(tcp_conn(stream, state.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Serves the queries of one TCP connection (2-byte length prefix, RFC 1035 §4.2.2).
async fn tcp_conn(mut stream: TcpStream, state: Arc<State>) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        state.tcp_queries.fetch_add(1, Ordering::Relaxed);
        let delay = state.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let Some(answer) = state.answer(&query, false) else {
            continue;
        };
        let Ok(n) = u16::try_from(answer.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&answer);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_parse_and_bad_lines_are_named() {
        let z = parse_zone(
            "# comment\n\nwww.example.test. 300 A 192.0.2.1\nexample.test 60 TXT \"a b\"\n",
        )
        .unwrap();
        assert_eq!(z["www.example.test."].len(), 1);
        assert_eq!(z["example.test."][0].ttl, 60);
        let e = parse_zone("x 300 A 1.2.3\n").unwrap_err().to_string();
        assert!(e.contains("zone line 1"), "{e}");
        assert!(parse_zone("x abc A 1.2.3.4").is_err());
        assert!(parse_zone("x 300 BOGUS 1").is_err());
    }
}
