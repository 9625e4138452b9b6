//! Tocsin's engine: it keeps the check table in step with the configuration, schedules and
//! runs checks, feeds results to the state engine and hands writes to the store.
//!
//! Data flow (DESIGN.md §2): config dir → [`ConfigSet`] (last good version per file) → diff by
//! check id and fingerprint → check table → scheduler (one timer heap) → runner (global and
//! per-host limits, hard timeouts) → state engine → store write-behind, metrics.

mod alerting;
pub mod events;
pub mod metrics;
mod objects;
mod operator;
pub mod runner;
mod scheduler;
mod selfwatch;
pub mod table;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tocsin_core::config::{ConfigError, ConfigSet};
use tocsin_core::{CheckId, CheckResult, CheckState, Metric, ProbeSpec, Status};
use tocsin_probe::ProbeEnv;
use tocsin_store::{Store, WriteBehind};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

pub use alerting::{AlertingMetrics, DeliveryOptions};
pub use metrics::Metrics;
pub use objects::{ObjectError, ObjectKind, ObjectView};
pub use operator::{
    ActionError, MAX_WINDOW, MaintenanceBody, MaintenanceError, MaintenanceView, NewMaintenance,
};
pub use runner::{now_ms, run_once};
use scheduler::{Command, Scheduler};
pub use table::{CheckEntry, Runtime, Table, alarm_tenant};

/// Limits and timings of the engine.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// The configuration directory (or a single file).
    pub config: PathBuf,
    /// Runs in progress at once, across all checks.
    pub max_concurrent: usize,
    /// Runs in progress at once against one target host.
    pub max_per_host: usize,
    /// Write-behind queue capacity.
    pub store_queue: usize,
    /// How often the write-behind flushes.
    pub store_flush: Duration,
    /// How long shutdown waits for runs in progress.
    pub shutdown_grace: Duration,
    /// Where probes keep what they must remember across restarts (log scan positions). These
    /// are facts about this machine's files, so the directory is local even with PostgreSQL.
    pub state_dir: Option<PathBuf>,
    /// Notification delivery: retries, give-up time, alarm ticks.
    pub delivery: DeliveryOptions,
    /// Whether tenants' checks may reach loopback, private and link-local addresses.
    pub tenant_private_networks: bool,
}

impl EngineOptions {
    /// Defaults for a configuration directory.
    pub fn new(config: impl Into<PathBuf>) -> Self {
        Self {
            config: config.into(),
            max_concurrent: 4096,
            max_per_host: 256,
            store_queue: 65_536,
            store_flush: Duration::from_millis(200),
            shutdown_grace: Duration::from_secs(15),
            state_dir: None,
            delivery: DeliveryOptions::default(),
            tenant_private_networks: false,
        }
    }
}

/// Errors that stop the engine from starting.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store could not be read.
    #[error("store: {0}")]
    Store(#[from] tocsin_store::StoreError),
    /// The probe environment could not be set up.
    #[error("probes: {0}")]
    Probe(#[from] tocsin_probe::BuildError),
}

/// What a reload changed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ReloadReport {
    /// Checks added.
    pub added: usize,
    /// Checks whose definition changed (they keep their state).
    pub changed: usize,
    /// Checks removed.
    pub removed: usize,
    /// Checks left untouched (state and phase kept).
    pub unchanged: usize,
    /// Every configuration error; broken files keep their last good version.
    pub errors: Vec<String>,
}

/// A result sent to a push check through the API.
#[derive(Clone, Debug, Default)]
pub struct Pushed {
    /// The status (default ok).
    pub status: Status,
    /// The message (default: "result pushed").
    pub message: Option<String>,
    /// Numbers to keep with the result.
    pub metrics: Vec<Metric>,
}

/// Why a pushed result was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PushError {
    /// No push check has this id (other kinds of checks do not take pushes).
    #[error("no push check has the id {0:?}")]
    NotFound(String),
    /// The token is missing or is not the check's.
    #[error("the token is missing or wrong")]
    Token,
}

/// State shared by the engine's tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) metrics: Metrics,
    pub(crate) writer: WriteBehind,
    pub(crate) table: RwLock<Arc<Table>>,
    pub(crate) alerting: Arc<alerting::Alerting>,
    pub(crate) selfwatch: selfwatch::SelfWatch,
    /// The errors of the latest reload (configuration and contacts), for the self-check.
    pub(crate) config_errors: Mutex<Vec<String>>,
}

impl Shared {
    /// The errors of the latest reload.
    pub(crate) fn config_errors(&self) -> Vec<String> {
        lock(&self.config_errors).clone()
    }

