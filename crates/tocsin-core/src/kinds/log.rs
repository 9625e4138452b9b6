//! `log:` — scan log files for matching lines since the last run (Amon's `log-scan` and
//! `bunyan-log-scan`): a regex or a substring (flags, whole word, invert), JSON-lines field
//! equality with bunyan level names and dotted keys, and `threshold` matches within `period`.
//!
//! The spec is the users' contract (field names are the YAML names); [`LogSpec::validate`]
//! reports every problem with the field it is in. [`LogMatcher`] decides whether one line
//! counts and [`MatchWindow`] counts matches within the period; both are pure, and the probe
//! does the reading.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use regex::bytes::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::assert::{FieldError, REGEX_SIZE_LIMIT, regex_message};
use crate::check::{ByteSize, CheckId};
use crate::{Dur, Status};

/// Amon's default `threshold`: one match is enough.
pub const DEFAULT_THRESHOLD: u64 = 1;
/// Amon's default `period`.
pub const DEFAULT_PERIOD: Dur = Dur::secs(60);
/// Default `show`: matching lines kept for the message and `extracted`.
pub const DEFAULT_SHOW: u32 = 5;
/// Default `max_read`: bytes read per run, all files together.
pub const DEFAULT_MAX_READ: ByteSize = ByteSize(16 << 20);
/// Most lines of context around a match.
pub const MAX_CONTEXT: u32 = 10;
/// Most matching lines shown.
pub const MAX_SHOW: u32 = 100;

/// Bunyan's level names and numbers (pino uses the same scale).
pub const LEVELS: [(&str, u32); 6] = [
    ("trace", 10),
    ("debug", 20),
    ("info", 30),
    ("warn", 40),
    ("error", 50),
    ("fatal", 60),
];

/// `log:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    /// One file or glob (`/var/log/app/*.log`); absolute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub path: Option<Spanned<String>>,
    /// More files or globs, scanned with `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub paths: Vec<Spanned<String>>,
    /// What a line must match (Amon's match object).
    #[serde(rename = "match", default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<LogMatch>,
    /// JSON lines: fields that must equal these values (dotted keys reach into objects; `level`
    /// takes bunyan names and `>=NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, Value>))]
    pub fields: BTreeMap<String, Spanned<Value>>,
    /// Matches within `period` that make the check bad (default 1).
    #[serde(default = "default_threshold")]
    pub threshold: u64,
    /// The sliding window matches are counted in (default 60s).
    #[serde(default = "default_period")]
    pub period: Dur,
    /// The status when the threshold is reached: `critical` (default) or `warning`.
    #[serde(default)]
    pub severity: Severity,
    /// Lines of context kept before and after each shown match (default 0, at most 10).
    #[serde(default)]
    pub context: u32,
    /// Matching lines kept for the message and `extracted` (default 5, at most 100).
    #[serde(default = "default_show")]
    pub show: u32,
    /// Where the very first run starts in files that already exist: `end` (default, like
    /// `tail -F`) or `beginning`.
    #[serde(default)]
    pub start_at: StartAt,
    /// Read at most this much per run, all files together (default 16MiB); the rest is read by
    /// the next runs.
    #[serde(default = "default_max_read")]
    pub max_read: ByteSize,
    /// The name of the file that keeps the read positions across restarts (default: a hash of
    /// the paths, `match` and `fields`). Give one when two checks scan the same files for the
    /// same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub state_key: Option<Spanned<String>>,
}

fn default_threshold() -> u64 {
    DEFAULT_THRESHOLD
}

fn default_period() -> Dur {
    DEFAULT_PERIOD
}

fn default_show() -> u32 {
    DEFAULT_SHOW
}

fn default_max_read() -> ByteSize {
    DEFAULT_MAX_READ
}

