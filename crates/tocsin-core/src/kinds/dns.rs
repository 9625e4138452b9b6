//! `dns:` — ask a DNS server one question and check the answer: its response code, the exact set
//! of records or records it must contain, a minimum TTL, and how long the answer took.
//!
//! Record data is compared in a normalised text form, the same for what the server sent and for
//! what the file expects ([`normalise`]): addresses as `192.0.2.1` / `2001:db8::1`, names in
//! lower case with a trailing dot (`mail.example.com.`; the file may leave the dot out), MX as
//! `10 mail.example.com.`, SRV as `10 5 5060 sip.example.com.`, SOA as `ns1.example.com.
//! hostmaster.example.com. 2024010101 7200 3600 1209600 300`, CAA as `0 issue "letsencrypt.org"`
//! (quotes optional in the file), TXT as its text (the strings of one record joined).
//!
//! The spec is the users' contract (field names are the YAML names); [`DnsSpec::validate`] reports
//! every problem with the field it is in. [`DnsAssertions`] judges a reply; it is pure and
//! table-tested.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::assert::{FieldError, format_duration, response_time_breach, response_time_limits};
use crate::check::Thresholds;
use crate::{Dur, Status};

/// The port of a server written without one.
pub const DEFAULT_PORT: u16 = 53;
/// Values shown in a message before the list is cut with `and N more`.
const SHOWN: usize = 5;

/// The record types a check can ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// IPv4 address.
    #[default]
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name.
    Cname,
    /// Mail exchanger.
    Mx,
    /// Text.
    Txt,
    /// Name server.
    Ns,
    /// Start of authority.
    Soa,
    /// Service location.
    Srv,
    /// Certification authority authorisation.
    Caa,
}

impl RecordType {
    /// Every supported type, in the order messages list them.
    pub const ALL: [Self; 9] = [
        Self::A,
        Self::Aaaa,
        Self::Cname,
        Self::Mx,
        Self::Txt,
        Self::Ns,
        Self::Soa,
        Self::Srv,
        Self::Caa,
    ];

    /// The type's mnemonic: `A`, `AAAA`, `MX`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Cname => "CNAME",
            Self::Mx => "MX",
            Self::Txt => "TXT",
            Self::Ns => "NS",
            Self::Soa => "SOA",
            Self::Srv => "SRV",
            Self::Caa => "CAA",
        }
    }

    /// The type's number on the wire (RFC 1035, 3596, 2782, 8659).
    pub fn code(self) -> u16 {
        match self {
            Self::A => 1,
            Self::Ns => 2,
            Self::Cname => 5,
            Self::Soa => 6,
            Self::Mx => 15,
            Self::Txt => 16,
            Self::Aaaa => 28,
            Self::Srv => 33,
            Self::Caa => 257,
        }
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown record type {s:?}: expected one of {}",
                    all.join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for RecordType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for RecordType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A DNS response code (RFC 1035 §4.1.1, RFC 2136 §2.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rcode {
    /// 0: no error.
    #[default]
    NoError,
    /// 1: the server could not read the query.
    FormErr,
    /// 2: the server failed.
    ServFail,
    /// 3: the name does not exist.
    NxDomain,
    /// 4: not implemented.
    NotImp,
    /// 5: refused.
    Refused,
    /// 6: a name exists that should not.
    YxDomain,
    /// 7: an RR set exists that should not.
    YxRrSet,
    /// 8: an RR set that should exist does not.
    NxRrSet,
    /// 9: not authoritative.
    NotAuth,
    /// 10: a name is not in the zone.
    NotZone,
}

impl Rcode {
    /// Every named code, in numeric order.
    pub const ALL: [Self; 11] = [
        Self::NoError,
        Self::FormErr,
        Self::ServFail,
        Self::NxDomain,
        Self::NotImp,
        Self::Refused,
        Self::YxDomain,
        Self::YxRrSet,
        Self::NxRrSet,
        Self::NotAuth,
        Self::NotZone,
    ];

    /// The code's mnemonic: `NOERROR`, `NXDOMAIN`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoError => "NOERROR",
            Self::FormErr => "FORMERR",
            Self::ServFail => "SERVFAIL",
            Self::NxDomain => "NXDOMAIN",
            Self::NotImp => "NOTIMP",
            Self::Refused => "REFUSED",
            Self::YxDomain => "YXDOMAIN",
            Self::YxRrSet => "YXRRSET",
            Self::NxRrSet => "NXRRSET",
            Self::NotAuth => "NOTAUTH",
            Self::NotZone => "NOTZONE",
        }
    }

    /// The code's number.
    pub fn code(self) -> u16 {
        // The variants are declared in numeric order.
        Self::ALL
            .iter()
            .position(|c| *c == self)
            .and_then(|i| u16::try_from(i).ok())
            .unwrap_or(u16::MAX)
    }

    /// The named code for a number, if it has a name here.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// The name of any code: the mnemonic, or `RCODE 23` for one without a name here.
    pub fn describe(code: u16) -> String {
        Self::from_code(code).map_or_else(|| format!("RCODE {code}"), |c| c.as_str().to_owned())
    }
}

