//! The `log` probe against real files in temporary directories that grow, rotate (rename + new
//! file), truncate, hold JSON lines; and restarts (a new probe with the same state directory).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use tocsin_core::kinds::LogSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};
use tocsin_probe::{Probe, ProbeEnv, RunContext};

use crate::common::metric;

const T: Duration = Duration::from_secs(5);
const START_MS: i64 = 1_700_000_000_000;
const MINUTE_MS: i64 = 60_000;

/// A directory of logs, a state directory, and a probe that runs once a "minute".
struct Fixture {
    dir: TempDir,
    state: TempDir,
    probe: Arc<dyn Probe>,
    spec: ProbeSpec,
    /// The start time of the next run.
    now_ms: i64,
}

fn spec(yaml: &str) -> ProbeSpec {
    let s: LogSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Log(Box::new(s))
}

fn build(spec: &ProbeSpec, state: Option<&Path>) -> Arc<dyn Probe> {
    tocsin_testkit::init();
    let mut env = ProbeEnv::new().expect("probe env");
    if let Some(dir) = state {
        env = env.with_state_dir(dir);
    }
    tocsin_probe::build(spec, &Arc::new(env)).expect("build")
}

impl Fixture {
    /// `yaml` is the spec with `{dir}` standing for the log directory.
    fn new(yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let spec = spec(&yaml.replace("{dir}", &dir.path().display().to_string()));
        let probe = build(&spec, Some(state.path()));
        Self {
            dir,
            state,
            probe,
            spec,
            now_ms: START_MS,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn append(&self, name: &str, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn rename(&self, from: &str, to: &str) {
        std::fs::rename(self.path(from), self.path(to)).unwrap();
    }

    /// Runs once and moves the clock on by a minute.
    async fn run(&mut self) -> CheckResult {
        let r = self
            .probe
            .run(RunContext {
                timeout: T,
                started_at_ms: self.now_ms,
            })
            .await;
        self.now_ms += MINUTE_MS;
        assert!(r.timings.total_us > 0);
        r
    }

    /// A new probe with the same spec and state directory: a restart.
    fn restart(&mut self) {
        self.probe = build(&self.spec, Some(self.state.path()));
    }
}

fn matches(r: &CheckResult) -> u64 {
    metric(r, "matches").unwrap_or_else(|| panic!("no matches metric: {r:?}")) as u64
}

/// The shown lines of `extracted.matches`.
fn shown(r: &CheckResult) -> Vec<String> {
    match r.extracted.get("matches") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| m["line"].as_str().unwrap_or_default().to_owned())
            .collect(),
        Some(other) => panic!("matches: {other}"),
    }
}

fn notes(r: &CheckResult) -> String {
    r.extracted
        .get("notes")
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[tokio::test]
async fn the_first_run_starts_at_the_end_then_new_lines_count() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }");
    f.append("app.log", "ERROR written before we started\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.message, "no match in 1 file, 0 B read");
    assert_eq!(matches(&r), 0);

    f.append("app.log", "INFO fine\nERROR db connection refused\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(
        r.message,
        format!(
            "1 match of /ERROR/ in the last 1m (threshold 1): \"ERROR db connection refused\" in {}",
            f.path("app.log").display()
        )
    );
    assert_eq!(matches(&r), 1);
    assert_eq!(metric(&r, "lines"), Some(2.0));
    assert_eq!(metric(&r, "bytes_read"), Some(38.0));
    assert_eq!(metric(&r, "bytes_pending"), Some(0.0));
    assert_eq!(shown(&r), ["ERROR db connection refused"]);
    let m = &r.extracted["matches"][0];
    assert_eq!(m["offset"], 42);
    assert_eq!(m["file"], f.path("app.log").display().to_string());

    // Nothing new: the period (1m, as long as the interval) has passed.
    let r = f.run().await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(r.message, "no match in 1 file, 0 B read");
}

#[tokio::test]
async fn start_at_beginning_counts_what_is_there() {
    let mut f = Fixture::new(
        "path: '{dir}/app.log'\nmatch: { pattern: error, flags: i }\nstart_at: beginning",
    );
    f.append("app.log", "Error one\nok\nERROR two\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(matches(&r), 2);
    assert!(
        r.message.starts_with("2 matches of /error/ in the last 1m"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_partial_line_waits_for_its_end() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: 'ERROR partial$' }");
    f.append("app.log", "");
    f.run().await;
    f.append("app.log", "ERROR part");
    let r = f.run().await;
    assert_eq!(matches(&r), 0, "{r:?}");
    f.append("app.log", "ial\n");
    let r = f.run().await;
    assert_eq!(matches(&r), 1, "{r:?}");
    assert_eq!(shown(&r), ["ERROR partial"]);
}

#[tokio::test]
async fn threshold_within_the_period() {
    let mut f = Fixture::new(
        "path: '{dir}/app.log'\nmatch: { pattern: timeout, type: substring, word: true }\n\
         threshold: 3\nperiod: 5m\nseverity: warning",
    );
    f.append("app.log", "");
    f.run().await;
    f.append("app.log", "a timeout\nno timeouts here\nanother timeout.\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(
        r.message,
        "2 matches in the last 5m, below the threshold of 3 (1 file, 44 B read)"
    );
    f.append("app.log", "timeout again\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Warning, "{r:?}");
    assert_eq!(metric(&r, "matches_in_period"), Some(3.0));
    assert!(
        r.message.starts_with(
            "3 matches of \"timeout\" in the last 5m (threshold 3): \"timeout again\""
        ),
        "{}",
        r.message
    );
    // Three more quiet minutes: still three in the last five.
    for _ in 0..3 {
        let r = f.run().await;
        assert_eq!(r.status, Status::Warning, "{r:?}");
        assert!(
            r.message.ends_with(", none new in this run"),
            "{}",
            r.message
        );
    }
    // Five minutes after they were found, the first two leave the window.
    let r = f.run().await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "matches_in_period"), Some(1.0));
}

#[tokio::test]
async fn rotation_by_rename_finishes_the_old_file_then_reads_the_new_one() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }\nshow: 10");
    f.append("app.log", "old content\n");
    f.run().await;
    f.append("app.log", "ERROR before rotation\n");
    f.rename("app.log", "app.log.1");
    f.append("app.log", "ERROR after rotation\n");
    // Written to the old file after the rename (a process still holding it open).
    f.append("app.log.1", "ERROR late write to the old file\n");
    let r = f.run().await;
    assert_eq!(matches(&r), 3, "{r:?}");
    assert_eq!(
        shown(&r),
        [
            "ERROR before rotation",
            "ERROR late write to the old file",
            "ERROR after rotation"
        ]
    );
    assert!(notes(&r).contains("finished"), "{r:?}");
    // Nothing is read twice.
    f.append("app.log", "ERROR next\n");
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR next"]);
}

