//! The state engine: a pure function `(state, result status, policy, now) → (state', transitions)`.
//!
//! Rules (DESIGN.md §2.4):
//! - A bad result while the hard status is ok starts (or continues) a *soft* sequence; after
//!   `failures` bad results in a row — or `failures` bad results within `within`, when set — the
//!   state becomes *hard* bad. Any non-ok status counts; the hard status is the latest one.
//! - While hard bad, a different bad status changes the hard status at once (warning → critical).
//! - The first ok result after a hard bad state is `recovering`; after `recoveries` ok results in
//!   a row the hard status is ok again (with `recoveries: 1` the first ok recovers).
//! - Flap detection as in Nagios/Icinga: the weighted percentage of status changes over the last
//!   21 results (older changes weigh 0.75, newer 1.25); flapping starts at `high` % and stops
//!   below `low` % (hysteresis).
//!
//! The state is plain data (serde), persisted by the store and restored after a restart, so a
//! soft sequence interrupted by a restart carries on where it was.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Status;
use crate::check::AlertPolicy;

/// How many results flap detection looks at.
pub const FLAP_WINDOW: usize = 21;

/// The runtime state of one check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    /// Status of the latest result.
    pub status: Status,
    /// Whether `status` is confirmed (hard) or still being counted (soft).
    pub hard: bool,
    /// The last hard status: what alarms follow.
    pub hard_status: Status,
    /// Ok results have arrived after a hard bad state, fewer than `recoveries`.
    #[serde(default)]
    pub recovering: bool,
    /// Bad results counted in the current soft sequence.
    #[serde(default)]
    pub attempts: u32,
    /// Ok results in a row while recovering.
    #[serde(default)]
    pub oks: u32,
    /// Times (Unix ms) of the recent bad results, for `within` windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bad_times: Vec<i64>,
    /// When `status` last changed (Unix ms).
    pub since_ms: i64,
    /// When `hard_status` last changed (Unix ms).
    pub hard_since_ms: i64,
    /// When the latest result arrived (Unix ms); 0 before the first.
    pub last_ms: i64,
    /// Results seen so far (0 = pending).
    pub results: u64,
    /// The last 21 statuses, oldest first.
    #[serde(default)]
    pub history: History,
    /// Whether the check is flapping.
    #[serde(default)]
    pub flapping: bool,
    /// The latest weighted state-change percentage.
    #[serde(default)]
    pub flap_percent: f64,
}

impl Default for CheckState {
    fn default() -> Self {
        Self::new()
    }
}

/// Something that happened to a state, worth recording and (for hard ones) alarming on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transition {
    /// A bad result that is not hard yet: attempt `attempt` of `of`.
    Soft {
        /// The bad status.
        status: Status,
        /// Bad results counted so far.
        attempt: u32,
        /// Bad results needed.
        of: u32,
    },
    /// A soft sequence ended with an ok result before becoming hard.
    SoftRecovered {
        /// The soft bad status that ended.
        from: Status,
    },
    /// The hard status changed: ok → critical, critical → warning, critical → ok, …
    Hard {
        /// Previous hard status.
        from: Status,
        /// New hard status.
        to: Status,
    },
    /// Ok results after a hard bad state, not yet enough to recover.
    Recovering {
        /// The hard bad status being left.
        from: Status,
        /// Ok results so far.
        ok: u32,
        /// Ok results needed.
        of: u32,
    },
    /// Flapping started.
    FlappingStarted {
        /// Weighted state-change percentage.
        percent: f64,
    },
    /// Flapping stopped.
    FlappingStopped {
        /// Weighted state-change percentage.
        percent: f64,
    },
}