/// `match:` — Amon's match object.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogMatch {
    /// The regular expression or the text to find.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub pattern: Spanned<String>,
    /// `regex` (default) or `substring`.
    #[serde(rename = "type", default)]
    pub kind: MatchKind,
    /// Regex flags: `i` (ignore case), `m` (multi-line), `s` (dot matches newline), `x`
    /// (verbose; regexes only). `g` is refused, as in Amon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub flags: Option<Spanned<String>>,
    /// Match whole words only: the match is neither preceded nor followed by a word character
    /// (Amon's `matchWord`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub word: bool,
    /// Count the lines that do *not* match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
    /// JSON lines: match this field's value instead of the whole line (dotted keys allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub field: Option<Spanned<String>>,
}

/// How `match.pattern` is read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// A regular expression (Rust `regex` syntax).
    #[default]
    Regex,
    /// Plain text.
    Substring,
}

/// The status of a check whose threshold is reached.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `warning`.
    Warning,
    /// `critical`.
    #[default]
    Critical,
}

impl Severity {
    /// The status it stands for.
    pub fn status(self) -> Status {
        match self {
            Self::Warning => Status::Warning,
            Self::Critical => Status::Critical,
        }
    }
}

/// Where the first run starts in files that already exist.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    /// At their end: only lines written from now on count.
    #[default]
    End,
    /// At their beginning: what is already there counts too.
    Beginning,
}

impl LogSpec {
    /// `path` then `paths`, as written.
    pub fn all_paths(&self) -> Vec<&str> {
        self.path
            .iter()
            .chain(&self.paths)
            .map(|p| p.value.as_str())
            .collect()
    }

    /// Every problem with the spec, fields relative to the check (`log.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.path.is_none() && self.paths.is_empty() {
            errors.push(FieldError::nowhere(
                "log",
                "give path (a file or a glob) or paths",
            ));
        }
        let given = self.path.iter().map(|p| ("log.path".to_owned(), p)).chain(
            self.paths
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("log.paths[{i}]"), p)),
        );
        for (field, p) in given {
            if let Some(m) = path_problem(&p.value) {
                errors.push(FieldError::at(field, p, m));
            }
        }
        if self.matches.is_none() && self.fields.is_empty() {
            errors.push(FieldError::nowhere("log", "give match, fields or both"));
        }
        if let Err(mut e) = LogMatcher::compile(self) {
            errors.append(&mut e);
        }
        if self.threshold == 0 {
            errors.push(FieldError::nowhere(
                "log.threshold",
                "must be at least 1 (got 0)",
            ));
        }
        if self.period.get() < Duration::from_secs(1) {
            errors.push(FieldError::nowhere(
                "log.period",
                format!("must be at least 1s (got {})", self.period),
            ));
        }
        if self.context > MAX_CONTEXT {
            errors.push(FieldError::nowhere(
                "log.context",
                format!("must be at most {MAX_CONTEXT} lines (got {})", self.context),
            ));
        }
        if self.show > MAX_SHOW {
            errors.push(FieldError::nowhere(
                "log.show",
                format!("must be at most {MAX_SHOW} lines (got {})", self.show),
            ));
        }
        if self.max_read.0 < 4096 {
            errors.push(FieldError::nowhere(
                "log.max_read",
                format!("must be at least 4KiB (got {} bytes)", self.max_read.0),
            ));
        }
        if let Some(k) = &self.state_key
            && let Err(m) = CheckId::new(&k.value)
        {
            errors.push(FieldError::at("log.state_key", k, m));
        }
        errors
    }

    /// A log check reads local files: no host.
    pub fn target_host(&self) -> Option<String> {
        None
    }

    /// The name of the state file: `state_key`, or a stable hash (FNV-1a, hex) of the paths,
    /// `match` and `fields`, so that changing what is scanned for starts afresh.
    pub fn state_key(&self) -> String {
        if let Some(k) = &self.state_key {
            return k.value.clone();
        }
        let ident = serde_json::json!({
            "paths": self.all_paths(),
            "match": self.matches,
            "fields": self.fields,
        });
        format!("{:016x}", fnv1a(ident.to_string().as_bytes()))
    }

    /// The status for `in_period` matches within the period.
    pub fn status_for(&self, in_period: u64) -> Status {
        if in_period >= self.threshold {
            self.severity.status()
        } else {
            Status::Ok
        }
    }

    /// What is searched for, in words: `/ERROR/`, `"timeout" (whole word, ignore case)`,
    /// `level=error`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = &self.matches {
            let mut p = match m.kind {
                MatchKind::Regex => format!("/{}/", m.pattern.value),
                MatchKind::Substring => format!("{:?}", m.pattern.value),
            };
            if let Some(f) = &m.field {
                p = format!("{}~{p}", f.value);
            }
            if m.invert {
                p = format!("not {p}");
            }
            parts.push(p);
        }
        for (k, v) in &self.fields {
            let v = match &v.value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("{k}={v}"));
        }
        parts.join(" ")
    }
}

