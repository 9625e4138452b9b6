//! `tocsin-bench notify-latency|notify-rate`: the real engine with the embedded SQLite store,
//! HTTP checks whose alarms notify one webhook contact, against a small server in this process
//! that plays both the checks' target and the webhook's receiver on a thread of its own.
//!
//! - `notify-latency`: N checks every second flip down and up in rounds; each webhook's arrival
//!   minus the moment the target served the answer that changed the check's state (same process,
//!   same monotonic clock). Reference: a bare POST of the same body over a fresh connection.
//! - `notify-rate`: M checks go down at once (one target flip, then every check run at once);
//!   the time until the M alarm changes are written and until the M webhooks have arrived. Then
//!   again with the receiver holding the webhooks until every alarm change is written: the
//!   delivery worker's rate from a full outbox. Reference: the same M POSTs in batches of 64
//!   sent together, as the delivery worker does.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tocsin_core::Dur;
use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;

use crate::{configgen, procfs};

/// Due deliveries the engine's worker takes and sends together (`BATCH` in
/// `tocsin-engine/src/alerting.rs`).
const WORKER_BATCH: usize = 64;

/// The contact every check notifies.
const CONTACT: &str = "hook";

/// Options of `tocsin-bench notify-latency`.
#[derive(Debug, clap::Args)]
pub(crate) struct LatencyArgs {
    /// Number of checks (each its own alarm).
    #[arg(long, default_value_t = 50)]
    checks: usize,
    /// Down-and-up rounds: every round opens and closes one alarm per check.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Interval of every check.
    #[arg(long, default_value = "1s")]
    every: Dur,
    /// Bare POSTs sent for the reference.
    #[arg(long, default_value_t = 500)]
    reference: usize,
}

/// Options of `tocsin-bench notify-rate`.
#[derive(Debug, clap::Args)]
pub(crate) struct RateArgs {
    /// Number of checks that go down at once (one alarm and one webhook each).
    #[arg(long, default_value_t = 2000)]
    checks: usize,
    /// Longest wait for the webhooks after the flip.
    #[arg(long, default_value = "120s")]
    timeout: Dur,
}

/// Runs `notify-latency` and prints its figures.
pub(crate) async fn latency(args: LatencyArgs) -> anyhow::Result<()> {
    if args.checks == 0 || args.rounds == 0 {
        bail!("--checks and --rounds must be at least 1");
    }
    header("notify-latency");
    let server = Server::start(args.checks)?;
    let (engine, _scratch) = start_engine(&server, args.checks, args.every, args.every).await?;
    wait_until(
        Duration::from_secs(30),
        "a first ok result of every check",
        || all_ok(&engine),
    )
    .await?;

    let started = Instant::now();
    let cpu = Cpu::now();
    for round in 0..args.rounds {
        for kind in [Kind::Opened, Kind::Closed] {
            let before = server.state.count(kind);
            server.state.set_down(kind == Kind::Opened);
            // Every check runs within one interval; a few seconds more for the deliveries.
            let bound = args.every.get() * 2 + Duration::from_secs(10);
            wait_until(
                bound,
                &format!("round {round}: the {kind:?} webhooks"),
                || server.state.count(kind) >= before + args.checks,
            )
            .await?;
        }
    }
    let rounds_took = started.elapsed();
    let cpu = cpu.since();
    let opened = server.state.latencies(Kind::Opened);
    let closed = server.state.latencies(Kind::Closed);
    let unmatched = server.state.arrivals().len() - opened.len() - closed.len();

    // The reference: what the notifier does for one delivery, without the engine around it.
    let body = server.state.sample_body()?;
    let mut bare = Vec::with_capacity(args.reference);
    let limit = Instant::now() + Duration::from_secs(60);
    while bare.len() < args.reference && Instant::now() < limit {
        let sent = Instant::now();
        post(server.port, body.clone()).await?;
        let arrived = server
            .state
            .last_reference()
            .context("no reference arrival")?;
        bare.push(arrived.saturating_duration_since(sent));
    }
    engine.shutdown().await;
    engine.store().close().await;

    println!();
    println!(
        "## Tocsin: {} HTTP checks every {}, alert {{ failures: 1, recoveries: 1 }}, 1 webhook contact; {} rounds in {:.1} s",
        args.checks,
        args.every,
        args.rounds,
        rounds_took.as_secs_f64()
    );
    let o = print_quantiles(
        "opened",
        opened,
        "failing answer served by the target → webhook arrived",
    );
    print_quantiles(
        "closed",
        closed,
        "first ok answer served by the target → webhook arrived",
    );
    if let Some((me, busy, total)) = cpu {
        println!(
            "CPU             {me:.2} CPU-s in this process (engine, probes, receiver); machine {busy:.2} of {total:.2} CPU-s busy"
        );
    }
    if unmatched > 0 {
        println!("unmatched       {unmatched} webhooks of another kind or with no answer to match");
    }
    println!();
    println!(
        "## reference: bare POST of the same body ({} bytes), fresh connection each, one at a time",
        body.len()
    );
    let r = print_quantiles("bare POST", bare, "connect started → request arrived");
    if let (Some(o), Some(r)) = (o, r) {
        println!();
        println!("## Tocsin's added latency (opened − bare POST)");
        println!(
            "added           p50 {:.2} ms, p99 {:.2} ms  (over a bare POST of p50 {:.2} ms, p99 {:.2} ms)",
            ms(o.p50.saturating_sub(r.p50)),
            ms(o.p99.saturating_sub(r.p99)),
            ms(r.p50),
            ms(r.p99)
        );
    }
    Ok(())
}

