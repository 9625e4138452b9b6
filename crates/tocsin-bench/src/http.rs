//! `tocsin-bench http|tcp|icmp`: the real engine with the real SQLite store running N checks of
//! one kind against a local target (an HTTP server in another process; for icmp, 127.0.0.1
//! itself), measured after a warm-up; then, with `--blackbox`, the blackbox exporter probing the
//! same target with its module of the same kind for the same time, as the reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tocsin_core::Dur;
use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;
use tokio::time::Instant;

use crate::lag::{LagSnapshot, LagWindow};
use crate::target::{Kind, Target};
use crate::{blackbox, configgen, procfs};

/// Which kind of check the benchmark runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BenchKind {
    /// GET /ok, expect 200; blackbox module `http_2xx`.
    Http,
    /// Connect and close; blackbox module `tcp_connect`.
    Tcp,
    /// One echo request to 127.0.0.1; blackbox module `icmp`.
    Icmp,
}

impl BenchKind {
    fn name(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tcp => "tcp",
            Self::Icmp => "icmp",
        }
    }

    /// What one check does, in words.
    fn describe(self) -> &'static str {
        match self {
            Self::Http => "HTTP checks (new connection per check)",
            Self::Tcp => "TCP connect checks",
            Self::Icmp => "ICMP checks (1 echo request each)",
        }
    }

    /// The probe lines of a generated check talking to the target's `port`.
    fn probe(self, port: u16) -> String {
        match self {
            Self::Http => configgen::http(&format!("http://127.0.0.1:{port}/ok"), Some(200)),
            Self::Tcp => format!("    tcp: {{ host: 127.0.0.1, port: {port} }}\n"),
            Self::Icmp => "    icmp: { host: 127.0.0.1, count: 1 }\n".to_owned(),
        }
    }

    /// The `target` parameter of blackbox probes of the target's `port`.
    fn blackbox_target(self, port: u16) -> String {
        match self {
            Self::Http => format!("http://127.0.0.1:{port}/ok"),
            Self::Tcp => format!("127.0.0.1:{port}"),
            Self::Icmp => "127.0.0.1".to_owned(),
        }
    }

    /// The blackbox module (name and YAML) and the `target` parameters of its probes.
    fn blackbox(self, ports: &[u16]) -> blackbox::Module {
        let (name, config) = match self {
            Self::Http => (
                "http_2xx",
                "prober: http\n    timeout: 5s\n    http:\n      preferred_ip_protocol: ip4\n",
            ),
            Self::Tcp => (
                "tcp_connect",
                "prober: tcp\n    timeout: 5s\n    tcp:\n      preferred_ip_protocol: ip4\n",
            ),
            Self::Icmp => (
                "icmp",
                "prober: icmp\n    timeout: 5s\n    icmp:\n      preferred_ip_protocol: ip4\n",
            ),
        };
        blackbox::Module {
            name,
            config: format!("modules:\n  {name}:\n    {config}"),
            targets: ports.iter().map(|&p| self.blackbox_target(p)).collect(),
        }
    }
}

