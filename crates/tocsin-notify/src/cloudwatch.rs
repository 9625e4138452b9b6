//! The `cloudwatch` channel: each notification becomes one CloudWatch `PutMetricData` call (AWS
//! query protocol, SigV4-signed by the crate's `aws` module), so CloudWatch alarms and
//! dashboards can follow Tocsin's.
//!
//! `POST https://monitoring.{region}.amazonaws.com/` (the contact's `url` replaces the endpoint)
//! with `Content-Type: application/x-www-form-urlencoded; charset=utf-8` and the body
//! `Action=PutMetricData&Version=2010-08-01&Namespace=…&MetricData.member.N.…`. The metrics, all
//! at the message's time, with the dimensions `Check` (the check id) and `Tenant`:
//!
//! - `AlarmOpen`: 1 while the alarm is open, 0 when this notification closes it (unit `Count`);
//! - `Status`: the check's status, 0 ok, 1 warning, 2 critical, 3 unknown (unit `None`);
//! - each of the message's metrics under its own name, with its unit mapped to CloudWatch's
//!   ([`unit`]). Values CloudWatch cannot store (NaN, infinities, beyond ±1.17e108) are left out;
//!   at most 1000 metrics are sent.
//!
//! CloudWatch answers 200 with a `PutMetricDataResponse`; errors are judged as in the `aws`
//! module (`Throttling` retryable, `AccessDenied`, `InvalidParameterValue`, … permanent).
//! There are no templates: metrics carry numbers, not text.

use serde::Deserialize;
use tocsin_core::Dur;
use tocsin_core::check::Secret;
use tocsin_core::directory::Contact;

use crate::aws::{AwsClient, AwsSettings};
use crate::http_channel::form_encode;
use crate::{BuildError, Defaults, Delivered, DeliveryError, Message, Notifier, SendFuture};

/// The namespace used when `settings.namespace` is absent.
pub const DEFAULT_NAMESPACE: &str = "Tocsin";

/// The most metrics one `PutMetricData` call takes.
pub const MAX_METRICS: usize = 1000;

/// A cloudwatch contact's `settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudwatchSettings {
    /// The metrics' namespace (default `Tocsin`; `AWS/…` is reserved).
    #[serde(default)]
    pub namespace: Option<String>,
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

/// A built cloudwatch channel.
#[derive(Debug)]
pub struct Cloudwatch {
    namespace: String,
    client: AwsClient,
}

impl Cloudwatch {
    /// Builds the channel of a `cloudwatch` contact.
    pub fn build(contact: &Contact, defaults: &Defaults) -> Result<Self, BuildError> {
        let s: CloudwatchSettings = crate::settings::parse(contact)?;
        let namespace = s.namespace.unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        if namespace.is_empty() || namespace.chars().count() > 255 || namespace.starts_with(':') {
            return Err(BuildError::setting(
                contact,
                "settings.namespace",
                "must be 1 to 255 characters, not starting with ':'",
            ));
        }
        if namespace.starts_with("AWS/") {
            return Err(BuildError::setting(
                contact,
                "settings.namespace",
                "AWS/ namespaces are reserved for AWS's own services",
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
            namespace,
            client: AwsClient::build(
                contact,
                &aws,
                "monitoring",
                "CloudWatch PutMetricData",
                defaults,
            )?,
        })
    }

    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliveryError> {
        let fields = form(&self.namespace, m);
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let req = self.client.post(
            &[(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )],
            form_encode(&pairs),
        )?;
        let reply = self.client.send(req).await?;
        let body = String::from_utf8_lossy(&reply.body);
        let detail = match xml_text(&body, "RequestId") {
            Some(id) => format!("HTTP {}, request id {id}", reply.status.as_u16()),
            None => format!("HTTP {}", reply.status.as_u16()),
        };
        Ok(Delivered {
            detail,
            template_fallback: None,
        })
    }
}

impl Notifier for Cloudwatch {
    fn send<'a>(&'a self, m: &'a Message) -> SendFuture<'a> {
        Box::pin(self.deliver(m))
    }
}

/// One metric to put.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Datum {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
}

/// The metrics of `m`: `AlarmOpen`, `Status`, then the message's own (storable ones, up to
/// [`MAX_METRICS`] in all).
pub(crate) fn data(m: &Message) -> Vec<Datum> {
    let mut out = vec![
        Datum {
            name: "AlarmOpen".into(),
            value: if m.kind.closes() { 0.0 } else { 1.0 },
            unit: "Count",
        },
        Datum {
            name: "Status".into(),
            value: f64::from(m.status.code()),
            unit: "None",
        },
    ];
    out.extend(
        m.metrics
            .iter()
            .filter_map(|metric| {
                Some(Datum {
                    name: metric.name.clone(),
                    value: storable(metric.value)?,
                    unit: unit(&metric.unit),
                })
            })
            .filter(|d| !d.name.is_empty() && d.name.len() <= 255),
    );
    out.truncate(MAX_METRICS);
    out
}

/// CloudWatch rejects NaN, infinities and magnitudes above 2^360 (about 1.17e108); below 2^-360
/// it stores 0.
fn storable(v: f64) -> Option<f64> {
    const MAX: f64 = 1.174_271e108;
    const MIN: f64 = 8.515_920e-109;
    if !v.is_finite() || v.abs() > MAX {
        None
    } else if v.abs() < MIN {
        Some(0.0)
    } else {
        Some(v)
    }
}

/// CloudWatch's unit for a Tocsin metric unit; `None` when it has no equivalent.
pub fn unit(unit: &str) -> &'static str {
    match unit {
        "s" | "sec" | "seconds" => "Seconds",
        "ms" => "Milliseconds",
        "us" | "µs" => "Microseconds",
        "B" | "bytes" => "Bytes",
        "%" => "Percent",
        "count" => "Count",
        _ => "None",
    }
}

