//! The check model: what a configuration file (or, later, the API) says about a check, and the
//! normalised [`CheckSpec`] the engine runs once defaults are applied and everything is validated.
//!
//! The `*Def` and `*Spec` types here are the users' contract: field names are the YAML names.
//! Every struct denies unknown fields, so a typo is an error that names the field.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use serde_saphyr::Spanned;

use crate::Dur;
use crate::kinds::{
    CommandSpec, DiskSpec, DnsSpec, HostMetricsSpec, IcmpSpec, LogSpec, ProcessSpec, PushSpec,
    TlsSpec,
};
use crate::schedule::Schedule;

/// The identity of a check across reloads and restarts: `[a-z0-9_.-]+`, at most 128 bytes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckId(Arc<str>);

impl CheckId {
    /// Validates and wraps an id.
    pub fn new(id: &str) -> Result<Self, String> {
        if id.is_empty() {
            return Err("must not be empty".into());
        }
        if id.len() > 128 {
            return Err(format!("{id:?} is longer than 128 bytes"));
        }
        if let Some(c) = id.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        }) {
            return Err(format!(
                "{id:?} contains {c:?}; ids use only a-z, 0-9, '_', '.', '-'"
            ));
        }
        Ok(Self(id.into()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A secret (password, token): never shown in `Debug`, logs or serialised output.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"********\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("********")
    }
}

