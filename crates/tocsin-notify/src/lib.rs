//! Tocsin's notifiers: what a notification says ([`Message`]), how a channel sends it
//! ([`Notifier`]), and how a configured contact becomes a channel ([`build`]).
//!
//! One module per channel: [`webhook`] (JSON over HTTP(S), HMAC-signed) and [`email`] (SMTP with
//! Amon's threaded subjects). Messages are rendered from [`template`]s: a default per channel,
//! overridable per contact in its `settings`.
//!
//! The crate knows nothing of the alarm engine or the outbox: the caller maps an alarm change to a
//! [`Message`], calls [`Notifier::send`] and, on a [`DeliveryError`], retries when
//! [`DeliveryError::retryable`] says so. The idempotency key is the caller's (alarm id + sequence +
//! contact, see `docs/notifications.md`); channels pass it on (`Idempotency-Key`, `Message-ID`).
//!
//! ```no_run
//! # async fn demo(contact: &tocsin_core::directory::Contact, m: &tocsin_notify::Message) {
//! let notifier = tocsin_notify::build(contact, &tocsin_notify::Defaults::default()).unwrap();
//! match notifier.send(m).await {
//!     Ok(done) => println!("sent: {}", done.detail),
//!     Err(e) if e.retryable => println!("will retry: {}", e.reason),
//!     Err(e) => println!("gave up: {}", e.reason),
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tocsin_core::directory::{Contact, ContactKind};
use tocsin_core::{Metric, Status, Timings};

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
pub mod cloudwatch;
pub mod datadog;
pub mod discord;
pub mod email;
#[cfg(feature = "aws")]
pub mod eventbridge;
pub mod gotify;
mod http_channel;
mod http_client;
pub mod mattermost;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
mod settings;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod template;
pub mod twilio;
pub mod webhook;

pub use template::{Place, TemplateError, validate_templates};

// ---------------------------------------------------------------------------------------------
// The message.
// ---------------------------------------------------------------------------------------------

/// What an alarm is about: one check, or a group of checks sharing the alarm.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AlarmKey {
    /// The alarm of one check (its id).
    Check(String),
    /// The alarm of a group (its id).
    Group(String),
}

impl fmt::Display for AlarmKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Check(id) => write!(f, "check={id}"),
            Self::Group(id) => write!(f, "group={id}"),
        }
    }
}

impl Serialize for AlarmKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a notification is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A new alarm was opened.
    Opened,
    /// Another check of the alarm's group faulted.
    NewFault,
    /// One fault cleared while others remain (the alarm stays open).
    FaultCleared,
    /// The last fault cleared (or someone closed the alarm): the alarm is closed.
    Closed,
    /// A reminder: the alarm is still open.
    Renotify,
    /// The check started flapping.
    FlappingStarted,
    /// The check stopped flapping.
    FlappingStopped,
    /// The per-alarm cut-off was reached: no more notifications until it changes.
    Suppressed,
    /// A maintenance window ended and faults are still present.
    MaintenanceEndedWithFaults,
    /// A parent dependency recovered and this alarm's faults are still present.
    ParentRecoveredWithFaults,
    /// Someone took the alarm (the message says who): PagerDuty acknowledges the incident,
    /// Opsgenie the alert; other channels show the message.
    Acknowledged,
}

impl MessageKind {
    /// The name used in templates and JSON: `opened`, `new_fault`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::NewFault => "new_fault",
            Self::FaultCleared => "fault_cleared",
            Self::Closed => "closed",
            Self::Renotify => "renotify",
            Self::FlappingStarted => "flapping_started",
            Self::FlappingStopped => "flapping_stopped",
            Self::Suppressed => "suppressed",
            Self::MaintenanceEndedWithFaults => "maintenance_ended_with_faults",
            Self::ParentRecoveredWithFaults => "parent_recovered_with_faults",
            Self::Acknowledged => "acknowledged",
        }
    }

    /// Whether this notification closes the alarm (the last one of its thread).
    pub fn closes(self) -> bool {
        self == Self::Closed
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One notification: everything a channel may say about one alarm change. Independent of the
/// alarm engine, which maps its own types to this.
///
/// [`Message::document`] is its JSON form: the webhook's default body and the variables of
/// every template.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The tenant owning the alarm.
    pub tenant: String,
    /// The alarm's number (per tenant, as Amon's `login#id`).
    pub alarm_id: u64,
    /// What the alarm is about.
    pub alarm_key: AlarmKey,
    /// Why this notification is sent.
    pub kind: MessageKind,
    /// 1 for the first notification of the alarm, then 2, 3, … (email threading: `Re:`).
    pub sequence: u32,
    /// The check that caused this notification.
    pub check_id: String,
    /// Its display name.
    pub check_name: String,
    /// The check's status now.
    pub status: Status,
    /// Its status before the change, if known.
    pub previous_status: Option<Status>,
    /// The result's one-line message.
    pub message: String,
    /// Values extracted from the response (`extract:`).
    pub extracted: BTreeMap<String, serde_json::Value>,
    /// Measured numbers.
    pub metrics: Vec<Metric>,
    /// Phase timings of the run.
    pub timings: Timings,
    /// When the change happened.
    pub time: Timestamp,
    /// A link to the alarm or check on the dashboard.
    pub dashboard_url: Option<String>,
    /// Unique per (alarm, sequence, contact); receivers use it to drop duplicates.
    pub idempotency_key: String,
}

