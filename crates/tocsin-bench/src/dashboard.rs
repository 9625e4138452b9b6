//! `tocsin-bench dashboard`: the server time of the web dashboard (`GET /`) with many checks,
//! against a reference measured in the same run: the same page's bytes delivered by a trivial
//! handler on the same server, the same path and the same connection.
//!
//! - `--checks` HTTP checks (`c00000`, …, named `Service i`, tagged `t0` to `t19`) that run once
//!   a year (cron `0 0 1 1 *`), so nothing runs during the benchmark and every row is pending;
//!   each has 24 hourly rollups (the last day) in an embedded SQLite store in a temporary
//!   directory. The page reads memory only: the check table and the summaries computed from
//!   the rollups (`tocsin_web::summary`), which the server refreshes every minute.
//! - The server is what `tocsin_web::serve` runs: the router of `tocsin_web::router_with` on
//!   hyper-util's connection builder (as `axum::serve` drives it), on 127.0.0.1, on the main
//!   multi-thread runtime. In front of the router, a request with the header
//!   `x-tocsin-bench-reference` is answered with the status, headers and body captured from the
//!   first answer to the same path and query: that is the reference.
//! - One client: a hyper HTTP/1.1 connection kept alive for the whole run (`TCP_NODELAY`), in
//!   this process. It signs in as a browser does (`GET /login` for the double-submit CSRF
//!   field, `POST /login` with an operator token and a same-site `Origin`) and sends the
//!   session cookie with every request. A request is timed from the moment it is sent to the
//!   last byte of its body.
//! - Per page: one warm-up view, captured for the reference, one warm-up reference request,
//!   then `--rounds` rounds of one view and one reference request (in alternating order).
//!   Views during which the summaries were replaced by the server's refresher (their
//!   sparklines are drawn again) are set aside and counted.
//! - First views: sparklines are drawn once per summaries map, so the first view after a
//!   refresh draws every check's. `--first-views` times: refresh the summaries, view `/`, then
//!   view it again.
//!
//! Everything listens on 127.0.0.1; every loop is bounded by `--rounds` and by `--timeout`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tocsin_core::Dur;
use tocsin_core::directory::RateLimit;
use tocsin_engine::{Engine, EngineOptions, now_ms};
use tocsin_store::{Rollup, Store};
use tocsin_web::summary::SummaryMap;
use tokio::time::Instant as TokioInstant;

use crate::notify::{ms, nearest_rank};
use crate::procfs;

/// The pages measured: the dashboard as it opens, then sorted and filtered.
const PAGES: [&str; 4] = ["/", "/?sort=name&order=desc", "/?sort=latency", "/?tag=t3"];

/// The request header that asks for the reference answer.
const REFERENCE_HEADER: &str = "x-tocsin-bench-reference";

/// What every dashboard answer holds when the summaries are there.
const SPARK: &str = "<svg class=\"spark\"";

/// Hourly rollups per check.
const HOURS: i64 = 24;

const HOUR_MS: i64 = 3_600_000;

/// The target for `GET /` at 10,000 checks.
const TARGET: Duration = Duration::from_millis(200);

/// Options of `tocsin-bench dashboard`.
#[derive(Debug, clap::Args)]
pub(crate) struct DashboardArgs {
    /// Checks on the dashboard, each with 24 hourly rollups.
    #[arg(long, default_value_t = 10_000)]
    checks: usize,
    /// Views of each page, and as many reference requests.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// First views of `/` after a summaries refresh.
    #[arg(long, default_value_t = 5)]
    first_views: usize,
    /// Longest run, set-up included; measuring stops there and what was measured is printed.
    #[arg(long, default_value = "300s")]
    timeout: Dur,
}

