//! The `tcp` probe: resolve, connect (optionally TLS), optionally send a line, then read the reply
//! until the assertions are satisfied, the peer closes, `max_read` bytes arrive or the deadline
//! passes, and judge it.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tocsin_core::assert::TcpAssertions;
use tocsin_core::check::TcpSpec;
use tocsin_core::{CheckResult, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use crate::guard::AddressGuard;
use crate::net::{Net, ip_literal};
use crate::util::{Deadline, Failure, Gathered, fmt_duration};
use crate::{BuildError, Probe, ProbeEnv, RunContext, tls};

/// The `tcp` probe, built from a [`TcpSpec`].
pub(crate) struct TcpProbe {
    env: Arc<ProbeEnv>,
    guard: AddressGuard,
    host: String,
    port: u16,
    send: Option<Vec<u8>>,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    max_read: usize,
    assertions: TcpAssertions,
}

impl fmt::Debug for TcpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpProbe")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls.is_some())
            .field("send", &self.send.as_ref().map(Vec::len))
            .field("max_read", &self.max_read)
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

/// What the conversation established.
struct Conversation {
    reply_checked: bool,
    reply_bytes: usize,
}

impl TcpProbe {
    pub(crate) fn build(
        spec: &TcpSpec,
        env: &Arc<ProbeEnv>,
        guard: AddressGuard,
    ) -> Result<Self, BuildError> {
        let tls = match &spec.tls {
            None => None,
            Some(t) => {
                let config = env.tls.client_config(t, &[])?;
                let name_src = t.server_name.as_deref().unwrap_or(&spec.host);
                let name = tls::server_name(name_src)
                    .ok_or_else(|| BuildError::ServerName(name_src.to_owned()))?;
                Some((config, name))
            }
        };
        let assertions = TcpAssertions::compile(spec).map_err(BuildError::Assertions)?;
        Ok(Self {
            env: env.clone(),
            guard,
            host: spec
                .host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: spec.port,
            send: spec.send.as_ref().map(|s| s.as_bytes().to_vec()),
            tls,
            max_read: usize::try_from(spec.max_read.0)
                .unwrap_or(usize::MAX)
                .max(1),
            assertions,
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let mut g = Gathered::default();
        let outcome = self.converse(&deadline, &mut g).await;
        let elapsed = deadline.elapsed();
        let (status, message) = match outcome {
            Ok((peer, conv, verdict)) => match verdict {
                Some(reason) => (Status::Critical, reason),
                None => (Status::Ok, self.ok_message(peer, &g, &conv)),
            },
            Err(Failure(message)) => {
                // No conversation: there is no response time to speak of, only the timings.
                return g.result(Status::Critical, message, cx.started_at_ms, elapsed);
            }
        };
        let mut r = g.result(status, message, cx.started_at_ms, elapsed);
        let mut rest = std::mem::take(&mut r.metrics);
        r = r.metric("response_time", elapsed.as_secs_f64(), "s");
        r.metrics.append(&mut rest);
        r
    }

    fn ok_message(&self, peer: SocketAddr, g: &Gathered, conv: &Conversation) -> String {
        let us = |v: Option<u64>| fmt_duration(Duration::from_micros(v.unwrap_or(0)));
        let target = if ip_literal(&self.host).is_some() {
            peer.to_string()
        } else {
            format!("{} ({peer})", self.host)
        };
        let mut m = format!("connected to {target} in {}", us(g.timings.connect_us));
        if self.tls.is_some() {
            m.push_str(&format!(", TLS handshake in {}", us(g.timings.tls_us)));
        }
        if conv.reply_checked {
            m.push_str(&format!(", reply as expected ({} bytes)", conv.reply_bytes));
        }
        m
    }

    /// Connects and talks; `Ok` carries the assertions' verdict (`Some(reason)` if it failed).
    async fn converse(
        &self,
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<(SocketAddr, Conversation, Option<String>), Failure> {
        let addrs = self
            .env
            .net
            .resolve(&self.host, self.port, deadline, g)
            .await?;
        // Nagle's algorithm only delays writes: a connect-only check leaves it on.
        let writes = self.tls.is_some() || self.send.is_some();
        let (tcp, peer) = Net::connect(&addrs, self.guard, writes, deadline, g).await?;
        let (conv, verdict) = match &self.tls {
            Some((config, name)) => {
                let stream =
                    tls::handshake(config.clone(), name.clone(), tcp, peer, deadline, g).await?;
                self.talk(stream, deadline, g).await?
            }
            None => self.talk(tcp, deadline, g).await?,
        };
        Ok((peer, conv, verdict))
    }

    async fn talk<S>(
        &self,
        mut stream: S,
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<(Conversation, Option<String>), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Some(send) = &self.send {
            let written = deadline
                .run(async {
                    stream.write_all(send).await?;
                    stream.flush().await
                })
                .await;
            match written {
                None => {
                    return Err(Failure::new(format!(
                        "send timed out after {}",
                        deadline.timeout()
                    )));
                }
                Some(Err(e)) => return Err(Failure::new(format!("send failed: {e}"))),
                Some(Ok(())) => {}
            }
        }
        if !self.assertions.wants_reply() {
            return Ok((
                Conversation {
                    reply_checked: false,
                    reply_bytes: 0,
                },
                None,
            ));
        }
        let t0 = Instant::now();
        let mut reply: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; self.max_read.min(16 << 10)];
        while !self.assertions.satisfied_by(&reply) && reply.len() < self.max_read {
            let want = chunk.len().min(self.max_read - reply.len());
            match deadline.run(stream.read(&mut chunk[..want])).await {
                None if reply.is_empty() => {
                    return Err(Failure::new(format!(
                        "reply read timed out after {} (0 bytes read)",
                        deadline.timeout()
                    )));
                }
                // Out of time with part of a reply: judge what arrived.
                None => break,
                Some(Ok(0)) => break,
                Some(Ok(n)) => {
                    if reply.is_empty() {
                        Gathered::add(&mut g.timings.first_byte_us, t0.elapsed());
                    }
                    reply.extend_from_slice(&chunk[..n]);
                }
                Some(Err(e)) => {
                    return Err(Failure::new(format!(
                        "reply read failed after {} bytes: {e}",
                        reply.len()
                    )));
                }
            }
        }
        let verdict = self.assertions.check(&reply);
        Ok((
            Conversation {
                reply_checked: true,
                reply_bytes: reply.len(),
            },
            verdict,
        ))
    }
}

impl Probe for TcpProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}
