//! The `command` probe: runs a Nagios plugin, a SlapOS promise or any program and judges what it
//! said with [`CommandJudge`].
//!
//! How a run goes:
//! - the program is executed directly (`/bin/sh -c` only with `shell: true`), with standard input
//!   from `/dev/null`, an environment built from nothing (`PATH`, `LANG=C`, `inherit_env`, `env`)
//!   and, if given, `cwd`;
//! - it is the leader of a new process group, so everything it starts can be killed at once;
//! - standard output and standard error are read as they come; the first `max_output` bytes of
//!   each are kept and the rest is read and thrown away, so a chatty program never blocks on a
//!   full pipe;
//! - when the program exits, whatever it left running in its process group is killed, and the
//!   pipes are read to their end (for at most [`LINGER`], in case a process that left the group
//!   holds them);
//! - at the timeout the whole process group is killed with `SIGKILL` and the run is `critical`;
//!   the same happens if the run is abandoned (the runner's backstop, a shutdown).
//!
//! A program that cannot be started (missing, not executable, missing `cwd`) is a result, not a
//! build error: the file may appear later. One probe never runs twice at once (the engine already
//! guarantees it per check; the probe refuses a second run anyway).

use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tocsin_core::kinds::CommandSpec;
use tocsin_core::kinds::command::{CommandJudge, Exit, Finished, first_line, one_line};
use tocsin_core::{CheckResult, Dur, Status};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::time::Instant;

use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// After the program exits, how long its pipes may stay open: only a process that left its
/// process group (and so was not killed) can still hold them.
pub(crate) const LINGER: Duration = Duration::from_millis(200);

/// After the timeout kill, how long to wait to reap the program (tokio reaps it later if not).
const REAP: Duration = Duration::from_millis(20);

/// Bytes read from a pipe at a time.
const CHUNK: usize = 16 << 10;

/// The `command` probe, built from a [`CommandSpec`].
pub(crate) struct CommandProbe {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
    max_output: usize,
    judge: CommandJudge,
    busy: AtomicBool,
}

impl fmt::Debug for CommandProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Environment values may be secrets: names only.
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("CommandProbe")
            .field("protocol", &self.judge.protocol())
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("env", &env)
            .field("cwd", &self.cwd)
            .field("max_output", &self.max_output)
            .finish_non_exhaustive()
    }
}

