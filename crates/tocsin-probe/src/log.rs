//! The `log` probe: read what was appended to log files since the previous run, count the
//! lines that [`LogMatcher`] accepts, and judge the count within the period
//! ([`MatchWindow`]).
//!
//! How files are followed:
//! - A file is known by its device and inode, plus a hash of its first bytes (up to
//!   [`HEAD_LEN`]), and the probe remembers the offset it has read up to. Only complete lines
//!   are read; a partial last line waits for the next run.
//! - The very first run starts at the end of the files that exist (like `tail -F`), unless
//!   `start_at: beginning`. A file that appears later (a new file of a glob, a file created
//!   after a rotation) is read from its start.
//! - Truncation (the file is shorter than the offset, or its first bytes changed) restarts at
//!   the beginning.
//! - Rotation (the path now leads to another inode): the old file is read to its end first —
//!   through the handle kept open since the previous run (which works even if it was renamed
//!   elsewhere or deleted), or after a restart by finding its inode in its old directory
//!   (`app.log.1`) — then the new file from its start. A rotated file still matched by a glob
//!   is simply followed under its new name.
//! - Each run reads at most `max_read` bytes, all files together; the rest is read by the next
//!   runs (`bytes_pending` says how far behind the probe is). Lines longer than
//!   [`MAX_LINE`] (or `max_read`) are cut there.
//! - Positions and the period's counts are saved after each run to
//!   `<state dir>/log/<state key>.json` (written to a temporary file, then renamed), so a
//!   restart resumes where the previous process stopped. Without a state directory they live
//!   in memory only. The state key is `state_key`, or a hash of the paths, `match` and
//!   `fields`: the probe does not know its check's id.
//!
//! All file work runs on tokio's blocking pool; the scan stops at 80% of the timeout and
//! resumes at the next run.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant as StdInstant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tocsin_core::kinds::LogSpec;
use tocsin_core::kinds::limits::fmt_bytes;
use tocsin_core::kinds::log::{LogMatcher, MatchWindow, StartAt, fnv1a};
use tocsin_core::{CheckResult, Status};

use crate::util::{Deadline, Gathered, io_message};
use crate::{BuildError, Probe, ProbeEnv, RunContext};

/// Bytes at the start of a file whose hash tells a file from another that got the same inode.
pub(crate) const HEAD_LEN: u64 = 256;
/// Longest line; longer lines are cut here (and the rest of them skipped).
pub(crate) const MAX_LINE: usize = 64 << 10;
/// Most files one check follows.
pub(crate) const MAX_FILES: usize = 128;
/// Bytes read at once.
const CHUNK: usize = 64 << 10;
/// Longest text kept of a shown line or context line (characters).
const SHOWN_CHARS: usize = 1000;
/// Longest text of a line in the message.
const MESSAGE_CHARS: usize = 160;
/// Most directory entries looked at when searching for a rotated file after a restart.
const MAX_DIR_ENTRIES: usize = 10_000;
/// Version of the state file format.
const STATE_VERSION: u32 = 1;

/// The `log` probe, built from a [`LogSpec`].
pub(crate) struct LogProbe {
    cfg: Arc<Config>,
    slot: Arc<Mutex<Slot>>,
}

impl fmt::Debug for LogProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogProbe")
            .field("paths", &self.cfg.patterns)
            .field("state_file", &self.cfg.state_file)
            .finish_non_exhaustive()
    }
}

/// What a run needs from the spec.
struct Config {
    spec: LogSpec,
    matcher: LogMatcher,
    patterns: Vec<String>,
    state_file: Option<PathBuf>,
    max_read: u64,
    max_line: usize,
}

/// The scanner between runs: absent while a run has it.
enum Slot {
    /// Not running; `None` until the first run loads the saved state.
    Idle(Option<Box<Scanner>>),
    /// A run has it (or a run that timed out still has it).
    Busy,
}

/// A file being followed.
#[derive(Debug)]
struct Tracked {
    path: PathBuf,
    dev: u64,
    ino: u64,
    /// Read up to here (the start of the first line not yet read).
    offset: u64,
    head_len: u64,
    head_hash: u64,
    /// The handle of the previous run, to finish the file after a rotation (memory only).
    file: Option<File>,
}

/// The state file's content.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    version: u32,
    files: Vec<SavedFile>,
    window: MatchWindow,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedFile {
    path: String,
    dev: u64,
    ino: u64,
    offset: u64,
    head_len: u64,
    head_hash: u64,
}

