//! Alarms and notifications, wired: the pure alarm engine (`tocsin_core::alarm`) fed with the
//! state engine's transitions, its changes saved with their outbox rows in one transaction, and
//! the delivery worker that drains the outbox through the notifiers (`tocsin_notify`).
//!
//! Order of events for one result: the runner steps the state; if the step made transitions,
//! [`Alerting::on_transitions`] steps the check's alarm (one alarm per check, or per group), and
//! [`Alerting::record`] writes the alarm, its new timeline events and one outbox row per
//! (notification, contact) together. The worker is woken at once; it delivers due rows, marks
//! them delivered, retries retryable failures with exponential backoff and jitter, and marks a
//! row dead after a permanent failure or once it has failed for longer than the give-up time.
//! A tick ([`Alerting::tick`], every few seconds) lets alarms re-notify, expire acks, and
//! release faults held by a maintenance or a parent that is over.
//!
//! Restart: open alarms are read back from the store and pending deliveries simply stay due, so
//! a kill -9 loses nothing that was committed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tocsin_core::alarm::{
    Action, Alarm, AlarmBook, AlarmError, AlarmKey, CheckFacts, Context, Notification,
    NotificationKind, NotifyPolicy, Step,
};
use tocsin_core::config::Catalog;
use tocsin_core::directory::{Maintenance, MaintenanceScope, MaintenanceWindow, WindowEnd};
use tocsin_core::{CheckId, CheckResult, Metric, Status, Timings, Transition};
use tocsin_notify::{Defaults, DeliveryError, Message, MessageKind, Notifier};
use tocsin_store::{
    AlarmChange, AlarmEvent, AlarmRow, Delivery, MaintenanceRow, NewDelivery, Store, StoreError,
};
use tokio::sync::Notify;

use crate::runner::now_ms;
use crate::table::{CheckEntry, Table};

/// Alarms belong to the operator until tenants exist.
const TENANT: &str = "";

/// How many due deliveries the worker takes at once.
const BATCH: u32 = 64;

/// How long a notifier may take for one delivery before it counts as a retryable failure.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivery tuning.
#[derive(Clone, Debug)]
pub struct DeliveryOptions {
    /// First retry delay (it doubles per failure, with jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// A delivery still failing this long after it was queued is dead.
    pub give_up_after: Duration,
    /// How often the worker looks for due rows when nothing wakes it.
    pub poll: Duration,
    /// How often alarms are ticked (renotify, ack expiry, released holds).
    pub tick: Duration,
    /// Server-wide channel defaults (the SMTP server and sender), which contacts override.
    pub channel_defaults: Defaults,
    /// The server's public base URL (`https://tocsin.example.com`): messages link to the alarm
    /// under it.
    pub public_url: Option<String>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
            give_up_after: Duration::from_secs(24 * 3600),
            poll: Duration::from_secs(1),
            tick: Duration::from_secs(5),
            channel_defaults: Defaults::default(),
            public_url: None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AlertingMetrics {
    /// Alarms opened.
    pub alarms_opened: AtomicU64,
    /// Outbox rows queued.
    pub queued: AtomicU64,
    /// Deliveries that succeeded.
    pub delivered: AtomicU64,
    /// Delivery attempts that failed (and will be retried).
    pub failed: AtomicU64,
    /// Deliveries given up (dead letters).
    pub dead: AtomicU64,
    /// Errors writing alarm changes to the store.
    pub store_errors: AtomicU64,
    /// Deliveries made to wait by a contact's rate limit.
    pub rate_limited: AtomicU64,
}

/// What an outbox row carries: enough to render the message later, even if the check changed.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Payload {
    alarm: u64,
    key: AlarmKey,
    seq: u64,
    kind: NotificationKind,
    at_ms: i64,
    check: Option<CheckId>,
    check_name: String,
    status: Status,
    previous: Option<Status>,
    message: String,
    #[serde(default)]
    extracted: std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    timings: Timings,
}

/// A contact's notifier and the fingerprint of the definition it was built from.
type Built = (u64, Arc<dyn Notifier>);

