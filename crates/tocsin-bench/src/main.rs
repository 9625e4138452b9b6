//! `tocsin-bench`: commands that run Tocsin under load on this machine and print figures, with
//! a reference measured in the same run (see `docs/benchmarks.md`).
//!
//! - `http`: N HTTP checks against a local target in another process; checks/s, CPU per check,
//!   scheduler lag; with `--blackbox`, Prometheus' blackbox exporter on the same target.
//! - `tcp`, `icmp`: the same for TCP connect and ICMP echo checks (blackbox modules `tcp_connect`
//!   and `icmp`).
//! - `memory`: resident memory per configured check.
//! - `command`: Nagios plugins as command checks against a shell loop and `xargs -P` running the
//!   same plugins.
//! - `notify-latency`, `notify-rate`: from a failing result to its webhook's arrival, and
//!   webhooks per second when many checks go down at once, each against a bare POST.
//! - `sse-fanout`: live events to many SSE clients at once, against broadcast receivers.
//! - `dashboard`: the server time of the web dashboard (`GET /`) with 10,000 checks, against
//!   the same page's bytes served on the same connection by a trivial handler.
//!
//! Every server binds 127.0.0.1 and every load loop is bounded in count and in time.

mod blackbox;
mod command;
mod configgen;
mod dashboard;
mod http;
mod lag;
mod memory;
mod notify;
mod procfs;
mod sse;
mod target;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// The allocator of the `tocsin` binary (feature `jemalloc`, on by default), configured the same
/// way at build time (`.cargo/config.toml`): the figures are those of what ships.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "tocsin-bench",
    about = "Tocsin's benchmarks: run them, read the figures"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// HTTP checks per second, CPU per check and scheduler lag (optionally against the
    /// blackbox exporter).
    Http(http::HttpArgs),
    /// TCP connect checks per second, as `http` (blackbox module `tcp_connect`).
    Tcp(http::HttpArgs),
    /// ICMP echo checks per second to 127.0.0.1, as `http` (blackbox module `icmp`).
    Icmp(http::HttpArgs),
    /// Resident memory per configured check.
    Memory(memory::MemoryArgs),
    /// Command checks (Nagios plugins) per second against a shell loop running the same plugin.
    Command(command::CommandArgs),
    /// Latency from a failing result to its webhook's arrival, against a bare POST.
    NotifyLatency(notify::LatencyArgs),
    /// Webhooks per second when many checks go down at once, against bare POSTs.
    NotifyRate(notify::RateArgs),
    /// Live events (`GET /api/v1/events`) to many SSE clients at once, against broadcast
    /// receivers without HTTP.
    SseFanout(sse::FanoutArgs),
    /// The web dashboard (`GET /`) of many checks, against the same bytes served by a trivial
    /// handler on the same connection.
    Dashboard(dashboard::DashboardArgs),
    /// (internal) RSS before and after loading a configuration with `ConfigSet` alone.
    #[command(hide = true)]
    SpecMemory {
        /// The configuration directory.
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// (internal) The HTTP target process: prints its port, exits when stdin closes.
    #[command(hide = true)]
    Target {
        /// Exit after this many seconds at the latest.
        #[arg(long, default_value_t = 600)]
        max_seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tocsin_testkit::init();
    if let Cmd::Target { max_seconds } = cli.command {
        return target::serve(Duration::from_secs(max_seconds));
    }
    if let Cmd::SpecMemory { config } = &cli.command {
        return memory::spec_memory(config);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Cmd::Http(args) => http::run(args, http::BenchKind::Http).await,
            Cmd::Tcp(args) => http::run(args, http::BenchKind::Tcp).await,
            Cmd::Icmp(args) => http::run(args, http::BenchKind::Icmp).await,
            Cmd::Memory(args) => memory::run(args).await,
            Cmd::Command(args) => command::run(args).await,
            Cmd::NotifyLatency(args) => notify::latency(args).await,
            Cmd::NotifyRate(args) => notify::rate(args).await,
            Cmd::SseFanout(args) => sse::fanout(args).await,
            Cmd::Dashboard(args) => dashboard::run(args).await,
            Cmd::Target { .. } | Cmd::SpecMemory { .. } => Ok(()),
        }
    })
}
