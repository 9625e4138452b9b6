//! `icmp:` — ping a host and check loss and round-trip times.
//!
//! The spec is the users' contract (field names are the YAML names); [`IcmpSpec::validate`] reports
//! every problem with the field it is in.

use serde::{Deserialize, Serialize};

use crate::assert::FieldError;

/// `icmp:` as written in a check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpSpec {
    /// Placeholder field until the kind is written.
    pub target: String,
}

impl IcmpSpec {
    /// Every problem with the spec, fields relative to the check (`icmp.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// The host the probe talks to, for per-host limits and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        None
    }
}