/// Runs `notify-rate` and prints its figures.
pub(crate) async fn rate(args: RateArgs) -> anyhow::Result<()> {
    if args.checks == 0 {
        bail!("--checks must be at least 1");
    }
    let m = args.checks;
    header("notify-rate");
    let server = Server::start(m)?;
    // Hourly checks rarely run on their own: they run when told to.
    let hour = Dur(Duration::from_secs(3600));
    let (engine, _scratch) = start_engine(&server, m, hour, Dur::secs(5)).await?;
    let ids: Vec<String> = engine.table().keys().map(ToString::to_string).collect();
    for id in &ids {
        engine.run_now(id);
    }
    wait_until(
        Duration::from_secs(60),
        "a first ok result of every check",
        || all_ok(&engine),
    )
    .await?;
    let timeout = args.timeout.get();
    let live = wave(&engine, &server, &ids, Kind::Opened, false, timeout).await?;
    let up = wave(&engine, &server, &ids, Kind::Closed, false, timeout).await?;
    let backlog = wave(&engine, &server, &ids, Kind::Opened, true, timeout).await?;
    engine.shutdown().await;
    engine.store().close().await;

    // The reference: the same number of POSTs, 64 at a time, each batch awaited in full.
    let body = server.state.sample_body()?;
    let start = Instant::now();
    let mut sent = 0;
    while sent < m && start.elapsed() < timeout {
        let n = WORKER_BATCH.min(m - sent);
        let batch = (0..n).map(|_| post(server.port, body.clone()));
        for r in futures_util::future::join_all(batch).await {
            r?;
        }
        sent += n;
    }
    let ref_secs = start.elapsed().as_secs_f64();
    let ref_rate = sent as f64 / ref_secs;

    println!();
    println!(
        "## Tocsin, live: {m} HTTP checks down at once (target flipped, every check run now), 1 webhook contact"
    );
    live.print(m);
    println!(
        "recovery        {m} closed webhooks, the last {:.0} ms after flipping back (alarm writes {:.0} ms)",
        ms(up.last),
        ms(up.saved)
    );
    println!();
    println!(
        "## Tocsin, backlog: the same, the receiver holding the webhooks until all {m} alarm changes are written"
    );
    backlog.print(m);
    let drain = backlog.drain.context("the backlog was not released")?;
    println!(
        "drain           {:.0}/s  (held in flight while the outbox filled: {}; the other {} in {:.0} ms from the release to the last one)",
        drain.rate,
        drain.held,
        m - drain.held,
        ms(drain.took)
    );
    println!();
    println!(
        "## reference: {sent} bare POSTs of the same body ({} bytes), {WORKER_BATCH} at a time, fresh connections",
        body.len()
    );
    println!(
        "requests/s      {ref_rate:.0}  ({sent} in {:.0} ms)",
        ref_secs * 1e3
    );
    println!();
    println!("## ratio (same run, same receiver)");
    let live_rate = live.rate(m);
    println!(
        "live            {:.2}x  (Tocsin {live_rate:.0} notifications/s from the flip vs bare POSTs {ref_rate:.0}/s)",
        live_rate / ref_rate
    );
    println!(
        "drain           {:.2}x  (Tocsin's worker {:.0}/s from a full outbox vs bare POSTs {ref_rate:.0}/s)",
        drain.rate / ref_rate,
        drain.rate
    );
    Ok(())
}

