//! The `ntfy` channel: publishes to an [ntfy](https://ntfy.sh) topic, on ntfy.sh or a
//! self-hosted server, the way ntfy documents for HTTP publishing.
//!
//! `POST url` (the topic URL, `https://ntfy.sh/mytopic`), the text as a `text/plain` body, and
//! the message's details as headers:
//!
//! - `Title`: the title. HTTP header values are ASCII, so a title with other characters is sent as
//!   RFC 2047 encoded words (`=?UTF-8?B?…?=`), which ntfy documents and decodes.
//! - `Priority`: `settings.priority`, else by status: critical 5 (max), warning and unknown 4
//!   (high), ok or a closing alarm 3 (default).
//! - `Tags`: `rotating_light`, `warning` or `white_check_mark` (shown as emoji) by the message's
//!   colour (red, yellow, green).
//! - `Click`: the dashboard link, when the message has one.
//! - `Authorization`: `Bearer <settings.token>` (an access token), or Basic with
//!   `settings.username` and `settings.password`, for protected topics.
//!
//! ntfy answers 200 with the published message as JSON (`{"id": …, "event": "message", …}`);
//! errors are JSON too (`{"code": 40301, "http": 403, "error": "forbidden"}`), quoted in the
//! reason. 429 and 5xx are retryable, other errors permanent.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;
use tocsin_core::{Dur, Status};

use crate::http_channel::{self, Colour, HttpTransport, Request, texts};
use crate::http_client::Target;
use crate::template::{self, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The longest text sent, in bytes: ntfy's default message size limit (longer messages would
/// become attachments).
pub const MAX_TEXT_BYTES: usize = 4096;

/// An ntfy priority: 1 to 5, or ntfy's names for them.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum NtfyPriority {
    /// 1 (min) to 5 (max).
    Number(i64),
    /// `min`, `low`, `default`, `high`, `max` or `urgent`.
    Name(String),
}

impl NtfyPriority {
    /// The level, 1 to 5, if valid.
    pub fn level(&self) -> Option<u8> {
        match self {
            Self::Number(n) => u8::try_from(*n).ok().filter(|n| (1..=5).contains(n)),
            Self::Name(name) => match name.as_str() {
                "min" => Some(1),
                "low" => Some(2),
                "default" => Some(3),
                "high" => Some(4),
                "max" | "urgent" => Some(5),
                _ => None,
            },
        }
    }
}

/// An ntfy contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtfySettings {
    /// An access token (`tk_…`), sent as `Authorization: Bearer`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A user name for Basic authentication (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// The password for `username`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A fixed priority for every message (default: by status).
    #[serde(default)]
    pub priority: Option<NtfyPriority>,
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

/// A built ntfy channel.
#[derive(Debug)]
pub struct Ntfy {
    target: Target,
    /// The `Authorization` header value, if any.
    auth: Option<Secret>,
    priority: Option<u8>,
    transport: HttpTransport,
    templates: Templates,
}

impl Ntfy {
    /// Builds the channel of a `ntfy` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: NtfySettings = crate::settings::parse(contact)?;
        let target = http_channel::contact_url(contact)?;
        let topic = contact
            .url
            .as_ref()
            .and_then(|u| u.expose().parse::<http::Uri>().ok())
            .map(|u| u.path().trim_matches('/').to_owned())
            .unwrap_or_default();
        if topic.is_empty() {
            return Err(BuildError::setting(
                contact,
                "url",
                "must be a topic URL, such as https://ntfy.sh/mytopic",
            ));
        }
        let auth = match (s.token, s.username, s.password) {
            (Some(token), None, None) => {
                http_channel::header_value(contact, "settings.token", token.expose())?;
                Some(Secret::new(format!("Bearer {}", token.expose())))
            }
            (Some(_), _, _) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.token",
                    "use either settings.token or settings.username and settings.password",
                ));
            }
            (None, Some(user), Some(password)) => {
                if user.contains(':') {
                    return Err(BuildError::setting(
                        contact,
                        "settings.username",
                        "must not contain ':'",
                    ));
                }
                let pair = format!("{user}:{}", password.expose());
                Some(Secret::new(format!(
                    "Basic {}",
                    BASE64.encode(pair.as_bytes())
                )))
            }
            (None, Some(_), None) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.password",
                    "required with settings.username",
                ));
            }
            (None, None, Some(_)) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.username",
                    "required with settings.password",
                ));
            }
            (None, None, None) => None,
        };
        let priority = match &s.priority {
            None => None,
            Some(p) => Some(p.level().ok_or_else(|| {
                BuildError::setting(
                    contact,
                    "settings.priority",
                    "must be 1 to 5, or min, low, default, high, max",
                )
            })?),
        };
        Ok(Self {
            target,
            auth,
            priority,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let t = texts(&self.templates, m);
        let mut req = Request::new(
            http::Method::POST,
            self.target.clone(),
            truncate(&t.text, MAX_TEXT_BYTES).to_owned(),
        );
        req.header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
        req.header("title", &header_text(&t.title));
        let priority = self.priority.unwrap_or_else(|| default_priority(m));
        req.header("priority", &priority.to_string());
        req.header("tags", tag(Colour::of(m)));
        if let Some(url) = &m.dashboard_url {
            req.header("click", url);
        }
        if let Some(auth) = &self.auth {
            req.secret_header(http::header::AUTHORIZATION, auth.expose());
        }
        let reply = self.transport.exchange(&req).await?;
        let error = (!reply.status.is_success())
            .then(|| error_text(&reply.body))
            .flatten();
        let code = reply.status.as_u16();
        let reply = http_channel::judge(&self.target, reply).map_err(|mut e| {
            if let Some(error) = &error {
                e.reason = crate::one_line(&format!(
                    "ntfy: HTTP {code} from {}: {error}",
                    self.target.host_port()
                ));
            }
            e
        })?;
        let id = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|doc| doc["id"].as_str().map(str::to_owned));
        let detail = match id {
            Some(id) => format!("HTTP {code}, ntfy message {id}"),
            None => format!("HTTP {code}"),
        };
        Ok(Delivered {
            detail,
            template_fallback: t.fallback,
        })
    }
}