/// Options of `tocsin-bench http`, `tcp` and `icmp`.
#[derive(Debug, clap::Args)]
pub(crate) struct HttpArgs {
    /// Number of checks.
    #[arg(long, default_value_t = 30_000)]
    pub(crate) checks: usize,
    /// Interval of every check.
    #[arg(long, default_value = "2s")]
    pub(crate) every: Dur,
    /// Time limit of one run (at most the interval: a longer one is lowered to it).
    #[arg(long, default_value = "5s")]
    pub(crate) timeout: Dur,
    /// How long to measure (after the warm-up).
    #[arg(long, default_value = "20s")]
    pub(crate) duration: Dur,
    /// How long to run before measuring.
    #[arg(long, default_value = "5s")]
    pub(crate) warmup: Dur,
    /// Engine: runs in progress at once.
    #[arg(long, default_value_t = 4096)]
    pub(crate) max_concurrent: usize,
    /// Engine: runs in progress at once against one host.
    #[arg(long, default_value_t = 4096)]
    pub(crate) max_per_host: usize,
    /// Serve the target with nginx (one process) instead of the testkit server.
    #[arg(long)]
    pub(crate) nginx: bool,
    /// With --nginx: listen on this many ports and spread the checks (and the exporter's
    /// probes) over them, as checks of many targets would be.
    #[arg(long, default_value_t = 1)]
    pub(crate) target_ports: usize,
    /// Then measure Prometheus' blackbox exporter probing the same target.
    #[arg(long)]
    pub(crate) blackbox: bool,
    /// Sample the store's write-behind queue depth every 2 s while measuring (renders the whole
    /// `/metrics` document each time, which costs CPU with many checks).
    #[arg(long)]
    pub(crate) watch_store: bool,
    /// Keep the scratch directory (configuration, SQLite store, logs) and print its path.
    #[arg(long)]
    pub(crate) keep: bool,
    /// Print the scheduler lag of every 100 ms window whose p99 is over 10 ms, to tell bursts
    /// from a steady lag.
    #[arg(long)]
    pub(crate) lag_trace: bool,
    /// Nice value of the store's SQLite threads, as `tocsin serve --store-nice` (0: the
    /// process's priority).
    #[arg(long, default_value_t = tocsin_store::DEFAULT_SQLITE_NICE,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub(crate) store_nice: i32,
    /// Concurrent clients driving the blackbox exporter.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
}

/// Everything read at the start and at the end of the measured window.
struct Snapshot {
    at: Instant,
    runs: [u64; 4],
    overruns: u64,
    timeouts: u64,
    missed: u64,
    lag: LagSnapshot,
    me: u64,
    threads: BTreeMap<String, u64>,
    target: u64,
    target_requests: Option<u64>,
    machine: Option<(u64, u64)>,
}

impl Snapshot {
    fn take(engine: &Engine, target: &mut Target) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let m = engine.metrics();
        let target_requests = tokio::task::block_in_place(|| target.requests());
        Self {
            at: Instant::now(),
            runs: std::array::from_fn(|i| m.runs[i].load(Relaxed)),
            overruns: m.overruns.load(Relaxed),
            timeouts: m.timeouts.load(Relaxed),
            missed: m.missed.load(Relaxed),
            lag: LagSnapshot::take(m),
            me: procfs::process_ticks("self").unwrap_or(0),
            threads: procfs::thread_ticks("self"),
            target: procfs::process_ticks(&target.pid().to_string()).unwrap_or(0),
            target_requests,
            machine: procfs::machine_ticks(),
        }
    }
}

/// Runs the benchmark and prints its figures.
pub(crate) async fn run(args: HttpArgs, kind: BenchKind) -> anyhow::Result<()> {
    if args.checks == 0 {
        bail!("--checks must be at least 1");
    }
    let every = args.every.get();
    let duration = args.duration.get();
    let warmup = args.warmup.get();
    let timeout = Dur(args.timeout.get().min(every));
    let scratch = tempfile::Builder::new().prefix("tocsin-bench-").tempdir()?;
    // The target outlives every phase, bounded all the same.
    let bound = (warmup + duration) * 2 + Duration::from_secs(300);
    if args.target_ports != 1 && !args.nginx {
        bail!("--target-ports needs --nginx");
    }
    let mut target = if args.nginx {
        Target::spawn_nginx(&scratch.path().join("nginx"), args.target_ports)?
    } else {
        Target::spawn_testkit(bound)?
    };
    let url = target.url("/ok");
    let ports = target.ports().to_vec();
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench {}", kind.name());
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    println!(
        "target          {} (pid {}) at {url}{}",
        match target.kind() {
            Kind::Testkit => "testkit hyper server, 1 worker thread",
            Kind::Nginx => "nginx, 1 process",
        },
        target.pid(),
        if ports.len() > 1 {
            format!(" and {} more ports", ports.len() - 1)
        } else {
            String::new()
        }
    );
    println!(
        "store           SQLite, its threads at nice {}",
        args.store_nice
    );
    if timeout.get() < args.timeout.get() {
        println!(
            "note            timeout lowered to {timeout} (a timeout may not exceed the interval)"
        );
    }

    let probe = |i: usize| kind.probe(ports[i % ports.len()]);
    let tocsin = tocsin_phase(&args, kind, scratch.path(), &probe, timeout, &mut target).await?;

    if args.blackbox {
        let module = kind.blackbox(&ports);
        let bb = blackbox::run(
            &scratch.path().join("blackbox"),
            &module,
            target.pid(),
            args.concurrency,
            warmup,
            duration,
        )
        .await?;
        print_blackbox(&bb, module.name, args.concurrency);
        let rate = bb.rate();
        println!();
        println!("## ratio (same run, same target)");
        println!(
            "checks/s        {:.1}x  (Tocsin {:.0}/s vs blackbox {rate:.0} probes/s)",
            tocsin.rate / rate,
            tocsin.rate
        );
        let bb_us = bb.exporter_cpu * 1e6 / (bb.ok + bb.failed).max(1) as f64;
        println!(
            "CPU per check   {:.1}x  less (Tocsin {:.1} µs/check vs exporter {bb_us:.1} µs/probe)",
            bb_us / tocsin.us_per_check,
            tocsin.us_per_check
        );
    }
    drop(target);
    if args.keep {
        let kept = scratch.keep();
        println!("kept            {}", kept.display());
    }
    Ok(())
}

