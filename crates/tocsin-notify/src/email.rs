//! The `email` channel: SMTP through lettre (plain, STARTTLS or implicit TLS; AUTH PLAIN/LOGIN),
//! rustls with aws-lc-rs, Amon's threaded subjects and thread headers.
//!
//! Threading: every message of an alarm gets `Message-ID: <tocsin.TENANT.ALARM.SEQUENCE@DOMAIN>`
//! (DOMAIN is the `from` address's domain); from the second message on, `In-Reply-To` and
//! `References` name the first message, and the default subject starts with `Re: `, so mail
//! clients show one thread per alarm. A retried message keeps its `Message-ID`.
//!
//! Outcomes: SMTP 2xx is delivered; 4xx replies, timeouts and connection failures are retryable;
//! 5xx replies (rejected credentials or recipients), protocol and TLS failures are permanent.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::template::{self, Place, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain SMTP, no encryption (only for a relay on the same host or network). Port 25.
    None,
    /// Plain connection upgraded with STARTTLS, which must succeed. Port 587.
    Starttls,
    /// TLS from the first byte ("SMTPS"). Port 465.
    Tls,
}

impl TlsMode {
    fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::Starttls => 587,
            Self::Tls => 465,
        }
    }
}

/// An email contact's `settings`; the same fields make the server-wide defaults
/// ([`Defaults::email`]), which a contact's settings override field by field.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// SMTP server host name or address.
    #[serde(default)]
    pub host: Option<String>,
    /// SMTP port (default by `tls`: 25, 587, 465).
    #[serde(default)]
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default)]
    pub tls: Option<TlsMode>,
    /// AUTH user name (with `password`).
    #[serde(default)]
    pub username: Option<String>,
    /// AUTH password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The sender, `Tocsin <tocsin@example.com>` or `tocsin@example.com`.
    #[serde(default)]
    pub from: Option<String>,
    /// A PEM file of extra CA certificates to trust (besides the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Timeout of each SMTP command (default 30s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// Subject template (default: Amon's `[Alarm: NEW, check=web] acme#42`).
    #[serde(default)]
    pub subject: Option<String>,
    /// Body template (plain text).
    #[serde(default)]
    pub body: Option<String>,
}

impl EmailSettings {
    /// These settings, with `defaults` filling what they leave out.
    fn or(self, d: &Self) -> Self {
        Self {
            host: self.host.or_else(|| d.host.clone()),
            port: self.port.or(d.port),
            tls: self.tls.or(d.tls),
            username: self.username.or_else(|| d.username.clone()),
            password: self.password.or_else(|| d.password.clone()),
            from: self.from.or_else(|| d.from.clone()),
            ca_file: self.ca_file.or_else(|| d.ca_file.clone()),
            timeout: self.timeout.or(d.timeout),
            subject: self.subject,
            body: self.body,
        }
    }
}