impl fmt::Display for Rcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rcode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let all: Vec<&str> = Self::ALL.iter().map(|c| c.as_str()).collect();
                serde::de::Error::custom(format!(
                    "unknown rcode {s:?}: expected one of {}",
                    all.join(", ")
                ))
            })
    }
}

impl Serialize for Rcode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// How the query travels.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One datagram each way (resent every second until the timeout); a truncated answer is
    /// asked again over TCP.
    #[default]
    Udp,
    /// A TCP connection (RFC 7766).
    Tcp,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
        })
    }
}

fn yes() -> bool {
    true
}

/// `dns:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// The name to ask about (always absolute: no search domains; the trailing dot is optional).
    pub name: String,
    /// The record type (default A).
    #[serde(rename = "type", default)]
    pub record_type: RecordType,
    /// The server: `IP`, `IP:PORT`, `[IPv6]:PORT`, `HOST` or `HOST:PORT` (port 53 by default);
    /// default: the first nameserver of the system configuration (`/etc/resolv.conf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub transport: Transport,
    /// Set the RD (recursion desired) bit (default true).
    #[serde(default = "yes")]
    pub recursion: bool,
    /// What the answer must be.
    #[serde(default)]
    pub expect: DnsExpect,
    /// Thresholds on the time from the start of the run to the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time: Option<Thresholds>,
}

/// `dns.expect:` — every condition given must hold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsExpect {
    /// The response code (default NOERROR).
    #[serde(default)]
    pub rcode: Rcode,
    /// The answer records of the asked type must be exactly these (in any order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answers: Option<Vec<String>>,
    /// The answer records of the asked type must include these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
    /// Every answer record of the asked type must have at least this TTL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ttl: Option<Dur>,
}

impl DnsSpec {
    /// Every problem with the spec, fields relative to the check (`dns.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        match DnsAssertions::compile(self) {
            Ok(_) => Vec::new(),
            Err(errors) => errors,
        }
    }

    /// The host of `server`, for per-host limits and the default `host` label (none when the
    /// system's resolver is asked).
    pub fn target_host(&self) -> Option<String> {
        self.server
            .as_deref()
            .and_then(|s| parse_server(s).ok())
            .map(|(host, _)| host)
    }

    /// `server` split into host and port, or `None` for the system's resolver.
    pub fn server_addr(&self) -> Option<Result<(String, u16), String>> {
        self.server.as_deref().map(parse_server)
    }

    /// The name asked about, absolute (with its trailing dot).
    pub fn fqdn(&self) -> String {
        let n = self.name.trim();
        if n.ends_with('.') {
            n.to_owned()
        } else {
            format!("{n}.")
        }
    }
}

/// Splits `IP`, `IP:PORT`, `[IPv6]:PORT`, `HOST`, `HOST:PORT` into host and port.
pub fn parse_server(s: &str) -> Result<(String, u16), String> {
    let t = s.trim();
    let bad = |why: &str| {
        Err(format!(
            "invalid server {s:?}: {why} (expected e.g. 192.0.2.53, 192.0.2.53:5353, \
             [2001:db8::53]:53 or ns1.example.com)"
        ))
    };
    if t.is_empty() {
        return bad("empty");
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok((ip.to_string(), DEFAULT_PORT));
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return bad("missing ']'");
        };
        if ip.parse::<Ipv6Addr>().is_err() {
            return bad("not an IPv6 address between [ ]");
        }
        match after {
            "" => (ip, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (ip, Some(p)),
                None => return bad("unexpected text after ']'"),
            },
        }
    } else {
        match t.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (t, None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return bad("the port must be a number from 1 to 65535"),
        },
    };
    if host.parse::<IpAddr>().is_err()
        && let Err(why) = check_name(host)
    {
        return bad(&why);
    }
    Ok((host.to_owned(), port))
}

