//! How the pages write times, durations, latencies and percentages, and the small URL helpers
//! they need (query encoding, checking that a return address stays on this site).

use std::fmt::Write as _;

/// The UTC calendar time of Unix ms, if in range.
fn civil(ms: i64) -> Option<jiff::civil::DateTime> {
    let t = jiff::Timestamp::from_millisecond(ms).ok()?;
    Some(jiff::tz::Offset::UTC.to_datetime(t))
}

/// A time for people: `2026-05-01 12:34:56 UTC` (empty for 0 or out of range).
pub(crate) fn when(ms: i64) -> String {
    stamp(ms, ' ', " UTC")
}

/// A time for machines (`<time datetime>`): `2026-05-01T12:34:56Z`.
pub(crate) fn iso(ms: i64) -> String {
    stamp(ms, 'T', "Z")
}

/// Date, `sep`, time, `zone`; integers only, so a page of thousands stays quick.
fn stamp(ms: i64, sep: char, zone: &str) -> String {
    let Some(d) = civil(ms).filter(|_| ms > 0) else {
        return String::new();
    };
    let mut s = String::with_capacity(24);
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}{zone}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    );
    s
}

/// A length of time in its two largest units: `45s`, `3m 12s`, `2h 5m`, `4d 3h`.
pub(crate) fn span(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    match () {
        () if d > 0 => format!("{d}d {h}h"),
        () if h > 0 => format!("{h}h {m}m"),
        () if m > 0 => format!("{m}m {}s", s % 60),
        () => format!("{s}s"),
    }
}

/// How long ago `ms` was: `just now`, `3m 12s ago`.
pub(crate) fn ago(ms: i64, now: i64) -> String {
    if now - ms < 1000 {
        "just now".to_owned()
    } else {
        format!("{} ago", span(now - ms))
    }
}

/// A latency: `0.42 ms`, `12 ms`, `1.25 s`.
pub(crate) fn latency_us(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if us == 0 {
        "0 ms".to_owned()
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A latency in milliseconds, as [`latency_us`].
pub(crate) fn latency_ms(ms: f64) -> String {
    latency_us((ms.max(0.0) * 1000.0) as u64)
}

/// An uptime, never rounded up to a better figure: `99.98%`; `no data` without results.
pub(crate) fn uptime(p: Option<f64>) -> String {
    match p {
        Some(p) if p >= 100.0 => "100%".to_owned(),
        Some(p) => format!("{:.2}%", (p * 100.0).floor() / 100.0),
        None => "no data".to_owned(),
    }
}

/// Percent-encodes a query value (`application/x-www-form-urlencoded`).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `s` if it is a path of this site (`/…`, not `//host` nor `/\host`), for redirects after a
/// form or a login; anything else is refused so no link can send a user elsewhere.
pub(crate) fn local_path(s: &str) -> Option<&str> {
    let ok = s.starts_with('/')
        && !s.starts_with("//")
        && !s.starts_with("/\\")
        && !s.chars().any(|c| c.is_control() || c == '\\');
    ok.then_some(s)
}

/// `path` with `done=<code>` added to its query (the notice the next page shows).
pub(crate) fn with_done(path: &str, code: &str) -> String {
    let path = path.split('#').next().unwrap_or(path);
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}done={code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_times_read_well() {
        assert_eq!(span(45_000), "45s");
        assert_eq!(span(192_000), "3m 12s");
        assert_eq!(span(7_500_000), "2h 5m");
        assert_eq!(span(4 * 86_400_000 + 3 * 3_600_000), "4d 3h");
        assert_eq!(ago(1000, 1500), "just now");
        assert_eq!(when(0), "");
        assert_eq!(when(86_400_000), "1970-01-02 00:00:00 UTC");
        assert_eq!(iso(86_400_000), "1970-01-02T00:00:00Z");
    }

    #[test]
    fn latencies_and_uptimes() {
        assert_eq!(latency_us(0), "0 ms");
        assert_eq!(latency_us(420), "0.42 ms");
        assert_eq!(latency_us(12_300), "12 ms");
        assert_eq!(latency_us(1_250_000), "1.25 s");
        assert_eq!(uptime(Some(99.999)), "99.99%");
        assert_eq!(uptime(Some(100.0)), "100%");
        assert_eq!(uptime(None), "no data");
    }

    #[test]
    fn urls_stay_local_and_are_encoded() {
        assert_eq!(enc("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(local_path("/checks/x?y=1"), Some("/checks/x?y=1"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
        assert_eq!(with_done("/alarms", "acked"), "/alarms?done=acked");
        assert_eq!(with_done("/?sort=name", "run"), "/?sort=name&done=run");
    }
}