/// Everything the probe remembers.
#[derive(Debug, Default)]
struct Scanner {
    /// A run has happened (here or before a restart): new files are read from their start.
    started: bool,
    files: Vec<Tracked>,
    window: MatchWindow,
    /// What was last written to the state file.
    last_saved: Option<String>,
}

/// A matching line kept for the message and `extracted`.
#[derive(Debug, Clone, PartialEq)]
struct Shown {
    file: String,
    offset: u64,
    line: String,
    before: Vec<String>,
    after: Vec<String>,
}

/// What a run found.
#[derive(Debug, Default)]
struct Outcome {
    count: u64,
    in_period: u64,
    shown: Vec<Shown>,
    files: usize,
    lines: u64,
    bytes_read: u64,
    pending: u64,
    notes: Vec<String>,
    problems: Vec<String>,
}

impl LogProbe {
    pub(crate) fn build(spec: &LogSpec, env: &Arc<ProbeEnv>) -> Result<Self, BuildError> {
        let errors = spec.validate();
        if !errors.is_empty() {
            return Err(BuildError::Assertions(errors));
        }
        let matcher = LogMatcher::compile(spec).map_err(BuildError::Assertions)?;
        let max_read = spec.max_read.0;
        let cfg = Config {
            matcher,
            patterns: spec.all_paths().into_iter().map(str::to_owned).collect(),
            state_file: env
                .state_dir()
                .map(|d| d.join("log").join(format!("{}.json", spec.state_key()))),
            max_read,
            max_line: usize::try_from(max_read).unwrap_or(MAX_LINE).min(MAX_LINE),
            spec: spec.clone(),
        };
        Ok(Self {
            cfg: Arc::new(cfg),
            slot: Arc::new(Mutex::new(Slot::Idle(None))),
        })
    }

