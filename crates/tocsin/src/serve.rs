//! `tocsin serve`: the store, the engine, the HTTP server, reload triggers (file changes,
//! SIGHUP, the API) and graceful shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use notify_debouncer_full::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
use tocsin_engine::{Engine, EngineOptions};
use tocsin_store::Store;
use tokio::signal::unix::{SignalKind, signal};

/// Arguments of `tocsin serve`.
#[derive(clap::Args, Debug)]
pub(crate) struct ServeArgs {
    /// Configuration directory (every *.yml / *.yaml under it) or a single file.
    #[arg(long, short = 'c', env = "TOCSIN_CONFIG")]
    config: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    pub(crate) notify: NotifyArgs,
    /// Address of the HTTP server (/healthz, /metrics, /api/v1).
    #[arg(long, env = "TOCSIN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Runs in progress at once, across all checks.
    #[arg(long, default_value_t = 4096)]
    max_concurrent: usize,
    /// Runs in progress at once against one target host.
    #[arg(long, default_value_t = 256)]
    max_per_host: usize,
    /// How long raw results are kept (rollups are kept 400 days).
    #[arg(long, default_value = "7d")]
    keep_results: tocsin_core::Dur,
    /// Requests per API token: a burst of N, then N per period (N/s, N/min or N/h).
    #[arg(
        long,
        env = "TOCSIN_API_RATE_LIMIT",
        default_value = "600/min",
        value_parser = tocsin_core::directory::RateLimit::parse
    )]
    api_rate_limit: tocsin_core::directory::RateLimit,
    /// Let tenants' checks reach loopback, private and link-local addresses (refused by
    /// default, on the address actually connected to).
    #[arg(long, env = "TOCSIN_TENANT_PRIVATE_NETWORKS")]
    tenant_private_networks: bool,
}

/// Server-wide notification settings: the public URL messages link to, and the SMTP server
/// and sender every email contact uses unless its settings say otherwise.
#[derive(clap::Args, Debug)]
pub(crate) struct NotifyArgs {
    /// The server's public base URL (`https://tocsin.example.com`); messages link to alarms
    /// under it.
    #[arg(long, env = "TOCSIN_PUBLIC_URL")]
    public_url: Option<String>,
    /// Default SMTP server of email contacts.
    #[arg(long, env = "TOCSIN_SMTP_HOST")]
    smtp_host: Option<String>,
    /// Default SMTP port (by --smtp-tls: 25, 587, 465).
    #[arg(long, env = "TOCSIN_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// Default SMTP security: none, starttls or tls.
    #[arg(long, env = "TOCSIN_SMTP_TLS", value_parser = ["none", "starttls", "tls"])]
    smtp_tls: Option<String>,
    /// Default SMTP user (AUTH).
    #[arg(long, env = "TOCSIN_SMTP_USERNAME")]
    smtp_username: Option<String>,
    /// Default SMTP password (AUTH); prefer the environment variable.
    #[arg(long, env = "TOCSIN_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// Default sender: `Tocsin <tocsin@example.com>`.
    #[arg(long, env = "TOCSIN_SMTP_FROM")]
    smtp_from: Option<String>,
}

impl NotifyArgs {
    /// The channel defaults these flags give.
    pub(crate) fn defaults(&self) -> tocsin_notify::Defaults {
        let mut d = tocsin_notify::Defaults::default();
        let email = &mut d.email;
        email.host.clone_from(&self.smtp_host);
        email.port = self.smtp_port;
        email.tls = self
            .smtp_tls
            .as_deref()
            .and_then(|t| serde_json::from_value(serde_json::Value::from(t)).ok());
        email.username.clone_from(&self.smtp_username);
        email.password = self
            .smtp_password
            .clone()
            .map(tocsin_core::check::Secret::new);
        email.from.clone_from(&self.smtp_from);
        d
    }
}

