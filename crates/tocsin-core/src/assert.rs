//! Assertions that turn an HTTP response or a TCP reply into a status and a one-line reason:
//! status code sets, body substring/regex (with invert), JSONPath assertions, response-time
//! thresholds, and `extract` values. Pure: the probe hands over what it received.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Status;
use crate::check::{HttpSpec, TcpSpec};

/// An error in an assertion found while compiling it: the field and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted field path inside the check, e.g. `http.expect.json[0].path`.
    pub field: String,
    /// 1-based line in the file (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

/// What an HTTP probe received, as assertions see it.
#[derive(Clone, Copy, Debug)]
pub struct HttpResponseView<'a> {
    /// Final status code (after redirects).
    pub status: u16,
    /// The body read (at most `max_body` bytes).
    pub body: &'a [u8],
    /// Whether the body was cut at `max_body`.
    pub body_truncated: bool,
    /// Time from the start of the run to the end of the body.
    pub elapsed: Duration,
}

/// The outcome of assertions.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// One line saying why (for ok: a short summary such as `200 OK in 12ms`).
    pub message: String,
    /// `extract` values found.
    pub extracted: BTreeMap<String, serde_json::Value>,
}

/// The compiled `expect` and `extract` of an HTTP check.
#[derive(Clone, Debug)]
pub struct HttpAssertions {
    _private: (),
}

impl HttpAssertions {
    /// Compiles the regexes and JSONPaths of `spec`; every error is returned, each with its place.
    pub fn compile(spec: &HttpSpec) -> Result<Self, Vec<FieldError>> {
        let _ = spec;
        Ok(Self { _private: () })
    }

    /// Judges a response.
    pub fn evaluate(&self, resp: &HttpResponseView<'_>) -> Verdict {
        Verdict { status: Status::Ok, message: format!("{}", resp.status), extracted: BTreeMap::new() }
    }
}

/// The compiled `expect`/`expect_matches` of a TCP check.
#[derive(Clone, Debug)]
pub struct TcpAssertions {
    _private: (),
}

impl TcpAssertions {
    /// Compiles the regex of `spec`.
    pub fn compile(spec: &TcpSpec) -> Result<Self, Vec<FieldError>> {
        let _ = spec;
        Ok(Self { _private: () })
    }

    /// Whether the probe needs to read a reply at all.
    pub fn wants_reply(&self) -> bool {
        false
    }

    /// Whether enough of the reply has arrived to decide (so the probe can stop reading).
    pub fn satisfied_by(&self, reply: &[u8]) -> bool {
        let _ = reply;
        true
    }

    /// Judges the reply: `None` if it passes, else the reason.
    pub fn check(&self, reply: &[u8]) -> Option<String> {
        let _ = reply;
        None
    }
}