/// Runs `dashboard` and prints its figures.
pub(crate) async fn run(args: DashboardArgs) -> anyhow::Result<()> {
    if args.checks == 0 || args.rounds == 0 {
        bail!("--checks and --rounds must be at least 1");
    }
    let deadline = TokioInstant::now() + args.timeout.get();
    let n = args.checks;
    let (cpus, model) = procfs::cpu_model();
    println!("# tocsin-bench dashboard");
    println!(
        "command         {}",
        std::env::args().collect::<Vec<_>>().join(" ")
    );
    println!("machine         {cpus} x {model}");
    println!(
        "server          tocsin_web::router_with (axum) on hyper-util's connection builder, as tocsin_web::serve; 127.0.0.1; main multi-thread runtime; embedded SQLite in a temporary directory"
    );
    println!(
        "client          one hyper HTTP/1.1 keep-alive connection (TCP_NODELAY), same process, signed in through POST /login; timed from sending to the last body byte"
    );
    println!(
        "reference       the first answer of each page (status, headers, body) replayed by a handler in front of the router: same server, path and connection"
    );

    let scratch = tempfile::Builder::new()
        .prefix("tocsin-bench-dashboard-")
        .tempdir()?;
    let (engine, setup) = tokio::time::timeout_at(deadline, start_engine(scratch.path(), n))
        .await
        .context("--timeout passed while setting up")??;
    println!(
        "checks          {} loaded in {:.2} s; {} hourly rollups written before in {:.2} s",
        thousands(n),
        setup.load.as_secs_f64(),
        thousands(n * HOURS as usize),
        setup.rollups.as_secs_f64()
    );

    let result = serve_and_measure(&args, &engine, deadline).await;
    engine.shutdown().await;
    engine.store().close().await;
    let m = result?;
    m.print(&args);
    Ok(())
}

/// Set-up times.
struct Setup {
    rollups: Duration,
    load: Duration,
}

/// Writes the configuration and the rollups, and starts the engine.
async fn start_engine(dir: &Path, n: usize) -> anyhow::Result<(Arc<Engine>, Setup)> {
    let conf = dir.join("config");
    std::fs::create_dir_all(&conf)?;
    let mut yaml = String::with_capacity(n * 120 + 16);
    yaml.push_str("checks:\n");
    for i in 0..n {
        let _ = write!(
            yaml,
            "  - id: c{i:05}\n    name: \"Service {i}\"\n    tags: [t{}]\n    cron: \"0 0 1 1 *\"\n    http: {{ url: \"http://127.0.0.1:9/ok\" }}\n",
            i % 20
        );
    }
    std::fs::write(conf.join("checks.yml"), yaml)?;
    let store = Store::open_sqlite_dir(&dir.join("store"))
        .await
        .context("opening the store")?;
    let t = Instant::now();
    let now = now_ms();
    let hour = now - now.rem_euclid(HOUR_MS);
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(1000) {
        let rollups: Vec<(String, Rollup)> = chunk
            .iter()
            .flat_map(|&i| {
                (0..HOURS).map(move |h| {
                    (
                        format!("c{i:05}"),
                        Rollup {
                            minute_ms: hour - h * HOUR_MS,
                            count: 60,
                            ok: 59 + u32::from(h % 2 == 0),
                            p50_us: 20_000 + (i as u64 * 7 + h as u64 * 13) % 5_000,
                            p95_us: 40_000,
                            max_us: 80_000,
                        },
                    )
                })
            })
            .collect();
        store
            .upsert_rollups(&rollups)
            .await
            .context("writing rollups")?;
    }
    let rollups = t.elapsed();
    let t = Instant::now();
    let engine = Engine::start(EngineOptions::new(&conf), store)
        .await
        .context("starting the engine")?;
    let errors = engine.config_errors();
    if engine.table().len() != n || !errors.is_empty() {
        bail!(
            "loaded {} of {n} checks; errors: {errors:?}",
            engine.table().len()
        );
    }
    Ok((
        engine,
        Setup {
            rollups,
            load: t.elapsed(),
        },
    ))
}

/// Everything measured.
struct Measured {
    /// From `AppState::new` to the first summaries (the server's refresher).
    summaries: Duration,
    pages: Vec<PageFigures>,
    first: FirstViews,
    /// CPU over the views of the pages, then over the first views.
    cpu: [Option<Cpu>; 2],
    /// Measuring stopped at `--timeout`.
    capped: bool,
}

