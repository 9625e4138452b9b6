//! The `http` probe: a hand-built client on hyper 1 (HTTP/1.1 and HTTP/2) and tokio-rustls, a new
//! connection per run and per redirect hop, with phase timings (dns, connect, tls, first byte,
//! total), redirect following, a body size cap, and the run's deadline applied to every phase so
//! that a stall is reported with the phase it happened in.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tocsin_core::assert::{HttpAssertions, HttpResponseView};
use tocsin_core::check::{HttpAuth, HttpSpec, HttpVersion};
use tocsin_core::{CheckResult, Status};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::guard::AddressGuard;
use crate::net::Net;
use crate::util::{Deadline, Failure, Gathered, base64, error_chain};
use crate::{BuildError, Probe, ProbeEnv, RunContext, tls};

const USER_AGENT: &str = concat!("Tocsin/", env!("CARGO_PKG_VERSION"));
const ALPN_H2: &[u8] = b"h2";
const ALPN_H1: &[u8] = b"http/1.1";

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Target {
    https: bool,
    /// Host without IPv6 brackets.
    host: String,
    port: u16,
    /// `/path?query` (at least `/`).
    path_and_query: String,
}

impl Target {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let s = s.split_once('#').map_or(s, |(before, _)| before);
        let uri: Uri = s
            .parse()
            .map_err(|e: http::uri::InvalidUri| e.to_string())?;
        let https = match uri.scheme_str().map(str::to_ascii_lowercase).as_deref() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => return Err(format!("scheme {other:?} is not http or https")),
            None => return Err("not an absolute URL (expected http://… or https://…)".into()),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or("no host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path_and_query = match uri.path_and_query().map(http::uri::PathAndQuery::as_str) {
            None | Some("") => "/".to_owned(),
            Some(pq) if pq.starts_with('/') => pq.to_owned(),
            Some(pq) => format!("/{pq}"),
        };
        Ok(Self {
            https,
            host,
            port,
            path_and_query,
        })
    }

    fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// `host[:port]` as a Host header says it (port only when not the default).
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn absolute(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme(),
            self.authority(),
            self.path_and_query
        )
    }

    fn same_origin(&self, other: &Self) -> bool {
        self.https == other.https
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }

    /// Resolves a `Location` against this URL (RFC 3986 §5.2, enough for redirects).
    fn join(&self, location: &str) -> Result<Self, String> {
        let loc = location.trim();
        let loc = loc.split_once('#').map_or(loc, |(before, _)| before);
        let has_scheme = loc.split_once(':').is_some_and(|(s, _)| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        let absolute = if has_scheme {
            loc.to_owned()
        } else if let Some(rest) = loc.strip_prefix("//") {
            format!("{}://{rest}", self.scheme())
        } else {
            let (base_path, _) = self
                .path_and_query
                .split_once('?')
                .unwrap_or((&self.path_and_query, ""));
            let merged = if loc.is_empty() {
                self.path_and_query.clone()
            } else if loc.starts_with('/') {
                loc.to_owned()
            } else if loc.starts_with('?') {
                format!("{base_path}{loc}")
            } else {
                let dir = base_path.rfind('/').map_or("/", |i| &base_path[..=i]);
                format!("{dir}{loc}")
            };
            let (path, query) = match merged.split_once('?') {
                Some((p, q)) => (p.to_owned(), Some(q)),
                None => (merged.clone(), None),
            };
            let path = remove_dot_segments(&path);
            let pq = match query {
                Some(q) => format!("{path}?{q}"),
                None => path,
            };
            format!("{}://{}{pq}", self.scheme(), self.authority())
        };
        Self::parse(&absolute)
    }
}

fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::new();
    for (i, seg) in segments.iter().enumerate().skip(1) {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

impl Proto {
    fn metric(self) -> f64 {
        match self {
            Self::H1 => 1.1,
            Self::H2 => 2.0,
        }
    }
}

/// A connection's I/O future (hyper's `Connection`), driven by the run's own task while the
/// run waits on the connection ([`Conn::drive`]) rather than by a task of its own: one spawned
/// task per run cost a task and two cross-task wake-ups per check. Dropping it closes the
/// socket.
struct Conn(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Conn {
    fn new(conn: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(Some(Box::pin(conn)))
    }

    /// Runs `work` to completion while polling the connection whenever `work` is polled, so
    /// that requests go out and responses come in. Once the connection future has finished
    /// (closed, or failed: `work` then sees the error from hyper), it is not polled again.
    async fn drive<F: Future>(&mut self, work: F) -> F::Output {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            if let Some(conn) = self.0.as_mut()
                && conn.as_mut().poll(cx).is_ready()
            {
                self.0 = None;
            }
            work.as_mut().poll(cx)
        })
        .await
    }
}

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// Sends `req` once the connection can take it; resolves with the response headers.
    async fn send(self, req: Request<Full<Bytes>>) -> Result<Response<Incoming>, hyper::Error> {
        match self {
            Sender::H1(mut s) => {
                s.ready().await?;
                s.send_request(req).await
            }
            Sender::H2(mut s) => {
                s.ready().await?;
                s.send_request(req).await
            }
        }
    }
}

/// A response whose headers have arrived, with the connection it came on.
struct Exchange {
    response: Response<Incoming>,
    proto: Proto,
    conn: Conn,
}

/// The `http` probe, built from an [`HttpSpec`].
pub(crate) struct HttpProbe {
    env: Arc<ProbeEnv>,
    guard: AddressGuard,
    url: Target,
    method: Method,
    headers: HeaderMap,
    body: Option<Bytes>,
    auth: Option<HeaderValue>,
    max_redirects: u32,
    max_body: usize,
    version: HttpVersion,
    tls_config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    assertions: HttpAssertions,
}

