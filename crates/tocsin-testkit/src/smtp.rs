//! A real SMTP server for tests: aiosmtpd (Debian's python3-aiosmtpd) run by `smtp_server.py`
//! (embedded here) with the system Python. Plain SMTP, STARTTLS, implicit TLS and AUTH; every
//! accepted message is kept as a file, read back with [`SmtpServer::messages`].
//!
//! Without aiosmtpd, [`SmtpServer::start`] returns `None` and tests skip with a message —
//! except under CI (`CI` set), where it panics: CI must have the real server.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::pki::{CertKind, TestPki};

const PYTHON: &str = "/usr/bin/python3";
const SCRIPT: &str = include_str!("../smtp_server.py");

/// A running SMTP server; killed when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the system Python has aiosmtpd. Panics under CI when it does not.
pub fn aiosmtpd_available() -> bool {
    let ok = Command::new(PYTHON)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{PYTHON} lacks aiosmtpd (Debian package python3-aiosmtpd); CI must have it"
        );
        eprintln!("SKIPPED: {PYTHON} lacks aiosmtpd (apt install python3-aiosmtpd)");
    }
    ok
}

impl SmtpServer {
    /// Starts a server with `args` (`--starttls`, `--implicit-tls`, `--auth USER:PASSWORD`),
    /// presenting `pki`'s valid certificate when given; `None` when aiosmtpd is missing
    /// (outside CI).
    pub fn start(pki: Option<&TestPki>, args: &[&str]) -> Option<Self> {
        if !aiosmtpd_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary directory");
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SCRIPT).expect("write smtp_server.py");
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).expect("mail directory");
        let mut cmd = Command::new(PYTHON);
        cmd.arg(&script).arg("--dir").arg(&out).args(args);
        if let Some(pki) = pki {
            let leaf = pki.cert(CertKind::Valid);
            let cert = dir.path().join("server.pem");
            let key = dir.path().join("server.key.der");
            std::fs::write(&cert, &leaf.pem).expect("write certificate");
            std::fs::write(&key, leaf.key().secret_der()).expect("write key");
            cmd.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start smtp_server.py");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("smtp_server.py printed {line:?}, not a port"));
        // Keep stdin open (the server exits when it closes): it closes when `child` is dropped.
        let _ = child.stdin.as_mut().map(|s| s.flush());
        Some(Self { child, port, dir })
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The messages received so far, oldest first: `X-Envelope-From`, `X-Envelope-To`,
    /// `X-Tls` and `X-Auth-Login` lines, then the message as received.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("mail"))
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }
}
