//! The `tls` probe: resolve, connect, optionally speak SMTP, IMAP or PostgreSQL up to STARTTLS,
//! handshake, then judge the certificate the server sent: dates and `days_left` thresholds (in
//! [`TlsSpec::judge`]), the name it is for, and its chain up to a trusted root.
//!
//! The handshake runs with verification off (handshake signatures are still checked), so that it
//! completes whatever the certificate is and every problem can be reported at once, each in its
//! own words: `certificate expired 3 days ago (not_after …)`, `certificate is for wrong.example,
//! not localhost`, `self-signed certificate`, `incomplete chain: issuer "CN=…" not found …`. The
//! chain is then verified with rustls (webpki) against `ca_file` or the system's roots, at a
//! time inside the leaf's validity so that a date problem is not reported twice.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::{verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tocsin_core::check::TlsClientSpec;
use tocsin_core::kinds::TlsSpec;
use tocsin_core::kinds::tls::{CertFacts, StartTls};
use tocsin_core::{CheckResult, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::guard::AddressGuard;
use crate::net::Net;
use crate::tls::{self, LeafInfo};
use crate::util::{Deadline, Failure, Gathered, days_left, fmt_timestamp};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// Longest line accepted from an SMTP or IMAP server before STARTTLS.
const MAX_LINE: usize = 8 << 10;
/// Most lines of one SMTP reply or of untagged IMAP data accepted before STARTTLS.
const MAX_LINES: usize = 100;
/// The PostgreSQL `SSLRequest`: length 8, code 80877103.
const PG_SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// Names shown in a message before the list is cut.
const SHOWN_NAMES: usize = 3;

/// The `tls` probe, built from a [`TlsSpec`].
pub(crate) struct TlsCheckProbe {
    env: Arc<ProbeEnv>,
    guard: AddressGuard,
    spec: TlsSpec,
    host: String,
    port: u16,
    /// The name sent in SNI and verified.
    name: ServerName<'static>,
    /// Verification off: the chain is judged after the handshake.
    config: Arc<ClientConfig>,
    /// Trust anchors, when `verify` is on.
    roots: Option<Arc<RootCertStore>>,
}

impl fmt::Debug for TlsCheckProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsCheckProbe")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("name", &self.name.to_str())
            .field("starttls", &self.spec.starttls)
            .field("verify", &self.spec.verify)
            .field("roots", &self.roots.as_ref().map(|r| r.len()))
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// What the handshake gave.
struct Session {
    peer: SocketAddr,
    chain: Vec<CertificateDer<'static>>,
    version: Option<String>,
    cipher: Option<String>,
}

impl TlsCheckProbe {
    pub(crate) fn build(
        spec: &TlsSpec,
        env: &Arc<ProbeEnv>,
        guard: AddressGuard,
    ) -> Result<Self, BuildError> {
        let off = TlsClientSpec {
            verify: false,
            ca_file: None,
            server_name: None,
        };
        let config = env.tls.client_config(&off, &[])?;
        let roots = if spec.verify {
            Some(env.tls.roots(spec.ca_file.as_deref())?)
        } else {
            None
        };
        let name = tls::server_name(spec.name())
            .ok_or_else(|| BuildError::ServerName(spec.name().to_owned()))?;
        Ok(Self {
            env: env.clone(),
            guard,
            spec: spec.clone(),
            host: spec.host().to_owned(),
            port: spec.port(),
            name,
            config,
            roots,
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let mut g = Gathered::default();
        let session = self.connect(&deadline, &mut g).await;
        let elapsed = deadline.elapsed();
        // The `days_left` metric replaces the generic `cert_days_left` of `Gathered::result`.
        let not_after = g.cert_not_after.take();
        let session = match session {
            Ok(s) => s,
            Err(Failure(message)) => {
                let mut r = g.result(Status::Critical, message, cx.started_at_ms, elapsed);
                r.cert_not_after = not_after;
                return r;
            }
        };
        let Some(leaf) = session.chain.first().and_then(LeafInfo::parse) else {
            let message = if session.chain.is_empty() {
                "the server sent no certificate"
            } else {
                "the server's certificate cannot be read as X.509"
            };
            return g.result(
                Status::Critical,
                message.to_owned(),
                cx.started_at_ms,
                elapsed,
            );
        };
        let now = jiff::Timestamp::now().as_second();
        let problems = self.problems(&session.chain, &leaf, now);
        let facts = CertFacts {
            names: &leaf.names,
            issuer: &leaf.issuer,
            not_before: leaf.not_before,
            not_after: leaf.not_after,
        };
        let (status, message) = self.spec.judge(&facts, &problems, now);
        let mut r = g.result(status, message, cx.started_at_ms, elapsed);
        r.cert_not_after = Some(leaf.not_after);
        r = r
            .metric("days_left", days_left(leaf.not_after), "days")
            .metric("response_time", elapsed.as_secs_f64(), "s");
        let text = |s: &str| serde_json::Value::String(s.to_owned());
        let e = &mut r.extracted;
        e.insert("subject".into(), text(&leaf.subject));
        e.insert("issuer".into(), text(&leaf.issuer));
        e.insert(
            "sans".into(),
            serde_json::Value::Array(leaf.names.iter().map(|n| text(n)).collect()),
        );
        e.insert("not_before".into(), text(&fmt_timestamp(leaf.not_before)));
        e.insert("not_after".into(), text(&fmt_timestamp(leaf.not_after)));
        e.insert("serial".into(), text(&leaf.serial));
        let chain: Vec<serde_json::Value> = session
            .chain
            .iter()
            .map(|c| text(&LeafInfo::parse(c).map_or_else(|| "?".to_owned(), |i| i.subject)))
            .collect();
        e.insert("chain".into(), serde_json::Value::Array(chain));
        e.insert("peer".into(), text(&session.peer.to_string()));
        if let Some(v) = &session.version {
            e.insert("tls_version".into(), text(v));
        }
        if let Some(c) = &session.cipher {
            e.insert("cipher_suite".into(), text(c));
        }
        r
    }

    /// Resolve, connect, STARTTLS, handshake; the chain the server sent.
    async fn connect(&self, deadline: &Deadline, g: &mut Gathered) -> Result<Session, Failure> {
        let addrs = self
            .env
            .net
            .resolve(&self.host, self.port, deadline, g)
            .await?;
        let (mut tcp, peer) = Net::connect(&addrs, self.guard, true, deadline, g).await?;
        if let Some(proto) = self.spec.starttls {
            starttls(proto, &mut tcp, peer, deadline).await?;
        }
        let stream = tls::handshake(
            self.config.clone(),
            self.name.clone(),
            tcp,
            peer,
            deadline,
            g,
        )
        .await
        .map_err(|Failure(m)| {
            if self.spec.starttls.is_none() && m.contains("corrupt message") {
                Failure(format!(
                    "{m} (the server does not speak TLS on port {}; does it need starttls?)",
                    self.port
                ))
            } else {
                Failure(m)
            }
        })?;
        let (_, conn) = stream.get_ref();
        let chain = conn
            .peer_certificates()
            .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
            .unwrap_or_default();
        let version = conn.protocol_version().map(|v| {
            v.as_str()
                .map_or_else(|| format!("{v:?}"), |s| s.replace('_', "."))
        });
        let cipher = conn.negotiated_cipher_suite().map(|c| {
            c.suite()
                .as_str()
                .map_or_else(|| format!("{c:?}"), str::to_owned)
        });
        Ok(Session {
            peer,
            chain,
            version,
            cipher,
        })
    }

    /// What is wrong with the name and the chain (the dates are judged in core).
    fn problems(
        &self,
        chain: &[CertificateDer<'static>],
        leaf: &LeafInfo,
        now: i64,
    ) -> Vec<String> {
        let Some(roots) = &self.roots else {
            return Vec::new();
        };
        let Some(der) = chain.first() else {
            return Vec::new();
        };
        let parsed = match ParsedCertificate::try_from(der) {
            Ok(p) => p,
            Err(e) => return vec![format!("certificate cannot be verified: {e}")],
        };
        let mut problems = Vec::new();
        if let Err(e) = verify_server_name(&parsed, &self.name) {
            problems.push(match e {
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => format!(
                    "certificate is for {}, not {}",
                    show_names(&leaf.names),
                    self.name.to_str()
                ),
                other => format!("certificate not valid for {}: {other}", self.name.to_str()),
            });
        }
        if roots.is_empty() {
            problems.push(
                "cannot verify the chain: no trusted root certificates on this system (install \
                 the CA certificates or set ca_file)"
                    .to_owned(),
            );
            return problems;
        }
        // Judge the chain at a time inside the leaf's validity: the leaf's own dates are judged
        // (and reported) in core.
        let at = now.clamp(leaf.not_before, leaf.not_after.max(leaf.not_before));
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(at).unwrap_or(0)));
        let algs = self
            .env
            .tls
            .provider()
            .signature_verification_algorithms
            .all;
        if let Err(e) =
            verify_server_cert_signed_by_trust_anchor(&parsed, roots, &chain[1..], at, algs)
        {
            problems.push(explain_chain(&e, chain, leaf, roots));
        }
        problems
    }
}

/// `a, b, c and 2 more`.
fn show_names(names: &[String]) -> String {
    match names {
        [] => "no name".to_owned(),
        _ if names.len() <= SHOWN_NAMES => names.join(", "),
        _ => format!(
            "{} and {} more",
            names[..SHOWN_NAMES].join(", "),
            names.len() - SHOWN_NAMES
        ),
    }
}

/// The contents of a DER SEQUENCE (a Name without its tag and length), as trust anchors keep
/// their subject.
fn der_contents(der: &[u8]) -> Option<&[u8]> {
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return rest.get(..usize::from(first));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let (len, rest) = rest.split_at_checked(n)?;
    let len = len
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    rest.get(..len)
}

/// Why the chain does not lead to a trusted root, in words.
fn explain_chain(
    err: &rustls::Error,
    chain: &[CertificateDer<'static>],
    leaf: &LeafInfo,
    roots: &RootCertStore,
) -> String {
    let rustls::Error::InvalidCertificate(ce) = err else {
        return format!("certificate chain does not verify: {err}");
    };
    match ce {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {}
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            return match ce {
                CertificateError::ExpiredContext { not_after, .. } => format!(
                    "a certificate of the chain expired (not_after {})",
                    fmt_timestamp(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
                ),
                _ => "a certificate of the chain expired".to_owned(),
            };
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            return "a certificate of the chain is not valid yet".to_owned();
        }
        other => return format!("certificate chain does not verify: {other:?}"),
    }
    // Walk up from the leaf through the certificates the server sent, by issuer name.
    let infos: Vec<Option<LeafInfo>> = chain.iter().map(LeafInfo::parse).collect();
    let mut top = leaf;
    let mut steps = 0;
    while !top.self_signed && steps < chain.len() {
        let next = infos
            .iter()
            .skip(1)
            .flatten()
            .find(|c| c.subject_der == top.issuer_der);
        match next {
            Some(c) => top = c,
            None => break,
        }
        steps += 1;
    }
    if top.self_signed {
        return if steps == 0 {
            "self-signed certificate".to_owned()
        } else {
            format!(
                "the chain ends at a root that is not trusted: \"{}\"",
                top.subject
            )
        };
    }
    let trusted_by_name = der_contents(&top.issuer_der)
        .is_some_and(|want| roots.roots.iter().any(|a| a.subject.as_ref() == want));
    if trusted_by_name {
        format!(
            "issuer \"{}\" is a trusted name, but its key did not sign the certificate",
            top.issuer
        )
    } else if matches!(ce, CertificateError::BadSignature) {
        format!(
            "the signature of issuer \"{}\" on the certificate does not verify",
            top.issuer
        )
    } else {
        format!(
            "incomplete chain: issuer \"{}\" not found (not sent by the server, not a trusted \
             root)",
            top.issuer
        )
    }
}

/// Reads lines from the server without reading past them (the TLS handshake follows).
struct LineReader<'a> {
    stream: &'a mut TcpStream,
    peer: SocketAddr,
    proto: StartTls,
    buf: Vec<u8>,
}

impl LineReader<'_> {
    /// One line, without its line end. `waiting` names what is awaited, for messages.
    async fn line(&mut self, deadline: &Deadline, waiting: &str) -> Result<String, Failure> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let raw: Vec<u8> = self.buf.drain(..=i).collect();
                let text = String::from_utf8_lossy(&raw);
                return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err(Failure::new(format!(
                    "{} server {} sent a line longer than {MAX_LINE} bytes while {waiting}",
                    label(self.proto),
                    self.peer
                )));
            }
            let mut chunk = [0u8; 1024];
            match deadline.run(self.stream.read(&mut chunk)).await {
                None => {
                    return Err(Failure::new(format!(
                        "starttls ({}) with {} timed out after {} {waiting}",
                        self.proto,
                        self.peer,
                        deadline.timeout()
                    )));
                }
                Some(Ok(0)) => {
                    return Err(Failure::new(format!(
                        "{} server {} closed the connection while {waiting}",
                        label(self.proto),
                        self.peer
                    )));
                }
                Some(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Some(Err(e)) => {
                    return Err(Failure::new(format!(
                        "starttls ({}) with {} failed while {waiting}: {e}",
                        self.proto, self.peer
                    )));
                }
            }
        }
    }

    /// An SMTP reply (all its lines): the code and the lines' text.
    async fn smtp_reply(
        &mut self,
        deadline: &Deadline,
        waiting: &str,
    ) -> Result<(u16, Vec<String>), Failure> {
        let mut lines = Vec::new();
        loop {
            let l = self.line(deadline, waiting).await?;
            let code = l.get(..3).and_then(|c| c.parse::<u16>().ok());
            let Some(code) = code else {
                return Err(Failure::new(format!(
                    "SMTP server {} sent {l:?} while {waiting}, not an SMTP reply",
                    self.peer
                )));
            };
            let last = l.as_bytes().get(3) != Some(&b'-');
            lines.push(l);
            if last {
                return Ok((code, lines));
            }
            if lines.len() >= MAX_LINES {
                return Err(Failure::new(format!(
                    "SMTP server {} sent more than {MAX_LINES} lines in one reply",
                    self.peer
                )));
            }
        }
    }

    /// Data the server sent after its go-ahead would be taken for TLS: refuse it.
    fn ensure_drained(&self) -> Result<(), Failure> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Failure::new(format!(
                "{} server {} sent {} unexpected bytes after agreeing to STARTTLS",
                label(self.proto),
                self.peer,
                self.buf.len()
            )))
        }
    }
}

