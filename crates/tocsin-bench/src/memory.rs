//! `tocsin-bench memory`: the resident memory a configured check costs — spec, built probe,
//! table entry, schedule slot and state — measured as the growth of the process's RSS when the
//! engine loads N generated checks (by default `every: 1h`, so they rarely run while measured).
//!
//! `--run-all` then runs every check once, and `--every 1m --observe 3m` keeps them running, to
//! show what a check costs once it has a last result and open per-minute rollups.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tocsin_core::Dur;
use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;
use tokio::time::Instant;

use crate::http::mib;
use crate::{configgen, procfs};

/// The target per configured check.
const TARGET_BYTES: u64 = 2048;

/// Options of `tocsin-bench memory`.
#[derive(Debug, clap::Args)]
pub(crate) struct MemoryArgs {
    /// Number of HTTP checks to load.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) checks: usize,
    /// Checks per configuration file.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) per_file: usize,
    /// Then run every check once (paced; the targets refuse the connection at once) and
    /// measure again: state and last result in memory.
    #[arg(long)]
    pub(crate) run_all: bool,
    /// Interval of the generated checks (1h: they rarely run while measured).
    #[arg(long, default_value = "1h")]
    pub(crate) every: Dur,
    /// At the end, keep the engine running this long and report the RSS again (with a short
    /// --every: memory in steady operation, per-minute rollups and last results included).
    #[arg(long, default_value = "0s")]
    pub(crate) observe: Dur,
    /// Longest time to wait for the RSS to settle after loading.
    #[arg(long, default_value = "30s")]
    pub(crate) settle: Dur,
}

/// Runs the benchmark and prints its figures.
pub(crate) async fn run(args: MemoryArgs) -> anyhow::Result<()> {
    if args.checks == 0 {
        bail!("--checks must be at least 1");
    }
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench memory");
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    print_sizes();

    let scratch = tempfile::Builder::new().prefix("tocsin-bench-").tempdir()?;
    let config = scratch.path().join("config");
    let probe = |i: usize| configgen::http(&format!("http://127.0.0.1:9/x-{i}"), None);
    let t_gen = Instant::now();
    let bytes = configgen::write(
        &config,
        &configgen::Generated {
            checks: args.checks,
            per_file: args.per_file,
            every: args.every,
            timeout: Dur(args.every.get().min(Duration::from_secs(10))),
            probe: &probe,
        },
    )?;
    println!(
        "config          {} checks in {} files, {:.1} MiB of YAML (written in {:.1} s)",
        args.checks,
        args.checks.div_ceil(args.per_file.max(1)),
        mib(bytes),
        t_gen.elapsed().as_secs_f64()
    );

    let specs = specs_in_child(&config).await;
    let store = Store::open_sqlite_dir(&scratch.path().join("store"))
        .await
        .context("opening the store")?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = procfs::rss();
    let mut options = EngineOptions::new(&config);
    options.shutdown_grace = Duration::from_secs(10);
    let t0 = Instant::now();
    let engine: Arc<Engine> = Engine::start(options, store)
        .await
        .context("starting the engine")?;
    let load = t0.elapsed();
    let loaded = engine.table().len();
    let errors = engine.config_errors();
    if loaded != args.checks || !errors.is_empty() {
        bail!(
            "loaded {loaded} of {} checks; first errors: {:?}",
            args.checks,
            &errors[..errors.len().min(3)]
        );
    }
    let right_after = procfs::rss();

    // The scheduler builds its heap from the new entries in the background: wait until the RSS
    // stops moving (two readings 500 ms apart within 0.5 %), bounded by --settle.
    let settle_until = Instant::now() + args.settle.get();
    let mut last = right_after;
    let after = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = procfs::rss();
        let stable = now.abs_diff(last) * 200 <= now;
        last = now;
        if stable || Instant::now() >= settle_until {
            break now;
        }
    };
    let hwm = procfs::status_bytes("self", "VmHWM").unwrap_or(0);
    let per_check = after.saturating_sub(before) as f64 / args.checks as f64;

    println!();
    println!(
        "## {} HTTP checks, every {} (SQLite store in a temporary directory)",
        args.checks, args.every
    );
    println!(
        "load            {:.2} s  (Engine::start: parse, validate, build probes, fill the table)",
        load.as_secs_f64()
    );
    println!("RSS before      {:.1} MiB", mib(before));
    println!(
        "RSS after       {:.1} MiB right after start, {:.1} MiB settled (VmHWM {:.1} MiB)",
        mib(right_after),
        mib(after),
        mib(hwm)
    );
    println!(
        "per check       {per_check:.0} bytes  (target ≤ {TARGET_BYTES} bytes: {})",
        if per_check <= TARGET_BYTES as f64 {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "peak per check  {:.0} bytes  (VmHWM − before: transient load-time memory included)",
        hwm.saturating_sub(before) as f64 / args.checks as f64
    );
    if let Some((before, after)) = specs {
        let specs_per_check = after.saturating_sub(before) as f64 / args.checks as f64;
        println!("breakdown       (bytes per check)");
        println!(
            "  {:<42} {specs_per_check:>6.0}",
            "specs (ConfigSet::reload alone, other process)"
        );
        println!(
            "  {:<42} {:>6.0}",
            "the rest (probe, table entry, schedule, state)",
            per_check - specs_per_check
        );
    }
    if args.run_all {
        run_all(&engine, before, args.checks).await;
    }
    if !args.observe.get().is_zero() {
        observe(&engine, before, args.checks, args.observe.get()).await;
    }
    let t_stop = Instant::now();
    engine.shutdown().await;
    engine.store().close().await;
    println!(
        "shutdown        {:.0} ms",
        t_stop.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Runs every check once, `CHUNK` at a time (each chunk waits for its runs, at most 30 s), then
/// prints the RSS per check with a state and a last result in memory.
async fn run_all(engine: &Engine, before: u64, checks: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    const CHUNK: usize = 2_000;
    let done = || {
        engine
            .metrics()
            .runs
            .iter()
            .map(|r| r.load(Relaxed))
            .sum::<u64>()
    };
    let t0 = Instant::now();
    let start_runs = done();
    let table = engine.table();
    let ids: Vec<String> = table.keys().map(|id| id.as_str().to_owned()).collect();
    drop(table);
    let mut sent = 0u64;
    for chunk in ids.chunks(CHUNK) {
        for id in chunk {
            if engine.run_now(id) {
                sent += 1;
            }
        }
        let wait_until = Instant::now() + Duration::from_secs(30);
        while done() - start_runs + (CHUNK as u64 / 4) < sent && Instant::now() < wait_until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let wait_until = Instant::now() + Duration::from_secs(30);
    while done() - start_runs < sent && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    engine.flush().await;
    let ran = done() - start_runs;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = procfs::rss();
    println!(
        "after one run   {ran} runs in {:.1} s; RSS {:.1} MiB; per check {:.0} bytes (state and last result in memory)",
        t0.elapsed().as_secs_f64(),
        mib(after),
        after.saturating_sub(before) as f64 / checks as f64
    );
}

/// Lets the engine run for `span`, then prints the RSS, the largest RSS seen and the runs.
async fn observe(engine: &Engine, before: u64, checks: usize, span: Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    let done = || {
        engine
            .metrics()
            .runs
            .iter()
            .map(|r| r.load(Relaxed))
            .sum::<u64>()
    };
    let runs0 = done();
    let end = Instant::now() + span;
    let mut peak = 0;
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs(1))).await;
        peak = peak.max(procfs::rss());
    }
    let now = procfs::rss();
    let per = |b: u64| b.saturating_sub(before) as f64 / checks as f64;
    println!(
        "after {:<9} {} runs; RSS {:.1} MiB (max {:.1}); per check {:.0} bytes (max {:.0})",
        Dur(span).to_string(),
        done() - runs0,
        mib(now),
        mib(peak.max(now)),
        per(now),
        per(peak.max(now))
    );
}