impl Message {
    /// The JSON document of this message: the webhook's default body and the template
    /// variables. Field names are documented in `docs/notifications.md`.
    pub fn document(&self) -> serde_json::Value {
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    serde_json::json!({ "value": finite(m.value), "unit": m.unit }),
                )
            })
            .collect();
        let timings: serde_json::Map<String, serde_json::Value> = self
            .timings
            .phases()
            .map(|(name, us)| {
                let ms = us as f64 / 1000.0;
                (name.to_owned(), serde_json::json!(ms))
            })
            .collect();
        serde_json::json!({
            "tenant": self.tenant,
            "alarm": {
                "id": self.alarm_id,
                "key": self.alarm_key,
                "kind": self.kind,
                "sequence": self.sequence,
                "closed": self.kind.closes(),
            },
            "check": { "id": self.check_id, "name": self.check_name },
            "status": self.status,
            "previous_status": self.previous_status,
            "message": self.message,
            "extracted": self.extracted,
            "metrics": metrics,
            "timings_ms": timings,
            "time": self.time.to_string(),
            "dashboard_url": self.dashboard_url,
            "idempotency_key": self.idempotency_key,
        })
    }

    /// A realistic message, used to validate templates at configuration-load time.
    pub fn sample() -> Self {
        Self {
            tenant: "acme".into(),
            alarm_id: 42,
            alarm_key: AlarmKey::Check("web".into()),
            kind: MessageKind::Opened,
            sequence: 1,
            check_id: "web".into(),
            check_name: "Web front".into(),
            status: Status::Critical,
            previous_status: Some(Status::Ok),
            message: "expected status 200, got 503".into(),
            extracted: BTreeMap::from([("version".into(), serde_json::json!("1.2.3"))]),
            metrics: vec![Metric {
                name: "response_time".into(),
                value: 0.25,
                unit: "s".into(),
            }],
            timings: Timings {
                dns_us: Some(1_000),
                connect_us: Some(2_000),
                tls_us: None,
                first_byte_us: Some(200_000),
                total_us: 250_000,
            },
            time: Timestamp::UNIX_EPOCH,
            dashboard_url: Some("https://tocsin.example/alarms/acme/42".into()),
            idempotency_key: "acme/42/1/ops".into(),
        }
    }
}

/// JSON has no NaN or infinity: those become `null`.
fn finite(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

// ---------------------------------------------------------------------------------------------
// The channel trait and its results.
// ---------------------------------------------------------------------------------------------

/// The future [`Notifier::send`] returns.
pub type SendFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Delivered, DeliveryError>> + Send + 'a>>;

/// A built channel for one contact: send it messages.
pub trait Notifier: Send + Sync + fmt::Debug {
    /// Sends one message. Never panics; returns within the channel's timeout (plus a few
    /// milliseconds).
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a>;
}

/// A message the receiver accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// What the receiver said, one line: `HTTP 200`, `250 2.0.0 OK`.
    pub detail: String,
    /// Set when the contact's own template failed at send time and the channel's default was
    /// used instead (so the alarm still got out): the template error, one line.
    pub template_fallback: Option<String>,
}

/// A message that was not delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// Whether trying again later may succeed (5xx, 408, 429, timeouts, refused or reset
    /// connections, SMTP 4xx). `false` for what only a configuration change fixes (4xx,
    /// rejected credentials or addresses, certificate errors, SMTP 5xx).
    pub retryable: bool,
    /// One line saying what failed: `HTTP 503 from 127.0.0.1:8080: upstream down`.
    pub reason: String,
    /// The delay the receiver asked for (`Retry-After`), if any.
    pub retry_after: Option<Duration>,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn retry(reason: impl Into<String>) -> Self {
        Self {
            retryable: true,
            reason: one_line(&reason.into()),
            retry_after: None,
        }
    }

    /// A failure that retrying will not fix.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self {
            retryable: false,
            reason: one_line(&reason.into()),
            retry_after: None,
        }
    }
}

