//! What every HTTP-based channel shares: the transport settings (`timeout`, `ca_file`), one
//! request sent and judged the same way everywhere, and the title/text a chat-like channel
//! renders from its templates.
//!
//! A channel module (slack, pagerduty, …) parses its own settings struct, keeps an
//! [`HttpTransport`] and a [`Templates`], and in `send` builds its provider's request(s) with
//! [`Request`] and hands them to [`HttpTransport::send`]. Providers that answer 200 with an error
//! in the body (Slack's `ok: false`, Telegram's `ok: false`, Pushover's `status: 0`) inspect the
//! returned [`Reply`] body.
//!
//! Outcomes (as the webhook): 2xx is delivered; 408, 429 and 5xx, timeouts and connection
//! failures are retryable, with `Retry-After` seconds when given; other statuses, 3xx included
//! (redirects are not followed), and TLS/certificate failures are permanent.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use rustls::ClientConfig;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

pub(crate) use crate::http_client::Reply;
use crate::http_client::{self, Failure, Target};
use crate::template::{self, Place, Templates};
use crate::{BuildError, Defaults, DeliveryError, Message};

/// `tocsin/VERSION`, sent as `User-Agent` by every HTTP channel.
pub(crate) const USER_AGENT: &str = concat!("tocsin/", env!("CARGO_PKG_VERSION"));

/// How requests leave: TLS trust and the per-request timeout.
#[derive(Clone)]
pub(crate) struct HttpTransport {
    tls: Arc<ClientConfig>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// From a contact's `timeout` and `ca_file` settings (the server's default timeout when
    /// absent). Reads the CA file now, so a missing file is a load-time error.
    pub(crate) fn build(
        contact: &Contact,
        timeout: Option<Dur>,
        ca_file: Option<&str>,
        defaults: &Defaults,
    ) -> Result<Self, BuildError> {
        let timeout = timeout.map_or(defaults.webhook_timeout, Dur::get);
        if timeout.is_zero() {
            return Err(BuildError::setting(
                contact,
                "settings.timeout",
                "must be more than 0s",
            ));
        }
        let ca = match ca_file {
            None => None,
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                BuildError::setting(contact, "settings.ca_file", format!("{path}: {e}"))
            })?),
        };
        let tls = http_client::tls_config(ca.as_deref())
            .map_err(|e| BuildError::setting(contact, "settings.ca_file", e))?;
        Ok(Self { tls, timeout })
    }

    /// Sends `req` and judges the reply: `Ok` for 2xx, a [`DeliveryError`] otherwise (see the
    /// module documentation for which are retryable).
    pub(crate) async fn send(&self, req: Request) -> Result<Reply, DeliveryError> {
        let reply = self.exchange(&req).await?;
        judge(&req.target, reply)
    }

    /// Sends `req` and returns whatever status came back; transport failures are errors.
    pub(crate) async fn exchange(&self, req: &Request) -> Result<Reply, DeliveryError> {
        http_client::send(
            &req.target,
            &self.tls,
            req.method.clone(),
            &req.headers,
            req.body.clone(),
            self.timeout,
        )
        .await
        .map_err(|f| match f {
            Failure::Transient(r) => DeliveryError::retry(r),
            Failure::Tls(r) => DeliveryError::permanent(r),
            Failure::Timeout => DeliveryError::retry(format!(
                "no response from {} within {}",
                req.target.host_port(),
                Dur::from(self.timeout)
            )),
        })
    }
}

/// One request to a provider.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) target: Target,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Request {
    /// A `POST` of `body` (a JSON value) to `target`, with `Content-Type: application/json` and
    /// Tocsin's `User-Agent`.
    pub(crate) fn json(target: Target, body: &serde_json::Value) -> Self {
        let mut r = Self::new(
            Method::POST,
            target,
            serde_json::to_vec(body).unwrap_or_default(),
        );
        r.header(header::CONTENT_TYPE, "application/json");
        r
    }

    /// A `POST` of `fields` as `application/x-www-form-urlencoded` to `target`.
    pub(crate) fn form(target: Target, fields: &[(&str, &str)]) -> Self {
        let mut r = Self::new(Method::POST, target, form_encode(fields));
        r.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        r
    }

    /// A request with only Tocsin's `User-Agent` set.
    pub(crate) fn new(method: Method, target: Target, body: impl Into<Bytes>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        Self {
            method,
            target,
            headers,
            body: body.into(),
        }
    }

    /// Sets a header. A value that is not a valid header value (a control character in a
    /// token, say) is dropped: settings are checked at build time, see [`header_value`].
    pub(crate) fn header(&mut self, name: impl TryInto<HeaderName>, value: &str) -> &mut Self {
        if let (Ok(n), Ok(v)) = (name.try_into(), HeaderValue::from_str(value)) {
            self.headers.insert(n, v);
        }
        self
    }

    /// Sets a header whose value is secret (a key or token): marked sensitive, so it never
    /// shows in debug output.
    pub(crate) fn secret_header(
        &mut self,
        name: impl TryInto<HeaderName>,
        value: &str,
    ) -> &mut Self {
        if let (Ok(n), Ok(mut v)) = (name.try_into(), HeaderValue::from_str(value)) {
            v.set_sensitive(true);
            self.headers.insert(n, v);
        }
        self
    }
}