/// A size in bytes, written `65536`, `64KiB`, `1MiB`, `10MB`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let s = match Raw::deserialize(d)? {
            Raw::N(n) => return Ok(Self(n)),
            Raw::S(s) => s,
        };
        let t = s.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let bad = || {
            serde::de::Error::custom(format!(
                "invalid size {s:?} (expected e.g. 65536, 64KiB, 1MiB, 10MB)"
            ))
        };
        let n: u64 = t[..digits].parse().map_err(|_| bad())?;
        let mult: u64 = match t[digits..].trim() {
            "" | "B" => 1,
            "k" | "kB" | "KB" => 1_000,
            "KiB" | "K" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" | "M" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" | "G" => 1 << 30,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(Self).ok_or_else(bad)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// Where a definition came from: `config/web.yml:12:5`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    /// The file, relative to the configuration directory (shared by everything defined in it).
    #[serde(serialize_with = "ser_shared_str")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub file: Arc<str>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

fn ser_shared_str<S: Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// Checks a tenant name: `[a-z0-9][a-z0-9-]*`, at most 63 bytes (it appears in URLs such as
/// `/status/{tenant}` and prefixes the ids of the checks the tenant creates over the API).
pub fn validate_tenant(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 63 {
        return Err(format!("{name:?} is longer than 63 bytes"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(format!("{name:?} must start with a-z or 0-9"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{name:?} contains {c:?}; tenant names use only a-z, 0-9 and '-'"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// What a file says.
// ---------------------------------------------------------------------------------------------

/// One check as written in a file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    /// Unique id, `[a-z0-9_.-]+`: the identity across reloads.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: Spanned<String>,
    /// Display name (default: the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free tags, for filtering and (later) scoping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Host label used for scoping and per-host concurrency (default: the target's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The tenant that owns the check (default: none, the operator's own). A tenant's tokens
    /// see only its checks; its status page and feeds show its public ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub tenant: Option<Spanned<String>>,
    /// Shown on the owner's public status page, feeds, badges and SlapOS documents
    /// (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub public: bool,
    /// Run every this long (default from `defaults.every`, else 60s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub every: Option<Spanned<Dur>>,
    /// Or run at the times of this cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cron: Option<Spanned<String>>,
    /// Time zone of `cron` (IANA name, default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub timezone: Option<Spanned<String>>,
    /// Hard limit on one run (default from `defaults.timeout`, else 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub timeout: Option<Spanned<Dur>>,
    /// An HTTP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSpec>,
    /// A TCP check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpSpec>,
    /// A TLS certificate check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// A DNS check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsSpec>,
    /// A ping check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpSpec>,
    /// A command: Nagios plugin, SlapOS promise, or any program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandSpec>,
    /// A log scan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<LogSpec>,
    /// A process count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessSpec>,
    /// A file system's usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskSpec>,
    /// This host's CPU, load, memory and swap (`host:` is the check's host label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_metrics: Option<HostMetricsSpec>,
    /// A dead-man check fed through the API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<PushSpec>,
    /// When a bad result becomes a hard state, flap detection, and who is told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertDef>,
    /// Ids of the checks this one depends on: while one of them is hard bad, this check's
    /// alarm is held back ("parent X is down") and nobody is paged for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub depends_on: Vec<Spanned<String>>,
}

/// `defaults:` of a file: apply to the checks of that file.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Default interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub every: Option<Spanned<Dur>>,
    /// Default timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub timeout: Option<Spanned<Dur>>,
    /// Default time zone for cron schedules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub timezone: Option<Spanned<String>>,
    /// Tags added to every check of the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Default alert policy, merged field by field under each check's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertDef>,
}

/// `alert:` as written: every field optional so that `defaults.alert` and a check's `alert` merge.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertDef {
    /// Bad results needed before the state is hard (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    /// Ok results needed to recover from a hard bad state (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recoveries: Option<u32>,
    /// Count `failures` within this window instead of in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<Dur>,
    /// Flap detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flapping: Option<FlapDef>,
    /// Ids of the contacts told about this check's alarms. A check's list replaces the one of
    /// `defaults.alert` (it is not appended); `notify: []` tells nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub notify: Option<Vec<Spanned<String>>>,
    /// Notify again this often while the alarm is open and not acknowledged (at least 1m;
    /// default: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renotify: Option<Dur>,
    /// At most this many notifications about trouble per alarm, then one final "further
    /// notifications suppressed" message (at least 1; default: no limit). Recoveries are
    /// always sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_notifications: Option<u32>,
}

/// `alert.flapping:` as written.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlapDef {
    /// Detect flapping at all (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Start flapping at or above this weighted % of state changes (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Stop flapping below this % (default 25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
}

impl AlertDef {
    /// `self` over `base`, field by field.
    pub fn over(&self, base: &Self) -> Self {
        let flap = match (&self.flapping, &base.flapping) {
            (Some(a), Some(b)) => Some(FlapDef {
                enabled: a.enabled.or(b.enabled),
                high: a.high.or(b.high),
                low: a.low.or(b.low),
            }),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Self {
            failures: self.failures.or(base.failures),
            recoveries: self.recoveries.or(base.recoveries),
            within: self.within.or(base.within),
            flapping: flap,
            notify: self.notify.clone().or_else(|| base.notify.clone()),
            renotify: self.renotify.or(base.renotify),
            max_notifications: self.max_notifications.or(base.max_notifications),
        }
    }

    /// The policy with defaults filled in. Validation of ranges is the loader's job.
    pub fn resolve(&self) -> AlertPolicy {
        let f = self.flapping.clone().unwrap_or_default();
        AlertPolicy {
            failures: self.failures.unwrap_or(3),
            recoveries: self.recoveries.unwrap_or(1),
            within: self.within.map(Dur::get),
            flap: FlapPolicy {
                enabled: f.enabled.unwrap_or(true),
                high: f.high.unwrap_or(30.0),
                low: f.low.unwrap_or(25.0),
            },
            notify: self
                .notify
                .iter()
                .flatten()
                .fold(Vec::new(), |mut v: Vec<String>, c| {
                    if !v.contains(&c.value) {
                        v.push(c.value.clone());
                    }
                    v
                }),
            renotify: self.renotify.map(Dur::get),
            max_notifications: self.max_notifications,
        }
    }
}

/// When bad results become a hard state and when the state recovers.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertPolicy {
    /// Bad results needed before the state is hard.
    pub failures: u32,
    /// Ok results in a row needed to leave a hard bad state.
    pub recoveries: u32,
    /// If set, `failures` bad results within this window (not necessarily in a row).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_dur"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub within: Option<Duration>,
    /// Flap detection.
    pub flap: FlapPolicy,
    /// Contact ids told about the check's alarms (a group's alarm tells the group's contacts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    /// Re-notify this often while an alarm is open and not acknowledged.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_dur"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Dur>))]
    pub renotify: Option<Duration>,
    /// Cut-off: at most this many notifications about trouble per alarm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_notifications: Option<u32>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        AlertDef::default().resolve()
    }
}

/// Nagios/Icinga flap detection thresholds (weighted % of state changes over 21 results).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FlapPolicy {
    /// Whether flap detection runs.
    pub enabled: bool,
    /// Flapping starts when the weighted change % reaches this.
    pub high: f64,
    /// Flapping stops when it falls below this.
    pub low: f64,
}

fn ser_opt_dur<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&Dur(*d)),
        None => s.serialize_none(),
    }
}

