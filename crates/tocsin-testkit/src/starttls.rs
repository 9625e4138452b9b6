//! STARTTLS test servers on `127.0.0.1:0`: just enough SMTP (RFC 3207), IMAP (RFC 3501) and
//! PostgreSQL (`SSLRequest`) to reach the TLS handshake, then a TLS session that is held open
//! until the client leaves. Each has a variant that refuses to start TLS (SMTP `454`, IMAP `NO`,
//! PostgreSQL `N`), and SMTP one that does not offer it at all.
//!
//! SMTP: a `220` banner; `EHLO`/`HELO` is answered with `250` lines listing `STARTTLS`;
//! `STARTTLS` with `220` (or `454`); `QUIT` with `221`; anything else with `502`.
//! IMAP: a `* OK [CAPABILITY IMAP4rev1 STARTTLS]` greeting; `TAG STARTTLS` is answered with
//! `TAG OK` (or `TAG NO`); `TAG CAPABILITY` and `TAG LOGOUT` as usual; anything else `TAG BAD`.
//! PostgreSQL: an 8-byte `SSLRequest` is answered with `S` (or `N`); any other first packet with
//! `N`.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::pki::{CertKind, TestPki};

/// The `SSLRequest` code of the PostgreSQL protocol.
const PG_SSL_REQUEST: u32 = 80_877_103;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Smtp,
    Imap,
    Postgres,
}

#[derive(Clone)]
struct Setup {
    protocol: Protocol,
    /// `None`: refuse to start TLS.
    tls: Option<TlsAcceptor>,
    /// List STARTTLS in the SMTP `EHLO` reply.
    advertise: bool,
    handshakes: Arc<AtomicU64>,
}

/// A running STARTTLS server; it stops (and drops every connection) when dropped.
#[derive(Debug)]
pub struct StartTlsServer {
    addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    handshakes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl StartTlsServer {
    /// An SMTP server that starts TLS with `kind`'s certificate.
    pub async fn smtp(pki: &TestPki, kind: CertKind) -> io::Result<Self> {
        Self::with(Protocol::Smtp, pki, kind).await
    }

    /// An IMAP server that starts TLS with `kind`'s certificate.
    pub async fn imap(pki: &TestPki, kind: CertKind) -> io::Result<Self> {
        Self::with(Protocol::Imap, pki, kind).await
    }

    /// A PostgreSQL server that accepts `SSLRequest` and starts TLS with `kind`'s certificate.
    pub async fn postgres(pki: &TestPki, kind: CertKind) -> io::Result<Self> {
        Self::with(Protocol::Postgres, pki, kind).await
    }

    /// An SMTP server that lists STARTTLS but answers it with
    /// `454 4.7.0 TLS not available due to temporary reason`.
    pub async fn smtp_refusing() -> io::Result<Self> {
        Self::start(Protocol::Smtp, None).await
    }

    /// An SMTP server whose `EHLO` reply does not list STARTTLS.
    pub async fn smtp_without_starttls() -> io::Result<Self> {
        Self::spawn(Protocol::Smtp, None, false).await
    }

    /// An IMAP server that answers STARTTLS with `TAG NO STARTTLS is disabled`.
    pub async fn imap_refusing() -> io::Result<Self> {
        Self::start(Protocol::Imap, None).await
    }

    /// A PostgreSQL server that answers `SSLRequest` with `N` (it has no TLS).
    pub async fn postgres_refusing() -> io::Result<Self> {
        Self::start(Protocol::Postgres, None).await
    }

    async fn with(protocol: Protocol, pki: &TestPki, kind: CertKind) -> io::Result<Self> {
        let config = pki.server_config(kind, &[])?;
        Self::start(protocol, Some(TlsAcceptor::from(config))).await
    }

    async fn start(protocol: Protocol, tls: Option<TlsAcceptor>) -> io::Result<Self> {
        Self::spawn(protocol, tls, true).await
    }

    async fn spawn(
        protocol: Protocol,
        tls: Option<TlsAcceptor>,
        advertise: bool,
    ) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let handshakes = Arc::new(AtomicU64::new(0));
        let setup = Setup {
            protocol,
            tls,
            advertise,
            handshakes: handshakes.clone(),
        };
        let task = tokio::spawn(accept_loop(listener, setup, accepted.clone()));
        Ok(Self {
            addr,
            accepted,
            handshakes,
            task,
        })
    }

    /// The address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Times the server agreed to start TLS so far (counted before it says so, so a client that
    /// got the go-ahead is always counted).
    pub fn starttls_accepted(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }
}