/// Checks at build time that a setting can be sent as a header value.
pub(crate) fn header_value(contact: &Contact, field: &str, value: &str) -> Result<(), BuildError> {
    HeaderValue::from_str(value)
        .map(drop)
        .map_err(|_| BuildError::setting(contact, field, "holds characters a header cannot carry"))
}

/// Parses a URL setting (an endpoint or a provider's base URL) into a target.
pub(crate) fn target(contact: &Contact, field: &str, url: &str) -> Result<Target, BuildError> {
    Target::parse(url).map_err(|e| BuildError::setting(contact, field, e))
}

/// The contact's `url`, required by the channel.
pub(crate) fn contact_url(contact: &Contact) -> Result<Target, BuildError> {
    let url = contact.url.as_ref().ok_or_else(|| {
        BuildError::setting(
            contact,
            "url",
            format!("required for a {} contact", contact.kind),
        )
    })?;
    target(contact, "url", url.expose())
}

/// `application/x-www-form-urlencoded` encoding of `fields`.
pub(crate) fn form_encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_component(&mut out, k);
        out.push('=');
        encode_component(&mut out, v);
    }
    out.into_bytes()
}

/// Percent-encodes `s` for a form or a URL path segment: unreserved characters stay, a space
/// becomes `%20` (valid in both; forms also accept `+`), everything else `%XX` per UTF-8 byte.
pub(crate) fn encode_component(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The standard judgement of a reply.
pub(crate) fn judge(target: &Target, reply: Reply) -> Result<Reply, DeliveryError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(reply);
    }
    let code = status.as_u16();
    let mut reason = format!("HTTP {code} from {}", target.host_port());
    if status.is_redirection() {
        reason.push_str(" (redirects are not followed; fix the URL)");
    }
    let snippet = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned();
    if !snippet.trim().is_empty() {
        reason.push_str(": ");
        reason.push_str(&snippet);
    }
    if status.is_server_error() || code == 408 || code == 429 {
        let mut e = DeliveryError::retry(reason);
        e.retry_after = retry_after(&reply.headers);
        Err(e)
    } else {
        Err(DeliveryError::permanent(reason))
    }
}

/// `Retry-After` in seconds (HTTP dates are ignored), at most a day.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(86_400)))
}

/// The reply body as JSON, or a permanent error naming the provider when it is not JSON.
pub(crate) fn reply_json(
    reply: &Reply,
    provider: &str,
) -> Result<serde_json::Value, DeliveryError> {
    serde_json::from_slice(&reply.body).map_err(|e| {
        DeliveryError::permanent(format!(
            "{provider} answered HTTP {} with a body that is not JSON: {e}",
            reply.status.as_u16()
        ))
    })
}

/// The rendered title and text of a message for a chat-like channel, from the contact's
/// `subject` and `body` templates or the channel defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Texts {
    /// One line: `[CRITICAL] Web front`.
    pub(crate) title: String,
    /// A few lines: the message, the alarm, the link.
    pub(crate) text: String,
    /// The error of a contact template that failed (its default was used instead).
    pub(crate) fallback: Option<String>,
}

/// Renders [`Texts`] for `m`. A failing default template (which tests rule out) falls back to a
/// plain title and the message, so an alarm always gets out.
pub(crate) fn texts(templates: &Templates, m: &Message) -> Texts {
    let ctx = template::context(m);
    let mut fallback = None;
    let mut render = |place: Place, plain: String| match templates.render_or_default(place, &ctx) {
        Ok((s, e)) => {
            if let Some(e) = e {
                fallback.get_or_insert(e.to_string());
            }
            s
        }
        Err(e) => {
            fallback.get_or_insert(e.to_string());
            plain
        }
    };
    let title = render(
        Place::Subject,
        format!("[{}] {}", m.status.as_str().to_uppercase(), m.check_name),
    );
    let text = render(Place::Body, m.message.clone());
    Texts {
        title: crate::one_line(&title),
        text: text.trim_end().to_owned(),
        fallback,
    }
}

/// The colour of a message, for channels that show one: green when the alarm closes, yellow for
/// a cleared fault or a warning, red otherwise (Amon's Mattermost colours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Colour {
    Green,
    Yellow,
    Red,
}