fn path_problem(p: &str) -> Option<String> {
    if p.is_empty() {
        return Some("must not be empty".into());
    }
    if !p.starts_with('/') {
        return Some(format!("must be an absolute path (got {p:?})"));
    }
    if p.ends_with('/') {
        return Some(format!("must name files, not a directory (got {p:?})"));
    }
    if p.contains(['*', '?', '[']) {
        return glob::Pattern::new(p)
            .err()
            .map(|e| format!("invalid glob {p:?}: {}", e.msg));
    }
    None
}

/// 64-bit FNV-1a: a hash that stays the same across Rust releases and machines (the probe's
/// saved read positions use it too).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The bunyan number of a level name (`error` → 50), case-insensitive; `warning` is `warn`.
pub fn level_number(name: &str) -> Option<u32> {
    let n = name.trim().to_ascii_lowercase();
    let n = if n == "warning" { "warn" } else { n.as_str() };
    LEVELS.iter().find(|(l, _)| *l == n).map(|(_, v)| *v)
}

/// A test on a record's `level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelTest {
    /// The level is exactly this.
    Is(u32),
    /// The level is this or more severe (`>=warn`).
    AtLeast(u32),
}

impl LevelTest {
    /// Reads `error`, `50`, `>=warn`, `>= 40`.
    pub fn parse(v: &Value) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid level {v} (expected a bunyan level name: trace, debug, info, warn, \
                 error, fatal; a number; or >=NAME)"
            )
        };
        let one =
            |s: &str| -> Option<u32> { level_number(s).or_else(|| s.trim().parse::<u32>().ok()) };
        match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Self::Is)
                .ok_or_else(bad),
            Value::String(s) => match s.trim().strip_prefix(">=") {
                Some(rest) => one(rest).map(Self::AtLeast).ok_or_else(bad),
                None => one(s).map(Self::Is).ok_or_else(bad),
            },
            _ => Err(bad()),
        }
    }

    /// Whether a record's level value passes.
    pub fn accepts(self, v: &Value) -> bool {
        let level = match v {
            Value::Number(n) => n.as_f64().map(|f| f as u32),
            Value::String(s) => level_number(s).or_else(|| s.trim().parse().ok()),
            _ => None,
        };
        match (self, level) {
            (Self::Is(want), Some(l)) => l == want,
            (Self::AtLeast(want), Some(l)) => l >= want,
            (_, None) => false,
        }
    }
}

/// One compiled `fields` entry.
#[derive(Clone, Debug)]
enum FieldTest {
    Level(LevelTest),
    Equals(Value),
}

/// The compiled `match` and `fields` of a log check: decides whether a line counts.
#[derive(Clone, Debug)]
pub struct LogMatcher {
    regex: Option<Regex>,
    invert: bool,
    field: Option<String>,
    fields: Vec<(String, FieldTest)>,
    json: bool,
}