/// One page's figures.
struct PageFigures {
    path: &'static str,
    /// Bytes of the first answer's body (what the reference sends).
    size: usize,
    /// Smallest and largest body of the views.
    sizes: (usize, usize),
    views: Vec<Duration>,
    view_first_byte: Vec<Duration>,
    reference: Vec<Duration>,
    reference_first_byte: Vec<Duration>,
    /// Views set aside: the summaries were replaced meanwhile.
    disturbed: usize,
}

/// First views after a refresh.
#[derive(Default)]
struct FirstViews {
    refresh: Vec<Duration>,
    first: Vec<Duration>,
    second: Vec<Duration>,
}

struct Cpu {
    process: f64,
    machine_busy: f64,
    machine_total: f64,
}

/// The captured answers the reference replays, by path and query.
type References = Arc<RwLock<HashMap<String, Captured>>>;

/// An answer as the reference replays it.
#[derive(Clone)]
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Answer = Response<UnsyncBoxBody<Bytes, BoxError>>;

/// Starts the server, signs in, measures; stops the server.
async fn serve_and_measure(
    args: &DashboardArgs,
    engine: &Arc<Engine>,
    deadline: TokioInstant,
) -> anyhow::Result<Measured> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (_, token) =
        tocsin_web::auth::issue_token(engine.store(), "", "dashboard-bench", "operator", now_ms())
            .await
            .context("issuing a token")?;
    let started = Instant::now();
    let app = tocsin_web::AppState::new(
        engine.clone(),
        tocsin_web::WebOptions {
            // Pages count against the token's rate limit: never here.
            api_rate: RateLimit {
                count: 1_000_000,
                per: Duration::from_secs(1),
            },
            ..tocsin_web::WebOptions::default()
        },
    );
    // The server's refresher computes the first summaries at once.
    loop {
        if app.summaries.get().len() >= args.checks {
            break;
        }
        if TokioInstant::now() > deadline {
            bail!("--timeout passed before the summaries were computed");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let summaries = started.elapsed();
    let references: References = Arc::default();
    let service = TowerToHyperService::new(tocsin_web::router_with(app.clone()));
    let server = AbortOnDrop(tokio::spawn(accept(listener, service, references.clone())));
    let result = async {
        let mut client = Client::connect(port).await?;
        tokio::time::timeout_at(deadline, client.login(&token))
            .await
            .context("--timeout passed while signing in")??;
        measure(args, &app, &mut client, &references, deadline).await
    }
    .await;
    drop(server);
    let mut m = result?;
    m.summaries = summaries;
    Ok(m)
}

/// The measurement proper, once signed in.
async fn measure(
    args: &DashboardArgs,
    app: &tocsin_web::AppState,
    client: &mut Client,
    references: &References,
    deadline: TokioInstant,
) -> anyhow::Result<Measured> {
    let ticks0 = ticks();
    let mut capped = false;
    let mut pages = Vec::with_capacity(PAGES.len());
    // The map the last view was drawn from (held, so its address is not reused).
    let mut drawn: Arc<SummaryMap>;
    'pages: for path in PAGES {
        // Warm-up view, captured for the reference.
        let Ok(first) = tokio::time::timeout_at(deadline, client.capture(path)).await else {
            capped = true;
            break;
        };
        let first = first?;
        if first.status != StatusCode::OK {
            bail!(
                "GET {path} answered {}: {}",
                first.status,
                String::from_utf8_lossy(&first.body[..first.body.len().min(300)])
            );
        }
        if path == "/" && !contains(&first.body, SPARK.as_bytes()) {
            bail!("GET / has no sparkline: the summaries are not on the page");
        }
        drawn = app.summaries.get();
        let mut page = PageFigures {
            path,
            size: first.body.len(),
            sizes: (first.body.len(), first.body.len()),
            views: Vec::with_capacity(args.rounds),
            view_first_byte: Vec::with_capacity(args.rounds),
            reference: Vec::with_capacity(args.rounds),
            reference_first_byte: Vec::with_capacity(args.rounds),
            disturbed: 0,
        };
        references
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(path.to_owned(), first);
        // Warm-up reference request.
        match tokio::time::timeout_at(deadline, client.timed(path, true)).await {
            Ok(r) => check(path, true, &r?)?,
            Err(_) => {
                capped = true;
                pages.push(page);
                break;
            }
        }
        for round in 0..args.rounds {
            for reference in [round % 2 == 1, round % 2 == 0] {
                let before = app.summaries.get();
                let Ok(t) = tokio::time::timeout_at(deadline, client.timed(path, reference)).await
                else {
                    capped = true;
                    pages.push(page);
                    break 'pages;
                };
                let t = t?;
                check(path, reference, &t)?;
                if reference {
                    page.reference.push(t.took);
                    page.reference_first_byte.push(t.first_byte);
                    continue;
                }
                let after = app.summaries.get();
                page.sizes = (page.sizes.0.min(t.len), page.sizes.1.max(t.len));
                if Arc::ptr_eq(&before, &drawn) && Arc::ptr_eq(&after, &before) {
                    page.views.push(t.took);
                    page.view_first_byte.push(t.first_byte);
                } else {
                    page.disturbed += 1;
                }
                drawn = after;
            }
        }
        pages.push(page);
    }

    let ticks1 = ticks();
    let mut first = FirstViews::default();
    if !capped {
        for _ in 0..args.first_views {
            let t = Instant::now();
            let refreshed = tokio::time::timeout_at(
                deadline,
                app.summaries.refresh(app.engine.store(), now_ms()),
            )
            .await;
            let Ok(refreshed) = refreshed else {
                capped = true;
                break;
            };
            refreshed.context("refreshing the summaries")?;
            first.refresh.push(t.elapsed());
            let mut views = [Duration::ZERO; 2];
            for v in &mut views {
                let Ok(t) = tokio::time::timeout_at(deadline, client.timed("/", false)).await
                else {
                    capped = true;
                    break;
                };
                let t = t?;
                check("/", false, &t)?;
                *v = t.took;
            }
            if capped {
                break;
            }
            first.first.push(views[0]);
            first.second.push(views[1]);
        }
    }
    let ticks2 = ticks();
    Ok(Measured {
        summaries: Duration::ZERO,
        pages,
        first,
        cpu: [Cpu::between(ticks0, ticks1), Cpu::between(ticks1, ticks2)],
        capped,
    })
}

