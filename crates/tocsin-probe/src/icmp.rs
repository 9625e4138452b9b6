//! The `icmp` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::IcmpSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `icmp` probe, built from a [`IcmpSpec`].
#[derive(Debug)]
pub(crate) struct IcmpProbe {}

impl IcmpProbe {
    pub(crate) fn build(_spec: &IcmpSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for IcmpProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the icmp probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