    async fn run_once(&self, cx: RunContext) -> CheckResult {
        let deadline = Deadline::new(cx.timeout);
        let g = Gathered::default();
        let taken = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *slot, Slot::Busy) {
                Slot::Idle(s) => Some(s),
                Slot::Busy => None,
            }
        };
        let Some(scanner) = taken else {
            return g.result(
                Status::Unknown,
                "the previous scan of these files is still running".into(),
                cx.started_at_ms,
                deadline.elapsed(),
            );
        };
        let cfg = self.cfg.clone();
        let slot = self.slot.clone();
        let now_ms = cx.started_at_ms;
        let stop_at = StdInstant::now() + cx.timeout.mul_f64(0.8);
        let task = tokio::task::spawn_blocking(move || {
            let mut sc = scanner.unwrap_or_else(|| Box::new(Scanner::load(&cfg)));
            let mut out = sc.run(&cfg, now_ms, stop_at);
            if let Some(problem) = sc.save(&cfg) {
                out.notes.push(problem);
            }
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Slot::Idle(Some(sc));
            out
        });
        let out = match deadline.run(task).await {
            None => {
                return g.result(
                    Status::Unknown,
                    format!(
                        "scanning {} timed out after {} (a hung file system?)",
                        self.cfg.patterns.join(", "),
                        deadline.timeout()
                    ),
                    cx.started_at_ms,
                    deadline.elapsed(),
                );
            }
            Some(Err(e)) => {
                // The scan died: start again from the saved state next time.
                *self.slot.lock().unwrap_or_else(PoisonError::into_inner) = Slot::Idle(None);
                return g.result(
                    Status::Unknown,
                    format!("scanning failed: {e}"),
                    cx.started_at_ms,
                    deadline.elapsed(),
                );
            }
            Some(Ok(out)) => out,
        };
        self.result(&out, &g, cx.started_at_ms, deadline.elapsed())
    }

    fn result(
        &self,
        out: &Outcome,
        g: &Gathered,
        started_at_ms: i64,
        elapsed: std::time::Duration,
    ) -> CheckResult {
        let spec = &self.cfg.spec;
        let status = spec.status_for(out.in_period);
        let files = plural(out.files as u64, "file", "files");
        let scanned = format!("{files}, {} read", fmt_bytes(out.bytes_read));
        let (status, mut message) = if status.is_bad() {
            let mut m = format!(
                "{} of {} in the last {} (threshold {})",
                plural(out.in_period, "match", "matches"),
                spec.describe(),
                spec.period,
                spec.threshold
            );
            match (out.shown.first(), out.count) {
                (Some(s), _) => m.push_str(&format!(": {} in {}", quote(&s.line), s.file)),
                (None, 0) => m.push_str(", none new in this run"),
                (None, n) => m.push_str(&format!(", {n} new in this run")),
            }
            (status, m)
        } else if out.files == 0 {
            (
                Status::Unknown,
                format!("no file matches {}", self.cfg.patterns.join(", ")),
            )
        } else if let Some(p) = out.problems.first() {
            let more = match out.problems.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            (Status::Unknown, format!("{p}{more}"))
        } else if out.in_period > 0 {
            (
                Status::Ok,
                format!(
                    "{} in the last {}, below the threshold of {} ({scanned})",
                    plural(out.in_period, "match", "matches"),
                    spec.period,
                    spec.threshold
                ),
            )
        } else {
            (Status::Ok, format!("no match in {scanned}"))
        };
        if status == Status::Ok && !out.notes.is_empty() {
            message.push_str(&format!("; {}", out.notes.join("; ")));
        }
        let mut r = g
            .result(status, message, started_at_ms, elapsed)
            .metric("matches", out.count as f64, "")
            .metric("matches_in_period", out.in_period as f64, "")
            .metric("files", out.files as f64, "")
            .metric("lines", out.lines as f64, "")
            .metric("bytes_read", out.bytes_read as f64, "bytes")
            .metric("bytes_pending", out.pending as f64, "bytes");
        if !out.shown.is_empty() {
            let shown: Vec<Value> = out
                .shown
                .iter()
                .map(|s| {
                    let mut v = json!({ "file": s.file, "offset": s.offset, "line": s.line });
                    if spec.context > 0 {
                        v["before"] = json!(s.before);
                        v["after"] = json!(s.after);
                    }
                    v
                })
                .collect();
            r.extracted.insert("matches".into(), Value::Array(shown));
        }
        let notes: Vec<&String> = out.notes.iter().chain(&out.problems).collect();
        if !notes.is_empty() {
            r.extracted.insert("notes".into(), json!(notes));
        }
        r
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A line for the message: quoted, cut to [`MESSAGE_CHARS`].
fn quote(line: &str) -> String {
    let mut s: String = line.chars().take(MESSAGE_CHARS).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// A line as text for people: lossy UTF-8, cut to [`SHOWN_CHARS`].
fn text(line: &[u8]) -> String {
    let cut = &line[..line.len().min(SHOWN_CHARS * 4)];
    let lossy = String::from_utf8_lossy(cut);
    let mut chars = lossy.chars();
    let mut t: String = chars.by_ref().take(SHOWN_CHARS).collect();
    if chars.next().is_some() || cut.len() < line.len() {
        t.push('…');
    }
    t
}

/// The hash of the first `len` bytes of `file`, `None` if it has fewer.
fn head_hash(file: &File, len: u64) -> Option<u64> {
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, 0).ok()?;
    Some(fnv1a(&buf))
}

/// Counts matching lines and keeps the first few, with context.
struct Collector<'a> {
    matcher: &'a LogMatcher,
    show: usize,
    context: usize,
    count: u64,
    lines: u64,
    shown: Vec<Shown>,
    file: String,
    before: VecDeque<String>,
    /// Shown matches still collecting lines after them: (index in `shown`, lines to go).
    after: Vec<(usize, usize)>,
}

impl<'a> Collector<'a> {
    fn new(cfg: &'a Config) -> Self {
        Self {
            matcher: &cfg.matcher,
            show: cfg.spec.show as usize,
            context: cfg.spec.context as usize,
            count: 0,
            lines: 0,
            shown: Vec::new(),
            file: String::new(),
            before: VecDeque::new(),
            after: Vec::new(),
        }
    }

    fn start_file(&mut self, path: &Path) {
        self.file = path.display().to_string();
        self.before.clear();
        self.after.clear();
    }

