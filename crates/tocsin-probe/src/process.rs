//! The `process` probe: list /proc, keep the processes that match the name, the command-line
//! regex and the user, and measure their CPU and resident memory; judged by
//! [`ProcessSpec::judge`].
//!
//! /proc is parsed by hand (`/proc/PID/stat`, `status`, `cmdline`): three small formats, which
//! spares a dependency. Listing reads a few files per process, hundreds of reads on a busy
//! host, so it runs on tokio's blocking pool under the run's deadline.
//!
//! CPU needs two readings of each process's CPU time. The probe keeps the previous run's
//! reading, so from the second run on `cpu_percent` is the average since the previous run. On
//! the first run (or when the previous reading is less than a second old) it reads twice,
//! 250 ms apart (at most a quarter of the timeout). A process is known by its pid and start
//! time, so a reused pid is not mistaken for the old process. The probe's own process and
//! zombies never count.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use regex::Regex;
use serde_json::Value;
use tocsin_core::kinds::ProcessSpec;
use tocsin_core::kinds::limits::worst;
use tocsin_core::kinds::process::{ProcessTotals, UserRef};
use tocsin_core::{CheckResult, Status};
use tokio::time::Instant;

use crate::util::{Deadline, Gathered, round2};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// How far apart the two readings of a first run are (at most a quarter of the timeout).
const SAMPLE: Duration = Duration::from_millis(250);
/// A previous reading younger than this is too close for a meaningful average.
const MIN_GAP: Duration = Duration::from_secs(1);
/// Pids listed in `extracted`.
const MAX_PIDS_SHOWN: usize = 20;
/// The kernel keeps this many bytes of a process name (`TASK_COMM_LEN` − 1).
const COMM_LEN: usize = 15;

/// The `process` probe, built from a [`ProcessSpec`].
pub(crate) struct ProcessProbe {
    spec: ProcessSpec,
    filter: Arc<Filter>,
    prev: Mutex<Option<Reading>>,
}

impl fmt::Debug for ProcessProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessProbe")
            .field("filter", &self.spec.filter())
            .finish_non_exhaustive()
    }
}

/// What a process must be to count.
#[derive(Debug)]
struct Filter {
    name: Option<String>,
    cmdline: Option<Regex>,
    user: Option<UserRef>,
    /// Our own pid: never counted.
    me: u32,
}

/// One matching process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Proc {
    pid: u32,
    /// Start time, clock ticks after boot: with the pid, the identity of a process.
    start: u64,
    /// utime + stime, clock ticks.
    ticks: u64,
    /// Resident memory, bytes.
    rss: u64,
}

/// The CPU time of the matches at an instant.
#[derive(Debug)]
struct Reading {
    at: Instant,
    ticks: HashMap<(u32, u64), u64>,
}

impl Reading {
    fn of(at: Instant, procs: &[Proc]) -> Self {
        Self {
            at,
            ticks: procs.iter().map(|p| ((p.pid, p.start), p.ticks)).collect(),
        }
    }

    /// CPU of `procs` since this reading, in percent of one core. A process absent from this
    /// reading started since, so all its time counts.
    fn cpu_until(&self, at: Instant, procs: &[Proc], ticks_per_sec: u64) -> f64 {
        let secs = at.saturating_duration_since(self.at).as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        let used: u64 = procs
            .iter()
            .map(|p| {
                let before = self.ticks.get(&(p.pid, p.start)).copied().unwrap_or(0);
                p.ticks.saturating_sub(before)
            })
            .sum();
        used as f64 / ticks_per_sec.max(1) as f64 / secs * 100.0
    }
}

/// The fields of `/proc/PID/stat` the probe uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    pub(crate) comm: String,
    pub(crate) state: char,
    pub(crate) ticks: u64,
    pub(crate) start: u64,
}

/// Parses `/proc/PID/stat`: `1234 (name with) spaces) S 1 … utime stime … starttime …`. The
/// name is everything between the first `(` and the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = text.get(close + 1..)?.split_ascii_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ticks: field(14)?.saturating_add(field(15)?),
        start: field(22)?,
    })
}

/// From `/proc/PID/status`: the effective uid and the resident memory in bytes (0 for kernel
/// threads, which have no `VmRSS`).
pub(crate) fn parse_status(text: &str) -> (Option<u32>, u64) {
    let mut euid = None;
    let mut rss = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Uid:") {
            euid = v
                .split_ascii_whitespace()
                .nth(1)
                .and_then(|u| u.parse().ok());
        } else if let Some(v) = line.strip_prefix("VmRSS:") {
            let kib: u64 = v
                .split_ascii_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            rss = kib.saturating_mul(1024);
        }
    }
    (euid, rss)
}