/// The alarm side of the engine.
pub(crate) struct Alerting {
    store: Store,
    book: tokio::sync::Mutex<AlarmBook>,
    catalog: RwLock<Arc<Catalog>>,
    /// When each maintenance was first seen (`start: now` counts from then).
    maint_seen: Mutex<HashMap<String, jiff::Timestamp>>,
    /// Maintenances created at run time (API, `tocsin ctl`) that have not ended.
    runtime_maint: RwLock<Vec<Arc<Maintenance>>>,
    notifiers: Mutex<HashMap<String, Built>>,
    /// Failed deliveries in a row per contact, with the last error (a success clears it).
    failures: Mutex<HashMap<String, (u32, String)>>,
    /// Per-contact rate limits: when each contact's next send is allowed.
    limiter: Mutex<HashMap<String, tocsin_core::directory::Bucket>>,
    defaults: Defaults,
    wake: Notify,
    pub(crate) metrics: AlertingMetrics,
    options: DeliveryOptions,
    /// State and alarm changes, for live subscribers.
    pub(crate) events: crate::events::Events,
}

impl std::fmt::Debug for Alerting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerting")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Alerting {
    /// Reads the open alarms back from the store.
    pub(crate) async fn restore(
        store: Store,
        options: DeliveryOptions,
    ) -> Result<Self, tocsin_store::StoreError> {
        let mut alarms = Vec::new();
        for row in store.open_alarms().await? {
            match serde_json::from_value::<Alarm>(row.body) {
                Ok(a) => alarms.push(a),
                Err(e) => tracing::warn!(alarm = row.id, error = %e, "stored alarm unreadable"),
            }
        }
        let runtime: Vec<Arc<Maintenance>> = store
            .current_maintenances(now_ms())
            .await?
            .iter()
            .filter_map(runtime_maintenance)
            .map(Arc::new)
            .collect();
        let next = store.next_alarm_id(TENANT).await?;
        let next = u64::try_from(next).unwrap_or(1).max(1);
        if !alarms.is_empty() {
            tracing::info!(open = alarms.len(), "open alarms restored");
        }
        Ok(Self {
            store,
            book: tokio::sync::Mutex::new(AlarmBook::restore(alarms, next)),
            catalog: RwLock::new(Arc::new(Catalog::default())),
            maint_seen: Mutex::new(HashMap::new()),
            runtime_maint: RwLock::new(runtime),
            notifiers: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            limiter: Mutex::new(HashMap::new()),
            defaults: options.channel_defaults.clone(),
            wake: Notify::new(),
            metrics: AlertingMetrics::default(),
            options,
            events: crate::events::Events::default(),
        })
    }

    /// The catalog of the latest reload (contacts, groups, maintenances). Builds every
    /// contact's channel now and returns the errors (`file:line:col: contact "x": …`).
    pub(crate) fn set_catalog(&self, catalog: Arc<Catalog>) -> Vec<String> {
        let errors = catalog
            .contacts
            .iter()
            .filter_map(|c| {
                self.notifier(&catalog, &c.id)
                    .err()
                    .map(|e| format!("{}: {e}", c.origin))
            })
            .collect();
        let now = jiff::Timestamp::now();
        {
            let mut seen = lock(&self.maint_seen);
            seen.retain(|id, _| catalog.maintenances.iter().any(|m| &m.id == id));
            for m in &catalog.maintenances {
                seen.entry(m.id.clone()).or_insert(now);
            }
        }
        *self
            .catalog
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = catalog;
        errors
    }

    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        self.catalog
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The facts the alarm engine needs about any check, now.
    fn facts(&self, table: &Table, catalog: &Catalog, now_ms: i64, id: &CheckId) -> CheckFacts {
        let Some(entry) = table.get(id) else {
            return CheckFacts::default();
        };
        let spec = &entry.spec;
        let now =
            jiff::Timestamp::from_millisecond(now_ms).unwrap_or_else(|_| jiff::Timestamp::now());
        let groups = catalog.groups_of(id);
        let seen = lock(&self.maint_seen);
        let in_maintenance = catalog.maintenances.iter().any(|m| {
            let first = seen.get(&m.id).copied().unwrap_or(now);
            m.window.is_active(now, first) && m.scope.covers(spec, &groups)
        }) || read(&self.runtime_maint)
            .iter()
            .any(|m| m.window.is_active(now, now) && m.scope.covers(spec, &groups));
        let parents_down = spec
            .depends_on
            .iter()
            .filter(|p| {
                table
                    .get(*p)
                    .is_some_and(|e| e.runtime().state.hard_status.is_bad())
            })
            .cloned()
            .collect();
        CheckFacts {
            in_maintenance,
            parents_down,
        }
    }

    /// The alarm key and notification policy of a check.
    fn key_and_policy(catalog: &Catalog, entry: &CheckEntry) -> (AlarmKey, NotifyPolicy) {
        let groups = catalog.groups_of(entry.id());
        let key = AlarmKey::of(entry.id(), &groups);
        let mut policy = match &key {
            AlarmKey::Group(g) => match catalog.group(g) {
                Some(group) => NotifyPolicy::of_group(&group.contacts, &entry.spec.alert),
                None => NotifyPolicy::of_check(&entry.spec.alert),
            },
            AlarmKey::Check(_) => NotifyPolicy::of_check(&entry.spec.alert),
        };
        policy.contacts = catalog.expand_contacts(&policy.contacts);
        (key, policy)
    }

    /// Steps the check's alarm with the transitions of one result.
    pub(crate) async fn on_transitions(
        &self,
        table: &Table,
        entry: &CheckEntry,
        transitions: &[Transition],
        result: &CheckResult,
    ) {
        let catalog = self.catalog();
        let (key, policy) = Self::key_and_policy(&catalog, entry);
        self.step_alarm(table, key, &policy, entry.id(), transitions, result)
            .await;
    }

    /// Steps the alarm `key` with `check`'s transitions and saves the change.
    pub(crate) async fn step_alarm(
        &self,
        table: &Table,
        key: AlarmKey,
        policy: &NotifyPolicy,
        check: &CheckId,
        transitions: &[Transition],
        result: &CheckResult,
    ) {
        let catalog = self.catalog();
        let now = result.started_at_ms;
        let mut book = self.book.lock().await;
        let before = book.open_alarm(&key).cloned();
        let step = {
            let facts = |id: &CheckId| self.facts(table, &catalog, now, id);
            let cx = Context {
                now_ms: now,
                policy,
                facts: &facts,
            };
            book.on_transitions(&key, check, transitions, &result.message, &cx)
        };
        if step.opened {
            self.metrics.alarms_opened.fetch_add(1, Ordering::Relaxed);
        }
        // A store failure is counted and logged by `record`; the alarm stays in the book and
        // is written again with its next change.
        let _ = self
            .record(&catalog, table, before.as_ref(), step, Some(result))
            .await;
    }

    /// The policy of the self-alarms (see [`self_policy`]).
    pub(crate) fn self_policy(&self) -> NotifyPolicy {
        self_policy(&self.catalog())
    }

    /// Contacts whose last `threshold` or more deliveries all failed: (contact, failures in a
    /// row, last error), most failures first.
    pub(crate) fn failing_contacts(&self, threshold: u32) -> Vec<(String, u32, String)> {
        let mut out: Vec<(String, u32, String)> = lock(&self.failures)
            .iter()
            .filter(|(_, (n, _))| *n >= threshold)
            .map(|(c, (n, e))| (c.clone(), *n, e.clone()))
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// The policy of an alarm: a self-alarm's (`self.notify`), its check's, or its group's with
    /// the first check's timing; `None` when none of its checks is configured any more.
    fn policy_of(catalog: &Catalog, table: &Table, key: &AlarmKey) -> Option<NotifyPolicy> {
        let lead = match key {
            AlarmKey::Check(c) if c.as_str().starts_with(tocsin_core::config::SELF_PREFIX) => {
                return Some(self_policy(catalog));
            }
            AlarmKey::Check(c) => table.get(c).cloned(),
            AlarmKey::Group(g) => catalog
                .group(g)
                .and_then(|g| g.checks.iter().find_map(|c| table.get(c).cloned())),
        }?;
        Some(Self::key_and_policy(catalog, &lead).1)
    }

    /// Ticks every open alarm: renotify, ack expiry, holds released.
    pub(crate) async fn tick(&self, table: &Table) {
        let catalog = self.catalog();
        let now = now_ms();
        let mut book = self.book.lock().await;
        let keys: Vec<AlarmKey> = book.open_alarms().map(|a| a.key.clone()).collect();
        for key in keys {
            let Some(policy) = Self::policy_of(&catalog, table, &key) else {
                continue;
            };
            let before = book.open_alarm(&key).cloned();
            let step = {
                let facts = |id: &CheckId| self.facts(table, &catalog, now, id);
                let cx = Context {
                    now_ms: now,
                    policy: &policy,
                    facts: &facts,
                };
                book.tick(&key, &cx)
            };
            if step.notifications.is_empty() && step.alarm.as_ref() == before.as_ref() {
                continue;
            }
            let _ = self
                .record(&catalog, table, before.as_ref(), step, None)
                .await;
        }
        book.prune(now);
    }

    /// Writes an alarm change with its new events and outbox rows in one transaction.
    async fn record(
        &self,
        catalog: &Catalog,
        table: &Table,
        before: Option<&Alarm>,
        step: Step,
        result: Option<&CheckResult>,
    ) -> Result<(), StoreError> {
        let Some(alarm) = step.alarm else {
            return Ok(());
        };
        let now = now_ms();
        let total = |a: &Alarm| a.events.len() as u64 + a.events_dropped;
        let first_new = before.map_or(0, total);
        let new = total(&alarm).saturating_sub(first_new);
        let skip = alarm
            .events
            .len()
            .saturating_sub(usize::try_from(new).unwrap_or(0));
        let events = alarm.events[skip..]
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let body = serde_json::to_value(e).unwrap_or_default();
                AlarmEvent {
                    seq: i64::try_from(first_new).unwrap_or(0) + i as i64 + 1,
                    at_ms: e.at_ms,
                    kind: body
                        .get("event")
                        .and_then(|k| k.as_str())
                        .unwrap_or("event")
                        .to_owned(),
                    body,
                }
            })
            .collect();
        let mut notifications = Vec::new();
        for n in &step.notifications {
            let payload = self.payload(table, n, result);
            let payload = serde_json::to_value(&payload).unwrap_or_default();
            for contact in &n.contacts {
                let channel = catalog
                    .contact(contact)
                    .map_or_else(|| "unknown".to_owned(), |c| c.kind.to_string());
                notifications.push(NewDelivery {
                    idempotency_key: tocsin_store::idempotency_key(
                        TENANT,
                        i64::try_from(n.alarm).unwrap_or(i64::MAX),
                        i64::try_from(n.seq).unwrap_or(i64::MAX),
                        contact,
                    ),
                    contact: contact.clone(),
                    channel,
                    payload: payload.clone(),
                    created_ms: now,
                });
            }
        }
        let queued = notifications.len() as u64;
        let change = AlarmChange {
            alarm: AlarmRow {
                tenant: TENANT.to_owned(),
                id: i64::try_from(alarm.id).unwrap_or(i64::MAX),
                key: key_text(&alarm.key),
                open: alarm.closed_ms.is_none(),
                opened_ms: alarm.opened_ms,
                closed_ms: alarm.closed_ms,
                updated_ms: now,
                body: serde_json::to_value(&alarm).unwrap_or_default(),
            },
            events,
            notifications,
        };
        match self.store.save_alarm_change(&change).await {
            Ok(_) => {
                self.events.send(crate::events::Event::Alarm {
                    tenant: crate::table::alarm_tenant(table, &change.alarm.key),
                    id: alarm.id,
                    key: change.alarm.key.clone(),
                    open: alarm.closed_ms.is_none(),
                    acked: alarm.ack.is_some(),
                    event: change
                        .events
                        .last()
                        .map_or_else(|| "changed".to_owned(), |e| e.kind.clone()),
                    at_ms: now,
                });
                self.metrics.queued.fetch_add(queued, Ordering::Relaxed);
                if queued > 0 {
                    self.wake.notify_one();
                }
                Ok(())
            }
            Err(e) => {
                self.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(alarm = alarm.id, error = %e, "cannot save an alarm change");
                Err(e)
            }
        }
    }

    /// An operator's action on alarm `id`; returns the alarm as it is after it. The change is
    /// saved before this returns.
    pub(crate) async fn act(
        &self,
        table: &Table,
        id: u64,
        action: &Action,
    ) -> Result<Alarm, ActionError> {
        let catalog = self.catalog();
        let mut book = self.book.lock().await;
        if book.get(id).is_none() {
            // Closed before a restart: the book only restores open alarms.
            let stored = match i64::try_from(id) {
                Ok(n) => self.store.alarm(TENANT, n).await?,
                Err(_) => None,
            };
            if let Some(a) = stored.and_then(|r| serde_json::from_value::<Alarm>(r.body).ok()) {
                book.remember_closed(a);
            }
        }
        let before = book.get(id).cloned();
        let now = now_ms();
        // An ack is told to the alarm's contacts.
        let policy = before
            .as_ref()
            .and_then(|a| Self::policy_of(&catalog, table, &a.key))
            .unwrap_or_default();
        let step = {
            let facts = |c: &CheckId| self.facts(table, &catalog, now, c);
            let cx = Context {
                now_ms: now,
                policy: &policy,
                facts: &facts,
            };
            book.act_notifying(id, action, &cx)?
        };
        let after = step.alarm.clone();
        self.record(&catalog, table, before.as_ref(), step, None)
            .await?;
        after.ok_or(ActionError::Alarm(AlarmError::NotFound { id }))
    }

    /// Adds a maintenance window created at run time.
    pub(crate) async fn add_maintenance(&self, row: &MaintenanceRow) -> Result<(), StoreError> {
        self.store.insert_maintenance(row).await?;
        if let Some(m) = runtime_maintenance(row) {
            write(&self.runtime_maint).push(Arc::new(m));
        }
        Ok(())
    }

    /// Ends a run-time maintenance window now. Returns whether one was ended.
    pub(crate) async fn end_maintenance(&self, id: &str) -> Result<bool, StoreError> {
        let ended = self.store.end_maintenance(TENANT, id, now_ms()).await?;
        write(&self.runtime_maint).retain(|m| m.id != id);
        Ok(ended)
    }

    /// The run-time maintenance windows that have not ended.
    pub(crate) fn runtime_maintenances(&self) -> Vec<Arc<Maintenance>> {
        let now = jiff::Timestamp::now();
        let mut all = write(&self.runtime_maint);
        // Forget windows that are over.
        all.retain(|m| match &m.window {
            MaintenanceWindow::Once {
                end: WindowEnd::At(end),
                ..
            } => *end > now,
            _ => true,
        });
        all.clone()
    }

    /// When a file maintenance was first loaded (what its `start: now` means).
    pub(crate) fn first_seen(&self, id: &str) -> Option<jiff::Timestamp> {
        lock(&self.maint_seen).get(id).copied()
    }

    fn payload(&self, table: &Table, n: &Notification, result: Option<&CheckResult>) -> Payload {
        let entry = n.check.as_ref().and_then(|c| table.get(c));
        // The result that caused the step, else the check's latest.
        let last = entry.and_then(|e| e.runtime().last.clone());
        let r = result.or(last.as_deref());
        Payload {
            alarm: n.alarm,
            key: n.key.clone(),
            seq: n.seq,
            kind: n.kind,
            at_ms: n.at_ms,
            check: n.check.clone(),
            check_name: entry.map_or_else(
                || {
                    n.check
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                },
                |e| e.spec.name.clone(),
            ),
            status: n.status,
            previous: n.previous,
            message: n.message.clone(),
            extracted: r.map(|r| r.extracted.clone()).unwrap_or_default(),
            metrics: r.map(|r| r.metrics.clone()).unwrap_or_default(),
            timings: r.map(|r| r.timings).unwrap_or_default(),
        }
    }

    /// Delivers due outbox rows until `stop` turns true.
    pub(crate) async fn deliver_forever(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let worked = self.deliver_due().await;
            if *stop.borrow() {
                return;
            }
            if worked < BATCH as usize {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.options.poll) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    }

    /// One pass over the due rows; returns how many it handled.
    pub(crate) async fn deliver_due(&self) -> usize {
        let now = now_ms();
        let due = match self.store.due_deliveries(now, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return 0;
            }
        };
        let n = due.len();
        let catalog = self.catalog();
        let sends = due.into_iter().map(|d| {
            let catalog = catalog.clone();
            async move { self.deliver_one(&catalog, d).await }
        });
        futures_util::future::join_all(sends).await;
        n
    }

    async fn deliver_one(&self, catalog: &Catalog, d: Delivery) {
        let now = now_ms();
        // A contact over its rate limit waits its turn (no attempt is counted).
        let wait = catalog
            .contact(&d.contact)
            .and_then(|c| c.rate_limit)
            .and_then(|limit| {
                lock(&self.limiter)
                    .entry(d.contact.clone())
                    .or_default()
                    .take(limit, now)
                    .err()
            });
        if let Some(at) = wait {
            self.metrics.rate_limited.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = self.store.postpone_delivery(d.id, at).await {
                tracing::error!(error = %e, "cannot postpone a rate-limited delivery");
            }
            return;
        }
        let outcome = match self.notifier(catalog, &d.contact) {
            Err(reason) => Err(DeliveryError::permanent(reason)),
            Ok(notifier) => match serde_json::from_value::<Payload>(d.payload.clone()) {
                Err(e) => Err(DeliveryError::permanent(format!(
                    "unreadable outbox payload: {e}"
                ))),
                Ok(p) => {
                    let m = message(&p, &d, self.options.public_url.as_deref());
                    match tokio::time::timeout(SEND_TIMEOUT, notifier.send(&m)).await {
                        Ok(sent) => sent,
                        Err(_) => Err(DeliveryError::retry(format!(
                            "no answer within {}s",
                            SEND_TIMEOUT.as_secs()
                        ))),
                    }
                }
            },
        };
        match &outcome {
            Ok(_) => {
                lock(&self.failures).remove(&d.contact);
            }
            Err(e) => {
                let mut f = lock(&self.failures);
                let entry = f.entry(d.contact.clone()).or_insert((0, String::new()));
                entry.0 += 1;
                entry.1.clone_from(&e.reason);
            }
        }
        let store = &self.store;
        let done = match outcome {
            Ok(delivered) => {
                self.metrics.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(t) = &delivered.template_fallback {
                    tracing::warn!(contact = %d.contact, error = %t, "the contact's template failed; the default was sent");
                }
                tracing::info!(contact = %d.contact, key = %d.idempotency_key, "notification delivered");
                store.mark_delivered(d.id, now).await
            }
            Err(e) => {
                let age = Duration::from_millis(u64::try_from(now - d.created_ms).unwrap_or(0));
                if e.retryable && age < self.options.give_up_after {
                    self.metrics.failed.fetch_add(1, Ordering::Relaxed);
                    let backoff = tocsin_store::backoff(
                        d.attempts + 1,
                        self.options.retry_base,
                        self.options.retry_max,
                        jitter(d.id, d.attempts),
                    );
                    // A receiver's Retry-After wins over a shorter backoff.
                    let delay = e.retry_after.map_or(backoff, |r| r.max(backoff));
                    tracing::warn!(contact = %d.contact, error = %e.reason, retry_in_ms = delay.as_millis() as u64, "notification failed; will retry");
                    let next = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    store.mark_failed(d.id, now, &e.reason, next).await
                } else {
                    self.metrics.dead.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(contact = %d.contact, error = %e.reason, "notification given up");
                    store.mark_dead(d.id, now, &e.reason).await
                }
            }
        };
        if let Err(e) = done {
            tracing::error!(error = %e, "cannot record a delivery outcome");
        }
    }

    /// The notifier of a contact, built once per contact definition.
    fn notifier(&self, catalog: &Catalog, contact: &str) -> Result<Arc<dyn Notifier>, String> {
        let c = catalog
            .contact(contact)
            .ok_or_else(|| format!("contact {contact:?} is no longer configured"))?;
        let fp = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            serde_json::to_string(&**c).unwrap_or_default().hash(&mut h);
            c.url.as_ref().map(|u| u.expose().to_owned()).hash(&mut h);
            h.finish()
        };
        let mut cache = lock(&self.notifiers);
        if let Some((f, n)) = cache.get(contact)
            && *f == fp
        {
            return Ok(n.clone());
        }
        let n = tocsin_notify::build(c, &self.defaults).map_err(|e| e.to_string())?;
        cache.insert(contact.to_owned(), (fp, n.clone()));
        Ok(n)
    }
}