/// A built email channel.
pub struct Email {
    contact: String,
    server: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Mailboxes,
    domain: String,
    templates: Templates,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("contact", &self.contact)
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("to", &self.to.to_string())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// Builds the channel of an `email` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s = crate::settings::parse::<EmailSettings>(contact)?.or(&defaults.email);
        let bad = |field: &str, reason: String| BuildError::setting(contact, field, reason);
        let to_str = contact
            .to
            .as_deref()
            .ok_or_else(|| bad("to", "required for an email contact".into()))?;
        let to: Mailboxes = to_str
            .parse()
            .map_err(|e| bad("to", format!("{to_str:?} is not an address list: {e}")))?;
        if to.iter().next().is_none() {
            return Err(bad("to", "no address".into()));
        }
        let from_str = s.from.as_deref().ok_or_else(|| {
            bad(
                "settings.from",
                "required (here or in the server's defaults)".into(),
            )
        })?;
        let from: Mailbox = from_str.parse().map_err(|e| {
            bad(
                "settings.from",
                format!("{from_str:?} is not an address: {e}"),
            )
        })?;
        let domain = from.email.domain().to_owned();
        let host = s.host.clone().ok_or_else(|| {
            bad(
                "settings.host",
                "required (here or in the server's defaults)".into(),
            )
        })?;
        let mode = s.tls.unwrap_or(TlsMode::Starttls);
        let port = s.port.unwrap_or(mode.default_port());
        let timeout = s.timeout.map_or(Duration::from_secs(30), Dur::get);
        let tls = match mode {
            TlsMode::None => Tls::None,
            TlsMode::Starttls | TlsMode::Tls => {
                let mut params = TlsParameters::builder(host.clone());
                if let Some(path) = &s.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|e| bad("settings.ca_file", format!("{path}: {e}")))?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| bad("settings.ca_file", format!("{path}: {e}")))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| bad("settings.tls", e.to_string()))?;
                if mode == TlsMode::Tls {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        match (&s.username, &s.password) {
            (Some(user), Some(pass)) => {
                builder =
                    builder.credentials(Credentials::new(user.clone(), pass.expose().to_owned()));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(bad("settings.password", "required with username".into()));
            }
            (None, Some(_)) => {
                return Err(bad("settings.username", "required with password".into()));
            }
        }
        let templates = template::compile_checked(contact)?;
        Ok(Self {
            contact: contact.id.clone(),
            server: format!("{host}:{port}"),
            transport: builder.build(),
            from,
            to,
            domain,
            templates,
        })
    }

    /// The `Message-ID` of message `sequence` of `m`'s alarm.
    fn message_id(&self, m: &Message, sequence: u32) -> String {
        format!(
            "<tocsin.{}.{}.{sequence}@{}>",
            id_atom(&m.tenant),
            m.alarm_id,
            self.domain
        )
    }

    /// The email for `m` and, when a contact template failed, its error.
    fn compose(&self, m: &Message) -> Result<(lettre::Message, Option<String>), DeliveryError> {
        let ctx = template::context(m);
        let tmpl = |e: crate::TemplateError| DeliveryError::permanent(e.to_string());
        let (subject, e1) = self
            .templates
            .render_or_default(Place::Subject, &ctx)
            .map_err(tmpl)?;
        let (body, e2) = self
            .templates
            .render_or_default(Place::Body, &ctx)
            .map_err(tmpl)?;
        let subject = crate::one_line(&subject);
        let mut b = lettre::Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(self.message_id(m, m.sequence)))
            .header(ContentType::TEXT_PLAIN);
        for to in self.to.iter() {
            b = b.to(to.clone());
        }
        if m.sequence > 1 {
            let root = self.message_id(m, 1);
            b = b.in_reply_to(root.clone()).references(root);
        }
        let email = b
            .body(body)
            .map_err(|e| DeliveryError::permanent(format!("cannot build the email: {e}")))?;
        Ok((email, e1.or(e2).map(|e| e.to_string())))
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (email, fallback) = self.compose(m)?;
        match self.transport.send(email).await {
            Ok(resp) => Ok(Delivered {
                detail: crate::one_line(&format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                )),
                template_fallback: fallback,
            }),
            Err(e) => Err(classify(&self.server, &e)),
        }
    }
}

impl Notifier for Email {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

fn classify(server: &str, e: &lettre::transport::smtp::Error) -> DeliveryError {
    let mut reason = format!("SMTP {server}: {e}");
    let mut source = e.source();
    let mut tls = e.is_tls();
    while let Some(s) = source {
        // lettre's messages repeat their sources; add only what is new.
        let text = s.to_string();
        if !reason.contains(&text) {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        tls |= is_rustls(s);
        source = s.source();
    }
    if tls {
        // A handshake or certificate failure (STARTTLS ones come as connection errors): only a
        // configuration change fixes it.
        DeliveryError::permanent(reason)
    } else if e.is_transient() || e.is_timeout() {
        DeliveryError::retry(reason)
    } else if e.is_permanent() || e.is_client() || e.is_response() {
        DeliveryError::permanent(reason)
    } else {
        // Connection and network failures: the server may be back later.
        DeliveryError::retry(reason)
    }
}

/// Whether `e` is a rustls error, bare or inside an I/O error.
fn is_rustls(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<rustls::Error>().is_some()
        || e.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
}

/// `s` reduced to what a Message-ID's left part may hold (letters, digits, `-`, `_`).
fn id_atom(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() { "_".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_atoms() {
        assert_eq!(id_atom("acme"), "acme");
        assert_eq!(id_atom("a.b@c d"), "a_b_c_d");
        assert_eq!(id_atom(""), "_");
    }

    #[test]
    fn settings_fall_back_to_defaults() {
        let d = EmailSettings {
            host: Some("smtp.example".into()),
            port: Some(2525),
            from: Some("t@example.com".into()),
            ..EmailSettings::default()
        };
        let s = EmailSettings {
            port: Some(25),
            ..EmailSettings::default()
        }
        .or(&d);
        assert_eq!(s.host.as_deref(), Some("smtp.example"));
        assert_eq!(s.port, Some(25));
        assert_eq!(s.from.as_deref(), Some("t@example.com"));
    }
}
