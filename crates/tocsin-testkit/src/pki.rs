//! A throw-away PKI made with rcgen: a CA (its PEM written to a temporary directory so a check can
//! name it in `tls.ca_file`), a valid leaf for `localhost`/`127.0.0.1`, an expired leaf, a
//! self-signed leaf, a leaf for the wrong name, a leaf not valid yet, leaves that expire in 5 and
//! in 20 days, and a leaf signed by an intermediate CA (served with and without the
//! intermediate), plus rustls server configs presenting them.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const DAY: u64 = 86_400;

/// Which leaf certificate a server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, valid from yesterday for 90 days.
    Valid,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expired 3 days ago.
    Expired,
    /// Self-signed, for `localhost` and `127.0.0.1`, otherwise valid.
    SelfSigned,
    /// Signed by the test CA, valid, but only for `wrong.example`.
    WrongName,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, valid from 2 days from now.
    NotYetValid,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expires in 5 days (and 1 hour).
    ExpiresIn5Days,
    /// Signed by the test CA, for `localhost` and `127.0.0.1`, expires in 20 days (and 1 hour).
    ExpiresIn20Days,
    /// Signed by the intermediate CA `Tocsin Test Intermediate` (itself signed by the test CA),
    /// for `localhost` and `127.0.0.1`; the server sends the leaf and the intermediate.
    Chained,
    /// The same kind of leaf as [`CertKind::Chained`], but the server sends the leaf only: the
    /// chain is incomplete.
    MissingIntermediate,
}

/// One leaf certificate with its key.
#[derive(Debug)]
pub struct LeafCert {
    /// The chain a server sends: the leaf, then any intermediates (never the CA, which is the
    /// trust anchor).
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf in PEM.
    pub pem: String,
    /// The leaf's `notAfter`, Unix seconds.
    pub not_after: i64,
    key_pkcs8: Vec<u8>,
}

impl LeafCert {
    /// The private key (PKCS#8 DER).
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()))
    }
}