// ---------------------------------------------------------------------------------------------
// Probe specs.
// ---------------------------------------------------------------------------------------------

/// TLS client settings shared by probes.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsClientSpec {
    /// Verify the certificate chain and the host name (default true).
    #[serde(default = "yes")]
    pub verify: bool,
    /// A PEM file of CA certificates to trust instead of the system store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The name sent as SNI and verified (default: the host of the URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

impl Default for TlsClientSpec {
    fn default() -> Self {
        Self {
            verify: true,
            ca_file: None,
            server_name: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// `http:` — fetch a URL and check the response.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSpec {
    /// `http://` or `https://` URL.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub url: Spanned<String>,
    /// Request method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Basic or bearer authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HttpAuth>,
    /// What the response must look like.
    #[serde(default)]
    pub expect: HttpExpect,
    /// Values to keep from a JSON response: name → JSONPath.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, String>))]
    pub extract: BTreeMap<String, Spanned<String>>,
    /// Redirects to follow (default 5; 0 = do not follow).
    #[serde(default = "default_redirects")]
    pub max_redirects: u32,
    /// TLS settings for https URLs.
    #[serde(default)]
    pub tls: TlsClientSpec,
    /// Read at most this much of the body (default 1MiB); the rest is not downloaded.
    #[serde(default = "default_max_body")]
    pub max_body: ByteSize,
    /// HTTP version: `auto` (HTTP/2 if the server offers it over TLS), `1.1` or `2`.
    #[serde(default)]
    pub version: HttpVersion,
}

fn default_method() -> String {
    "GET".into()
}

fn default_redirects() -> u32 {
    5
}

fn default_max_body() -> ByteSize {
    ByteSize(1 << 20)
}

/// Which HTTP version to speak.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum HttpVersion {
    /// HTTP/2 when ALPN picks it, else HTTP/1.1.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// HTTP/1.1 only.
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 only (prior knowledge over plain HTTP, ALPN over TLS).
    #[serde(rename = "2")]
    Http2,
}

/// `auth:` — one of `basic: {username, password}` or `bearer: TOKEN`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password (never shown).
        password: Secret,
    },
    /// `Authorization: Bearer TOKEN`.
    Bearer(Secret),
}

/// `expect:` of an HTTP check. Every condition that is set must hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpect {
    /// Acceptable status codes: numbers, `2xx` classes or `200-204` ranges (default: any 2xx).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<StatusPattern>))]
    pub status: Vec<Spanned<StatusPattern>>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// The body must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub body_matches: Option<Spanned<String>>,
    /// Invert `body_contains` and `body_matches`: the body must *not* contain/match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
    /// Assertions on a JSON body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json: Vec<JsonAssertion>,
    /// Response-time thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<Thresholds>,
}

/// A status code pattern: `200`, `"2xx"` or `"200-204"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StatusPattern {
    /// Lowest code accepted.
    pub low: u16,
    /// Highest code accepted.
    pub high: u16,
}

impl StatusPattern {
    /// Whether `code` matches.
    pub fn matches(self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }
}

impl fmt::Display for StatusPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            write!(f, "{}", self.low)
        } else if self.low.is_multiple_of(100) && self.high == self.low + 99 {
            write!(f, "{}xx", self.low / 100)
        } else {
            write!(f, "{}-{}", self.low, self.high)
        }
    }
}

