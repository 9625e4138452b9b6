//! The `opsgenie` channel: Opsgenie's Alert API v2, authenticated with
//! `Authorization: GenieKey <settings.api_key>`.
//!
//! The base is `https://api.opsgenie.com` (`region: eu`: `https://api.eu.opsgenie.com`); the
//! contact's `url`, when given, replaces it. Every alarm is one Opsgenie alert whose `alias` is
//! `<tenant>/<alarm id>`:
//!
//! - Any message that does not close the alarm: `POST {base}/v2/alerts` with
//!   `{"message": title (≤ 130 characters), "alias": "acme/42", "description": text (≤ 15,000),
//!   "priority": "P1", "source": "Tocsin", "tags": [settings.tags], "details": {"tenant",
//!   "alarm", "alarm_kind", "check", "check_name", "status", "previous_status"?, "message",
//!   "dashboard_url"?} (strings), "entity": check id}`. Opsgenie deduplicates on the alias: a
//!   second create for an open alert adds to it.
//! - The message that closes it: `POST {base}/v2/alerts/{alias, URL-encoded}/close?identifierType=alias`
//!   with `{"source": "Tocsin", "note": text}`; an ack made in Tocsin: the same to
//!   `…/acknowledge?identifierType=alias`.
//!
//! The priority is `settings.priority`, or by status ([`priority`]): critical P1, unknown P2,
//! warning P3, ok P5.
//!
//! Opsgenie answers `202 {"result": "Request will be processed", "took": 0.1, "requestId": …}`
//! (it processes requests asynchronously). 401, 403 and 422 (and other 4xx) are permanent and quote
//! Opsgenie's `message`/`errors`; 429 and 5xx are retryable.

use std::fmt;

use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{HttpTransport, Request, encode_component, texts};
use crate::http_channel::{
    alarm_ref, base_url, delivered, join, required_secret, send_explained, truncate_chars,
};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{
    BuildError, Defaults, Delivered, DeliveryError, Message, MessageKind, Notifier, SendFuture,
};

/// The API base of Opsgenie's US region (the default).
pub const US_API: &str = "https://api.opsgenie.com";
/// The API base of Opsgenie's EU region.
pub const EU_API: &str = "https://api.eu.opsgenie.com";

/// Opsgenie's limits, in characters.
const MAX_MESSAGE: usize = 130;
const MAX_ALIAS: usize = 512;
const MAX_DESCRIPTION: usize = 15_000;
const MAX_ENTITY: usize = 512;
const MAX_NOTE: usize = 25_000;
/// Opsgenie caps all `details` together at 8,000 characters; the result's message gets 1,000.
const MAX_DETAIL: usize = 1_000;
const MAX_TAGS: usize = 20;
const MAX_TAG: usize = 50;

/// An opsgenie contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsgenieSettings {
    /// An API key of an Opsgenie "API" integration (required, secret).
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// `P1` … `P5` for every alert (default: by status).
    #[serde(default)]
    pub priority: Option<String>,
    /// Tags of the alerts (at most 20, each at most 50 characters).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `us` (default) or `eu`.
    #[serde(default)]
    pub region: Option<String>,
    /// Template of the alert message (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the description (and of the close note).
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built opsgenie channel.
pub struct Opsgenie {
    /// The API base, without a trailing `/`.
    base: String,
    /// `{base}/v2/alerts`.
    create: Target,
    api_key: Secret,
    priority: Option<String>,
    tags: Vec<String>,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Opsgenie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opsgenie")
            .field("to", &self.create.host_port())
            .field("priority", &self.priority)
            .field("tags", &self.tags)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Opsgenie's priority for a status: critical `P1`, unknown `P2`, warning `P3`, ok `P5`.
pub fn priority(status: Status) -> &'static str {
    match status {
        Status::Critical => "P1",
        Status::Unknown => "P2",
        Status::Warning => "P3",
        Status::Ok => "P5",
    }
}

