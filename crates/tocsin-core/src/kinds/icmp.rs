//! `icmp:` — send echo requests to a host and judge packet loss and round-trip time.
//!
//! Defaults come from the originals: Amon's icmp probe sent 5 packets; pymon's ping bands make
//! more than 25 % loss a warning and more than 75 % critical.
//!
//! The spec is the users' contract (field names are the YAML names); [`IcmpSpec::validate`]
//! reports every problem with the field it is in.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::Dur;
use crate::assert::FieldError;
use crate::check::Thresholds;

/// Most packets one run may send.
pub const MAX_COUNT: u32 = 100;
/// Largest payload accepted (bytes): an IPv4 datagram's limit less the headers.
pub const MAX_SIZE: u32 = 65_507;

/// Which address family to ping over when the host is a name.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// The first address the name resolves to (default).
    #[default]
    Auto,
    /// Only IPv4 addresses.
    Ipv4,
    /// Only IPv6 addresses.
    Ipv6,
}

/// `icmp:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpSpec {
    /// Host name or IP address.
    pub host: String,
    /// Echo requests per run (default 5, as Amon).
    #[serde(default = "default_count")]
    pub count: u32,
    /// Time between two requests of one run (default 200ms).
    #[serde(default = "default_packet_interval")]
    pub packet_interval: Dur,
    /// How long to wait for each reply (default 1s; never past the check's timeout).
    #[serde(default = "default_packet_timeout")]
    pub packet_timeout: Dur,
    /// Payload bytes per request (default 56, as ping(8)).
    #[serde(default = "default_size")]
    pub size: u32,
    /// Address family for names (default auto).
    #[serde(default)]
    pub ip: IpFamily,
    /// Loss thresholds in percent (default warning above 25, critical above 75).
    #[serde(default)]
    pub loss: LossThresholds,
    /// Thresholds on the average round-trip time (default none).
    #[serde(default, skip_serializing_if = "is_default")]
    pub rtt: Thresholds,
}

fn is_default(t: &Thresholds) -> bool {
    *t == Thresholds::default()
}

fn default_count() -> u32 {
    5
}

fn default_packet_interval() -> Dur {
    Dur::millis(200)
}

fn default_packet_timeout() -> Dur {
    Dur::secs(1)
}

fn default_size() -> u32 {
    56
}

/// Packet loss thresholds, in percent: the status is bad when the loss is strictly above them.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossThresholds {
    /// Warning above this % (default 25).
    #[serde(default = "default_loss_warning", deserialize_with = "percent")]
    pub warning: f64,
    /// Critical above this % (default 75).
    #[serde(default = "default_loss_critical", deserialize_with = "percent")]
    pub critical: f64,
}

impl Default for LossThresholds {
    fn default() -> Self {
        Self {
            warning: default_loss_warning(),
            critical: default_loss_critical(),
        }
    }
}

fn default_loss_warning() -> f64 {
    25.0
}

fn default_loss_critical() -> f64 {
    75.0
}

/// A percentage written `25`, `25.5` or `"25%"`.
fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(f64),
        S(String),
    }
    match Raw::deserialize(d)? {
        Raw::N(n) => Ok(n),
        Raw::S(s) => s.trim().trim_end_matches('%').trim().parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "invalid percentage {s:?} (expected e.g. 25 or 25%)"
            ))
        }),
    }
}

