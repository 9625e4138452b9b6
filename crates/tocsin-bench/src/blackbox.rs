//! The reference: Prometheus' blackbox exporter (Debian's `prometheus-blackbox-exporter`) probing
//! the same target, driven the way Prometheus drives it — HTTP requests to `/probe` over kept-alive
//! connections — by a bounded closed loop of concurrent clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::procfs;

/// Where Debian installs the exporter.
pub(crate) const EXPORTER: &str = "/usr/bin/prometheus-blackbox-exporter";

/// Upper bound on the probes one client sends, whatever the duration.
const MAX_PROBES_PER_CLIENT: u64 = 1_000_000;

/// Time allowed for one `/probe` request before the client gives up on it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The exporter module a run drives, and the target it probes.
#[derive(Debug)]
pub(crate) struct Module {
    /// The module's name in the configuration and in `/probe?module=`.
    pub(crate) name: &'static str,
    /// The whole configuration file.
    pub(crate) config: String,
    /// The `target` parameters: client `k` probes the `k % len`-th.
    pub(crate) targets: Vec<String>,
}

/// What the load run measured.
#[derive(Debug)]
pub(crate) struct Figures {
    /// Exporter version line.
    pub(crate) version: String,
    /// Seconds measured.
    pub(crate) secs: f64,
    /// Probes that answered 200 with `probe_success 1`.
    pub(crate) ok: u64,
    /// Probes that failed (any other answer, or a client error).
    pub(crate) failed: u64,
    /// Exporter CPU seconds.
    pub(crate) exporter_cpu: f64,
    /// Target CPU seconds.
    pub(crate) target_cpu: f64,
    /// Load generator (this process) CPU seconds.
    pub(crate) client_cpu: f64,
    /// Machine-wide busy CPU seconds.
    pub(crate) machine_busy: Option<f64>,
    /// Exporter RSS at the end and its peak, bytes.
    pub(crate) exporter_rss: (u64, u64),
    /// Probe latency seen by the clients: p50, p99.
    pub(crate) latency: Option<(Duration, Duration)>,
}

impl Figures {
    /// Probes (all answers) per second.
    pub(crate) fn rate(&self) -> f64 {
        (self.ok + self.failed) as f64 / self.secs
    }
}

