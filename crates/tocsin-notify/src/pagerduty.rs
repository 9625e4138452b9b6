//! The `pagerduty` channel: PagerDuty's Events API v2.
//!
//! One request per message: `POST https://events.pagerduty.com/v2/enqueue` (the contact's `url`,
//! when given, replaces the whole endpoint) with `Content-Type: application/json` and
//!
//! ```json
//! {"routing_key": "<settings.routing_key>", "event_action": "trigger", "dedup_key": "acme/42",
//!  "payload": {"summary": "[CRITICAL] Web front", "source": "tocsin", "severity": "critical",
//!              "timestamp": "2026-11-21T18:58:55Z", "component": "…", "group": "…",
//!              "class": "…", "custom_details": {…the message document…, "text": "…"}},
//!  "links": [{"href": "https://tocsin.example/alarms/acme/42", "text": "Tocsin"}],
//!  "client": "Tocsin", "client_url": "https://tocsin.example/alarms/acme/42"}
//! ```
//!
//! - `event_action` ([`event_action`]): `resolve` for the message that closes the alarm,
//!   `acknowledge` for an ack made in Tocsin, `trigger` for every other one (a trigger with the
//!   same `dedup_key` adds to the open incident).
//! - `dedup_key` is `<tenant>/<alarm id>`, the same for every message of an alarm, so the resolve
//!   matches the trigger.
//! - `summary` is the title template (at most 1024 characters); `severity` follows the status
//!   ([`severity`]) unless `settings.severity` fixes it; `component`, `group` and `class` are sent
//!   only when set; `custom_details` is the message document (as the webhook sends it) plus
//!   `text`, the body template; `links` and `client_url` only with a dashboard URL.
//!
//! PagerDuty answers `202 {"status": "success", "message": "Event processed", "dedup_key": …}`.
//! A 400 (invalid event, e.g. a wrong routing key) is permanent and quotes PagerDuty's `message`
//! and `errors`; 429 and 5xx are retryable (with `Retry-After` when given).

use std::fmt;

use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{
    HttpTransport, Request, alarm_ref, delivered, endpoint, required_secret, send_explained, texts,
    truncate_chars,
};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{
    BuildError, Defaults, Delivered, DeliveryError, Message, MessageKind, Notifier, SendFuture,
};

/// PagerDuty's Events API v2 endpoint.
pub const ENQUEUE_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The longest `payload.summary` PagerDuty accepts, in characters.
pub const MAX_SUMMARY: usize = 1024;

/// The severities PagerDuty accepts.
const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];

/// A pagerduty contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutySettings {
    /// The integration key of an Events API v2 integration (required, secret).
    #[serde(default)]
    pub routing_key: Option<Secret>,
    /// `critical`, `error`, `warning` or `info` for every event (default: from the status).
    #[serde(default)]
    pub severity: Option<String>,
    /// `payload.source` (default `tocsin`).
    #[serde(default)]
    pub source: Option<String>,
    /// `payload.component`.
    #[serde(default)]
    pub component: Option<String>,
    /// `payload.group`.
    #[serde(default)]
    pub group: Option<String>,
    /// `payload.class`.
    #[serde(default)]
    pub class: Option<String>,
    /// Template of the summary (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the text, sent as `custom_details.text`.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built pagerduty channel.
pub struct Pagerduty {
    target: Target,
    routing_key: Secret,
    severity: Option<&'static str>,
    source: String,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Pagerduty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pagerduty")
            .field("to", &self.target.host_port())
            .field("severity", &self.severity)
            .field("source", &self.source)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// PagerDuty's `event_action` for a message: `resolve` when it closes the alarm,
/// `acknowledge` when someone took it in Tocsin, `trigger` otherwise.
pub fn event_action(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Closed => "resolve",
        MessageKind::Acknowledged => "acknowledge",
        _ => "trigger",
    }
}

/// PagerDuty's `severity` for a status: critical → `critical`, unknown → `error`, warning →
/// `warning`, ok → `info`.
pub fn severity(status: Status) -> &'static str {
    match status {
        Status::Critical => "critical",
        Status::Unknown => "error",
        Status::Warning => "warning",
        Status::Ok => "info",
    }
}

impl Pagerduty {
    /// Builds the channel of a `pagerduty` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: PagerdutySettings = crate::settings::parse(contact)?;
        let routing_key = required_secret(contact, "settings.routing_key", s.routing_key)?;
        let severity = match s.severity.as_deref() {
            None => None,
            Some(v) => Some(
                SEVERITIES
                    .into_iter()
                    .find(|&known| known == v)
                    .ok_or_else(|| {
                        BuildError::setting(
                            contact,
                            "settings.severity",
                            format!("{v:?} is not one of critical, error, warning, info"),
                        )
                    })?,
            ),
        };
        let source = s.source.unwrap_or_else(|| "tocsin".to_owned());
        if source.trim().is_empty() {
            return Err(BuildError::setting(
                contact,
                "settings.source",
                "must not be empty",
            ));
        }
        Ok(Self {
            target: endpoint(contact, ENQUEUE_URL)?,
            routing_key,
            severity,
            source,
            component: s.component,
            group: s.group,
            class: s.class,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The event PagerDuty documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut payload = serde_json::json!({
            "summary": truncate_chars(&t.title, MAX_SUMMARY),
            "source": self.source,
            "severity": self.severity.unwrap_or_else(|| severity(m.status)),
            "timestamp": m.time.to_string(),
        });
        for (name, value) in [
            ("component", &self.component),
            ("group", &self.group),
            ("class", &self.class),
        ] {
            if let Some(v) = value {
                payload[name] = serde_json::Value::from(v.as_str());
            }
        }
        let mut details = m.document();
        details["text"] = serde_json::Value::from(t.text);
        payload["custom_details"] = details;
        let mut event = serde_json::json!({
            "routing_key": self.routing_key.expose(),
            "event_action": event_action(m.kind),
            "dedup_key": alarm_ref(m),
            "payload": payload,
            "client": "Tocsin",
        });
        if let Some(url) = &m.dashboard_url {
            event["links"] = serde_json::json!([{ "href": url, "text": "Tocsin" }]);
            event["client_url"] = serde_json::Value::from(url.as_str());
        }
        (event, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let req = Request::json(self.target.clone(), &body);
        let reply = send_explained(
            &self.transport,
            req,
            "PagerDuty",
            &[self.routing_key.expose()],
        )
        .await?;
        Ok(delivered(
            &reply,
            "/message",
            ("dedup_key", "/dedup_key"),
            fallback,
        ))
    }
}

impl Notifier for Pagerduty {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_severities() {
        assert_eq!(event_action(MessageKind::Opened), "trigger");
        assert_eq!(event_action(MessageKind::NewFault), "trigger");
        assert_eq!(event_action(MessageKind::FaultCleared), "trigger");
        assert_eq!(event_action(MessageKind::Renotify), "trigger");
        assert_eq!(event_action(MessageKind::FlappingStarted), "trigger");
        assert_eq!(
            event_action(MessageKind::MaintenanceEndedWithFaults),
            "trigger"
        );
        assert_eq!(event_action(MessageKind::Closed), "resolve");
        assert_eq!(event_action(MessageKind::Acknowledged), "acknowledge");
        assert_eq!(severity(Status::Critical), "critical");
        assert_eq!(severity(Status::Unknown), "error");
        assert_eq!(severity(Status::Warning), "warning");
        assert_eq!(severity(Status::Ok), "info");
    }
}
