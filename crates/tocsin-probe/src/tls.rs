//! TLS for probes: cached rustls client configurations (verify on/off, a custom CA file or the
//! system roots, ALPN), the handshake with timing, and certificate facts for results.
//!
//! Verification goes through our own [`ServerCertVerifier`], which delegates to rustls'
//! `WebPkiServerVerifier`. When verification fails it parses the peer's leaf certificate (with
//! x509-parser) and returns a precise reason — `certificate expired 3 days ago (not after …)`,
//! `certificate is self-signed`, `certificate not valid for name "x"` — together with the leaf's
//! `notAfter`, carried inside the rustls error so the probe can report both even though the
//! handshake failed. When verification succeeds, or is off, the chain is read back from the
//! connection. Session resumption is disabled so that every run sees (and verifies) the
//! certificate.
//!
//! The `tls` check kind handshakes with verification off, reads the whole chain, and judges it
//! itself with [`TlsEnv::roots`], [`LeafInfo`] and rustls' chain and name checks, so that it can
//! describe every problem of a certificate rather than the first one that stops a handshake.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tocsin_core::check::TlsClientSpec;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::BuildError;
use crate::net::ip_literal;
use crate::util::{Deadline, Failure, Gathered, fmt_age, fmt_timestamp};

/// `tls.ca_file` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file could not be read.
    #[error("tls.ca_file {path:?}: cannot read it: {source}")]
    Read {
        /// The path as written.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not a PEM bundle of usable CA certificates.
    #[error("tls.ca_file {path:?}: {reason}")]
    Invalid {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ConfigKey {
    verify: bool,
    /// The CA file's certificates (DER), or `None` for the system roots.
    ca: Option<Vec<Vec<u8>>>,
    alpn: Vec<Vec<u8>>,
}

/// The TLS half of [`crate::ProbeEnv`].
pub(crate) struct TlsEnv {
    provider: Arc<CryptoProvider>,
    system_roots: OnceLock<Arc<RootCertStore>>,
    configs: Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>,
}

impl fmt::Debug for TlsEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.configs.lock().map(|c| c.len()).unwrap_or(0);
        f.debug_struct("TlsEnv")
            .field("system_roots", &self.system_roots.get().map(|r| r.len()))
            .field("cached_configs", &cached)
            .finish()
    }
}

impl TlsEnv {
    pub(crate) fn new() -> Self {
        Self {
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            system_roots: OnceLock::new(),
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// The crypto provider (its signature algorithms verify chains).
    pub(crate) fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }

    /// The trust anchors: the certificates of `ca_file`, or the system's roots (possibly empty,
    /// when the system has none). Reads `ca_file` now.
    pub(crate) fn roots(&self, ca_file: Option<&str>) -> Result<Arc<RootCertStore>, BuildError> {
        let Some(path) = ca_file else {
            return Ok(self.system_roots());
        };
        let mut roots = RootCertStore::empty();
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| CaFileError::Invalid {
                path: path.to_owned(),
                reason: format!("unusable CA certificate: {e}"),
            })?;
        }
        Ok(Arc::new(roots))
    }

    fn system_roots(&self) -> Arc<RootCertStore> {
        self.system_roots
            .get_or_init(|| {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!(error = %e, "while loading the system's trusted certificates");
                }
                let mut roots = RootCertStore::empty();
                let (added, ignored) = roots.add_parsable_certificates(found.certs);
                tracing::debug!(added, ignored, "loaded system root certificates");
                Arc::new(roots)
            })
            .clone()
    }

    /// The client configuration for `spec` offering `alpn`, shared between probes with the same
    /// settings. Reads `spec.ca_file` (every time: a changed file is seen on the next build).
    pub(crate) fn client_config(
        &self,
        spec: &TlsClientSpec,
        alpn: &[&[u8]],
    ) -> Result<Arc<ClientConfig>, BuildError> {
        let ca = match (&spec.ca_file, spec.verify) {
            (Some(path), true) => Some(read_ca_file(path)?),
            _ => None,
        };
        let key = ConfigKey {
            verify: spec.verify,
            ca: ca
                .as_ref()
                .map(|certs| certs.iter().map(|c| c.to_vec()).collect()),
            alpn: alpn.iter().map(|p| p.to_vec()).collect(),
        };
        if let Some(c) = self
            .configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(c.clone());
        }
        let mode = if !spec.verify {
            Mode::Off
        } else {
            let roots = match ca {
                Some(certs) => {
                    let mut roots = RootCertStore::empty();
                    for cert in certs {
                        roots.add(cert).map_err(|e| CaFileError::Invalid {
                            path: spec.ca_file.clone().unwrap_or_default(),
                            reason: format!("unusable CA certificate: {e}"),
                        })?;
                    }
                    Arc::new(roots)
                }
                None => self.system_roots(),
            };
            if roots.is_empty() {
                Mode::NoRoots
            } else {
                let v = WebPkiServerVerifier::builder_with_provider(roots, self.provider.clone())
                    .build()
                    .map_err(|e| BuildError::Tls(e.to_string()))?;
                Mode::WebPki(v)
            }
        };
        let verifier = Arc::new(Verifier {
            mode,
            provider: self.provider.clone(),
        });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| BuildError::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = key.alpn.clone();
        config.resumption = Resumption::disabled();
        let config = Arc::new(config);
        self.configs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, config.clone());
        Ok(config)
    }
}

