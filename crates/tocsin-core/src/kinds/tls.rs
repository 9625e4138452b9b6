//! `tls:` — connect (optionally after STARTTLS), read the server's certificate and judge it:
//! days left before it expires, not yet valid, the host name it is for, the chain up to a
//! trusted root.
//!
//! Amon had no TLS probe, so the defaults are the usual ones of certificate monitors: a warning
//! when fewer than 30 days are left, critical under 7 (Let's Encrypt renews at 30 days left).
//!
//! The spec is the users' contract (field names are the YAML names); [`TlsSpec::validate`] reports
//! every problem with the field it is in. [`TlsSpec::judge`] turns the facts a probe gathered
//! into a status and a one-line message; it is pure and table-tested.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::Status;
use crate::assert::FieldError;

/// Days left below which the result is a warning, by default.
pub const DEFAULT_WARNING_DAYS: u32 = 30;
/// Days left below which the result is critical, by default.
pub const DEFAULT_CRITICAL_DAYS: u32 = 7;

const DAY: i64 = 86_400;

/// The protocol spoken before the TLS handshake.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartTls {
    /// SMTP (RFC 3207): banner, `EHLO`, `STARTTLS` answered by `220`. Default port 25.
    Smtp,
    /// IMAP (RFC 3501): greeting, `STARTTLS` answered by `OK`. Default port 143.
    Imap,
    /// PostgreSQL: an `SSLRequest` answered by `S`. Default port 5432.
    Postgres,
}

impl StartTls {
    /// The protocol's usual port.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Smtp => 25,
            Self::Imap => 143,
            Self::Postgres => 5432,
        }
    }

    /// The name as written in a file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Imap => "imap",
            Self::Postgres => "postgres",
        }
    }
}

impl fmt::Display for StartTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `days_left:` thresholds on the days before the certificate expires.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DaysLeft {
    /// A warning when fewer days than this are left (default 30; 0 turns the warning off).
    #[serde(default = "default_warning")]
    pub warning: u32,
    /// Critical when fewer days than this are left (default 7; an expired certificate is always
    /// critical).
    #[serde(default = "default_critical")]
    pub critical: u32,
}

impl Default for DaysLeft {
    fn default() -> Self {
        Self {
            warning: DEFAULT_WARNING_DAYS,
            critical: DEFAULT_CRITICAL_DAYS,
        }
    }
}

fn default_warning() -> u32 {
    DEFAULT_WARNING_DAYS
}

fn default_critical() -> u32 {
    DEFAULT_CRITICAL_DAYS
}

fn yes() -> bool {
    true
}

/// `tls:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// Host name or IP address to connect to.
    pub host: String,
    /// Port (default 443; with `starttls`, the protocol's port: smtp 25, imap 143, postgres 5432).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The name sent in SNI and that the certificate must be valid for (default: `host`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Speak this protocol up to its STARTTLS command before the handshake (default: none, TLS
    /// from the first byte).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<StartTls>,
    /// A PEM file of CA certificates to trust instead of the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Verify the chain and the host name (default true); `false` judges only the dates.
    #[serde(default = "yes")]
    pub verify: bool,
    /// Thresholds on the days left (default warning under 30, critical under 7).
    #[serde(default)]
    pub days_left: DaysLeft,
}

/// What a probe read from the server's certificate, as [`TlsSpec::judge`] needs it.
#[derive(Clone, Copy, Debug)]
pub struct CertFacts<'a> {
    /// The names the certificate is for (its DNS and IP SANs, else its common name).
    pub names: &'a [String],
    /// The issuer's distinguished name.
    pub issuer: &'a str,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
}

impl TlsSpec {
    /// The port to connect to: `port`, or the default of the protocol.
    pub fn port(&self) -> u16 {
        self.port
            .unwrap_or_else(|| self.starttls.map_or(443, StartTls::default_port))
    }

    /// The host without IPv6 brackets.
    pub fn host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The name the certificate must be valid for: `server_name`, else the host.
    pub fn name(&self) -> &str {
        self.server_name.as_deref().unwrap_or_else(|| self.host())
    }