/// Loads `config` with [`tocsin_core::config::ConfigSet`] alone in a child process (this binary's
/// hidden `spec-memory` subcommand) and returns its RSS before and after.
async fn specs_in_child(config: &std::path::Path) -> Option<(u64, u64)> {
    let exe = std::env::current_exe().ok()?;
    let out = tokio::time::timeout(
        Duration::from_secs(600),
        tokio::process::Command::new(exe)
            .arg("spec-memory")
            .arg("--config")
            .arg(config)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .ok()?
    .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    Some((it.next()??, it.next()??))
}

/// The hidden `spec-memory` subcommand: prints the RSS before and after loading `config` with
/// `ConfigSet` alone (the parsed, validated specs it keeps).
pub(crate) fn spec_memory(config: &std::path::Path) -> anyhow::Result<()> {
    let before = procfs::rss();
    let mut set = tocsin_core::config::ConfigSet::default();
    set.reload(config, &|k| std::env::var(k).ok());
    let errors = set.all_errors();
    if !errors.is_empty() {
        bail!("{} configuration errors", errors.len());
    }
    let after = procfs::rss();
    println!("{before} {after}");
    drop(set);
    Ok(())
}

/// The inline sizes of the per-check types (heap data they point to is not included).
fn print_sizes() {
    use std::mem::size_of;
    println!("size_of         (inline bytes; heap behind pointers not included)");
    let rows: [(&str, usize); 12] = [
        ("CheckEntry", size_of::<tocsin_engine::CheckEntry>()),
        ("Runtime", size_of::<tocsin_engine::Runtime>()),
        ("CheckSpec", size_of::<tocsin_core::CheckSpec>()),
        ("ProbeSpec", size_of::<tocsin_core::ProbeSpec>()),
        ("HttpSpec", size_of::<tocsin_core::check::HttpSpec>()),
        ("HttpExpect", size_of::<tocsin_core::check::HttpExpect>()),
        (
            "TlsClientSpec",
            size_of::<tocsin_core::check::TlsClientSpec>(),
        ),
        ("CheckDef", size_of::<tocsin_core::check::CheckDef>()),
        ("CheckState", size_of::<tocsin_core::CheckState>()),
        ("CheckResult", size_of::<tocsin_core::CheckResult>()),
        ("Schedule", size_of::<tocsin_core::Schedule>()),
        ("AlertPolicy", size_of::<tocsin_core::AlertPolicy>()),
    ];
    for (name, size) in rows {
        println!("  {name:<22} {size:>6}");
    }
}
