//! The `log` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::LogSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `log` probe, built from a [`LogSpec`].
#[derive(Debug)]
pub(crate) struct LogProbe {}

impl LogProbe {
    pub(crate) fn build(_spec: &LogSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for LogProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the log probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