impl Drop for StartTlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, setup: Setup, accepted: Arc<AtomicU64>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    accepted.fetch_add(1, Ordering::Relaxed);
                    let setup = setup.clone();
                    conns.spawn(async move {
                        let _ = serve(stream, setup).await;
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, setup: Setup) -> io::Result<()> {
    let go = setup.tls.as_ref().map(|_| setup.handshakes.as_ref());
    let ready = match setup.protocol {
        Protocol::Smtp => smtp(stream, go, setup.advertise).await?,
        Protocol::Imap => imap(stream, go).await?,
        Protocol::Postgres => postgres(stream, go).await?,
    };
    let (Some(stream), Some(acceptor)) = (ready, setup.tls) else {
        return Ok(());
    };
    let mut tls = acceptor.accept(stream).await?;
    // Hold the session until the client leaves.
    let mut buf = [0u8; 4096];
    while matches!(tls.read(&mut buf).await, Ok(n) if n > 0) {}
    Ok(())
}

/// Reads one line (without its CRLF); `None` at the end of the stream.
async fn line(r: &mut BufReader<TcpStream>) -> io::Result<Option<String>> {
    let mut l = String::new();
    if r.read_line(&mut l).await? == 0 {
        return Ok(None);
    }
    Ok(Some(l.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The SMTP dialogue up to `220` after STARTTLS: returns the stream, ready for TLS.
async fn smtp(
    stream: TcpStream,
    go: Option<&AtomicU64>,
    advertise: bool,
) -> io::Result<Option<TcpStream>> {
    let mut r = BufReader::new(stream);
    r.get_mut()
        .write_all(b"220 tocsin-test ESMTP ready\r\n")
        .await?;
    while let Some(l) = line(&mut r).await? {
        let verb = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let w = r.get_mut();
        match verb.as_str() {
            "EHLO" | "HELO" if advertise => {
                w.write_all(
                    b"250-tocsin-test greets you\r\n250-PIPELINING\r\n250-STARTTLS\r\n\
                      250 SIZE 1000000\r\n",
                )
                .await?;
            }
            "EHLO" | "HELO" => {
                w.write_all(
                    b"250-tocsin-test greets you\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n",
                )
                .await?;
            }
            "STARTTLS" => match go {
                Some(go) => {
                    go.fetch_add(1, Ordering::Relaxed);
                    w.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                    return Ok(Some(r.into_inner()));
                }
                None => {
                    w.write_all(b"454 4.7.0 TLS not available due to temporary reason\r\n")
                        .await?;
                }
            },
            "QUIT" => {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(None);
            }
            _ => w.write_all(b"502 5.5.2 Command not recognized\r\n").await?,
        }
    }
    Ok(None)
}

/// The IMAP dialogue up to `TAG OK` after STARTTLS: returns the stream, ready for TLS.
async fn imap(stream: TcpStream, go: Option<&AtomicU64>) -> io::Result<Option<TcpStream>> {
    let mut r = BufReader::new(stream);
    r.get_mut()
        .write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] tocsin-test ready\r\n")
        .await?;
    while let Some(l) = line(&mut r).await? {
        let mut words = l.split_whitespace();
        let tag = words.next().unwrap_or("*").to_owned();
        let command = words.next().unwrap_or("").to_ascii_uppercase();
        let w = r.get_mut();
        match command.as_str() {
            "STARTTLS" => match go {
                Some(go) => {
                    go.fetch_add(1, Ordering::Relaxed);
                    w.write_all(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
                        .await?;
                    return Ok(Some(r.into_inner()));
                }
                None => {
                    w.write_all(format!("{tag} NO STARTTLS is disabled\r\n").as_bytes())
                        .await?;
                }
            },
            "CAPABILITY" => {
                w.write_all(
                    format!("* CAPABILITY IMAP4rev1 STARTTLS\r\n{tag} OK CAPABILITY done\r\n")
                        .as_bytes(),
                )
                .await?;
            }
            "LOGOUT" => {
                w.write_all(format!("* BYE\r\n{tag} OK LOGOUT done\r\n").as_bytes())
                    .await?;
                return Ok(None);
            }
            _ => {
                w.write_all(format!("{tag} BAD unknown command\r\n").as_bytes())
                    .await?;
            }
        }
    }
    Ok(None)
}

/// The PostgreSQL `SSLRequest`: returns the stream, ready for TLS, after answering `S`.
async fn postgres(mut stream: TcpStream, go: Option<&AtomicU64>) -> io::Result<Option<TcpStream>> {
    let mut packet = [0u8; 8];
    stream.read_exact(&mut packet).await?;
    let len = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
    let code = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
    if len == 8
        && code == PG_SSL_REQUEST
        && let Some(go) = go
    {
        go.fetch_add(1, Ordering::Relaxed);
        stream.write_all(b"S").await?;
        return Ok(Some(stream));
    }
    stream.write_all(b"N").await?;
    // A real server would now read the startup message; wait for the client to leave.
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    Ok(None)
}