/// The two headline figures of the Tocsin phase, for the ratio.
struct TocsinFigures {
    rate: f64,
    us_per_check: f64,
}

async fn tocsin_phase(
    args: &HttpArgs,
    kind: BenchKind,
    scratch: &Path,
    probe: &dyn Fn(usize) -> String,
    timeout: Dur,
    target: &mut Target,
) -> anyhow::Result<TocsinFigures> {
    let every = args.every.get();
    let config = scratch.join("config");
    configgen::write(
        &config,
        &configgen::Generated {
            checks: args.checks,
            per_file: 10_000,
            every: args.every,
            timeout,
            probe,
        },
    )?;
    tocsin_store::set_sqlite_nice(args.store_nice);
    let store = Store::open_sqlite_dir(&scratch.join("store"))
        .await
        .context("opening the store")?;
    let mut options = EngineOptions::new(&config);
    options.max_concurrent = args.max_concurrent;
    options.max_per_host = args.max_per_host;
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
            "loaded {loaded} of {} checks; errors: {errors:?}",
            args.checks
        );
    }

    tokio::time::sleep(args.warmup.get()).await;
    let a = Snapshot::take(&engine, target);
    let end = a.at + args.duration.get();
    let mut rss_peak = 0;
    let mut depths = Vec::new();
    let mut tick = 0u32;
    let mut trace = Vec::new();
    let mut last_lag = a.lag.clone();
    let step: u32 = if args.lag_trace { 100 } else { 500 };
    while Instant::now() < end {
        let left = end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(step.into()))).await;
        if args.lag_trace {
            let now = LagSnapshot::take(engine.metrics());
            let w = now.since(&last_lag);
            if let Some((p99, _)) = w.quantile(0.99)
                && p99 > Duration::from_millis(10)
            {
                // The wall clock's second within its minute, to match bursts with the
                // once-a-minute work (closing the minute's rollups).
                let second = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() % 60_000);
                trace.push(format!(
                    "  +{:>6.1} s  (:{:04.1})  p99 {:>7.1} ms  p50 {:>6.1} ms  runs {}",
                    (Instant::now() - a.at).as_secs_f64(),
                    second as f64 / 1e3,
                    p99.as_secs_f64() * 1e3,
                    w.quantile(0.5).map_or(0.0, |(d, _)| d.as_secs_f64() * 1e3),
                    w.count()
                ));
            }
            last_lag = now;
        }
        rss_peak = rss_peak.max(procfs::rss());
        tick += 1;
        if args.watch_store && tick.is_multiple_of(2000 / step) {
            let text = engine.render_metrics();
            let depth = store_counters(&text)
                .get("tocsin_store_queue_depth")
                .map(|d| (*d).to_owned());
            depths.push(depth.unwrap_or_default());
        }
    }
    let b = Snapshot::take(&engine, target);
    let rss_end = procfs::rss();
    let hwm = procfs::status_bytes("self", "VmHWM").unwrap_or(0);
    let t_stop = Instant::now();
    engine.shutdown().await;
    let stop = t_stop.elapsed();
    let exposition = engine.render_metrics();
    let store = store_counters(&exposition);
    engine.store().close().await;

    let secs = (b.at - a.at).as_secs_f64();
    let runs_by: [u64; 4] = std::array::from_fn(|i| b.runs[i] - a.runs[i]);
    let runs: u64 = runs_by.iter().sum();
    let rate = runs as f64 / secs;
    let offered = args.checks as f64 / every.as_secs_f64();
    let me = procfs::secs(b.me.saturating_sub(a.me));
    let tgt = procfs::secs(b.target.saturating_sub(a.target));
    let per = |cpu: f64| cpu * 1e6 / runs.max(1) as f64;
    let lag = b.lag.since(&a.lag);

    println!();
    println!(
        "## Tocsin: {} {} every {}, timeout {timeout}",
        args.checks,
        kind.describe(),
        args.every
    );
    println!(
        "load            {:.0} ms (engine start with {} checks)",
        load.as_secs_f64() * 1e3,
        args.checks
    );
    println!("measured        {secs:.1} s after {} warm-up", args.warmup);
    println!("checks/s        {rate:.0}  (offered {offered:.0}/s; runs {runs})");
    println!(
        "results         ok {}, warning {}, critical {}, unknown {}  (non-ok {})",
        runs_by[0],
        runs_by[1],
        runs_by[2],
        runs_by[3],
        runs - runs_by[0]
    );
    if let (Some(r0), Some(r1)) = (a.target_requests, b.target_requests) {
        println!("target requests {} in the window", r1 - r0);
    }
    println!(
        "overruns        {}   timeouts {}   missed slots {}",
        b.overruns - a.overruns,
        b.timeouts - a.timeouts,
        b.missed - a.missed,
    );
    println!(
        "store           rows {}, transactions {}, write errors {}, dropped {}  (whole run, warm-up included)",
        store
            .get("tocsin_store_rows_written_total")
            .copied()
            .unwrap_or("?"),
        store
            .get("tocsin_store_batches_total")
            .copied()
            .unwrap_or("?"),
        store
            .get("tocsin_store_write_errors_total")
            .copied()
            .unwrap_or("?"),
        store
            .get("tocsin_store_dropped_total")
            .copied()
            .unwrap_or("?"),
    );
    print_lag(&lag);
    if args.lag_trace {
        println!(
            "lag trace       {} windows of 100 ms with p99 > 10 ms",
            trace.len()
        );
        for line in &trace {
            println!("{line}");
        }
    }
    if args.watch_store {
        println!(
            "store queue     {} (writes waiting, every 2 s)",
            depths.join(" ")
        );
    }
    println!(
        "CPU Tocsin      {:.1} µs/check  ({me:.2} CPU-s, {:.2} cores)",
        per(me),
        me / secs
    );
    println!(
        "CPU target      {:.1} µs/check  ({tgt:.2} CPU-s, {:.2} cores)",
        per(tgt),
        tgt / secs
    );
    if let (Some(m0), Some(m1)) = (a.machine, b.machine) {
        let busy = procfs::secs(m1.0 - m0.0);
        let total = procfs::secs(m1.1 - m0.1);
        println!(
            "CPU machine     {busy:.2} of {total:.2} CPU-s busy; other processes {:.2} CPU-s",
            (busy - me - tgt).max(0.0)
        );
    }
    let cpus = procfs::cpu_model().0.max(1) as f64;
    println!(
        "idle estimate   {:.0} checks/s  ({cpus} CPUs / (Tocsin + target CPU per check): the rate if nothing else ran)",
        cpus * 1e6 / (per(me) + per(tgt)).max(1e-9)
    );
    println!("CPU by thread   (Tocsin process, µs/check)");
    let mut by_group: BTreeMap<String, u64> = BTreeMap::new();
    for (name, t1) in &b.threads {
        let t0 = a.threads.get(name).copied().unwrap_or(0);
        let group = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
        *by_group.entry(group.to_owned()).or_insert(0) += t1.saturating_sub(t0);
    }
    for (name, ticks) in &by_group {
        if *ticks > 0 {
            println!("  {name:<22} {:>8.1}", per(procfs::secs(*ticks)));
        }
    }
    println!(
        "RSS             {:.1} MiB at the end, {:.1} MiB peak while measured, VmHWM {:.1} MiB",
        mib(rss_end),
        mib(rss_peak.max(rss_end)),
        mib(hwm)
    );
    println!(
        "shutdown        {:.0} ms (settle runs, flush the store)",
        stop.as_secs_f64() * 1e3
    );
    Ok(TocsinFigures {
        rate,
        us_per_check: per(me),
    })
}

