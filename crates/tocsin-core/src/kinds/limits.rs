//! Thresholds shared by the local kinds (`disk`, `process`, `host_metrics`): percentages written
//! `80%` (or `80`), amounts of space written Amon's way (`20%` or `500M`), inode counts, and
//! `{ warning, critical }` pairs that know in which direction a value goes bad.
//!
//! Everything here is pure: parsing at configuration load, and judging a measured value into a
//! [`Finding`] with a one-line reason.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_saphyr::Spanned;

use crate::Status;
use crate::assert::FieldError;

/// A percentage: `80%`, `12.5%`, or a bare number `80`. Finite and not negative.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", fmt_num(self.0))
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match NumOrText::deserialize(d)? {
            NumOrText::N(n) if n.is_finite() && n >= 0.0 => Ok(Self(n)),
            NumOrText::N(n) => Err(serde::de::Error::custom(format!(
                "invalid percentage {n} (expected e.g. 80%, 12.5% or 80)"
            ))),
            NumOrText::S(s) => parse_percent(&s).map_err(serde::de::Error::custom),
        }
    }
}

/// A number or a string, as YAML gives scalars.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum NumOrText {
    N(f64),
    S(String),
}

fn parse_percent(s: &str) -> Result<Percent, String> {
    let t = s.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Percent(v)),
        _ => Err(format!(
            "invalid percentage {s:?} (expected e.g. 80%, 12.5% or 80)"
        )),
    }
}

/// An amount of space, as Amon's `disk-usage` wrote it: a percentage of the file system
/// (`20%`) or a size (`500M` = 500 MiB, `2GiB`, `10GB`, or a number of bytes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Space {
    /// A percentage of the file system's size.
    Percent(f64),
    /// A number of bytes.
    Bytes(u64),
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(p) => write!(f, "{}%", fmt_num(*p)),
            Self::Bytes(b) => f.write_str(&fmt_bytes(*b)),
        }
    }
}

impl Serialize for Space {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Percent(_) => s.collect_str(self),
            Self::Bytes(b) => s.serialize_u64(*b),
        }
    }
}

impl<'de> Deserialize<'de> for Space {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumOrText::deserialize(d)? {
            NumOrText::N(n) if n.fract() == 0.0 && (0.0..1.8e19).contains(&n) => {
                return Ok(Self::Bytes(n as u64));
            }
            NumOrText::N(n) => fmt_num(n),
            NumOrText::S(s) => s,
        };
        parse_space(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses `20%`, `500M`, `1.5GiB`, `10GB`, `4096`.
pub fn parse_space(s: &str) -> Result<Space, String> {
    let t = s.trim();
    if t.ends_with('%') {
        return parse_percent(t)
            .map(|p| Space::Percent(p.0))
            .map_err(|_| format!("invalid amount {s:?} (expected e.g. 20%, 500M, 2GiB)"));
    }
    parse_size(t)
        .map(Space::Bytes)
        .ok_or_else(|| format!("invalid amount {s:?} (expected e.g. 20%, 500M, 2GiB)"))
}

/// A size with an optional unit: `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` are powers of 1024
/// (Amon's `500M` is 500 MiB), `kB`, `MB`, `GB`, `TB` powers of 1000, no unit or `B` bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    if num.is_empty() {
        return None;
    }
    let mult: u64 = match unit {
        "" | "B" => 1,
        "k" | "kB" | "KB" => 1_000,
        "K" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(mult);
    }
    let f: f64 = num.parse().ok()?;
    let bytes = f * mult as f64;
    (0.0..1.8e19).contains(&bytes).then(|| bytes.round() as u64)
}

/// A size: `500M` (MiB), `2GiB`, `10MB`, or a number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_bytes(self.0))
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = match NumOrText::deserialize(d)? {
            NumOrText::N(n) if n.fract() == 0.0 && (0.0..1.8e19).contains(&n) => {
                return Ok(Self(n as u64));
            }
            NumOrText::N(n) => fmt_num(n),
            NumOrText::S(s) => s,
        };
        parse_size(&text).map(Self).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid size {text:?} (expected e.g. 500M, 2GiB or a number of bytes)"
            ))
        })
    }
}