impl Alerting {
    /// The alarm and delivery counters, in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let m = &self.metrics;
        for (name, help, v) in [
            (
                "tocsin_alarms_opened_total",
                "Alarms opened.",
                &m.alarms_opened,
            ),
            (
                "tocsin_notifications_queued_total",
                "Notifications written to the outbox (one per contact).",
                &m.queued,
            ),
            (
                "tocsin_notifications_delivered_total",
                "Notifications delivered.",
                &m.delivered,
            ),
            (
                "tocsin_notification_failures_total",
                "Delivery attempts that failed and will be retried.",
                &m.failed,
            ),
            (
                "tocsin_notifications_dead_total",
                "Notifications given up (dead letters).",
                &m.dead,
            ),
            (
                "tocsin_notifications_rate_limited_total",
                "Deliveries postponed by a contact's rate limit.",
                &m.rate_limited,
            ),
            (
                "tocsin_alarm_store_errors_total",
                "Alarm changes that could not be written to the store.",
                &m.store_errors,
            ),
        ] {
            crate::metrics::family(out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
    }
}

/// The policy of the self-alarms: the contacts of `self.notify` (contact groups expanded), no
/// reminders.
fn self_policy(catalog: &Catalog) -> NotifyPolicy {
    NotifyPolicy {
        contacts: catalog.expand_contacts(&catalog.self_notify),
        ..NotifyPolicy::default()
    }
}

/// Why an operator's action failed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The alarm engine refused it (no such alarm, closed, open…).
    #[error(transparent)]
    Alarm(#[from] AlarmError),
    /// The change could not be saved.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run-time maintenance's `body` holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MaintenanceBody {
    /// What it covers.
    pub scope: MaintenanceScope,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A stored run-time maintenance as the alarm engine sees it; `None` (with a warning) if its
/// body cannot be read.
fn runtime_maintenance(row: &MaintenanceRow) -> Option<Maintenance> {
    let body: MaintenanceBody = match serde_json::from_value(row.body.clone()) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(maintenance = %row.id, error = %e, "stored maintenance unreadable; ignored");
            return None;
        }
    };
    let start = jiff::Timestamp::from_millisecond(row.starts_ms).ok()?;
    let end = jiff::Timestamp::from_millisecond(row.effective_end_ms()).ok()?;
    Some(Maintenance {
        id: row.id.clone(),
        note: body.note,
        window: MaintenanceWindow::Once {
            start: Some(start),
            end: WindowEnd::At(end),
        },
        scope: body.scope,
        origin: tocsin_core::check::Origin::default(),
    })
}

