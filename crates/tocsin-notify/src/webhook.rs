//! The `webhook` channel: one HTTP request per notification to the contact's `url`, a JSON body
//! (the message document, or the contact's `body` template), an `Idempotency-Key` header and,
//! with a `secret`, an HMAC-SHA256 signature of the body.
//!
//! Signature scheme: `X-Tocsin-Signature: sha256=<hex>` where `<hex>` is the lower-case hex of
//! HMAC-SHA256 keyed with the UTF-8 bytes of `settings.secret` over the exact body bytes sent.
//! Receivers recompute it over the raw body and compare in constant time (see
//! `docs/notifications.md` for a snippet).
//!
//! Outcomes: 2xx is delivered; 408, 429 and 5xx, timeouts and connection failures are retryable
//! (with `Retry-After` seconds when given); other statuses (3xx included: redirects are not
//! followed) and TLS/certificate failures are permanent.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use serde::Deserialize;
use sha2::Sha256;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::http_channel::{HttpTransport, Request, USER_AGENT};
use crate::http_client::Target;
use crate::template::{self, Place, Templates};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-tocsin-signature";

/// Headers Tocsin sets itself, which `settings.headers` may not name.
const RESERVED: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "idempotency-key",
    SIGNATURE_HEADER,
];

/// A webhook contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `POST` (default), `PUT` or `PATCH`.
    #[serde(default)]
    pub method: Option<String>,
    /// Extra request headers (e.g. `Authorization`); values are kept secret.
    #[serde(default)]
    pub headers: BTreeMap<String, Secret>,
    /// A template for the body (default: the message document as JSON).
    #[serde(default)]
    pub body: Option<String>,
    /// Key for the `X-Tocsin-Signature` HMAC.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust for `https` (besides the system's).
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built webhook channel.
pub struct Webhook {
    contact: String,
    target: Target,
    method: Method,
    headers: HeaderMap,
    secret: Option<Secret>,
    transport: HttpTransport,
    templates: Templates,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL's path and the headers may hold tokens: show only where it goes.
        f.debug_struct("Webhook")
            .field("contact", &self.contact)
            .field("to", &self.target.host_port())
            .field("method", &self.method)
            .field("signed", &self.secret.is_some())
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Builds the channel of a `webhook` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: WebhookSettings = crate::settings::parse(contact)?;
        let url = contact
            .url
            .as_ref()
            .ok_or_else(|| BuildError::setting(contact, "url", "required for a webhook"))?;
        let target =
            Target::parse(url.expose()).map_err(|e| BuildError::setting(contact, "url", e))?;
        let method = match s.method.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None | Some("POST") => Method::POST,
            Some("PUT") => Method::PUT,
            Some("PATCH") => Method::PATCH,
            Some(other) => {
                return Err(BuildError::setting(
                    contact,
                    "settings.method",
                    format!("{other:?} is not one of POST, PUT, PATCH"),
                ));
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        for (name, value) in &s.headers {
            let field = format!("settings.headers.{name}");
            let n = HeaderName::try_from(name.as_str())
                .map_err(|_| BuildError::setting(contact, &field, "not a valid header name"))?;
            if RESERVED.contains(&n.as_str()) {
                return Err(BuildError::setting(contact, &field, "is set by Tocsin"));
            }
            let mut v = HeaderValue::from_str(value.expose())
                .map_err(|_| BuildError::setting(contact, &field, "not a valid header value"))?;
            v.set_sensitive(true);
            headers.insert(n, v);
        }
        let transport = HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?;
        let templates = template::compile_checked(contact)?;
        Ok(Self {
            contact: contact.id.clone(),
            target,
            method,
            headers,
            secret: s.secret,
            transport,
            templates,
        })
    }

    /// The body for `m` and, when the contact's template failed, its error.
    fn body(&self, m: &Message) -> (Vec<u8>, Option<String>) {
        let document = || serde_json::to_vec(&m.document()).unwrap_or_default();
        if !self.templates.has(Place::Body) {
            return (document(), None);
        }
        match self.templates.render(Place::Body, &template::context(m)) {
            Ok(s) => (s.into_bytes(), None),
            Err(e) => {
                tracing::warn!(contact = %self.contact, error = %e, "body template failed; sending the message document");
                (document(), Some(e.to_string()))
            }
        }
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let (body, fallback) = self.body(m);
        let mut headers = self.headers.clone();
        if let Ok(v) = HeaderValue::from_str(&m.idempotency_key) {
            headers.insert("idempotency-key", v);
        }
        if let Some(secret) = &self.secret
            && let Ok(v) = HeaderValue::from_str(&signature(secret.expose().as_bytes(), &body))
        {
            headers.insert(SIGNATURE_HEADER, v);
        }
        let req = Request {
            method: self.method.clone(),
            target: self.target.clone(),
            headers,
            body: Bytes::from(body),
        };
        let reply = self.transport.send(req).await?;
        Ok(Delivered {
            detail: format!("HTTP {}", reply.status.as_u16()),
            template_fallback: fallback,
        })
    }
}

impl Notifier for Webhook {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// `sha256=<hex HMAC-SHA256(key, body)>`.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    use std::fmt::Write as _;
    // HMAC takes keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in tag {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