fn label(proto: StartTls) -> &'static str {
    match proto {
        StartTls::Smtp => "SMTP",
        StartTls::Imap => "IMAP",
        StartTls::Postgres => "PostgreSQL",
    }
}

async fn send(
    stream: &mut TcpStream,
    bytes: &[u8],
    proto: StartTls,
    peer: SocketAddr,
    deadline: &Deadline,
    what: &str,
) -> Result<(), Failure> {
    match deadline.run(stream.write_all(bytes)).await {
        None => Err(Failure::new(format!(
            "starttls ({proto}) with {peer} timed out after {} sending {what}",
            deadline.timeout()
        ))),
        Some(Err(e)) => Err(Failure::new(format!(
            "starttls ({proto}) with {peer} failed sending {what}: {e}"
        ))),
        Some(Ok(())) => Ok(()),
    }
}

/// Speaks `proto` up to the point where the TLS handshake starts.
async fn starttls(
    proto: StartTls,
    stream: &mut TcpStream,
    peer: SocketAddr,
    deadline: &Deadline,
) -> Result<(), Failure> {
    match proto {
        StartTls::Smtp => smtp(stream, peer, deadline).await,
        StartTls::Imap => imap(stream, peer, deadline).await,
        StartTls::Postgres => postgres(stream, peer, deadline).await,
    }
}