type Ticks = (Option<u64>, Option<(u64, u64)>);

/// This process's CPU ticks and the machine's `(busy, total)`.
fn ticks() -> Ticks {
    (procfs::process_ticks("self"), procfs::machine_ticks())
}

impl Cpu {
    fn between(a: Ticks, b: Ticks) -> Option<Self> {
        let ((Some(p0), Some(m0)), (Some(p1), Some(m1))) = (a, b) else {
            return None;
        };
        Some(Self {
            process: procfs::secs(p1.saturating_sub(p0)),
            machine_busy: procfs::secs(m1.0.saturating_sub(m0.0)),
            machine_total: procfs::secs(m1.1.saturating_sub(m0.1)),
        })
    }

    fn print(&self, label: &str) {
        println!(
            "{label:<15} {:.2} CPU-s this process (server and client); machine {:.2} of {:.2} CPU-s busy (other processes {:.2})",
            self.process,
            self.machine_busy,
            self.machine_total,
            (self.machine_busy - self.process).max(0.0)
        );
    }
}

/// Fails unless an answer is a 200 (and, for the reference, a replayed one).
fn check(path: &str, reference: bool, t: &Timed) -> anyhow::Result<()> {
    if t.status != StatusCode::OK {
        bail!(
            "GET {path}{} answered {}",
            if reference { " (reference)" } else { "" },
            t.status
        );
    }
    Ok(())
}

/// p50, p95 and max of a sample (nearest rank).
#[derive(Clone, Copy)]
struct Stats {
    n: usize,
    p50: Duration,
    p95: Duration,
    max: Duration,
}

