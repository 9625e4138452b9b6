//! The HTTP(S) test server: hyper-util's auto connection builder (HTTP/1.1 and HTTP/2, prior
//! knowledge or ALPN) serving fixed routes that succeed, fail, stall, drip, redirect and echo.
//!
//! Routes:
//! - `/ok` — 200 `ok`
//! - `/status/{code}` — that status, body `status {code}`
//! - `/json` — the document set through [`ServerHandle::set_json`] / [`ServerHandle::set_body`]
//!   (initially `{"status":"ok","x":1}`)
//! - `/stall` — accepts the request and never answers (until the server is dropped)
//! - `/drip`, `/drip/{ms}` — headers at once, then one byte every `ms` (default 100) milliseconds,
//!   `?bytes=N` bytes in all (default 1000)
//! - `/huge` — a 50 MiB body, generated while streaming (never held in memory)
//! - `/redirect/{n}` — a chain of `n` redirects ending at `/ok`; alternate hops use relative
//!   (`1`) and absolute-path (`/redirect/2`) locations; `?status=307` picks the code,
//!   `?to=/echo` the final target, `?absolute=1` absolute URLs
//! - `/loop` — redirects to itself
//! - `/slow/{ms}` — answers `slow` after `ms` milliseconds
//! - `/echo` — the request as JSON: `method`, `path`, `query`, `version` (`HTTP/1.1`,
//!   `HTTP/2.0`), `headers` (lower-case name → value, repeated values joined with `, `), `body`
//!
//! Canned answers: [`ServerHandle::respond`] makes any path (say `/v2/enqueue`) answer a given
//! status, headers and body, taking precedence over the routes above. Tests of notification
//! channels use it to play a provider: check the exact request, answer what the provider
//! documents.
//!
//! Every request (whatever the route) is also recorded: [`ServerHandle::last_request`] and
//! [`ServerHandle::recorded`] return what arrived, so tests can check method, headers and body
//! without parsing a response.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::pki::{CertKind, TestPki};

/// Size of the `/huge` body: 50 MiB.
pub const HUGE_BODY_BYTES: u64 = 50 << 20;

/// A running HTTP or HTTPS test server; it stops when dropped.
#[derive(Debug)]
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    handle: ServerHandle,
    task: JoinHandle<()>,
    _shutdown: watch::Sender<bool>,
}

/// A cheap, cloneable handle on a server's state: change the `/json` document, count requests.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    state: Arc<State>,
}

/// One request as the server received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, e.g. `/echo`.
    pub path: String,
    /// The query string without `?` (empty if none).
    pub query: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Headers in arrival order, lower-case names.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How many recorded requests are kept (the oldest are dropped first).
const RECORD_LIMIT: usize = 1024;

/// A canned answer set with [`ServerHandle::respond`].
#[derive(Clone, Debug)]
struct Canned {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Bytes,
}

#[derive(Debug)]
struct State {
    requests: AtomicU64,
    recorded: Mutex<std::collections::VecDeque<RecordedRequest>>,
    document: Mutex<(HeaderValue, Bytes)>,
    canned: Mutex<std::collections::HashMap<String, Canned>>,
    shutdown: watch::Receiver<bool>,
    tls: bool,
}

impl HttpServer {
    /// Starts a plain-HTTP server (HTTP/1.1, and HTTP/2 with prior knowledge).
    pub async fn start() -> io::Result<Self> {
        Self::spawn(None).await
    }

    /// Starts an HTTPS server presenting `kind`'s certificate, offering ALPN `h2` and `http/1.1`.
    pub async fn start_tls(pki: &TestPki, kind: CertKind) -> io::Result<Self> {
        Self::start_tls_alpn(pki, kind, &["h2", "http/1.1"]).await
    }

    /// Starts an HTTPS server presenting `kind`'s certificate and offering exactly `alpn`.
    pub async fn start_tls_alpn(pki: &TestPki, kind: CertKind, alpn: &[&str]) -> io::Result<Self> {
        let config = pki.server_config(kind, alpn)?;
        Self::spawn(Some(TlsAcceptor::from(config))).await
    }