/// A number of inodes or a percentage of them: `5%`, `10000`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inodes {
    /// A percentage of the file system's inodes.
    Percent(f64),
    /// A number of inodes.
    Count(u64),
}

impl fmt::Display for Inodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Percent(p) => write!(f, "{}%", fmt_num(*p)),
            Self::Count(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for Inodes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Percent(_) => s.collect_str(self),
            Self::Count(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Inodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = |s: &str| format!("invalid inode amount {s:?} (expected e.g. 5% or 10000)");
        let text = match NumOrText::deserialize(d)? {
            NumOrText::N(n) if n.fract() == 0.0 && (0.0..1.8e19).contains(&n) => {
                return Ok(Self::Count(n as u64));
            }
            NumOrText::N(n) => return Err(serde::de::Error::custom(bad(&fmt_num(n)))),
            NumOrText::S(s) => s,
        };
        let t = text.trim();
        if t.ends_with('%') {
            return parse_percent(t)
                .map(|p| Self::Percent(p.0))
                .map_err(|_| serde::de::Error::custom(bad(&text)));
        }
        t.parse::<u64>()
            .map(Self::Count)
            .map_err(|_| serde::de::Error::custom(bad(&text)))
    }
}

/// Which way a value goes bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bad when the value reaches the threshold (`value >= threshold`): usage, load, CPU.
    Above,
    /// Bad when the value falls below the threshold (`value < threshold`): free space.
    Below,
}

/// `{ warning: …, critical: … }`: one or both thresholds on a value.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "T: Deserialize<'de>", serialize = "T: Serialize")
)]
pub struct Limits<T> {
    /// The status is `warning` past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<T>))]
    pub warning: Option<Spanned<T>>,
    /// The status is `critical` past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<T>))]
    pub critical: Option<Spanned<T>>,
}

impl<T> Limits<T> {
    /// Only a critical threshold (a default).
    pub fn critical(t: T) -> Self {
        Self {
            warning: None,
            critical: Some(Spanned::new(
                t,
                serde_saphyr::Location::UNKNOWN,
                serde_saphyr::Location::UNKNOWN,
            )),
        }
    }

    /// The thresholds given, critical first.
    pub fn each(&self) -> impl Iterator<Item = (Status, &T)> {
        [
            (Status::Critical, self.critical.as_ref()),
            (Status::Warning, self.warning.as_ref()),
        ]
        .into_iter()
        .filter_map(|(s, t)| t.map(|t| (s, &t.value)))
    }

    /// The first threshold breached, critical first. `breached(t)` says whether the measured
    /// value is past `t`.
    pub fn judge(&self, mut breached: impl FnMut(&T) -> bool) -> Option<(Status, &T)> {
        self.each().find(|(_, t)| breached(t))
    }

    /// Checks that at least one threshold is given, that each value is acceptable
    /// (`check_value` returns a message when it is not), and that warning comes before critical
    /// in `dir` (`key` gives comparable values; `None` when they cannot be compared, such as a
    /// percentage against a size).
    pub fn validate(
        &self,
        field: &str,
        dir: Direction,
        check_value: impl Fn(&T) -> Option<String>,
        key: impl Fn(&T) -> Option<(u8, f64)>,
        errors: &mut Vec<FieldError>,
    ) where
        T: fmt::Display,
    {
        if self.warning.is_none() && self.critical.is_none() {
            errors.push(FieldError::nowhere(
                field,
                "give warning, critical or both (e.g. { warning: 80%, critical: 90% })",
            ));
            return;
        }
        let mut ok = true;
        for (name, t) in [("warning", &self.warning), ("critical", &self.critical)] {
            if let Some(t) = t
                && let Some(m) = check_value(&t.value)
            {
                errors.push(FieldError::at(format!("{field}.{name}"), t, m));
                ok = false;
            }
        }
        if !ok {
            return;
        }
        if let (Some(w), Some(c)) = (&self.warning, &self.critical)
            && let (Some((wu, wv)), Some((cu, cv))) = (key(&w.value), key(&c.value))
            && wu == cu
        {
            let wrong = match dir {
                Direction::Above => wv > cv,
                Direction::Below => wv < cv,
            };
            if wrong {
                let (rel, why) = match dir {
                    Direction::Above => ("above", "values rise through warning first"),
                    Direction::Below => ("below", "values fall through warning first"),
                };
                errors.push(FieldError::at(
                    format!("{field}.warning"),
                    w,
                    format!(
                        "warning ({}) must not be {rel} critical ({}): {why}",
                        w.value, c.value
                    ),
                ));
            }
        }
    }
}