impl std::str::FromStr for StatusPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid status {s:?} (expected e.g. 200, \"2xx\" or \"200-204\")");
        let code = |t: &str| -> Result<u16, String> {
            t.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(bad)
        };
        let t = s.trim();
        if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
            let c: u16 = class
                .parse()
                .ok()
                .filter(|c| (1..=5).contains(c))
                .ok_or_else(bad)?;
            return Ok(Self {
                low: c * 100,
                high: c * 100 + 99,
            });
        }
        if let Some((a, b)) = t.split_once('-') {
            let (low, high) = (code(a)?, code(b)?);
            if low > high {
                return Err(bad());
            }
            return Ok(Self { low, high });
        }
        let c = code(t)?;
        Ok(Self { low: c, high: c })
    }
}

impl<'de> Deserialize<'de> for StatusPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        let s = match Raw::deserialize(d)? {
            Raw::N(n) => n.to_string(),
            Raw::S(s) => s,
        };
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for StatusPattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.low == self.high {
            s.serialize_u16(self.low)
        } else {
            s.collect_str(self)
        }
    }
}

/// One JSONPath assertion: `{ path: $.status, equals: ok }`. Every operator given must hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JsonAssertion {
    /// RFC 9535 JSONPath; the first node selected is tested.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: Spanned<String>,
    /// The value equals this (strings, numbers, booleans, null, arrays, objects).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub equals: Option<serde_json::Value>,
    /// The value differs from this.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub not_equals: Option<serde_json::Value>,
    /// The value is a number below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
    /// The value is a number above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// The value (a string, or a number/bool written as text) matches this regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub matches: Option<Spanned<String>>,
    /// The path selects something (`true`) or nothing (`false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
    /// The value (array, string or object) has exactly this length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
}

/// A field that is present, even as `null`, is `Some` (an absent one defaults to `None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// Warning and critical thresholds on a duration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Warning above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<Dur>,
    /// Critical above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical: Option<Dur>,
}

/// `tcp:` — connect, optionally send and expect.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpSpec {
    /// Host name or IP address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Text to send once connected (`\n`, `\r` escapes are YAML's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// The reply must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// The reply must match this regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub expect_matches: Option<Spanned<String>>,
    /// Speak TLS after connecting (`tls: {}` for the defaults).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsClientSpec>,
    /// Read at most this much of the reply (default 64KiB).
    #[serde(default = "default_tcp_read")]
    pub max_read: ByteSize,
}

fn default_tcp_read() -> ByteSize {
    ByteSize(64 << 10)
}

/// The probe of a check: exactly one kind.
///
/// HTTP and TCP specs are held inline (most checks are of these kinds, and a box would cost an
/// allocation each); the other kinds are boxed so that their size does not set every check's.
#[allow(clippy::large_enum_variant)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeSpec {
    /// HTTP(S).
    Http(HttpSpec),
    /// TCP (optionally TLS).
    Tcp(TcpSpec),
    /// A TLS certificate.
    Tls(Box<TlsSpec>),
    /// DNS.
    Dns(Box<DnsSpec>),
    /// ICMP echo.
    Icmp(Box<IcmpSpec>),
    /// A command.
    Command(Box<CommandSpec>),
    /// A log scan.
    Log(Box<LogSpec>),
    /// Processes.
    Process(Box<ProcessSpec>),
    /// A file system.
    Disk(Box<DiskSpec>),
    /// This host's metrics.
    HostMetrics(Box<HostMetricsSpec>),
    /// Pushed results with a deadline.
    Push(Box<PushSpec>),
}

