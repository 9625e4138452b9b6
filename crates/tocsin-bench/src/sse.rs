//! `tocsin-bench sse-fanout`: live events to many dashboards at once. The real engine (embedded
//! SQLite store in a temporary directory) and the real API (`tocsin_web::serve`) run in this
//! process; `--clients` HTTP/1.1 connections hold `GET /api/v1/events` open while one push check
//! changes state in rounds, and every client timestamps each event as it arrives.
//!
//! - One push check with `alert: { failures: 1, recoveries: 1 }`. A round pushes `critical`,
//!   then `ok` (`Engine::push`, as `POST /api/v1/push/{id}` does): each push is one state change
//!   (`state` event, sent before the store write) and one alarm change (`alarm` event, sent once
//!   the alarm is committed), so every client expects 4 events per round. The clock starts just
//!   before the push call; the next change waits until every client has both events.
//! - The clients are hyper HTTP/1.1 client connections (`hyper::client::conn::http1`, one
//!   connection task and one reading task each) on one current-thread tokio runtime on a thread
//!   of their own (`sse-clients`); the server and the engine run on the main multi-thread
//!   runtime. A client takes `Instant::now()` when a body frame arrives, then finds the events
//!   in it by their `event:` line (no JSON parsing).
//! - Reference, same run, same engine and the same changes: as many `tokio::sync::broadcast`
//!   receivers (`Engine::subscribe`, the channel the SSE handler reads) as tasks on the same
//!   client runtime, with no HTTP and no JSON.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tocsin_core::directory::RateLimit;
use tocsin_core::{Dur, Status};
use tocsin_engine::events::{Event, Published};

use crate::notify::{Quantiles, ms, print_quantiles};
use tocsin_engine::{Engine, EngineOptions, Pushed};
use tocsin_store::Store;
use tokio::sync::{Semaphore, broadcast, watch};

use crate::{configgen, procfs};

/// The push check every round changes, and its token.
const CHECK: &str = "bench-0000000";
const PUSH_TOKEN: &str = "sse-fanout-bench-push-token";

/// Connections being set up at once.
const CONNECTING: usize = 100;

/// The client thread's name (as `/proc/self/task/*/comm` shows it).
const CLIENT_THREAD: &str = "sse-clients";

/// Options of `tocsin-bench sse-fanout`.
#[derive(Debug, clap::Args)]
pub(crate) struct FanoutArgs {
    /// SSE connections to `GET /api/v1/events` (and broadcast receivers for the reference).
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Rounds: each pushes critical then ok (2 state and 2 alarm events per client).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Pause before every change.
    #[arg(long, default_value = "100ms")]
    gap: Dur,
    /// Longest wait for one change's events at every client.
    #[arg(long, default_value = "10s")]
    timeout: Dur,
}

/// What a client saw, in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ev {
    /// A `state` event to critical.
    Critical,
    /// A `state` event to ok.
    Recovered,
    /// Any other `state` event.
    OtherState,
    /// An `alarm` event.
    Alarm,
    /// A `reload` event (the subscriber fell behind) or a receiver's `Lagged`.
    Reload,
    /// Anything else.
    Other,
}

impl Ev {
    fn is_state(self) -> bool {
        matches!(self, Self::Critical | Self::Recovered | Self::OtherState)
    }
}

/// Counts shared by the clients and the driver.
#[derive(Default)]
struct Progress {
    /// Number of clients.
    clients: usize,
    state: AtomicUsize,
    alarm: AtomicUsize,
    other: AtomicUsize,
    ready: AtomicUsize,
    failed: AtomicUsize,
}