impl Opsgenie {
    /// Builds the channel of an `opsgenie` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: OpsgenieSettings = crate::settings::parse(contact)?;
        let api_key = required_secret(contact, "settings.api_key", s.api_key)?;
        let region_base = match s.region.as_deref() {
            None | Some("us") => US_API,
            Some("eu") => EU_API,
            Some(other) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.region",
                    format!("{other:?} is not one of us, eu"),
                ));
            }
        };
        if let Some(p) = &s.priority
            && !matches!(p.as_str(), "P1" | "P2" | "P3" | "P4" | "P5")
        {
            return Err(BuildError::setting(
                contact,
                "settings.priority",
                format!("{p:?} is not one of P1, P2, P3, P4, P5"),
            ));
        }
        if s.tags.len() > MAX_TAGS {
            return Err(BuildError::setting(
                contact,
                "settings.tags",
                format!("Opsgenie takes at most {MAX_TAGS} tags"),
            ));
        }
        if let Some(bad) = s
            .tags
            .iter()
            .find(|t| t.trim().is_empty() || t.chars().count() > MAX_TAG)
        {
            return Err(BuildError::setting(
                contact,
                "settings.tags",
                format!("{bad:?}: a tag must have 1 to {MAX_TAG} characters"),
            ));
        }
        let base = base_url(contact, region_base)?;
        let create =
            join(&base, "/v2/alerts").map_err(|e| BuildError::setting(contact, "url", e.reason))?;
        Ok(Self {
            base,
            create,
            api_key,
            priority: s.priority,
            tags: s.tags,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The request Opsgenie documents for `m`: create the alert, or close it.
    fn request(&self, m: &Message) -> Result<(Request, Option<String>), DeliveryError> {
        let t = texts(&self.templates, m);
        let alias = truncate_chars(&alarm_ref(m), MAX_ALIAS);
        let verb = match m.kind {
            MessageKind::Closed => Some("close"),
            MessageKind::Acknowledged => Some("acknowledge"),
            _ => None,
        };
        let mut req = if let Some(verb) = verb {
            let mut path = String::from("/v2/alerts/");
            encode_component(&mut path, &alias);
            path.push('/');
            path.push_str(verb);
            path.push_str("?identifierType=alias");
            let body = serde_json::json!({
                "source": "Tocsin",
                "note": truncate_chars(&t.text, MAX_NOTE),
            });
            Request::json(join(&self.base, &path)?, &body)
        } else {
            let mut details = serde_json::json!({
                "tenant": m.tenant,
                "alarm": format!("{}#{}", m.tenant, m.alarm_id),
                "alarm_kind": m.kind.as_str(),
                "check": m.check_id,
                "check_name": m.check_name,
                "status": m.status.as_str(),
                "message": truncate_chars(&m.message, MAX_DETAIL),
            });
            if let Some(p) = m.previous_status {
                details["previous_status"] = serde_json::Value::from(p.as_str());
            }
            if let Some(url) = &m.dashboard_url {
                details["dashboard_url"] = serde_json::Value::from(url.as_str());
            }
            let body = serde_json::json!({
                "message": truncate_chars(&t.title, MAX_MESSAGE),
                "alias": alias,
                "description": truncate_chars(&t.text, MAX_DESCRIPTION),
                "priority": self.priority.as_deref().unwrap_or_else(|| priority(m.status)),
                "source": "Tocsin",
                "tags": self.tags,
                "details": details,
                "entity": truncate_chars(&m.check_id, MAX_ENTITY),
            });
            Request::json(self.create.clone(), &body)
        };
        req.secret_header(
            http::header::AUTHORIZATION,
            &format!("GenieKey {}", self.api_key.expose()),
        );
        Ok((req, t.fallback))
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (req, fallback) = self.request(m)?;
        let reply =
            send_explained(&self.transport, req, "Opsgenie", &[self.api_key.expose()]).await?;
        Ok(delivered(
            &reply,
            "/result",
            ("requestId", "/requestId"),
            fallback,
        ))
    }
}

impl Notifier for Opsgenie {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_by_status() {
        assert_eq!(priority(Status::Critical), "P1");
        assert_eq!(priority(Status::Unknown), "P2");
        assert_eq!(priority(Status::Warning), "P3");
        assert_eq!(priority(Status::Ok), "P5");
    }
}
