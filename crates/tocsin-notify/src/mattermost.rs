//! The `mattermost` channel: a Mattermost **incoming webhook**, in Amon's style (one coloured
//! attachment per message).
//!
//! `POST url` (`https://chat.example.com/hooks/<key>`) with the JSON Mattermost documents for
//! incoming webhooks:
//!
//! ```json
//! {"username": "Tocsin", "icon_url": "…", "channel": "town-square", "text": "@here",
//!  "attachments": [{"fallback": title, "color": "#a30200", "title": title,
//!                   "title_link": dashboard_url, "text": text}]}
//! ```
//!
//! `icon_url`, `channel` and `text` are sent only when set (`text` carries `settings.mention`,
//! since only the post's text triggers `@` notifications). The colour follows Amon: green when
//! the alarm closes, yellow for a cleared fault on a still-open alarm, red otherwise. Mattermost
//! answers `200 ok`; its errors are 4xx/5xx with a text or JSON body, judged as every HTTP
//! channel's (see [`crate::http_channel`]).

use std::fmt;

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, Colour, HttpTransport, Request, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The poster's name unless `settings.username` says otherwise.
pub const DEFAULT_USERNAME: &str = "Tocsin";

/// A mattermost contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MattermostSettings {
    /// The poster's name (default `Tocsin`; the server must allow overriding it).
    #[serde(default)]
    pub username: Option<String>,
    /// The poster's picture (the server must allow overriding it).
    #[serde(default)]
    pub icon_url: Option<String>,
    /// Post to this channel (its name, e.g. `town-square`) instead of the webhook's own.
    #[serde(default)]
    pub channel: Option<String>,
    /// Who to notify, as the post's text: `@here`, `@channel`, `@alice`.
    #[serde(default)]
    pub mention: Option<String>,
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the attachment's text (Markdown).
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built mattermost channel.
pub struct Mattermost {
    target: Target,
    username: String,
    icon_url: Option<String>,
    channel: Option<String>,
    mention: Option<String>,
    transport: HttpTransport,
    templates: Templates,
}

/// The webhook URL's path is its secret: only the host is shown.
impl fmt::Debug for Mattermost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mattermost")
            .field("host", &self.target.host_port())
            .field("username", &self.username)
            .field("channel", &self.channel)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Mattermost {
    /// Builds the channel of a `mattermost` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: MattermostSettings = crate::settings::parse(contact)?;
        Ok(Self {
            target: http_channel::contact_url(contact)?,
            username: s.username.unwrap_or_else(|| DEFAULT_USERNAME.to_owned()),
            icon_url: s.icon_url,
            channel: s.channel,
            mention: s.mention,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The JSON body Mattermost documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let mut attachment = serde_json::json!({
            "fallback": t.title,
            "color": Colour::of(m).hex(),
            "title": t.title,
            "text": t.text,
        });
        if let Some(link) = &m.dashboard_url {
            attachment["title_link"] = link.as_str().into();
        }
        let mut body = serde_json::json!({
            "username": self.username,
            "attachments": [attachment],
        });
        for (key, value) in [
            ("icon_url", &self.icon_url),
            ("channel", &self.channel),
            ("text", &self.mention),
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
            .send(Request::json(self.target.clone(), &body))
            .await?;
        Ok(Delivered {
            detail: format!("HTTP {}", reply.status.as_u16()),
            template_fallback: fallback,
        })
    }
}

impl Notifier for Mattermost {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tocsin_core::check::{Origin, Secret};
    use tocsin_core::directory::{ContactKind, Settings};

    use super::*;

    fn channel(settings: serde_json::Value) -> Mattermost {
        let settings: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(settings).unwrap();
        let c = Contact {
            id: "ops".into(),
            name: "Ops".into(),
            kind: ContactKind::Mattermost,
            to: None,
            url: Some(Secret::new("http://127.0.0.1:1/hooks/k3y")),
            settings: Settings::from(settings),
            rate_limit: None,
            origin: Origin::default(),
        };
        Mattermost::build(&c, &Defaults::default()).unwrap()
    }

    #[test]
    fn optional_fields_are_left_out() {
        let mut m = Message::sample();
        m.dashboard_url = None;
        let (body, _) = channel(serde_json::json!({})).payload(&m);
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["attachments", "username"]);
        assert_eq!(body["username"], "Tocsin");
        assert!(body["attachments"][0].get("title_link").is_none());
    }

    #[test]
    fn debug_hides_the_hook_key() {
        let dbg = format!("{:?}", channel(serde_json::json!({})));
        assert!(!dbg.contains("k3y") && dbg.contains("127.0.0.1:1"), "{dbg}");
    }
}