/// The query-protocol fields of the `PutMetricData` call for `m`, in order.
pub(crate) fn form(namespace: &str, m: &Message) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = vec![
        ("Action".into(), "PutMetricData".into()),
        ("Version".into(), "2010-08-01".into()),
        ("Namespace".into(), namespace.into()),
    ];
    let timestamp = m.time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    // A dimension needs a non-empty value of at most 1024 characters.
    let dimensions: Vec<(&str, &str)> = [("Check", m.check_id.as_str()), ("Tenant", &m.tenant)]
        .into_iter()
        .filter(|(_, v)| !v.is_empty() && v.chars().count() <= 1024)
        .collect();
    for (i, d) in data(m).into_iter().enumerate() {
        let p = format!("MetricData.member.{}", i + 1);
        fields.push((format!("{p}.MetricName"), d.name));
        fields.push((format!("{p}.Value"), number(d.value)));
        fields.push((format!("{p}.Unit"), d.unit.into()));
        fields.push((format!("{p}.Timestamp"), timestamp.clone()));
        for (j, (name, value)) in dimensions.iter().enumerate() {
            let q = format!("{p}.Dimensions.member.{}", j + 1);
            fields.push((format!("{q}.Name"), (*name).into()));
            fields.push((format!("{q}.Value"), (*value).into()));
        }
    }
    fields
}

/// A value as CloudWatch parses it: plain decimals, exponent notation for the very large and
/// very small (Rust's `Display` would write out every digit).
fn number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        v.to_string()
    }
}

/// The text of the first `<name>` element of a small XML answer.
fn xml_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find('<')?;
    Some(xml[start..start + len].trim()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use tocsin_core::{Metric, Status};

    use super::*;
    use crate::MessageKind;

    #[test]
    fn units_map_to_cloudwatch_units() {
        assert_eq!(unit("s"), "Seconds");
        assert_eq!(unit("ms"), "Milliseconds");
        assert_eq!(unit("B"), "Bytes");
        assert_eq!(unit("bytes"), "Bytes");
        assert_eq!(unit("%"), "Percent");
        assert_eq!(unit(""), "None");
        assert_eq!(unit("req/s"), "None");
    }

    #[test]
    fn alarm_status_and_message_metrics() {
        let mut m = Message::sample();
        let d = data(&m);
        assert_eq!(
            d,
            vec![
                Datum {
                    name: "AlarmOpen".into(),
                    value: 1.0,
                    unit: "Count"
                },
                Datum {
                    name: "Status".into(),
                    value: 2.0,
                    unit: "None"
                },
                Datum {
                    name: "response_time".into(),
                    value: 0.25,
                    unit: "Seconds"
                },
            ]
        );
        m.kind = MessageKind::Closed;
        m.status = Status::Ok;
        let d = data(&m);
        assert_eq!((d[0].value, d[1].value), (0.0, 0.0));
        m.status = Status::Unknown;
        assert_eq!(data(&m)[1].value, 3.0);
        m.status = Status::Warning;
        assert_eq!(data(&m)[1].value, 1.0);
    }

    #[test]
    fn unstorable_values_are_dropped_and_the_count_capped() {
        let mut m = Message::sample();
        m.metrics = vec![
            Metric {
                name: "nan".into(),
                value: f64::NAN,
                unit: String::new(),
            },
            Metric {
                name: "inf".into(),
                value: f64::INFINITY,
                unit: String::new(),
            },
            Metric {
                name: "huge".into(),
                value: 1e200,
                unit: String::new(),
            },
            Metric {
                name: "tiny".into(),
                value: 1e-200,
                unit: String::new(),
            },
        ];
        let d = data(&m);
        assert_eq!(d.len(), 3);
        assert_eq!((d[2].name.as_str(), d[2].value), ("tiny", 0.0));
        m.metrics = (0..2000)
            .map(|i| Metric {
                name: format!("m{i}"),
                value: f64::from(i),
                unit: "ms".into(),
            })
            .collect();
        let d = data(&m);
        assert_eq!(d.len(), MAX_METRICS);
        assert_eq!(d[MAX_METRICS - 1].name, "m997");
    }

    #[test]
    fn form_fields_in_order() {
        let f = form("Tocsin", &Message::sample());
        let get = |k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(f[0], ("Action".into(), "PutMetricData".into()));
        assert_eq!(get("Version"), "2010-08-01");
        assert_eq!(get("MetricData.member.1.MetricName"), "AlarmOpen");
        assert_eq!(get("MetricData.member.1.Timestamp"), "1970-01-01T00:00:00Z");
        assert_eq!(
            get("MetricData.member.3.Dimensions.member.2.Name"),
            "Tenant"
        );
        assert_eq!(get("MetricData.member.3.Dimensions.member.1.Value"), "web");
        assert_eq!(get("MetricData.member.3.Value"), "0.25");
        // An empty tenant is no dimension.
        let mut m = Message::sample();
        m.tenant.clear();
        let f = form("Tocsin", &m);
        assert!(
            !f.iter()
                .any(|(n, _)| n.ends_with("Dimensions.member.2.Name"))
        );
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(1.0), "1");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(-3.5), "-3.5");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(1e100), "1e100");
        assert_eq!(number(-2.5e-9), "-2.5e-9");
    }

    #[test]
    fn request_id_of_the_answer() {
        let xml = "<PutMetricDataResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
                   <ResponseMetadata><RequestId>abc-123</RequestId></ResponseMetadata>\
                   </PutMetricDataResponse>";
        assert_eq!(xml_text(xml, "RequestId"), Some("abc-123"));
        assert_eq!(xml_text("", "RequestId"), None);
    }
}
