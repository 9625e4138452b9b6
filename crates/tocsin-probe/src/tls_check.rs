//! The `tls` probe.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::TlsSpec;
use tocsin_core::{CheckResult, Status};

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `tls` probe, built from a [`TlsSpec`].
#[derive(Debug)]
pub(crate) struct TlsCheckProbe {}

impl TlsCheckProbe {
    pub(crate) fn build(_spec: &TlsSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        Ok(Self {})
    }
}

impl Probe for TlsCheckProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                "the tls probe is not written yet",
                cx.started_at_ms,
            )
        })
    }
}