fn read_ca_file(path: &str) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let bytes = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::Invalid {
            path: path.to_owned(),
            reason: format!("bad PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Invalid {
            path: path.to_owned(),
            reason: "no CERTIFICATE found in the file".to_owned(),
        });
    }
    Ok(certs)
}

/// The TLS name for `host`: an IP address or a DNS name.
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    if let Some(ip) = ip_literal(host) {
        return Some(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).ok()
}

/// Runs the TLS handshake on `tcp`, timed into `g.timings.tls_us`; records the peer's
/// `notAfter` in `g.cert_not_after` (also when verification fails, if a certificate was seen).
pub(crate) async fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    tcp: TcpStream,
    peer: SocketAddr,
    deadline: &Deadline,
    g: &mut Gathered,
) -> Result<TlsStream<TcpStream>, Failure> {
    let connector = TlsConnector::from(config);
    let t0 = Instant::now();
    let done = deadline.run(connector.connect(name, tcp)).await;
    Gathered::add(&mut g.timings.tls_us, t0.elapsed());
    match done {
        None => Err(Failure::new(format!(
            "tls handshake with {peer} timed out after {}",
            deadline.timeout()
        ))),
        Some(Err(e)) => {
            let (message, not_after) = describe_handshake_error(&e);
            if not_after.is_some() {
                g.cert_not_after = not_after;
            }
            Err(Failure::new(message))
        }
        Some(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            g.cert_not_after = conn
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| LeafInfo::parse(leaf))
                .map(|info| info.not_after);
            Ok(stream)
        }
    }
}

fn describe_handshake_error(e: &io::Error) -> (String, Option<i64>) {
    if let Some(rerr) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        if let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = rerr
            && let Some(failure) = other.0.downcast_ref::<CertFailure>()
        {
            return (failure.message.clone(), failure.not_after);
        }
        return (format!("tls handshake failed: {rerr}"), None);
    }
    let message = match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            "tls handshake failed: the server closed the connection".to_owned()
        }
        io::ErrorKind::ConnectionReset => {
            "tls handshake failed: the server reset the connection".to_owned()
        }
        _ => format!("tls handshake failed: {e}"),
    };
    (message, None)
}

/// Facts about a certificate (usually the leaf), for messages and results.
#[derive(Debug)]
pub(crate) struct LeafInfo {
    /// Start of validity, Unix seconds.
    pub(crate) not_before: i64,
    /// End of validity, Unix seconds.
    pub(crate) not_after: i64,
    /// Subject and issuer are the same name.
    pub(crate) self_signed: bool,
    /// The subject, as text (`CN=localhost`).
    pub(crate) subject: String,
    /// The issuer, as text.
    pub(crate) issuer: String,
    /// The DNS and IP subject alternative names, else the common name.
    pub(crate) names: Vec<String>,
    /// The serial number in hex (`1a:2b:…`).
    pub(crate) serial: String,
    /// The subject, DER (to find a certificate's issuer by name).
    pub(crate) subject_der: Vec<u8>,
    /// The issuer, DER.
    pub(crate) issuer_der: Vec<u8>,
}