    async fn spawn(tls: Option<TlsAcceptor>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let state = Arc::new(State {
            requests: AtomicU64::new(0),
            recorded: Mutex::new(std::collections::VecDeque::new()),
            document: Mutex::new((
                HeaderValue::from_static("application/json"),
                Bytes::from_static(br#"{"status":"ok","x":1}"#),
            )),
            canned: Mutex::new(std::collections::HashMap::new()),
            shutdown: rx,
            tls: tls.is_some(),
        });
        let is_tls = tls.is_some();
        let task = tokio::spawn(accept_loop(listener, tls, state.clone()));
        Ok(Self {
            addr,
            tls: is_tls,
            handle: ServerHandle { state },
            task,
            _shutdown: tx,
        })
    }

    /// The address the server listens on (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT{path}` (or `https://…` for a TLS server).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// The same URL with `host` instead of the IP address (e.g. `localhost`).
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}{path}", self.addr.port())
    }

    /// A handle that outlives borrows of the server.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// See [`ServerHandle::respond`].
    pub fn respond(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) {
        self.handle.respond(path, status, headers, body);
    }

    /// See [`ServerHandle::respond_json`].
    pub fn respond_json(&self, path: &str, status: u16, body: &serde_json::Value) {
        self.handle.respond_json(path, status, body);
    }

    /// Replaces the `/json` document.
    pub fn set_json(&self, value: serde_json::Value) {
        self.handle.set_json(value);
    }

    /// Replaces the `/json` document with arbitrary bytes of a content type.
    pub fn set_body(&self, content_type: &str, body: impl Into<Bytes>) {
        self.handle.set_body(content_type, body);
    }

    /// Requests received so far (every route, counted on arrival).
    pub fn requests(&self) -> u64 {
        self.handle.requests()
    }

    /// The most recent request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.handle.last_request()
    }

    /// Stops the server now (the same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ServerHandle {
    /// Replaces the `/json` document.
    pub fn set_json(&self, value: serde_json::Value) {
        let bytes = Bytes::from(value.to_string());
        *self
            .state
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (HeaderValue::from_static("application/json"), bytes);
    }

    /// Replaces the `/json` document with arbitrary bytes of a content type.
    pub fn set_body(&self, content_type: &str, body: impl Into<Bytes>) {
        let ct = HeaderValue::from_str(content_type)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
        *self
            .state
            .document
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = (ct, body.into());
    }

    /// Makes `path` (exactly, query ignored) answer `status` with `headers` and `body`, for
    /// every method, until changed. Takes precedence over the built-in routes.
    pub fn respond(
        &self,
        path: &str,
        status: u16,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) {
        let canned = Canned {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.into(),
        };
        self.state
            .canned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), canned);
    }

    /// [`Self::respond`] with a JSON body (and `Content-Type: application/json`).
    pub fn respond_json(&self, path: &str, status: u16, body: &serde_json::Value) {
        self.respond(
            path,
            status,
            &[("content-type", "application/json")],
            body.to_string(),
        );
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The most recent request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .back()
            .cloned()
    }

    /// The requests received, oldest first (at most the last 1024).
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        self.state
            .recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }
}

