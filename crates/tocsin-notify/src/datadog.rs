//! The `datadog` channel: an event in Datadog's event stream (Events API v1), as Tocsin's original
//! design notes had it (`post_endpoint: https://app.datadoghq.com/api/v1/events` with an API key).
//!
//! One request per message: `POST https://api.{site}/api/v1/events` (`site` defaults to
//! `datadoghq.com`; the contact's `url`, when given, replaces the whole endpoint) with
//! `DD-API-KEY: <settings.api_key>`, `Content-Type: application/json` and
//!
//! ```json
//! {"title": "[CRITICAL] Web front", "text": "…", "alert_type": "error",
//!  "aggregation_key": "acme/42", "source_type_name": "tocsin",
//!  "tags": ["check:web", "tenant:acme", "status:critical", …settings.tags],
//!  "date_happened": 1795287535, "priority": "normal"}
//! ```
//!
//! `title` is the title template (at most 100 characters), `text` the body template as plain text
//! (at most 4000 characters; no `%%%` markdown block). `alert_type` ([`alert_type`]): `success`
//! for the message that closes the alarm and for the status ok, `warning` for warning, `error` for
//! critical and unknown. Every message of an alarm shares the `aggregation_key`
//! `<tenant>/<alarm id>`, so Datadog groups them.
//!
//! Datadog answers `202 {"status": "ok", "event": {"id": …, …}}`. 400 and 403 (a wrong API key)
//! are permanent and quote Datadog's `errors`; 429 and 5xx are retryable.

use std::fmt;

use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{HttpTransport, Request, texts};
use crate::http_channel::{
    alarm_ref, delivered, endpoint, required_secret, send_explained, truncate_chars,
};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The default Datadog site.
pub const DEFAULT_SITE: &str = "datadoghq.com";

/// Datadog's limits, in characters.
const MAX_TITLE: usize = 100;
const MAX_TEXT: usize = 4000;
const MAX_AGGREGATION_KEY: usize = 100;

/// A datadog contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatadogSettings {
    /// A Datadog API key (required, secret).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// The Datadog site: `datadoghq.com` (default), `datadoghq.eu`, `us3.datadoghq.com`, …
    #[serde(default)]
    pub site: Option<String>,
    /// Tags added to Tocsin's own (`check:…`, `tenant:…`, `status:…`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `source_type_name` of the events (default `tocsin`).
    #[serde(default)]
    pub source_type_name: Option<String>,
    /// Template of the event title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the event text.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built datadog channel.
pub struct Datadog {
    target: Target,
    api_key: Secret,
    tags: Vec<String>,
    source_type_name: String,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Datadog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Datadog")
            .field("to", &self.target.host_port())
            .field("tags", &self.tags)
            .field("source_type_name", &self.source_type_name)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Datadog's `alert_type` for a message: `success` when it closes the alarm or the status is ok,
/// `warning` for warning, `error` for critical and unknown.
pub fn alert_type(m: &Message) -> &'static str {
    if m.kind.closes() {
        return "success";
    }
    match m.status {
        Status::Ok => "success",
        Status::Warning => "warning",
        Status::Critical | Status::Unknown => "error",
    }
}

impl Datadog {
    /// Builds the channel of a `datadog` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: DatadogSettings = crate::settings::parse(contact)?;
        let api_key = required_secret(contact, "settings.api_key", s.api_key)?;
        let site = s.site.as_deref().unwrap_or(DEFAULT_SITE);
        if site.is_empty()
            || !site
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'))
        {
            return Err(BuildError::setting(
                contact,
                "settings.site",
                format!("{site:?} is not a host name such as datadoghq.eu"),
            ));
        }
        if let Some(bad) = s.tags.iter().find(|t| t.trim().is_empty()) {
            return Err(BuildError::setting(
                contact,
                "settings.tags",
                format!("{bad:?}: a tag must not be empty"),
            ));
        }
        let source_type_name = s.source_type_name.unwrap_or_else(|| "tocsin".to_owned());
        Ok(Self {
            target: endpoint(contact, &format!("https://api.{site}/api/v1/events"))?,
            api_key,
            tags: s.tags,
            source_type_name,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The event Datadog documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut tags = vec![
            format!("check:{}", m.check_id),
            format!("tenant:{}", m.tenant),
            format!("status:{}", m.status.as_str()),
        ];
        tags.extend(self.tags.iter().cloned());
        let body = serde_json::json!({
            "title": truncate_chars(&t.title, MAX_TITLE),
            "text": truncate_chars(&t.text, MAX_TEXT),
            "alert_type": alert_type(m),
            "aggregation_key": truncate_chars(&alarm_ref(m), MAX_AGGREGATION_KEY),
            "source_type_name": self.source_type_name,
            "tags": tags,
            "date_happened": m.time.as_second(),
            "priority": "normal",
        });
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let mut req = Request::json(self.target.clone(), &body);
        req.secret_header("dd-api-key", self.api_key.expose());
        let reply =
            send_explained(&self.transport, req, "Datadog", &[self.api_key.expose()]).await?;
        Ok(delivered(
            &reply,
            "/status",
            ("event", "/event/id"),
            fallback,
        ))
    }
}

impl Notifier for Datadog {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;

    #[test]
    fn alert_types() {
        let mut m = Message::sample();
        assert_eq!(alert_type(&m), "error");
        m.status = Status::Unknown;
        assert_eq!(alert_type(&m), "error");
        m.status = Status::Warning;
        assert_eq!(alert_type(&m), "warning");
        m.kind = MessageKind::Closed;
        assert_eq!(alert_type(&m), "success");
        m.kind = MessageKind::FaultCleared;
        m.status = Status::Ok;
        assert_eq!(alert_type(&m), "success");
    }
}
