//! The `tocsin` binary: command line, wiring, signals and graceful shutdown.
//!
//! `anyhow` lives here only; the libraries return typed errors.

mod check_cmd;
mod ctl;
mod serve;
mod token_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// jemalloc, configured at build time (`.cargo/config.toml`): under load it spends less CPU per
/// allocation than glibc's malloc and fragments less; a background thread gives freed pages back
/// after about a second. See docs/benchmarks.md.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Tocsin watches services and hosts and raises the alarm when they go wrong.
#[derive(Parser, Debug)]
#[command(name = "tocsin", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: schedule checks, keep state and history, serve /metrics and the API.
    Serve(serve::ServeArgs),
    /// Check a configuration directory (or file) and print every error.
    Validate {
        /// Configuration directory or file.
        path: PathBuf,
        /// The server's notification defaults (the same flags and variables as `serve`).
        #[command(flatten)]
        notify: serve::NotifyArgs,
    },
    /// Print the next fire times of a cron expression, one RFC 3339 time per line.
    Cron {
        /// The expression: 5 fields (or 6 with seconds first), or @hourly, @daily, …
        expr: String,
        /// How many times to print.
        #[arg(short = 'n', long = "count", default_value_t = 5)]
        count: usize,
        /// IANA time zone (default UTC).
        #[arg(long = "tz")]
        tz: Option<String>,
    },
    /// Run checks once, print a table (or JSON) and exit with the worst Nagios code.
    Check(check_cmd::CheckArgs),
    /// Create, list and revoke API tokens (in the store; the server need not run).
    Token(token_cmd::TokenArgs),
    /// Talk to a running server: checks, alarms (ack, close…), maintenances, reload.
    Ctl(ctl::CtlArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tocsin: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            runtime()?.block_on(serve::serve(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { path, notify } => {
            // Building an email channel needs a runtime (its connection pool).
            let rt = runtime()?;
            let _in_runtime = rt.enter();
            Ok(validate(&path, &notify.defaults()))
        }
        Command::Cron { expr, count, tz } => cron(&expr, count, tz.as_deref()),
        Command::Check(args) => runtime()?.block_on(check_cmd::check(args)),
        Command::Token(args) => runtime()?.block_on(token_cmd::token(args)),
        Command::Ctl(args) => runtime()?.block_on(ctl::ctl(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOCSIN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TOCSIN_LOG_FORMAT").is_ok_and(|f| f == "json");
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The environment lookup used for `${VAR}` in configuration files.
pub(crate) fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn validate(path: &std::path::Path, defaults: &tocsin_notify::Defaults) -> ExitCode {
    let validated = tocsin_core::config::validate_dir(path, &env_lookup)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
        .and_then(|catalog| {
            // Every contact must become a channel: settings, CA files, templates.
            let errors: Vec<String> = catalog
                .contacts
                .iter()
                .filter_map(|c| {
                    tocsin_notify::build(c, defaults)
                        .err()
                        .map(|e| format!("{}: {e}", c.origin))
                })
                .collect();
            if errors.is_empty() {
                Ok(catalog)
            } else {
                Err(errors)
            }
        });
    match validated {
        Ok(catalog) => {
            println!(
                "{}: {} checks, no errors",
                path.display(),
                catalog.checks.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::from(1)
        }
    }
}

fn cron(expr: &str, count: usize, tz: Option<&str>) -> anyhow::Result<ExitCode> {
    let schedule = tocsin_core::Schedule::cron(expr, tz)?;
    let tocsin_core::Schedule::Cron(c) = schedule else {
        anyhow::bail!("not a cron schedule");
    };
    for t in c.upcoming(jiff::Timestamp::now(), count) {
        println!("{}", t.strftime("%Y-%m-%dT%H:%M:%S%:z"));
    }
    Ok(ExitCode::SUCCESS)
}