/// A bad finding of a check: its status and a one-line reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// `warning`, `critical` or `unknown`.
    pub status: Status,
    /// What is wrong, such as `memory 96.1% used (critical at 95%)`.
    pub message: String,
}

impl Finding {
    /// A finding.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The worst of `findings` (the first of the worst status), with `(and N more)` when there are
/// others; `None` when there are none.
pub fn worst(findings: &[Finding]) -> Option<(Status, String)> {
    let top = findings
        .iter()
        .fold(None::<&Finding>, |best, f| match best {
            Some(b) if b.status.severity() >= f.status.severity() => Some(b),
            _ => Some(f),
        })?;
    let message = if findings.len() > 1 {
        format!("{} (and {} more)", top.message, findings.len() - 1)
    } else {
        top.message.clone()
    };
    Some((top.status, message))
}

/// A number without useless decimals: `80`, `12.5`, `0.33`.
pub fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{n:.0}")
    } else {
        let s = format!("{n:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A measured percentage for messages: one decimal (`12.3%`).
pub fn fmt_percent(p: f64) -> String {
    format!("{p:.1}%")
}

/// A size in binary units for messages: `512 B`, `1.5 KiB`, `500 MiB`, `2.25 GiB`.
pub fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{} {}", fmt_num((v * 100.0).round() / 100.0), UNITS[unit])
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    Percent,
    Number,
    0,
    None,
    r"^ *[0-9]+(\.[0-9]+)? *%? *$",
    "80%",
    "A percentage: `80%`, `12.5%` or a bare number."
);

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    Space,
    Integer,
    0,
    None,
    r"^ *[0-9]+(\.[0-9]+)? *(%|B|k|kB|KB|K|KiB|MB|M|MiB|GB|G|GiB|TB|T|TiB)? *$",
    "20%",
    "An amount of space: a percentage of the file system (`20%`) or a size (`500M` = 500 \
     MiB, `2GiB`, `10GB`, a number of bytes)."
);

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    Size,
    Integer,
    0,
    None,
    r"^ *[0-9]+(\.[0-9]+)? *(B|k|kB|KB|K|KiB|MB|M|MiB|GB|G|GiB|TB|T|TiB)? *$",
    "500M",
    "A size: `500M` (MiB), `2GiB`, `10MB`, or a number of bytes."
);

