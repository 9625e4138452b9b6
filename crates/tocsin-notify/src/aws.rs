//! What the AWS channels ([`crate::cloudwatch`], [`crate::eventbridge`]) share: credentials and
//! region from a contact's settings or Tocsin's environment, AWS Signature Version 4 signing of a
//! [`Request`] (with the `aws-sigv4` crate), and the judgement of AWS's answers.
//!
//! **Credentials**, looked up once when the channel is built:
//! 1. `settings.access_key_id` and `settings.secret_access_key` (both or neither), with an optional
//!    `settings.session_token`;
//! 2. otherwise the environment: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optionally
//!    `AWS_SESSION_TOKEN`.
//!
//! There is no instance-metadata (IMDS), profile-file or SSO lookup: temporary credentials must be
//! handed over through the environment (and Tocsin restarted when they expire).
//!
//! **Region**: `settings.region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`.
//!
//! **Signing**: header signing (`Authorization`, `X-Amz-Date`, and `X-Amz-Security-Token` with a
//! session token) over the method, path, query, the `Host` the client sends (the URL's
//! authority, as written), every header but `User-Agent`, and the SHA-256 of the body.
//!
//! **Answers**: 2xx is the caller's to read. Errors come as XML (`<ErrorResponse><Error><Code>…
//! </Code><Message>…</Message>`, the query protocol of CloudWatch) or JSON (`{"__type": …,
//! "message": …}`, EventBridge); the reason quotes the code and message. Throttling codes
//! (`Throttling`, `ThrottlingException`, …), AWS's internal errors, 408, 429 and 5xx are
//! retryable (with `Retry-After` when given); anything else, rejected credentials and invalid
//! parameters included, is permanent.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, Method, Uri};
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::http_channel::{self, HttpTransport, Reply, Request, redact};
use crate::http_client::Target;
use crate::{BuildError, Defaults, DeliveryError};

/// The settings every AWS channel takes (each channel's settings struct repeats them, since
/// `deny_unknown_fields` does not mix with `#[serde(flatten)]`).
#[derive(Debug, Default)]
pub(crate) struct AwsSettings {
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<Secret>,
    pub(crate) session_token: Option<Secret>,
    pub(crate) region: Option<String>,
    pub(crate) timeout: Option<Dur>,
    pub(crate) ca_file: Option<String>,
}

/// A key pair and optional session token.
#[derive(Clone)]
pub(crate) struct Credentials {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    /// Where they came from: `settings` or `environment`.
    source: &'static str,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    /// A key pair (and token) given directly.
    #[cfg(test)]
    pub(crate) fn new(access_key_id: &str, secret_access_key: &str, token: Option<&str>) -> Self {
        Self {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: Secret::new(secret_access_key),
            session_token: token.map(Secret::new),
            source: "settings",
        }
    }

    /// The secrets, to keep them out of error messages.
    /// The secret parts, for redacting messages (AWS's signature-mismatch messages quote the
    /// canonical request, which holds the session token).
    fn secrets(&self) -> Vec<&str> {
        std::iter::once(self.secret_access_key.expose())
            .chain(self.session_token.as_ref().map(Secret::expose))
            .collect()
    }
}

/// The process environment, read when a channel is built.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Credentials from the settings or else `env` (see the module documentation).
pub(crate) fn credentials(
    contact: &Contact,
    s: &AwsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, BuildError> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let creds = match (&s.access_key_id, &s.secret_access_key) {
        (Some(id), Some(secret)) => Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: s.session_token.clone(),
            source: "settings",
        },
        (Some(_), None) => {
            return Err(BuildError::setting(
                contact,
                "settings.secret_access_key",
                "required with settings.access_key_id",
            ));
        }
        (None, Some(_)) => {
            return Err(BuildError::setting(
                contact,
                "settings.access_key_id",
                "required with settings.secret_access_key",
            ));
        }
        (None, None) if s.session_token.is_some() => {
            return Err(BuildError::setting(
                contact,
                "settings.session_token",
                "only with settings.access_key_id and settings.secret_access_key",
            ));
        }
        (None, None) => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials {
                access_key_id: id,
                secret_access_key: Secret::new(secret),
                session_token: env("AWS_SESSION_TOKEN").map(Secret::new),
                source: "environment",
            },
            _ => {
                return Err(BuildError::setting(
                    contact,
                    "settings.access_key_id",
                    "required with settings.secret_access_key (or set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY in Tocsin's environment)",
                ));
            }
        },
    };
    let id = &creds.access_key_id;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        let from = if creds.source == "settings" {
            ""
        } else {
            " (read from AWS_ACCESS_KEY_ID)"
        };
        return Err(BuildError::setting(
            contact,
            "settings.access_key_id",
            format!("an access key id is letters and digits (AKIA…, ASIA…){from}"),
        ));
    }
    for (value, field) in [
        (Some(&creds.secret_access_key), "settings.secret_access_key"),
        (creds.session_token.as_ref(), "settings.session_token"),
    ] {
        if let Some(v) = value {
            if v.expose().is_empty() {
                return Err(BuildError::setting(contact, field, "must not be empty"));
            }
            http_channel::header_value(contact, field, v.expose())?;
        }
    }
    Ok(creds)
}

