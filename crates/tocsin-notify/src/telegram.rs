//! The `telegram` channel: a Telegram bot's Bot API method `sendMessage`.
//!
//! `POST {base}/bot<token>/sendMessage` (`base` is `https://api.telegram.org`, or the contact's
//! `url` for a local Bot API server) with the JSON Telegram documents:
//!
//! ```json
//! {"chat_id": -1001234567890, "text": "title\n\ntext", "disable_web_page_preview": true,
//!  "disable_notification": true, "message_thread_id": 7}
//! ```
//!
//! `disable_notification` and `message_thread_id` are sent only when set. The text is plain (no
//! `parse_mode`, so nothing needs escaping), cut to Telegram's 4,096 characters. Telegram
//! answers `{"ok": true, "result": {"message_id": …}}`, or `{"ok": false, "error_code": N,
//! "description": "…", "parameters": {"retry_after": S}}` with HTTP status N: 429 is retryable
//! after `retry_after` seconds (or `Retry-After`), 408 and 5xx are retryable, any other error is
//! permanent and its reason quotes `description`. An answer that is not the Bot API's JSON (a
//! proxy's error page) is judged as every HTTP channel's (see [`crate::http_channel`]).
//!
//! The bot token is part of the URL path: it never appears in an error, a log or `Debug` output
//! (only the host is shown, and reasons are scrubbed of it).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, HttpTransport, Reply, Request, redact, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The Bot API's base URL unless the contact's `url` replaces it.
pub const API_BASE: &str = "https://api.telegram.org";

/// The longest message text Telegram accepts, in characters.
const TEXT_MAX: usize = 4096;

/// A telegram contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    /// The bot's token from @BotFather (`123456:ABC-…`). Required.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The chat: a number (`-1001234567890`) or a public channel's `@username`. Required.
    #[serde(default)]
    pub chat_id: Option<serde_json::Value>,
    /// Send silently (no sound on the recipients' devices).
    #[serde(default)]
    pub disable_notification: Option<bool>,
    /// The topic of a forum supergroup to post in.
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    /// Template of the first line (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the text after it.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built telegram channel.
pub struct Telegram {
    /// `…/bot<token>/sendMessage`: never shown.
    target: Target,
    /// To scrub from error reasons.
    token: Secret,
    chat_id: serde_json::Value,
    disable_notification: Option<bool>,
    message_thread_id: Option<i64>,
    transport: HttpTransport,
    templates: Templates,
}