impl LogMatcher {
    /// Compiles the pattern and the field tests; every error is returned with its field.
    pub fn compile(spec: &LogSpec) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let regex = spec
            .matches
            .as_ref()
            .and_then(|m| compile_pattern(m).map_err(|e| errors.push(e)).ok());
        let mut fields = Vec::new();
        for (key, v) in &spec.fields {
            let field = format!("log.fields.{key}");
            if let Some(m) = key_problem(key) {
                errors.push(FieldError::at(field, v, m));
                continue;
            }
            if key == "level" {
                match LevelTest::parse(&v.value) {
                    Ok(t) => fields.push((key.clone(), FieldTest::Level(t))),
                    Err(m) => errors.push(FieldError::at(field, v, m)),
                }
            } else if matches!(v.value, Value::Array(_) | Value::Object(_)) {
                errors.push(FieldError::at(
                    field,
                    v,
                    "must be a string, number, boolean or null",
                ));
            } else {
                fields.push((key.clone(), FieldTest::Equals(v.value.clone())));
            }
        }
        let field = spec.matches.as_ref().and_then(|m| m.field.as_ref());
        if let Some(f) = field
            && let Some(m) = key_problem(&f.value)
        {
            errors.push(FieldError::at("log.match.field", f, m));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            regex,
            invert: spec.matches.as_ref().is_some_and(|m| m.invert),
            field: field.map(|f| f.value.clone()),
            json: !spec.fields.is_empty() || field.is_some(),
            fields,
        })
    }

    /// Whether lines are read as JSON records.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Whether `line` (without its newline) counts.
    pub fn matches(&self, line: &[u8]) -> bool {
        if !self.json {
            return self
                .regex
                .as_ref()
                .is_some_and(|re| re.is_match(line) != self.invert);
        }
        // A cheap rejection before parsing: the whole line must match anyway.
        if let Some(re) = &self.regex
            && self.field.is_none()
            && !self.invert
            && !re.is_match(line)
        {
            return false;
        }
        let Ok(Value::Object(record)) = serde_json::from_slice::<Value>(line) else {
            return false;
        };
        for (key, test) in &self.fields {
            let Some(v) = lookup(&record, key) else {
                return false;
            };
            let ok = match test {
                FieldTest::Level(t) => t.accepts(v),
                FieldTest::Equals(want) => scalar_eq(want, v),
            };
            if !ok {
                return false;
            }
        }
        let Some(re) = &self.regex else {
            return true;
        };
        let hit = match &self.field {
            None => re.is_match(line),
            Some(f) => match lookup(&record, f) {
                // A record without the field never counts, inverted or not.
                None => return false,
                Some(Value::String(s)) => re.is_match(s.as_bytes()),
                Some(other) => re.is_match(other.to_string().as_bytes()),
            },
        };
        hit != self.invert
    }
}

fn compile_pattern(m: &LogMatch) -> Result<Regex, FieldError> {
    let pattern = &m.pattern.value;
    if pattern.is_empty() {
        return Err(FieldError::at(
            "log.match.pattern",
            &m.pattern,
            "must not be empty",
        ));
    }
    let mut source = match m.kind {
        MatchKind::Regex => pattern.clone(),
        MatchKind::Substring => regex::escape(pattern),
    };
    let bad = |e: regex::Error| FieldError::at("log.match.pattern", &m.pattern, regex_message(&e));
    if m.word {
        // Syntax errors are reported against the pattern as written, not the wrapped one.
        regex::bytes::RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(bad)?;
        source = format!(r"(?:^|\W)(?:{source})(?:\W|$)");
    }
    let mut b = RegexBuilder::new(&source);
    b.size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT);
    if let Some(flags) = &m.flags {
        for c in flags.value.chars() {
            match c {
                'i' => b.case_insensitive(true),
                'm' => b.multi_line(true),
                's' => b.dot_matches_new_line(true),
                // Verbose mode would drop the spaces of a substring.
                'x' => b.ignore_whitespace(m.kind == MatchKind::Regex),
                'g' => {
                    return Err(FieldError::at(
                        "log.match.flags",
                        flags,
                        "\"g\" is not allowed (as in Amon): each line is tested and counts once",
                    ));
                }
                other => {
                    return Err(FieldError::at(
                        "log.match.flags",
                        flags,
                        format!("unknown flag {other:?} (expected any of i, m, s, x)"),
                    ));
                }
            };
        }
    }
    b.build().map_err(bad)
}

fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("the key must not be empty".into());
    }
    if key.split('.').any(str::is_empty) {
        return Some(format!(
            "invalid key {key:?}: dotted keys need a name between the dots"
        ));
    }
    None
}

/// The value at `key` in a record: the key itself if present, else a dotted path into nested
/// objects (`req.method` → `record["req"]["method"]`, also `record["req.x"]["y"]`).
pub fn lookup<'a>(record: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = record.get(key) {
        return Some(v);
    }
    for (i, _) in key.match_indices('.') {
        if let Some(Value::Object(inner)) = record.get(&key[..i])
            && let Some(v) = lookup(inner, &key[i + 1..])
        {
            return Some(v);
        }
    }
    None
}

/// Scalars compare by value: numbers numerically; otherwise by their text, so `500` equals
/// `"500"` and `true` equals `"true"`. Arrays and objects never equal a scalar.
fn scalar_eq(want: &Value, got: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) | Value::Null => Some(v.to_string()),
        Value::Array(_) | Value::Object(_) => None,
    };
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(s)) | (Value::String(s), Value::Number(a)) => {
            match (a.as_f64(), s.trim().parse::<f64>()) {
                (Some(x), Ok(y)) => x == y,
                _ => false,
            }
        }
        _ => match (text(want), text(got)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

/// Matches counted within a sliding period: the count of each run that found some, with its
/// time. Kept across runs (and, by the probe, across restarts).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchWindow {
    /// `(run start, Unix ms; matches found by that run)`, oldest first.
    runs: VecDeque<(i64, u64)>,
}

/// Most runs remembered; older ones are merged into the next (which keeps them a little
/// longer, never shorter).
const MAX_RUNS: usize = 1024;

impl MatchWindow {
    /// Records `count` matches found by the run at `now_ms` and returns the matches of the runs
    /// that started less than `period` ago. Up to a second (a tenth of the period at most) of
    /// slack absorbs scheduling jitter, so that with `period` equal to the interval each run
    /// counts alone. Runs "in the future" (the clock went back) are dropped.
    pub fn record(&mut self, now_ms: i64, count: u64, period: Duration) -> u64 {
        let period_ms = i64::try_from(period.as_millis()).unwrap_or(i64::MAX);
        let slack = (period_ms / 10).min(1000);
        let cutoff = now_ms.saturating_sub(period_ms).saturating_add(slack);
        self.runs.retain(|(t, _)| *t > cutoff && *t <= now_ms);
        if count > 0 {
            self.runs.push_back((now_ms, count));
        }
        while self.runs.len() > MAX_RUNS {
            if let Some((_, n)) = self.runs.pop_front()
                && let Some(next) = self.runs.front_mut()
            {
                next.1 = next.1.saturating_add(n);
            }
        }
        self.total()
    }

