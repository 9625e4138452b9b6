//! `host_metrics:` — CPU, load per core, memory and swap of this host, from /proc.
//!
//! The spec is the users' contract (field names are the YAML names); [`HostMetricsSpec::validate`] reports
//! every problem with the field it is in.

use serde::{Deserialize, Serialize};

use crate::assert::FieldError;

/// `host_metrics:` as written in a check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostMetricsSpec {
    /// Placeholder field until the kind is written.
    pub target: String,
}

impl HostMetricsSpec {
    /// Every problem with the spec, fields relative to the check (`host_metrics.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// The host the probe talks to, for per-host limits and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        None
    }
}