    fn line(&mut self, offset: u64, raw: &[u8]) {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        self.lines += 1;
        let hit = self.matcher.matches(line);
        if hit {
            self.count += 1;
        }
        let show = hit && self.shown.len() < self.show;
        if !show && self.context == 0 {
            return;
        }
        // The line as text, made once for the match, the context after earlier matches and the
        // context before later ones.
        let t = text(line);
        for (i, left) in &mut self.after {
            if let Some(s) = self.shown.get_mut(*i) {
                s.after.push(t.clone());
            }
            *left -= 1;
        }
        self.after.retain(|(_, left)| *left > 0);
        if show {
            self.shown.push(Shown {
                file: self.file.clone(),
                offset,
                line: t.clone(),
                before: self.before.iter().cloned().collect(),
                after: Vec::new(),
            });
            if self.context > 0 {
                self.after.push((self.shown.len() - 1, self.context));
            }
        }
        if self.context > 0 {
            self.before.push_back(t);
            if self.before.len() > self.context {
                self.before.pop_front();
            }
        }
    }
}

/// How much of a file a read went through.
struct Read {
    /// The new offset: after the last complete line (or the end, for a finished file).
    offset: u64,
    /// Bytes read from the file, a partial last line included (what the budget counts).
    bytes: u64,
}

/// What bounds one read.
#[derive(Clone, Copy, Debug)]
struct Bounds {
    /// Bytes that may still be read this run.
    budget: u64,
    /// Longest line.
    max_line: usize,
    /// When to stop, time or not.
    stop_at: StdInstant,
}

/// Reads lines of `file` from `from` to `to` (at most `budget` bytes) into `c`. With `last`,
/// the file will not grow any more (it was rotated away), so a final line without a newline
/// counts too.
fn read_lines(
    file: &File,
    from: u64,
    to: u64,
    last: bool,
    b: Bounds,
    c: &mut Collector<'_>,
) -> io::Result<Read> {
    let Bounds {
        budget,
        max_line,
        stop_at,
    } = b;
    let end = to.min(from.saturating_add(budget));
    let mut buf = vec![0u8; CHUNK];
    let mut pos = from;
    let mut line: Vec<u8> = Vec::new();
    let mut line_start = from;
    // Inside a line longer than `max_line`, after its first `max_line` bytes were counted.
    let mut skipping = false;
    let mut late = false;
    while pos < end {
        if StdInstant::now() >= stop_at {
            late = true;
            break;
        }
        let want = usize::try_from(end - pos).unwrap_or(CHUNK).min(CHUNK);
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        let mut rest = &buf[..n];
        let mut at = pos;
        while !rest.is_empty() {
            let nl = rest.iter().position(|b| *b == b'\n');
            let take = nl.map_or(rest.len(), |i| i);
            if !skipping {
                let room = max_line.saturating_sub(line.len());
                line.extend_from_slice(&rest[..take.min(room)]);
                if take > room {
                    c.line(line_start, &line);
                    line.clear();
                    skipping = true;
                }
            }
            match nl {
                Some(i) => {
                    if !skipping {
                        c.line(line_start, &line);
                    }
                    line.clear();
                    skipping = false;
                    at += i as u64 + 1;
                    line_start = at;
                    rest = &rest[i + 1..];
                }
                None => {
                    at += rest.len() as u64;
                    rest = &[];
                }
            }
        }
        pos += n as u64;
    }
    let offset = if skipping {
        // The counted part of a long line is behind us; skip the rest next time too.
        pos
    } else if last && !late && pos >= end && !line.is_empty() {
        c.line(line_start, &line);
        pos
    } else {
        line_start
    };
    Ok(Read {
        offset,
        bytes: pos - from,
    })
}

/// The files the patterns name now, sorted, without duplicates; and problems met.
fn expand(patterns: &[String]) -> (Vec<PathBuf>, Vec<String>) {
    let mut paths = Vec::new();
    let mut problems = Vec::new();
    for p in patterns {
        if p.contains(['*', '?', '[']) {
            match glob::glob(p) {
                Ok(found) => {
                    for entry in found {
                        match entry {
                            Ok(path) => paths.push(path),
                            Err(e) => problems.push(format!(
                                "cannot read {}: {}",
                                e.path().display(),
                                io_message(e.error())
                            )),
                        }
                    }
                }
                Err(e) => problems.push(format!("invalid glob {p:?}: {}", e.msg)),
            }
        } else {
            paths.push(PathBuf::from(p));
        }
    }
    paths.sort();
    paths.dedup();
    (paths, problems)
}

/// A file of the patterns, opened.
struct Open {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    size: u64,
}

