//! The `discord` channel: a Discord channel **webhook** ("Execute Webhook").
//!
//! `POST url?wait=true` (`https://discord.com/api/webhooks/<id>/<token>`, any query of the URL
//! kept) with the JSON Discord documents:
//!
//! ```json
//! {"username": "…", "avatar_url": "…", "content": title,
//!  "embeds": [{"title": title, "description": text, "url": dashboard_url,
//!              "color": 10682880, "timestamp": "2026-11-21T18:58:55Z"}],
//!  "allowed_mentions": {"parse": []}}
//! ```
//!
//! `username`, `avatar_url` and the embed's `url` are sent only when set. Texts are cut to
//! Discord's limits (content 2,000 characters, embed title 256, description 4,096); no text may
//! ping anyone (`allowed_mentions`). With `wait=true` Discord answers `200` with the message it
//! created (`204` without); both are delivered. A `429` carries `Retry-After` and a JSON body
//! `{"retry_after": 1.5, …}` (seconds): retryable, after the header's delay or else the body's
//! (rounded up). Everything else is judged as every HTTP channel's (see [`crate::http_channel`]).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, Colour, HttpTransport, Request, texts, truncate_chars};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// Discord's limits, in characters.
const CONTENT_MAX: usize = 2000;
const EMBED_TITLE_MAX: usize = 256;
const EMBED_DESCRIPTION_MAX: usize = 4096;

/// A discord contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    /// The poster's name instead of the webhook's.
    #[serde(default)]
    pub username: Option<String>,
    /// The poster's picture instead of the webhook's.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the embed's description (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built discord channel.
pub struct Discord {
    target: Target,
    username: Option<String>,
    avatar_url: Option<String>,
    transport: HttpTransport,
    templates: Templates,
}

/// The webhook URL's path holds its token: only the host is shown.
impl fmt::Debug for Discord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discord")
            .field("host", &self.target.host_port())
            .field("username", &self.username)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Discord {
    /// Builds the channel of a `discord` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: DiscordSettings = crate::settings::parse(contact)?;
        // Checks that the URL is there and valid (errors on `url`), then asks Discord to wait.
        http_channel::contact_url(contact)?;
        let url = contact.url.as_ref().map_or("", |u| u.expose());
        Ok(Self {
            target: http_channel::target(contact, "url", &with_wait(url))?,
            username: s.username,
            avatar_url: s.avatar_url,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The JSON body Discord documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut embed = serde_json::json!({
            "title": truncate_chars(&t.title, EMBED_TITLE_MAX),
            "description": truncate_chars(&t.text, EMBED_DESCRIPTION_MAX),
            "color": Colour::of(m).rgb(),
            "timestamp": m.time.to_string(),
        });
        if let Some(link) = &m.dashboard_url {
            embed["url"] = link.as_str().into();
        }
        let mut body = serde_json::json!({
            "content": truncate_chars(&t.title, CONTENT_MAX),
            "embeds": [embed],
            "allowed_mentions": {"parse": []},
        });
        for (key, value) in [
            ("username", &self.username),
            ("avatar_url", &self.avatar_url),
        ] {
            if let Some(v) = value {
                body[key] = v.as_str().into();
            }
        }
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let reply = self
            .transport
            .exchange(&Request::json(self.target.clone(), &body))
            .await?;
        let body_delay = (reply.status == http::StatusCode::TOO_MANY_REQUESTS)
            .then(|| body_retry_after(&reply.body))
            .flatten();
        let reply = http_channel::judge(&self.target, reply).map_err(|mut e| {
            e.retry_after = e.retry_after.or(body_delay);
            e
        })?;
        let mut detail = format!("HTTP {}", reply.status.as_u16());
        if let Some(id) = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|doc| doc["id"].as_str().map(str::to_owned))
        {
            detail.push_str(", message ");
            detail.push_str(&id);
        }
        Ok(Delivered {
            detail,
            template_fallback: fallback,
        })
    }
}

impl Notifier for Discord {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// `url` with `wait=true` in its query (replacing any `wait` already there, keeping the rest;
/// a fragment, never sent anyway, is dropped).
fn with_wait(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = format!("{base}?");
    for param in query.split('&') {
        if !param.is_empty() && param != "wait" && !param.starts_with("wait=") {
            out.push_str(param);
            out.push('&');
        }
    }
    out.push_str("wait=true");
    out
}

/// The `retry_after` (seconds, fractional) of Discord's 429 body, rounded up, at most a day.
fn body_retry_after(body: &[u8]) -> Option<Duration> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let secs = doc["retry_after"].as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs(secs.ceil().min(86_400.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("short", 5), "short");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
        let cut = truncate_chars(&"é".repeat(3000), CONTENT_MAX);
        assert_eq!(cut.chars().count(), CONTENT_MAX);
        assert!(cut.ends_with("é…"));
    }

    #[test]
    fn wait_is_added_to_the_query() {
        assert_eq!(
            with_wait("https://d/api/webhooks/1/t"),
            "https://d/api/webhooks/1/t?wait=true"
        );
        assert_eq!(
            with_wait("https://d/w/1/t?thread_id=9&wait=false#x"),
            "https://d/w/1/t?thread_id=9&wait=true"
        );
        assert_eq!(with_wait("https://d/w?"), "https://d/w?wait=true");
    }

    #[test]
    fn retry_after_from_the_body() {
        let d = |b: &str| body_retry_after(b.as_bytes());
        assert_eq!(
            d(r#"{"retry_after": 1.5, "global": false}"#),
            Some(Duration::from_secs(2))
        );
        assert_eq!(d(r#"{"retry_after": 3}"#), Some(Duration::from_secs(3)));
        assert_eq!(
            d(r#"{"retry_after": 1e9}"#),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(d(r#"{"retry_after": -1}"#), None);
        assert_eq!(d("slow down"), None);
    }
}