fn stats(v: &[Duration]) -> Option<Stats> {
    if v.is_empty() {
        return None;
    }
    let mut v = v.to_vec();
    v.sort_unstable();
    let q = |q: f64| nearest_rank(&v, q);
    Some(Stats {
        n: v.len(),
        p50: q(0.5),
        p95: q(0.95),
        max: q(1.0),
    })
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

impl Measured {
    fn print(&self, args: &DashboardArgs) {
        println!(
            "summaries       first computed by the server's refresher {:.0} ms after the server's state was made",
            ms(self.summaries)
        );
        if self.capped {
            println!(
                "NOTE            --timeout ({}) passed: measuring stopped, the figures below are from fewer requests",
                args.timeout
            );
        }
        println!();
        println!(
            "## views with the sparklines already drawn (ms; a view and a reference request per round, {} rounds)",
            args.rounds
        );
        println!(
            "{:<24} {:>8} {:>5} {:>8} {:>8} {:>8} {:>10} | {:>8} {:>8} {:>10} | {:>9} {:>7}",
            "page",
            "size",
            "views",
            "p50",
            "p95",
            "max",
            "1st byte",
            "ref p50",
            "ref p95",
            "ref 1st b",
            "added p50",
            "ratio"
        );
        let mut root: Option<(Stats, Stats)> = None;
        for p in &self.pages {
            let (Some(v), Some(r)) = (stats(&p.views), stats(&p.reference)) else {
                println!("{:<24} {:>8} no samples", p.path, mb(p.size));
                continue;
            };
            let fb = stats(&p.view_first_byte).map_or(Duration::ZERO, |s| s.p50);
            let rfb = stats(&p.reference_first_byte).map_or(Duration::ZERO, |s| s.p50);
            println!(
                "{:<24} {:>8} {:>5} {:>8.2} {:>8.2} {:>8.2} {:>10.2} | {:>8.2} {:>8.2} {:>10.2} | {:>9.2} {:>6.1}x",
                p.path,
                mb(p.size),
                v.n,
                ms(v.p50),
                ms(v.p95),
                ms(v.max),
                ms(fb),
                ms(r.p50),
                ms(r.p95),
                ms(rfb),
                ms(v.p50.saturating_sub(r.p50)),
                ratio(v.p50, r.p50)
            );
            if p.path == "/" {
                root = Some((v, r));
            }
        }
        for p in &self.pages {
            if p.disturbed > 0 {
                println!(
                    "{:<24} {} view(s) set aside: the server's refresher replaced the summaries meanwhile",
                    p.path, p.disturbed
                );
            }
            if p.sizes.0 != p.sizes.1 {
                println!(
                    "{:<24} views were {} to {} bytes (reference: {} bytes)",
                    p.path, p.sizes.0, p.sizes.1, p.size
                );
            }
        }
        println!(
            "(size: the page's body, MB = 10^6 bytes; 1st byte: until the answer's headers arrived; ref: the same bytes replayed; added: view p50 minus reference p50; ratio: view p50 / reference p50)"
        );

        println!();
        println!(
            "## first view after a summaries refresh (every check's sparkline drawn again), GET /"
        );
        let f = &self.first;
        match (
            stats(&f.refresh),
            stats(&f.first),
            stats(&f.second),
            root.as_ref(),
        ) {
            (Some(rf), Some(a), Some(b), Some((_, r))) => {
                println!(
                    "refresh         n {}, p50 {:.2} ms, max {:.2} ms  (Summaries::refresh: the summaries computed from the rollups, as the server does every minute, off the page)",
                    rf.n,
                    ms(rf.p50),
                    ms(rf.max)
                );
                println!(
                    "first view      n {}, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms  ({:.1}x the reference p50 {:.2} ms)",
                    a.n,
                    ms(a.p50),
                    ms(a.p95),
                    ms(a.max),
                    ratio(a.p50, r.p50),
                    ms(r.p50)
                );
                println!(
                    "second view     n {}, p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms  (first view p50 / second view p50: {:.1}x)",
                    b.n,
                    ms(b.p50),
                    ms(b.p95),
                    ms(b.max),
                    ratio(a.p50, b.p50)
                );
            }
            _ => println!("no samples"),
        }

        println!();
        if let Some(c) = &self.cpu[0] {
            c.print("CPU, views");
        }
        if let Some(c) = &self.cpu[1] {
            c.print("CPU, 1st views");
        }
        if let Some((v, _)) = root.filter(|_| args.checks == 10_000) {
            let worst = f.first.iter().copied().max().map_or(String::new(), |m| {
                format!(", first view after a refresh max {:.2} ms", ms(m))
            });
            println!(
                "target          GET / < {} ms at 10,000 checks: {} (p95 {:.2} ms, max {:.2} ms{worst})",
                TARGET.as_millis(),
                if v.p95 < TARGET && f.first.iter().all(|d| *d < TARGET) {
                    "met"
                } else {
                    "not met"
                },
                ms(v.p95),
                ms(v.max),
            );
        } else {
            println!(
                "target          GET / < {} ms at 10,000 checks: not judged with {} checks",
                TARGET.as_millis(),
                args.checks
            );
        }
    }
}

/// `10000` as `10,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mb(bytes: usize) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Accepts connections until aborted; each is served as `axum::serve` serves it (hyper-util's
/// connection builder), with the reference handler in front of the router.
async fn accept<S, B>(listener: tokio::net::TcpListener, service: S, references: References)
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    // Dropped (and so every connection aborted) when this task is.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of descriptors, say: no busy loop.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let (service, references) = (service.clone(), references.clone());
        let front = hyper::service::service_fn(move |req: Request<Incoming>| {
            let replay = req
                .headers()
                .contains_key(REFERENCE_HEADER)
                .then(|| replayed(&references, &req));
            let routed = replay.is_none().then(|| service.call(req));
            async move {
                let answer: Answer = match (replay, routed) {
                    (Some(answer), _) => answer,
                    (None, Some(routed)) => {
                        let Ok(resp) = routed.await;
                        resp.map(|b| b.map_err(|e| -> BoxError { e.into() }).boxed_unsync())
                    }
                    (None, None) => unreachable!("a request is either replayed or routed"),
                };
                Ok::<_, Infallible>(answer)
            }
        });
        connections.spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let _ = builder
                .serve_connection_with_upgrades(TokioIo::new(tcp), front)
                .await;
        });
        // Reap finished connections.
        while connections.try_join_next().is_some() {}
    }
}

