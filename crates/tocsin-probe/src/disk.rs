//! The `disk` probe: `statvfs` on a path, judged by [`DiskSpec::judge`] (free and used space as
//! a percentage or a size, free and used inodes).
//!
//! `statvfs` runs on tokio's blocking pool under the run's deadline: on a hung network file
//! system it can block for minutes, and the run must still end in time with a message.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use tocsin_core::kinds::DiskSpec;
use tocsin_core::kinds::disk::DiskUsage;
use tocsin_core::kinds::limits::worst;
use tocsin_core::{CheckResult, Status};

use crate::util::{Deadline, Gathered, io_message, round2};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// The `disk` probe, built from a [`DiskSpec`].
#[derive(Debug)]
pub(crate) struct DiskProbe {
    spec: DiskSpec,
}

impl DiskProbe {
    pub(crate) fn build(spec: &DiskSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        let errors = spec.validate();
        if !errors.is_empty() {
            return Err(BuildError::Assertions(errors));
        }
        Ok(Self { spec: spec.clone() })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let g = Gathered::default();
        let path = self.spec.path.value.clone();
        let task = tokio::task::spawn_blocking({
            let path = path.clone();
            move || measure(&path)
        });
        let usage = match deadline.run(task).await {
            None => Err((
                Status::Critical,
                format!(
                    "statvfs {path} timed out after {} (a hung network file system?)",
                    deadline.timeout()
                ),
            )),
            Some(Err(e)) => Err((Status::Unknown, format!("statvfs {path} failed: {e}"))),
            Some(Ok(Err(e))) => Err((
                Status::Critical,
                format!("cannot measure {path}: {}", io_message(&e)),
            )),
            Some(Ok(Ok(u))) => Ok(u),
        };
        let u = match usage {
            Ok(u) => u,
            Err((status, message)) => {
                return g.result(status, message, cx.started_at_ms, deadline.elapsed());
            }
        };
        let (status, message) =
            worst(&self.spec.judge(&u)).unwrap_or_else(|| (Status::Ok, self.spec.summary(&u)));
        let mut r = g
            .result(status, message, cx.started_at_ms, deadline.elapsed())
            .metric("used_percent", round2(u.used_percent()), "%")
            .metric("free_percent", round2(u.free_percent()), "%")
            .metric("used_bytes", u.used_bytes as f64, "bytes")
            .metric("free_bytes", u.free_bytes as f64, "bytes")
            .metric("total_bytes", u.total_bytes as f64, "bytes");
        if let (Some(used), Some(pct)) = (u.inodes_used(), u.inodes_used_percent()) {
            r = r
                .metric("inodes_used_percent", round2(pct), "%")
                .metric("inodes_used", used as f64, "")
                .metric("inodes_free", u.inodes_free as f64, "")
                .metric("inodes_total", u.inodes_total as f64, "");
        }
        r
    }
}

/// `statvfs(path)` in bytes and inodes.
fn measure(path: &str) -> io::Result<DiskUsage> {
    let s = rustix::fs::statvfs(path)?;
    // f_frsize is the unit of the block counts; some old file systems leave it 0.
    let unit = if s.f_frsize > 0 {
        s.f_frsize
    } else {
        s.f_bsize
    };
    let bytes = |blocks: u64| blocks.saturating_mul(unit);
    Ok(DiskUsage {
        total_bytes: bytes(s.f_blocks),
        used_bytes: bytes(s.f_blocks.saturating_sub(s.f_bfree)),
        free_bytes: bytes(s.f_bavail),
        inodes_total: s.f_files,
        inodes_free: s.f_ffree,
    })
}

impl Probe for DiskProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_the_root_file_system() {
        let u = measure("/").unwrap();
        assert!(u.total_bytes > 0);
        assert!(u.used_bytes <= u.total_bytes);
        assert!(u.free_bytes <= u.total_bytes);
    }

    #[test]
    fn errors_read_well() {
        let e = measure("/no/such/path/here").unwrap_err();
        assert_eq!(io_message(&e), "No such file or directory");
    }
}