/// Timings of one wave, from the flip.
struct Wave {
    /// Every check's changed result counted.
    results: Duration,
    /// Every alarm change (with its outbox row) committed.
    saved: Duration,
    first: Duration,
    last: Duration,
    /// Every delivery marked delivered.
    marked: Duration,
    /// With the receiver holding webhooks: when they were released, and the rate after.
    drain: Option<Drain>,
    /// CPU-s of this process and busy and total CPU-s of the machine during the wave.
    cpu: Option<(f64, f64, f64)>,
}

struct Drain {
    held: usize,
    took: Duration,
    rate: f64,
}

impl Wave {
    fn rate(&self, m: usize) -> f64 {
        m as f64 / self.last.as_secs_f64()
    }

    fn print(&self, m: usize) {
        println!(
            "results         {:.0} ms  (flip → {m} changed results)",
            ms(self.results)
        );
        println!(
            "alarm writes    {:.0} ms  (flip → {m} alarm changes with their outbox rows committed; {:.0}/s)",
            ms(self.saved),
            m as f64 / self.saved.as_secs_f64()
        );
        println!(
            "webhooks        first {:.0} ms, last {:.0} ms after the flip; all marked delivered at {:.0} ms",
            ms(self.first),
            ms(self.last),
            ms(self.marked)
        );
        println!("notifications/s {:.0}  (flip → last webhook)", self.rate(m));
        if let Some((me, busy, total)) = self.cpu {
            println!(
                "CPU             {:.0} µs per notification in this process ({me:.2} CPU-s: engine, probes, receiver); machine {busy:.2} of {total:.2} CPU-s busy",
                me * 1e6 / m as f64
            );
        }
    }
}