impl Colour {
    pub(crate) fn of(m: &Message) -> Self {
        use crate::MessageKind as K;
        use tocsin_core::Status;
        match m.kind {
            K::Closed | K::FlappingStopped => Self::Green,
            K::FaultCleared => Self::Yellow,
            _ if m.status == Status::Ok => Self::Green,
            _ if m.status == Status::Warning => Self::Yellow,
            _ => Self::Red,
        }
    }

    /// `#2eb886`-style hex (Slack's and Mattermost's good/warning/danger shades).
    pub(crate) fn hex(self) -> &'static str {
        match self {
            Self::Green => "#2eb886",
            Self::Yellow => "#daa038",
            Self::Red => "#a30200",
        }
    }

    /// The same colour as a 24-bit integer (Discord's embeds).
    pub(crate) fn rgb(self) -> u32 {
        u32::from_str_radix(&self.hex()[1..], 16).unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers of the API channels (PagerDuty, Opsgenie, Twilio, Datadog, Pushover, …).
// ---------------------------------------------------------------------------------------------

/// `s` cut to at most `max` characters (not bytes, so never inside a character), ending with `…`
/// when something was cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) if max == 0 => String::new(),
        Some(_) => {
            // Keep max - 1 characters and the ellipsis.
            let cut = s.char_indices().nth(max - 1).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(cut + 3);
            out.push_str(&s[..cut]);
            out.push('…');
            out
        }
    }
}

/// What a provider knows an alarm by: `<tenant>/<alarm id>`, the same for every message of the
/// alarm (PagerDuty's `dedup_key`, Opsgenie's `alias`, Datadog's `aggregation_key`).
pub(crate) fn alarm_ref(m: &Message) -> String {
    format!("{}/{}", m.tenant, m.alarm_id)
}

/// A secret setting the channel cannot do without: present, not empty, and sendable in a header
/// or a form.
pub(crate) fn required_secret(
    contact: &Contact,
    field: &str,
    value: Option<Secret>,
) -> Result<Secret, BuildError> {
    let value = value.ok_or_else(|| {
        BuildError::setting(
            contact,
            field,
            format!("required for a {} contact", contact.kind),
        )
    })?;
    if value.expose().trim().is_empty() {
        return Err(BuildError::setting(contact, field, "must not be empty"));
    }
    header_value(contact, field, value.expose())?;
    Ok(value)
}

/// The contact's `url` when given (it replaces the provider's endpoint, e.g. for a proxy or a
/// test server), `default` otherwise.
pub(crate) fn endpoint(contact: &Contact, default: &str) -> Result<Target, BuildError> {
    match &contact.url {
        Some(_) => contact_url(contact),
        None => target(contact, "url", default),
    }
}

/// The API base URL: the contact's `url` when given (it replaces the provider's base), `default`
/// otherwise; checked, without a trailing `/`, ready for [`join`].
pub(crate) fn base_url(contact: &Contact, default: &str) -> Result<String, BuildError> {
    let base = contact.url.as_ref().map_or(default, |u| u.expose());
    target(contact, "url", base)?;
    if base.contains(['?', '#']) {
        return Err(BuildError::setting(
            contact,
            "url",
            "is the API's base URL: it may not have a query or a fragment",
        ));
    }
    Ok(base.trim_end_matches('/').to_owned())
}

/// `base` (from [`base_url`]) followed by `path_and_query` (which starts with `/`).
pub(crate) fn join(base: &str, path_and_query: &str) -> Result<Target, DeliveryError> {
    Target::parse(&format!("{base}{path_and_query}"))
        .map_err(|e| DeliveryError::permanent(format!("cannot build the request URL: {e}")))
}

/// Sends `req` to `provider` and judges the reply as [`judge`] does (2xx delivered; 408, 429 and
/// 5xx retryable with `Retry-After`; other statuses permanent), with a reason that quotes the
/// provider's own error (see [`provider_error`]) and never shows any of `secrets`, even when the
/// provider echoes one.
pub(crate) async fn send_explained(
    transport: &HttpTransport,
    req: Request,
    provider: &str,
    secrets: &[&str],
) -> Result<Reply, DeliveryError> {
    let reply = transport.exchange(&req).await?;
    if reply.status.is_success() {
        return Ok(reply);
    }
    let mut reason = format!(
        "{provider}: HTTP {} from {}",
        reply.status.as_u16(),
        req.target.host_port()
    );
    if reply.status.is_redirection() {
        reason.push_str(" (redirects are not followed; fix the URL)");
    }
    let said = provider_error(&reply.body)
        .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
    if !said.trim().is_empty() {
        reason.push_str(": ");
        reason.push_str(&said);
    }
    let reason = crate::one_line(&redact(&reason, secrets));
    match judge(&req.target, reply) {
        Ok(reply) => Ok(reply),
        Err(mut e) => {
            e.reason = reason;
            Err(e)
        }
    }
}

