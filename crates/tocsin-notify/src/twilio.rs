//! The `twilio` channel: an SMS or, as Amon did, a voice call through Twilio's REST API, to one
//! or several numbers.
//!
//! Requests go to `https://api.twilio.com` (the contact's `url`, when given, replaces this base)
//! with HTTP Basic authentication (`settings.account_sid` : `settings.auth_token`) and a
//! form-urlencoded body, one request per number in `settings.to`:
//!
//! - `mode: sms` (the default): `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with
//!   `To`, `From` and `Body` = title + ` — ` + text (at most 1600 characters, Twilio's limit).
//! - `mode: call`: `POST {base}/2010-04-01/Accounts/{AccountSid}/Calls.json` with `To`, `From`
//!   and `Twiml` = `<Response><Say>…</Say></Response>`: the title and the check's message (or the
//!   contact's body template, when it has one) on one line, at most 500 characters, XML-escaped.
//!
//! Twilio answers `201` with the created resource (`{"sid": "SM…", "status": "queued", …}`).
//! Errors are JSON, `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`: 400, 401,
//! 404 (and other 4xx) are permanent and quote the code and message; 429 and 5xx are retryable.
//!
//! With several numbers, every number is tried; the message counts as delivered only when all
//! succeed. A failure names the numbers that failed and is retryable when any of those failures
//! is; a retry sends to **every** number again (those that succeeded get it twice).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::http_channel::{HttpTransport, Request, encode_component, texts};
use crate::http_channel::{base_url, join, required_secret, send_explained, truncate_chars};
use crate::http_client::Target;
use crate::template::{self, Place, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// Twilio's API base.
pub const API_BASE: &str = "https://api.twilio.com";

/// The longest SMS body Twilio accepts, in characters.
pub const MAX_SMS: usize = 1600;

/// The longest spoken text of a call, in characters (before XML escaping).
pub const MAX_SPOKEN: usize = 500;

/// One number or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Numbers {
    /// `to: "+15005550006"`
    One(String),
    /// `to: ["+15005550006", "+33612345678"]`
    Many(Vec<String>),
}

/// A twilio contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSettings {
    /// The account SID, `AC…` (required).
    #[serde(default)]
    pub account_sid: Option<String>,
    /// The account's auth token (required, secret).
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// The Twilio number sending, E.164 (`+15005550006`) (required).
    #[serde(default)]
    pub from: Option<String>,
    /// The number(s) to text or call, E.164 (required).
    #[serde(default)]
    pub to: Option<Numbers>,
    /// `sms` (default) or `call`.
    #[serde(default)]
    pub mode: Option<String>,
    /// Template of the title (default: `[CRITICAL] Web front`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Template of the text.
    #[serde(default)]
    pub body: Option<String>,
    /// Request timeout (default 10s), per number.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// How a twilio contact is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A text message.
    Sms,
    /// A voice call reading the message.
    Call,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Call => "call",
        }
    }
}

