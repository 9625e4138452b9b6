//! The `slack` channel, in either of Slack's two documented ways:
//!
//! - **Incoming webhook** (`url: https://hooks.slack.com/services/…`, no `token`): `POST url` with
//!   `{"text": …, "attachments": [{"color", "title", "text", "ts"}]}`. Slack answers `200 ok`, or
//!   a 4xx with a plain-text error such as `invalid_payload` or `no_service`.
//! - **Web API `chat.postMessage`** (`settings.token` and `settings.channel`; `url` defaults to
//!   `https://slack.com/api/chat.postMessage`): `POST` with `Authorization: Bearer <token>` and
//!   the same JSON plus `"channel"`. Slack answers HTTP 200 with `{"ok": false, "error": …}` on
//!   failure: `ratelimited` and `internal_error`/`fatal_error`/`service_unavailable` are retryable,
//!   anything else (`channel_not_found`, `invalid_auth`, …) is permanent.
//!
//! `text` is the title (it is what Slack shows in notifications); the attachment carries the
//! colour (green, yellow, red), the title and the text from the templates.

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, Colour, HttpTransport, Request, reply_json, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The Web API method used with a `token`.
pub const POST_MESSAGE_URL: &str = "https://slack.com/api/chat.postMessage";

/// A slack contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// A bot token (`xoxb-…`): use `chat.postMessage` instead of an incoming webhook.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The channel (`#ops` or an id) for `chat.postMessage`; required with `token`.
    #[serde(default)]
    pub channel: Option<String>,
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

/// A built slack channel.
#[derive(Debug)]
pub struct Slack {
    target: Target,
    /// Bot token and channel, for `chat.postMessage`.
    api: Option<(Secret, String)>,
    transport: HttpTransport,
    templates: Templates,
}

impl Slack {
    /// Builds the channel of a `slack` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: SlackSettings = crate::settings::parse(contact)?;
        let api = match (s.token, s.channel) {
            (Some(token), Some(channel)) => {
                http_channel::header_value(contact, "settings.token", token.expose())?;
                Some((token, channel))
            }
            (Some(_), None) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.channel",
                    "required with settings.token (chat.postMessage needs a channel)",
                ));
            }
            (None, Some(_)) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.token",
                    "required with settings.channel (an incoming webhook posts to its own channel)",
                ));
            }
            (None, None) => None,
        };
        let target = match (&contact.url, &api) {
            (Some(_), _) => http_channel::contact_url(contact)?,
            (None, Some(_)) => http_channel::target(contact, "url", POST_MESSAGE_URL)?,
            (None, None) => {
                return Err(BuildError::setting(
                    contact,
                    "url",
                    "required: an incoming-webhook URL, or settings.token and settings.channel",
                ));
            }
        };
        Ok(Self {
            target,
            api,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The JSON body Slack documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut body = serde_json::json!({
            "text": t.title,
            "attachments": [{
                "color": Colour::of(m).hex(),
                "title": t.title,
                "title_link": m.dashboard_url,
                "text": t.text,
                "ts": m.time.as_second(),
            }],
        });
        if let Some((_, channel)) = &self.api {
            body["channel"] = serde_json::Value::from(channel.as_str());
        }
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let mut req = Request::json(self.target.clone(), &body);
        let Some((token, _)) = &self.api else {
            let reply = self.transport.send(req).await?;
            return Ok(Delivered {
                detail: format!("HTTP {}", reply.status.as_u16()),
                template_fallback: fallback,
            });
        };
        req.secret_header(
            http::header::AUTHORIZATION,
            &format!("Bearer {}", token.expose()),
        );
        req.header(
            http::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        );
        let reply = self.transport.send(req).await?;
        let doc = reply_json(&reply, "Slack")?;
        if doc["ok"].as_bool() == Some(true) {
            return Ok(Delivered {
                detail: format!("HTTP {} ok", reply.status.as_u16()),
                template_fallback: fallback,
            });
        }
        let error = doc["error"].as_str().unwrap_or("no error given");
        let reason = format!("Slack chat.postMessage: {error}");
        match error {
            "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout" => {
                let mut e = DeliveryError::retry(reason);
                e.retry_after = http_channel::retry_after(&reply.headers);
                Err(e)
            }
            _ => Err(DeliveryError::permanent(reason)),
        }
    }
}

impl Notifier for Slack {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}