/// Collapses whitespace (newlines included) and caps the length at 300 characters.
pub(crate) fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(300));
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > 300 {
            let mut cut = 297;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
            break;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Building channels.
// ---------------------------------------------------------------------------------------------

/// Server-wide defaults that contacts' `settings` override.
#[derive(Clone, Debug)]
pub struct Defaults {
    /// Email: the SMTP server and sender every email contact uses unless it says otherwise.
    pub email: email::EmailSettings,
    /// Webhook: the request timeout unless the contact sets `timeout`.
    pub webhook_timeout: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            email: email::EmailSettings::default(),
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// Why a contact could not become a channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// This build of Tocsin was compiled without the contact's kind (the AWS channels need the
    /// `aws` cargo feature).
    #[error(
        "contact {contact:?}: this build of Tocsin has no {kind} channel (rebuild with the `aws` feature)"
    )]
    Unsupported {
        /// The contact's id.
        contact: String,
        /// Its kind.
        kind: ContactKind,
    },
    /// A setting is missing, unknown or has the wrong shape.
    #[error("contact {contact:?}: {field}: {reason}")]
    Setting {
        /// The contact's id.
        contact: String,
        /// Where: `url`, `to`, `settings.port`, …
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A template does not compile or fails on a sample message.
    #[error(transparent)]
    Template(#[from] TemplateError),
}

impl BuildError {
    pub(crate) fn setting(contact: &Contact, field: &str, reason: impl fmt::Display) -> Self {
        Self::Setting {
            contact: contact.id.clone(),
            field: field.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Builds the channel of `contact`. Call it once per contact per configuration load (it reads
/// CA files and compiles templates); the result is cheap to share.
pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Arc<dyn Notifier>, BuildError> {
    match contact.kind {
        ContactKind::Webhook => Ok(Arc::new(webhook::Webhook::build(contact, defaults)?)),
        ContactKind::Email => Ok(Arc::new(email::Email::build(contact, defaults)?)),
        ContactKind::Slack => Ok(Arc::new(slack::Slack::build(contact, defaults)?)),
        ContactKind::Mattermost => Ok(Arc::new(mattermost::Mattermost::build(contact, defaults)?)),
        ContactKind::Teams => Ok(Arc::new(teams::Teams::build(contact, defaults)?)),
        ContactKind::Discord => Ok(Arc::new(discord::Discord::build(contact, defaults)?)),
        ContactKind::Telegram => Ok(Arc::new(telegram::Telegram::build(contact, defaults)?)),
        ContactKind::Pagerduty => Ok(Arc::new(pagerduty::Pagerduty::build(contact, defaults)?)),
        ContactKind::Opsgenie => Ok(Arc::new(opsgenie::Opsgenie::build(contact, defaults)?)),
        ContactKind::Twilio => Ok(Arc::new(twilio::Twilio::build(contact, defaults)?)),
        ContactKind::Datadog => Ok(Arc::new(datadog::Datadog::build(contact, defaults)?)),
        ContactKind::Pushover => Ok(Arc::new(pushover::Pushover::build(contact, defaults)?)),
        ContactKind::Ntfy => Ok(Arc::new(ntfy::Ntfy::build(contact, defaults)?)),
        ContactKind::Gotify => Ok(Arc::new(gotify::Gotify::build(contact, defaults)?)),
        #[cfg(feature = "aws")]
        ContactKind::Cloudwatch => Ok(Arc::new(cloudwatch::Cloudwatch::build(contact, defaults)?)),
        #[cfg(feature = "aws")]
        ContactKind::Eventbridge => Ok(Arc::new(eventbridge::Eventbridge::build(
            contact, defaults,
        )?)),
        #[cfg(not(feature = "aws"))]
        kind @ (ContactKind::Cloudwatch | ContactKind::Eventbridge) => {
            Err(BuildError::Unsupported {
                contact: contact.id.clone(),
                kind,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_and_caps() {
        assert_eq!(one_line("a\r\n  b\tc "), "a b c");
        let long = "é".repeat(400);
        let cut = one_line(&long);
        assert!(cut.len() <= 300 && cut.ends_with("..."), "{}", cut.len());
    }

    #[test]
    fn document_has_every_field() {
        let doc = Message::sample().document();
        assert_eq!(doc["alarm"]["key"], "check=web");
        assert_eq!(doc["alarm"]["kind"], "opened");
        assert_eq!(doc["alarm"]["closed"], false);
        assert_eq!(doc["status"], "critical");
        assert_eq!(doc["previous_status"], "ok");
        assert_eq!(doc["metrics"]["response_time"]["unit"], "s");
        assert_eq!(doc["timings_ms"]["total"], 250.0);
        assert_eq!(doc["time"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn nan_metrics_become_null() {
        let mut m = Message::sample();
        m.metrics[0].value = f64::NAN;
        assert!(m.document()["metrics"]["response_time"]["value"].is_null());
    }
}