impl Scanner {
    /// The saved state, or a fresh scanner when there is none (or it cannot be read).
    fn load(cfg: &Config) -> Self {
        let Some(path) = &cfg.state_file else {
            return Self::default();
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Self::default(),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the log positions; starting afresh");
                return Self::default();
            }
        };
        match serde_json::from_str::<Saved>(&text) {
            Ok(s) if s.version == STATE_VERSION => Self {
                started: true,
                files: s
                    .files
                    .into_iter()
                    .map(|f| Tracked {
                        path: PathBuf::from(f.path),
                        dev: f.dev,
                        ino: f.ino,
                        offset: f.offset,
                        head_len: f.head_len,
                        head_hash: f.head_hash,
                        file: None,
                    })
                    .collect(),
                window: s.window,
                last_saved: Some(text),
            },
            Ok(s) => {
                tracing::warn!(file = %path.display(), version = s.version, "unknown version of the log positions; starting afresh");
                Self::default()
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "unreadable log positions; starting afresh");
                Self::default()
            }
        }
    }

    /// Writes the state if it changed: to a temporary file, then renamed over the old one.
    /// Returns a note when it could not be saved.
    fn save(&mut self, cfg: &Config) -> Option<String> {
        let path = cfg.state_file.as_ref()?;
        let saved = Saved {
            version: STATE_VERSION,
            files: self
                .files
                .iter()
                .map(|t| SavedFile {
                    path: t.path.to_string_lossy().into_owned(),
                    dev: t.dev,
                    ino: t.ino,
                    offset: t.offset,
                    head_len: t.head_len,
                    head_hash: t.head_hash,
                })
                .collect(),
            window: self.window.clone(),
        };
        let text = serde_json::to_string(&saved).ok()?;
        if self.last_saved.as_deref() == Some(text.as_str()) {
            return None;
        }
        let write = || -> io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            let mut f = File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, path)
        };
        match write() {
            Ok(()) => {
                self.last_saved = Some(text);
                None
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot save the log positions");
                Some(format!(
                    "cannot save the read positions to {}: {}",
                    path.display(),
                    io_message(&e)
                ))
            }
        }
    }

    /// One run: finish rotated files, read the current ones, count.
    fn run(&mut self, cfg: &Config, now_ms: i64, stop_at: StdInstant) -> Outcome {
        let mut out = Outcome::default();
        let mut c = Collector::new(cfg);
        let (paths, problems) = expand(&cfg.patterns);
        out.problems = problems;
        let mut current: Vec<Open> = Vec::new();
        let mut unique = HashSet::new();
        for path in paths {
            let file = match File::open(&path) {
                Ok(f) => f,
                // A literal path that does not exist (yet, or during a rotation).
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    out.problems.push(format!(
                        "cannot read {}: {}",
                        path.display(),
                        io_message(&e)
                    ));
                    continue;
                }
            };
            match file.metadata() {
                Ok(m) if m.is_file() => {
                    if unique.insert((m.dev(), m.ino())) {
                        current.push(Open {
                            path,
                            file,
                            dev: m.dev(),
                            ino: m.ino(),
                            size: m.len(),
                        });
                    }
                }
                Ok(_) => {}
                Err(e) => out.problems.push(format!(
                    "cannot read {}: {}",
                    path.display(),
                    io_message(&e)
                )),
            }
        }
        if current.len() > MAX_FILES {
            out.problems.push(format!(
                "{} files match; only the first {MAX_FILES} are scanned",
                current.len()
            ));
            current.truncate(MAX_FILES);
        }
        // The files scanned this run (after the cut): any other followed file is gone.
        let seen: HashSet<(u64, u64)> = current.iter().map(|o| (o.dev, o.ino)).collect();
        out.files = current.len();
        let mut budget = cfg.max_read;

        // Files followed before that the patterns no longer lead to: rotated away or deleted.
        let (mut kept, gone): (Vec<Tracked>, Vec<Tracked>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|t| seen.contains(&(t.dev, t.ino)));
        for mut t in gone {
            let handle = t.file.take().or_else(|| find_in_dir(&t));
            let Some(file) = handle else {
                out.notes.push(format!(
                    "{} was rotated away and its old file is gone: lines written to it since \
                     the last run were not read",
                    t.path.display()
                ));
                continue;
            };
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let same = size >= t.offset
                && (t.head_len == 0 || head_hash(&file, t.head_len) == Some(t.head_hash));
            if !same || size == t.offset {
                continue;
            }
            c.start_file(&t.path);
            match read_lines(
                &file,
                t.offset,
                size,
                true,
                Bounds {
                    budget,
                    max_line: cfg.max_line,
                    stop_at,
                },
                &mut c,
            ) {
                Ok(r) => {
                    budget = budget.saturating_sub(r.bytes);
                    out.bytes_read += r.offset.saturating_sub(t.offset);
                    out.notes
                        .push(format!("finished {} after its rotation", t.path.display()));
                    if r.offset < size {
                        // Out of budget or time: keep following it while it can be found.
                        out.pending += size - r.offset;
                        t.offset = r.offset;
                        t.file = Some(file);
                        kept.push(t);
                    }
                }
                Err(e) => out.problems.push(format!(
                    "cannot read {}: {}",
                    t.path.display(),
                    io_message(&e)
                )),
            }
        }

        // The files the patterns lead to now.
        for o in current {
            let idx = match kept.iter().position(|t| (t.dev, t.ino) == (o.dev, o.ino)) {
                Some(i) => {
                    let t = &mut kept[i];
                    if o.size < t.offset {
                        out.notes.push(format!(
                            "{} was truncated: reading from its start",
                            o.path.display()
                        ));
                        t.offset = 0;
                        t.head_len = 0;
                    } else if t.head_len > 0 && head_hash(&o.file, t.head_len) != Some(t.head_hash)
                    {
                        out.notes.push(format!(
                            "{} was replaced: reading from its start",
                            o.path.display()
                        ));
                        t.offset = 0;
                        t.head_len = 0;
                    }
                    t.path = o.path;
                    t.file = Some(o.file);
                    i
                }
                None => {
                    let at_end = !self.started && cfg.spec.start_at == StartAt::End;
                    if self.started {
                        out.notes.push(format!("new file {}", o.path.display()));
                    }
                    kept.push(Tracked {
                        path: o.path,
                        dev: o.dev,
                        ino: o.ino,
                        offset: if at_end { o.size } else { 0 },
                        head_len: 0,
                        head_hash: 0,
                        file: Some(o.file),
                    });
                    kept.len() - 1
                }
            };
            let t = &mut kept[idx];
            let Some(file) = &t.file else { continue };
            if t.head_len < HEAD_LEN && o.size > t.head_len {
                let len = o.size.min(HEAD_LEN);
                if let Some(h) = head_hash(file, len) {
                    t.head_len = len;
                    t.head_hash = h;
                }
            }
            if o.size > t.offset {
                c.start_file(&t.path);
                match read_lines(
                    file,
                    t.offset,
                    o.size,
                    false,
                    Bounds {
                        budget,
                        max_line: cfg.max_line,
                        stop_at,
                    },
                    &mut c,
                ) {
                    Ok(r) => {
                        budget = budget.saturating_sub(r.bytes);
                        out.bytes_read += r.offset.saturating_sub(t.offset);
                        t.offset = r.offset;
                    }
                    Err(e) => out.problems.push(format!(
                        "cannot read {}: {}",
                        t.path.display(),
                        io_message(&e)
                    )),
                }
            }
            out.pending += o.size.saturating_sub(t.offset);
        }
        if budget == 0 && out.pending > 0 {
            out.notes.push(format!(
                "read the {} allowed per run; {} left for the next runs",
                fmt_bytes(cfg.max_read),
                fmt_bytes(out.pending)
            ));
        } else if StdInstant::now() >= stop_at && out.pending > 0 {
            out.notes.push(format!(
                "stopped for lack of time; {} left for the next runs",
                fmt_bytes(out.pending)
            ));
        }
        self.files = kept;
        self.started = true;
        out.count = c.count;
        out.lines = c.lines;
        out.shown = c.shown;
        out.in_period = self.window.record(now_ms, out.count, cfg.spec.period.get());
        out
    }
}