    /// Every problem with the spec, fields relative to the check (`tls.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Err(m) = check_host(&self.host) {
            errors.push(FieldError::nowhere("tls.host", m));
        }
        if self.port == Some(0) {
            errors.push(FieldError::nowhere(
                "tls.port",
                "must be between 1 and 65535 (got 0)",
            ));
        }
        if let Some(name) = &self.server_name
            && let Err(m) = check_server_name(name)
        {
            errors.push(FieldError::nowhere("tls.server_name", m));
        }
        if let Some(path) = &self.ca_file
            && path.trim().is_empty()
        {
            errors.push(FieldError::nowhere(
                "tls.ca_file",
                "must not be empty (leave it out to trust the system's CAs)",
            ));
        }
        let d = self.days_left;
        if d.warning > 0 && d.critical > d.warning {
            errors.push(FieldError::nowhere(
                "tls.days_left",
                format!(
                    "critical {} is above warning {}; critical must not exceed warning \
                     (set warning: 0 to have no warning)",
                    d.critical, d.warning
                ),
            ));
        }
        errors
    }

    /// The host the probe talks to, for per-host limits and the default `host` label.
    pub fn target_host(&self) -> Option<String> {
        Some(self.host().to_owned())
    }

    /// The status and one-line message for a certificate: `problems` are what the probe found
    /// wrong with the chain and the name (each already a message; all critical); the dates and
    /// the `days_left` thresholds are judged here. `now` is Unix seconds.
    pub fn judge(&self, cert: &CertFacts<'_>, problems: &[String], now: i64) -> (Status, String) {
        let not_after = fmt_timestamp(cert.not_after);
        let left = cert.not_after - now;
        let mut critical: Vec<String> = Vec::new();
        if left < 0 {
            critical.push(format!(
                "certificate expired {} ago (not_after {not_after})",
                fmt_age(-left)
            ));
        }
        if cert.not_before > now {
            critical.push(format!(
                "certificate not valid until {} (in {})",
                fmt_timestamp(cert.not_before),
                fmt_age(cert.not_before - now)
            ));
        }
        critical.extend(problems.iter().cloned());
        if !critical.is_empty() {
            return (Status::Critical, critical.join("; "));
        }
        let days = self.days_left;
        let expires = format!(
            "certificate expires in {} (not_after {not_after})",
            fmt_age(left)
        );
        if left < i64::from(days.critical) * DAY {
            return (
                Status::Critical,
                format!(
                    "{expires}, below the critical threshold of {} days",
                    days.critical
                ),
            );
        }
        if left < i64::from(days.warning) * DAY {
            return (
                Status::Warning,
                format!(
                    "{expires}, below the warning threshold of {} days",
                    days.warning
                ),
            );
        }
        let names = match cert.names {
            [] => String::new(),
            [one] => format!(" for {one}"),
            many => format!(" for {} and {} more", many[0], many.len() - 1),
        };
        (
            Status::Ok,
            format!(
                "certificate{names} valid for {} (not_after {not_after}), issued by {}",
                fmt_age(left),
                cert.issuer
            ),
        )
    }
}

fn check_host(host: &str) -> Result<(), String> {
    let h = host.trim();
    if h.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if h.contains("://") || h.contains('/') {
        return Err(format!(
            "give a host name or IP address, not a URL (got {host:?})"
        ));
    }
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_err() && h.contains(':') {
        return Err(format!(
            "give the port in tls.port, not in the host (got {host:?})"
        ));
    }
    if h.chars().any(char::is_whitespace) {
        return Err(format!("must not contain spaces (got {host:?})"));
    }
    Ok(())
}

/// A DNS name (labels of letters, digits, `-`, `_`, an optional leading `*`) or an IP address.
fn check_server_name(name: &str) -> Result<(), String> {
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let bad = |why: &str| Err(format!("invalid server name {name:?}: {why}"));
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return bad("empty");
    }
    if n.len() > 253 {
        return bad("longer than 253 characters");
    }
    for label in n.split('.') {
        if label.is_empty() {
            return bad("empty label");
        }
        if label.len() > 63 {
            return bad("a label is longer than 63 characters");
        }
        if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return bad("use letters, digits, '-' and '.' (or an IP address)");
        }
    }
    Ok(())
}