impl ProbeSpec {
    /// The kind's name, as the YAML key: `http`, `tcp`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Http(_) => "http",
            Self::Tcp(_) => "tcp",
            Self::Tls(_) => "tls",
            Self::Dns(_) => "dns",
            Self::Icmp(_) => "icmp",
            Self::Command(_) => "command",
            Self::Log(_) => "log",
            Self::Process(_) => "process",
            Self::Disk(_) => "disk",
            Self::HostMetrics(_) => "host_metrics",
            Self::Push(_) => "push",
        }
    }

    /// The probes a check definition gives, in [`ProbeSpec::KINDS`] order.
    pub fn given(def: &CheckDef) -> Vec<Self> {
        [
            def.http.clone().map(Self::Http),
            def.tcp.clone().map(Self::Tcp),
            def.tls.clone().map(|s| Self::Tls(Box::new(s))),
            def.dns.clone().map(|s| Self::Dns(Box::new(s))),
            def.icmp.clone().map(|s| Self::Icmp(Box::new(s))),
            def.command.clone().map(|s| Self::Command(Box::new(s))),
            def.log.clone().map(|s| Self::Log(Box::new(s))),
            def.process.clone().map(|s| Self::Process(Box::new(s))),
            def.disk.clone().map(|s| Self::Disk(Box::new(s))),
            def.host_metrics
                .clone()
                .map(|s| Self::HostMetrics(Box::new(s))),
            def.push.clone().map(|s| Self::Push(Box::new(s))),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Every kind's YAML key.
    pub const KINDS: [&'static str; 11] = [
        "http",
        "tcp",
        "tls",
        "dns",
        "icmp",
        "command",
        "log",
        "process",
        "disk",
        "host_metrics",
        "push",
    ];

    /// Problems with the check's `timeout` that only the kind can see (an icmp run that cannot
    /// fit in it), fields relative to the check.
    pub fn validate_timeout(&self, timeout: Duration) -> Vec<crate::assert::FieldError> {
        match self {
            Self::Icmp(s) => s.validate_timeout(timeout),
            _ => Vec::new(),
        }
    }

    /// Problems the kind's own validation finds (`http` and `tcp` are validated by the loader),
    /// fields relative to the check.
    pub fn validate(&self) -> Vec<crate::assert::FieldError> {
        match self {
            Self::Http(_) | Self::Tcp(_) => Vec::new(),
            Self::Tls(s) => s.validate(),
            Self::Dns(s) => s.validate(),
            Self::Icmp(s) => s.validate(),
            Self::Command(s) => s.validate(),
            Self::Log(s) => s.validate(),
            Self::Process(s) => s.validate(),
            Self::Disk(s) => s.validate(),
            Self::HostMetrics(s) => s.validate(),
            Self::Push(s) => s.validate(),
        }
    }

    /// The host the probe talks to, for per-host concurrency and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        match self {
            Self::Http(h) => h
                .url
                .value
                .parse::<http::Uri>()
                .ok()
                .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned())),
            Self::Tcp(t) => Some(t.host.clone()),
            Self::Tls(s) => s.target_host(),
            Self::Dns(s) => s.target_host(),
            Self::Icmp(s) => s.target_host(),
            Self::Command(s) => s.target_host(),
            Self::Log(s) => s.target_host(),
            Self::Process(s) => s.target_host(),
            Self::Disk(s) => s.target_host(),
            Self::HostMetrics(s) => s.target_host(),
            Self::Push(s) => s.target_host(),
        }
    }

    /// Secret material, hashed into the fingerprint (it is masked in serialised output).
    fn secrets(&self) -> Vec<&str> {
        match self {
            Self::Http(h) => match &h.auth {
                Some(HttpAuth::Basic { password, .. }) => vec![password.expose()],
                Some(HttpAuth::Bearer(t)) => vec![t.expose()],
                None => vec![],
            },
            Self::Push(p) => vec![p.token.expose()],
            Self::Command(c) => c.secrets(),
            Self::Tcp(_)
            | Self::Tls(_)
            | Self::Dns(_)
            | Self::Icmp(_)
            | Self::Log(_)
            | Self::Process(_)
            | Self::Disk(_)
            | Self::HostMetrics(_) => vec![],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The normalised check.
// ---------------------------------------------------------------------------------------------

/// A validated check with defaults applied: what the engine schedules and runs.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize)]
pub struct CheckSpec {
    /// Identity.
    pub id: CheckId,
    /// Display name.
    pub name: String,
    /// Tags (the file's default tags first).
    pub tags: Vec<String>,
    /// Host label (explicit, or the target's host).
    pub host: Option<String>,
    /// The owning tenant (`""`: the operator).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tenant: String,
    /// Shown on public pages, feeds and badges.
    pub public: bool,
    /// When it runs.
    pub schedule: Schedule,
    /// Hard timeout of one run.
    #[serde(serialize_with = "ser_dur")]
    #[cfg_attr(feature = "openapi", schema(value_type = Dur))]
    pub timeout: Duration,
    /// What it runs.
    pub probe: ProbeSpec,
    /// State policy.
    pub alert: AlertPolicy,
    /// The checks it depends on (their alarms hold this one's back while they are hard bad).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<CheckId>,
    /// Where it was defined.
    pub origin: Origin,
}

fn ser_dur<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Dur(*d))
}