impl Transition {
    /// A short name: `soft`, `soft_recovered`, `hard`, `recovering`, `flapping_started`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Soft { .. } => "soft",
            Self::SoftRecovered { .. } => "soft_recovered",
            Self::Hard { .. } => "hard",
            Self::Recovering { .. } => "recovering",
            Self::FlappingStarted { .. } => "flapping_started",
            Self::FlappingStopped { .. } => "flapping_stopped",
        }
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Soft {
                status,
                attempt,
                of,
            } => write!(f, "soft {status} ({attempt}/{of})"),
            Self::SoftRecovered { from } => write!(f, "soft {from} → ok"),
            Self::Hard { from, to } => write!(f, "{from} → {to}"),
            Self::Recovering { from, ok, of } => write!(f, "recovering from {from} ({ok}/{of})"),
            Self::FlappingStarted { percent } => write!(f, "flapping started ({percent:.1}%)"),
            Self::FlappingStopped { percent } => write!(f, "flapping stopped ({percent:.1}%)"),
        }
    }
}

impl CheckState {
    /// The state of a check that has not run yet: assumed ok (as Nagios assumes), pending.
    pub const fn new() -> Self {
        Self {
            status: Status::Ok,
            hard: true,
            hard_status: Status::Ok,
            recovering: false,
            attempts: 0,
            oks: 0,
            bad_times: Vec::new(),
            since_ms: 0,
            hard_since_ms: 0,
            last_ms: 0,
            results: 0,
            history: History::new(),
            flapping: false,
            flap_percent: 0.0,
        }
    }

    /// No result yet.
    pub const fn is_pending(&self) -> bool {
        self.results == 0
    }

    /// `ok`, `warning`, … with `soft`/`recovering`/`pending` qualifiers, for people.
    pub fn describe(&self) -> String {
        if self.is_pending() {
            return "pending".into();
        }
        let mut s = self.status.as_str().to_owned();
        if self.recovering {
            s.push_str(" (recovering)");
        } else if !self.hard {
            s.push_str(" (soft)");
        }
        if self.flapping {
            s.push_str(" (flapping)");
        }
        s
    }
}

/// Applies one result to a state. Pure: same inputs, same outputs.
pub fn step(
    state: &CheckState,
    status: Status,
    at_ms: i64,
    policy: &AlertPolicy,
) -> (CheckState, Vec<Transition>) {
    let mut s = state.clone();
    let mut out = Vec::new();
    let failures = policy.failures.max(1);
    let recoveries = policy.recoveries.max(1);

    if s.is_pending() || status != s.status {
        s.since_ms = at_ms;
    }
    if s.is_pending() {
        s.hard_since_ms = at_ms;
    }
    s.results += 1;
    s.last_ms = at_ms;

    if status.is_bad() {
        s.oks = 0;
        if s.hard_status.is_bad() {
            // Already hard bad (possibly recovering): back to hard, follow the new status.
            s.recovering = false;
            s.hard = true;
            if status != s.hard_status {
                out.push(Transition::Hard {
                    from: s.hard_status,
                    to: status,
                });
                s.hard_status = status;
                s.hard_since_ms = at_ms;
            }
        } else {
            let counted = match policy.within {
                Some(window) => {
                    let horizon =
                        at_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
                    s.bad_times.retain(|t| *t > horizon);
                    s.bad_times.push(at_ms);
                    let keep = failures as usize;
                    if s.bad_times.len() > keep {
                        s.bad_times.drain(..s.bad_times.len() - keep);
                    }
                    u32::try_from(s.bad_times.len()).unwrap_or(u32::MAX)
                }
                None => s.attempts.saturating_add(1),
            };
            s.attempts = counted;
            if counted >= failures {
                s.hard = true;
                out.push(Transition::Hard {
                    from: s.hard_status,
                    to: status,
                });
                s.hard_status = status;
                s.hard_since_ms = at_ms;
                s.bad_times.clear();
            } else {
                s.hard = false;
                out.push(Transition::Soft {
                    status,
                    attempt: counted,
                    of: failures,
                });
            }
        }
    } else if s.hard_status.is_bad() {
        s.oks += 1;
        if s.oks >= recoveries {
            out.push(Transition::Hard {
                from: s.hard_status,
                to: Status::Ok,
            });
            s.hard_status = Status::Ok;
            s.hard_since_ms = at_ms;
            s.hard = true;
            s.recovering = false;
            s.oks = 0;
            s.attempts = 0;
            s.bad_times.clear();
        } else {
            s.recovering = true;
            s.hard = false;
            out.push(Transition::Recovering {
                from: s.hard_status,
                ok: s.oks,
                of: recoveries,
            });
        }
    } else {
        if !s.hard && s.status.is_bad() {
            out.push(Transition::SoftRecovered { from: s.status });
        }
        s.hard = true;
        if policy.within.is_none() {
            s.attempts = 0;
        }
    }
    s.status = status;

    s.history.push(status);
    let percent = s.history.change_percent();
    s.flap_percent = percent;
    if policy.flap.enabled {
        if !s.flapping && percent >= policy.flap.high {
            s.flapping = true;
            out.push(Transition::FlappingStarted { percent });
        } else if s.flapping && percent < policy.flap.low {
            s.flapping = false;
            out.push(Transition::FlappingStopped { percent });
        }
    } else if s.flapping {
        s.flapping = false;
        out.push(Transition::FlappingStopped { percent });
    }
    (s, out)
}