/// RFC 3207: banner `220`, `EHLO` → `250` listing STARTTLS, `STARTTLS` → `220`.
async fn smtp(
    stream: &mut TcpStream,
    peer: SocketAddr,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let local = match stream.local_addr() {
        Ok(SocketAddr::V4(a)) => format!("[{}]", a.ip()),
        Ok(SocketAddr::V6(a)) => format!("[IPv6:{}]", a.ip()),
        Err(_) => "tocsin.invalid".to_owned(),
    };
    let proto = StartTls::Smtp;
    let mut r = LineReader {
        stream,
        peer,
        proto,
        buf: Vec::new(),
    };
    let (code, lines) = r.smtp_reply(deadline, "waiting for the banner").await?;
    if code != 220 {
        return Err(Failure::new(format!(
            "SMTP server {peer} refused the session: {}",
            lines.join(" ")
        )));
    }
    r.ensure_drained()?;
    let ehlo = format!("EHLO {local}\r\n");
    send(r.stream, ehlo.as_bytes(), proto, peer, deadline, "EHLO").await?;
    let (code, lines) = r.smtp_reply(deadline, "waiting for the EHLO reply").await?;
    if code != 250 {
        return Err(Failure::new(format!(
            "SMTP server {peer} refused EHLO: {}",
            lines.join(" ")
        )));
    }
    let extensions: Vec<&str> = lines.iter().skip(1).filter_map(|l| l.get(4..)).collect();
    if !extensions
        .iter()
        .any(|e| e.trim().eq_ignore_ascii_case("STARTTLS"))
    {
        return Err(Failure::new(format!(
            "SMTP server {peer} does not offer STARTTLS (EHLO lists: {})",
            if extensions.is_empty() {
                "nothing".to_owned()
            } else {
                extensions.join(", ")
            }
        )));
    }
    r.ensure_drained()?;
    send(r.stream, b"STARTTLS\r\n", proto, peer, deadline, "STARTTLS").await?;
    let (code, lines) = r
        .smtp_reply(deadline, "waiting for the STARTTLS reply")
        .await?;
    if code != 220 {
        return Err(Failure::new(format!(
            "SMTP server {peer} refused STARTTLS: {}",
            lines.join(" ")
        )));
    }
    r.ensure_drained()
}