impl Notifier for Ntfy {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// The priority of `m` when the contact sets none: critical 5, warning and unknown 4, ok or a
/// closing alarm 3.
pub(crate) fn default_priority(m: &Message) -> u8 {
    if m.kind.closes() {
        return 3;
    }
    match m.status {
        Status::Critical => 5,
        Status::Warning | Status::Unknown => 4,
        Status::Ok => 3,
    }
}

/// The ntfy tag (an emoji short code) for a colour.
pub(crate) fn tag(colour: Colour) -> &'static str {
    match colour {
        Colour::Red => "rotating_light",
        Colour::Yellow => "warning",
        Colour::Green => "white_check_mark",
    }
}

/// `s` as a header value: as is when it is printable ASCII, else RFC 2047 encoded words
/// (`=?UTF-8?B?…?=`, at most 75 characters each, split between characters, separated by spaces,
/// which decoders drop between encoded words).
pub(crate) fn header_text(s: &str) -> String {
    let plain = s.bytes().all(|b| (b' '..=b'~').contains(&b)) && !s.contains("=?");
    if plain {
        return s.to_owned();
    }
    // 45 bytes of UTF-8 become 60 base64 characters: 72 with `=?UTF-8?B?` and `?=`.
    const CHUNK: usize = 45;
    let mut words = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        words.push(format!("=?UTF-8?B?{}?=", BASE64.encode(head.as_bytes())));
        rest = tail;
    }
    words.join(" ")
}

/// At most `max` bytes of `s`, cut between characters.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// ntfy's error answer, `{"code": 40301, "http": 403, "error": "forbidden"}`, as
/// `forbidden (ntfy error 40301)`.
fn error_text(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let error = doc["error"].as_str()?;
    Some(match doc["code"].as_u64() {
        Some(code) => format!("{error} (ntfy error {code})"),
        None => error.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageKind;

    #[test]
    fn priorities_by_status_and_setting() {
        let mut m = Message::sample();
        assert_eq!(default_priority(&m), 5);
        m.status = Status::Warning;
        assert_eq!(default_priority(&m), 4);
        m.status = Status::Unknown;
        assert_eq!(default_priority(&m), 4);
        m.status = Status::Ok;
        assert_eq!(default_priority(&m), 3);
        m.status = Status::Critical;
        m.kind = MessageKind::Closed;
        assert_eq!(default_priority(&m), 3);
        assert_eq!(NtfyPriority::Number(1).level(), Some(1));
        assert_eq!(NtfyPriority::Number(5).level(), Some(5));
        assert_eq!(NtfyPriority::Number(0).level(), None);
        assert_eq!(NtfyPriority::Number(6).level(), None);
        assert_eq!(NtfyPriority::Name("urgent".into()).level(), Some(5));
        assert_eq!(NtfyPriority::Name("low".into()).level(), Some(2));
        assert_eq!(NtfyPriority::Name("loud".into()).level(), None);
    }

    #[test]
    fn tags_follow_the_colour() {
        assert_eq!(tag(Colour::Red), "rotating_light");
        assert_eq!(tag(Colour::Yellow), "warning");
        assert_eq!(tag(Colour::Green), "white_check_mark");
    }

    #[test]
    fn ascii_titles_stay_others_are_encoded_words() {
        assert_eq!(header_text("[CRITICAL] Web front"), "[CRITICAL] Web front");
        // ntfy's own example: "🇩🇪" is `=?UTF-8?B?8J+HqfCfh6o=?=`.
        assert_eq!(header_text("🇩🇪"), "=?UTF-8?B?8J+HqfCfh6o=?=");
        assert_eq!(header_text("Äpfel"), "=?UTF-8?B?w4RwZmVs?=");
        // Something that looks like an encoded word is encoded, so it shows as written.
        assert!(header_text("a =?x?= b").starts_with("=?UTF-8?B?"));
        // Long titles: several words of at most 75 characters, cut between characters.
        let long = "é".repeat(100);
        let enc = header_text(&long);
        let words: Vec<&str> = enc.split(' ').collect();
        assert!(words.len() > 1);
        let mut decoded = Vec::new();
        for w in &words {
            assert!(w.len() <= 75, "{w}");
            let b64 = w
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            decoded.extend(decode(b64));
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), long);
        assert!(http::HeaderValue::from_str(&enc).is_ok());
    }

    fn decode(s: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut bits = 0u32;
        let mut n = 0;
        let mut out = Vec::new();
        for c in s.bytes().filter(|&c| c != b'=') {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        out
    }

    #[test]
    fn long_texts_are_cut_between_characters() {
        let s = "é".repeat(3000);
        let t = truncate(&s, MAX_TEXT_BYTES);
        assert!(t.len() <= MAX_TEXT_BYTES && t.len() >= MAX_TEXT_BYTES - 1);
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn error_answers() {
        assert_eq!(
            error_text(br#"{"code":40301,"http":403,"error":"forbidden","link":"https://ntfy.sh/docs/publish/#authentication"}"#),
            Some("forbidden (ntfy error 40301)".into())
        );
        assert_eq!(error_text(b"<html>"), None);
    }
}