impl Progress {
    fn count(&self, ev: Ev) {
        let n = match ev {
            Ev::Alarm => &self.alarm,
            e if e.is_state() => &self.state,
            _ => &self.other,
        };
        n.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `sse-fanout` and prints its figures.
pub(crate) async fn fanout(args: FanoutArgs) -> anyhow::Result<()> {
    if args.clients == 0 || args.rounds == 0 {
        bail!("--clients and --rounds must be at least 1");
    }
    let n = args.clients;
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench sse-fanout");
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    println!(
        "server          tocsin_web::serve (axum) and the engine on the main multi-thread runtime; embedded SQLite in a temporary directory"
    );
    println!(
        "clients         hyper HTTP/1.1 client connections on one current-thread runtime, thread `{CLIENT_THREAD}`, same process"
    );
    println!(
        "changes         1 push check, alert {{ failures: 1, recoveries: 1 }}; a round pushes critical then ok: 2 state + 2 alarm events"
    );

    let scratch = tempfile::Builder::new()
        .prefix("tocsin-bench-sse-")
        .tempdir()?;
    let engine = start_engine(scratch.path()).await?;
    // The first result, then one warm-up round, before anyone listens.
    for status in [Status::Ok, Status::Critical, Status::Ok] {
        push(&engine, status).await?;
    }
    let (_, token) = tocsin_web::auth::issue_token(
        engine.store(),
        "",
        "sse-bench",
        "operator",
        tocsin_engine::now_ms(),
    )
    .await
    .context("issuing a token")?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = tocsin_web::AppState::new(
        engine.clone(),
        tocsin_web::WebOptions {
            api_rate: RateLimit {
                count: 1_000_000,
                per: Duration::from_secs(1),
            },
            ..tocsin_web::WebOptions::default()
        },
    );
    let (stop_server, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tocsin_web::serve(listener, app, async move {
        let _ = server_stopped.await;
    }));
    let clients = ClientRuntime::start()?;
    let result = run(&args, &engine, &clients, port, &token).await;

    drop(stop_server);
    drop(clients);
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
    engine.shutdown().await;
    engine.store().close().await;
    let (reference, sse) = result?;

    println!();
    println!(
        "## reference: {n} tokio broadcast receivers (Engine::subscribe, no HTTP, no JSON), tasks on the clients' runtime"
    );
    let r = reference.print(n, args.rounds);
    println!();
    println!("## Tocsin: {n} SSE connections to GET /api/v1/events (one operator token)");
    if let Some(c) = &sse.connect {
        println!(
            "connect         {n} connected in {:.0} ms ({CONNECTING} at a time; headers received)",
            ms(c.took)
        );
        println!(
            "RSS             {:.1} MiB before connecting, {:.1} MiB with {n} connections ({:.1} KiB per connection, both ends), {:.1} MiB after the rounds",
            mib(c.rss_before),
            mib(c.rss_connected),
            (c.rss_connected.saturating_sub(c.rss_before)) as f64 / 1024.0 / n as f64,
            mib(sse.rss_after)
        );
    }
    let s = sse.print(n, args.rounds);
    println!();
    println!("## ratio, SSE ÷ reference (same run, same engine, same changes, same client thread)");
    let ratio = |label: &str, a: Duration, b: Duration| {
        println!(
            "{label:<15} {:.1}x  ({:.2} ms vs {:.2} ms)",
            a.as_secs_f64() / b.as_secs_f64().max(1e-9),
            ms(a),
            ms(b)
        );
    };
    ratio("state p50", s.state.p50, r.state.p50);
    ratio("state p99", s.state.p99, r.state.p99);
    ratio("fan-out p50", s.last.p50, r.last.p50);
    ratio("fan-out p99", s.last.p99, r.last.p99);
    if let (Some(a), Some(b)) = (s.rest_cpu, r.rest_cpu) {
        let events = (n * args.rounds * 4) as f64;
        println!(
            "server CPU      {:.1} µs per delivered event added by HTTP/SSE (process minus client thread: {a:.2} vs {b:.2} CPU-s)",
            (a - b) * 1e6 / events
        );
    }
    Ok(())
}

/// Both phases: the reference, then the SSE connections.
async fn run(
    args: &FanoutArgs,
    engine: &Arc<Engine>,
    clients: &ClientRuntime,
    port: u16,
    token: &str,
) -> anyhow::Result<(Phase, Phase)> {
    let n = args.clients;
    let expected = args.rounds * 4;

    // The reference.
    let progress = Arc::new(Progress {
        clients: n,
        ..Progress::default()
    });
    let (stop, stopped) = watch::channel(false);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let rx = engine.subscribe();
            let (p, s) = (progress.clone(), stopped.clone());
            clients.handle.spawn(receiver(rx, p, s, expected))
        })
        .collect();
    let reference = rounds(args, engine, &progress).await;
    stop.send_replace(true);
    let mut seen = Vec::with_capacity(n);
    for t in tasks {
        seen.push(t.await.context("a receiver task failed")?);
    }
    let reference = reference?.finish(seen, None, procfs::rss());

