//! The CPU priority of the store's SQLite threads.
//!
//! sqlx runs every SQLite connection on a thread of its own (`sqlx-sqlite-worker-N`), and a
//! write batch keeps that thread busy for tens of milliseconds at a stretch (a WAL checkpoint
//! for over a hundred). On a machine whose cores the runs already keep busy, such a stretch
//! takes a core from the scheduler and the runs for as long, and the checks due meanwhile start
//! late. Results wait in the write-behind's queue at no cost; checks due cannot wait without
//! being late. So the SQLite threads run at a higher nice value (lower priority) than the rest
//! of the process: they still get every idle cycle and a share of a busy machine, but give way
//! to the runs when both want the CPU.
//!
//! The value is process-wide and applies to every SQLite connection opened after it is set
//! (each connection's thread is found by its name under `/proc/self/task` once it is open). An
//! unprivileged process can raise its threads' nice value but not lower it again, so a value
//! lower than a thread already has leaves that thread as it is. Linux only; elsewhere this does
//! nothing. PostgreSQL has no threads in this process.

use std::sync::atomic::{AtomicI32, Ordering};

/// The nice value of the SQLite threads unless [`set_sqlite_nice`] says otherwise.
///
/// 10 gives a thread about a tenth of the CPU share of a thread at 0 when both want a core:
/// enough for the writes to keep up on a busy machine, little enough that a commit no longer
/// delays the runs. At 19 (a sixtieth), HTTP benchmark runs on full cores fell behind by
/// seconds where runs at 10 did not: a store starved of CPU fills its queue, and then the runs
/// wait for room in it.
pub const DEFAULT_SQLITE_NICE: i32 = 10;

/// The highest nice value.
const MAX_NICE: i32 = 19;

static NICE: AtomicI32 = AtomicI32::new(DEFAULT_SQLITE_NICE);

/// Sets the nice value (0 to 19; 0 leaves the threads at the process's priority) of the SQLite
/// threads of connections opened from now on. Values outside the range are clamped.
pub fn set_sqlite_nice(nice: i32) {
    NICE.store(clamp(nice), Ordering::Relaxed);
}

fn clamp(nice: i32) -> i32 {
    nice.clamp(0, MAX_NICE)
}

/// The nice value set by [`set_sqlite_nice`].
pub fn sqlite_nice() -> i32 {
    NICE.load(Ordering::Relaxed)
}

/// Whether a thread named `comm` (as `/proc/…/comm` shows it: at most 15 bytes, then a newline)
/// is one of sqlx's SQLite threads.
fn is_sqlite_thread(comm: &str) -> bool {
    // "sqlx-sqlite-worker-N", cut to 15 bytes by the kernel.
    comm.trim_end().starts_with("sqlx-sqlite-wor")
}

/// Gives every SQLite thread of this process whose nice value is below [`sqlite_nice`] that
/// value. Called once a connection is open.
#[cfg(target_os = "linux")]
pub(crate) fn lower_sqlite_threads() {
    use rustix::process::{Pid, getpriority_process, setpriority_process};

    let wanted = sqlite_nice();
    if wanted <= 0 {
        return;
    }
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return;
    };
    for task in tasks.flatten() {
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if !is_sqlite_thread(&comm) {
            continue;
        }
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse().ok())
            .and_then(Pid::from_raw)
        else {
            continue;
        };
        // On Linux, a thread id given as the process of setpriority is that thread alone.
        match getpriority_process(Some(tid)) {
            Ok(nice) if nice >= wanted => {}
            Ok(_) => {
                if let Err(error) = setpriority_process(Some(tid), wanted) {
                    let tid = tid.as_raw_nonzero();
                    tracing::debug!(%error, tid, "cannot lower a SQLite thread's priority");
                }
            }
            // The thread ended meanwhile.
            Err(_) => {}
        }
    }
}

/// Elsewhere than Linux, threads keep the process's priority.
#[cfg(not(target_os = "linux"))]
pub(crate) fn lower_sqlite_threads() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_threads_are_told_by_their_cut_name() {
        for (comm, expected) in [
            ("sqlx-sqlite-wor\n", true),
            ("sqlx-sqlite-wor", true),
            ("tokio-rt-worker\n", false),
            ("sqlx-postgres\n", false),
            ("tocsin\n", false),
        ] {
            assert_eq!(is_sqlite_thread(comm), expected, "{comm:?}");
        }
    }

    #[test]
    fn the_nice_value_is_clamped_to_the_kernels_range() {
        for (given, kept) in [(-5, 0), (0, 0), (7, 7), (19, 19), (40, 19)] {
            assert_eq!(clamp(given), kept, "{given}");
        }
    }

    /// The nice value of every SQLite thread of this process.
    #[cfg(target_os = "linux")]
    fn sqlite_thread_nices() -> Vec<i32> {
        let mut nices = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if is_sqlite_thread(&comm) {
                let tid: i32 = task.file_name().to_str().unwrap().parse().unwrap();
                let pid = rustix::process::Pid::from_raw(tid);
                nices.push(rustix::process::getpriority_process(pid).unwrap());
            }
        }
        nices
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_store_runs_its_sqlite_threads_at_the_lower_priority() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_sqlite_dir(dir.path()).await.unwrap();
        // The writer and at least one reader are connected by now.
        store.last_results().await.unwrap();
        let nices = sqlite_thread_nices();
        assert!(nices.len() >= 2, "SQLite threads: {nices:?}");
        assert!(
            nices.iter().all(|&n| n >= DEFAULT_SQLITE_NICE),
            "SQLite threads' nice values: {nices:?}"
        );
        store.close().await;
    }
}