/// The region from the settings or else `env`, checked to be a plain region name.
pub(crate) fn region(
    contact: &Contact,
    s: &AwsSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, BuildError> {
    let region = s
        .region
        .clone()
        .or_else(|| env("AWS_REGION").filter(|v| !v.trim().is_empty()))
        .or_else(|| env("AWS_DEFAULT_REGION").filter(|v| !v.trim().is_empty()))
        .ok_or_else(|| {
            BuildError::setting(
                contact,
                "settings.region",
                "required, e.g. eu-west-1 (or set AWS_REGION in Tocsin's environment)",
            )
        })?;
    let region = region.trim().to_owned();
    let plain = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !plain {
        return Err(BuildError::setting(
            contact,
            "settings.region",
            "not a region name (lower-case letters, digits and dashes, e.g. eu-west-1)",
        ));
    }
    Ok(region)
}

/// Signs `req` in place with SigV4 for `service` in `region` at `time`: sets `X-Amz-Date`,
/// `Authorization` and, with a session token, `X-Amz-Security-Token`. `url` must be the URL the
/// request goes to (its authority is the `Host` header the client sends).
pub(crate) fn sign_request(
    req: &mut Request,
    url: &Uri,
    creds: &Credentials,
    service: &str,
    region: &str,
    time: SystemTime,
) -> Result<(), String> {
    let authority = url.authority().ok_or("the URL has no host")?.as_str();
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        req.headers.remove(name);
    }
    let mut headers = vec![("host", authority)];
    headers.extend(
        req.headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    );
    let identity = AwsCredentials::new(
        creds.access_key_id.as_str(),
        creds.secret_access_key.expose(),
        creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "tocsin",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing: {e}"))?
        .into();
    let signable = SignableRequest::new(
        req.method.as_str(),
        url.to_string(),
        headers.into_iter(),
        SignableBody::Bytes(&req.body),
    )
    .map_err(|e| format!("signing: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let (signed, _) = instructions.into_parts();
    for h in signed {
        if h.sensitive() || h.name() == "authorization" {
            req.secret_header(h.name(), h.value());
        } else {
            req.header(h.name(), h.value());
        }
    }
    Ok(())
}

/// One AWS API endpoint of one contact: where, as whom, how to send, and how to judge answers.
#[derive(Debug)]
pub(crate) struct AwsClient {
    /// `CloudWatch PutMetricData`: starts every error reason.
    operation: &'static str,
    /// The signing name: `monitoring`, `events`.
    service: &'static str,
    region: String,
    credentials: Credentials,
    target: Target,
    url: Uri,
    transport: HttpTransport,
}

impl AwsClient {
    /// From the contact's AWS settings: the endpoint is the contact's `url` when set, else
    /// `https://{service}.{region}.amazonaws.com/`.
    pub(crate) fn build(
        contact: &Contact,
        s: &AwsSettings,
        service: &'static str,
        operation: &'static str,
        defaults: &Defaults,
    ) -> Result<Self, BuildError> {
        Self::build_with_env(contact, s, service, operation, defaults, &process_env)
    }

    /// [`Self::build`] with another environment (tests).
    pub(crate) fn build_with_env(
        contact: &Contact,
        s: &AwsSettings,
        service: &'static str,
        operation: &'static str,
        defaults: &Defaults,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BuildError> {
        let credentials = credentials(contact, s, env)?;
        let region = region(contact, s, env)?;
        let (target, url) = match &contact.url {
            Some(url) => (
                http_channel::contact_url(contact)?,
                parse_uri(contact, url.expose())?,
            ),
            None => {
                let url = format!("https://{service}.{region}.amazonaws.com/");
                (
                    http_channel::target(contact, "url", &url)?,
                    parse_uri(contact, &url)?,
                )
            }
        };
        Ok(Self {
            operation,
            service,
            region,
            credentials,
            target,
            url,
            transport: HttpTransport::build(contact, s.timeout, s.ca_file.as_deref(), defaults)?,
        })
    }

    /// A signed `POST` of `body` with `headers` (besides `User-Agent` and the signature's),
    /// signed now.
    pub(crate) fn post(
        &self,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Request, DeliveryError> {
        let mut req = Request::new(Method::POST, self.target.clone(), body);
        for (name, value) in headers {
            req.header(*name, value);
        }
        sign_request(
            &mut req,
            &self.url,
            &self.credentials,
            self.service,
            &self.region,
            SystemTime::now(),
        )
        .map_err(|e| DeliveryError::permanent(format!("{}: {e}", self.operation)))?;
        Ok(req)
    }

    /// Sends `req`: the reply when 2xx, else an error quoting AWS's code and message.
    pub(crate) async fn send(&self, req: Request) -> Result<Reply, DeliveryError> {
        let reply = self.transport.exchange(&req).await?;
        if reply.status.is_success() {
            return Ok(reply);
        }
        Err(self.judge_error(&reply))
    }

    /// The error for a non-2xx reply.
    fn judge_error(&self, reply: &Reply) -> DeliveryError {
        let code = reply.status.as_u16();
        let mut reason = format!(
            "{}: HTTP {code} from {}",
            self.operation,
            self.target.host_port()
        );
        if reply.status.is_redirection() {
            reason.push_str(" (redirects are not followed; fix the URL)");
        }
        let error = parse_error(&reply.body, &reply.headers);
        match &error {
            Some(e) => {
                reason.push_str(": ");
                reason.push_str(&e.code);
                if !e.message.is_empty() {
                    reason.push_str(": ");
                    reason.push_str(&e.message);
                }
            }
            None => {
                let body = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]);
                if !body.trim().is_empty() {
                    reason.push_str(": ");
                    reason.push_str(body.trim());
                }
            }
        }
        let reason = redact(&reason, &self.credentials.secrets());
        let retryable = reply.status.is_server_error()
            || code == 408
            || code == 429
            || error.as_ref().is_some_and(|e| retryable_code(&e.code));
        if retryable {
            let mut e = DeliveryError::retry(reason);
            e.retry_after = http_channel::retry_after(&reply.headers);
            e
        } else {
            DeliveryError::permanent(reason)
        }
    }

    /// An error reason starting with the operation (for errors found in a 2xx body).
    pub(crate) fn reason(&self, what: &str) -> String {
        redact(
            &format!("{}: {what}", self.operation),
            &self.credentials.secrets(),
        )
    }

    /// The region requests are signed for.
    #[cfg(test)]
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The URL requests go to.
    #[cfg(test)]
    pub(crate) fn url(&self) -> &Uri {
        &self.url
    }
}

fn parse_uri(contact: &Contact, url: &str) -> Result<Uri, BuildError> {
    url.parse()
        .map_err(|e| BuildError::setting(contact, "url", format!("not a URL: {e}")))
}

/// An error AWS returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AwsError {
    /// `Throttling`, `AccessDeniedException`, …
    pub(crate) code: String,
    /// AWS's message (its first paragraph), possibly empty.
    pub(crate) message: String,
}

/// The error code and message of an AWS error answer: XML (query protocol), JSON (JSON
/// protocols), or only the `x-amzn-ErrorType` / `x-amzn-query-error` headers.
pub(crate) fn parse_error(body: &[u8], headers: &HeaderMap) -> Option<AwsError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim_start();
    let (code, message) = if trimmed.starts_with('<') {
        (
            xml_element(trimmed, "Code"),
            xml_element(trimmed, "Message"),
        )
    } else if trimmed.starts_with('{') {
        let doc: serde_json::Value = serde_json::from_str(trimmed).unwrap_or_default();
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| doc.get(*k).and_then(serde_json::Value::as_str))
                .map(str::to_owned)
        };
        (
            pick(&["__type", "code", "Code"]),
            pick(&["message", "Message", "errorMessage"]),
        )
    } else {
        (None, None)
    };
    let header = |name: &str, sep: char| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(sep).next())
            .map(str::to_owned)
    };
    let code = code
        .or_else(|| header("x-amzn-query-error", ';'))
        .or_else(|| header("x-amzn-errortype", ':'))?;
    // JSON protocols may qualify the code: `com.amazon.coral.service#ThrottlingException` or
    // `ThrottlingException:http://internal.amazon.com/…`.
    let code = code.rsplit('#').next().unwrap_or(&code);
    let code = code.split(':').next().unwrap_or(code).trim().to_owned();
    if code.is_empty() {
        return None;
    }
    let message = message.unwrap_or_default();
    let first = message.split("\n\n").next().unwrap_or_default();
    Some(AwsError {
        code,
        message: crate::one_line(first),
    })
}