/// The reference handler: the captured answer to this path and query, or a 404.
fn replayed(references: &References, req: &Request<Incoming>) -> Answer {
    let key = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let captured = references
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    let Some(c) = captured else {
        let mut r = Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync());
        *r.status_mut() = StatusCode::NOT_FOUND;
        return r;
    };
    let mut r = Response::new(Full::new(c.body).map_err(|e| match e {}).boxed_unsync());
    *r.status_mut() = c.status;
    *r.headers_mut() = c.headers;
    r
}

/// A captured answer, from a view.
struct Capture {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// A timed request.
struct Timed {
    status: StatusCode,
    len: usize,
    first_byte: Duration,
    took: Duration,
}

/// The client: one HTTP/1.1 connection, kept alive, and the session's cookie.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    _conn: AbortOnDrop<Result<(), hyper::Error>>,
    host: String,
    cookie: String,
}

impl Client {
    async fn connect(port: u16) -> anyhow::Result<Self> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
        Ok(Self {
            sender,
            _conn: AbortOnDrop(tokio::spawn(conn)),
            host: format!("127.0.0.1:{port}"),
            cookie: String::new(),
        })
    }

    /// `GET path` as the signed-in browser (with the reference header if `reference`).
    fn get(&self, path: &str, reference: bool) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut req = Request::get(path)
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, "text/html");
        if !self.cookie.is_empty() {
            req = req.header(header::COOKIE, &self.cookie);
        }
        if reference {
            req = req.header(REFERENCE_HEADER, "1");
        }
        Ok(req.body(Full::new(Bytes::new()))?)
    }

    /// Sends a request; the answer's head and the time until it arrived.
    async fn send(
        &mut self,
        req: Request<Full<Bytes>>,
    ) -> anyhow::Result<(Instant, Response<Incoming>, Duration)> {
        self.sender.ready().await.context("the connection closed")?;
        let t0 = Instant::now();
        let resp = self.sender.send_request(req).await?;
        let first_byte = t0.elapsed();
        Ok((t0, resp, first_byte))
    }

    /// A timed request: the body is read to its end and counted, not kept.
    async fn timed(&mut self, path: &str, reference: bool) -> anyhow::Result<Timed> {
        let req = self.get(path, reference)?;
        let (t0, resp, first_byte) = self.send(req).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut len = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                len += data.len();
            }
        }
        Ok(Timed {
            status,
            len,
            first_byte,
            took: t0.elapsed(),
        })
    }

    /// A view whose answer is kept (for the reference), without the headers the server adds
    /// to every answer (`date`, `content-length`).
    async fn capture(&mut self, path: &str) -> anyhow::Result<Captured> {
        let req = self.get(path, false)?;
        let (_, resp, _) = self.send(req).await?;
        let c = read(resp).await?;
        let mut headers = c.headers;
        headers.remove(header::DATE);
        headers.remove(header::CONTENT_LENGTH);
        Ok(Captured {
            status: c.status,
            headers,
            body: c.body,
        })
    }

    /// Signs in with `token` as a browser: the login form's CSRF field and cookie, then the
    /// form post from this site.
    async fn login(&mut self, token: &str) -> anyhow::Result<()> {
        let req = self.get("/login", false)?;
        let (_, resp, _) = self.send(req).await?;
        let form = read(resp).await?;
        if form.status != StatusCode::OK {
            bail!("GET /login answered {}", form.status);
        }
        let nonce = set_cookie(&form.headers, "tocsin_login")
            .context("GET /login set no tocsin_login cookie")?;
        let csrf = field(&form.body, "csrf").context("the login form has no csrf field")?;
        let body = format!("token={}&csrf={}&next=%2F", enc(token), enc(&csrf));
        let req = Request::post("/login")
            .header(header::HOST, &self.host)
            .header(header::ORIGIN, format!("http://{}", self.host))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("tocsin_login={nonce}"))
            .body(Full::new(Bytes::from(body)))?;
        let (_, resp, _) = self.send(req).await?;
        let done = read(resp).await?;
        if done.status != StatusCode::SEE_OTHER {
            bail!(
                "POST /login answered {}: {}",
                done.status,
                String::from_utf8_lossy(&done.body[..done.body.len().min(300)])
            );
        }
        let session = set_cookie(&done.headers, tocsin_web::session::COOKIE)
            .context("POST /login set no session cookie")?;
        self.cookie = format!("{}={session}", tocsin_web::session::COOKIE);
        Ok(())
    }
}