/// `/proc/PID/cmdline` as text: arguments separated by NULs become spaces.
pub(crate) fn cmdline_text(raw: &[u8]) -> String {
    let trimmed = raw.strip_suffix(b"\0").unwrap_or(raw);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

/// The base name of `argv[0]` in a raw `/proc/PID/cmdline`.
fn argv0_base(raw: &[u8]) -> &[u8] {
    let argv0 = raw.split(|b| *b == 0).next().unwrap_or(raw);
    argv0.rsplit(|b| *b == b'/').next().unwrap_or(argv0)
}

/// The uid of `name` in the text of /etc/passwd.
pub(crate) fn passwd_uid(passwd: &str, name: &str) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Whether a process is `want` by name: its kernel name is `want`, or `want` is longer than
/// the kernel keeps, the kernel name is its beginning, and `argv[0]`'s base name is `want`.
fn name_matches(want: &str, comm: &str, cmdline: impl FnOnce() -> Option<Vec<u8>>) -> bool {
    if comm == want {
        return true;
    }
    if want.len() <= COMM_LEN || want.as_bytes().get(..COMM_LEN) != Some(comm.as_bytes()) {
        return false;
    }
    cmdline().is_some_and(|raw| argv0_base(&raw) == want.as_bytes())
}

impl Filter {
    /// Lists the processes that match, from /proc.
    fn scan(&self) -> Result<Vec<Proc>, String> {
        let uid = match &self.user {
            None => None,
            Some(UserRef::Uid(u)) => Some(*u),
            Some(UserRef::Name(n)) => {
                let passwd = std::fs::read_to_string("/etc/passwd")
                    .map_err(|e| format!("cannot read /etc/passwd to find user {n:?}: {e}"))?;
                Some(
                    passwd_uid(&passwd, n)
                        .ok_or_else(|| format!("user {n:?} is not in /etc/passwd"))?,
                )
            }
        };
        let dir = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
        let mut out = Vec::new();
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if pid == self.me {
                continue;
            }
            // A process may exit at any moment: whatever cannot be read is skipped.
            let read = |file: &str| std::fs::read(format!("/proc/{pid}/{file}")).ok();
            let Some(stat) = read("stat").and_then(|b| parse_stat(&String::from_utf8_lossy(&b)))
            else {
                continue;
            };
            if matches!(stat.state, 'Z' | 'X' | 'x') {
                continue;
            }
            let mut cmdline: Option<Vec<u8>> = None;
            if let Some(want) = &self.name
                && !name_matches(want, &stat.comm, || {
                    cmdline = read("cmdline");
                    cmdline.clone()
                })
            {
                continue;
            }
            let Some(status) = read("status") else {
                continue;
            };
            let (euid, rss) = parse_status(&String::from_utf8_lossy(&status));
            if uid.is_some() && euid != uid {
                continue;
            }
            if let Some(re) = &self.cmdline {
                let raw = match cmdline.take() {
                    Some(c) => c,
                    None => match read("cmdline") {
                        Some(c) => c,
                        None => continue,
                    },
                };
                if !re.is_match(&cmdline_text(&raw)) {
                    continue;
                }
            }
            out.push(Proc {
                pid,
                start: stat.start,
                ticks: stat.ticks,
                rss,
            });
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }
}

impl ProcessProbe {
    pub(crate) fn build(spec: &ProcessSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        let errors = spec.validate();
        if !errors.is_empty() {
            return Err(BuildError::Assertions(errors));
        }
        let cmdline = match spec.cmdline_regex() {
            Some(Ok(re)) => Some(re),
            // Validation compiled it already; this is only for completeness.
            Some(Err(m)) => {
                return Err(BuildError::Assertions(vec![
                    tocsin_core::assert::FieldError::nowhere("process.cmdline", m),
                ]));
            }
            None => None,
        };
        Ok(Self {
            filter: Arc::new(Filter {
                name: spec.name.as_ref().map(|n| n.value.clone()),
                cmdline,
                user: spec.user.as_ref().map(|u| u.value.clone()),
                me: std::process::id(),
            }),
            spec: spec.clone(),
            prev: Mutex::new(None),
        })
    }

    /// One listing on the blocking pool, within the deadline; the instant it finished.
    async fn scan(&self, deadline: &Deadline) -> Result<(Vec<Proc>, Instant), String> {
        let filter = self.filter.clone();
        match deadline
            .run(tokio::task::spawn_blocking(move || filter.scan()))
            .await
        {
            None => Err(format!(
                "listing processes timed out after {}",
                deadline.timeout()
            )),
            Some(Err(e)) => Err(format!("listing processes failed: {e}")),
            Some(Ok(r)) => r.map(|p| (p, Instant::now())),
        }
    }

    /// The matches and their CPU in percent of one core.
    async fn measure(
        &self,
        deadline: &Deadline,
        timeout: Duration,
    ) -> Result<(Vec<Proc>, f64), String> {
        let (first, at) = self.scan(deadline).await?;
        let tps = rustix::param::clock_ticks_per_second();
        let prev = self
            .prev
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .filter(|p| p.at.elapsed() >= MIN_GAP);
        let (procs, cpu, at) = match prev {
            Some(p) => {
                let cpu = p.cpu_until(at, &first, tps);
                (first, cpu, at)
            }
            None if first.is_empty() => (first, 0.0, at),
            None => {
                let before = Reading::of(at, &first);
                if deadline
                    .run(tokio::time::sleep(SAMPLE.min(timeout / 4)))
                    .await
                    .is_none()
                {
                    return Err(format!("timed out after {}", deadline.timeout()));
                }
                let (second, at) = self.scan(deadline).await?;
                let cpu = before.cpu_until(at, &second, tps);
                (second, cpu, at)
            }
        };
        *self.prev.lock().unwrap_or_else(PoisonError::into_inner) = Some(Reading::of(at, &procs));
        Ok((procs, cpu))
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let g = Gathered::default();
        let (procs, cpu) = match self.measure(&deadline, cx.timeout).await {
            Ok(v) => v,
            Err(m) => return g.result(Status::Unknown, m, cx.started_at_ms, deadline.elapsed()),
        };
        let totals = ProcessTotals {
            count: procs.len() as u64,
            cpu_percent: cpu,
            rss_bytes: procs.iter().map(|p| p.rss).sum(),
        };
        let (status, message) = worst(&self.spec.judge(&totals))
            .unwrap_or_else(|| (Status::Ok, self.spec.summary(&totals)));
        let mut r = g
            .result(status, message, cx.started_at_ms, deadline.elapsed())
            .metric("processes", totals.count as f64, "")
            .metric("cpu_percent", round2(cpu), "%")
            .metric("rss_bytes", totals.rss_bytes as f64, "bytes");
        let pids: Vec<Value> = procs
            .iter()
            .take(MAX_PIDS_SHOWN)
            .map(|p| Value::from(p.pid))
            .collect();
        r.extracted.insert("pids".into(), Value::Array(pids));
        r
    }
}

impl Probe for ProcessProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_table() {
        let s = parse_stat(
            "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 \
             5555 1000000 200 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
        )
        .unwrap();
        assert_eq!(
            s,
            Stat {
                comm: "my (odd) name".into(),
                state: 'S',
                ticks: 100,
                start: 5555
            }
        );
        for bad in ["", "1234 (x", "1234 (x) S 1 2", "1234 x) S"] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn status_table() {
        let text =
            "Name:\tsleep\nUid:\t1000\t1001\t1000\t1000\nGid:\t1\t1\t1\t1\nVmRSS:\t    2048 kB\n";
        assert_eq!(parse_status(text), (Some(1001), 2048 * 1024));
        assert_eq!(
            parse_status("Name:\tkthreadd\nUid:\t0\t0\t0\t0\n"),
            (Some(0), 0)
        );
        assert_eq!(parse_status(""), (None, 0));
    }

    #[test]
    fn command_lines() {
        assert_eq!(cmdline_text(b"sleep\x0030\x00"), "sleep 30");
        assert_eq!(
            cmdline_text(b"nginx: master process"),
            "nginx: master process"
        );
        assert_eq!(cmdline_text(b""), "");
        assert_eq!(argv0_base(b"/usr/bin/python3\x00x.py\x00"), b"python3");
        assert_eq!(argv0_base(b"sleep\x001"), b"sleep");
    }

    #[test]
    fn names_as_pgrep_x() {
        let none = || None;
        assert!(name_matches("sleep", "sleep", none));
        assert!(!name_matches("slee", "sleep", none));
        assert!(!name_matches("sleep", "sleeper", none));
        let long = "a-very-long-daemon-name";
        let comm = &long[..15];
        assert!(name_matches(long, comm, || Some(
            b"/opt/bin/a-very-long-daemon-name\0-x\0".to_vec()
        )));
        assert!(!name_matches(long, comm, || Some(
            b"/opt/bin/a-very-long-daemon\0".to_vec()
        )));
        assert!(!name_matches(long, comm, none));
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\nwww-data:x:33:33::/var/www:/usr/sbin/nologin\nbad\n";
        assert_eq!(passwd_uid(passwd, "root"), Some(0));
        assert_eq!(passwd_uid(passwd, "www-data"), Some(33));
        assert_eq!(passwd_uid(passwd, "nobody"), None);
        assert_eq!(passwd_uid(passwd, "bad"), None);
    }

    #[test]
    fn cpu_between_readings() {
        let t0 = Instant::now();
        let p = |pid, start, ticks| Proc {
            pid,
            start,
            ticks,
            rss: 0,
        };
        let before = Reading::of(t0, &[p(1, 10, 100), p(2, 20, 50)]);
        // Pid 1 used 50 ticks; pid 2 was replaced (new start time) and used 10; pid 3 is new.
        let now = [p(1, 10, 150), p(2, 99, 10), p(3, 30, 40)];
        let cpu = before.cpu_until(t0 + Duration::from_secs(2), &now, 100);
        assert!((cpu - 50.0).abs() < 1e-9, "{cpu}");
        assert_eq!(before.cpu_until(t0, &now, 100), 0.0);
    }
}