#[cfg(feature = "openapi")]
crate::schema::number_or_text_schema!(
    Inodes,
    Integer,
    0,
    None,
    r"^ *[0-9]+(\.[0-9]+)? *% *$",
    "5%",
    "A number of inodes, or a percentage of them (`5%`)."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct P {
        p: Percent,
    }

    #[derive(Debug, Deserialize)]
    struct S {
        s: Space,
    }

    #[derive(Debug, Deserialize)]
    struct I {
        i: Inodes,
    }

    #[test]
    fn percentages() {
        for (yaml, want) in [
            ("80%", 80.0),
            ("80", 80.0),
            ("12.5%", 12.5),
            ("'0.5 %'", 0.5),
            ("150%", 150.0),
            ("0", 0.0),
        ] {
            let p: P = serde_saphyr::from_str(&format!("p: {yaml}")).unwrap();
            assert_eq!(p.p.0, want, "{yaml}");
        }
        for bad in ["-1%", "lots", "%", "1e999"] {
            let r: Result<P, _> = serde_saphyr::from_str(&format!("p: '{bad}'"));
            assert!(r.is_err(), "{bad}");
        }
        assert_eq!(Percent(80.0).to_string(), "80%");
        assert_eq!(Percent(12.5).to_string(), "12.5%");
    }

    #[test]
    fn amounts_of_space_read_the_amon_way() {
        for (yaml, want) in [
            ("20%", Space::Percent(20.0)),
            ("500M", Space::Bytes(500 << 20)),
            ("500MiB", Space::Bytes(500 << 20)),
            ("10MB", Space::Bytes(10_000_000)),
            ("1.5G", Space::Bytes(3 << 29)),
            ("2T", Space::Bytes(2 << 40)),
            ("4096", Space::Bytes(4096)),
            ("64K", Space::Bytes(65536)),
        ] {
            let s: S = serde_saphyr::from_str(&format!("s: {yaml}")).unwrap();
            assert_eq!(s.s, want, "{yaml}");
        }
        for bad in ["20 percent", "M", "5X", "-5M", "1.5.5G"] {
            let r: Result<S, _> = serde_saphyr::from_str(&format!("s: '{bad}'"));
            assert!(r.is_err(), "{bad}");
        }
        assert_eq!(Space::Bytes(500 << 20).to_string(), "500 MiB");
        assert_eq!(Space::Percent(20.0).to_string(), "20%");
    }

    #[test]
    fn inode_amounts() {
        let i: I = serde_saphyr::from_str("i: 5%").unwrap();
        assert_eq!(i.i, Inodes::Percent(5.0));
        let i: I = serde_saphyr::from_str("i: 10000").unwrap();
        assert_eq!(i.i, Inodes::Count(10000));
        for bad in ["5M", "1.5", "x"] {
            let r: Result<I, _> = serde_saphyr::from_str(&format!("i: '{bad}'"));
            assert!(r.is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_judge_critical_first() {
        let l: Limits<Percent> = serde_saphyr::from_str("{ warning: 80%, critical: 90% }").unwrap();
        let above = |v: f64| l.judge(|t| v >= t.0).map(|(s, t)| (s, t.0));
        assert_eq!(above(95.0), Some((Status::Critical, 90.0)));
        assert_eq!(above(85.0), Some((Status::Warning, 80.0)));
        assert_eq!(above(80.0), Some((Status::Warning, 80.0)));
        assert_eq!(above(50.0), None);
    }

    #[test]
    fn limits_validate_their_order_and_presence() {
        let key = |p: &Percent| Some((0, p.0));
        let none = |_: &Percent| None;
        let check = |yaml: &str, dir| {
            let l: Limits<Percent> = serde_saphyr::from_str(yaml).unwrap();
            let mut e = Vec::new();
            l.validate("x", dir, none, key, &mut e);
            e
        };
        assert!(check("{ warning: 80%, critical: 90% }", Direction::Above).is_empty());
        let e = check("{ warning: 95%, critical: 90% }", Direction::Above);
        assert_eq!(e[0].field, "x.warning");
        assert!(
            e[0].message.contains("must not be above critical (90%)"),
            "{e:?}"
        );
        assert!(check("{ warning: 20%, critical: 10% }", Direction::Below).is_empty());
        let e = check("{ warning: 10%, critical: 20% }", Direction::Below);
        assert!(e[0].message.contains("must not be below"), "{e:?}");
        let e = check("{}", Direction::Above);
        assert_eq!(e[0].field, "x");
    }

    #[test]
    fn worst_finding_wins() {
        let f = [
            Finding::new(Status::Warning, "w"),
            Finding::new(Status::Critical, "c1"),
            Finding::new(Status::Critical, "c2"),
        ];
        assert_eq!(
            worst(&f),
            Some((Status::Critical, "c1 (and 2 more)".to_owned()))
        );
        assert_eq!(worst(&[]), None);
    }

    #[test]
    fn numbers_and_sizes_read_well() {
        assert_eq!(fmt_num(80.0), "80");
        assert_eq!(fmt_num(0.333), "0.33");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(1536), "1.5 KiB");
        assert_eq!(fmt_bytes(3 << 29), "1.5 GiB");
        assert_eq!(fmt_percent(12.345), "12.3%");
    }
}
