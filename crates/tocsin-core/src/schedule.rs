//! When a check runs: a fixed interval with a deterministic phase, or a cron expression in a
//! time zone.
//!
//! Interval due times are `k × interval + phase` on the Unix epoch, where the phase is a hash
//! of the check id within the interval. So load is spread over the interval, every node and
//! every restart agrees on the times, and the next due time derives from the previous *due*
//! time, never from when a run finished: no drift.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::Dur;

/// How often, or at which times, a check runs.
#[derive(Clone)]
pub enum Schedule {
    /// Every `interval`, at a phase derived from the check id.
    Every(Duration),
    /// At the times of a cron expression.
    Cron(Box<CronSchedule>),
}

/// A parsed cron expression and its time zone.
#[derive(Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
    tz: TimeZone,
    tz_name: String,
}

/// Why a schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("invalid cron expression {expr:?}: {reason}")]
    BadCron {
        /// The expression.
        expr: String,
        /// What the parser said.
        reason: String,
    },
    /// The cron expression parses but no time ever matches (`0 0 31 2 *`).
    #[error("cron expression {0:?} never fires")]
    NeverFires(String),
    /// The time zone is not a known IANA name.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Paris)")]
    BadZone(String),
    /// A zero interval.
    #[error("interval must be at least 1ms")]
    ZeroInterval,
}

impl Schedule {
    /// An interval schedule.
    pub fn every(interval: Duration) -> Result<Self, ScheduleError> {
        if interval < Duration::from_millis(1) {
            return Err(ScheduleError::ZeroInterval);
        }
        Ok(Self::Every(interval))
    }

    /// A cron schedule: 5 fields (or 6 with seconds first), names, ranges, steps, `@hourly` and
    /// friends; day-of-month OR day-of-week as in Vixie cron. `tz` defaults to UTC.
    pub fn cron(expr: &str, tz: Option<&str>) -> Result<Self, ScheduleError> {
        let cron = Cron::from_str(expr).map_err(|e| ScheduleError::BadCron {
            expr: expr.to_owned(),
            reason: e.to_string(),
        })?;
        let (tz, tz_name) = match tz {
            None | Some("UTC") => (TimeZone::UTC, "UTC".to_owned()),
            Some(name) => (
                TimeZone::get(name).map_err(|_| ScheduleError::BadZone(name.to_owned()))?,
                name.to_owned(),
            ),
        };
        let s = CronSchedule {
            expr: expr.to_owned(),
            cron,
            tz,
            tz_name,
        };
        // An expression that parses may still never fire (Feb 31st): look for a first time.
        if s.next_after(Timestamp::now()).is_none() {
            return Err(ScheduleError::NeverFires(expr.to_owned()));
        }
        Ok(Self::Cron(Box::new(s)))
    }

    /// The interval, for interval schedules.
    pub fn interval(&self) -> Option<Duration> {
        match self {
            Self::Every(d) => Some(*d),
            Self::Cron(_) => None,
        }
    }

    /// The phase of `id` within an interval, in milliseconds: stable across restarts and nodes.
    pub fn phase_ms(id: &str, interval: Duration) -> i64 {
        let ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        // FNV-1a: stable across Rust versions, unlike std's DefaultHasher.
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        id.hash(&mut h);
        (h.finish() % (ms as u64)) as i64
    }

    /// The first due time strictly after `after_ms` (Unix ms) for check `id`, or `None` if the
    /// schedule never fires again.
    pub fn next_after(&self, id: &str, after_ms: i64) -> Option<i64> {
        match self {
            Self::Every(d) => {
                let i = i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1);
                let phase = Self::phase_ms(id, *d);
                // Smallest k*i + phase > after_ms.
                let k = (after_ms - phase).div_euclid(i) + 1;
                k.checked_mul(i)?.checked_add(phase)
            }
            Self::Cron(c) => {
                let t = Timestamp::from_millisecond(after_ms).ok()?;
                c.next_after(t).map(|t| t.as_millisecond())
            }
        }
    }
}

impl CronSchedule {
    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The time zone name.
    pub fn tz_name(&self) -> &str {
        &self.tz_name
    }