/// The `tocsin_store_*` counters of a `/metrics` document.
fn store_counters(text: &str) -> BTreeMap<&str, &str> {
    text.lines()
        .filter(|l| l.starts_with("tocsin_store_"))
        .filter_map(|l| l.split_once(' '))
        .collect()
}

fn print_lag(lag: &LagWindow) {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let bound = |le: f64| {
        if le.is_finite() {
            format!("≤ {} ms", le * 1e3)
        } else {
            "> 5000 ms".to_owned()
        }
    };
    match (
        lag.quantile(0.5),
        lag.quantile(0.99),
        lag.quantile(0.999),
        lag.mean(),
    ) {
        (Some((p50, b50)), Some((p99, b99)), Some((p999, b999)), Some(mean)) => println!(
            "scheduler lag   p50 {:.2} ms ({}), p99 {:.2} ms ({}), p99.9 {:.2} ms ({}), mean {:.2} ms  [{} runs in the window]",
            ms(p50),
            bound(b50),
            ms(p99),
            bound(b99),
            ms(p999),
            bound(b999),
            ms(mean),
            lag.count()
        ),
        _ => println!("scheduler lag   no runs started in the window"),
    }
}

fn print_blackbox(bb: &blackbox::Figures, module: &str, clients: usize) {
    let probes = bb.ok + bb.failed;
    let per = |cpu: f64| cpu * 1e6 / probes.max(1) as f64;
    println!();
    println!("## blackbox exporter: /probe?module={module}, {clients} kept-alive clients");
    println!("version         {}", bb.version);
    println!("measured        {:.1} s", bb.secs);
    println!(
        "probes/s        {:.0}  (ok {}, failed {})",
        bb.rate(),
        bb.ok,
        bb.failed
    );
    if let Some((p50, p99)) = bb.latency {
        println!(
            "probe latency   p50 {:.2} ms, p99 {:.2} ms (client side)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "CPU exporter    {:.1} µs/probe  ({:.2} CPU-s, {:.2} cores)",
        per(bb.exporter_cpu),
        bb.exporter_cpu,
        bb.exporter_cpu / bb.secs
    );
    println!(
        "CPU target      {:.1} µs/probe  ({:.2} CPU-s)",
        per(bb.target_cpu),
        bb.target_cpu
    );
    println!(
        "CPU client      {:.1} µs/probe  ({:.2} CPU-s, this process)",
        per(bb.client_cpu),
        bb.client_cpu
    );
    let cpus = procfs::cpu_model().0.max(1) as f64;
    println!(
        "idle estimate   {:.0} probes/s  ({cpus} CPUs / (exporter + target CPU per probe); client not counted)",
        cpus * 1e6 / (per(bb.exporter_cpu) + per(bb.target_cpu)).max(1e-9)
    );
    if let Some(busy) = bb.machine_busy {
        println!(
            "CPU machine     {busy:.2} CPU-s busy; other processes {:.2} CPU-s",
            (busy - bb.exporter_cpu - bb.target_cpu - bb.client_cpu).max(0.0)
        );
    }
    println!(
        "RSS exporter    {:.1} MiB at the end, {:.1} MiB peak",
        mib(bb.exporter_rss.0),
        mib(bb.exporter_rss.1)
    );
}

pub(crate) fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}
