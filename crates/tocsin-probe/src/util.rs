//! Small helpers shared by the probes: the run deadline, the failure type, phase timing, and the
//! formatting of durations, ages and error chains for one-line messages.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use tocsin_core::{CheckResult, Dur, Status, Timings};
use tokio::time::Instant;

/// The end of a run: every phase awaits at most until then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    start: Instant,
    end: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn new(timeout: Duration) -> Self {
        let start = Instant::now();
        Self {
            start,
            end: start + timeout,
            timeout,
        }
    }

    /// Awaits `f` until the deadline; `None` if the deadline came first.
    pub(crate) async fn run<F: Future>(&self, f: F) -> Option<F::Output> {
        tokio::time::timeout_at(self.end, f).await.ok()
    }

    /// The configured timeout, as people write it (`5s`, `1500ms`).
    pub(crate) fn timeout(&self) -> Dur {
        Dur(self.timeout)
    }

    /// Time since the run started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// A run that ended badly: the one-line reason. Becomes a `critical` result.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) String);

impl Failure {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What a run gathered so far, kept even when it fails part-way.
#[derive(Debug, Default)]
pub(crate) struct Gathered {
    pub(crate) timings: Timings,
    pub(crate) cert_not_after: Option<i64>,
}

impl Gathered {
    /// Adds a phase duration (phases repeat across redirects: they are summed).
    pub(crate) fn add(slot: &mut Option<u64>, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        *slot = Some(slot.unwrap_or(0).saturating_add(us));
    }

    /// A result carrying the timings and certificate data gathered, with total time filled in.
    pub(crate) fn result(
        &self,
        status: Status,
        message: String,
        started_at_ms: i64,
        total: Duration,
    ) -> CheckResult {
        let mut r = CheckResult::new(status, message, started_at_ms);
        r.timings = self.timings;
        r.timings.total_us = u64::try_from(total.as_micros()).unwrap_or(u64::MAX);
        r.cert_not_after = self.cert_not_after;
        if let Some(na) = self.cert_not_after {
            r = r.metric("cert_days_left", days_left(na), "days");
        }
        r
    }
}

/// Days from now until `not_after` (Unix seconds); negative once expired.
pub(crate) fn days_left(not_after: i64) -> f64 {
    let now = jiff::Timestamp::now().as_second();
    round2((not_after - now) as f64 / 86_400.0)
}

/// A short human duration for messages: `42µs`, `0.3ms`, `12ms`, `1.25s`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 0.1 {
        format!("{}µs", d.as_micros())
    } else if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// Ages (`3 days`) and timestamps (RFC 3339 UTC) for messages, as the `tls` kind words them.
pub(crate) use tocsin_core::kinds::tls::{fmt_age, fmt_timestamp};

/// An I/O error without the `(os error N)` suffix: `No such file or directory`.
pub(crate) fn io_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// A value rounded to two decimals, for metrics.
pub(crate) fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// An error and its sources, `outer: inner: innermost`, without repeating identical parts.
pub(crate) fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Standard base64 with padding, for basic authentication.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 63) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("user:pa ss", "dXNlcjpwYSBzcw=="),
        ];
        for (input, want) in cases {
            assert_eq!(base64(input.as_bytes()), want, "{input:?}");
        }
    }

    #[test]
    fn durations_and_ages_read_well() {
        assert_eq!(fmt_duration(Duration::from_micros(300)), "0.3ms");
        assert_eq!(fmt_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(fmt_duration(Duration::from_millis(1250)), "1.25s");
        assert_eq!(fmt_age(3 * 86_400 + 5), "3 days");
        assert_eq!(fmt_age(86_400), "1 day");
        assert_eq!(fmt_age(7_200), "2 hours");
        assert_eq!(fmt_age(59), "59 seconds");
        assert_eq!(fmt_timestamp(0), "1970-01-01T00:00:00Z");
    }
}