async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>, state: Arc<State>) {
    // Connection tasks live in this set: aborting the accept task drops the set, which aborts
    // every connection (and with it every stalled or dripping response).
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve(stream, tls.clone(), state.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>, state: Arc<State>) {
    let svc = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(route(&state, req).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    match tls {
        None => {
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        }
        Some(acceptor) => {
            let Ok(stream) = acceptor.accept(stream).await else {
                return;
            };
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
        }
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

fn record(state: &State, req: &Request<Bytes>) {
    let recorded = RecordedRequest {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        version: format!("{:?}", req.version()),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: req.body().to_vec(),
    };
    let mut log = state
        .recorded
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if log.len() >= RECORD_LIMIT {
        log.pop_front();
    }
    log.push_back(recorded);
}

async fn route(state: &State, req: Request<Incoming>) -> Response<TkBody> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let req = Request::from_parts(parts, body);
    record(state, &req);
    let path = req.uri().path().to_owned();
    let canned = state
        .canned
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&path)
        .cloned();
    if let Some(c) = canned {
        let mut resp = Response::new(TkBody::full(c.body));
        *resp.status_mut() = c.status;
        for (n, v) in &c.headers {
            if let (Ok(n), Ok(v)) = (
                http::HeaderName::try_from(n.as_str()),
                HeaderValue::from_str(v),
            ) {
                resp.headers_mut().insert(n, v);
            }
        }
        return resp;
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["ok"] => text(StatusCode::OK, "ok"),
        ["status", code] => match code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(status) => text(status, &format!("status {}", status.as_u16())),
            None => text(StatusCode::BAD_REQUEST, "bad status code"),
        },
        ["json"] => {
            let (ct, body) = state
                .document
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut resp = Response::new(TkBody::full(body));
            resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            resp
        }
        ["stall"] => {
            let mut shutdown = state.shutdown.clone();
            let _ = shutdown.changed().await;
            text(StatusCode::SERVICE_UNAVAILABLE, "shutting down")
        }
        ["drip"] | ["drip", _] => {
            let ms = segments.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
            let bytes = query_param(&query, "bytes")
                .and_then(|b| b.parse().ok())
                .unwrap_or(1000);
            let every = Duration::from_millis(ms);
            let body = TkBody::Drip {
                every,
                sleep: Box::pin(tokio::time::sleep(every)),
                left: bytes,
            };
            let mut resp = Response::new(body);
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            resp
        }
        ["huge"] => {
            let mut resp = Response::new(TkBody::Huge {
                left: HUGE_BODY_BYTES,
            });
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            resp
        }
        ["redirect", n] => match n.parse::<u32>() {
            Ok(0) => text(StatusCode::OK, "ok"),
            Ok(n) => redirect(state, &req, n, &query),
            Err(_) => text(StatusCode::BAD_REQUEST, "bad redirect count"),
        },
        ["loop"] => redirect_to(StatusCode::FOUND, "/loop"),
        ["slow", ms] => {
            let ms = ms.parse().unwrap_or(1000);
            let mut shutdown = state.shutdown.clone();
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => text(StatusCode::OK, "slow"),
                _ = shutdown.changed() => text(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            }
        }
        ["echo"] => echo(req),
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

fn redirect(state: &State, req: &Request<Bytes>, n: u32, query: &str) -> Response<TkBody> {
    let status = query_param(query, "status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(StatusCode::is_redirection)
        .unwrap_or(StatusCode::FOUND);
    let to = query_param(query, "to")
        .filter(|t| t.starts_with('/'))
        .unwrap_or("/ok");
    let absolute = query_param(query, "absolute") == Some("1");
    let next = n - 1;
    let mut location = if next == 0 {
        to.to_owned()
    } else if absolute || n.is_multiple_of(2) {
        format!("/redirect/{next}")
    } else {
        // Relative to /redirect/{n}: resolves to /redirect/{n-1}.
        next.to_string()
    };
    if absolute && location.starts_with('/') {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(http::uri::Authority::as_str))
            .unwrap_or("127.0.0.1");
        let scheme = if state.tls { "https" } else { "http" };
        location = format!("{scheme}://{host}{location}");
    }
    if next > 0 && !query.is_empty() {
        location = format!("{location}?{query}");
    }
    redirect_to(status, &location)
}

fn redirect_to(status: StatusCode, location: &str) -> Response<TkBody> {
    let mut resp = text(status, "redirecting");
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn echo(req: Request<Bytes>) -> Response<TkBody> {
    let (parts, body) = req.into_parts();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), values.join(", ").into());
    }
    let doc = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut resp = Response::new(TkBody::full(Bytes::from(doc.to_string())));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn text(status: StatusCode, body: &str) -> Response<TkBody> {
    let mut resp = Response::new(TkBody::full(Bytes::from(body.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}

/// 64 KiB of `x`, the chunk `/huge` repeats.
static CHUNK: [u8; 64 << 10] = [b'x'; 64 << 10];

/// Response bodies: whole, dripping, or generated.
enum TkBody {
    Full(Option<Bytes>),
    Drip {
        every: Duration,
        sleep: Pin<Box<tokio::time::Sleep>>,
        left: u64,
    },
    Huge {
        left: u64,
    },
}

impl TkBody {
    fn full(b: Bytes) -> Self {
        Self::Full(Some(b))
    }
}

impl Body for TkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Drip { every, sleep, left } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = tokio::time::Instant::now() + *every;
                sleep.as_mut().reset(next);
                *left -= 1;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"x")))))
            }
            Self::Huge { left } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                let n = usize::try_from(*left)
                    .unwrap_or(usize::MAX)
                    .min(CHUNK.len());
                *left -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n])))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Drip { left, .. } | Self::Huge { left } => *left == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Full(None) => SizeHint::with_exact(0),
            Self::Drip { .. } => SizeHint::default(),
            Self::Huge { left } => SizeHint::with_exact(*left),
        }
    }
}
