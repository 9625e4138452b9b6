//! `command:` — run a Nagios plugin, a SlapOS promise or any command and read its verdict.
//!
//! The spec is the users' contract (field names are the YAML names); [`CommandSpec::validate`] reports
//! every problem with the field it is in.

use serde::{Deserialize, Serialize};

use crate::assert::FieldError;

/// `command:` as written in a check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// Placeholder field until the kind is written.
    pub target: String,
}

impl CommandSpec {
    /// Every problem with the spec, fields relative to the check (`command.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        Vec::new()
    }

    /// The host the probe talks to, for per-host limits and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        None
    }
}
