//! The `process` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::ProcessSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `process` probe, built from a [`ProcessSpec`].
#[derive(Debug)]
pub(crate) struct ProcessProbe {}

impl ProcessProbe {
    pub(crate) fn build(_spec: &ProcessSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for ProcessProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the process probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