    /// Matches currently in the window.
    pub fn total(&self) -> u64 {
        self.runs
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> LogSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    fn matcher(yaml: &str) -> LogMatcher {
        let s = spec(&format!("path: /x.log\n{yaml}"));
        LogMatcher::compile(&s).unwrap_or_else(|e| panic!("{yaml}: {e:?}"))
    }

    #[test]
    fn defaults_are_amons() {
        let s = spec("path: /var/log/a.log\nmatch: { pattern: ERROR }");
        assert!(s.validate().is_empty());
        assert_eq!(s.threshold, 1);
        assert_eq!(s.period, Dur::secs(60));
        assert_eq!(s.severity, Severity::Critical);
        assert_eq!(s.start_at, StartAt::End);
        assert_eq!(s.show, 5);
        assert_eq!(s.context, 0);
        assert_eq!(s.max_read, ByteSize(16 << 20));
    }

    #[test]
    fn text_matching_table() {
        let cases: [(&str, &str, bool); 16] = [
            ("{ pattern: ERROR }", "2026 ERROR db", true),
            ("{ pattern: ERROR }", "2026 error db", false),
            ("{ pattern: ERROR, flags: i }", "2026 error db", true),
            ("{ pattern: 'E.ROR' }", "EXROR", true),
            ("{ pattern: 'E.ROR', type: substring }", "EXROR", false),
            ("{ pattern: 'E.ROR', type: substring }", "a E.ROR b", true),
            ("{ pattern: err, word: true }", "an err here", true),
            ("{ pattern: err, word: true }", "an error here", false),
            ("{ pattern: err, word: true }", "err", true),
            (
                "{ pattern: '[err]', type: substring, word: true }",
                "x [err] y",
                true,
            ),
            ("{ pattern: ERROR, invert: true }", "all fine", true),
            ("{ pattern: ERROR, invert: true }", "ERROR!", false),
            ("{ pattern: 'a b', type: substring, flags: x }", "a b", true),
            ("{ pattern: '^start', flags: m }", "start", true),
            ("{ pattern: 'time ?out', flags: ix }", "TIMEOUT", true),
            ("{ pattern: 'ERR' }", "\u{fffd}ERR\u{fffd}", true),
        ];
        for (m, line, want) in cases {
            let got = matcher(&format!("match: {m}")).matches(line.as_bytes());
            assert_eq!(got, want, "{m} on {line:?}");
        }
        // Lines need not be UTF-8.
        assert!(matcher("match: { pattern: ERR }").matches(b"\xff\xfe ERR"));
    }

    #[test]
    fn json_matching_table() {
        let rec = r#"{"level":50,"msg":"db down","req":{"method":"POST","status":500},"a.b":{"c":1},"ok":false}"#;
        let cases: [(&str, &str, bool); 20] = [
            ("fields: { level: error }", rec, true),
            ("fields: { level: ERROR }", rec, true),
            ("fields: { level: 50 }", rec, true),
            ("fields: { level: warn }", rec, false),
            ("fields: { level: '>=warn' }", rec, true),
            ("fields: { level: '>=fatal' }", rec, false),
            ("fields: { level: '>= 40' }", rec, true),
            ("fields: { level: error }", r#"{"level":"error"}"#, true),
            (
                "fields: { level: '>=warn' }",
                r#"{"level":"WARNING"}"#,
                true,
            ),
            ("fields: { req.method: POST }", rec, true),
            ("fields: { req.method: GET }", rec, false),
            ("fields: { req.status: 500 }", rec, true),
            ("fields: { req.status: '500' }", rec, true),
            ("fields: { a.b.c: 1 }", rec, true),
            ("fields: { ok: false }", rec, true),
            ("fields: { missing: x }", rec, false),
            ("fields: { level: error }", "not json at all", false),
            (
                "fields: { level: error }\nmatch: { pattern: down, field: msg }",
                rec,
                true,
            ),
            ("match: { pattern: POST, field: msg }", rec, false),
            (
                "match: { pattern: up, field: msg, invert: true }",
                rec,
                true,
            ),
        ];
        for (yaml, line, want) in cases {
            let m = matcher(yaml);
            assert!(m.json(), "{yaml}");
            assert_eq!(m.matches(line.as_bytes()), want, "{yaml} on {line}");
        }
        // A record without the field never counts, even inverted.
        let m = matcher("match: { pattern: x, field: nope, invert: true }");
        assert!(!m.matches(rec.as_bytes()));
        // Matching the whole line of a JSON record.
        let m = matcher("fields: { level: error }\nmatch: { pattern: '\"status\":5\\d\\d' }");
        assert!(m.matches(rec.as_bytes()));
    }

    #[test]
    fn levels() {
        assert_eq!(level_number("Fatal"), Some(60));
        assert_eq!(level_number("warning"), Some(40));
        assert_eq!(level_number("loud"), None);
        for bad in ["loud", ">=", ">=loud"] {
            assert!(
                LevelTest::parse(&Value::String(bad.into())).is_err(),
                "{bad}"
            );
        }
        assert!(LevelTest::parse(&Value::Bool(true)).is_err());
    }

    #[test]
    fn the_window_slides() {
        let p = Duration::from_secs(60);
        let mut w = MatchWindow::default();
        assert_eq!(w.record(0, 2, p), 2);
        assert_eq!(w.record(30_000, 1, p), 3);
        // 60 s after the first run, less the jitter slack: the first run has left.
        assert_eq!(w.record(59_500, 0, p), 1);
        assert_eq!(w.record(88_900, 0, p), 1);
        assert_eq!(w.record(89_000, 0, p), 0);
        // With the period equal to the interval, each run counts alone despite jitter.
        let mut w = MatchWindow::default();
        assert_eq!(w.record(0, 1, p), 1);
        assert_eq!(w.record(59_990, 1, p), 1);
        // The clock going back drops runs "in the future".
        assert_eq!(w.record(10_000, 0, p), 0);
    }

    #[test]
    fn the_window_stays_bounded() {
        let mut w = MatchWindow::default();
        let day = Duration::from_secs(86_400);
        for i in 0..5000 {
            w.record(i * 1000, 1, day);
        }
        assert_eq!(w.runs.len(), MAX_RUNS);
        assert_eq!(w.total(), 5000);
    }

    #[test]
    fn state_keys_are_stable_and_follow_what_is_scanned() {
        let a = spec("path: /a.log\nmatch: { pattern: x }");
        let b = spec("path: /a.log\nmatch: { pattern: x }\nthreshold: 5");
        let c = spec("path: /a.log\nmatch: { pattern: y }");
        assert_eq!(a.state_key(), b.state_key());
        assert_ne!(a.state_key(), c.state_key());
        assert_eq!(a.state_key().len(), 16);
        // Fixed across releases: FNV-1a of the canonical JSON.
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let d = spec("path: /a.log\nmatch: { pattern: x }\nstate_key: web-errors");
        assert_eq!(d.state_key(), "web-errors");
    }

    #[test]
    fn descriptions() {
        assert_eq!(
            spec("path: /a\nmatch: { pattern: x, invert: true }\nfields: { level: error }")
                .describe(),
            "not /x/ level=error"
        );
        assert_eq!(
            spec("path: /a\nmatch: { pattern: x, type: substring, field: msg }").describe(),
            "msg~\"x\""
        );
    }

    #[test]
    fn validation() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert_eq!(fields("match: { pattern: x }"), ["log"]);
        assert_eq!(fields("path: /a"), ["log"]);
        assert_eq!(fields("path: a.log\nmatch: { pattern: x }"), ["log.path"]);
        assert_eq!(
            fields("paths: [/a, '/b/[x']\nmatch: { pattern: x }"),
            ["log.paths[1]"]
        );
        assert_eq!(
            fields("path: /a\nmatch: { pattern: '(' }"),
            ["log.match.pattern"]
        );
        assert_eq!(
            fields("path: /a\nmatch: { pattern: '' }"),
            ["log.match.pattern"]
        );
        assert_eq!(
            fields("path: /a\nmatch: { pattern: x, flags: g }"),
            ["log.match.flags"]
        );
        assert_eq!(
            fields("path: /a\nmatch: { pattern: x, flags: iq }"),
            ["log.match.flags"]
        );
        assert_eq!(
            fields("path: /a\nmatch: { pattern: x, field: 'a..b' }"),
            ["log.match.field"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: loud }"),
            ["log.fields.level"]
        );
        assert_eq!(fields("path: /a\nfields: { x: [1] }"), ["log.fields.x"]);
        assert_eq!(
            fields("path: /a\nfields: { level: error }\nthreshold: 0"),
            ["log.threshold"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: error }\nperiod: 0s"),
            ["log.period"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: error }\ncontext: 11"),
            ["log.context"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: error }\nshow: 101"),
            ["log.show"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: error }\nmax_read: 1"),
            ["log.max_read"]
        );
        assert_eq!(
            fields("path: /a\nfields: { level: error }\nstate_key: 'A B'"),
            ["log.state_key"]
        );
    }
}