impl CheckSpec {
    /// A hash of everything that defines the check's behaviour (not its origin): unchanged
    /// fingerprint across a reload means the check keeps its state and phase untouched.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut me = self.clone();
        me.origin = Origin::default();
        // Serialising our own types cannot fail (no maps with non-string keys).
        serde_json::to_string(&me).unwrap_or_default().hash(&mut h);
        self.probe.secrets().hash(&mut h);
        h.finish()
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for CheckId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[a-z0-9_.-]+$"))
            .examples(["shop-health"])
            .min_length(Some(1))
            .max_length(Some(128))
            .description(Some(
                "A check id: a-z, 0-9, `_`, `.`, `-`; at most 128 bytes.",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for CheckId {}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Secret {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .write_only(true)
            .description(Some("A secret (password, token, URL with a key): written as is, always answered as `********`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Secret {}

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    ByteSize,
    Integer,
    0,
    None,
    r"^ *[0-9]+ *(B|k|kB|KB|K|KiB|MB|M|MiB|GB|G|GiB)? *$",
    "64KiB",
    "A size in bytes: a number, or `64KiB`, `1MiB`, `10MB`."
);

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    StatusPattern,
    Integer,
    100,
    Some(599),
    r"^ *([1-5][xX][xX]|[1-5][0-9][0-9] *- *[1-5][0-9][0-9]|[1-5][0-9][0-9]) *$",
    "2xx",
    "An HTTP status code (`200`), a class (`\"2xx\"`) or a range (`\"200-204\"`)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        for ok in ["acme", "a", "0day", "acme-corp", &"a".repeat(63)] {
            assert!(validate_tenant(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("-acme", "must start"),
            ("Acme", "must start"),
            ("ac.me", "contains '.'"),
            ("ac_me", "contains '_'"),
            (&"a".repeat(64), "longer than 63"),
        ] {
            let e = validate_tenant(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn equals_null_is_an_assertion_and_absent_is_not() {
        let a: JsonAssertion = serde_saphyr::from_str("{ path: $.x, equals: null }").unwrap();
        assert_eq!(a.equals, Some(serde_json::Value::Null));
        let b: JsonAssertion = serde_saphyr::from_str("{ path: $.x, exists: true }").unwrap();
        assert_eq!(b.equals, None);
    }

    #[test]
    fn status_patterns() {
        for (text, low, high) in [("200", 200, 200), ("2xx", 200, 299), ("200-204", 200, 204)] {
            let p: StatusPattern = text.parse().unwrap();
            assert_eq!((p.low, p.high), (low, high));
            assert_eq!(p.to_string(), text);
        }
        for bad in ["99", "6xx", "204-200", "abc"] {
            assert!(bad.parse::<StatusPattern>().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_show() {
        let auth: HttpAuth = serde_saphyr::from_str("bearer: hunter2").unwrap();
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&auth).unwrap().contains("hunter2"));
    }

    #[test]
    fn check_ids() {
        assert!(CheckId::new("shop-health_1.a").is_ok());
        for bad in ["", "Shop", "a b", "é"] {
            assert!(CheckId::new(bad).is_err(), "{bad:?}");
        }
    }
}
