//! Pure formatting for the public pages, feeds and badges: status words, times, durations,
//! uptime percentages and latencies, the way people read them.

use tocsin_core::{CheckState, Status};

/// How a check looks to the public: its confirmed (hard) status, or pending before any result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// No result yet.
    Pending,
    /// Hard ok.
    Operational,
    /// Hard warning.
    Degraded,
    /// Hard critical.
    Down,
    /// Hard unknown: the check cannot tell.
    Unknown,
}

impl Level {
    /// The level of a state: follows the hard status, so a single failed run (soft) does not
    /// show.
    pub(crate) fn of(state: &CheckState) -> Self {
        if state.is_pending() {
            return Self::Pending;
        }
        Self::of_status(state.hard_status)
    }

    /// The level of a (hard) status.
    pub(crate) fn of_status(status: Status) -> Self {
        match status {
            Status::Ok => Self::Operational,
            Status::Warning => Self::Degraded,
            Status::Critical => Self::Down,
            Status::Unknown => Self::Unknown,
        }
    }

    /// In words, for pages.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Pending => "No data yet",
            Self::Operational => "Operational",
            Self::Degraded => "Degraded",
            Self::Down => "Down",
            Self::Unknown => "Unknown",
        }
    }

    /// In one word, for badges.
    pub(crate) fn short(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Operational => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }

    /// The CSS class suffix (`status-ok`, …) and badge colour family.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Operational => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Unknown => "unknown",
        }
    }

    /// A symbol shown beside the words, so colour is never the only cue.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Pending => "…",
            Self::Operational => "✓",
            Self::Degraded => "!",
            Self::Down => "✕",
            Self::Unknown => "?",
        }
    }
}

/// The banner of a status page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overall {
    /// Everything is up (or has not run yet).
    Operational,
    /// Something is degraded or unknown, nothing is down.
    Degraded,
    /// Something is down.
    Outage,
}

impl Overall {
    /// The banner of a page listing checks at `levels`.
    pub(crate) fn of(levels: impl IntoIterator<Item = Level>) -> Self {
        let mut overall = Self::Operational;
        for l in levels {
            match l {
                Level::Down => return Self::Outage,
                Level::Degraded | Level::Unknown => overall = Self::Degraded,
                Level::Operational | Level::Pending => {}
            }
        }
        overall
    }

    /// In words.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Operational => "All systems operational",
            Self::Degraded => "Some systems are degraded",
            Self::Outage => "Some systems are down",
        }
    }

    /// The CSS class suffix (`banner-ok`, …).
    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Operational => "ok",
            Self::Degraded => "degraded",
            Self::Outage => "down",
        }
    }

    /// A symbol shown beside the words.
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Self::Operational => "✓",
            Self::Degraded => "!",
            Self::Outage => "✕",
        }
    }
}

fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// A time for people: `2026-05-01 14:03 UTC`.
pub(crate) fn time(ms: i64) -> String {
    timestamp(ms).strftime("%Y-%m-%d %H:%M UTC").to_string()
}

/// A time for machines (`<time datetime>`, Atom): `2026-05-01T14:03:07Z`.
pub(crate) fn rfc3339(ms: i64) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A time for RSS (RFC 2822): `Fri, 01 May 2026 14:03:07 +0000`.
pub(crate) fn rfc2822(ms: i64) -> String {
    timestamp(ms)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

/// SlapOS's 2016 `start-date`: `2026-05-01 14:03:07` (UTC).
pub(crate) fn slapos_start_date(ms: i64) -> String {
    timestamp(ms).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// SlapOS's promise result `date`: `2026-05-01T14:03:07+0000`.
pub(crate) fn slapos_date(ms: i64) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%S+0000").to_string()
}

/// A duration for people, to two units at most: `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h`.
pub(crate) fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// An uptime percentage, never rounded up to 100 %: `100%`, `99.99%`, `42.5%`; `None` is
/// `no data`.
pub(crate) fn uptime(percent: Option<f64>) -> String {
    match percent {
        None => "no data".to_owned(),
        Some(p) if p >= 100.0 => "100%".to_owned(),
        Some(p) => {
            let floored = (p.max(0.0) * 100.0).floor() / 100.0;
            let text = format!("{floored:.2}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            format!("{text}%")
        }
    }
}

/// A response time from microseconds: `0.8 ms`, `123 ms`, `12.3 s`.
pub(crate) fn latency(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

/// A message cut as SlapOS cuts promise output: over `max` characters, `...` and the last
/// `max`.
pub(crate) fn truncate_tail(message: &str, max: usize) -> String {
    let n = message.chars().count();
    if n <= max {
        return message.to_owned();
    }
    let tail: String = message.chars().skip(n - max).collect();
    format!("...{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_hard_status() {
        let mut s = CheckState::new();
        assert_eq!(Level::of(&s), Level::Pending);
        s.results = 3;
        s.status = Status::Critical;
        s.hard = false;
        assert_eq!(
            Level::of(&s),
            Level::Operational,
            "a soft failure does not show"
        );
        s.hard = true;
        s.hard_status = Status::Critical;
        assert_eq!(Level::of(&s), Level::Down);
        assert_eq!(Level::of_status(Status::Warning).words(), "Degraded");
        assert_eq!(Level::Down.short(), "down");
    }

    #[test]
    fn banners() {
        use Level::*;
        assert_eq!(Overall::of([]), Overall::Operational);
        assert_eq!(Overall::of([Operational, Pending]), Overall::Operational);
        assert_eq!(Overall::of([Operational, Unknown]), Overall::Degraded);
        assert_eq!(Overall::of([Degraded, Down, Operational]), Overall::Outage);
        assert_eq!(Overall::Outage.words(), "Some systems are down");
    }

    #[test]
    fn times() {
        let ms = 1_777_644_187_000; // 2026-05-01T14:03:07Z
        assert_eq!(time(ms), "2026-05-01 14:03 UTC");
        assert_eq!(rfc3339(ms), "2026-05-01T14:03:07Z");
        assert_eq!(rfc2822(ms), "Fri, 01 May 2026 14:03:07 +0000");
        assert_eq!(slapos_start_date(ms), "2026-05-01 14:03:07");
        assert_eq!(slapos_date(ms), "2026-05-01T14:03:07+0000");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(-5), "0 s");
        assert_eq!(duration(45_999), "45 s");
        assert_eq!(duration(12 * 60_000 + 5_000), "12 min");
        assert_eq!(duration(3_600_000), "1 h");
        assert_eq!(duration(3_900_000), "1 h 5 min");
        assert_eq!(duration(2 * 86_400_000 + 3 * 3_600_000 + 60_000), "2 d 3 h");
        assert_eq!(duration(86_400_000 + 60_000), "1 d");
    }

    #[test]
    fn uptimes_never_round_up() {
        assert_eq!(uptime(None), "no data");
        assert_eq!(uptime(Some(100.0)), "100%");
        assert_eq!(uptime(Some(99.999)), "99.99%");
        assert_eq!(uptime(Some(42.5)), "42.5%");
        assert_eq!(uptime(Some(0.0)), "0%");
    }

    #[test]
    fn latencies() {
        assert_eq!(latency(800), "0.8 ms");
        assert_eq!(latency(123_400), "123 ms");
        assert_eq!(latency(12_345_000), "12.3 s");
    }

    #[test]
    fn long_messages_keep_their_tail() {
        assert_eq!(truncate_tail("short", 10), "short");
        assert_eq!(truncate_tail("abcdefghij", 4), "...ghij");
        assert_eq!(truncate_tail("ééééé", 2), "...éé");
    }
}
