//! `dns:` — query a DNS server and check the answer.
//!
//! The spec is the users' contract (field names are the YAML names); [`DnsSpec::validate`] reports
//! every problem with the field it is in.

use serde::{Deserialize, Serialize};

use crate::assert::FieldError;

/// `dns:` as written in a check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// Placeholder field until the kind is written.
    pub target: String,
}

impl DnsSpec {
    /// Every problem with the spec, fields relative to the check (`dns.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// The host the probe talks to, for per-host limits and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        None
    }
}
