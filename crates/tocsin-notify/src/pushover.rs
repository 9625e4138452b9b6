//! The `pushover` channel: a push notification through Pushover's Message API.
//!
//! One request per message: `POST https://api.pushover.net/1/messages.json` (the contact's
//! `url`, when given, replaces the whole endpoint), form-urlencoded:
//!
//! - `token` (the application's API token) and `user` (a user or group key), both secret;
//! - `title`: the title template (at most 250 characters); `message`: the body template (at most
//!   1024 characters); `timestamp`: the change's Unix time;
//! - `priority`: `settings.priority`, or by status ([`priority`]): 1 (high) for critical, 0 for
//!   the rest; the message that closes an alarm is never above 0;
//! - `url` and `url_title` (`Open in Tocsin`) with a dashboard URL; `device` and `sound` when set;
//! - `retry` and `expire` (seconds) with priority 2 (emergency: repeated until acknowledged),
//!   which requires both settings: `retry` at least 30s, `expire` at most 3h (10800s).
//!
//! Pushover answers `{"status": 1, "request": "…"}` (and a `receipt` for emergencies). A 4xx with
//! `{"status": 0, "errors": ["…"]}` (an invalid token or user key, say), or a 200 whose `status`
//! is not 1, is permanent and quotes the errors; 429 (the application's monthly limit) and 5xx are
//! retryable.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{HttpTransport, Request, texts};
use crate::http_channel::{
    endpoint, provider_error, redact, required_secret, send_explained, truncate_chars,
};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// Pushover's message endpoint.
pub const MESSAGES_URL: &str = "https://api.pushover.net/1/messages.json";

/// Pushover's limits, in characters.
const MAX_TITLE: usize = 250;
const MAX_MESSAGE: usize = 1024;
const MAX_URL: usize = 512;

/// Emergency priority limits: retry at least every 30 seconds, expire within 3 hours.
const MIN_RETRY: Duration = Duration::from_secs(30);
const MAX_EXPIRE: Duration = Duration::from_secs(10_800);

