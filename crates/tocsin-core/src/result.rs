//! The result of one check run: status, a one-line reason, metrics, extracted values, timings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Status;

/// A number a probe measured, such as `response_time` in seconds or `days_left`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Name, `[a-z0-9_]+`.
    pub name: String,
    /// The value.
    pub value: f64,
    /// Unit (`s`, `bytes`, `%`, or empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub unit: String,
}

/// How long each phase of a run took, in microseconds. A phase that did not happen is `None`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    /// Name resolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_us: Option<u64>,
    /// TCP connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<u64>,
    /// TLS handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_us: Option<u64>,
    /// From sending the request to the first byte of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_us: Option<u64>,
    /// The whole run.
    pub total_us: u64,
}

impl Timings {
    /// The phases that happened, as (name, microseconds), in order.
    pub fn phases(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("dns", self.dns_us),
            ("connect", self.connect_us),
            ("tls", self.tls_us),
            ("first_byte", self.first_byte_us),
            ("total", Some(self.total_us)),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
    }
}

/// What one run of a check produced.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The status.
    pub status: Status,
    /// One line that says why: `expected status 200, got 503`.
    pub message: String,
    /// When the run started, Unix milliseconds.
    pub started_at_ms: i64,
    /// Phase timings.
    pub timings: Timings,
    /// Measured numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<Metric>,
    /// Values taken from the response (`extract:`), kept for messages.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extracted: BTreeMap<String, serde_json::Value>,
    /// When the peer's certificate expires, Unix seconds (TLS only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<i64>,
}

impl CheckResult {
    /// A result with only a status and a message, the rest empty.
    pub fn new(status: Status, message: impl Into<String>, started_at_ms: i64) -> Self {
        Self {
            status,
            message: message.into(),
            started_at_ms,
            timings: Timings::default(),
            metrics: Vec::new(),
            extracted: BTreeMap::new(),
            cert_not_after: None,
        }
    }

    /// Adds a metric.
    pub fn metric(mut self, name: &str, value: f64, unit: &str) -> Self {
        self.metrics.push(Metric {
            name: name.to_owned(),
            value,
            unit: unit.to_owned(),
        });
        self
    }
}