impl fmt::Debug for HttpProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpProbe")
            .field("url", &self.url.absolute())
            .field("method", &self.method)
            .field("version", &self.version)
            .field("max_redirects", &self.max_redirects)
            .field("max_body", &self.max_body)
            .field("auth", &self.auth.as_ref().map(|_| "********"))
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl HttpProbe {
    pub(crate) fn build(
        spec: &HttpSpec,
        env: &Arc<ProbeEnv>,
        guard: AddressGuard,
    ) -> Result<Self, BuildError> {
        let url = Target::parse(&spec.url.value).map_err(|reason| BuildError::Url {
            url: spec.url.value.clone(),
            reason,
        })?;
        let method = Method::from_bytes(spec.method.trim().to_ascii_uppercase().as_bytes())
            .map_err(|_| BuildError::Method(spec.method.clone()))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let bad = |reason: String| BuildError::Header {
                name: name.clone(),
                reason,
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            let v = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
            headers.append(n, v);
        }
        let auth = match &spec.auth {
            None => None,
            Some(HttpAuth::Basic { username, password }) => Some(format!(
                "Basic {}",
                base64(format!("{username}:{}", password.expose()).as_bytes())
            )),
            Some(HttpAuth::Bearer(token)) => Some(format!("Bearer {}", token.expose())),
        };
        let auth = auth
            .map(|a| {
                HeaderValue::from_str(&a).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|_| BuildError::Header {
                name: "Authorization".into(),
                reason: "the credentials contain characters not allowed in a header".into(),
            })?;
        let alpn: &[&[u8]] = match spec.version {
            HttpVersion::Auto => &[ALPN_H2, ALPN_H1],
            HttpVersion::Http1 => &[ALPN_H1],
            HttpVersion::Http2 => &[ALPN_H2],
        };
        let tls_config = env.tls.client_config(&spec.tls, alpn)?;
        let server_name = match &spec.tls.server_name {
            Some(n) => Some(tls::server_name(n).ok_or_else(|| BuildError::ServerName(n.clone()))?),
            None => None,
        };
        let assertions = HttpAssertions::compile(spec).map_err(BuildError::Assertions)?;
        Ok(Self {
            env: env.clone(),
            guard,
            url,
            method,
            headers,
            body: spec.body.as_ref().map(|b| Bytes::from(b.clone())),
            auth,
            max_redirects: spec.max_redirects,
            max_body: usize::try_from(spec.max_body.0).unwrap_or(usize::MAX),
            version: spec.version,
            tls_config,
            server_name,
            assertions,
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let mut g = Gathered::default();
        let fetched = self.fetch(&deadline, &mut g).await;
        let elapsed = deadline.elapsed();
        let f = match fetched {
            Ok(f) => f,
            Err(Failure(message)) => {
                tracing::debug!(url = %self.url.absolute(), %message, "http probe failed");
                return g.result(Status::Critical, message, cx.started_at_ms, elapsed);
            }
        };
        let verdict = self.assertions.evaluate(&HttpResponseView {
            status: f.status.as_u16(),
            body: &f.body,
            body_truncated: f.truncated,
            elapsed,
        });
        let mut r = g.result(verdict.status, verdict.message, cx.started_at_ms, elapsed);
        r.extracted = verdict.extracted;
        let mut metrics = std::mem::take(&mut r.metrics);
        r = r
            .metric("response_time", elapsed.as_secs_f64(), "s")
            .metric("status_code", f64::from(f.status.as_u16()), "")
            .metric("body_bytes", f.body.len() as f64, "bytes")
            .metric("http_version", f.proto.metric(), "");
        r.metrics.append(&mut metrics);
        r
    }

    /// Follows redirects and reads the final body.
    async fn fetch(&self, deadline: &Deadline, g: &mut Gathered) -> Result<Fetched, Failure> {
        let mut target = self.url.clone();
        let mut method = self.method.clone();
        let mut body = self.body.clone();
        let mut redirects = 0u32;
        loop {
            let ex = self
                .exchange(&target, &method, body.as_ref(), deadline, g)
                .await?;
            let status = ex.response.status();
            let location = ex.response.headers().get(header::LOCATION).cloned();
            if is_redirect(status)
                && self.max_redirects > 0
                && let Some(location) = location
            {
                if redirects >= self.max_redirects {
                    return Err(Failure::new(format!(
                        "too many redirects ({})",
                        self.max_redirects
                    )));
                }
                redirects += 1;
                let loc = String::from_utf8_lossy(location.as_bytes()).into_owned();
                target = target.join(&loc).map_err(|e| {
                    Failure::new(format!(
                        "{} redirect to an invalid location {loc:?}: {e}",
                        status.as_u16()
                    ))
                })?;
                if matches!(status.as_u16(), 301..=303) && method != Method::HEAD {
                    method = Method::GET;
                    body = None;
                }
                continue;
            }
            let Exchange {
                response,
                proto,
                mut conn,
            } = ex;
            let (bytes, truncated) = conn
                .drive(read_body(response.into_body(), self.max_body, deadline))
                .await?;
            return Ok(Fetched {
                status,
                proto,
                body: bytes,
                truncated,
            });
        }
    }

    /// One request on a fresh connection: resolve, connect, TLS, send, wait for the headers.
    async fn exchange(
        &self,
        target: &Target,
        method: &Method,
        body: Option<&Bytes>,
        deadline: &Deadline,
        g: &mut Gathered,
    ) -> Result<Exchange, Failure> {
        let addrs = self
            .env
            .net
            .resolve(&target.host, target.port, deadline, g)
            .await?;
        // Every hop is checked on the address it connects to: a redirect to a private address,
        // or a name that resolves to one, is refused here.
        let (tcp, peer) = Net::connect(&addrs, self.guard, true, deadline, g).await?;
        let (sender, mut conn, proto) = if target.https {
            let name = match &self.server_name {
                Some(n) if target.host.eq_ignore_ascii_case(&self.url.host) => n.clone(),
                _ => tls::server_name(&target.host).ok_or_else(|| {
                    Failure::new(format!("{:?} is not a valid TLS server name", target.host))
                })?,
            };
            let stream =
                tls::handshake(self.tls_config.clone(), name, tcp, peer, deadline, g).await?;
            let alpn = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            let proto = match (self.version, alpn.as_deref()) {
                (HttpVersion::Auto, Some(ALPN_H2)) | (HttpVersion::Http2, Some(ALPN_H2) | None) => {
                    Proto::H2
                }
                (HttpVersion::Http2, Some(other)) => {
                    return Err(Failure::new(format!(
                        "server does not speak HTTP/2 (ALPN chose {:?})",
                        String::from_utf8_lossy(other)
                    )));
                }
                _ => Proto::H1,
            };
            let (s, c) = http_handshake(stream, proto, deadline).await?;
            (s, c, proto)
        } else {
            let proto = if self.version == HttpVersion::Http2 {
                Proto::H2
            } else {
                Proto::H1
            };
            let (s, c) = http_handshake(tcp, proto, deadline).await?;
            (s, c, proto)
        };
        let req = self.request(target, method, body, proto)?;
        let t0 = Instant::now();
        let sent = conn.drive(deadline.run(sender.send(req))).await;
        match sent {
            None => Err(Failure::new(format!(
                "no response headers after {}",
                deadline.timeout()
            ))),
            Some(Err(e)) => Err(Failure::new(format!("request failed: {}", error_chain(&e)))),
            Some(Ok(response)) => {
                Gathered::add(&mut g.timings.first_byte_us, t0.elapsed());
                Ok(Exchange {
                    response,
                    proto,
                    conn,
                })
            }
        }
    }

    fn request(
        &self,
        target: &Target,
        method: &Method,
        body: Option<&Bytes>,
        proto: Proto,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let mut headers = self.headers.clone();
        let same_origin = target.same_origin(&self.url);
        if !same_origin {
            // Credentials go to the configured origin only, never to where it redirects.
            headers.remove(header::AUTHORIZATION);
            headers.remove(header::COOKIE);
            headers.remove(header::PROXY_AUTHORIZATION);
        }
        let uri = match proto {
            Proto::H1 => {
                if !headers.contains_key(header::HOST)
                    && let Ok(v) = HeaderValue::from_str(&target.authority())
                {
                    headers.insert(header::HOST, v);
                }
                // Every run opens its own connection: say so, and the server closes it after
                // the response, keeping the TIME_WAIT on its side rather than tying up one of
                // the monitor's source ports per check.
                if !headers.contains_key(header::CONNECTION) {
                    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                target.path_and_query.clone()
            }
            Proto::H2 => {
                // HTTP/2 carries the host in :authority; a configured Host header becomes it.
                let authority = headers
                    .remove(header::HOST)
                    .and_then(|h| h.to_str().ok().map(str::to_owned))
                    .unwrap_or_else(|| target.authority());
                format!("{}://{authority}{}", target.scheme(), target.path_and_query)
            }
        };
        let uri: Uri = uri
            .parse()
            .map_err(|e| Failure::new(format!("cannot build the request URI {uri:?}: {e}")))?;
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        if same_origin
            && let Some(auth) = &self.auth
            && !headers.contains_key(header::AUTHORIZATION)
        {
            headers.insert(header::AUTHORIZATION, auth.clone());
        }
        if let Some(b) = body {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
        }
        let mut req = Request::new(Full::new(body.cloned().unwrap_or_default()));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = match proto {
            Proto::H1 => Version::HTTP_11,
            Proto::H2 => Version::HTTP_2,
        };
        *req.headers_mut() = headers;
        Ok(req)
    }
}

impl Probe for HttpProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

struct Fetched {
    status: StatusCode,
    proto: Proto,
    body: Vec<u8>,
    truncated: bool,
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Starts HTTP on `io`; the connection is driven by a task that is aborted with the guard.
async fn http_handshake<I>(
    io: I,
    proto: Proto,
    deadline: &Deadline,
) -> Result<(Sender, Conn), Failure>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let timed_out = || {
        Failure::new(format!(
            "{} handshake timed out after {}",
            proto_name(proto),
            deadline.timeout()
        ))
    };
    let failed = |e: hyper::Error| {
        Failure::new(format!(
            "{} handshake failed: {}",
            proto_name(proto),
            error_chain(&e)
        ))
    };
    match proto {
        Proto::H1 => {
            let (sender, conn) = deadline
                .run(http1::handshake(io))
                .await
                .ok_or_else(timed_out)?
                .map_err(failed)?;
            Ok((
                Sender::H1(sender),
                Conn::new(async move {
                    let _ = conn.await;
                }),
            ))
        }
        Proto::H2 => {
            let (sender, conn) = deadline
                .run(http2::handshake(TokioExecutor::new(), io))
                .await
                .ok_or_else(timed_out)?
                .map_err(failed)?;
            Ok((
                Sender::H2(sender),
                Conn::new(async move {
                    let _ = conn.await;
                }),
            ))
        }
    }
}

fn proto_name(proto: Proto) -> &'static str {
    match proto {
        Proto::H1 => "HTTP/1.1",
        Proto::H2 => "HTTP/2",
    }
}

/// Reads at most `max` bytes of the body; `true` if there was more (the rest is not read: the
/// caller drops the body and the connection).
async fn read_body(
    mut body: Incoming,
    max: usize,
    deadline: &Deadline,
) -> Result<(Vec<u8>, bool), Failure> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match deadline.run(body.frame()).await {
            None => {
                return Err(Failure::new(format!(
                    "body read timed out after {} ({} bytes read)",
                    deadline.timeout(),
                    buf.len()
                )));
            }
            Some(None) => return Ok((buf, false)),
            Some(Some(Err(e))) => {
                return Err(Failure::new(format!(
                    "body read failed after {} bytes: {}",
                    buf.len(),
                    error_chain(&e)
                )));
            }
            Some(Some(Ok(frame))) => {
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                let room = max - buf.len();
                if data.len() > room {
                    buf.extend_from_slice(&data[..room]);
                    return Ok((buf, true));
                }
                buf.extend_from_slice(&data);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults() {
        let t = Target::parse("https://example.com").unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path_and_query.as_str()),
            (true, "example.com", 443, "/")
        );
        assert_eq!(t.authority(), "example.com");
        let t = Target::parse("http://[::1]:8080/a?b=c#frag").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path_and_query.as_str()),
            ("::1", 8080, "/a?b=c")
        );
        assert_eq!(t.authority(), "[::1]:8080");
        assert!(
            Target::parse("ftp://example.com/")
                .unwrap_err()
                .contains("not http")
        );
        assert!(Target::parse("/relative").is_err());
        assert!(Target::parse("http:///nohost").is_err());
    }

    #[test]
    fn locations_resolve_like_rfc3986() {
        let base = Target::parse("http://h:81/a/b/c?q=1").unwrap();
        let cases = [
            ("/x", "http://h:81/x"),
            ("d", "http://h:81/a/b/d"),
            ("../d?z", "http://h:81/a/d?z"),
            ("./", "http://h:81/a/b/"),
            ("?y=2", "http://h:81/a/b/c?y=2"),
            ("//other/p", "http://other/p"),
            ("https://s.example/p", "https://s.example/p"),
            ("", "http://h:81/a/b/c?q=1"),
            ("/a/./b/../../e", "http://h:81/e"),
        ];
        for (loc, want) in cases {
            assert_eq!(base.join(loc).unwrap().absolute(), want, "{loc:?}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Target::parse("http://Example.com/x").unwrap();
        assert!(a.same_origin(&Target::parse("http://example.com:80/y").unwrap()));
        assert!(!a.same_origin(&Target::parse("https://example.com/y").unwrap()));
        assert!(!a.same_origin(&Target::parse("http://example.com:81/y").unwrap()));
    }
}