/// The store's text form of a key: `check:web`, `group:shop`.
fn key_text(key: &AlarmKey) -> String {
    match key {
        AlarmKey::Check(c) => format!("check:{c}"),
        AlarmKey::Group(g) => format!("group:{g}"),
    }
}

/// A deterministic jitter in [0, 1) from the row and its attempt (no random source needed).
fn jitter(id: i64, attempts: u32) -> f64 {
    let mut x = (id as u64) ^ (u64::from(attempts) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// The notifier's message for an outbox row; with a public URL, it links to the alarm (the API
/// document of the alarm until the dashboard has a page for it).
fn message(p: &Payload, d: &Delivery, public_url: Option<&str>) -> Message {
    let kind = match p.kind {
        NotificationKind::Opened => MessageKind::Opened,
        NotificationKind::NewFault | NotificationKind::FaultChanged => MessageKind::NewFault,
        NotificationKind::FaultCleared => MessageKind::FaultCleared,
        NotificationKind::Recovered => MessageKind::Closed,
        NotificationKind::Renotify => MessageKind::Renotify,
        NotificationKind::FlappingStarted => MessageKind::FlappingStarted,
        NotificationKind::FlappingStopped => MessageKind::FlappingStopped,
        NotificationKind::CutOff => MessageKind::Suppressed,
        NotificationKind::MaintenanceEnded => MessageKind::MaintenanceEndedWithFaults,
        NotificationKind::ParentRecovered => MessageKind::ParentRecoveredWithFaults,
        NotificationKind::Acked => MessageKind::Acknowledged,
    };
    let key = match &p.key {
        AlarmKey::Check(c) => tocsin_notify::AlarmKey::Check(c.to_string()),
        AlarmKey::Group(g) => tocsin_notify::AlarmKey::Group(g.clone()),
    };
    Message {
        tenant: d.tenant.clone(),
        alarm_id: p.alarm,
        alarm_key: key,
        kind,
        sequence: u32::try_from(p.seq).unwrap_or(u32::MAX),
        check_id: p
            .check
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        check_name: p.check_name.clone(),
        status: p.status,
        previous_status: p.previous,
        message: p.message.clone(),
        extracted: p.extracted.clone(),
        metrics: p.metrics.clone(),
        timings: p.timings,
        time: jiff::Timestamp::from_millisecond(p.at_ms).unwrap_or_else(|_| jiff::Timestamp::now()),
        dashboard_url: public_url
            .map(|base| format!("{}/api/v1/alarms/{}", base.trim_end_matches('/'), p.alarm)),
        idempotency_key: d.idempotency_key.clone(),
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