/// RFC 3501: greeting `* OK`, `a1 STARTTLS` → `a1 OK`.
async fn imap(
    stream: &mut TcpStream,
    peer: SocketAddr,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let proto = StartTls::Imap;
    let mut r = LineReader {
        stream,
        peer,
        proto,
        buf: Vec::new(),
    };
    let greeting = r.line(deadline, "waiting for the greeting").await?;
    let upper = greeting.to_ascii_uppercase();
    if upper.starts_with("* PREAUTH") {
        return Err(Failure::new(format!(
            "IMAP server {peer} greeted with PREAUTH, which does not allow STARTTLS"
        )));
    }
    if !upper.starts_with("* OK") {
        return Err(Failure::new(format!(
            "IMAP server {peer} refused the session: {greeting}"
        )));
    }
    r.ensure_drained()?;
    send(
        r.stream,
        b"a1 STARTTLS\r\n",
        proto,
        peer,
        deadline,
        "STARTTLS",
    )
    .await?;
    for _ in 0..MAX_LINES {
        let l = r.line(deadline, "waiting for the STARTTLS reply").await?;
        let Some(rest) = l.strip_prefix("a1 ") else {
            // Untagged data (`* CAPABILITY …`) may come first.
            continue;
        };
        if rest.to_ascii_uppercase().starts_with("OK") {
            return r.ensure_drained();
        }
        return Err(Failure::new(format!(
            "IMAP server {peer} refused STARTTLS: {rest}"
        )));
    }
    Err(Failure::new(format!(
        "IMAP server {peer} sent more than {MAX_LINES} lines without answering STARTTLS"
    )))
}

