//! The `push` probe. A push check gets its results from outside (`POST /api/v1/push/{id}`); the
//! engine, not a probe, judges the deadline, because only it knows when the last result arrived.
//! Run on its own (`tocsin check`), there is nothing to do but say so.

use std::future::Future;
use std::pin::Pin;

use tocsin_core::kinds::PushSpec;
use tocsin_core::{CheckResult, Dur, Status};

use crate::{Probe, RunContext};

/// The `push` probe, built from a [`PushSpec`].
#[derive(Debug)]
pub(crate) struct PushProbe {
    within: Dur,
}

impl PushProbe {
    pub(crate) fn build(spec: &PushSpec) -> Self {
        Self {
            within: spec.within,
        }
    }
}

impl Probe for PushProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(async move {
            CheckResult::new(
                Status::Unknown,
                format!(
                    "a push check has nothing to run: it expects a result through the API every {}",
                    self.within
                ),
                cx.started_at_ms,
            )
        })
    }
}