/// A pushover contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushoverSettings {
    /// The application's API token (required, secret).
    #[serde(default)]
    pub token: Option<Secret>,
    /// The user or group key to notify (required, secret).
    #[serde(default)]
    pub user: Option<Secret>,
    /// Only this device of the user.
    #[serde(default)]
    pub device: Option<String>,
    /// A Pushover sound name (`siren`, `none`, …).
    #[serde(default)]
    pub sound: Option<String>,
    /// -2 (silent) to 2 (emergency) for every message (default: by status).
    #[serde(default)]
    pub priority: Option<i64>,
    /// With priority 2: how often Pushover repeats the notification (at least 30s).
    #[serde(default)]
    pub retry: Option<Dur>,
    /// With priority 2: when Pushover stops repeating it (at most 3h).
    #[serde(default)]
    pub expire: Option<Dur>,
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the message.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built pushover channel.
pub struct Pushover {
    target: Target,
    token: Secret,
    user: Secret,
    device: Option<String>,
    sound: Option<String>,
    priority: Option<i64>,
    /// `retry` and `expire` in seconds, with priority 2.
    emergency: Option<(u64, u64)>,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Pushover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pushover")
            .field("to", &self.target.host_port())
            .field("device", &self.device)
            .field("sound", &self.sound)
            .field("priority", &self.priority)
            .field("emergency", &self.emergency)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// Pushover's priority for a status when `settings.priority` is not set: 1 (high, bypasses quiet
/// hours) for critical, 0 (normal) otherwise.
pub fn priority(status: Status) -> i64 {
    if status == Status::Critical { 1 } else { 0 }
}

impl Pushover {
    /// Builds the channel of a `pushover` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: PushoverSettings = crate::settings::parse(contact)?;
        let token = required_secret(contact, "settings.token", s.token)?;
        let user = required_secret(contact, "settings.user", s.user)?;
        if let Some(p) = s.priority
            && !(-2..=2).contains(&p)
        {
            return Err(BuildError::setting(
                contact,
                "settings.priority",
                format!("{p} is not between -2 and 2"),
            ));
        }
        let emergency = if s.priority == Some(2) {
            let retry = s.retry.ok_or_else(|| {
                BuildError::setting(contact, "settings.retry", "required with priority 2")
            })?;
            let expire = s.expire.ok_or_else(|| {
                BuildError::setting(contact, "settings.expire", "required with priority 2")
            })?;
            if retry.get() < MIN_RETRY {
                return Err(BuildError::setting(
                    contact,
                    "settings.retry",
                    format!("{retry} is less than 30s, Pushover's minimum"),
                ));
            }
            if expire.get() > MAX_EXPIRE || expire.get().as_secs() == 0 {
                return Err(BuildError::setting(
                    contact,
                    "settings.expire",
                    format!("{expire} is not between 1s and 3h, Pushover's maximum"),
                ));
            }
            Some((retry.get().as_secs(), expire.get().as_secs()))
        } else {
            for (field, value) in [("settings.retry", s.retry), ("settings.expire", s.expire)] {
                if value.is_some() {
                    return Err(BuildError::setting(
                        contact,
                        field,
                        "only used with priority 2 (emergency)",
                    ));
                }
            }
            None
        };
        Ok(Self {
            target: endpoint(contact, MESSAGES_URL)?,
            token,
            user,
            device: s.device,
            sound: s.sound,
            priority: s.priority,
            emergency,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The priority of `m`: the setting or the status's, at most 0 for the closing message.
    fn priority_of(&self, m: &Message) -> i64 {
        let p = self.priority.unwrap_or_else(|| priority(m.status));
        if m.kind.closes() { p.min(0) } else { p }
    }

    /// The form fields Pushover documents for `m`.
    fn fields(&self, m: &Message) -> (Vec<(&'static str, String)>, Option<String>) {
        let t = texts(&self.templates, m);
        let priority = self.priority_of(m);
        let mut fields = vec![
            ("token", self.token.expose().to_owned()),
            ("user", self.user.expose().to_owned()),
            ("title", truncate_chars(&t.title, MAX_TITLE)),
            ("message", truncate_chars(&t.text, MAX_MESSAGE)),
            ("timestamp", m.time.as_second().to_string()),
            ("priority", priority.to_string()),
        ];
        if let Some(url) = m
            .dashboard_url
            .as_ref()
            .filter(|u| u.chars().count() <= MAX_URL)
        {
            fields.push(("url", url.clone()));
            fields.push(("url_title", "Open in Tocsin".to_owned()));
        }
        if let Some(device) = &self.device {
            fields.push(("device", device.clone()));
        }
        if let Some(sound) = &self.sound {
            fields.push(("sound", sound.clone()));
        }
        if priority == 2
            && let Some((retry, expire)) = self.emergency
        {
            fields.push(("retry", retry.to_string()));
            fields.push(("expire", expire.to_string()));
        }
        (fields, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (fields, fallback) = self.fields(m);
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let req = Request::form(self.target.clone(), &pairs);
        let secrets = [self.token.expose(), self.user.expose()];
        let reply = send_explained(&self.transport, req, "Pushover", &secrets).await?;
        let doc: Option<serde_json::Value> = serde_json::from_slice(&reply.body).ok();
        let status = doc.as_ref().and_then(|d| d["status"].as_i64());
        if status != Some(1) {
            // A 2xx that is not a success: Pushover's documented answer always has `status`.
            let said = provider_error(&reply.body).unwrap_or_else(|| {
                String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned()
            });
            return Err(DeliveryError::permanent(redact(
                &format!(
                    "Pushover: HTTP {} without status 1: {said}",
                    reply.status.as_u16()
                ),
                &secrets,
            )));
        }
        let mut detail = format!("HTTP {}", reply.status.as_u16());
        if let Some(doc) = &doc {
            if let Some(request) = doc["request"].as_str() {
                detail.push_str(&format!(": request {request}"));
            }
            if let Some(receipt) = doc["receipt"].as_str() {
                detail.push_str(&format!(", receipt {receipt}"));
            }
        }
        Ok(Delivered {
            detail: crate::one_line(&detail),
            template_fallback: fallback,
        })
    }
}

impl Notifier for Pushover {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_by_status() {
        assert_eq!(priority(Status::Critical), 1);
        assert_eq!(priority(Status::Unknown), 0);
        assert_eq!(priority(Status::Warning), 0);
        assert_eq!(priority(Status::Ok), 0);
    }
}