/// Flips every check to `kind` (down for opened, up for closed), runs them all now and waits
/// for their webhooks. With `hold`, the receiver keeps the webhooks waiting until every alarm
/// change is committed (or 8 s have passed: the channel's own timeout is 10 s).
async fn wave(
    engine: &Engine,
    server: &Server,
    ids: &[String],
    kind: Kind,
    hold: bool,
    timeout: Duration,
) -> anyhow::Result<Wave> {
    use std::sync::atomic::Ordering::Relaxed;
    let m = ids.len() as u64;
    let (metrics, alerting, state) = (engine.metrics(), engine.alerting_metrics(), &server.state);
    let status = if kind == Kind::Opened { 2 } else { 0 };
    let results0 = metrics.runs[status].load(Relaxed);
    let (queued0, delivered0) = (
        alerting.queued.load(Relaxed),
        alerting.delivered.load(Relaxed),
    );
    let arrivals0 = state.arrivals().len();
    let cpu0 = Cpu::now();
    state.set_hold(hold);
    state.set_down(kind == Kind::Opened);
    let flip = Instant::now();
    for id in ids {
        engine.run_now(id);
    }
    let reached =
        |n: &std::sync::atomic::AtomicU64, base: u64| n.load(Relaxed).saturating_sub(base) >= m;
    let (mut results, mut saved, mut marked, mut released) = (None, None, None, None);
    while marked.is_none() {
        if flip.elapsed() > timeout {
            bail!(
                "after {timeout:?}: {} of {m} {kind:?} webhooks arrived",
                state.arrivals().len() - arrivals0
            );
        }
        if results.is_none() && reached(&metrics.runs[status], results0) {
            results = Some(flip.elapsed());
        }
        if saved.is_none() && reached(&alerting.queued, queued0) {
            saved = Some(flip.elapsed());
        }
        if hold
            && released.is_none()
            && (saved.is_some() || flip.elapsed() > Duration::from_secs(8))
        {
            let held = state.arrivals().len() - arrivals0;
            state.set_hold(false);
            released = Some((Instant::now(), held));
        }
        if reached(&alerting.delivered, delivered0) {
            marked = Some(flip.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let times: Vec<Instant> = state.arrivals()[arrivals0..]
        .iter()
        .filter(|a| a.kind == kind)
        .map(|a| a.at)
        .collect();
    if times.len() as u64 != m {
        bail!("{} {kind:?} webhooks arrived for {m} checks", times.len());
    }
    let first = times.iter().min().map_or(Duration::ZERO, |t| *t - flip);
    let last = times.iter().max().map_or(Duration::ZERO, |t| *t - flip);
    let drain = released.map(|(at, held)| {
        let took = (flip + last).saturating_duration_since(at);
        Drain {
            held,
            took,
            rate: (times.len() - held) as f64 / took.as_secs_f64(),
        }
    });
    let cpu = cpu0.since();
    Ok(Wave {
        results: results.unwrap_or_default(),
        saved: saved.unwrap_or_default(),
        first,
        last,
        marked: marked.unwrap_or_default(),
        drain,
        cpu,
    })
}

/// CPU ticks of this process and of the machine (busy, total).
struct Cpu(Option<u64>, Option<(u64, u64)>);

impl Cpu {
    fn now() -> Self {
        Self(procfs::process_ticks("self"), procfs::machine_ticks())
    }

    /// CPU-s of this process, and busy and total CPU-s of the machine, since `self`.
    fn since(&self) -> Option<(f64, f64, f64)> {
        let (Self(Some(me0), Some(m0)), Self(Some(me1), Some(m1))) = (self, Self::now()) else {
            return None;
        };
        Some((
            procfs::secs(me1 - me0),
            procfs::secs(m1.0 - m0.0),
            procfs::secs(m1.1 - m0.1),
        ))
    }
}

/// Prints the title, command line and machine.
fn header(name: &str) {
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench {name}");
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    println!("store           embedded SQLite in a temporary directory (WAL, synchronous=NORMAL)");
    println!(
        "receiver        hyper HTTP/1.1 server on its own thread in this process (target and webhook)"
    );
}

/// Writes the configuration (one webhook contact; `checks` HTTP checks of `/c/{i}` notifying
/// it) and starts the engine with its defaults on a fresh SQLite store.
async fn start_engine(
    server: &Server,
    checks: usize,
    every: Dur,
    timeout: Dur,
) -> anyhow::Result<(Arc<Engine>, tempfile::TempDir)> {
    let scratch = tempfile::Builder::new()
        .prefix("tocsin-bench-notify-")
        .tempdir()?;
    let config = scratch.path().join("config");
    let port = server.port;
    let probe = |i: usize| {
        format!(
            "{}    alert: {{ failures: 1, recoveries: 1, flapping: {{ enabled: false }}, notify: [{CONTACT}] }}\n",
            configgen::http(&format!("http://127.0.0.1:{port}/c/{i}"), Some(200))
        )
    };
    configgen::write(
        &config,
        &configgen::Generated {
            checks,
            per_file: 10_000,
            every,
            timeout: Dur(timeout.get().min(every.get())),
            probe: &probe,
        },
    )?;
    std::fs::write(
        config.join("contacts.yml"),
        format!(
            "contacts:\n  - id: {CONTACT}\n    type: webhook\n    url: \"http://127.0.0.1:{port}/hook\"\n"
        ),
    )?;
    let store = Store::open_sqlite_dir(&scratch.path().join("store"))
        .await
        .context("opening the store")?;
    let engine = Engine::start(EngineOptions::new(&config), store)
        .await
        .context("starting the engine")?;
    let errors = engine.config_errors();
    if engine.table().len() != checks || !errors.is_empty() {
        bail!(
            "loaded {} of {checks} checks; errors: {errors:?}",
            engine.table().len()
        );
    }
    Ok((engine, scratch))
}

/// Whether every check's latest result is ok.
fn all_ok(engine: &Engine) -> bool {
    engine.table().values().all(|e| {
        e.snapshot()
            .last
            .is_some_and(|r| r.status == tocsin_core::Status::Ok)
    })
}

/// Polls `done` every 2 ms for at most `bound`.
async fn wait_until(
    bound: Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let end = Instant::now() + bound;
    while !done() {
        if Instant::now() > end {
            bail!("timed out after {bound:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// One POST of `body` to the receiver's `/ref` over a fresh connection, as the webhook channel
/// sends (hyper's HTTP/1.1 client, `TCP_NODELAY`, the connection dropped after the answer).
async fn post(port: u16, body: Bytes) -> anyhow::Result<()> {
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        let conn = tokio::spawn(conn);
        let req = Request::post("/ref")
            .header(header::HOST, format!("127.0.0.1:{port}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        resp.into_body().collect().await?;
        conn.abort();
        anyhow::ensure!(status.is_success(), "the receiver answered {status}");
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("a reference POST took over 10 s")?
}

/// p50, p99 of a sample.
#[derive(Clone, Copy, Default)]
pub(crate) struct Quantiles {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

/// Prints count, p50, p90, p99 and max of `v` on one line.
pub(crate) fn print_quantiles(label: &str, mut v: Vec<Duration>, what: &str) -> Option<Quantiles> {
    if v.is_empty() {
        println!("{label:<15} no samples");
        return None;
    }
    v.sort_unstable();
    let q = |q: f64| nearest_rank(&v, q);
    println!(
        "{label:<15} n {}, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms  ({what})",
        v.len(),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(q(1.0))
    );
    Some(Quantiles {
        p50: q(0.5),
        p99: q(0.99),
    })
}

/// The `q` quantile (0 < q ≤ 1) of a sorted, non-empty sample, by nearest rank.
pub(crate) fn nearest_rank(sorted: &[Duration], q: f64) -> Duration {
    sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Which webhooks the benchmarks wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `alarm.kind: opened`: the check went down.
    Opened,
    /// `alarm.kind: closed`: the check recovered.
    Closed,
    /// Anything else.
    Other,
}

/// One webhook as it arrived.
struct Arrival {
    at: Instant,
    kind: Kind,
    /// Arrival − when the target served the answer that changed the check's state.
    latency: Option<Duration>,
}

/// What the server knows, shared with the benchmark.
struct State {
    /// Whether `/c/{i}` answers 503 (else 200).
    down: AtomicBool,
    /// Per check: the state of its latest answer and when the first answer in that state was
    /// served.
    changed: Vec<Mutex<Option<(bool, Instant)>>>,
    arrivals: Mutex<Vec<Arrival>>,
    /// Arrivals of the reference's POSTs.
    references: Mutex<Vec<Instant>>,
    /// The first `opened` webhook's body, for the reference.
    sample: Mutex<Option<Bytes>>,
    /// While true, webhooks are recorded but not answered.
    hold: tokio::sync::watch::Sender<bool>,
}

impl State {
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn set_hold(&self, hold: bool) {
        self.hold.send_replace(hold);
    }

    fn count(&self, kind: Kind) -> usize {
        lock(&self.arrivals)
            .iter()
            .filter(|a| a.kind == kind)
            .count()
    }

    fn latencies(&self, kind: Kind) -> Vec<Duration> {
        lock(&self.arrivals)
            .iter()
            .filter(|a| a.kind == kind)
            .filter_map(|a| a.latency)
            .collect()
    }

    fn arrivals(&self) -> std::sync::MutexGuard<'_, Vec<Arrival>> {
        lock(&self.arrivals)
    }

    fn last_reference(&self) -> Option<Instant> {
        lock(&self.references).last().copied()
    }

    fn sample_body(&self) -> anyhow::Result<Bytes> {
        lock(&self.sample)
            .clone()
            .context("no opened webhook arrived")
    }

    /// The target: `/c/{i}` answers 200 or 503, remembering when check `i`'s answers changed.
    fn answer(&self, i: usize) -> Response<Full<Bytes>> {
        let down = self.down.load(Ordering::SeqCst);
        if let Some(slot) = self.changed.get(i) {
            let mut s = lock(slot);
            if s.is_none_or(|(was, _)| was != down) {
                *s = Some((down, Instant::now()));
            }
        }
        if down {
            reply(StatusCode::SERVICE_UNAVAILABLE, "down")
        } else {
            reply(StatusCode::OK, "ok")
        }
    }

    /// The receiver: records a webhook that arrived `at`.
    fn webhook(&self, at: Instant, body: &Bytes) {
        let doc: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let kind = match doc["alarm"]["kind"].as_str() {
            Some("opened") => Kind::Opened,
            Some("closed") => Kind::Closed,
            _ => Kind::Other,
        };
        let check = doc["check"]["id"]
            .as_str()
            .and_then(|id| id.strip_prefix("bench-"))
            .and_then(|n| n.parse::<usize>().ok());
        let latency = check
            .and_then(|i| self.changed.get(i))
            .and_then(|slot| *lock(slot))
            .filter(|(down, _)| kind != Kind::Other && *down == (kind == Kind::Opened))
            .map(|(_, served)| at.saturating_duration_since(served));
        if kind == Kind::Opened {
            lock(&self.sample).get_or_insert_with(|| body.clone());
        }
        lock(&self.arrivals).push(Arrival { at, kind, latency });
    }
}

/// The target and receiver: a hyper HTTP/1.1 server on 127.0.0.1, on a current-thread runtime
/// in a thread of its own; it stops when dropped.
struct Server {
    port: u16,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(checks: usize) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            down: AtomicBool::new(false),
            changed: (0..checks).map(|_| Mutex::new(None)).collect(),
            arrivals: Mutex::new(Vec::new()),
            references: Mutex::new(Vec::new()),
            sample: Mutex::new(None),
            hold: tokio::sync::watch::Sender::new(false),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("receiver".into())
            .spawn(move || rt.block_on(serve(listener, shared, stopped)))?;
        Ok(Self {
            port,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn route(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if let Some(i) = path.strip_prefix("/c/").and_then(|n| n.parse().ok()) {
        return state.answer(i);
    }
    let body = req
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    // The whole request is in: this is its arrival.
    let at = Instant::now();
    match path.as_str() {
        "/hook" => {
            state.webhook(at, &body);
            let _ = state.hold.subscribe().wait_for(|held| !*held).await;
        }
        "/ref" => lock(&state.references).push(at),
        _ => return reply(StatusCode::NOT_FOUND, "not found"),
    }
    reply(StatusCode::OK, "ok")
}

fn reply(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
