//! The `command` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::CommandSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `command` probe, built from a [`CommandSpec`].
#[derive(Debug)]
pub(crate) struct CommandProbe {}

impl CommandProbe {
    pub(crate) fn build(_spec: &CommandSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for CommandProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the command probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
