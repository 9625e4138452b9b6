//! The `dns` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::DnsSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `dns` probe, built from a [`DnsSpec`].
#[derive(Debug)]
pub(crate) struct DnsProbe {}

impl DnsProbe {
    pub(crate) fn build(_spec: &DnsSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for DnsProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the dns probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
