//! The `host_metrics` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::HostMetricsSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `host_metrics` probe, built from a [`HostMetricsSpec`].
#[derive(Debug)]
pub(crate) struct HostMetricsProbe {}

impl HostMetricsProbe {
    pub(crate) fn build(_spec: &HostMetricsSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for HostMetricsProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the host_metrics probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