/// Starts the exporter on a free port under `dir` and drives `/probe?target=…` with `clients`
/// concurrent kept-alive connections: `warmup`, then `duration` measured.
pub(crate) async fn run(
    dir: &Path,
    module: &Module,
    target_pid: u32,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Figures> {
    if !Path::new(EXPORTER).exists() {
        bail!("{EXPORTER} is missing: apt-get install -y prometheus-blackbox-exporter");
    }
    std::fs::create_dir_all(dir)?;
    let config: PathBuf = dir.join("blackbox.yml");
    std::fs::write(&config, &module.config)?;
    let version = tokio::process::Command::new(EXPORTER)
        .arg("--version")
        .output()
        .await
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_default();
    let port = crate::target::free_port()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let log = std::fs::File::create(dir.join("exporter.log"))?;
    let mut child = tokio::process::Command::new(EXPORTER)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the blackbox exporter")?;
    let pid = child.id().context("exporter exited at once")?.to_string();
    let paths: Vec<String> = module
        .targets
        .iter()
        .map(|t| format!("/probe?target={t}&module={}", module.name))
        .collect();
    let path = paths.first().context("no blackbox target")?.clone();

    // Ready when a probe succeeds (bounded: 10 s).
    let ready_by = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut c) = Client::connect(addr).await
            && let Ok(true) = c.probe(&path).await
        {
            break;
        }
        if Instant::now() > ready_by {
            let _ = child.kill().await;
            bail!("the blackbox exporter on {addr} did not answer a successful probe within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..clients.max(1) {
        let (ok, failed, path) = (ok.clone(), failed.clone(), paths[k % paths.len()].clone());
        tasks.spawn(client_loop(addr, path, ok, failed, measure_from, stop_at));
    }

    tokio::time::sleep_until(measure_from).await;
    let at0 = Instant::now();
    let (ok0, failed0) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let exp0 = procfs::process_ticks(&pid).unwrap_or(0);
    let tgt0 = procfs::process_ticks(&target_pid.to_string()).unwrap_or(0);
    let me0 = procfs::process_ticks("self").unwrap_or(0);
    let m0 = procfs::machine_ticks();
    let mut peak = 0;
    while Instant::now() < stop_at {
        let left = stop_at.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
        peak = peak.max(procfs::status_bytes(&pid, "VmRSS").unwrap_or(0));
    }
    let secs = at0.elapsed().as_secs_f64();
    let (ok1, failed1) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    let exp1 = procfs::process_ticks(&pid).unwrap_or(0);
    let tgt1 = procfs::process_ticks(&target_pid.to_string()).unwrap_or(0);
    let me1 = procfs::process_ticks("self").unwrap_or(0);
    let m1 = procfs::machine_ticks();
    let rss_end = procfs::status_bytes(&pid, "VmRSS").unwrap_or(0);

    let mut latencies = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(mut l) = joined {
            latencies.append(&mut l);
        }
    }
    let _ = child.kill().await;
    latencies.sort_unstable();
    let pick = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let latency = (!latencies.is_empty()).then(|| (pick(0.5), pick(0.99)));

    Ok(Figures {
        version,
        secs,
        ok: ok1 - ok0,
        failed: failed1 - failed0,
        exporter_cpu: procfs::secs(exp1.saturating_sub(exp0)),
        target_cpu: procfs::secs(tgt1.saturating_sub(tgt0)),
        client_cpu: procfs::secs(me1.saturating_sub(me0)),
        machine_busy: m0
            .zip(m1)
            .map(|(a, b)| procfs::secs(b.0.saturating_sub(a.0))),
        exporter_rss: (rss_end, peak.max(rss_end)),
        latency,
    })
}

/// One client: probes back to back on a kept-alive connection (reconnecting if it breaks) until
/// `stop_at`, counting answers; returns the latencies of the probes that finished inside the
/// measured window.
async fn client_loop(
    addr: SocketAddr,
    path: String,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    measure_from: Instant,
    stop_at: Instant,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut client: Option<Client> = None;
    let mut sent = 0u64;
    while Instant::now() < stop_at && sent < MAX_PROBES_PER_CLIENT {
        let c = match client.as_mut() {
            Some(c) => c,
            None => match Client::connect(addr).await {
                Ok(c) => client.insert(c),
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        sent += 1;
        let t0 = Instant::now();
        let answer = c.probe(&path).await;
        let done = Instant::now();
        match answer {
            Ok(true) => ok.fetch_add(1, Ordering::Relaxed),
            Ok(false) => failed.fetch_add(1, Ordering::Relaxed),
            Err(_) => {
                client = None;
                failed.fetch_add(1, Ordering::Relaxed)
            }
        };
        if done >= measure_from && done <= stop_at {
            latencies.push(done - t0);
        }
    }
    latencies
}

/// A kept-alive HTTP/1.1 connection to the exporter.
struct Client {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    host: http::HeaderValue,
}

impl Client {
    async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self {
            send,
            host: http::HeaderValue::from_str(&addr.to_string())?,
        })
    }

    /// One probe; true when the exporter answered 200 with `probe_success 1`.
    async fn probe(&mut self, path: &str) -> anyhow::Result<bool> {
        let req = http::Request::get(path)
            .header(http::header::HOST, self.host.clone())
            .body(Empty::<Bytes>::new())?;
        let exchange = async {
            self.send.ready().await?;
            let resp = self.send.send_request(req).await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok(status == http::StatusCode::OK && contains(&body, b"\nprobe_success 1\n"))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .context("probe timed out")?
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_probe_success() {
        assert!(contains(
            b"# TYPE probe_success gauge\nprobe_success 1\n",
            b"\nprobe_success 1\n"
        ));
        assert!(!contains(b"\nprobe_success 0\n", b"\nprobe_success 1\n"));
    }
}
