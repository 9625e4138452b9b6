//! The `disk` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::DiskSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `disk` probe, built from a [`DiskSpec`].
#[derive(Debug)]
pub(crate) struct DiskProbe {}

impl DiskProbe {
    pub(crate) fn build(_spec: &DiskSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for DiskProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the disk probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
