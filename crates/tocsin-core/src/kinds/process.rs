//! `process:` — count the processes that match a name, a command-line regex and a user, and
//! measure their CPU and resident memory.
//!
//! The spec is the users' contract (field names are the YAML names); [`ProcessSpec::validate`]
//! reports every problem with the field it is in, and [`ProcessSpec::judge`] turns what the
//! probe measured into findings. Both are pure: the probe reads /proc.

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

use crate::Status;
use crate::assert::{FieldError, compile_regex};
use crate::kinds::limits::{
    Direction, Finding, Limits, NumOrText, Percent, Size, fmt_bytes, fmt_percent,
};

/// `process:` as written in a check. At least one of `name`, `cmdline`, `user` is required;
/// a process must match every one given.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSpec {
    /// The process name, exactly (as `pgrep -x` compares it: the kernel's `comm`, or for a
    /// name longer than 15 bytes, the first 15 bytes plus the base name of `argv[0]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub name: Option<Spanned<String>>,
    /// A regular expression searched in the command line (arguments joined by spaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub cmdline: Option<Spanned<String>>,
    /// The effective user: a name (looked up in /etc/passwd) or a numeric uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<UserRef>))]
    pub user: Option<Spanned<UserRef>>,
    /// Fewer matching processes than this is critical (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    /// More matching processes than this is critical (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// CPU of all the matches together, in percent of one core (`200%` = two cores busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Limits<Percent>>,
    /// Resident memory of all the matches together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss: Option<Limits<Size>>,
}

/// A user, by name or by numeric uid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    /// A user name, looked up in /etc/passwd at each run.
    Name(String),
    /// A numeric uid.
    Uid(u32),
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(n) => f.write_str(n),
            Self::Uid(u) => write!(f, "{u}"),
        }
    }
}

impl Serialize for UserRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Name(n) => s.serialize_str(n),
            Self::Uid(u) => s.serialize_u32(*u),
        }
    }
}

impl<'de> Deserialize<'de> for UserRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::N(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) => {
                Ok(Self::Uid(n as u32))
            }
            NumOrText::N(n) => Err(serde::de::Error::custom(format!(
                "invalid uid {n} (expected a user name or a uid from 0 to {})",
                u32::MAX
            ))),
            NumOrText::S(s) => Ok(s
                .parse::<u32>()
                .map_or_else(|_| Self::Name(s.clone()), Self::Uid)),
        }
    }
}

/// What the probe found: the matching processes, taken together.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessTotals {
    /// How many processes match.
    pub count: u64,
    /// Their CPU in percent of one core over the sampling interval.
    pub cpu_percent: f64,
    /// Their resident memory, bytes.
    pub rss_bytes: u64,
}

impl ProcessSpec {
    /// Fewer matches than this is critical.
    pub fn min(&self) -> u64 {
        self.min.unwrap_or(1)
    }

    /// The compiled `cmdline`, if given.
    pub fn cmdline_regex(&self) -> Option<Result<Regex, String>> {
        self.cmdline.as_ref().map(|re| compile_regex(&re.value))
    }

    /// Every problem with the spec, fields relative to the check (`process.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.name.is_none() && self.cmdline.is_none() && self.user.is_none() {
            errors.push(FieldError::nowhere(
                "process",
                "give at least one of name, cmdline, user",
            ));
        }
        if let Some(n) = &self.name
            && n.value.is_empty()
        {
            errors.push(FieldError::at("process.name", n, "must not be empty"));
        }
        if let Some(c) = &self.cmdline {
            if c.value.is_empty() {
                errors.push(FieldError::at(
                    "process.cmdline",
                    c,
                    "must not be empty (leave it out to match any command line)",
                ));
            } else if let Some(Err(m)) = self.cmdline_regex() {
                errors.push(FieldError::at("process.cmdline", c, m));
            }
        }
        if let Some(u) = &self.user
            && matches!(&u.value, UserRef::Name(n) if n.trim().is_empty())
        {
            errors.push(FieldError::at("process.user", u, "must not be empty"));
        }
        if let Some(max) = self.max
            && max < self.min()
        {
            errors.push(FieldError::nowhere(
                "process.max",
                format!("must not be below min ({}) (got {max})", self.min()),
            ));
        }
        if let Some(l) = &self.cpu {
            l.validate(
                "process.cpu",
                Direction::Above,
                |_| None,
                |p: &Percent| Some((0, p.0)),
                &mut errors,
            );
        }
        if let Some(l) = &self.rss {
            l.validate(
                "process.rss",
                Direction::Above,
                |_| None,
                |s: &Size| Some((0, s.0 as f64)),
                &mut errors,
            );
        }
        errors
    }

    /// Processes on this host: no target host.
    pub fn target_host(&self) -> Option<String> {
        None
    }

    /// The filter in words, for messages: `name=nginx cmdline=/master/ user=www-data`.
    pub fn filter(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = &self.name {
            parts.push(format!("name={}", n.value));
        }
        if let Some(c) = &self.cmdline {
            parts.push(format!("cmdline=/{}/", c.value));
        }
        if let Some(u) = &self.user {
            parts.push(format!("user={}", u.value));
        }
        parts.join(" ")
    }

    /// Every threshold `t` breaches: the count first, then cpu, then rss.
    pub fn judge(&self, t: &ProcessTotals) -> Vec<Finding> {
        let mut out = Vec::new();
        let filter = self.filter();
        let (min, n) = (self.min(), t.count);
        if n < min {
            out.push(Finding::new(
                Status::Critical,
                format!("{} (at least {min} expected)", count_phrase(n, &filter)),
            ));
        }
        if let Some(max) = self.max
            && n > max
        {
            out.push(Finding::new(
                Status::Critical,
                format!("{} (at most {max} expected)", count_phrase(n, &filter)),
            ));
        }
        if let Some((st, th)) = self
            .cpu
            .as_ref()
            .and_then(|l| l.judge(|th| t.cpu_percent >= th.0))
        {
            out.push(Finding::new(
                st,
                format!(
                    "processes matching {filter} use {} cpu, {st} at {th}",
                    fmt_percent(t.cpu_percent)
                ),
            ));
        }
        if let Some((st, th)) = self
            .rss
            .as_ref()
            .and_then(|l| l.judge(|th| t.rss_bytes >= th.0))
        {
            out.push(Finding::new(
                st,
                format!(
                    "processes matching {filter} use {} of memory (rss), {st} at {th}",
                    fmt_bytes(t.rss_bytes)
                ),
            ));
        }
        out
    }

    /// The one-line summary when all is well: `2 processes match name=nginx: cpu 1.5%, rss 12 MiB`.
    pub fn summary(&self, t: &ProcessTotals) -> String {
        let phrase = count_phrase(t.count, &self.filter());
        if t.count == 0 {
            return phrase;
        }
        format!(
            "{phrase}: cpu {}, rss {}",
            fmt_percent(t.cpu_percent),
            fmt_bytes(t.rss_bytes)
        )
    }
}

