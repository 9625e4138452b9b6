//! A small one-request HTTP/1.1 client over hyper for the HTTP-based channels: a fresh
//! connection per notification (they are rare), rustls with aws-lc-rs for `https`, the system
//! trust roots plus an optional CA file, no redirects followed, the response body capped.
//!
//! Why not reqwest: hyper, hyper-util, tokio-rustls and the native roots are already in the
//! workspace for the probes, and a webhook needs none of reqwest's pooling, cookies or proxies;
//! this keeps the notifier's dependency tree to what the workspace already builds.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;

/// How much of a response body is read (for an error's reason).
const BODY_CAP: usize = 4096;

/// A parsed target: where to connect and what to ask for. Its `Debug` shows only `host:port`:
/// paths and queries of notification endpoints often hold tokens.
#[derive(Clone)]
pub(crate) struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `host[:port]` for the `Host` header.
    authority: String,
    /// Path and query.
    path: String,
}

impl Target {
    /// Parses an absolute `http://` or `https://` URL.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("must start with http:// or https://".into()),
        };
        let auth = uri.authority().ok_or("has no host")?;
        if auth.as_str().contains('@') {
            return Err("credentials in the URL are not supported; use headers".into());
        }
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("has no host".into());
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            port: auth.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            authority: auth.as_str().to_owned(),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }

    /// `host:port`, for messages (never the path, which may hold a token).
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target({}{})",
            if self.tls { "https://" } else { "http://" },
            self.host_port()
        )
    }
}

/// What came back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Why a request failed before a response arrived.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Resolution, connect, reset, closed: worth retrying.
    Transient(String),
    /// TLS handshake or certificate failure: a configuration problem.
    Tls(String),
    /// No response within the timeout.
    Timeout,
}

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| rustls_native_certs::load_native_certs().certs)
}

/// A rustls client configuration trusting the system roots and `extra_ca_pem` (a PEM bundle).
pub(crate) fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let _ = roots.add_parsable_certificates(system_roots().iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut n = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("bad PEM: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad CA certificate: {e}"))?;
            n += 1;
        }
        if n == 0 {
            return Err("no certificate in the file".into());
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Sends one request and reads the response (body capped at 4 KiB), all within `timeout`.
pub(crate) async fn send(
    target: &Target,
    tls: &Arc<ClientConfig>,
    method: Method,
    headers: &HeaderMap,
    body: Bytes,
    timeout: Duration,
) -> Result<Reply, Failure> {
    match tokio::time::timeout(timeout, exchange(target, tls, method, headers, body)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout),
    }
}

async fn exchange(
    target: &Target,
    tls: &Arc<ClientConfig>,
    method: Method,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Reply, Failure> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| Failure::Transient(format!("connect to {}: {e}", target.host_port())))?;
    let _ = tcp.set_nodelay(true);
    let mut req = Request::builder()
        .method(method)
        .uri(target.path.as_str())
        .body(Full::new(body))
        .map_err(|e| Failure::Transient(format!("request: {e}")))?;
    *req.headers_mut() = headers.clone();
    if let Ok(host) = header::HeaderValue::from_str(&target.authority) {
        req.headers_mut().insert(header::HOST, host);
    }
    if target.tls {
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| Failure::Tls(format!("bad server name {:?}: {e}", target.host)))?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| classify_tls(target, &e))?;
        round_trip(stream, req).await
    } else {
        round_trip(tcp, req).await
    }
}

fn classify_tls(target: &Target, e: &std::io::Error) -> Failure {
    let what = format!("TLS with {}: {e}", target.host_port());
    // A rustls error (certificate, protocol) comes wrapped as InvalidData; anything else is the
    // connection failing underneath.
    if e.kind() == std::io::ErrorKind::InvalidData {
        Failure::Tls(what)
    } else {
        Failure::Transient(what)
    }
}

async fn round_trip<S>(stream: S, req: Request<Full<Bytes>>) -> Result<Reply, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Transient(format!("HTTP handshake: {e}")))?;
    let conn = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Failure::Transient(format!("HTTP exchange: {e}")))?;
        let (parts, body) = resp.into_parts();
        // A body longer than the cap, or one that breaks off, still leaves a status to judge.
        let body = match Limited::new(body, BODY_CAP).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => Bytes::new(),
        };
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
    .await;
    conn.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let t = Target::parse("https://hooks.example:8443/a/b?x=1").unwrap();
        assert!(t.tls);
        assert_eq!(t.host_port(), "hooks.example:8443");
        assert_eq!(t.path, "/a/b?x=1");
        let t = Target::parse("http://[::1]/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.host_port(), "[::1]:80");
        assert!(Target::parse("ftp://x/").is_err());
        assert!(Target::parse("/relative").is_err());
        assert!(Target::parse("http://user:pw@x/").is_err());
        assert!(Target::parse("not a url").is_err());
        let t = Target::parse("https://hooks.example/services/T0/B0/s3cret?k=v").unwrap();
        assert_eq!(format!("{t:?}"), "Target(https://hooks.example:443)");
    }
}