impl LeafInfo {
    /// Reads `der`; `None` if it is not an X.509 certificate x509-parser can read.
    pub(crate) fn parse(der: &CertificateDer<'_>) -> Option<Self> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for gn in &san.value.general_names {
                match gn {
                    GeneralName::DNSName(n) => names.push((*n).to_owned()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                            names.push(IpAddr::from(Ipv4Addr::from(v4)).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                            names.push(IpAddr::from(Ipv6Addr::from(v6)).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        if names.is_empty()
            && let Some(cn) = cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
        {
            names.push(cn.to_owned());
        }
        Some(Self {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            names,
            serial: cert.raw_serial_as_string(),
            subject_der: cert.subject().as_raw().to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
        })
    }
}

/// A verification failure explained, carried through rustls inside `CertificateError::Other`.
#[derive(Debug)]
struct CertFailure {
    message: String,
    not_after: Option<i64>,
}

impl fmt::Display for CertFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CertFailure {}

#[derive(Debug)]
enum Mode {
    /// `verify: false`: any certificate is accepted (handshake signatures are still checked).
    Off,
    /// Chain and name verified against these roots.
    WebPki(Arc<WebPkiServerVerifier>),
    /// Verification asked for, but there is nothing to trust.
    NoRoots,
}

#[derive(Debug)]
struct Verifier {
    mode: Mode,
    provider: Arc<CryptoProvider>,
}

fn explain(
    err: &rustls::Error,
    leaf: Option<&LeafInfo>,
    name: &ServerName<'_>,
    now: UnixTime,
) -> String {
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let valid_for = || match leaf {
        Some(l) if !l.names.is_empty() => format!(" (it is for {})", l.names.join(", ")),
        _ => String::new(),
    };
    let expired = |not_after: i64| {
        format!(
            "certificate expired {} ago (not after {})",
            fmt_age(now - not_after),
            fmt_timestamp(not_after)
        )
    };
    match err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::ExpiredContext { not_after, .. } => {
                expired(i64::try_from(not_after.as_secs()).unwrap_or(i64::MAX))
            }
            CertificateError::Expired => match leaf {
                Some(l) => expired(l.not_after),
                None => "certificate expired".to_owned(),
            },
            CertificateError::NotValidYetContext { not_before, .. } => {
                let nb = i64::try_from(not_before.as_secs()).unwrap_or(i64::MAX);
                format!(
                    "certificate not valid yet: valid in {} (not before {})",
                    fmt_age(nb - now),
                    fmt_timestamp(nb)
                )
            }
            CertificateError::NotValidYet => "certificate not valid yet".to_owned(),
            CertificateError::UnknownIssuer => match leaf {
                Some(l) if l.self_signed => "certificate is self-signed".to_owned(),
                Some(l) => format!("certificate has an unknown issuer ({})", l.issuer),
                None => "certificate has an unknown issuer".to_owned(),
            },
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "certificate not valid for name {:?}{}",
                    name.to_str(),
                    valid_for()
                )
            }
            CertificateError::Revoked => "certificate is revoked".to_owned(),
            other => format!("certificate verification failed: {other:?}"),
        },
        other => format!("certificate verification failed: {other}"),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let err = match &self.mode {
            Mode::Off => return Ok(ServerCertVerified::assertion()),
            Mode::WebPki(v) => {
                match v.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    now,
                ) {
                    Ok(ok) => return Ok(ok),
                    Err(e) => e,
                }
            }
            Mode::NoRoots => rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        };
        let leaf = LeafInfo::parse(end_entity);
        let mut message = explain(&err, leaf.as_ref(), server_name, now);
        if matches!(self.mode, Mode::NoRoots) {
            message.push_str(" (no trusted root certificates on this system)");
        }
        let failure = CertFailure {
            message,
            not_after: leaf.map(|l| l.not_after),
        };
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(failure)),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_accept_ips_and_dns_names() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("[::1]"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("example.com"),
            Some(ServerName::DnsName(_))
        ));
        assert!(server_name("bad name!").is_none());
    }

    #[test]
    fn missing_ca_file_names_the_file() {
        let env = TlsEnv::new();
        let spec = TlsClientSpec {
            verify: true,
            ca_file: Some("/nonexistent/tocsin-ca.pem".into()),
            server_name: None,
        };
        let err = env.client_config(&spec, &[]).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/tocsin-ca.pem"), "{err}");
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn configs_are_cached_per_settings() {
        let env = TlsEnv::new();
        let off = TlsClientSpec {
            verify: false,
            ca_file: None,
            server_name: None,
        };
        let a = env.client_config(&off, &[b"h2"]).unwrap();
        let b = env.client_config(&off, &[b"h2"]).unwrap();
        let c = env.client_config(&off, &[b"http/1.1"]).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
