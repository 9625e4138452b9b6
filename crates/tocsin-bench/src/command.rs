//! `tocsin-bench command`: Nagios plugins run as command checks, against the same plugins run by a
//! plain shell loop (`for i in $(seq N); do PLUGIN ARGS >/dev/null; done`) and by `xargs -P C`
//! with the same concurrency. Tocsin runs them through the `command` probe (one at a time, then C
//! at a time, each task with its own probe as C checks would have), and, unless
//! `--engine-checks 0`, through the real engine with the SQLite store: that many command checks
//! every second, at most C runs at once, more offered than the machine can run.
//!
//! Plugins: `check_dummy 0 ok` (the cost of a process and nothing else) and `check_tcp` against a
//! local HTTP target in another process, a fresh one on a new port for each phase (connections
//! leave `TIME_WAIT` sockets that make later connects to the same port slower). Every phase is
//! bounded in runs and in time.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tocsin_core::check::ByteSize;
use tocsin_core::kinds::CommandSpec;
use tocsin_core::kinds::command::{DEFAULT_MAX_OUTPUT, Protocol, Run};
use tocsin_core::{Dur, ProbeSpec, Status};
use tocsin_engine::{Engine, EngineOptions};
use tocsin_probe::{ProbeEnv, RunContext};
use tocsin_store::Store;
use tokio::time::Instant;

use crate::procfs;
use crate::target::Target;

const PLUGINS: &str = "/usr/lib/nagios/plugins";

/// Options of `tocsin-bench command`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommandArgs {
    /// Runs in each phase.
    #[arg(long, default_value_t = 2000)]
    pub(crate) runs: usize,
    /// Runs at once in the parallel phases (Tocsin tasks, `xargs -P`, the engine's limit).
    #[arg(long, default_value_t = 8)]
    pub(crate) concurrency: usize,
    /// A phase that takes longer than this is stopped (and reported as such).
    #[arg(long, default_value = "120s")]
    pub(crate) max_time: Dur,
    /// Engine phase: number of command checks, each every second (0: skip the phase). Offer
    /// more than the machine can run, so that the figure is the engine's capacity.
    #[arg(long, default_value_t = 5000)]
    pub(crate) engine_checks: usize,
    /// Engine phase: how long to measure, after a 3 s warm-up.
    #[arg(long, default_value = "10s")]
    pub(crate) duration: Dur,
    /// Which plugins: `dummy`, `tcp` (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "dummy,tcp")]
    pub(crate) plugins: Vec<String>,
}

/// A plugin and its arguments.
struct Plugin {
    name: &'static str,
    argv: Vec<String>,
}

impl Plugin {
    fn shell_words(&self) -> String {
        self.argv.join(" ")
    }

    fn spec(&self) -> ProbeSpec {
        ProbeSpec::Command(Box::new(CommandSpec {
            protocol: Protocol::Nagios,
            run: Run::Args(self.argv.clone()),
            shell: false,
            env: BTreeMap::new(),
            inherit_env: Vec::new(),
            cwd: None,
            max_output: ByteSize(DEFAULT_MAX_OUTPUT),
            ignore_exit_status: false,
            matches: Vec::new(),
        }))
    }
}

/// What one phase did.
struct Phase {
    runs: usize,
    secs: f64,
    non_ok: usize,
    finished: bool,
    cpu_self: f64,
    note: String,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.runs as f64 / self.secs.max(1e-9)
    }
}

/// Which plugin a section measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Dummy,
    Tcp,
}

/// A plugin ready for one phase; for `check_tcp`, with a target of its own.
struct Prepared {
    plugin: Plugin,
    _target: Option<Target>,
}

/// `check_dummy 0 ok`, or `check_tcp` against a fresh target: each phase connects to a new port,
/// so that no phase pays for the `TIME_WAIT` sockets the phases before it left on the same one.
fn prepare(which: Which, bound: Duration) -> anyhow::Result<Prepared> {
    Ok(match which {
        Which::Dummy => Prepared {
            plugin: Plugin {
                name: "check_dummy",
                argv: vec![format!("{PLUGINS}/check_dummy"), "0".into(), "ok".into()],
            },
            _target: None,
        },
        Which::Tcp => {
            let target = Target::spawn_testkit(bound)?;
            let port = target
                .url("")
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            Prepared {
                plugin: Plugin {
                    name: "check_tcp",
                    argv: vec![
                        format!("{PLUGINS}/check_tcp"),
                        "-H".into(),
                        "127.0.0.1".into(),
                        "-p".into(),
                        port,
                    ],
                },
                _target: Some(target),
            }
        }
    })
}