    /// The current check table.
    pub(crate) fn table(&self) -> Arc<Table> {
        self.table
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The running engine. Cheap to share behind an `Arc`.
pub struct Engine {
    options: EngineOptions,
    shared: Arc<Shared>,
    config: Mutex<ConfigSet>,
    reloading: Mutex<()>,
    env: Arc<ProbeEnv>,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// States and last results read from the store at start, handed to checks as they appear.
    restored: Mutex<HashMap<String, Runtime>>,
    store: Store,
    commands: mpsc::UnboundedSender<Command>,
    stop: watch::Sender<bool>,
    scheduler: Mutex<Option<JoinHandle<()>>>,
    /// Objects created through the API, as stored.
    objects: Mutex<objects::Objects>,
    /// This engine, for work that must outlive a borrow (a reload off the async workers).
    me: std::sync::OnceLock<std::sync::Weak<Engine>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.options.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Restores state from the store, loads the configuration and starts scheduling.
    pub async fn start(options: EngineOptions, store: Store) -> Result<Arc<Self>, EngineError> {
        let mut env = ProbeEnv::new()?;
        if let Some(dir) = &options.state_dir {
            env = env.with_state_dir(dir);
        }
        let env = Arc::new(env);
        let mut restored: HashMap<String, Runtime> = HashMap::new();
        for (id, state) in store.load_states().await? {
            match serde_json::from_value::<CheckState>(state) {
                Ok(state) => {
                    restored.entry(id).or_default().state = state;
                }
                Err(e) => {
                    tracing::warn!(check = %id, error = %e, "stored state unreadable; starting afresh");
                }
            }
        }
        for (id, result) in store.last_results().await? {
            restored.entry(id).or_default().last = Some(Arc::new(result));
        }
        let writer = WriteBehind::spawn(store.clone(), options.store_queue, options.store_flush);
        let alerting =
            Arc::new(alerting::Alerting::restore(store.clone(), options.delivery.clone()).await?);
        let shared = Arc::new(Shared {
            metrics: Metrics::default(),
            writer,
            table: RwLock::new(Arc::new(Table::new())),
            alerting: alerting.clone(),
            selfwatch: selfwatch::SelfWatch::default(),
            config_errors: Mutex::new(Vec::new()),
        });
        let (commands, rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(alerting.deliver_forever(stop_rx.clone()));
        tokio::spawn(tick_alarms(
            shared.clone(),
            options.delivery.tick,
            stop_rx.clone(),
        ));
        let scheduler = Scheduler::new(shared.clone(), options.max_concurrent);
        let handle = tokio::spawn(scheduler.run(rx, stop_rx, options.shutdown_grace));
        let engine = Arc::new(Self {
            options,
            shared,
            config: Mutex::new(ConfigSet::default()),
            reloading: Mutex::new(()),
            env,
            hosts: Mutex::new(HashMap::new()),
            restored: Mutex::new(restored),
            store,
            commands,
            stop,
            scheduler: Mutex::new(Some(handle)),
            objects: Mutex::new(objects::Objects::new()),
            me: std::sync::OnceLock::new(),
        });
        let _ = engine.me.set(Arc::downgrade(&engine));
        engine.load_objects_from(engine.store.objects().await?);
        let report = engine.reload();
        tracing::info!(
            checks = engine.table().len(),
            errors = report.errors.len(),
            "engine started"
        );
        Ok(engine)
    }

    /// Reloads the configuration and applies the difference: new checks start, removed ones
    /// stop, changed ones are rebuilt keeping their state, unchanged ones are not touched.
    pub fn reload(&self) -> ReloadReport {
        // One reload at a time: two diffs computed from the same old table would both schedule
        // their new entries and leave one of them running unretired.
        let _serial = lock(&self.reloading);
        let env_lookup = |k: &str| std::env::var(k).ok();
        let (docs, doc_errors) = objects::documents(&lock(&self.objects));
        let (catalog, mut errors) = {
            let mut cfg = lock(&self.config);
            cfg.reload(&self.options.config, &env_lookup);
            cfg.set_api(docs);
            (cfg.catalog(), cfg.all_errors())
        };
        errors.extend(doc_errors);
        let mut report = ReloadReport {
            errors: errors.iter().map(ConfigError::to_string).collect(),
            ..Default::default()
        };
        for e in &errors {
            tracing::error!(error = %e, "configuration error");
        }
        // Contacts whose channel cannot be built (a bad setting, a missing CA file): reported
        // like configuration errors; their notifications fail until fixed.
        let contact_errors = self.shared.alerting.set_catalog(Arc::new(catalog.clone()));
        for e in &contact_errors {
            tracing::error!(error = %e, "contact error");
        }
        report.errors.extend(contact_errors);
        lock(&self.shared.config_errors).clone_from(&report.errors);
        self.shared.metrics.config_errors.store(
            report.errors.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let counter = if report.errors.is_empty() {
            &self.shared.metrics.reloads_ok
        } else {
            &self.shared.metrics.reloads_failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

        let old = self.table();
        let mut new = Table::new();
        let mut fresh = Vec::new();
        for spec in catalog.checks {
            let id = spec.id.clone();
            if let Some(e) = old.get(&id)
                && e.fingerprint == spec.fingerprint()
            {
                new.insert(id, e.clone());
                report.unchanged += 1;
                continue;
            }
            // Tenants' checks from the API stay off loopback, private and link-local
            // addresses unless the operator allows them.
            let guard = if tocsin_core::config::is_api_origin(&spec.origin.file)
                && !spec.tenant.is_empty()
                && !self.options.tenant_private_networks
            {
                tocsin_probe::AddressGuard::PublicOnly
            } else {
                tocsin_probe::AddressGuard::Open
            };
            let probe = match tocsin_probe::build_guarded(&spec.probe, &self.env, guard) {
                Ok(p) => p,
                Err(e) => {
                    // The loader validated the spec; a build error here is environmental
                    // (an unreadable CA file). Keep the old version if there is one.
                    let msg = format!("{}: check {id}: {e}", spec.origin);
                    tracing::error!(error = %msg, "cannot build probe");
                    report.errors.push(msg);
                    if let Some(e) = old.get(&id) {
                        new.insert(id, e.clone());
                    }
                    continue;
                }
            };
            let runtime = match old.get(&id) {
                Some(prev) => {
                    report.changed += 1;
                    prev.snapshot()
                }
                None => {
                    report.added += 1;
                    lock(&self.restored).remove(id.as_str()).unwrap_or_default()
                }
            };
            let host = spec
                .host
                .clone()
                .or_else(|| spec.probe.target_host())
                .unwrap_or_default();
            let limit = self.host_limit(&host);
            let entry = Arc::new(CheckEntry::new(spec, probe, limit, runtime));
            fresh.push(entry.clone());
            new.insert(id, entry);
        }
        let keep: HashSet<&CheckId> = new.keys().collect();
        for (id, e) in old.iter() {
            let replaced = new.get(id).is_some_and(|n| !Arc::ptr_eq(n, e));
            if replaced || !keep.contains(id) {
                e.retired.store(true, std::sync::atomic::Ordering::Release);
            }
            if !keep.contains(id) {
                report.removed += 1;
            }
        }
        *self
            .shared
            .table
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
        if !fresh.is_empty() {
            let _ = self.commands.send(Command::Add(fresh));
        }
        tracing::info!(
            added = report.added,
            changed = report.changed,
            removed = report.removed,
            unchanged = report.unchanged,
            errors = report.errors.len(),
            "configuration loaded"
        );
        report
    }

    fn host_limit(&self, host: &str) -> Arc<Semaphore> {
        lock(&self.hosts)
            .entry(host.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.options.max_per_host.max(1))))
            .clone()
    }

    /// The current check table.
    pub fn table(&self) -> Arc<Table> {
        self.shared.table()
    }

    /// Counters of alarms and notification deliveries.
    pub fn alerting_metrics(&self) -> &AlertingMetrics {
        &self.shared.alerting.metrics
    }

    /// One check.
    pub fn check(&self, id: &str) -> Option<Arc<CheckEntry>> {
        let id = CheckId::new(id).ok()?;
        self.table().get(&id).cloned()
    }

    /// Runs a check now, off schedule. Returns false if there is no such check.
    pub fn run_now(&self, id: &str) -> bool {
        match self.check(id) {
            Some(e) => self.commands.send(Command::RunNow(e)).is_ok(),
            None => false,
        }
    }

    /// Records a result pushed to a push check, after checking its token, and restarts the
    /// check's deadline.
    pub async fn push(&self, id: &str, token: &str, pushed: Pushed) -> Result<(), PushError> {
        let not_found = || PushError::NotFound(id.to_owned());
        let entry = self.check(id).ok_or_else(not_found)?;
        let ProbeSpec::Push(spec) = &entry.spec.probe else {
            return Err(not_found());
        };
        if !spec.accepts(token) {
            return Err(PushError::Token);
        }
        let message = pushed
            .message
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "result pushed".to_owned());
        let mut result = CheckResult::new(pushed.status, message, now_ms());
        result.metrics = pushed.metrics;
        runner::accept_push(&self.shared, &entry, result).await;
        Ok(())
    }

    /// Current configuration errors.
    pub fn config_errors(&self) -> Vec<ConfigError> {
        lock(&self.config).all_errors()
    }

    /// The configuration of the latest reload: contacts, contact groups, groups, maintenances
    /// (checks are in [`Engine::table`]). Secrets in it are [`tocsin_core::directory::Secret`]s,
    /// which never print.
    pub fn catalog(&self) -> Arc<tocsin_core::config::Catalog> {
        self.shared.alerting.catalog()
    }

    /// Live state and alarm changes from now on (see [`events`]).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<events::Published>> {
        self.shared.alerting.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Engine metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Waits until every write queued so far is in the store.
    pub async fn flush(&self) {
        self.shared.writer.flush().await;
    }

    /// The `/metrics` document in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let table = self.table();
        let mut out = String::with_capacity(4096 + table.len() * 400);
        let running = table.values().filter(|e| e.is_running()).count();
        self.shared
            .metrics
            .render(&mut out, table.len(), running, &self.shared.writer.stats());
        self.shared.alerting.render(&mut out);
        render_checks(&mut out, &table);
        out
    }

    /// Stops scheduling, lets runs in progress finish (up to the grace period) and flushes the
    /// store.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let handle = lock(&self.scheduler).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
        self.shared.writer.flush().await;
        tracing::info!("engine stopped; store flushed");
    }
}