    /// The next fire time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let z = Zoned::new(after, self.tz.clone());
        self.cron
            .find_next_occurrence(&z, false)
            .ok()
            .map(|z| z.timestamp())
    }

    /// The next `n` fire times after `after`, as zoned times (for `tocsin cron`).
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Zoned> {
        let mut out = Vec::with_capacity(n);
        let mut t = Zoned::new(after, self.tz.clone());
        while out.len() < n {
            match self.cron.find_next_occurrence(&t, false) {
                Ok(z) => {
                    t = z.clone();
                    out.push(z);
                }
                Err(_) => break,
            }
        }
        out
    }
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Every(d) => write!(f, "every {}", Dur(*d)),
            Self::Cron(c) => write!(f, "cron {:?} in {}", c.expr, c.tz_name),
        }
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Every(d) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("every", &Dur(*d))?;
                m.end()
            }
            Self::Cron(c) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("cron", &c.expr)?;
                m.serialize_entry("timezone", &c.tz_name)?;
                m.end()
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Schedule {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(
                utoipa::openapi::ObjectBuilder::new()
                    .property("every", <Dur as utoipa::PartialSchema>::schema())
                    .required("every"),
            )
            .item(
                utoipa::openapi::ObjectBuilder::new()
                    .property("cron", <String as utoipa::PartialSchema>::schema())
                    .required("cron")
                    .property("timezone", <String as utoipa::PartialSchema>::schema())
                    .required("timezone"),
            )
            .description(Some("When a check runs: `{every}` or `{cron, timezone}`."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Schedule {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn interval_is_phase_aligned_and_does_not_drift() {
        let s = Schedule::every(Duration::from_secs(30)).unwrap();
        let phase = Schedule::phase_ms("shop-health", Duration::from_secs(30));
        assert!((0..30_000).contains(&phase));
        let first = s.next_after("shop-health", 1_000_000).unwrap();
        assert!(first > 1_000_000 && first <= 1_030_000);
        assert_eq!((first - phase) % 30_000, 0);
        // Next from the previous *due* time: exactly one interval later, however late we ran.
        assert_eq!(s.next_after("shop-health", first), Some(first + 30_000));
        assert_eq!(
            s.next_after("shop-health", first + 29_999),
            Some(first + 30_000)
        );
        // Same id, same phase; another id, (almost surely) another phase.
        assert_eq!(
            Schedule::phase_ms("shop-health", Duration::from_secs(30)),
            phase
        );
        assert_ne!(
            Schedule::phase_ms("db-port", Duration::from_secs(30)),
            phase
        );
    }

    #[test]
    fn cron_table() {
        // (expr, tz, after, expected next)
        let cases = [
            (
                "*/5 * * * *",
                None,
                "2026-01-01T00:01:00Z",
                "2026-01-01T00:05:00Z",
            ),
            (
                "@hourly",
                None,
                "2026-01-01T00:01:00Z",
                "2026-01-01T01:00:00Z",
            ),
            (
                "0 9 * * MON-FRI",
                None,
                "2026-11-21T10:00:00Z",
                "2026-11-23T09:00:00Z",
            ),
            // Day of month OR day of week: the 13th, or any Friday.
            (
                "0 0 13 * 5",
                None,
                "2026-11-01T00:00:00Z",
                "2026-11-06T00:00:00Z",
            ),
            (
                "0 0 13 * 5",
                None,
                "2026-11-10T00:00:00Z",
                "2026-11-13T00:00:00Z",
            ),
            (
                "30 2 * * *",
                Some("Europe/Paris"),
                "2026-06-01T00:00:00Z",
                "2026-06-01T00:30:00Z",
            ),
            (
                "0 0 1 jan *",
                None,
                "2026-03-01T00:00:00Z",
                "2027-01-01T00:00:00Z",
            ),
            (
                "*/10 * * * * *",
                None,
                "2026-01-01T00:00:01Z",
                "2026-01-01T00:00:10Z",
            ),
        ];
        for (expr, tz, after, want) in cases {
            let s = Schedule::cron(expr, tz).unwrap();
            assert_eq!(
                s.next_after("x", ts(after)),
                Some(ts(want)),
                "{expr} after {after}"
            );
        }
    }

    #[test]
    fn bad_cron_is_refused() {
        assert!(matches!(
            Schedule::cron("0 0 31 2 *", None),
            Err(ScheduleError::NeverFires(_))
        ));
        assert!(matches!(
            Schedule::cron("61 * * * *", None),
            Err(ScheduleError::BadCron { .. })
        ));
        assert!(matches!(
            Schedule::cron("* * * * *", Some("Mars/Base")),
            Err(ScheduleError::BadZone(_))
        ));
        assert!(Schedule::every(Duration::ZERO).is_err());
    }
}
