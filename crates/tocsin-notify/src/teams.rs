//! The `teams` channel: a Microsoft Teams channel webhook created with **Workflows** (Power
//! Automate's "Send webhook alerts to a channel"), which posts the Adaptive Card it is sent.
//!
//! `POST url` with the message Microsoft documents for Adaptive Cards through webhooks:
//!
//! ```json
//! {"type": "message",
//!  "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
//!    "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
//!      "type": "AdaptiveCard", "version": "1.4",
//!      "body": [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
//!                "wrap": true, "color": "Attention"},
//!               {"type": "TextBlock", "text": text, "wrap": true}],
//!      "actions": [{"type": "Action.OpenUrl", "title": "Open in Tocsin", "url": dashboard_url}]}}]}
//! ```
//!
//! The title's colour is `Good` when the alarm closes, `Warning` for a cleared fault or a
//! warning, `Attention` otherwise; `actions` is there only with a dashboard link. Workflows
//! answers `202 Accepted`: any 2xx is delivered, the rest is judged as every HTTP channel's (see
//! [`crate::http_channel`]). The URL's `sig` parameter is its secret and is never shown.

use std::fmt;

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, Colour, HttpTransport, Request, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// A teams contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsSettings {
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the text (Adaptive Cards render a subset of Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built teams channel.
pub struct Teams {
    target: Target,
    transport: HttpTransport,
    templates: Templates,
}

/// The webhook URL's path and query are its secret: only the host is shown.
impl fmt::Debug for Teams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Teams")
            .field("host", &self.target.host_port())
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

/// The Adaptive Card colour of a message's title.
fn card_colour(m: &Message) -> &'static str {
    match Colour::of(m) {
        Colour::Green => "Good",
        Colour::Yellow => "Warning",
        Colour::Red => "Attention",
    }
}

impl Teams {
    /// Builds the channel of a `teams` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: TeamsSettings = crate::settings::parse(contact)?;
        Ok(Self {
            target: http_channel::contact_url(contact)?,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The message with one Adaptive Card that Microsoft documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut card = serde_json::json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                {
                    "type": "TextBlock",
                    "text": t.title,
                    "weight": "Bolder",
                    "size": "Medium",
                    "wrap": true,
                    "color": card_colour(m),
                },
                {"type": "TextBlock", "text": t.text, "wrap": true},
            ],
        });
        if let Some(link) = &m.dashboard_url {
            card["actions"] = serde_json::json!([
                {"type": "Action.OpenUrl", "title": "Open in Tocsin", "url": link},
            ]);
        }
        let body = serde_json::json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        });
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let reply = self
            .transport
            .send(Request::json(self.target.clone(), &body))
            .await?;
        Ok(Delivered {
            detail: format!("HTTP {}", reply.status.as_u16()),
            template_fallback: fallback,
        })
    }
}

impl Notifier for Teams {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;

    #[test]
    fn colours_follow_the_alarm() {
        let mut m = Message::sample();
        assert_eq!(card_colour(&m), "Attention");
        m.kind = MessageKind::FaultCleared;
        assert_eq!(card_colour(&m), "Warning");
        m.kind = MessageKind::Closed;
        assert_eq!(card_colour(&m), "Good");
    }
}