/// The delivered detail of a provider's JSON answer: `HTTP 202: <said> (<label> <id>)`, where
/// `said` and `id` are JSON pointers (`/result`, `/event/id`); parts the answer lacks are left
/// out.
pub(crate) fn delivered(
    reply: &Reply,
    said: &str,
    (label, id): (&str, &str),
    template_fallback: Option<String>,
) -> crate::Delivered {
    let mut detail = format!("HTTP {}", reply.status.as_u16());
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&reply.body)
        && let Some(said) = doc.pointer(said).and_then(serde_json::Value::as_str)
    {
        detail.push_str(": ");
        detail.push_str(said);
        match doc.pointer(id) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(v)) => detail.push_str(&format!(" ({label} {v})")),
            Some(v) => detail.push_str(&format!(" ({label} {v})")),
        }
    }
    crate::Delivered {
        detail: crate::one_line(&detail),
        template_fallback,
    }
}

/// `s` with every occurrence of a (non-empty) secret replaced by `********`.
pub(crate) fn redact(s: &str, secrets: &[&str]) -> String {
    let mut out = s.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret, "********");
    }
    out
}

/// The error a provider put in a JSON body, one line: Twilio's `code` and `message`
/// (`error 21211: The 'To' number … is not valid`), PagerDuty's `message` and `errors`, Opsgenie's
/// `message` and `errors` map, Datadog's and Pushover's `errors` list. `None` when the body is not
/// a JSON object with any of those.
pub(crate) fn provider_error(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(message) = doc.get("message").and_then(|v| v.as_str()) {
        parts.push(message.to_owned());
    }
    match doc.get("errors") {
        Some(serde_json::Value::Array(list)) => parts.extend(list.iter().map(plain)),
        Some(serde_json::Value::Object(map)) => {
            parts.extend(map.iter().map(|(k, v)| format!("{k}: {}", plain(v))));
        }
        Some(v) if !v.is_null() => parts.push(plain(v)),
        _ => {}
    }
    let mut said = parts.join("; ");
    if let Some(code) = doc.get("code").and_then(serde_json::Value::as_i64) {
        said = if said.is_empty() {
            format!("error {code}")
        } else {
            format!("error {code}: {said}")
        };
    }
    (!said.is_empty()).then_some(said)
}

/// A JSON value as text: strings without quotes, anything else as JSON.
fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("To", "+33 6"), ("Body", "a&b=c é")]),
            b"To=%2B33%206&Body=a%26b%3Dc%20%C3%A9".to_vec()
        );
    }

    #[test]
    fn retry_after_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(header::RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn colours() {
        let mut m = Message::sample();
        assert_eq!(Colour::of(&m), Colour::Red);
        m.kind = crate::MessageKind::FaultCleared;
        assert_eq!(Colour::of(&m), Colour::Yellow);
        m.kind = crate::MessageKind::Closed;
        assert_eq!(Colour::of(&m), Colour::Green);
        assert_eq!(Colour::Green.rgb(), 0x2eb886);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "ab…");
        assert_eq!(truncate_chars("ééééé", 4), "ééé…");
        assert_eq!(truncate_chars("ééééé", 4).chars().count(), 4);
        assert_eq!(truncate_chars("", 0), "");
        assert_eq!(truncate_chars("a", 0), "");
        assert_eq!(truncate_chars("日本語テキスト", 100), "日本語テキスト");
    }

    #[test]
    fn provider_errors_are_quoted() {
        assert_eq!(
            provider_error(
                br#"{"code":21211,"message":"The 'To' number is not valid.","status":400}"#
            )
            .as_deref(),
            Some("error 21211: The 'To' number is not valid.")
        );
        assert_eq!(
            provider_error(
                br#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect"]}"#
            )
            .as_deref(),
            Some("Event object is invalid; Length of 'routing_key' is incorrect")
        );
        assert_eq!(
            provider_error(br#"{"message":"Not processable","errors":{"message":"empty"}}"#)
                .as_deref(),
            Some("Not processable; message: empty")
        );
        assert_eq!(
            provider_error(
                br#"{"user":"invalid","errors":["user identifier is invalid"],"status":0}"#
            )
            .as_deref(),
            Some("user identifier is invalid")
        );
        assert_eq!(provider_error(b"<html>oops</html>"), None);
        assert_eq!(provider_error(br#"{"status":"ok"}"#), None);
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("key abc123 is bad: abc123", &["abc123", ""]),
            "key ******** is bad: ********"
        );
    }
}
