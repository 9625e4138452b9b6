//! Tocsin's probes: one module per check kind, each turning a [`ProbeSpec`] into a [`Probe`] that
//! runs against its target and returns a [`CheckResult`].
//!
//! A probe never panics and never returns an error because its target is down: a target that is
//! down, slow, or wrong is a result (`critical` with a message that names the phase that failed).
//! [`BuildError`] is for our own faults and bad configuration, found when the probe is built.
//!
//! Shared machinery:
//! - [`ProbeEnv`] holds what every probe shares: the DNS resolver (system configuration), the
//!   system root store (loaded once, on first use) and a cache of rustls client configurations.
//! - `net` resolves and connects with timing, `tls` verifies and describes certificates.
//! - [`AddressGuard`] says which resolved addresses a probe may reach; [`build_guarded`] builds
//!   tenants' checks with it (network kinds only).

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tocsin_core::{CheckResult, ProbeSpec};

mod command;
mod disk;
mod dns;
mod guard;
mod host_metrics;
mod http;
mod icmp;
mod icmp_socket;
mod log;
mod net;
mod process;
mod push;
mod tcp;
mod tls;
mod tls_check;
mod util;

pub use guard::{AddressClass, AddressGuard, Refused};
pub use tls::CaFileError;

/// What every probe shares; build one per process and hand it around in an [`Arc`].
pub struct ProbeEnv {
    net: net::Net,
    tls: tls::TlsEnv,
    icmp: icmp_socket::IcmpSockets,
    state_dir: Option<PathBuf>,
}

impl fmt::Debug for ProbeEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeEnv")
            .field("net", &self.net)
            .field("tls", &self.tls)
            .field("icmp", &self.icmp)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl ProbeEnv {
    /// Sets up the shared DNS resolver from the system configuration.
    ///
    /// If the system DNS configuration cannot be read, the environment is still built: probes of
    /// IP literals work, and probes that need a lookup report the reason as their result.
    pub fn new() -> Result<Self, BuildError> {
        Ok(Self {
            net: net::Net::from_system(),
            tls: tls::TlsEnv::new(),
            icmp: icmp_socket::IcmpSockets::default(),
            state_dir: None,
        })
    }

    /// Gives probes a directory for what they must remember across restarts (a log scanner's
    /// position). Without one, they remember only while the process lives.
    #[must_use]
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = Some(dir.into());
        self
    }

    /// The directory probes keep state in, if any.
    pub fn state_dir(&self) -> Option<&Path> {
        self.state_dir.as_deref()
    }
}

/// What a run needs to know from the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunContext {
    /// The hard limit for the whole run; the probe stops and reports the phase it was in.
    pub timeout: Duration,
    /// When the run started, Unix milliseconds (copied into the result).
    pub started_at_ms: i64,
}

/// A built probe: run it as often as the schedule says.
pub trait Probe: Send + Sync + fmt::Debug {
    /// Runs once. Never panics; a failing target is a `critical` result, not an error. Returns
    /// within `cx.timeout` plus a few milliseconds.
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>>;
}

/// Why a probe could not be built from its spec.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The URL is not an absolute `http://` or `https://` URL with a host.
    #[error("invalid URL {url:?}: {reason}")]
    Url {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP method is not a valid token.
    #[error("invalid HTTP method {0:?}")]
    Method(String),
    /// A request header name or value is not valid.
    #[error("invalid header {name:?}: {reason}")]
    Header {
        /// The header name as written.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `tls.server_name` is not a valid DNS name or IP address.
    #[error("invalid tls.server_name {0:?}")]
    ServerName(String),
    /// `tls.ca_file` could not be used.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
    /// The TLS client configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(String),
    /// An `expect`/`extract` assertion does not compile (bad regex, bad JSONPath, …).
    #[error("{}", join_field_errors(.0))]
    Assertions(Vec<tocsin_core::assert::FieldError>),
    /// A kind that is not a network probe was built with [`AddressGuard::PublicOnly`].
    #[error(
        "{kind} checks are not allowed for tenants (only network probes are: http, tcp, tls, \
         dns, icmp)"
    )]
    KindNotAllowed {
        /// The kind's name, as the YAML key (`command`, `log`, …).
        kind: &'static str,
    },
}

fn join_field_errors(errors: &[tocsin_core::assert::FieldError]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            if e.line > 0 {
                format!("{} ({}:{}): {}", e.field, e.line, e.column, e.message)
            } else {
                format!("{}: {}", e.field, e.message)
            }
        })
        .collect();
    parts.join("; ")
}

/// Builds the probe for `spec`, without address restriction: `build_guarded(spec, env,
/// AddressGuard::Open)`. Reads `tls.ca_file` now, so a missing file is a build error that names
/// the file, not a failing check.
pub fn build(spec: &ProbeSpec, env: &Arc<ProbeEnv>) -> Result<Arc<dyn Probe>, BuildError> {
    build_guarded(spec, env, AddressGuard::Open)
}

/// Builds the probe for `spec` under `guard`: every address the probe connects or sends to (each
/// HTTP redirect hop, the DNS server, the ICMP target) is checked once resolved, and a refused
/// address makes the run `critical` with a message that says which kind of address it is.
///
/// With [`AddressGuard::PublicOnly`] (tenants' checks), kinds that are not network probes
/// (`command`, `log`, `process`, `disk`, `host_metrics`, `push`) are a
/// [`BuildError::KindNotAllowed`].
pub fn build_guarded(
    spec: &ProbeSpec,
    env: &Arc<ProbeEnv>,
    guard: AddressGuard,
) -> Result<Arc<dyn Probe>, BuildError> {
    let local_kind = || -> Result<(), BuildError> {
        match guard {
            AddressGuard::Open => Ok(()),
            AddressGuard::PublicOnly => Err(BuildError::KindNotAllowed { kind: spec.kind() }),
        }
    };
    match spec {
        ProbeSpec::Http(h) => Ok(Arc::new(http::HttpProbe::build(h, env, guard)?)),
        ProbeSpec::Tcp(t) => Ok(Arc::new(tcp::TcpProbe::build(t, env, guard)?)),
        ProbeSpec::Tls(s) => Ok(Arc::new(tls_check::TlsCheckProbe::build(s, env, guard)?)),
        ProbeSpec::Dns(s) => Ok(Arc::new(dns::DnsProbe::build(s, env, guard)?)),
        ProbeSpec::Icmp(s) => Ok(Arc::new(icmp::IcmpProbe::build(s, env, guard)?)),
        ProbeSpec::Command(s) => {
            local_kind()?;
            Ok(Arc::new(command::CommandProbe::build(s, env)?))
        }
        ProbeSpec::Log(s) => {
            local_kind()?;
            Ok(Arc::new(log::LogProbe::build(s, env)?))
        }
        ProbeSpec::Process(s) => {
            local_kind()?;
            Ok(Arc::new(process::ProcessProbe::build(s, env)?))
        }
        ProbeSpec::Disk(s) => {
            local_kind()?;
            Ok(Arc::new(disk::DiskProbe::build(s, env)?))
        }
        ProbeSpec::HostMetrics(s) => {
            local_kind()?;
            Ok(Arc::new(host_metrics::HostMetricsProbe::build(s, env)?))
        }
        ProbeSpec::Push(s) => {
            local_kind()?;
            Ok(Arc::new(push::PushProbe::build(s)))
        }
    }
}