#[tokio::test]
async fn rotation_with_the_old_file_deleted_is_finished_through_the_open_handle() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }");
    f.append("app.log", "start\n");
    f.run().await;
    f.append("app.log", "ERROR last words\n");
    // Rotated and compressed at once: the old file is gone from the directory.
    f.rename("app.log", "app.log.1");
    std::fs::remove_file(f.path("app.log.1")).unwrap();
    f.append("app.log", "fresh\n");
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR last words"], "{r:?}");
}

#[tokio::test]
async fn a_glob_follows_files_that_appear_and_renamed_files_it_still_matches() {
    let mut f = Fixture::new("path: '{dir}/*.log'\nmatch: { pattern: ERROR }\nshow: 10");
    f.append("a.log", "ERROR old a\n");
    let r = f.run().await;
    assert_eq!(matches(&r), 0, "{r:?}");
    f.append("a.log", "ERROR a1\n");
    f.append("b.log", "ERROR b1\nERROR b2\n");
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR a1", "ERROR b1", "ERROR b2"], "{r:?}");
    assert_eq!(metric(&r, "files"), Some(2.0));
    assert!(notes(&r).contains("new file"), "{r:?}");
    // Renamed, still matched by the glob: followed at its offset, not read again.
    f.rename("a.log", "a-old.log");
    f.append("a-old.log", "ERROR a2\n");
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR a2"], "{r:?}");
}