impl IcmpSpec {
    /// Every problem with the spec, fields relative to the check (`icmp.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        if self.host.trim().is_empty() {
            e.push(FieldError::nowhere("icmp.host", "must not be empty"));
        }
        if self.count == 0 || self.count > MAX_COUNT {
            e.push(FieldError::nowhere(
                "icmp.count",
                format!("must be between 1 and {MAX_COUNT} (got {})", self.count),
            ));
        }
        if self.size > MAX_SIZE {
            e.push(FieldError::nowhere(
                "icmp.size",
                format!("must be at most {MAX_SIZE} bytes (got {})", self.size),
            ));
        }
        if self.packet_timeout.get().is_zero() {
            e.push(FieldError::nowhere(
                "icmp.packet_timeout",
                "must be more than 0s",
            ));
        }
        let before = e.len();
        for (name, v) in [
            ("warning", self.loss.warning),
            ("critical", self.loss.critical),
        ] {
            if !(0.0..=100.0).contains(&v) {
                e.push(FieldError::nowhere(
                    format!("icmp.loss.{name}"),
                    format!("must be a percentage between 0 and 100 (got {v})"),
                ));
            }
        }
        if e.len() == before && self.loss.warning > self.loss.critical {
            e.push(FieldError::nowhere(
                "icmp.loss.warning",
                format!(
                    "must not be above critical ({} > {})",
                    self.loss.warning, self.loss.critical
                ),
            ));
        }
        if let (Some(w), Some(c)) = (self.rtt.warning, self.rtt.critical)
            && w > c
        {
            e.push(FieldError::nowhere(
                "icmp.rtt.warning",
                format!("must not be above critical ({w} > {c})"),
            ));
        }
        e
    }

    /// The time one run needs at least: the last request leaves after `(count - 1)` intervals
    /// and its reply may take `packet_timeout`.
    pub fn run_time(&self) -> Duration {
        self.packet_interval.get() * self.count.saturating_sub(1) + self.packet_timeout.get()
    }

    /// Whether a run fits in the check's `timeout` (see [`IcmpSpec::run_time`]).
    pub fn validate_timeout(&self, timeout: Duration) -> Vec<FieldError> {
        if self.run_time() <= timeout {
            return Vec::new();
        }
        let requests = if self.count == 1 {
            "1 request".to_owned()
        } else {
            format!("{} requests", self.count)
        };
        vec![FieldError::nowhere(
            "icmp.count",
            format!(
                "{requests} {} apart, waiting {} for the last reply, need {}: more than the \
                 check's timeout ({}); send fewer, closer, or raise the timeout",
                self.packet_interval,
                self.packet_timeout,
                Dur(self.run_time()),
                Dur(timeout)
            ),
        )]
    }

    /// The host pinged.
    pub fn target_host(&self) -> Option<String> {
        Some(self.host.trim_matches(['[', ']']).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> IcmpSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults() {
        let s = spec("{ host: 127.0.0.1 }");
        assert_eq!((s.count, s.size, s.ip), (5, 56, IpFamily::Auto));
        assert_eq!(
            s.loss,
            LossThresholds {
                warning: 25.0,
                critical: 75.0
            }
        );
        assert_eq!(s.run_time(), Duration::from_millis(1800));
        assert!(s.validate().is_empty());
    }

    #[test]
    fn percentages_with_or_without_sign() {
        let s = spec("{ host: h, loss: { warning: 10%, critical: \"50 %\" } }");
        assert_eq!((s.loss.warning, s.loss.critical), (10.0, 50.0));
        let s = spec("{ host: h, loss: { critical: 90 } }");
        assert_eq!((s.loss.warning, s.loss.critical), (25.0, 90.0));
    }

    #[test]
    fn bad_values() {
        for (yaml, field) in [
            ("{ host: h, count: 0 }", "icmp.count"),
            ("{ host: h, count: 101 }", "icmp.count"),
            ("{ host: \" \" }", "icmp.host"),
            ("{ host: h, size: 70000 }", "icmp.size"),
            ("{ host: h, loss: { warning: 101 } }", "icmp.loss.warning"),
            (
                "{ host: h, loss: { warning: 80, critical: 50 } }",
                "icmp.loss.warning",
            ),
            (
                "{ host: h, rtt: { warning: 2s, critical: 1s } }",
                "icmp.rtt.warning",
            ),
            ("{ host: h, packet_timeout: 0s }", "icmp.packet_timeout"),
        ] {
            let e = spec(yaml).validate();
            assert_eq!(e.len(), 1, "{yaml}: {e:?}");
            assert_eq!(e[0].field, field, "{yaml}");
        }
    }
}