/// Reads a whole answer.
async fn read(resp: Response<Incoming>) -> anyhow::Result<Capture> {
    let (parts, body) = resp.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Capture {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// The value of cookie `name` set by an answer.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// The value of the first `<input name="{name}" value="…">` of a page.
fn field(page: &[u8], name: &str) -> Option<String> {
    let page = std::str::from_utf8(page).ok()?;
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    Some(page[start..].split('"').next()?.to_owned())
}

/// Form encoding.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        let s = stats(&v).unwrap();
        assert_eq!(s.n, 20);
        assert_eq!(s.p50, Duration::from_millis(10));
        assert_eq!(s.p95, Duration::from_millis(19));
        assert_eq!(s.max, Duration::from_millis(20));
        assert!(stats(&[]).is_none());
    }

    #[test]
    fn cookies_fields_and_form_encoding() {
        let mut h = HeaderMap::new();
        h.append(
            header::SET_COOKIE,
            "tocsin_session=abc123; Path=/; HttpOnly".parse().unwrap(),
        );
        h.append(
            header::SET_COOKIE,
            "tocsin_login=; Path=/login; Max-Age=0".parse().unwrap(),
        );
        assert_eq!(set_cookie(&h, "tocsin_session").as_deref(), Some("abc123"));
        assert_eq!(set_cookie(&h, "tocsin_login").as_deref(), Some(""));
        assert_eq!(set_cookie(&h, "nope"), None);
        let page = b"<input type=\"hidden\" name=\"csrf\" value=\"f00d\">";
        assert_eq!(field(page, "csrf").as_deref(), Some("f00d"));
        assert_eq!(enc("tcn_a/b c"), "tcn_a%2Fb%20c");
        assert_eq!(thousands(240_000), "240,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