/// `3 days`, `1 day`, `5 hours`, `12 minutes`, `40 seconds`.
pub fn fmt_age(secs: i64) -> String {
    let secs = secs.unsigned_abs();
    let (n, unit) = if secs >= 86_400 {
        (secs / 86_400, "day")
    } else if secs >= 3_600 {
        (secs / 3_600, "hour")
    } else if secs >= 60 {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// RFC 3339 UTC for a Unix timestamp: `2026-11-18T12:00:00Z`.
pub fn fmt_timestamp(secs: i64) -> String {
    match jiff::Timestamp::from_second(secs) {
        Ok(t) => t.to_string(),
        Err(_) => format!("@{secs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> TlsSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    const NOW: i64 = 1_780_000_000;

    fn facts(not_before: i64, not_after: i64) -> (Vec<String>, i64, i64) {
        (vec!["localhost".to_owned()], not_before, not_after)
    }

    fn judge(s: &TlsSpec, nb: i64, na: i64, problems: &[&str]) -> (Status, String) {
        let (names, nb, na) = facts(nb, na);
        let problems: Vec<String> = problems.iter().map(|p| (*p).to_owned()).collect();
        s.judge(
            &CertFacts {
                names: &names,
                issuer: "CN=Test CA",
                not_before: nb,
                not_after: na,
            },
            &problems,
            NOW,
        )
    }

    #[test]
    fn defaults() {
        let s = spec("host: example.com");
        assert_eq!(s.port(), 443);
        assert_eq!(s.name(), "example.com");
        assert!(s.verify);
        assert_eq!(s.days_left, DaysLeft::default());
        assert!(s.validate().is_empty());
        assert_eq!(spec("{host: m, starttls: smtp}").port(), 25);
        assert_eq!(spec("{host: m, starttls: imap}").port(), 143);
        assert_eq!(spec("{host: m, starttls: postgres}").port(), 5432);
        assert_eq!(spec("{host: m, starttls: smtp, port: 587}").port(), 587);
        assert_eq!(spec("{host: '[::1]'}").host(), "::1");
        assert_eq!(
            spec("{host: x, days_left: {warning: 14}}").days_left,
            DaysLeft {
                warning: 14,
                critical: 7
            }
        );
    }

    #[test]
    fn validation_names_the_field() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields("host: ''"), ["tls.host"]);
        assert_eq!(fields("host: https://example.com/"), ["tls.host"]);
        assert_eq!(fields("host: example.com:443"), ["tls.host"]);
        assert!(fields("host: '::1'").is_empty());
        assert_eq!(fields("{host: x, port: 0}"), ["tls.port"]);
        assert_eq!(fields("{host: x, server_name: 'a b'}"), ["tls.server_name"]);
        assert_eq!(
            fields("{host: x, server_name: 'a..b'}"),
            ["tls.server_name"]
        );
        assert_eq!(
            fields("{host: x, server_name: '*.example.com'}"),
            ["tls.server_name"]
        );
        assert!(fields("{host: x, server_name: 10.0.0.1}").is_empty());
        assert_eq!(fields("{host: x, ca_file: ''}"), ["tls.ca_file"]);
        assert_eq!(
            fields("{host: x, days_left: {warning: 5, critical: 10}}"),
            ["tls.days_left"]
        );
        assert!(fields("{host: x, days_left: {warning: 0, critical: 10}}").is_empty());
    }

    #[test]
    fn judgement_table() {
        let s = spec("host: localhost");
        let cases: &[(i64, i64, &[&str], Status, &str)] = &[
            (
                NOW - 10 * DAY,
                NOW + 90 * DAY,
                &[],
                Status::Ok,
                "certificate for localhost valid for 90 days (not_after 2026-08-26T20:26:40Z), issued by CN=Test CA",
            ),
            (
                NOW - 10 * DAY,
                NOW + 20 * DAY,
                &[],
                Status::Warning,
                "certificate expires in 20 days (not_after 2026-06-17T20:26:40Z), below the warning threshold of 30 days",
            ),
            (
                NOW - 10 * DAY,
                NOW + 5 * DAY + 3600,
                &[],
                Status::Critical,
                "certificate expires in 5 days (not_after 2026-06-02T21:26:40Z), below the critical threshold of 7 days",
            ),
            (
                NOW - 10 * DAY,
                NOW - 3 * DAY,
                &[],
                Status::Critical,
                "certificate expired 3 days ago (not_after 2026-05-25T20:26:40Z)",
            ),
            (
                NOW + 2 * DAY,
                NOW + 90 * DAY,
                &[],
                Status::Critical,
                "certificate not valid until 2026-05-30T20:26:40Z (in 2 days)",
            ),
            (
                NOW - 10 * DAY,
                NOW + 90 * DAY,
                &["self-signed certificate"],
                Status::Critical,
                "self-signed certificate",
            ),
            (
                NOW - 10 * DAY,
                NOW - DAY,
                &["certificate is for a.example, not localhost"],
                Status::Critical,
                "certificate expired 1 day ago (not_after 2026-05-27T20:26:40Z); certificate is for a.example, not localhost",
            ),
        ];
        for (nb, na, problems, status, message) in cases {
            let got = judge(&s, *nb, *na, problems);
            assert_eq!((got.0, got.1.as_str()), (*status, *message));
        }
    }

    #[test]
    fn warning_zero_turns_the_warning_off() {
        let s = spec("{host: x, days_left: {warning: 0, critical: 3}}");
        assert_eq!(judge(&s, NOW - DAY, NOW + 10 * DAY, &[]).0, Status::Ok);
        assert_eq!(judge(&s, NOW - DAY, NOW + DAY, &[]).0, Status::Critical);
    }
}