#[tokio::test]
async fn truncation_restarts_at_the_beginning() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }");
    f.append(
        "app.log",
        "line one is long enough\nline two is long enough\n",
    );
    f.run().await;
    std::fs::write(f.path("app.log"), "ERROR short\n").unwrap();
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR short"], "{r:?}");
    assert!(notes(&r).contains("truncated"), "{r:?}");
    assert_eq!(r.status, Status::Critical);
}

#[tokio::test]
async fn copy_truncate_that_grew_past_the_offset_is_seen_by_its_first_bytes() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }");
    f.append("app.log", "2026-01-01 first line of the old content\n");
    f.run().await;
    // Truncated and rewritten with more than before between two runs: same inode, larger.
    std::fs::write(
        f.path("app.log"),
        "2026-02-02 new content\nERROR after copytruncate\nand more lines to be longer\n",
    )
    .unwrap();
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR after copytruncate"], "{r:?}");
    assert!(notes(&r).contains("replaced"), "{r:?}");
}

#[tokio::test]
async fn a_restart_resumes_at_the_remembered_offset() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }\nperiod: 10m");
    f.append("app.log", "ERROR before the first run\n");
    f.run().await;
    f.append("app.log", "ERROR one\nERROR two\n");
    let r = f.run().await;
    assert_eq!(matches(&r), 2);
    // Written while the daemon is down.
    f.append("app.log", "ERROR while down\n");
    f.restart();
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR while down"], "{r:?}");
    // The period's count survived the restart too.
    assert_eq!(metric(&r, "matches_in_period"), Some(3.0));
    let saved: Vec<_> = std::fs::read_dir(f.state.path().join("log"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].ends_with(".json"), "{saved:?}");
}

#[tokio::test]
async fn a_rotation_during_a_restart_finds_the_old_file_in_its_directory() {
    let mut f = Fixture::new("path: '{dir}/app.log'\nmatch: { pattern: ERROR }");
    f.append("app.log", "start\n");
    f.run().await;
    f.append("app.log", "ERROR before the restart\n");
    f.rename("app.log", "app.log.1");
    f.append("app.log", "ERROR in the new file\n");
    f.restart();
    let r = f.run().await;
    assert_eq!(
        shown(&r),
        ["ERROR before the restart", "ERROR in the new file"],
        "{r:?}"
    );
}

#[tokio::test]
async fn without_a_state_directory_a_new_probe_starts_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let s = spec(&format!(
        "path: {}\nmatch: {{ pattern: ERROR }}",
        path.display()
    ));
    std::fs::write(&path, "").unwrap();
    let cx = RunContext {
        timeout: T,
        started_at_ms: START_MS,
    };
    build(&s, None).run(cx).await;
    std::fs::write(&path, "ERROR x\n").unwrap();
    let r = build(&s, None).run(cx).await;
    assert_eq!(matches(&r), 0, "{r:?}");
}

#[tokio::test]
async fn bunyan_records_by_level_and_dotted_keys() {
    let mut f = Fixture::new(
        "path: '{dir}/app.json'\nfields: { level: '>=warn', req.method: POST }\nshow: 10\n\
         start_at: beginning",
    );
    f.append(
        "app.json",
        concat!(
            r#"{"name":"app","level":30,"msg":"ok","req":{"method":"POST"}}"#,
            "\n",
            r#"{"name":"app","level":40,"msg":"slow","req":{"method":"POST"}}"#,
            "\n",
            r#"{"name":"app","level":50,"msg":"failed","req":{"method":"GET"}}"#,
            "\n",
            r#"{"name":"app","level":60,"msg":"dead","req":{"method":"POST"}}"#,
            "\n",
            "not json at all, level 60 POST\n",
        ),
    );
    let r = f.run().await;
    assert_eq!(matches(&r), 2, "{r:?}");
    assert!(shown(&r)[0].contains("\"msg\":\"slow\""), "{r:?}");
    assert!(shown(&r)[1].contains("\"msg\":\"dead\""), "{r:?}");
    assert!(
        r.message
            .starts_with("2 matches of level=>=warn req.method=POST in the last 1m"),
        "{}",
        r.message
    );

    let mut f = Fixture::new(
        "path: '{dir}/app.json'\nfields: { level: error }\nmatch: { pattern: '^fail', field: msg }\n\
         start_at: beginning",
    );
    f.append(
        "app.json",
        concat!(
            r#"{"level":"error","msg":"failed to connect"}"#,
            "\n",
            r#"{"level":50,"msg":"failed again"}"#,
            "\n",
            r#"{"level":50,"msg":"not a failure"}"#,
            "\n",
            r#"{"level":40,"msg":"failed but only a warning"}"#,
            "\n",
        ),
    );
    let r = f.run().await;
    assert_eq!(matches(&r), 2, "{r:?}");
}