/// A CA, an intermediate CA and the leaves of [`CertKind`]; the CA PEM lives in a temporary
/// directory removed on drop.
#[derive(Debug)]
pub struct TestPki {
    dir: PathBuf,
    ca_path: PathBuf,
    ca_pem: String,
    valid: LeafCert,
    expired: LeafCert,
    self_signed: LeafCert,
    wrong_name: LeafCert,
    not_yet_valid: LeafCert,
    expires_in_5_days: LeafCert,
    expires_in_20_days: LeafCert,
    chained: LeafCert,
    missing_intermediate: LeafCert,
}

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn leaf_params(
    names: &[&str],
    cn: &str,
    not_before: u64,
    not_after: u64,
) -> io::Result<CertificateParams> {
    let mut params =
        CertificateParams::new(names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .map_err(other)?;
    params.distinguished_name.push(DnType::CommonName, cn);
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(not_before);
    params.not_after = epoch + Duration::from_secs(not_after);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok(params)
}

impl TestPki {
    /// Generates the CA and the leaves and writes the CA PEM to a fresh temporary directory.
    pub fn new() -> io::Result<Self> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let now = unix_now();
        let local = ["localhost", "127.0.0.1"];

        let ca_key = KeyPair::generate().map_err(other)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Tocsin Test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        ca_params.not_before = epoch + Duration::from_secs(now.saturating_sub(60 * DAY));
        ca_params.not_after = epoch + Duration::from_secs(now + 3650 * DAY);
        let ca_cert = ca_params.self_signed(&ca_key).map_err(other)?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let signed = |params: CertificateParams, not_after: u64| -> io::Result<LeafCert> {
            let key = KeyPair::generate().map_err(other)?;
            let cert = params.signed_by(&key, &issuer).map_err(other)?;
            Ok(LeafCert {
                chain: vec![cert.der().clone()],
                pem: cert.pem(),
                not_after: i64::try_from(not_after).unwrap_or(i64::MAX),
                key_pkcs8: key.serialize_der(),
            })
        };
        // A leaf for `localhost`/`127.0.0.1` signed by the CA, valid from `from` to `until`.
        let local_leaf = |from: u64, until: u64| -> io::Result<LeafCert> {
            signed(leaf_params(&local, "localhost", from, until)?, until)
        };

        let valid_until = now + 90 * DAY;
        let valid = signed(
            leaf_params(&local, "localhost", now.saturating_sub(DAY), valid_until)?,
            valid_until,
        )?;
        let expired_at = now.saturating_sub(3 * DAY);
        let expired = signed(
            leaf_params(
                &local,
                "localhost",
                now.saturating_sub(30 * DAY),
                expired_at,
            )?,
            expired_at,
        )?;
        let wrong_name = signed(
            leaf_params(
                &["wrong.example"],
                "wrong.example",
                now.saturating_sub(DAY),
                valid_until,
            )?,
            valid_until,
        )?;
        let not_yet_valid = local_leaf(now + 2 * DAY, valid_until)?;
        let expires_in_5_days = local_leaf(now.saturating_sub(DAY), now + 5 * DAY + 3600)?;
        let expires_in_20_days = local_leaf(now.saturating_sub(DAY), now + 20 * DAY + 3600)?;

        // An intermediate CA signed by the CA, and a leaf it signs.
        let (chained, missing_intermediate) = {
            let key = KeyPair::generate().map_err(other)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(other)?;
            params
                .distinguished_name
                .push(DnType::CommonName, "Tocsin Test Intermediate");
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            params.not_before = epoch + Duration::from_secs(now.saturating_sub(30 * DAY));
            params.not_after = epoch + Duration::from_secs(now + 365 * DAY);
            let inter_cert = params.signed_by(&key, &issuer).map_err(other)?;
            let inter = Issuer::new(params, key);
            let leaf_key = KeyPair::generate().map_err(other)?;
            let leaf = leaf_params(&local, "localhost", now.saturating_sub(DAY), valid_until)?
                .signed_by(&leaf_key, &inter)
                .map_err(other)?;
            let make = |chain: Vec<CertificateDer<'static>>| LeafCert {
                chain,
                pem: leaf.pem(),
                not_after: i64::try_from(valid_until).unwrap_or(i64::MAX),
                key_pkcs8: leaf_key.serialize_der(),
            };
            (
                make(vec![leaf.der().clone(), inter_cert.der().clone()]),
                make(vec![leaf.der().clone()]),
            )
        };

        let self_signed = {
            let key = KeyPair::generate().map_err(other)?;
            let params = leaf_params(
                &local,
                "Tocsin Self-Signed",
                now.saturating_sub(DAY),
                valid_until,
            )?;
            let cert = params.self_signed(&key).map_err(other)?;
            LeafCert {
                chain: vec![cert.der().clone()],
                pem: cert.pem(),
                not_after: i64::try_from(valid_until).unwrap_or(i64::MAX),
                key_pkcs8: key.serialize_der(),
            }
        };

        let dir = std::env::temp_dir().join(format!(
            "tocsin-testkit-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir)?;
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, &ca_pem)?;
        Ok(Self {
            dir,
            ca_path,
            ca_pem,
            valid,
            expired,
            self_signed,
            wrong_name,
            not_yet_valid,
            expires_in_5_days,
            expires_in_20_days,
            chained,
            missing_intermediate,
        })
    }

    /// The CA certificate's PEM file (for `tls.ca_file`).
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_path
    }

    /// The CA PEM file's path as a string, ready for `TlsClientSpec::ca_file`.
    pub fn ca_file(&self) -> String {
        self.ca_path.to_string_lossy().into_owned()
    }

    /// The CA certificate in PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The temporary directory holding the CA PEM (tests may write more files there).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One of the leaves.
    pub fn cert(&self, kind: CertKind) -> &LeafCert {
        match kind {
            CertKind::Valid => &self.valid,
            CertKind::Expired => &self.expired,
            CertKind::SelfSigned => &self.self_signed,
            CertKind::WrongName => &self.wrong_name,
            CertKind::NotYetValid => &self.not_yet_valid,
            CertKind::ExpiresIn5Days => &self.expires_in_5_days,
            CertKind::ExpiresIn20Days => &self.expires_in_20_days,
            CertKind::Chained => &self.chained,
            CertKind::MissingIntermediate => &self.missing_intermediate,
        }
    }

    /// A rustls server config presenting `kind`'s leaf and offering `alpn` (e.g. `["h2"]`).
    pub fn server_config(&self, kind: CertKind, alpn: &[&str]) -> io::Result<Arc<ServerConfig>> {
        let leaf = self.cert(kind);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(other)?
            .with_no_client_auth()
            .with_single_cert(leaf.chain.clone(), leaf.key())
            .map_err(other)?;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
