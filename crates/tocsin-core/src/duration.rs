//! Human durations in configuration files: `500ms`, `30s`, `5m`, `1h30m`, `2d`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way people write them in YAML (`30s`, `1h30m`, `250ms`).
///
/// Serialises back to the same compact form, so a spec read from a file and written to the API
/// looks the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// Builds a duration from whole seconds.
    pub const fn secs(s: u64) -> Self {
        Self(Duration::from_secs(s))
    }

    /// Builds a duration from milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Self(Duration::from_millis(ms))
    }

    /// The wrapped standard duration.
    pub const fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for Dur {
    fn from(d: Duration) -> Self {
        Self(d)
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (expected e.g. 500ms, 30s, 5m, 1h30m, 2d)")]
pub struct DurationError {
    input: String,
    reason: &'static str,
}

impl FromStr for Dur {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| DurationError {
            input: s.to_owned(),
            reason,
        };
        let t = s.trim();
        if t.is_empty() {
            return Err(err("empty"));
        }
        let mut total: u128 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err("a number must come before each unit"));
            }
            let n: u128 = rest[..digits]
                .parse()
                .map_err(|_| err("number too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let nanos_per: u128 = match unit {
                "ns" => 1,
                "us" | "µs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                "d" => 86_400_000_000_000,
                "w" => 604_800_000_000_000,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit")),
            };
            total = total
                .checked_add(n.checked_mul(nanos_per).ok_or_else(|| err("too large"))?)
                .ok_or_else(|| err("too large"))?;
        }
        let secs = u64::try_from(total / 1_000_000_000).map_err(|_| err("too large"))?;
        // The remainder of a division by 1e9 always fits in u32.
        let nanos = (total % 1_000_000_000) as u32;
        Ok(Self(Duration::new(secs, nanos)))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d.subsec_nanos() != 0 {
            let nanos = d.as_nanos();
            return if nanos.is_multiple_of(1_000_000) {
                write!(f, "{}ms", nanos / 1_000_000)
            } else if nanos.is_multiple_of(1_000) {
                write!(f, "{}us", nanos / 1_000)
            } else {
                write!(f, "{nanos}ns")
            };
        }
        let mut s = d.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if s >= size {
                write!(f, "{}{unit}", s / size)?;
                s %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Dur {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^ *([0-9]+(ns|us|µs|ms|s|m|h|d|w))+ *$"))
            .examples(["30s"])
            .description(Some("A duration: numbers with units `ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`, such as `500ms`, `30s`, `1h30m`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Dur {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let cases = [
            ("30s", Duration::from_secs(30), "30s"),
            ("500ms", Duration::from_millis(500), "500ms"),
            ("1h30m", Duration::from_secs(5400), "1h30m"),
            ("2d", Duration::from_secs(172_800), "2d"),
            ("90s", Duration::from_secs(90), "1m30s"),
            ("1w", Duration::from_secs(604_800), "7d"),
            ("0s", Duration::ZERO, "0s"),
        ];
        for (input, want, shown) in cases {
            let d: Dur = input.parse().unwrap();
            assert_eq!(d.0, want, "{input}");
            assert_eq!(d.to_string(), shown, "{input}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "",
            "30",
            "s",
            "10 parsecs",
            "5x",
            "1h-3m",
            "99999999999999999999999d",
        ] {
            assert!(bad.parse::<Dur>().is_err(), "{bad:?} should fail");
        }
    }
}