/// The text of the first `<name>…</name>` element, entities decoded.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(
        xml[start..start + len]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// Whether an AWS error code says to try again later: throttling, or a transient fault on
/// AWS's side (the codes AWS's SDKs retry).
pub(crate) fn retryable_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "TransactionInProgressException"
            | "InternalFailure"
            | "InternalError"
            | "InternalException"
            | "InternalServiceError"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "RequestTimeout"
            | "RequestTimeoutException"
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use http::HeaderValue;
    use tocsin_core::check::Origin;
    use tocsin_core::directory::{ContactKind, Settings};

    use super::*;

    /// AWS's test-suite credentials and time (aws-sig-v4-test-suite, 2015-08-30T12:36:00Z).
    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn vector_time() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn post(url: &str, body: &str) -> (Request, Uri) {
        let target = Target::parse(url).unwrap();
        (
            Request::new(Method::POST, target, body.to_owned()),
            url.parse().unwrap(),
        )
    }

    fn header<'a>(req: &'a Request, name: &str) -> &'a str {
        req.headers.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn signs_aws_post_vanilla_vector() {
        // aws-sig-v4-test-suite/post-vanilla: POST / to example.amazonaws.com, no body.
        let (mut req, url) = post("https://example.amazonaws.com/", "");
        let creds = Credentials::new(AKID, SECRET, None);
        sign_request(
            &mut req,
            &url,
            &creds,
            "service",
            "us-east-1",
            vector_time(),
        )
        .unwrap();
        assert_eq!(header(&req, "x-amz-date"), "20150830T123600Z");
        assert_eq!(
            header(&req, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
        assert!(req.headers.get("x-amz-security-token").is_none());
        // The secret never shows in debug output.
        assert!(!format!("{req:?}").contains(SECRET));
        assert!(!format!("{creds:?}").contains(SECRET));
    }

    #[test]
    fn signs_aws_session_token_vector() {
        // aws-sig-v4-test-suite/post-sts-header-before: the token is signed.
        let (mut req, url) = post("https://example.amazonaws.com/", "");
        let creds = Credentials::new(AKID, SECRET, Some(TOKEN));
        sign_request(
            &mut req,
            &url,
            &creds,
            "service",
            "us-east-1",
            vector_time(),
        )
        .unwrap();
        assert_eq!(header(&req, "x-amz-security-token"), TOKEN);
        assert_eq!(
            header(&req, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-security-token, \
             Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"
        );
        assert!(!format!("{req:?}").contains(TOKEN));
        assert!(!format!("{creds:?}").contains(TOKEN));
    }

    fn signature(req: &Request) -> String {
        let auth = header(req, "authorization");
        auth.rsplit("Signature=").next().unwrap().to_owned()
    }

    #[test]
    fn signature_covers_body_headers_host_and_time_and_is_deterministic() {
        let creds = Credentials::new(AKID, SECRET, None);
        let signed = |url: &str, body: &str, ctype: &str, time: SystemTime| {
            let (mut req, uri) = post(url, body);
            req.header("content-type", ctype);
            sign_request(&mut req, &uri, &creds, "monitoring", "eu-west-1", time).unwrap();
            req
        };
        let t = vector_time();
        let url = "https://monitoring.eu-west-1.amazonaws.com/";
        let a = signed(url, "Action=PutMetricData", "text/plain", t);
        let b = signed(url, "Action=PutMetricData", "text/plain", t);
        assert_eq!(header(&a, "authorization"), header(&b, "authorization"));
        let sig = signature(&a);
        assert_eq!(sig.len(), 64);
        assert!(sig.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(
            header(&a, "authorization").contains("SignedHeaders=content-type;host;x-amz-date,"),
            "{}",
            header(&a, "authorization")
        );
        for other in [
            signed(url, "Action=PutMetricDatb", "text/plain", t),
            signed(url, "Action=PutMetricData", "text/html", t),
            signed(
                "https://monitoring.eu-west-1.amazonaws.com:443/",
                "Action=PutMetricData",
                "text/plain",
                t,
            ),
            signed(
                url,
                "Action=PutMetricData",
                "text/plain",
                t + Duration::from_secs(1),
            ),
        ] {
            assert_ne!(signature(&other), sig);
        }
        // Signing again replaces the earlier signature.
        let mut again = a;
        let uri: Uri = url.parse().unwrap();
        sign_request(&mut again, &uri, &creds, "monitoring", "eu-west-1", t).unwrap();
        assert_eq!(signature(&again), sig);
        assert_eq!(again.headers.get_all("authorization").iter().count(), 1);
    }

    fn contact(settings: serde_json::Value) -> Contact {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_value(settings).unwrap();
        Contact {
            id: "aws".into(),
            name: "AWS".into(),
            kind: ContactKind::Cloudwatch,
            to: None,
            url: None,
            settings: Settings::from(map),
            rate_limit: None,
            origin: Origin::default(),
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn field(e: BuildError) -> String {
        match e {
            BuildError::Setting { field, .. } => field,
            other => panic!("{other}"),
        }
    }

    #[test]
    fn credentials_from_settings_then_environment() {
        let c = contact(serde_json::json!({}));
        let keys = AwsSettings {
            access_key_id: Some("AKIA1".into()),
            secret_access_key: Some(Secret::new("s3cret")),
            session_token: Some(Secret::new("tok3n")),
            ..AwsSettings::default()
        };
        let full_env = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ("AWS_SESSION_TOKEN", "envtoken"),
        ]);
        // Settings win over the environment.
        let got = credentials(&c, &keys, &full_env).unwrap();
        assert_eq!(
            (got.access_key_id.as_str(), got.source),
            ("AKIA1", "settings")
        );
        assert_eq!(got.session_token.unwrap().expose(), "tok3n");
        // No keys in the settings: the environment.
        let got = credentials(&c, &AwsSettings::default(), &full_env).unwrap();
        assert_eq!(
            (got.access_key_id.as_str(), got.source),
            ("AKIAENV", "environment")
        );
        assert_eq!(got.secret_access_key.expose(), "envsecret");
        assert_eq!(got.session_token.unwrap().expose(), "envtoken");
        let got = credentials(
            &c,
            &AwsSettings::default(),
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKIAENV"),
                ("AWS_SECRET_ACCESS_KEY", "envsecret"),
            ]),
        )
        .unwrap();
        assert!(got.session_token.is_none());
        // Neither: the error names the settings and the variables.
        let e = credentials(&c, &AwsSettings::default(), &env(&[])).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("settings.access_key_id") && msg.contains("AWS_SECRET_ACCESS_KEY"),
            "{msg}"
        );
        // Half of the environment is not enough, and empty values count as missing.
        let half = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", ""),
        ]);
        assert!(credentials(&c, &AwsSettings::default(), &half).is_err());
        // Half of the settings is an error, whatever the environment says.
        let half = AwsSettings {
            access_key_id: Some("AKIA1".into()),
            ..AwsSettings::default()
        };
        assert_eq!(
            field(credentials(&c, &half, &full_env).unwrap_err()),
            "settings.secret_access_key"
        );
        let half = AwsSettings {
            secret_access_key: Some(Secret::new("s3cret")),
            ..AwsSettings::default()
        };
        let e = credentials(&c, &half, &full_env).unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(field(e), "settings.access_key_id");
        let token_only = AwsSettings {
            session_token: Some(Secret::new("tok3n")),
            ..AwsSettings::default()
        };
        assert_eq!(
            field(credentials(&c, &token_only, &full_env).unwrap_err()),
            "settings.session_token"
        );
        let bad_id = AwsSettings {
            access_key_id: Some("AKIA 1".into()),
            ..keys
        };
        assert_eq!(
            field(credentials(&c, &bad_id, &full_env).unwrap_err()),
            "settings.access_key_id"
        );
    }

    #[test]
    fn region_from_settings_then_environment() {
        let c = contact(serde_json::json!({}));
        let set = AwsSettings {
            region: Some("eu-west-3".into()),
            ..AwsSettings::default()
        };
        let both = env(&[
            ("AWS_REGION", "us-east-2"),
            ("AWS_DEFAULT_REGION", "ap-south-1"),
        ]);
        assert_eq!(region(&c, &set, &both).unwrap(), "eu-west-3");
        assert_eq!(
            region(&c, &AwsSettings::default(), &both).unwrap(),
            "us-east-2"
        );
        let default_only = env(&[("AWS_DEFAULT_REGION", "ap-south-1")]);
        assert_eq!(
            region(&c, &AwsSettings::default(), &default_only).unwrap(),
            "ap-south-1"
        );
        let e = region(&c, &AwsSettings::default(), &env(&[])).unwrap_err();
        assert!(e.to_string().contains("AWS_REGION"), "{e}");
        assert_eq!(field(e), "settings.region");
        for bad in ["", "eu west 1", "EU-WEST-1", "eu-west-1.evil.example/"] {
            let s = AwsSettings {
                region: Some(bad.into()),
                ..AwsSettings::default()
            };
            assert_eq!(
                field(region(&c, &s, &env(&[])).unwrap_err()),
                "settings.region"
            );
        }
    }

    #[test]
    fn endpoint_defaults_to_the_regional_one() {
        let c = contact(serde_json::json!({}));
        let s = AwsSettings {
            access_key_id: Some("AKIA1".into()),
            secret_access_key: Some(Secret::new("s3cret")),
            region: Some("eu-west-1".into()),
            ..AwsSettings::default()
        };
        let client = AwsClient::build_with_env(
            &c,
            &s,
            "monitoring",
            "CloudWatch PutMetricData",
            &Defaults::default(),
            &env(&[]),
        )
        .unwrap();
        assert_eq!(
            client.url().to_string(),
            "https://monitoring.eu-west-1.amazonaws.com/"
        );
        assert_eq!(client.region(), "eu-west-1");
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn parses_xml_json_and_header_errors() {
        let none = HeaderMap::new();
        let xml = br#"<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/">
  <Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded &amp; more</Message></Error>
  <RequestId>1a2b</RequestId></ErrorResponse>"#;
        assert_eq!(
            parse_error(xml, &none),
            Some(AwsError {
                code: "Throttling".into(),
                message: "Rate exceeded & more".into()
            })
        );
        let json = br#"{"__type":"com.amazon.coral.validate#ValidationException","message":"1 validation error"}"#;
        assert_eq!(
            parse_error(json, &none),
            Some(AwsError {
                code: "ValidationException".into(),
                message: "1 validation error".into()
            })
        );
        let json =
            br#"{"__type":"AccessDeniedException:http://internal.amazon.com/","Message":"denied"}"#;
        assert_eq!(
            parse_error(json, &none).unwrap().code,
            "AccessDeniedException"
        );
        // Signature mismatches quote the canonical request: only the first paragraph is kept.
        let json = br#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match.\n\nThe Canonical String for this request should have been\n'POST\n/'"}"#;
        assert_eq!(
            parse_error(json, &none).unwrap().message,
            "The request signature we calculated does not match."
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amzn-errortype",
            HeaderValue::from_static("UnrecognizedClientException:http://internal.amazon.com/"),
        );
        assert_eq!(
            parse_error(b"", &headers).unwrap().code,
            "UnrecognizedClientException"
        );
        assert_eq!(parse_error(b"bad gateway", &none), None);
        assert_eq!(parse_error(b"{}", &none), None);
    }

    #[test]
    fn throttling_and_internal_errors_are_retryable() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "InternalFailure",
            "ServiceUnavailable",
        ] {
            assert!(retryable_code(code), "{code}");
        }
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "InvalidClientTokenId",
            "SignatureDoesNotMatch",
            "InvalidParameterValue",
            "ValidationException",
            "ResourceNotFoundException",
        ] {
            assert!(!retryable_code(code), "{code}");
        }
    }

    #[test]
    fn secrets_are_redacted() {
        let creds = Credentials::new(AKID, SECRET, Some(TOKEN));
        let s = format!("x-amz-security-token:{TOKEN} and {SECRET}");
        let out = redact(&s, &creds.secrets());
        assert!(!out.contains(TOKEN) && !out.contains(SECRET), "{out}");
    }
}