/// A domain name for a query: labels of at most 63 bytes, at most 253 in all, no spaces.
fn check_name(name: &str) -> Result<(), String> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return if name == "." {
            Ok(())
        } else {
            Err("empty name".to_owned())
        };
    }
    if n.len() > 253 {
        return Err("longer than 253 characters".to_owned());
    }
    for label in n.split('.') {
        if label.is_empty() {
            return Err(format!("empty label in {name:?}"));
        }
        if label.len() > 63 {
            return Err(format!("a label of {name:?} is longer than 63 characters"));
        }
        if label.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{name:?} contains a space or a control character"));
        }
        if !label.is_ascii() {
            return Err(format!(
                "{name:?} is not ASCII: write internationalised names in their xn-- form"
            ));
        }
    }
    Ok(())
}

/// A name in its compared form: lower case, with a trailing dot.
fn norm_name(name: &str) -> Result<String, String> {
    check_name(name).map_err(|why| format!("invalid name: {why}"))?;
    let lower = name.to_ascii_lowercase();
    Ok(if lower.ends_with('.') {
        lower
    } else {
        format!("{lower}.")
    })
}

fn number<T: std::str::FromStr>(token: &str, what: &str) -> Result<T, String> {
    token
        .parse()
        .map_err(|_| format!("{what} {token:?} is not a number in range"))
}

/// Record data in the compared text form (see the module documentation), or why `text` is not
/// data of type `t`.
pub fn normalise(t: RecordType, text: &str) -> Result<String, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let arity = |n: usize, shape: &str| -> Result<(), String> {
        if fields.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{text:?} is not {} {t} value: expected `{shape}`",
                if t == RecordType::A { "an" } else { "a" }
            ))
        }
    };
    match t {
        RecordType::A => text
            .trim()
            .parse::<Ipv4Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{text:?} is not an IPv4 address")),
        RecordType::Aaaa => text
            .trim()
            .parse::<Ipv6Addr>()
            .map(|ip| ip.to_string())
            .map_err(|_| format!("{text:?} is not an IPv6 address")),
        RecordType::Cname | RecordType::Ns => {
            arity(1, "NAME")?;
            norm_name(fields[0])
        }
        RecordType::Mx => {
            arity(2, "PREFERENCE EXCHANGE, e.g. 10 mail.example.com.")?;
            let pref: u16 = number(fields[0], "preference")?;
            Ok(format!("{pref} {}", norm_name(fields[1])?))
        }
        RecordType::Srv => {
            arity(
                4,
                "PRIORITY WEIGHT PORT TARGET, e.g. 10 5 5060 sip.example.com.",
            )?;
            let prio: u16 = number(fields[0], "priority")?;
            let weight: u16 = number(fields[1], "weight")?;
            let port: u16 = number(fields[2], "port")?;
            Ok(format!("{prio} {weight} {port} {}", norm_name(fields[3])?))
        }
        RecordType::Soa => {
            arity(
                7,
                "MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM, e.g. ns1.example.com. \
                 hostmaster.example.com. 2024010101 7200 3600 1209600 300",
            )?;
            let mut out = vec![norm_name(fields[0])?, norm_name(fields[1])?];
            for (f, what) in fields[2..]
                .iter()
                .zip(["serial", "refresh", "retry", "expire", "minimum"])
            {
                out.push(number::<u32>(f, what)?.to_string());
            }
            Ok(out.join(" "))
        }
        RecordType::Caa => {
            let t = text.trim();
            let shape = || {
                format!(
                    "{text:?} is not a CAA value: expected `FLAGS TAG VALUE`, e.g. \
                     0 issue \"letsencrypt.org\""
                )
            };
            let (flags, rest) = t.split_once(char::is_whitespace).ok_or_else(shape)?;
            let (tag, value) = rest
                .trim_start()
                .split_once(char::is_whitespace)
                .ok_or_else(shape)?;
            let flags: u8 = number(flags, "flags")?;
            if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("CAA tag {tag:?} must be letters and digits"));
            }
            let v = value.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            Ok(format!("{flags} {} \"{v}\"", tag.to_ascii_lowercase()))
        }
        RecordType::Txt => Ok(text.to_owned()),
    }
}