/// Ticks the open alarms until `stop` turns true.
async fn tick_alarms(shared: Arc<Shared>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        shared.selfwatch.tick(&shared).await;
        let table = shared.table();
        shared.alerting.tick(&table).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per-check families, rendered from the table at scrape time. Checks without a result yet
/// (pending) have no series.
fn render_checks(out: &mut String, table: &Table) {
    use std::fmt::Write as _;
    use tocsin_core::Status;

    type Sample = fn(&CheckResult, &CheckState) -> Vec<(&'static str, f64)>;
    let snaps: Vec<(&Arc<CheckEntry>, Arc<CheckResult>, CheckState)> = table
        .values()
        .filter_map(|e| {
            let rt = e.snapshot();
            rt.last.map(|r| (e, r, rt.state))
        })
        .collect();
    // (family, help, samples: extra label value (or "") and value)
    let families: [(&str, &str, Sample); 7] = [
        (
            "tocsin_check_status",
            "Status of the latest result: 0 ok, 1 warning, 2 critical, 3 unknown.",
            |_, s| vec![("", f64::from(s.status.code()))],
        ),
        (
            "tocsin_check_hard_status",
            "Hard (confirmed) status: 0 ok, 1 warning, 2 critical, 3 unknown.",
            |_, s| vec![("", f64::from(s.hard_status.code()))],
        ),
        (
            "tocsin_check_up",
            "1 if the latest result is ok or warning, else 0.",
            |_, s| {
                vec![(
                    "",
                    f64::from(u8::from(matches!(s.status, Status::Ok | Status::Warning))),
                )]
            },
        ),
        (
            "tocsin_check_flapping",
            "1 while the check is flapping.",
            |_, s| vec![("", f64::from(u8::from(s.flapping)))],
        ),
        (
            "tocsin_check_duration_seconds",
            "Duration of each phase of the latest run.",
            |r, _| {
                r.timings
                    .phases()
                    .map(|(p, us)| (p, us as f64 / 1e6))
                    .collect()
            },
        ),
        (
            "tocsin_check_cert_expiry_timestamp_seconds",
            "When the peer certificate expires (Unix time).",
            |r, _| {
                r.cert_not_after
                    .map(|t| ("", t as f64))
                    .into_iter()
                    .collect()
            },
        ),
        (
            "tocsin_check_last_run_timestamp_seconds",
            "When the latest run started (Unix time).",
            |r, _| vec![("", r.started_at_ms as f64 / 1e3)],
        ),
    ];
    for (name, help, sample) in families {
        metrics::family(out, name, "gauge", help);
        for (e, result, state) in &snaps {
            for (phase, v) in sample(result, state) {
                let _ = write!(
                    out,
                    "{name}{{check=\"{}\",kind=\"{}\"",
                    e.id(),
                    e.spec.probe.kind()
                );
                if !phase.is_empty() {
                    let _ = write!(out, ",phase=\"{phase}\"");
                }
                let _ = writeln!(out, "}} {v}");
            }
        }
    }
}
