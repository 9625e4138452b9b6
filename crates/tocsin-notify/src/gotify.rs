//! The `gotify` channel: pushes a message to a [Gotify](https://gotify.net) server through its
//! REST API, as an application.
//!
//! `POST {url}/message` (`url` is the server's base, `https://gotify.example.com`, a path prefix
//! allowed) with `X-Gotify-Key: <settings.token>` (the application's token) and
//!
//! ```json
//! {"title": "[CRITICAL] Web front", "message": "…", "priority": 8,
//!  "extras": {"client::display": {"contentType": "text/plain"},
//!             "client::notification": {"click": {"url": "https://tocsin.example/…"}}}}
//! ```
//!
//! `priority` is `settings.priority` (0 to 10), else by status: critical 8, warning and unknown 5,
//! ok or a closing alarm 2 (Gotify's Android app pops up from 8, sounds from 4). The
//! `client::notification` extra (opening the dashboard when the notification is tapped) is sent
//! only when the message has a dashboard link.
//!
//! Gotify answers 200 with the stored message (`{"id": 25, …}`); errors are JSON
//! (`{"error": "Unauthorized", "errorCode": 401, "errorDescription": "…"}`), quoted in the
//! reason. 408, 429 and 5xx are retryable, other errors (a wrong token: 401, 403) permanent.

use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{self, HttpTransport, Request, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// A gotify contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GotifySettings {
    /// The application token (required), sent as `X-Gotify-Key`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A fixed priority for every message, 0 to 10 (default: by status).
    #[serde(default)]
    pub priority: Option<i64>,
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the text.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built gotify channel.
#[derive(Debug)]
pub struct Gotify {
    /// `{url}/message`.
    target: Target,
    token: Secret,
    priority: Option<u8>,
    transport: HttpTransport,
    templates: Templates,
}

impl Gotify {
    /// Builds the channel of a `gotify` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: GotifySettings = crate::settings::parse(contact)?;
        // Check the URL as given first, so its errors are about what was written.
        http_channel::contact_url(contact)?;
        let base = contact.url.as_ref().map(Secret::expose).unwrap_or_default();
        if base.contains(['?', '#']) {
            return Err(BuildError::setting(
                contact,
                "url",
                "must be the server's base URL (https://gotify.example.com), without a query",
            ));
        }
        let target = http_channel::target(
            contact,
            "url",
            &format!("{}/message", base.trim_end_matches('/')),
        )?;
        let token = s.token.ok_or_else(|| {
            BuildError::setting(
                contact,
                "settings.token",
                "required: the token of a Gotify application",
            )
        })?;
        if token.expose().is_empty() {
            return Err(BuildError::setting(
                contact,
                "settings.token",
                "must not be empty",
            ));
        }
        http_channel::header_value(contact, "settings.token", token.expose())?;
        let priority = match s.priority {
            None => None,
            Some(p) => Some(u8::try_from(p).ok().filter(|p| *p <= 10).ok_or_else(|| {
                BuildError::setting(contact, "settings.priority", "must be 0 to 10")
            })?),
        };
        Ok(Self {
            target,
            token,
            priority,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The JSON body Gotify documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut extras = serde_json::json!({
            "client::display": {"contentType": "text/plain"},
        });
        if let Some(url) = &m.dashboard_url {
            extras["client::notification"] = serde_json::json!({"click": {"url": url}});
        }
        let body = serde_json::json!({
            "title": t.title,
            "message": t.text,
            "priority": self.priority.unwrap_or_else(|| default_priority(m)),
            "extras": extras,
        });
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let mut req = Request::json(self.target.clone(), &body);
        req.secret_header("x-gotify-key", self.token.expose());
        let reply = self.transport.exchange(&req).await?;
        let error = (!reply.status.is_success())
            .then(|| error_text(&reply.body))
            .flatten();
        let code = reply.status.as_u16();
        let reply = http_channel::judge(&self.target, reply).map_err(|mut e| {
            if let Some(error) = &error {
                e.reason = crate::one_line(&format!(
                    "Gotify: HTTP {code} from {}: {error}",
                    self.target.host_port()
                ));
            }
            e
        })?;
        let id = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|doc| doc["id"].as_u64());
        let detail = match id {
            Some(id) => format!("HTTP {code}, Gotify message {id}"),
            None => format!("HTTP {code}"),
        };
        Ok(Delivered {
            detail,
            template_fallback: fallback,
        })
    }
}

impl Notifier for Gotify {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// The priority of `m` when the contact sets none: critical 8, warning and unknown 5, ok or a
/// closing alarm 2.
pub(crate) fn default_priority(m: &Message) -> u8 {
    if m.kind.closes() {
        return 2;
    }
    match m.status {
        Status::Critical => 8,
        Status::Warning | Status::Unknown => 5,
        Status::Ok => 2,
    }
}

/// Gotify's error answer, `{"error": "Unauthorized", "errorCode": 401, "errorDescription":
/// "…"}`, as `Unauthorized: …`.
fn error_text(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = doc["error"].as_str()?;
    Some(match doc["errorDescription"].as_str() {
        Some(d) if !d.is_empty() => format!("{error}: {d}"),
        _ => error.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;

    #[test]
    fn priorities_by_status() {
        let mut m = Message::sample();
        assert_eq!(default_priority(&m), 8);
        m.status = Status::Warning;
        assert_eq!(default_priority(&m), 5);
        m.status = Status::Unknown;
        assert_eq!(default_priority(&m), 5);
        m.status = Status::Ok;
        assert_eq!(default_priority(&m), 2);
        m.status = Status::Critical;
        m.kind = MessageKind::Closed;
        assert_eq!(default_priority(&m), 2);
    }

    #[test]
    fn error_answers() {
        assert_eq!(
            error_text(
                br#"{"error":"Unauthorized","errorCode":401,"errorDescription":"you need to provide a valid access token or user credentials to access this api"}"#
            ),
            Some(
                "Unauthorized: you need to provide a valid access token or user credentials to access this api"
                    .into()
            )
        );
        assert_eq!(
            error_text(br#"{"error":"Bad Request","errorCode":400}"#),
            Some("Bad Request".into())
        );
        assert_eq!(error_text(b"502 Bad Gateway"), None);
    }
}