/// One answer record of the asked type, as the probe read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsAnswer {
    /// The data in the compared text form ([`normalise`]).
    pub data: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// A reply, as [`DnsAssertions::check`] sees it.
#[derive(Clone, Copy, Debug)]
pub struct DnsReplyView<'a> {
    /// The response code (12 bits with EDNS).
    pub rcode: u16,
    /// The answer records of the asked type (CNAMEs that led to them are left out).
    pub answers: &'a [DnsAnswer],
    /// Who answered and how, for messages: `127.0.0.1:53 over udp`.
    pub via: &'a str,
    /// From the start of the run to the answer.
    pub elapsed: Duration,
}

/// The compiled `expect` and `response_time` of a DNS check.
#[derive(Clone, Debug)]
pub struct DnsAssertions {
    question: String,
    record_type: RecordType,
    rcode: Rcode,
    answers: Option<BTreeSet<String>>,
    contains: Vec<String>,
    min_ttl: Option<Duration>,
    warning: Option<Duration>,
    critical: Option<Duration>,
}

impl DnsAssertions {
    /// Normalises the expected values and checks every field; every error is returned.
    pub fn compile(spec: &DnsSpec) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if let Err(why) = check_name(spec.name.trim()) {
            errors.push(FieldError::nowhere("dns.name", why));
        }
        if let Some(Err(why)) = spec.server_addr() {
            errors.push(FieldError::nowhere("dns.server", why));
        }
        let t = spec.record_type;
        let mut values = |list: &[String], field: &str| -> Vec<String> {
            let mut out = Vec::with_capacity(list.len());
            for (i, v) in list.iter().enumerate() {
                match normalise(t, v) {
                    Ok(n) => out.push(n),
                    Err(why) => {
                        errors.push(FieldError::nowhere(format!("dns.expect.{field}[{i}]"), why));
                    }
                }
            }
            out
        };
        let answers = spec
            .expect
            .answers
            .as_ref()
            .map(|a| values(a, "answers").into_iter().collect::<BTreeSet<_>>());
        let contains = values(&spec.expect.contains, "contains");
        let (warning, critical) =
            response_time_limits(spec.response_time, "dns.response_time", &mut errors);
        if spec.expect.rcode != Rcode::NoError
            && (spec.expect.answers.as_ref().is_some_and(|a| !a.is_empty())
                || !spec.expect.contains.is_empty())
        {
            errors.push(FieldError::nowhere(
                "dns.expect",
                format!(
                    "answers/contains cannot be met with rcode {}: only NOERROR replies carry \
                     answers",
                    spec.expect.rcode
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            question: format!("{t} {}", spec.fqdn()),
            record_type: t,
            rcode: spec.expect.rcode,
            answers,
            contains,
            min_ttl: spec.expect.min_ttl.map(Dur::get),
            warning,
            critical,
        })
    }

    /// The status and a one-line message for `reply`.
    pub fn check(&self, reply: &DnsReplyView<'_>) -> (Status, String) {
        let t = self.record_type;
        let got: BTreeSet<&str> = reply.answers.iter().map(|a| a.data.as_str()).collect();
        let mut critical: Vec<String> = Vec::new();
        let mut warning: Vec<String> = Vec::new();
        let wanted = self.rcode.code();
        if reply.rcode != wanted {
            critical.push(format!(
                "expected rcode {}, got {} for {}",
                self.rcode,
                Rcode::describe(reply.rcode),
                self.question
            ));
        } else if self.rcode == Rcode::NoError {
            match &self.answers {
                Some(want) => {
                    let missing: Vec<&str> = want
                        .iter()
                        .map(String::as_str)
                        .filter(|w| !got.contains(w))
                        .collect();
                    let unexpected: Vec<&str> =
                        got.iter().copied().filter(|g| !want.contains(*g)).collect();
                    if !missing.is_empty() || !unexpected.is_empty() {
                        let mut parts = Vec::new();
                        if !missing.is_empty() {
                            parts.push(format!("missing {}", show(&missing)));
                        }
                        if !unexpected.is_empty() {
                            parts.push(format!("unexpected {}", show(&unexpected)));
                        }
                        critical.push(format!(
                            "{t} answers differ from the expected set: {}",
                            parts.join(", ")
                        ));
                    }
                }
                None if self.contains.is_empty() && got.is_empty() => {
                    critical.push(format!(
                        "no {t} records for {} (NOERROR with an empty answer)",
                        self.question_name()
                    ));
                }
                None => {}
            }
            let lacking: Vec<&str> = self
                .contains
                .iter()
                .map(String::as_str)
                .filter(|w| !got.contains(w))
                .collect();
            if !lacking.is_empty() {
                let have: Vec<&str> = got.iter().copied().collect();
                critical.push(format!(
                    "{t} answers lack {} (got {})",
                    show(&lacking),
                    if have.is_empty() {
                        "none".to_owned()
                    } else {
                        show(&have)
                    }
                ));
            }
            if let Some(min) = self.min_ttl
                && let Some(low) = reply
                    .answers
                    .iter()
                    .filter(|a| Duration::from_secs(u64::from(a.ttl)) < min)
                    .min_by_key(|a| a.ttl)
            {
                critical.push(format!(
                    "TTL {}s of {t} {} is below the minimum {}",
                    low.ttl,
                    low.data,
                    Dur(min)
                ));
            }
        }
        let elapsed = reply.elapsed;
        match response_time_breach(elapsed, self.warning, self.critical) {
            Some((Status::Critical, m)) => critical.push(m),
            Some((_, m)) => warning.push(m),
            None => {}
        }
        let total = critical.len() + warning.len();
        let (status, first) = match (critical.into_iter().next(), warning.into_iter().next()) {
            (Some(c), _) => (Status::Critical, c),
            (None, Some(w)) => (Status::Warning, w),
            (None, None) => {
                let what = if reply.rcode == Rcode::NoError.code() {
                    let all: Vec<&str> = got.iter().copied().collect();
                    if all.is_empty() {
                        "no records".to_owned()
                    } else {
                        show(&all)
                    }
                } else {
                    format!("{} as expected", Rcode::describe(reply.rcode))
                };
                return (
                    Status::Ok,
                    format!(
                        "{}: {what} ({} in {})",
                        self.question,
                        reply.via,
                        format_duration(elapsed)
                    ),
                );
            }
        };
        let message = if total > 1 {
            format!("{first} (and {} more)", total - 1)
        } else {
            first
        };
        (status, message)
    }

    fn question_name(&self) -> &str {
        self.question
            .split_once(' ')
            .map_or(self.question.as_str(), |(_, n)| n)
    }
}

/// `a, b, c` — at most [`SHOWN`] values, then `and N more`; TXT values are quoted.
fn show(values: &[&str]) -> String {
    let mut parts: Vec<String> = values
        .iter()
        .take(SHOWN)
        .map(|v| {
            if v.contains(' ') || v.is_empty() {
                format!("{v:?}")
            } else {
                (*v).to_owned()
            }
        })
        .collect();
    if values.len() > SHOWN {
        parts.push(format!("and {} more", values.len() - SHOWN));
    }
    parts.join(", ")
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for RecordType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.iter().map(|t| t.as_str())))
            .description(Some("A DNS record type (any case on input)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for RecordType {}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Rcode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::ALL.iter().map(|c| c.as_str())))
            .description(Some("A DNS response code (any case on input)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Rcode {}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DnsSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn answers(list: &[(&str, u32)]) -> Vec<DnsAnswer> {
        list.iter()
            .map(|(d, ttl)| DnsAnswer {
                data: (*d).to_owned(),
                ttl: *ttl,
            })
            .collect()
    }

    fn check(yaml: &str, rcode: u16, got: &[(&str, u32)], ms: u64) -> (Status, String) {
        let a = DnsAssertions::compile(&spec(yaml)).unwrap();
        let got = answers(got);
        a.check(&DnsReplyView {
            rcode,
            answers: &got,
            via: "127.0.0.1:53 over udp",
            elapsed: Duration::from_millis(ms),
        })
    }

    #[test]
    fn values_are_normalised() {
        use RecordType::*;
        let ok = [
            (A, " 192.0.2.1 ", "192.0.2.1"),
            (Aaaa, "2001:DB8:0::1", "2001:db8::1"),
            (Cname, "WWW.Example.com", "www.example.com."),
            (Ns, "ns1.example.com.", "ns1.example.com."),
            (Mx, "10  Mail.example.com", "10 mail.example.com."),
            (
                Srv,
                "10 5 5060 sip.example.com",
                "10 5 5060 sip.example.com.",
            ),
            (
                Soa,
                "ns1.example.com hostmaster.example.com. 2024010101 7200 3600 1209600 300",
                "ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300",
            ),
            (
                Caa,
                "0 issue letsencrypt.org",
                "0 issue \"letsencrypt.org\"",
            ),
            (
                Caa,
                "128 ISSUE \"ca.example; x=y\"",
                "128 issue \"ca.example; x=y\"",
            ),
            (Txt, "v=spf1 -all", "v=spf1 -all"),
        ];
        for (t, input, want) in ok {
            assert_eq!(normalise(t, input).as_deref(), Ok(want), "{t} {input:?}");
        }
        let bad = [
            (A, "192.0.2"),
            (A, "2001:db8::1"),
            (Aaaa, "192.0.2.1"),
            (Mx, "mail.example.com"),
            (Mx, "x mail.example.com"),
            (Mx, "70000 mail.example.com"),
            (Srv, "10 5 sip.example.com"),
            (Soa, "ns1 hostmaster 1 2 3 4"),
            (Cname, "a..b"),
            (Cname, "a b"),
            (Caa, "0 issue"),
        ];
        for (t, input) in bad {
            assert!(normalise(t, input).is_err(), "{t} {input:?}");
        }
    }

    #[test]
    fn servers_parse() {
        let p = |s: &str| parse_server(s);
        assert_eq!(p("192.0.2.53"), Ok(("192.0.2.53".into(), 53)));
        assert_eq!(p("127.0.0.1:5353"), Ok(("127.0.0.1".into(), 5353)));
        assert_eq!(p("::1"), Ok(("::1".into(), 53)));
        assert_eq!(p("[::1]"), Ok(("::1".into(), 53)));
        assert_eq!(p("[2001:db8::1]:5353"), Ok(("2001:db8::1".into(), 5353)));
        assert_eq!(p("ns1.example.com"), Ok(("ns1.example.com".into(), 53)));
        assert_eq!(p("ns1.example.com:54"), Ok(("ns1.example.com".into(), 54)));
        for bad in [
            "",
            "127.0.0.1:0",
            "127.0.0.1:x",
            "[::1",
            "[x]:53",
            "a b:53",
            "h:70000",
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn types_and_rcodes_read_in_any_case() {
        assert_eq!(spec("{name: x, type: aaaa}").record_type, RecordType::Aaaa);
        assert_eq!(
            spec("{name: x, expect: {rcode: nxdomain}}").expect.rcode,
            Rcode::NxDomain
        );
        let e = serde_saphyr::from_str::<DnsSpec>("{name: x, type: AAA}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown record type \"AAA\""), "{e}");
        assert_eq!(Rcode::NxDomain.code(), 3);
        assert_eq!(Rcode::from_code(2), Some(Rcode::ServFail));
        assert_eq!(Rcode::describe(23), "RCODE 23");
    }

    #[test]
    fn validation_names_the_field() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert!(fields("{name: example.com}").is_empty());
        assert_eq!(fields("{name: 'a..b'}"), ["dns.name"]);
        assert_eq!(fields("{name: x, server: '1.2.3.4:0'}"), ["dns.server"]);
        assert_eq!(
            fields("{name: x, expect: {answers: [1.2.3.4, nope], contains: [x]}}"),
            ["dns.expect.answers[1]", "dns.expect.contains[0]"]
        );
        assert_eq!(
            fields("{name: x, response_time: {warning: 2s, critical: 1s}}"),
            ["dns.response_time"]
        );
        assert_eq!(
            fields("{name: x, expect: {rcode: NXDOMAIN, contains: [1.2.3.4]}}"),
            ["dns.expect"]
        );
        assert!(fields("{name: x, expect: {rcode: NXDOMAIN, answers: []}}").is_empty());
    }

    #[test]
    fn judgement_table() {
        let a2 = [("192.0.2.1", 300), ("192.0.2.2", 60)];
        // (spec, rcode, answers, milliseconds, status, message)
        type Case<'a> = (&'a str, u16, &'a [(&'a str, u32)], u64, Status, &'a str);
        let cases: &[Case<'_>] = &[
            (
                "{name: example.com}",
                0,
                &a2,
                3,
                Status::Ok,
                "A example.com.: 192.0.2.1, 192.0.2.2 (127.0.0.1:53 over udp in 3ms)",
            ),
            (
                "{name: example.com}",
                0,
                &[],
                3,
                Status::Critical,
                "no A records for example.com. (NOERROR with an empty answer)",
            ),
            (
                "{name: example.com, expect: {answers: []}}",
                0,
                &[],
                3,
                Status::Ok,
                "A example.com.: no records (127.0.0.1:53 over udp in 3ms)",
            ),
            (
                "{name: example.com}",
                3,
                &[],
                3,
                Status::Critical,
                "expected rcode NOERROR, got NXDOMAIN for A example.com.",
            ),
            (
                "{name: gone.example.com, expect: {rcode: NXDOMAIN}}",
                3,
                &[],
                3,
                Status::Ok,
                "A gone.example.com.: NXDOMAIN as expected (127.0.0.1:53 over udp in 3ms)",
            ),
            (
                "{name: example.com, expect: {answers: [192.0.2.1, 192.0.2.3]}}",
                0,
                &a2,
                3,
                Status::Critical,
                "A answers differ from the expected set: missing 192.0.2.3, unexpected 192.0.2.2",
            ),
            (
                "{name: example.com, expect: {answers: [192.0.2.2, 192.0.2.1]}}",
                0,
                &a2,
                3,
                Status::Ok,
                "A example.com.: 192.0.2.1, 192.0.2.2 (127.0.0.1:53 over udp in 3ms)",
            ),
            (
                "{name: example.com, expect: {contains: [192.0.2.2]}}",
                0,
                &a2,
                3,
                Status::Ok,
                "A example.com.: 192.0.2.1, 192.0.2.2 (127.0.0.1:53 over udp in 3ms)",
            ),
            (
                "{name: example.com, expect: {contains: [192.0.2.9]}}",
                0,
                &a2,
                3,
                Status::Critical,
                "A answers lack 192.0.2.9 (got 192.0.2.1, 192.0.2.2)",
            ),
            (
                "{name: example.com, expect: {min_ttl: 2m}}",
                0,
                &a2,
                3,
                Status::Critical,
                "TTL 60s of A 192.0.2.2 is below the minimum 2m",
            ),
            (
                "{name: example.com, response_time: {warning: 100ms, critical: 1s}}",
                0,
                &a2,
                250,
                Status::Warning,
                "response time 250ms above warning 100ms",
            ),
            (
                "{name: example.com, expect: {contains: [192.0.2.9]}, response_time: {critical: 1s}}",
                0,
                &a2,
                1500,
                Status::Critical,
                "A answers lack 192.0.2.9 (got 192.0.2.1, 192.0.2.2) (and 1 more)",
            ),
            (
                "{name: example.com, type: TXT, expect: {contains: [v=spf1 -all]}}",
                0,
                &[("hello world", 60)],
                3,
                Status::Critical,
                "TXT answers lack \"v=spf1 -all\" (got \"hello world\")",
            ),
        ];
        for (yaml, rcode, got, ms, status, message) in cases {
            assert_eq!(
                check(yaml, *rcode, got, *ms),
                (*status, (*message).to_owned()),
                "{yaml}"
            );
        }
    }

    #[test]
    fn long_lists_are_cut() {
        let values: Vec<String> = (1..=8).map(|i| format!("192.0.2.{i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(
            show(&refs),
            "192.0.2.1, 192.0.2.2, 192.0.2.3, 192.0.2.4, 192.0.2.5, and 3 more"
        );
    }
}