/// Runs the benchmark and prints its figures.
pub(crate) async fn run(args: CommandArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.concurrency == 0 {
        bail!("--runs and --concurrency must be at least 1");
    }
    if !Path::new(PLUGINS).join("check_dummy").exists() {
        bail!("{PLUGINS}/check_dummy is missing: apt-get install monitoring-plugins");
    }
    let mut which = Vec::new();
    for p in &args.plugins {
        which.push(match p.as_str() {
            "dummy" => Which::Dummy,
            "tcp" => Which::Tcp,
            other => bail!("unknown plugin {other:?} (expected dummy or tcp)"),
        });
    }
    let scratch = tempfile::Builder::new()
        .prefix("tocsin-bench-command-")
        .tempdir()?;
    let max = args.max_time.get();
    let bound = max * 2 + args.duration.get() * 2 + Duration::from_secs(120);
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench command");
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    println!(
        "check_tcp       against the testkit HTTP server in another process, a fresh one (new port) per phase"
    );
    let env = Arc::new(ProbeEnv::new()?);
    let c = args.concurrency;
    for w in which {
        let first = prepare(w, bound)?;
        let check = std::process::Command::new(&first.plugin.argv[0])
            .args(&first.plugin.argv[1..])
            .stdout(Stdio::null())
            .status()?;
        if !check.success() {
            bail!(
                "{} exits with {check}: not a fair benchmark",
                first.plugin.shell_words()
            );
        }
        println!();
        println!(
            "## {} ({} runs per phase)",
            first.plugin.shell_words(),
            args.runs
        );
        drop(first);
        println!(
            "{:<40} {:>6} {:>8} {:>9} {:>7}",
            "phase", "runs", "seconds", "runs/s", "non-ok"
        );

        let p = prepare(w, bound)?;
        let shell_seq = shell_phase(
            &format!(
                "for i in $(seq {}); do {} >/dev/null; done",
                args.runs,
                p.plugin.shell_words()
            ),
            args.runs,
            max,
        )
        .await?;
        print_phase("shell loop, 1 at a time", &shell_seq);
        let p = prepare(w, bound)?;
        let tocsin_seq = probe_phase(&p.plugin.spec(), &env, args.runs, 1, max).await?;
        print_phase("Tocsin command probe, 1 at a time", &tocsin_seq);
        let p = prepare(w, bound)?;
        let shell_par = shell_phase(
            &format!(
                "seq {} | xargs -P {c} -I{{}} {} >/dev/null",
                args.runs,
                p.plugin.shell_words()
            ),
            args.runs,
            max,
        )
        .await?;
        print_phase(&format!("xargs -P {c}"), &shell_par);
        let p = prepare(w, bound)?;
        let tocsin_par = probe_phase(&p.plugin.spec(), &env, args.runs, c, max).await?;
        print_phase(&format!("Tocsin command probe, {c} at a time"), &tocsin_par);
        let engine = if args.engine_checks > 0 {
            let p = prepare(w, bound)?;
            let e = engine_phase(&args, &p.plugin, scratch.path()).await?;
            print_phase(
                &format!(
                    "Tocsin engine, {} checks, {c} at a time",
                    args.engine_checks
                ),
                &e,
            );
            Some(e)
        } else {
            None
        };
        drop(p);
        println!(
            "CPU Tocsin      {:.0} µs/run in the Tocsin process, 1 at a time; {:.0} µs/run, {c} at a time{}",
            tocsin_seq.cpu_self * 1e6 / tocsin_seq.runs.max(1) as f64,
            tocsin_par.cpu_self * 1e6 / tocsin_par.runs.max(1) as f64,
            engine.as_ref().map_or(String::new(), |e| format!(
                "; {:.0} µs/run through the engine (store included)",
                e.cpu_self * 1e6 / e.runs.max(1) as f64
            )),
        );
        println!(
            "ratio           1 at a time {:.2}x, {c} at a time {:.2}x{}  (Tocsin runs/s ÷ shell runs/s)",
            tocsin_seq.rate() / shell_seq.rate(),
            tocsin_par.rate() / shell_par.rate(),
            engine.as_ref().map_or(String::new(), |e| format!(
                ", engine {:.2}x",
                e.rate() / shell_par.rate()
            )),
        );
    }
    Ok(())
}

fn print_phase(name: &str, p: &Phase) {
    let stopped = if p.finished {
        ""
    } else {
        "  (stopped at --max-time)"
    };
    let note = format!("{stopped}{}", p.note);
    println!(
        "{name:<40} {:>6} {:>8.2} {:>9.0} {:>7}{note}",
        p.runs,
        p.secs,
        p.rate(),
        if p.non_ok == usize::MAX {
            "-".to_owned()
        } else {
            p.non_ok.to_string()
        }
    );
}