/// A built twilio channel.
pub struct Twilio {
    /// `…/Messages.json` or `…/Calls.json`.
    target: Target,
    mode: Mode,
    /// `Basic base64(sid:token)`.
    authorization: Secret,
    auth_token: Secret,
    from: String,
    to: Vec<String>,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Twilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field("to", &self.target.host_port())
            .field("mode", &self.mode)
            .field("from", &self.from)
            .field("numbers", &self.to)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Twilio {
    /// Builds the channel of a `twilio` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: TwilioSettings = crate::settings::parse(contact)?;
        let required = |field: &str| {
            BuildError::setting(
                contact,
                field,
                format!("required for a {} contact", contact.kind),
            )
        };
        let sid = s
            .account_sid
            .ok_or_else(|| required("settings.account_sid"))?;
        if sid.is_empty() || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(BuildError::setting(
                contact,
                "settings.account_sid",
                "must be an account SID (AC followed by letters and digits)",
            ));
        }
        let auth_token = required_secret(contact, "settings.auth_token", s.auth_token)?;
        let from = s.from.ok_or_else(|| required("settings.from"))?;
        if !is_e164(&from) {
            return Err(BuildError::setting(
                contact,
                "settings.from",
                format!("{from:?} is not an E.164 number (+ and 2 to 15 digits)"),
            ));
        }
        let to = match s.to.ok_or_else(|| required("settings.to"))? {
            Numbers::One(n) => vec![n],
            Numbers::Many(list) => list,
        };
        if to.is_empty() {
            return Err(BuildError::setting(
                contact,
                "settings.to",
                "must name at least one number",
            ));
        }
        if let Some(bad) = to.iter().find(|n| !is_e164(n)) {
            return Err(BuildError::setting(
                contact,
                "settings.to",
                format!("{bad:?} is not an E.164 number (+ and 2 to 15 digits)"),
            ));
        }
        let mode = match s.mode.as_deref() {
            None | Some("sms") => Mode::Sms,
            Some("call") => Mode::Call,
            Some(other) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.mode",
                    format!("{other:?} is not one of sms, call"),
                ));
            }
        };
        let base = base_url(contact, API_BASE)?;
        let mut path = String::from("/2010-04-01/Accounts/");
        encode_component(&mut path, &sid);
        path.push_str(match mode {
            Mode::Sms => "/Messages.json",
            Mode::Call => "/Calls.json",
        });
        let target =
            join(&base, &path).map_err(|e| BuildError::setting(contact, "url", e.reason))?;
        let authorization = Secret::new(format!(
            "Basic {}",
            BASE64.encode(format!("{sid}:{}", auth_token.expose()).as_bytes())
        ));
        Ok(Self {
            target,
            mode,
            authorization,
            auth_token,
            from,
            to,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
            templates: template::compile_checked(contact)?,
        })
    }

    /// The form field carrying the message (`Body` or `Twiml`) and its value, for `m`.
    fn content(&self, m: &Message) -> (&'static str, String, Option<String>) {
        let t = texts(&self.templates, m);
        match self.mode {
            Mode::Sms => {
                let body = if t.text.is_empty() {
                    t.title
                } else {
                    format!("{} — {}", t.title, t.text)
                };
                ("Body", truncate_chars(&body, MAX_SMS), t.fallback)
            }
            Mode::Call => {
                let said = if self.templates.has(Place::Body) {
                    t.text.as_str()
                } else {
                    m.message.as_str()
                };
                ("Twiml", twiml(&format!("{}. {said}", t.title)), t.fallback)
            }
        }
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        // Nobody is texted or called to hear that a colleague took the alarm.
        if m.kind == crate::MessageKind::Acknowledged {
            return Ok(Delivered {
                detail: "not sent: acknowledgements are not texted or called".into(),
                template_fallback: None,
            });
        }
        let (field, content, fallback) = self.content(m);
        let credentials = self.authorization.expose();
        let secrets = [
            self.auth_token.expose(),
            credentials.trim_start_matches("Basic "),
        ];
        let mut sids = Vec::new();
        let mut failures: Vec<(&str, DeliveryError)> = Vec::new();
        let mut status = 0;
        for to in &self.to {
            let mut req = Request::form(
                self.target.clone(),
                &[
                    ("To", to.as_str()),
                    ("From", self.from.as_str()),
                    (field, content.as_str()),
                ],
            );
            req.secret_header(http::header::AUTHORIZATION, self.authorization.expose());
            match send_explained(&self.transport, req, "Twilio", &secrets).await {
                Ok(reply) => {
                    status = reply.status.as_u16();
                    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&reply.body)
                        && let Some(sid) = doc["sid"].as_str()
                    {
                        sids.push(sid.to_owned());
                    }
                }
                Err(e) => failures.push((to, e)),
            }
        }
        let mode = self.mode.as_str();
        let total = self.to.len();
        if failures.is_empty() {
            let mut detail = format!("HTTP {status}: {mode} to {total} number");
            if total > 1 {
                detail.push('s');
            }
            if !sids.is_empty() {
                detail.push_str(&format!(" ({})", sids.join(", ")));
            }
            return Ok(Delivered {
                detail: crate::one_line(&detail),
                template_fallback: fallback,
            });
        }
        if total == 1
            && let Some((_, e)) = failures.pop()
        {
            return Err(e);
        }
        let retryable = failures.iter().any(|(_, e)| e.retryable);
        let retry_after = failures.iter().filter_map(|(_, e)| e.retry_after).max();
        let list: Vec<String> = failures
            .iter()
            .map(|(to, e)| format!("{to}: {}", e.reason))
            .collect();
        let reason = format!(
            "{mode} to {} of {total} numbers failed: {}",
            failures.len(),
            list.join("; ")
        );
        let mut e = if retryable {
            DeliveryError::retry(reason)
        } else {
            DeliveryError::permanent(reason)
        };
        e.retry_after = retry_after;
        Err(e)
    }
}

impl Notifier for Twilio {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// Whether `n` is an E.164 number: `+`, then 2 to 15 digits, the first not 0.
pub fn is_e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|digits| {
        (2..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// The TwiML of a call saying `text`: its whitespace collapsed, at most [`MAX_SPOKEN`]
/// characters, XML-escaped.
pub fn twiml(text: &str) -> String {
    let spoken = text.split_whitespace().collect::<Vec<_>>().join(" ");
    format!(
        "<Response><Say>{}</Say></Response>",
        xml_escape(&truncate_chars(&spoken, MAX_SPOKEN))
    )
}

/// Escapes the five XML special characters.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_twiml() {
        assert_eq!(
            xml_escape(r#"a & b < c > d "e" 'f'"#),
            "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;"
        );
        assert_eq!(
            twiml("[CRITICAL] Web <front>.\n  got 503 & more"),
            "<Response><Say>[CRITICAL] Web &lt;front&gt;. got 503 &amp; more</Say></Response>"
        );
        let long = twiml(&"é".repeat(1000));
        let said = long
            .strip_prefix("<Response><Say>")
            .and_then(|s| s.strip_suffix("</Say></Response>"))
            .unwrap();
        assert_eq!(said.chars().count(), MAX_SPOKEN);
    }

    #[test]
    fn e164() {
        for good in ["+15005550006", "+33612345678", "+44"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "15005550006",
            "+",
            "+1",
            "+0123",
            "+1 500 555",
            "+1234567890123456",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