    // The SSE connections.
    let rss_before = procfs::rss();
    let progress = Arc::new(Progress {
        clients: n,
        ..Progress::default()
    });
    let (stop, stopped) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let token: Arc<str> = Arc::from(token);
    let started = Instant::now();
    let changes = u32::try_from(args.rounds * 2).unwrap_or(u32::MAX);
    let bound = started
        + Duration::from_secs(90)
        + (args.timeout.get() + args.gap.get()).saturating_mul(changes);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let c = Client {
                port,
                token: token.clone(),
                progress: progress.clone(),
                stop: stopped.clone(),
                gate: gate.clone(),
                expected,
                bound,
            };
            clients.handle.spawn(c.run())
        })
        .collect();
    let connect_limit = Duration::from_secs(60);
    while progress.ready.load(Ordering::SeqCst) < n {
        let failed = progress.failed.load(Ordering::SeqCst);
        if failed > 0 || started.elapsed() > connect_limit {
            stop.send_replace(true);
            let mut first = None;
            for t in tasks {
                if !t.is_finished() {
                    t.abort();
                } else if let Ok(Err(e)) = t.await {
                    first.get_or_insert(e);
                }
            }
            bail!(
                "{} of {n} SSE clients connected ({failed} failed{}) after {:?}",
                progress.ready.load(Ordering::SeqCst),
                first.map(|e| format!(": {e}")).unwrap_or_default(),
                started.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = started.elapsed();
    // Let every connection settle (the handlers' first poll) before the first change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_connected = procfs::rss();
    let sse = rounds(args, engine, &progress).await;
    let rss_after = procfs::rss();
    stop.send_replace(true);
    let mut seen = Vec::with_capacity(n);
    for t in tasks {
        match t.await.context("a client task failed")? {
            Ok(v) => seen.push(v),
            Err(e) => bail!("an SSE client failed: {e}"),
        }
    }
    let connect = Connect {
        took,
        rss_before,
        rss_connected,
    };
    let sse = sse?.finish(seen, Some(connect), rss_after);
    Ok((reference, sse))
}

/// The changes, their start times, and the CPU over them.
struct Driven {
    starts: Vec<Instant>,
    push_took: Vec<Duration>,
    cpu: Option<Cpu>,
    rest_cpu: Option<f64>,
}

struct Cpu {
    process: f64,
    clients: f64,
    machine_busy: f64,
    machine_total: f64,
}

/// Drives `--rounds` rounds; after each change waits until every client has its two events.
async fn rounds(args: &FanoutArgs, engine: &Engine, progress: &Progress) -> anyhow::Result<Driven> {
    let n = progress.clients;
    let ticks0 = (
        procfs::process_ticks("self"),
        client_ticks(),
        procfs::machine_ticks(),
    );
    let mut starts = Vec::with_capacity(args.rounds * 2);
    let mut push_took = Vec::with_capacity(args.rounds * 2);
    for round in 0..args.rounds {
        for status in [Status::Critical, Status::Ok] {
            tokio::time::sleep(args.gap.get()).await;
            let k = starts.len() + 1;
            let t0 = Instant::now();
            push(engine, status).await?;
            push_took.push(t0.elapsed());
            starts.push(t0);
            let end = t0 + args.timeout.get();
            loop {
                let (s, a) = (
                    progress.state.load(Ordering::SeqCst),
                    progress.alarm.load(Ordering::SeqCst),
                );
                if s >= n * k && a >= n * k {
                    break;
                }
                if Instant::now() > end || progress.failed.load(Ordering::SeqCst) > 0 {
                    bail!(
                        "round {round}, push {status}: after {:?}, {} of {} state and {} of {} alarm events delivered so far ({} failed clients, {} other events)",
                        t0.elapsed(),
                        s,
                        n * k,
                        a,
                        n * k,
                        progress.failed.load(Ordering::SeqCst),
                        progress.other.load(Ordering::SeqCst)
                    );
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    let ticks1 = (
        procfs::process_ticks("self"),
        client_ticks(),
        procfs::machine_ticks(),
    );
    let cpu = match (ticks0, ticks1) {
        ((Some(p0), Some(c0), Some(m0)), (Some(p1), Some(c1), Some(m1))) => Some(Cpu {
            process: procfs::secs(p1 - p0),
            clients: procfs::secs(c1.saturating_sub(c0)),
            machine_busy: procfs::secs(m1.0 - m0.0),
            machine_total: procfs::secs(m1.1 - m0.1),
        }),
        _ => None,
    };
    let rest_cpu = cpu.as_ref().map(|c| c.process - c.clients);
    Ok(Driven {
        starts,
        push_took,
        cpu,
        rest_cpu,
    })
}

fn client_ticks() -> Option<u64> {
    procfs::thread_ticks("self").get(CLIENT_THREAD).copied()
}

async fn push(engine: &Engine, status: Status) -> anyhow::Result<()> {
    engine
        .push(
            CHECK,
            PUSH_TOKEN,
            Pushed {
                status,
                ..Pushed::default()
            },
        )
        .await
        .with_context(|| format!("pushing {status} to {CHECK}"))
}

struct Connect {
    took: Duration,
    rss_before: u64,
    rss_connected: u64,
}

/// One phase's figures.
struct Phase {
    driven: Driven,
    delivered: usize,
    expected: usize,
    /// Clients whose events were not exactly the expected sequence.
    out_of_order: usize,
    state: Vec<Duration>,
    alarm: Vec<Duration>,
    /// Per change: the last client's state event.
    last: Vec<Duration>,
    rest_cpu: Option<f64>,
    connect: Option<Connect>,
    rss_after: u64,
}

/// What `Phase::print` returns for the ratios.
struct Figures {
    state: Quantiles,
    last: Quantiles,
    rest_cpu: Option<f64>,
}

impl Driven {
    fn finish(self, seen: Vec<Vec<(Instant, Ev)>>, connect: Option<Connect>, rss: u64) -> Phase {
        let changes = self.starts.len();
        let expected = seen.len() * changes * 2;
        let mut delivered = 0;
        let mut out_of_order = 0;
        let mut state = Vec::with_capacity(seen.len() * changes);
        let mut alarm = Vec::with_capacity(seen.len() * changes);
        let mut last = vec![Duration::ZERO; changes];
        for events in &seen {
            let (mut s, mut a) = (0, 0);
            let mut in_order = true;
            for &(at, ev) in events {
                if ev.is_state() {
                    let want = if s % 2 == 0 {
                        Ev::Critical
                    } else {
                        Ev::Recovered
                    };
                    in_order &= ev == want && s == a;
                    if let Some(&t0) = self.starts.get(s) {
                        let d = at.saturating_duration_since(t0);
                        state.push(d);
                        last[s] = last[s].max(d);
                        delivered += 1;
                    }
                    s += 1;
                } else if ev == Ev::Alarm {
                    in_order &= a + 1 == s;
                    if let Some(&t0) = self.starts.get(a) {
                        alarm.push(at.saturating_duration_since(t0));
                        delivered += 1;
                    }
                    a += 1;
                } else {
                    in_order = false;
                }
            }
            if !in_order || s != changes || a != changes {
                out_of_order += 1;
            }
        }
        Phase {
            rest_cpu: self.rest_cpu,
            driven: self,
            delivered,
            expected,
            out_of_order,
            state,
            alarm,
            last,
            connect,
            rss_after: rss,
        }
    }
}

impl Phase {
    fn print(&self, n: usize, rounds: usize) -> Figures {
        println!(
            "events          delivered {} / expected {} ({:.2} %; {n} clients x {rounds} rounds x 4); clients with another sequence: {}",
            self.delivered,
            self.expected,
            self.delivered as f64 * 100.0 / self.expected.max(1) as f64,
            self.out_of_order
        );
        let state = print_quantiles(
            "state",
            self.state.clone(),
            "push called → `state` event at the client",
        );
        print_quantiles(
            "alarm",
            self.alarm.clone(),
            "push called → `alarm` event at the client (after the alarm's commit)",
        );
        let last = print_quantiles(
            "fan-out",
            self.last.clone(),
            "per change: push called → the last client's `state` event",
        );
        print_quantiles(
            "push call",
            self.driven.push_took.clone(),
            "Engine::push returned (state stepped, alarm committed)",
        );
        if let Some(c) = &self.driven.cpu {
            let events = self.delivered.max(1) as f64;
            println!(
                "CPU             {:.2} CPU-s this process (one process: engine, server and clients): client thread {:.2}, the rest {:.2} ({:.1} µs per delivered event); machine {:.2} of {:.2} CPU-s busy (other processes {:.2})",
                c.process,
                c.clients,
                c.process - c.clients,
                (c.process - c.clients) * 1e6 / events,
                c.machine_busy,
                c.machine_total,
                (c.machine_busy - c.process).max(0.0)
            );
        }
        if self.connect.is_none() {
            println!("RSS             {:.1} MiB", mib(self.rss_after));
        }
        Figures {
            state: state.unwrap_or_default(),
            last: last.unwrap_or_default(),
            rest_cpu: self.rest_cpu,
        }
    }
}

/// A reference receiver: the broadcast channel the SSE handler reads, without HTTP.
async fn receiver(
    mut rx: broadcast::Receiver<Arc<Published>>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
    expected: usize,
) -> Vec<(Instant, Ev)> {
    let mut seen = Vec::with_capacity(expected + 4);
    loop {
        let got = tokio::select! {
            got = rx.recv() => got,
            _ = stop.wait_for(|s| *s) => break,
        };
        let at = Instant::now();
        let ev = match got {
            Ok(p) => match &p.event {
                Event::State { to, .. } => match to {
                    Status::Critical => Ev::Critical,
                    Status::Ok => Ev::Recovered,
                    _ => Ev::OtherState,
                },
                Event::Alarm { .. } => Ev::Alarm,
            },
            Err(broadcast::error::RecvError::Lagged(_)) => Ev::Reload,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        progress.count(ev);
        if seen.len() < expected * 2 {
            seen.push((at, ev));
        }
    }
    seen
}

/// One SSE client.
struct Client {
    port: u16,
    token: Arc<str>,
    progress: Arc<Progress>,
    stop: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    expected: usize,
    bound: Instant,
}

impl Client {
    async fn run(self) -> Result<Vec<(Instant, Ev)>, String> {
        let progress = self.progress.clone();
        let out = tokio::time::timeout_at(self.bound.into(), self.stream()).await;
        let out = match out {
            Ok(r) => r.map_err(|e| format!("{e:#}")),
            Err(_) => Err("the client's time bound passed".to_owned()),
        };
        if out.is_err() {
            progress.failed.fetch_add(1, Ordering::SeqCst);
        }
        out
    }

    async fn stream(mut self) -> anyhow::Result<Vec<(Instant, Ev)>> {
        let permit = self.gate.acquire().await?;
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
        tcp.set_nodelay(true)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        let conn = AbortOnDrop(tokio::spawn(conn));
        let req = Request::get("/api/v1/events")
            .header(header::HOST, format!("127.0.0.1:{}", self.port))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::ACCEPT, "text/event-stream")
            .body(Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        if resp.status() != StatusCode::OK {
            bail!("GET /api/v1/events answered {}", resp.status());
        }
        drop(permit);
        self.progress.ready.fetch_add(1, Ordering::SeqCst);
        let mut body = resp.into_body();
        let mut seen = Vec::with_capacity(self.expected + 4);
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        loop {
            let frame = tokio::select! {
                f = body.frame() => f,
                _ = self.stop.wait_for(|s| *s) => break,
            };
            let at = Instant::now();
            let Some(frame) = frame else {
                bail!("the server closed the stream");
            };
            let Ok(data) = frame?.into_data() else {
                continue;
            };
            buf.extend_from_slice(&data);
            while let Some(end) = find(&buf, b"\n\n") {
                if let Some(ev) = classify(&buf[..end]) {
                    self.progress.count(ev);
                    if seen.len() < self.expected * 2 {
                        seen.push((at, ev));
                    }
                }
                buf.drain(..end + 2);
            }
        }
        drop(conn);
        Ok(seen)
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The kind of one SSE event block; `None` for a comment (keep-alive).
fn classify(block: &[u8]) -> Option<Ev> {
    let mut name: Option<&[u8]> = None;
    let mut data: &[u8] = b"";
    for line in block.split(|b| *b == b'\n') {
        if let Some(v) = line.strip_prefix(b"event:") {
            name = Some(v.trim_ascii());
        } else if let Some(v) = line.strip_prefix(b"data:") {
            data = v;
        }
    }
    let ev = match name? {
        b"state" if find(data, b"\"to\":\"critical\"").is_some() => Ev::Critical,
        b"state" if find(data, b"\"to\":\"ok\"").is_some() => Ev::Recovered,
        b"state" => Ev::OtherState,
        b"alarm" => Ev::Alarm,
        b"reload" => Ev::Reload,
        _ => Ev::Other,
    };
    Some(ev)
}

/// The clients' runtime: current-thread, on a thread of its own; stops when dropped.
struct ClientRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClientRuntime {
    fn start() -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (up, is_up) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(CLIENT_THREAD.into())
            .spawn(move || {
                // Named by now: its CPU can be read from the first phase on.
                let _ = up.send(());
                rt.block_on(async {
                    let _ = stopped.await;
                });
                rt.shutdown_timeout(Duration::from_secs(5));
            })?;
        is_up
            .recv_timeout(Duration::from_secs(10))
            .context("the client thread did not start")?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes one push check (and nothing else) and starts the engine on a fresh SQLite store.
async fn start_engine(dir: &std::path::Path) -> anyhow::Result<Arc<Engine>> {
    let config = dir.join("config");
    let probe = |_| {
        format!(
            "    alert: {{ failures: 1, recoveries: 1, flapping: {{ enabled: false }} }}\n    push:\n      token: {PUSH_TOKEN}\n      within: 1h\n"
        )
    };
    // An hourly look at the deadline: no scheduled run changes anything during the bench.
    configgen::write(
        &config,
        &configgen::Generated {
            checks: 1,
            per_file: 1,
            every: Dur(Duration::from_secs(3600)),
            timeout: Dur::secs(5),
            probe: &probe,
        },
    )?;
    let store = Store::open_sqlite_dir(&dir.join("store"))
        .await
        .context("opening the store")?;
    let engine = Engine::start(EngineOptions::new(&config), store)
        .await
        .context("starting the engine")?;
    let errors = engine.config_errors();
    if engine.table().len() != 1 || !errors.is_empty() {
        bail!(
            "loaded {} of 1 check; errors: {errors:?}",
            engine.table().len()
        );
    }
    Ok(engine)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sse_blocks() {
        let state = b"event: state\ndata: {\"type\":\"state\",\"check\":\"c\",\"from\":\"ok\",\"to\":\"critical\"}";
        assert_eq!(classify(state), Some(Ev::Critical));
        let ok = b"event: state\ndata: {\"type\":\"state\",\"from\":\"critical\",\"to\":\"ok\"}";
        assert_eq!(classify(ok), Some(Ev::Recovered));
        assert_eq!(
            classify(b"event: alarm\ndata: {\"type\":\"alarm\"}"),
            Some(Ev::Alarm)
        );
        assert_eq!(classify(b":"), None);
        assert_eq!(
            classify(b"event: reload\ndata: {\"missed\":3}"),
            Some(Ev::Reload)
        );
    }
}
