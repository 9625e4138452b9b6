//! Real servers on `127.0.0.1:0` for Tocsin's tests and benchmarks: an HTTP(S) server with routes
//! that answer, fail, stall, drip, redirect and echo; raw TCP servers (stall, banner, echo); and a
//! throw-away PKI (a CA, a valid leaf, an expired leaf, a self-signed leaf, a wrong-name leaf).
//!
//! Every server binds `127.0.0.1:0`, reports its address and shuts down when dropped. Call
//! [`init`] once at the start of every test that uses TLS.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! tocsin_testkit::init();
//! let server = tocsin_testkit::HttpServer::start().await?;
//! let url = server.url("/ok"); // http://127.0.0.1:PORT/ok
//! # let _ = url; Ok(()) }
//! ```

mod dns;
mod http;
mod pki;
mod smtp;
mod starttls;
mod tcp;

pub use dns::DnsServer;
pub use http::{HUGE_BODY_BYTES, HttpServer, RecordedRequest, ServerHandle};
pub use pki::{CertKind, LeafCert, TestPki};
pub use smtp::{SmtpServer, aiosmtpd_available};
pub use starttls::StartTlsServer;
pub use tcp::{TcpServer, refused_addr};

/// Installs the aws-lc-rs crypto provider as rustls' process default (once; later calls and an
/// already-installed provider are fine).
pub fn init() {
    let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
