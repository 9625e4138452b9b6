//! The `eventbridge` channel: each notification becomes one event on an Amazon EventBridge bus,
//! through `PutEvents` (AWS JSON 1.1 protocol, SigV4-signed by the crate's `aws` module), for
//! EventBridge rules to route (to SNS, Lambda, SQS, Step Functions, …).
//!
//! `POST https://events.{region}.amazonaws.com/` (the contact's `url` replaces the endpoint) with
//! `X-Amz-Target: AWSEvents.PutEvents`, `Content-Type: application/x-amz-json-1.1` and
//!
//! ```json
//! {"Entries": [{"Source": "tocsin", "DetailType": "Tocsin alarm", "Detail": "{…}",
//!               "EventBusName": "default", "Resources": [], "Time": 1767225600}]}
//! ```
//!
//! `Detail` is the message's JSON document ([`Message::document`], the webhook's body) as a
//! string, as PutEvents wants it; rules match on it as `detail.status`, `detail.check.id`, ….
//! `Time` is the message's time in seconds since the epoch.
//!
//! EventBridge answers 200 with `{"FailedEntryCount": 0, "Entries": [{"EventId": …}]}`. A
//! failed entry (HTTP 200 still) is judged by its `ErrorCode`: `ThrottlingException` and
//! `InternalException`/`InternalFailure` are retryable, anything else (`AccessDeniedException`,
//! `ValidationException`, a missing bus, …) permanent. Other errors are judged as in the `aws`
//! module.

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::aws::{self, AwsClient, AwsSettings};
use crate::http_channel::{self, reply_json};
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The `Source` used when `settings.source` is absent.
pub const DEFAULT_SOURCE: &str = "tocsin";

/// The `DetailType` used when `settings.detail_type` is absent.
pub const DEFAULT_DETAIL_TYPE: &str = "Tocsin alarm";

/// The bus used when `settings.event_bus` is absent.
pub const DEFAULT_EVENT_BUS: &str = "default";

/// An eventbridge contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventbridgeSettings {
    /// The events' `Source` (default `tocsin`; `aws.…` is reserved).
    #[serde(default)]
    pub source: Option<String>,
    /// The events' `DetailType` (default `Tocsin alarm`).
    #[serde(default)]
    pub detail_type: Option<String>,
    /// The bus: a name or an ARN (default `default`).
    #[serde(default)]
    pub event_bus: Option<String>,
    /// ARNs the events concern (default none).
    #[serde(default)]
    pub resources: Vec<String>,
    /// The AWS region (default: `AWS_REGION`, then `AWS_DEFAULT_REGION`).
    #[serde(default)]
    pub region: Option<String>,
    /// The access key id (default: `AWS_ACCESS_KEY_ID`).
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// The secret access key (default: `AWS_SECRET_ACCESS_KEY`).
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// A session token for temporary credentials (default: `AWS_SESSION_TOKEN`).
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Request timeout (default 10s).
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// A PEM file of extra CA certificates to trust.
    #[serde(default)]
    pub ca_file: Option<String>,
}

/// A built eventbridge channel.
#[derive(Debug)]
pub struct Eventbridge {
    source: String,
    detail_type: String,
    event_bus: String,
    resources: Vec<String>,
    client: AwsClient,
}

impl Eventbridge {
    /// Builds the channel of an `eventbridge` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: EventbridgeSettings = crate::settings::parse(contact)?;
        let text = |value: Option<String>, default: &str, field: &str, max: usize| {
            let value = value.unwrap_or_else(|| default.to_owned());
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(BuildError::setting(
                    contact,
                    field,
                    format!("must be 1 to {max} characters"),
                ));
            }
            Ok(value)
        };
        let source = text(s.source, DEFAULT_SOURCE, "settings.source", 256)?;
        if source.starts_with("aws.") {
            return Err(BuildError::setting(
                contact,
                "settings.source",
                "sources starting with aws. are reserved for AWS's own services",
            ));
        }
        let detail_type = text(
            s.detail_type,
            DEFAULT_DETAIL_TYPE,
            "settings.detail_type",
            256,
        )?;
        let event_bus = text(s.event_bus, DEFAULT_EVENT_BUS, "settings.event_bus", 1600)?;
        if s.resources.iter().any(|r| r.trim().is_empty()) {
            return Err(BuildError::setting(
                contact,
                "settings.resources",
                "an entry is empty (each is an ARN)",
            ));
        }
        let aws = AwsSettings {
            access_key_id: s.access_key_id,
            secret_access_key: s.secret_access_key,
            session_token: s.session_token,
            region: s.region,
            timeout: s.timeout,
            ca_file: s.ca_file,
        };
        Ok(Self {
            source,
            detail_type,
            event_bus,
            resources: s.resources,
            client: AwsClient::build(contact, &aws, "events", "EventBridge PutEvents", defaults)?,
        })
    }

    /// The `PutEvents` body for `m`.
    fn payload(&self, m: &Message) -> serde_json::Value {
        serde_json::json!({
            "Entries": [{
                "Source": self.source,
                "DetailType": self.detail_type,
                "Detail": m.document().to_string(),
                "EventBusName": self.event_bus,
                "Resources": self.resources,
                "Time": m.time.as_second(),
            }],
        })
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let body = serde_json::to_vec(&self.payload(m)).unwrap_or_default();
        let req = self.client.post(
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AWSEvents.PutEvents"),
            ],
            body,
        )?;
        let reply = self.client.send(req).await?;
        let doc = reply_json(&reply, "EventBridge")?;
        let entry = &doc["Entries"][0];
        let failed = doc["FailedEntryCount"].as_u64().unwrap_or(0);
        let code = entry["ErrorCode"].as_str().filter(|c| !c.is_empty());
        if failed == 0 && code.is_none() {
            let detail = match entry["EventId"].as_str() {
                Some(id) => format!("HTTP {}, event id {id}", reply.status.as_u16()),
                None => format!("HTTP {}", reply.status.as_u16()),
            };
            return Ok(Delivered {
                detail,
                template_fallback: None,
            });
        }
        let code = code.unwrap_or("no error code given");
        let mut what = format!("the entry failed: {code}");
        if let Some(message) = entry["ErrorMessage"].as_str().filter(|s| !s.is_empty()) {
            what.push_str(": ");
            what.push_str(message);
        }
        let reason = self.client.reason(&what);
        if aws::retryable_code(code) {
            let mut e = DeliveryError::retry(reason);
            e.retry_after = http_channel::retry_after(&reply.headers);
            Err(e)
        } else {
            Err(DeliveryError::permanent(reason))
        }
    }
}

impl Notifier for Eventbridge {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}