/// After a restart, a rotated file is searched by its inode in the directory it was in.
fn find_in_dir(t: &Tracked) -> Option<File> {
    let dir = t.path.parent()?;
    for entry in std::fs::read_dir(dir).ok()?.flatten().take(MAX_DIR_ENTRIES) {
        let Ok(m) = entry.metadata() else { continue };
        if m.is_file() && m.dev() == t.dev && m.ino() == t.ino {
            let file = File::open(entry.path()).ok()?;
            let m = file.metadata().ok()?;
            return (m.dev() == t.dev && m.ino() == t.ino).then_some(file);
        }
    }
    None
}

impl Probe for LogProbe {
    fn run<'a>(&'a self, cx: RunContext) -> Pin<Box<dyn Future<Output = CheckResult> + Send + 'a>> {
        Box::pin(self.run_once(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        let spec: LogSpec = serde_saphyr::from_str(yaml).unwrap();
        Config {
            matcher: LogMatcher::compile(&spec).unwrap(),
            patterns: spec.all_paths().into_iter().map(str::to_owned).collect(),
            state_file: None,
            max_read: spec.max_read.0,
            max_line: MAX_LINE,
            spec,
        }
    }

    /// Reads `content` as a whole file with `read_lines`; the lines seen and the new offset.
    fn lines_of(
        content: &[u8],
        last: bool,
        budget: u64,
        max_line: usize,
    ) -> (Vec<(u64, String)>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.log");
        std::fs::write(&path, content).unwrap();
        let file = File::open(&path).unwrap();
        let cfg = config("path: /x\nmatch: { pattern: '.*' }\nshow: 100");
        let mut c = Collector::new(&cfg);
        let far = StdInstant::now() + std::time::Duration::from_secs(60);
        let b = Bounds {
            budget,
            max_line,
            stop_at: far,
        };
        let r = read_lines(&file, 0, content.len() as u64, last, b, &mut c).unwrap();
        let lines = c.shown.iter().map(|s| (s.offset, s.line.clone())).collect();
        (lines, r.offset)
    }

    #[test]
    fn complete_lines_only_unless_the_file_is_finished() {
        let (l, off) = lines_of(b"one\ntwo\r\nthr", false, 1 << 20, MAX_LINE);
        assert_eq!(l, [(0, "one".into()), (4, "two".into())]);
        assert_eq!(off, 9);
        let (l, off) = lines_of(b"one\ntwo\r\nthr", true, 1 << 20, MAX_LINE);
        assert_eq!(l.last(), Some(&(9, "thr".into())));
        assert_eq!(off, 12);
        let (l, off) = lines_of(b"", false, 1 << 20, MAX_LINE);
        assert!(l.is_empty());
        assert_eq!(off, 0);
    }

    #[test]
    fn the_budget_stops_at_a_line_boundary() {
        let (l, off) = lines_of(b"aaaa\nbbbb\ncccc\n", false, 7, MAX_LINE);
        assert_eq!(l, [(0, "aaaa".into())]);
        assert_eq!(off, 5);
    }

    #[test]
    fn long_lines_are_cut_and_counted_once() {
        let mut content = vec![b'x'; 100];
        content.extend_from_slice(b"\nshort\n");
        let (l, off) = lines_of(&content, false, 1 << 20, 10);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0], (0, "x".repeat(10)));
        assert_eq!(l[1], (101, "short".into()));
        assert_eq!(off, 107);
        // A long line still being written: its counted part is not read again.
        let (l, off) = lines_of(&[b'y'; 50], false, 1 << 20, 10);
        assert_eq!(l.len(), 1);
        assert_eq!(off, 50);
    }

    #[test]
    fn context_around_matches() {
        let cfg = config("path: /x\nmatch: { pattern: ERR }\ncontext: 1\nshow: 2");
        let mut c = Collector::new(&cfg);
        c.start_file(Path::new("/x"));
        for (i, l) in ["a", "ERR 1", "b", "ERR 2", "ERR 3", "c"]
            .iter()
            .enumerate()
        {
            c.line(i as u64, l.as_bytes());
        }
        assert_eq!(c.count, 3);
        assert_eq!(c.shown.len(), 2);
        assert_eq!(c.shown[0].before, ["a"]);
        assert_eq!(c.shown[0].after, ["b"]);
        assert_eq!(c.shown[1].before, ["b"]);
        assert_eq!(c.shown[1].after, ["ERR 3"]);
    }

    #[test]
    fn text_is_cut_and_lossy() {
        assert_eq!(text(b"abc"), "abc");
        assert_eq!(text(b"a\xffb"), "a\u{fffd}b");
        let long = "é".repeat(SHOWN_CHARS + 5);
        let t = text(long.as_bytes());
        assert_eq!(t.chars().count(), SHOWN_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(quote("a \"b\""), "\"a \\\"b\\\"\"");
    }

    #[test]
    fn globs_expand_sorted_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.log", "a.log", "c.txt"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let d = dir.path().display();
        let (paths, problems) = expand(&[format!("{d}/*.log"), format!("{d}/a.log")]);
        assert!(problems.is_empty());
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log"]);
    }
}