#[tokio::test]
async fn inverted_matches_and_context() {
    let mut f = Fixture::new(
        "path: '{dir}/app.log'\nmatch: { pattern: '^(INFO|DEBUG) ', invert: true }\ncontext: 1\n\
         start_at: beginning",
    );
    f.append("app.log", "INFO a\nINFO b\nPANIC c\nINFO d\nDEBUG e\n");
    let r = f.run().await;
    assert_eq!(matches(&r), 1, "{r:?}");
    let m = &r.extracted["matches"][0];
    assert_eq!(m["line"], "PANIC c");
    assert_eq!(m["before"], serde_json::json!(["INFO b"]));
    assert_eq!(m["after"], serde_json::json!(["INFO d"]));
}

#[tokio::test]
async fn max_read_bounds_a_run_and_the_rest_follows() {
    let mut f = Fixture::new(
        "path: '{dir}/app.log'\nmatch: { pattern: ERROR }\nmax_read: 4KiB\nthreshold: 1000\n\
         start_at: beginning",
    );
    let line = "ERROR 012345678901234567890123456789012345678901234567890123456\n";
    assert_eq!(line.len(), 64);
    f.append("app.log", &line.repeat(100));
    let r = f.run().await;
    assert_eq!(matches(&r), 64, "{r:?}");
    assert_eq!(metric(&r, "bytes_read"), Some(4096.0));
    assert_eq!(metric(&r, "bytes_pending"), Some(6400.0 - 4096.0));
    assert!(
        r.message.contains("left for the next runs"),
        "{}",
        r.message
    );
    let r = f.run().await;
    assert_eq!(matches(&r), 36, "{r:?}");
    assert_eq!(metric(&r, "bytes_pending"), Some(0.0));
}

#[tokio::test]
async fn show_zero_keeps_no_lines_but_counts() {
    let mut f = Fixture::new(
        "path: '{dir}/app.log'\nmatch: { pattern: ERROR }\nshow: 0\nstart_at: beginning",
    );
    f.append("app.log", "ERROR a\nERROR b\n");
    let r = f.run().await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        "2 matches of /ERROR/ in the last 1m (threshold 1), 2 new in this run"
    );
    assert!(shown(&r).is_empty());
}

#[tokio::test]
async fn no_file_is_unknown() {
    let mut f = Fixture::new("paths: ['{dir}/app.log', '{dir}/*.txt']\nmatch: { pattern: ERROR }");
    let r = f.run().await;
    assert_eq!(r.status, Status::Unknown);
    assert_eq!(
        r.message,
        format!(
            "no file matches {}, {}",
            f.path("app.log").display(),
            f.path("*.txt").display()
        )
    );
    // Created after the first run: read from its start.
    f.append("app.log", "ERROR first line\n");
    let r = f.run().await;
    assert_eq!(shown(&r), ["ERROR first line"], "{r:?}");
}

#[tokio::test]
async fn a_big_file_is_read_within_the_timeout() {
    let f = Fixture::new(
        "path: '{dir}/big.log'\nmatch: { pattern: 'x{50}y' }\nmax_read: 1GiB\nstart_at: beginning",
    );
    let chunk = "some ordinary log line with nothing to see in it at all\n".repeat(1000);
    let mut file = std::fs::File::create(f.path("big.log")).unwrap();
    for _ in 0..300 {
        file.write_all(chunk.as_bytes()).unwrap();
    }
    drop(file);
    let t0 = Instant::now();
    let r = f
        .probe
        .run(RunContext {
            timeout: Duration::from_millis(300),
            started_at_ms: f.now_ms,
        })
        .await;
    assert!(
        t0.elapsed() < Duration::from_millis(600),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let read = metric(&r, "bytes_read").unwrap();
    let pending = metric(&r, "bytes_pending").unwrap();
    assert_eq!(read + pending, (chunk.len() * 300) as f64, "{r:?}");
}