fn count_phrase(n: u64, filter: &str) -> String {
    match n {
        0 => format!("no process matches {filter}"),
        1 => format!("1 process matches {filter}"),
        n => format!("{n} processes match {filter}"),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for UserRef {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String),
            )
            .item(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .minimum(Some(0))
                    .maximum(Some(u32::MAX)),
            )
            .description(Some("A user name, or a numeric uid."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for UserRef {}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> ProcessSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn totals(count: u64, cpu: f64, rss: u64) -> ProcessTotals {
        ProcessTotals {
            count,
            cpu_percent: cpu,
            rss_bytes: rss,
        }
    }

    #[test]
    fn users_by_name_or_uid() {
        assert_eq!(
            spec("user: www-data").user.unwrap().value,
            UserRef::Name("www-data".into())
        );
        assert_eq!(spec("user: 33").user.unwrap().value, UserRef::Uid(33));
        assert_eq!(spec("user: '0'").user.unwrap().value, UserRef::Uid(0));
        for bad in ["99999999999", "-1", "1.5"] {
            let e = serde_saphyr::from_str::<ProcessSpec>(&format!("user: {bad}")).unwrap_err();
            assert!(e.to_string().contains("invalid uid"), "{bad}: {e}");
        }
    }

    #[test]
    fn thresholds_table() {
        let cases: [(&str, ProcessTotals, &[Status]); 9] = [
            ("name: a", totals(1, 0.0, 0), &[]),
            ("name: a", totals(0, 0.0, 0), &[Status::Critical]),
            ("{ name: a, min: 0 }", totals(0, 0.0, 0), &[]),
            (
                "{ name: a, min: 0, max: 0 }",
                totals(1, 0.0, 0),
                &[Status::Critical],
            ),
            ("{ name: a, min: 2, max: 3 }", totals(3, 0.0, 0), &[]),
            (
                "{ name: a, min: 2, max: 3 }",
                totals(4, 0.0, 0),
                &[Status::Critical],
            ),
            (
                "{ name: a, cpu: { warning: 50%, critical: 150% } }",
                totals(2, 60.0, 0),
                &[Status::Warning],
            ),
            (
                "{ name: a, rss: { warning: 1M, critical: 2M } }",
                totals(2, 0.0, 3 << 20),
                &[Status::Critical],
            ),
            (
                "{ name: a, min: 3, rss: { warning: 1M } }",
                totals(2, 0.0, 3 << 20),
                &[Status::Critical, Status::Warning],
            ),
        ];
        for (yaml, t, want) in cases {
            let s = spec(yaml);
            assert!(s.validate().is_empty(), "{yaml}: {:?}", s.validate());
            let got: Vec<Status> = s.judge(&t).iter().map(|f| f.status).collect();
            assert_eq!(got, want, "{yaml}");
        }
    }

    #[test]
    fn messages() {
        let s = spec("{ name: nginx, user: www-data }");
        assert_eq!(
            s.judge(&totals(0, 0.0, 0))[0].message,
            "no process matches name=nginx user=www-data (at least 1 expected)"
        );
        let s = spec("{ cmdline: 'worker \\d', max: 2 }");
        assert_eq!(
            s.judge(&totals(3, 0.0, 0))[0].message,
            "3 processes match cmdline=/worker \\d/ (at most 2 expected)"
        );
        assert_eq!(
            s.summary(&totals(2, 1.25, 3 << 20)),
            "2 processes match cmdline=/worker \\d/: cpu 1.2%, rss 3 MiB"
        );
        let s = spec("{ name: a, cpu: { critical: 100% } }");
        assert_eq!(
            s.judge(&totals(1, 180.0, 0))[0].message,
            "processes matching name=a use 180.0% cpu, critical at 100%"
        );
    }

    #[test]
    fn validation() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields("min: 1"), ["process"]);
        assert_eq!(fields("name: ''"), ["process.name"]);
        assert_eq!(fields("cmdline: '('"), ["process.cmdline"]);
        assert_eq!(fields("{ name: a, min: 3, max: 2 }"), ["process.max"]);
        assert_eq!(
            fields("{ name: a, cpu: { warning: 90, critical: 50 } }"),
            ["process.cpu.warning"]
        );
        assert_eq!(
            fields("{ name: a, rss: { warning: 2G, critical: 1G } }"),
            ["process.rss.warning"]
        );
    }
}