/// The target's path holds the token: only the host is shown.
impl fmt::Debug for Telegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telegram")
            .field("host", &self.target.host_port())
            .field("token", &self.token)
            .field("chat_id", &self.chat_id)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    /// Builds the channel of a `telegram` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: TelegramSettings = crate::settings::parse(contact)?;
        let token = s.token.ok_or_else(|| {
            BuildError::setting(
                contact,
                "settings.token",
                "required: the bot token from @BotFather",
            )
        })?;
        if !valid_token(token.expose()) {
            return Err(BuildError::setting(
                contact,
                "settings.token",
                "must be a bot token like 123456:ABC-DEF (letters, digits, `:`, `-`, `_`)",
            ));
        }
        let chat_id = match s.chat_id {
            Some(serde_json::Value::Number(n)) if n.is_i64() => serde_json::Value::Number(n),
            Some(serde_json::Value::String(id)) if !id.trim().is_empty() => {
                serde_json::Value::String(id.trim().to_owned())
            }
            Some(_) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.chat_id",
                    "must be a chat number (-1001234567890) or a channel's @username",
                ));
            }
            None => {
                return Err(BuildError::setting(
                    contact,
                    "settings.chat_id",
                    "required: the chat number or a channel's @username",
                ));
            }
        };
        let base = match &contact.url {
            Some(url) => url.expose().trim_end_matches('/'),
            None => API_BASE,
        };
        // The base alone first, so that a bad `url` is reported as such.
        http_channel::target(contact, "url", base)?;
        if base.contains(['?', '#']) {
            return Err(BuildError::setting(
                contact,
                "url",
                "must be the Bot API's base URL, without a query",
            ));
        }
        let endpoint = format!("{base}/bot{}/sendMessage", token.expose());
        Ok(Self {
            target: http_channel::target(contact, "url", &endpoint)?,
            token,
            chat_id,
            disable_notification: s.disable_notification,
            message_thread_id: s.message_thread_id,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The `sendMessage` parameters Telegram documents for `m`.
    fn payload(&self, m: &Message) -> (serde_json::Value, Option<String>) {
        let t = texts(&self.templates, m);
        let text = if t.text.is_empty() {
            t.title
        } else {
            format!("{}\n\n{}", t.title, t.text)
        };
        let mut body = serde_json::json!({
            "chat_id": self.chat_id,
            "text": crate::http_channel::truncate_chars(&text, TEXT_MAX),
            "disable_web_page_preview": true,
        });
        if let Some(silent) = self.disable_notification {
            body["disable_notification"] = silent.into();
        }
        if let Some(thread) = self.message_thread_id {
            body["message_thread_id"] = thread.into();
        }
        (body, t.fallback)
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.payload(m);
        let outcome = match self
            .transport
            .exchange(&Request::json(self.target.clone(), &body))
            .await
        {
            Ok(reply) => self.judge(reply),
            Err(e) => Err(e),
        };
        match outcome {
            Ok(detail) => Ok(Delivered {
                detail,
                template_fallback: fallback,
            }),
            Err(mut e) => {
                e.reason = redact(&e.reason, &[self.token.expose()]);
                Err(e)
            }
        }
    }

    /// Judges Telegram's answer: the success detail, or why it failed.
    fn judge(&self, reply: Reply) -> Result<String, DeliveryError> {
        let status = reply.status.as_u16();
        let doc = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .filter(|d| d["ok"].is_boolean());
        let Some(doc) = doc else {
            // Not the Bot API speaking (a proxy, a load balancer): judged by the status alone.
            http_channel::judge(&self.target, reply)?;
            return Err(DeliveryError::permanent(format!(
                "Telegram answered HTTP {status} without the Bot API's JSON"
            )));
        };
        if doc["ok"] == true && reply.status.is_success() {
            let mut detail = format!("HTTP {status} ok");
            if let Some(id) = doc["result"]["message_id"].as_i64() {
                detail.push_str(&format!(", message {id}"));
            }
            return Ok(detail);
        }
        let code = doc["error_code"].as_u64().unwrap_or(u64::from(status));
        let description = doc["description"]
            .as_str()
            .unwrap_or("no description given");
        let mut reason = format!("Telegram sendMessage: error {code}: {description}");
        if let Some(id) = doc["parameters"]["migrate_to_chat_id"].as_i64() {
            reason.push_str(&format!(
                " (the group is now chat {id}: update settings.chat_id)"
            ));
        }
        if code == 429 || code == 408 || (500..600).contains(&code) {
            let mut e = DeliveryError::retry(reason);
            e.retry_after = doc["parameters"]["retry_after"]
                .as_u64()
                .map(|s| Duration::from_secs(s.min(86_400)))
                .or_else(|| http_channel::retry_after(&reply.headers));
            Err(e)
        } else {
            Err(DeliveryError::permanent(reason))
        }
    }
}

impl Notifier for Telegram {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// Whether `token` can go in a URL path as is (Telegram's tokens are `digits:letters-_`).
fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_fit_in_a_path() {
        assert!(valid_token("123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"));
        assert!(!valid_token(""));
        assert!(!valid_token("123/../x"));
        assert!(!valid_token("12 34"));
    }

    #[test]
    fn scrubbing() {
        assert_eq!(
            redact("GET /bot1:x/sendMessage failed", &["1:x"]),
            "GET /bot********/sendMessage failed"
        );
        assert_eq!(redact("nothing", &[""]), "nothing");
    }
}