/// The last [`FLAP_WINDOW`] statuses, packed two bits each; serialised as a digit string
/// (`"0022"` = ok, ok, critical, critical).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct History {
    bits: u64,
    len: u8,
}

impl History {
    /// Empty history.
    pub const fn new() -> Self {
        Self { bits: 0, len: 0 }
    }

    /// Appends a status, forgetting the oldest beyond the window.
    pub fn push(&mut self, s: Status) {
        let mask = (1u64 << (2 * FLAP_WINDOW)) - 1;
        self.bits = ((self.bits << 2) | u64::from(s.code())) & mask;
        self.len = (usize::from(self.len) + 1).min(FLAP_WINDOW) as u8;
    }

    /// Statuses, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Status> + '_ {
        (0..usize::from(self.len))
            .rev()
            .map(|i| Status::from_code(((self.bits >> (2 * i)) & 3) as i64))
    }

    /// Nagios' weighted state-change percentage: a change between entries `x-1` and `x`
    /// (x = 1..=20, oldest first, missing old entries equal to the oldest known) weighs
    /// `0.75 + (x-1)·0.5/19`; the sum is divided by 20 and scaled to 100.
    pub fn change_percent(&self) -> f64 {
        let n = usize::from(self.len);
        if n < 2 {
            return 0.0;
        }
        let pad = FLAP_WINDOW - n;
        let mut prev: Option<Status> = None;
        let mut weighted = 0.0;
        for (i, s) in self.iter().enumerate() {
            if let Some(p) = prev
                && p != s
            {
                let x = (pad + i) as f64; // position in the 21-slot window, 1..=20
                weighted += 0.75 + (x - 1.0) * 0.5 / (FLAP_WINDOW as f64 - 2.0);
            }
            prev = Some(s);
        }
        weighted * 100.0 / (FLAP_WINDOW as f64 - 1.0)
    }
}