/// `sh -c SCRIPT`, timed; killed (with its process group) after `max`.
async fn shell_phase(script: &str, runs: usize, max: Duration) -> anyhow::Result<Phase> {
    let t0 = Instant::now();
    let mut child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start /bin/sh")?;
    let finished = match tokio::time::timeout(max, child.wait()).await {
        Ok(status) => {
            let status = status?;
            if !status.success() {
                bail!("`{script}` failed: {status}");
            }
            true
        }
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
            }
            false
        }
    };
    Ok(Phase {
        runs,
        secs: t0.elapsed().as_secs_f64(),
        non_ok: usize::MAX,
        finished,
        cpu_self: 0.0,
        note: String::new(),
    })
}

/// `runs` runs of `spec` by `tasks` tasks, each with its own probe (as `tasks` checks would).
async fn probe_phase(
    spec: &ProbeSpec,
    env: &Arc<ProbeEnv>,
    runs: usize,
    tasks: usize,
    max: Duration,
) -> anyhow::Result<Phase> {
    let left = Arc::new(AtomicUsize::new(runs));
    let done = Arc::new(AtomicUsize::new(0));
    let non_ok = Arc::new(AtomicUsize::new(0));
    let cpu0 = procfs::process_ticks("self").unwrap_or(0);
    let t0 = Instant::now();
    let end = t0 + max;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let probe = tocsin_probe::build(spec, env)?;
        let (left, done, non_ok) = (left.clone(), done.clone(), non_ok.clone());
        set.spawn(async move {
            while Instant::now() < end
                && left
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                let r = probe
                    .run(RunContext {
                        timeout: Duration::from_secs(10),
                        started_at_ms: 0,
                    })
                    .await;
                if r.status != Status::Ok && non_ok.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("first non-ok result: {} {}", r.status, r.message);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    while set.join_next().await.is_some() {}
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::secs(
        procfs::process_ticks("self")
            .unwrap_or(0)
            .saturating_sub(cpu0),
    );
    let runs_done = done.load(Ordering::Relaxed);
    Ok(Phase {
        runs: runs_done,
        secs,
        non_ok: non_ok.load(Ordering::Relaxed),
        finished: runs_done == runs,
        cpu_self: cpu,
        note: String::new(),
    })
}

/// The real engine and store: `engine_checks` checks of `plugin` every second, at most
/// `concurrency` runs at once; runs finished in `duration` after a 3 s warm-up.
async fn engine_phase(
    args: &CommandArgs,
    plugin: &Plugin,
    scratch: &Path,
) -> anyhow::Result<Phase> {
    let dir = scratch.join(format!("engine-{}", plugin.name));
    let config = dir.join("config");
    std::fs::create_dir_all(&config)?;
    let items: Vec<String> = plugin.argv.iter().map(|a| format!("{a:?}")).collect();
    let run = format!("[{}]", items.join(", "));
    let mut text = String::from("defaults:\n  every: 1s\n  timeout: 1s\nchecks:\n");
    for i in 0..args.engine_checks {
        text.push_str(&format!(
            "  - id: cmd-{i:06}\n    command: {{ protocol: nagios, run: {run} }}\n"
        ));
    }
    std::fs::write(config.join("checks.yml"), text)?;
    let store = Store::open_sqlite_dir(&dir.join("store"))
        .await
        .context("opening the store")?;
    let mut options = EngineOptions::new(&config);
    options.max_concurrent = args.concurrency;
    options.max_per_host = args.concurrency;
    options.shutdown_grace = Duration::from_secs(10);
    let engine: Arc<Engine> = Engine::start(options, store)
        .await
        .context("starting the engine")?;
    let loaded = engine.table().len();
    if loaded != args.engine_checks {
        bail!(
            "loaded {loaded} of {} checks: {:?}",
            args.engine_checks,
            engine.config_errors()
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let m = engine.metrics();
    let count = || -> [u64; 4] { std::array::from_fn(|i| m.runs[i].load(Ordering::Relaxed)) };
    let a = count();
    let overruns0 = m.overruns.load(Ordering::Relaxed);
    let cpu0 = procfs::process_ticks("self").unwrap_or(0);
    let t0 = Instant::now();
    tokio::time::sleep(args.duration.get()).await;
    let b = count();
    let overruns = m.overruns.load(Ordering::Relaxed) - overruns0;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::secs(
        procfs::process_ticks("self")
            .unwrap_or(0)
            .saturating_sub(cpu0),
    );
    engine.shutdown().await;
    engine.store().close().await;
    let by: [u64; 4] = std::array::from_fn(|i| b[i] - a[i]);
    let runs = usize::try_from(by.iter().sum::<u64>()).unwrap_or(usize::MAX);
    Ok(Phase {
        runs,
        secs,
        non_ok: usize::try_from(by[1] + by[2] + by[3]).unwrap_or(usize::MAX),
        finished: true,
        cpu_self: cpu,
        note: format!(
            "  (offered {}/s; {} runs skipped: still waiting for a slot)",
            args.engine_checks, overruns
        ),
    })
}