impl CommandProbe {
    pub(crate) fn build(spec: &CommandSpec, _env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        let judge = spec.compile().map_err(BuildError::Assertions)?;
        let (program, args) = spec.argv().ok_or_else(|| {
            BuildError::Assertions(vec![tocsin_core::assert::FieldError::nowhere(
                "command.run",
                "a list of arguments, or a string with shell: true",
            )])
        })?;
        Ok(Self {
            program,
            args,
            env: spec.environment(&|name| std::env::var(name).ok()),
            cwd: spec.cwd.as_ref().map(PathBuf::from),
            max_output: usize::try_from(spec.max_output.0)
                .unwrap_or(usize::MAX)
                .max(1),
            judge,
            busy: AtomicBool::new(false),
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let start = Instant::now();
        let result = |status: Status, message: String| {
            let mut r = CheckResult::new(status, message, cx.started_at_ms);
            r.timings.total_us = micros(start.elapsed());
            r
        };
        let Some(_busy) = Busy::take(&self.busy) else {
            return result(
                Status::Unknown,
                "skipped: the previous run of this command is still running".into(),
            );
        };
        let failed = self.judge.protocol().failure_status();
        if let Some(cwd) = &self.cwd {
            // On the blocking pool: the directory may be on a slow or hung file system.
            match tokio::fs::metadata(cwd).await {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return result(
                        failed,
                        format!("working directory {} is not a directory", cwd.display()),
                    );
                }
                Err(e) => {
                    return result(
                        failed,
                        format!("working directory {}: {}", cwd.display(), io_reason(&e)),
                    );
                }
            }
        }

        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return result(failed, self.spawn_failure(&e)),
        };
        // From here on, dropping `group` (returning, or the runner abandoning this future) kills
        // everything left in the process group.
        let mut group = Group::new(child.id());
        let mut stdout = child.stdout.take();
        let mut stderr = child.stderr.take();
        let mut out = Capture::new(self.max_output);
        let mut err = Capture::new(self.max_output);
        let mut out_buf = vec![0u8; CHUNK.min(self.max_output.max(4096))];
        let mut err_buf = vec![0u8; CHUNK.min(self.max_output.max(4096))];
        let mut exited: Option<(io::Result<ExitStatus>, Duration)> = None;
        let stop = tokio::time::sleep_until(start + cx.timeout);
        tokio::pin!(stop);
        loop {
            if exited.is_some() && stdout.is_none() && stderr.is_none() {
                break;
            }
            tokio::select! {
                r = read_some(&mut stdout, &mut out_buf) => match r {
                    Some(n) => out.push(&out_buf[..n]),
                    None => stdout = None,
                },
                r = read_some(&mut stderr, &mut err_buf) => match r {
                    Some(n) => err.push(&err_buf[..n]),
                    None => stderr = None,
                },
                status = child.wait(), if exited.is_none() => {
                    exited = Some((status, start.elapsed()));
                    // Nothing the command started outlives it.
                    group.kill();
                    let linger = (Instant::now() + LINGER).min(start + cx.timeout);
                    stop.as_mut().reset(linger);
                }
                () = &mut stop => break,
            }
        }

        let Some((status, ran)) = exited else {
            group.kill();
            let _ = tokio::time::timeout(REAP, child.wait()).await;
            let mut message = format!(
                "timed out after {}: killed the command and its whole process group",
                Dur(cx.timeout)
            );
            if let Some(line) = first_line(&out.text()) {
                message.push_str(&format!(" (stdout so far: {:?})", one_line(line, 200)));
            }
            return result(Status::Critical, message);
        };
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                return result(
                    Status::Unknown,
                    format!("could not wait for {}: {e}", self.program),
                );
            }
        };
        let exit = match (status.code(), status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Code(-1),
        };
        let (stdout_text, stderr_text) = (out.text(), err.text());
        let verdict = self.judge.judge(&Finished {
            exit,
            stdout: &stdout_text,
            stderr: &stderr_text,
            stdout_truncated: out.truncated(),
            stderr_truncated: err.truncated(),
            elapsed: ran,
        });
        let mut r = result(verdict.status, verdict.message);
        r.metrics = verdict.metrics;
        r.extracted = verdict.extracted;
        r
    }

    /// Why the program could not be started, in one line.
    fn spawn_failure(&self, e: &io::Error) -> String {
        let p = &self.program;
        match e.kind() {
            io::ErrorKind::NotFound if !p.contains('/') => {
                let path = self
                    .env
                    .iter()
                    .find(|(k, _)| k == "PATH")
                    .map_or("", |(_, v)| v.as_str());
                format!("cannot run {p}: not found in PATH ({path})")
            }
            io::ErrorKind::NotFound if Path::new(p).exists() => {
                format!("cannot run {p}: its interpreter (the #! line) was not found")
            }
            io::ErrorKind::NotFound => format!("cannot run {p}: no such file"),
            io::ErrorKind::PermissionDenied => {
                format!("cannot run {p}: permission denied (is it executable?)")
            }
            _ if e.raw_os_error() == Some(8) => {
                format!("cannot run {p}: not an executable format (a script needs a #! line)")
            }
            _ => format!("cannot run {p}: {e}"),
        }
    }
}

impl Probe for CommandProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

/// Reads once from a pipe: `Some(n)` bytes, or `None` at its end (or on an error). A pipe already
/// closed never completes.
async fn read_some<R: AsyncRead + Unpin>(pipe: &mut Option<R>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// The first `max` bytes of a stream, and how many there were in all.
struct Capture {
    kept: Vec<u8>,
    max: usize,
    total: u64,
}

impl Capture {
    fn new(max: usize) -> Self {
        Self {
            kept: Vec::new(),
            max,
            total: 0,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let room = self.max.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.total += chunk.len() as u64;
    }

    fn truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.kept).into_owned()
    }
}

/// The process group of a running command; killed (`SIGKILL`) once, at the latest when dropped.
struct Group(Option<Pid>);

impl Group {
    fn new(child_id: Option<u32>) -> Self {
        Self(
            child_id
                .and_then(|id| i32::try_from(id).ok())
                .and_then(Pid::from_raw),
        )
    }

    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // ESRCH: everyone in the group is gone already.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Marks a probe as running; cleared when dropped.
struct Busy<'a>(&'a AtomicBool);

impl<'a> Busy<'a> {
    fn take(flag: &'a AtomicBool) -> Option<Self> {
        flag.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Self(flag))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// An I/O error without the `(os error N)` suffix.
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