/// Where the data lives: `--data` and `--database`, shared by `serve` and `token`.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreArgs {
    /// Data directory: the embedded SQLite database (`DIR/tocsin.db`) and what probes remember
    /// about this machine (`DIR/probes/`, such as log scan positions; kept here even with
    /// `--database`).
    #[arg(long, env = "TOCSIN_DATA", default_value = "data", global = true)]
    pub(crate) data: PathBuf,
    /// Database URL instead of the embedded file: postgres://user@host/db or sqlite://path.
    #[arg(long, env = "TOCSIN_DATABASE", global = true)]
    pub(crate) database: Option<String>,
    /// Nice value (0 to 19) of the embedded database's threads: they give way to the runs when
    /// both want the CPU, so that a commit does not make checks start late. 0 keeps them at
    /// the process's priority.
    #[arg(
        long,
        env = "TOCSIN_STORE_NICE",
        default_value_t = tocsin_store::DEFAULT_SQLITE_NICE,
        value_parser = clap::value_parser!(i32).range(0..=19),
        global = true
    )]
    pub(crate) store_nice: i32,
}

impl StoreArgs {
    /// Opens (and migrates) the store.
    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        tocsin_store::set_sqlite_nice(self.store_nice);
        Ok(match &self.database {
            Some(url) => Store::open(url).await.context("opening the database")?,
            None => Store::open_sqlite_dir(&self.data)
                .await
                .with_context(|| format!("opening the data directory {}", self.data.display()))?,
        })
    }
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    tracing::info!(backend = store.backend().as_str(), "store open");
    let mut options = EngineOptions::new(&args.config);
    options.max_concurrent = args.max_concurrent;
    options.max_per_host = args.max_per_host;
    options.state_dir = Some(args.store.data.join("probes"));
    options.delivery.channel_defaults = args.notify.defaults();
    options.delivery.public_url = args.notify.public_url.clone();
    options.tenant_private_networks = args.tenant_private_networks;
    let engine = Engine::start(options, store.clone()).await?;
    let collector = tocsin_store::spawn_collector(
        store,
        args.keep_results.get(),
        tocsin_store::DEFAULT_KEEP_ROLLUPS,
        Duration::from_secs(600),
    );

    // Reload on file changes (debounced) and on SIGHUP.
    let _watcher = watch_config(&args.config, engine.clone());
    let mut hup = signal(SignalKind::hangup())?;
    let reload_engine = engine.clone();
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading configuration");
            let e = reload_engine.clone();
            let _ = tokio::task::spawn_blocking(move || e.reload()).await;
        }
    });

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "serving /healthz, /metrics and /api/v1");
    let web = tocsin_web::WebOptions {
        api_rate: args.api_rate_limit,
        public_url: args.notify.public_url.clone(),
    };
    let app = tocsin_web::AppState::new(engine.clone(), web);
    tocsin_web::serve(listener, app, shutdown_signal()).await?;
    tracing::info!("shutting down: stop scheduling, settle runs, flush the store");
    engine.shutdown().await;
    collector.abort();
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// Watches the configuration for changes and reloads, debounced. Returns the watcher, which
/// stops watching when dropped; `None` (with a warning) if watching is impossible.
fn watch_config(path: &std::path::Path, engine: Arc<Engine>) -> Option<impl Drop> {
    let handle = tokio::runtime::Handle::current();
    let debouncer = new_debouncer(
        Duration::from_millis(500),
        None,
        move |res: DebounceEventResult| {
            let relevant = match res {
                Ok(events) => events.iter().any(|e| {
                    e.paths.iter().any(|p| {
                        p.extension().is_some_and(|x| x == "yml" || x == "yaml") || p.is_dir()
                    })
                }),
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "watching the configuration");
                    }
                    false
                }
            };
            if relevant {
                let engine = engine.clone();
                handle.spawn_blocking(move || {
                    tracing::info!("configuration changed on disk: reloading");
                    engine.reload();
                });
            }
        },
    );
    match debouncer {
        Ok(mut d) => match d.watch(path, RecursiveMode::Recursive) {
            Ok(()) => Some(d),
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "cannot watch the configuration; use SIGHUP or POST /api/v1/reload");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the configuration; use SIGHUP or POST /api/v1/reload");
            None
        }
    }
}