/// PostgreSQL: `SSLRequest` → `S`.
async fn postgres(
    stream: &mut TcpStream,
    peer: SocketAddr,
    deadline: &Deadline,
) -> Result<(), Failure> {
    let proto = StartTls::Postgres;
    send(stream, &PG_SSL_REQUEST, proto, peer, deadline, "SSLRequest").await?;
    let mut answer = [0u8; 1];
    match deadline.run(stream.read(&mut answer)).await {
        None => Err(Failure::new(format!(
            "starttls (postgres) with {peer} timed out after {} waiting for the SSLRequest reply",
            deadline.timeout()
        ))),
        Some(Err(e)) => Err(Failure::new(format!(
            "starttls (postgres) with {peer} failed waiting for the SSLRequest reply: {e}"
        ))),
        Some(Ok(0)) => Err(Failure::new(format!(
            "PostgreSQL server {peer} closed the connection instead of answering SSLRequest"
        ))),
        Some(Ok(_)) => match answer[0] {
            b'S' => Ok(()),
            b'N' => Err(Failure::new(format!(
                "PostgreSQL server {peer} does not accept TLS (it answered N to SSLRequest)"
            ))),
            b'E' => Err(Failure::new(format!(
                "PostgreSQL server {peer} answered SSLRequest with an error message"
            ))),
            other => Err(Failure::new(format!(
                "PostgreSQL server {peer} answered SSLRequest with {:?}, not S or N",
                char::from(other)
            ))),
        },
    }
}

impl Probe for TlsCheckProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_contents_strips_the_header() {
        assert_eq!(der_contents(&[0x30, 2, 1, 2]), Some(&[1u8, 2][..]));
        let long: Vec<u8> = [0x30, 0x81, 3, 7, 8, 9].to_vec();
        assert_eq!(der_contents(&long), Some(&[7u8, 8, 9][..]));
        assert_eq!(der_contents(&[0x31, 1, 0]), None);
        assert_eq!(der_contents(&[0x30, 5, 1]), None);
        assert_eq!(der_contents(&[]), None);
    }

    #[test]
    fn names_are_cut() {
        let n = |v: &[&str]| show_names(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(n(&["a"]), "a");
        assert_eq!(n(&["a", "b", "c", "d", "e"]), "a, b, c and 2 more");
    }
}