impl Serialize for History {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text: String = self.iter().map(|st| char::from(b'0' + st.code())).collect();
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for History {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mut h = Self::new();
        for c in text.chars() {
            let code = c.to_digit(10).filter(|c| *c <= 3).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid status history {text:?}"))
            })?;
            h.push(Status::from_code(i64::from(code)));
        }
        Ok(h)
    }
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for History {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-3]{0,21}$"))
            .examples(["0022"])
            .description(Some(
                "The last 21 statuses, oldest first, one Nagios code each (`0` ok … `3` unknown).",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for History {}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::check::AlertDef;

    use Status::{Critical as C, Ok as O, Warning as W};

    fn policy(failures: u32, recoveries: u32, within: Option<u64>) -> AlertPolicy {
        let mut p = AlertDef {
            failures: Some(failures),
            recoveries: Some(recoveries),
            ..AlertDef::default()
        }
        .resolve();
        p.within = within.map(Duration::from_secs);
        p.flap.enabled = false;
        p
    }

    /// Feeds statuses one per `gap` seconds; returns each step's (describe, transitions).
    fn run(p: &AlertPolicy, seq: &[Status], gap_s: i64) -> (CheckState, Vec<(String, String)>) {
        let mut s = CheckState::new();
        let mut rows = Vec::new();
        for (i, st) in seq.iter().enumerate() {
            let (n, t) = step(&s, *st, 1_000_000 + i as i64 * gap_s * 1000, p);
            let ts: Vec<String> = t.iter().map(ToString::to_string).collect();
            rows.push((n.describe(), ts.join(", ")));
            s = n;
        }
        (s, rows)
    }

    fn rows(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn soft_then_hard_in_a_row() {
        let (s, got) = run(&policy(3, 1, None), &[O, C, C, C, C, O], 30);
        assert_eq!(
            got,
            rows(&[
                ("ok", ""),
                ("critical (soft)", "soft critical (1/3)"),
                ("critical (soft)", "soft critical (2/3)"),
                ("critical", "ok → critical"),
                ("critical", ""),
                ("ok", "critical → ok"),
            ])
        );
        assert!(s.hard && s.hard_status == O && s.attempts == 0);
    }

    #[test]
    fn an_ok_resets_the_soft_count() {
        let (_, got) = run(&policy(2, 1, None), &[C, O, C, O], 30);
        assert_eq!(
            got,
            rows(&[
                ("critical (soft)", "soft critical (1/2)"),
                ("ok", "soft critical → ok"),
                ("critical (soft)", "soft critical (1/2)"),
                ("ok", "soft critical → ok"),
            ])
        );
    }

    #[test]
    fn failures_one_is_hard_at_once_and_warning_counts() {
        let (_, got) = run(&policy(1, 1, None), &[W, C, W, O], 30);
        assert_eq!(
            got,
            rows(&[
                ("warning", "ok → warning"),
                ("critical", "warning → critical"),
                ("warning", "critical → warning"),
                ("ok", "warning → ok"),
            ])
        );
        let (s, got) = run(&policy(2, 1, None), &[W, C], 30);
        assert_eq!(got[1], ("critical".into(), "ok → critical".into()));
        assert_eq!(s.hard_status, C, "the hard status is the latest bad one");
    }

    #[test]
    fn recovering_needs_recoveries_in_a_row() {
        let (_, got) = run(&policy(1, 2, None), &[C, O, C, O, O], 30);
        assert_eq!(
            got,
            rows(&[
                ("critical", "ok → critical"),
                ("ok (recovering)", "recovering from critical (1/2)"),
                ("critical", ""),
                ("ok (recovering)", "recovering from critical (1/2)"),
                ("ok", "critical → ok"),
            ])
        );
    }

    #[test]
    fn recovering_to_another_bad_status_changes_hard_status() {
        let (s, got) = run(&policy(1, 3, None), &[C, O, W], 30);
        assert_eq!(got[2], ("warning".into(), "critical → warning".into()));
        assert!(!s.recovering);
    }

    #[test]
    fn failures_within_a_window_need_not_be_in_a_row() {
        // 3 failures within 5 minutes, results every 60s: C O C O C → hard at the 5th.
        let (_, got) = run(&policy(3, 1, Some(300)), &[C, O, C, O, C], 60);
        assert_eq!(got[4], ("critical".into(), "ok → critical".into()));
        assert_eq!(got[2].1, "soft critical (2/3)");
        // Same pattern every 200s: the window drops the oldest, never 3 within 300s.
        let (s, got) = run(&policy(3, 1, Some(300)), &[C, O, C, O, C, O, C], 200);
        assert!(
            got.iter().all(|(_, t)| !t.contains("→ critical")),
            "{got:?}"
        );
        assert_eq!(s.hard_status, O);
    }

    #[test]
    fn restart_in_the_middle_of_a_soft_sequence_carries_on() {
        let p = policy(3, 1, None);
        let (mid, _) = run(&p, &[C, C], 30);
        // Persist and restore, as the store does across a restart.
        let json = serde_json::to_string(&mid).unwrap();
        let restored: CheckState = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, mid);
        let (after, t) = step(&restored, C, 2_000_000, &p);
        assert_eq!(t, vec![Transition::Hard { from: O, to: C }]);
        // And a hard state survives too.
        let back: CheckState =
            serde_json::from_str(&serde_json::to_string(&after).unwrap()).unwrap();
        assert_eq!(back.hard_status, C);
        assert!(back.hard);
    }

    #[test]
    fn since_tracks_status_changes() {
        let p = policy(1, 1, None);
        let (s1, _) = step(&CheckState::new(), O, 10, &p);
        let (s2, _) = step(&s1, O, 20, &p);
        let (s3, _) = step(&s2, C, 30, &p);
        assert_eq!(
            (s1.since_ms, s2.since_ms, s3.since_ms, s3.hard_since_ms),
            (10, 10, 30, 30)
        );
    }

    #[test]
    fn flap_percent_follows_nagios_weights() {
        let mut h = History::new();
        for _ in 0..21 {
            h.push(O);
        }
        assert_eq!(h.change_percent(), 0.0);
        // Alternating over the whole window: every one of the 20 pairs changes. Sum of weights
        // 0.75..=1.25 over 20 is 20, so 100 %.
        let mut h = History::new();
        for i in 0..21 {
            h.push(if i % 2 == 0 { O } else { C });
        }
        assert!((h.change_percent() - 100.0).abs() < 1e-9);
        // One change at the newest position weighs 1.25 → 6.25 %; at the oldest 0.75 → 3.75 %.
        let mut h = History::new();
        for i in 0..21 {
            h.push(if i == 20 { C } else { O });
        }
        assert!((h.change_percent() - 6.25).abs() < 1e-9);
        let mut h = History::new();
        for i in 0..21 {
            h.push(if i == 0 { C } else { O });
        }
        assert!((h.change_percent() - 3.75).abs() < 1e-9);
        // Round trip through its text form.
        let back: History = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn flapping_starts_and_stops_with_hysteresis() {
        let mut p = policy(1, 1, None);
        p.flap.enabled = true;
        let mut s = CheckState::new();
        let mut started = None;
        let mut stopped = None;
        // Flap for 12 results, then steady ok.
        for i in 0..60 {
            let st = if i < 12 && i % 2 == 1 { C } else { O };
            let (n, t) = step(&s, st, i64::from(i) * 1000, &p);
            for tr in t {
                match tr {
                    Transition::FlappingStarted { percent } => {
                        assert!(percent >= 30.0);
                        started.get_or_insert(i);
                    }
                    Transition::FlappingStopped { percent } => {
                        assert!(percent < 25.0);
                        stopped.get_or_insert(i);
                    }
                    _ => {}
                }
            }
            s = n;
        }
        let (a, b) = (started.unwrap(), stopped.unwrap());
        assert!(a < 12 && b > 12, "started {a} stopped {b}");
        assert!(!s.flapping);
        // Between 25 % and 30 % nothing changes: the state stays as it was (hysteresis).
        let mut h = History::new();
        for st in [
            O, C, O, C, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O, O,
        ] {
            h.push(st);
        }
        let pct = h.change_percent();
        assert!(pct < 25.0, "{pct}");
    }

    #[test]
    fn disabled_flap_detection_never_reports() {
        let p = policy(1, 1, None);
        let (s, got) = run(&p, &[O, C, O, C, O, C, O, C, O, C], 1);
        assert!(!s.flapping);
        assert!(got.iter().all(|(_, t)| !t.contains("flapping")));
    }
}
