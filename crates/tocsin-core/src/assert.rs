//! Assertions that turn an HTTP response or a TCP reply into a status and a one-line reason:
//! status code sets, body substring/regex (with invert), JSONPath assertions, response-time
//! thresholds, and `extract` values. Pure: the probe hands over what it received.
//!
//! Everything that can be wrong in a check's assertions (a bad regex, a bad JSONPath, an
//! assertion without an operator, thresholds in the wrong order) is found once, by
//! [`HttpAssertions::compile`] / [`TcpAssertions::compile`] at configuration load, and reported
//! with the field and its place in the file. Evaluating never fails: it only judges.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::Status;
use crate::check::{HttpSpec, Spanned, StatusPattern, TcpSpec, Thresholds};

/// Cap on the compiled size of one regex (and on its lazy DFA cache), so that a configuration
/// cannot make the daemon allocate without bound.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Longest rendering of a JSON value in a message before it is cut with `…`.
const MAX_SHOWN: usize = 120;

/// An error in an assertion found while compiling it: the field and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted field path inside the check, e.g. `http.expect.json[0].path`.
    pub field: String,
    /// 1-based line in the file (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// What is wrong and what was expected.
    pub message: String,
}

impl FieldError {
    /// An error about a spanned value, placed where it is written.
    pub fn at<T>(field: impl Into<String>, at: &Spanned<T>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            message: message.into(),
        }
    }

    /// An error the loader places at the field's key.
    pub fn nowhere(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            line: 0,
            column: 0,
            message: message.into(),
        }
    }
}

/// What an HTTP probe received, as assertions see it.
#[derive(Clone, Copy, Debug)]
pub struct HttpResponseView<'a> {
    /// Final status code (after redirects).
    pub status: u16,
    /// The body read (at most `max_body` bytes).
    pub body: &'a [u8],
    /// Whether the body was cut at `max_body`.
    pub body_truncated: bool,
    /// Time from the start of the run to the end of the body.
    pub elapsed: Duration,
}

/// The outcome of assertions.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The status.
    pub status: Status,
    /// One line saying why (for ok: a short summary such as `HTTP 200 in 12ms`).
    pub message: String,
    /// `extract` values found.
    pub extracted: BTreeMap<String, serde_json::Value>,
}

/// One compiled `expect.json` entry.
#[derive(Clone, Debug)]
struct JsonCheck {
    /// The path as written, for messages.
    text: String,
    path: JsonPath,
    equals: Option<Value>,
    not_equals: Option<Value>,
    below: Option<f64>,
    above: Option<f64>,
    matches: Option<Regex>,
    exists: Option<bool>,
    length: Option<u64>,
}

/// The compiled `expect` and `extract` of an HTTP check.
#[derive(Clone, Debug)]
pub struct HttpAssertions {
    /// Acceptable codes; empty means any 2xx.
    status: Vec<StatusPattern>,
    body_contains: Option<String>,
    body_matches: Option<Regex>,
    invert: bool,
    json: Vec<JsonCheck>,
    warning: Option<Duration>,
    critical: Option<Duration>,
    extract: Vec<(String, JsonPath)>,
}

/// Failed conditions, in the order they were checked.
#[derive(Default)]
struct Failures {
    critical: Vec<String>,
    warning: Vec<String>,
}

impl Failures {
    /// The verdict's status and message, or `None` when nothing failed.
    fn decide(self) -> Option<(Status, String)> {
        let total = self.critical.len() + self.warning.len();
        let (status, first) = match (
            self.critical.into_iter().next(),
            self.warning.into_iter().next(),
        ) {
            (Some(c), _) => (Status::Critical, c),
            (None, Some(w)) => (Status::Warning, w),
            (None, None) => return None,
        };
        let message = if total > 1 {
            format!("{first} (and {} more)", total - 1)
        } else {
            first
        };
        Some((status, message))
    }
}

impl HttpAssertions {
    /// Compiles the regexes and JSONPaths of `spec`; every error is returned, each with its place.
    pub fn compile(spec: &HttpSpec) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let expect = &spec.expect;

        let body_matches = expect.body_matches.as_ref().and_then(|re| {
            compile_regex(&re.value)
                .map_err(|m| errors.push(FieldError::at("http.expect.body_matches", re, m)))
                .ok()
        });

        let mut json = Vec::with_capacity(expect.json.len());
        for (i, a) in expect.json.iter().enumerate() {
            let field = |f: &str| format!("http.expect.json[{i}].{f}");
            let path = compile_path(&a.path.value)
                .map_err(|m| errors.push(FieldError::at(field("path"), &a.path, m)))
                .ok();
            let matches = a.matches.as_ref().and_then(|re| {
                compile_regex(&re.value)
                    .map_err(|m| errors.push(FieldError::at(field("matches"), re, m)))
                    .ok()
            });
            let has_value_op = a.equals.is_some()
                || a.not_equals.is_some()
                || a.below.is_some()
                || a.above.is_some()
                || a.matches.is_some()
                || a.length.is_some();
            if !has_value_op && a.exists.is_none() {
                errors.push(FieldError::at(
                    format!("http.expect.json[{i}]"),
                    &a.path,
                    "needs at least one of equals, not_equals, below, above, matches, exists, \
                     length",
                ));
            }
            if a.exists == Some(false) && has_value_op {
                errors.push(FieldError::at(
                    format!("http.expect.json[{i}].exists"),
                    &a.path,
                    "exists: false cannot be combined with equals, not_equals, below, above, \
                     matches or length (a missing value has nothing to compare)",
                ));
            }
            for (name, v) in [("below", a.below), ("above", a.above)] {
                if v.is_some_and(f64::is_nan) {
                    errors.push(FieldError::at(
                        field(name),
                        &a.path,
                        "must be a number, not NaN",
                    ));
                }
            }
            if let (Some(below), Some(above)) = (a.below, a.above)
                && below <= above
            {
                errors.push(FieldError::at(
                    format!("http.expect.json[{i}]"),
                    &a.path,
                    format!(
                        "below {} and above {} cannot both hold; below must be greater than \
                         above",
                        show_f64(below),
                        show_f64(above)
                    ),
                ));
            }
            if let Some(path) = path {
                json.push(JsonCheck {
                    text: a.path.value.clone(),
                    path,
                    equals: a.equals.clone(),
                    not_equals: a.not_equals.clone(),
                    below: a.below,
                    above: a.above,
                    matches,
                    exists: a.exists,
                    length: a.length,
                });
            }
        }

        let (warning, critical) = response_time_limits(
            expect.response_time,
            "http.expect.response_time",
            &mut errors,
        );

        let mut extract = Vec::with_capacity(spec.extract.len());
        for (name, path) in &spec.extract {
            match compile_path(&path.value) {
                Ok(p) => extract.push((name.clone(), p)),
                Err(m) => errors.push(FieldError::at(format!("http.extract.{name}"), path, m)),
            }
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            status: expect.status.iter().map(|s| s.value).collect(),
            body_contains: expect.body_contains.clone(),
            body_matches,
            invert: expect.invert,
            json,
            warning,
            critical,
            extract,
        })
    }

    /// Judges a response.
    pub fn evaluate(&self, resp: &HttpResponseView<'_>) -> Verdict {
        let mut fails = Failures::default();
        let truncated = if resp.body_truncated {
            format!(" (body truncated at {} bytes)", resp.body.len())
        } else {
            String::new()
        };

        // 1. Status code.
        let status_ok = if self.status.is_empty() {
            (200..=299).contains(&resp.status)
        } else {
            self.status.iter().any(|p| p.matches(resp.status))
        };
        if !status_ok {
            let wanted = if self.status.is_empty() {
                "2xx".to_owned()
            } else {
                self.status
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            fails
                .critical
                .push(format!("expected status {wanted}, got {}", resp.status));
        }

        // 2. Body text.
        if self.body_contains.is_some() || self.body_matches.is_some() {
            let text = String::from_utf8_lossy(resp.body);
            if let Some(needle) = &self.body_contains {
                let found = text.contains(needle.as_str());
                if found == self.invert {
                    let s = show_str(needle);
                    fails.critical.push(if self.invert {
                        format!("body contains {s} (inverted match){truncated}")
                    } else {
                        format!("body does not contain {s}{truncated}")
                    });
                }
            }
            if let Some(re) = &self.body_matches {
                let found = re.is_match(&text);
                if found == self.invert {
                    let r = show_regex(re);
                    fails.critical.push(if self.invert {
                        format!("body matches {r} (inverted match){truncated}")
                    } else {
                        format!("body does not match {r}{truncated}")
                    });
                }
            }
        }

        // 3. JSON assertions and extraction, on one parse of the body.
        let mut extracted = BTreeMap::new();
        if !self.json.is_empty() || !self.extract.is_empty() {
            match serde_json::from_slice::<Value>(resp.body) {
                Ok(doc) => {
                    for check in &self.json {
                        for m in check.judge(&doc) {
                            fails.critical.push(format!("{m}{truncated}"));
                        }
                    }
                    for (name, path) in &self.extract {
                        if let Some(v) = path.query(&doc).first() {
                            extracted.insert(name.clone(), v.clone());
                        }
                    }
                }
                Err(e) if !self.json.is_empty() => {
                    fails
                        .critical
                        .push(format!("body is not JSON: {e}{truncated}"));
                }
                Err(_) => {}
            }
        }

        // 4. Response time.
        let elapsed = resp.elapsed;
        match response_time_breach(elapsed, self.warning, self.critical) {
            Some((Status::Critical, m)) => fails.critical.push(m),
            Some((_, m)) => fails.warning.push(m),
            None => {}
        }

        let (status, message) = fails.decide().unwrap_or_else(|| {
            (
                Status::Ok,
                format!("HTTP {} in {}", resp.status, format_duration(elapsed)),
            )
        });
        Verdict {
            status,
            message,
            extracted,
        }
    }
}

impl JsonCheck {
    /// The failed operators of this assertion against `doc`, as messages (empty when it holds).
    fn judge(&self, doc: &Value) -> Vec<String> {
        let p = &self.text;
        let nodes = self.path.query(doc);
        let Some(node) = nodes.first() else {
            return match self.exists {
                Some(false) => vec![],
                _ => vec![format!("{p} not found")],
            };
        };
        let mut out = Vec::new();
        let shown = show(node);
        if self.exists == Some(false) {
            out.push(format!("{p} exists, expected it not to"));
        }
        if let Some(want) = &self.equals
            && !json_eq(node, want)
        {
            out.push(format!("{p} was {shown}, expected {}", show(want)));
        }
        if let Some(unwanted) = &self.not_equals
            && json_eq(node, unwanted)
        {
            out.push(format!(
                "{p} was {shown}, expected anything but {}",
                show(unwanted)
            ));
        }
        if self.below.is_some() || self.above.is_some() {
            match as_number(node) {
                None => out.push(format!("{p} is {shown}, expected a number")),
                Some(n) => {
                    if let Some(b) = self.below
                        && n >= b
                    {
                        out.push(format!("{p} was {shown}, expected below {}", show_f64(b)));
                    }
                    if let Some(a) = self.above
                        && n <= a
                    {
                        out.push(format!("{p} was {shown}, expected above {}", show_f64(a)));
                    }
                }
            }
        }
        if let Some(re) = &self.matches {
            let text: Option<Cow<'_, str>> = match node {
                Value::String(s) => Some(Cow::Borrowed(s)),
                Value::Number(n) => Some(Cow::Owned(n.to_string())),
                Value::Bool(b) => Some(Cow::Owned(b.to_string())),
                Value::Null | Value::Array(_) | Value::Object(_) => None,
            };
            match text {
                Some(t) if re.is_match(&t) => {}
                Some(_) => {
                    out.push(format!(
                        "{p} was {shown}, expected to match {}",
                        show_regex(re)
                    ));
                }
                None => out.push(format!(
                    "{p} is {shown}, expected a string, number or boolean to match {}",
                    show_regex(re)
                )),
            }
        }
        if let Some(want) = self.length {
            let len = match node {
                Value::Array(a) => Some(a.len()),
                Value::String(s) => Some(s.chars().count()),
                Value::Object(o) => Some(o.len()),
                Value::Null | Value::Bool(_) | Value::Number(_) => None,
            };
            match len {
                Some(l) if l as u64 == want => {}
                Some(l) => out.push(format!("{p} has length {l}, expected {want}")),
                None => out.push(format!(
                    "{p} is {shown}, expected an array, string or object of length {want}"
                )),
            }
        }
        out
    }
}

/// The compiled `expect`/`expect_matches` of a TCP check.
#[derive(Clone, Debug)]
pub struct TcpAssertions {
    expect: Option<String>,
    expect_matches: Option<Regex>,
}

impl TcpAssertions {
    /// Compiles the regex of `spec`.
    pub fn compile(spec: &TcpSpec) -> Result<Self, Vec<FieldError>> {
        let expect_matches = match &spec.expect_matches {
            Some(re) => Some(
                compile_regex(&re.value)
                    .map_err(|m| vec![FieldError::at("tcp.expect_matches", re, m)])?,
            ),
            None => None,
        };
        Ok(Self {
            expect: spec.expect.clone(),
            expect_matches,
        })
    }

    /// Whether the probe needs to read a reply at all.
    pub fn wants_reply(&self) -> bool {
        self.expect.is_some() || self.expect_matches.is_some()
    }

    /// Whether enough of the reply has arrived to decide (so the probe can stop reading).
    pub fn satisfied_by(&self, reply: &[u8]) -> bool {
        let text = String::from_utf8_lossy(reply);
        self.expect.as_deref().is_none_or(|e| text.contains(e))
            && self
                .expect_matches
                .as_ref()
                .is_none_or(|re| re.is_match(&text))
    }

    /// Judges the reply: `None` if it passes, else the reason.
    pub fn check(&self, reply: &[u8]) -> Option<String> {
        if !self.wants_reply() {
            return None;
        }
        if reply.is_empty() {
            return Some("no reply".to_owned());
        }
        let text = String::from_utf8_lossy(reply);
        if let Some(e) = &self.expect
            && !text.contains(e.as_str())
        {
            return Some(format!("reply does not contain {}", show_str(e)));
        }
        if let Some(re) = &self.expect_matches
            && !re.is_match(&text)
        {
            return Some(format!("reply does not match {}", show_regex(re)));
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------------------------

/// A duration for people: `640ms` below a second, else seconds with one decimal (`2.3s`), and
/// no decimal for whole seconds (`2s`).
pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// `response_time` thresholds as durations `(warning, critical)`; an error for `field` when
/// warning is above critical.
pub fn response_time_limits(
    t: Option<Thresholds>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> (Option<Duration>, Option<Duration>) {
    let (warning, critical) = match t {
        Some(t) => (t.warning.map(|d| d.get()), t.critical.map(|d| d.get())),
        None => (None, None),
    };
    if let (Some(w), Some(c)) = (warning, critical)
        && w > c
    {
        errors.push(FieldError::nowhere(
            field,
            format!(
                "warning {} is above critical {}; warning must not exceed critical",
                format_duration(w),
                format_duration(c)
            ),
        ));
    }
    (warning, critical)
}

/// The status and reason when `elapsed` is above a threshold (critical first), `None` when it is
/// within both.
pub fn response_time_breach(
    elapsed: Duration,
    warning: Option<Duration>,
    critical: Option<Duration>,
) -> Option<(Status, String)> {
    let (status, name, limit) = match (critical, warning) {
        (Some(c), _) if elapsed > c => (Status::Critical, "critical", c),
        (_, Some(w)) if elapsed > w => (Status::Warning, "warning", w),
        _ => return None,
    };
    Some((
        status,
        format!(
            "response time {} above {name} {}",
            format_duration(elapsed),
            format_duration(limit)
        ),
    ))
}

/// Compiles a regex with a size cap; the error is one line ([`regex_message`]).
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))
}

/// A regex compile error on one line: `invalid regular expression: unclosed group (at
/// character 1)`, or `regular expression too large (…)`.
pub fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => format!(
            "regular expression too large (compiled size exceeds the limit of {limit} bytes)"
        ),
        regex::Error::Syntax(s) => format!("invalid regular expression: {}", syntax_reason(s)),
        other => format!("invalid regular expression: {other}"),
    }
}

/// Turns regex-syntax's multi-line diagram into one line: `unclosed group (at character 1)`.
fn syntax_reason(diagram: &str) -> String {
    let lines: Vec<&str> = diagram.lines().collect();
    let reason = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .unwrap_or(diagram)
        .trim()
        .to_owned();
    // The single-line form is: header, the pattern, a caret line, blank?, "error: ...".
    let caret = lines
        .iter()
        .skip(2)
        .find(|l| l.trim_start().starts_with('^'));
    match (lines.len(), caret) {
        (4, Some(c)) => {
            let pos = c.len() - c.trim_start().len();
            let at = pos.saturating_sub(4) + 1;
            format!("{reason} (at character {at})")
        }
        _ => reason,
    }
}

/// Parses an RFC 9535 JSONPath; the error includes the parser's text.
fn compile_path(path: &str) -> Result<JsonPath, String> {
    JsonPath::parse(path).map_err(|e| format!("invalid JSONPath {}: {e}", show_str(path)))
}

/// JSON equality where numbers compare by value (`1000` equals `1000.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A number, or a string that holds a finite number.
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    }
}

/// A JSON value as compact JSON text, cut to [`MAX_SHOWN`] characters.
fn show(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    match s.char_indices().nth(MAX_SHOWN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// A string as a JSON string literal (quoted, escaped, cut if long).
fn show_str(s: &str) -> String {
    show(&Value::String(s.to_owned()))
}

/// A regex as `/pattern/`.
fn show_regex(re: &Regex) -> String {
    // A literal line break in a pattern means the same as `\n`: keep messages on one line.
    format!(
        "/{}/",
        re.as_str().replace('\n', "\\n").replace('\r', "\\r")
    )
}

/// A threshold as people write it: `1000`, `0.5`.
fn show_f64(n: f64) -> String {
    format!("{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> HttpSpec {
        serde_saphyr::from_str::<HttpSpec>(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"))
    }

    fn compile(yaml: &str) -> HttpAssertions {
        let s = spec(&format!("url: http://example.test/\n{yaml}"));
        HttpAssertions::compile(&s).unwrap_or_else(|e| panic!("{yaml}\n{e:?}"))
    }

    fn resp(status: u16, body: &str, ms: u64) -> HttpResponseView<'_> {
        HttpResponseView {
            status,
            body: body.as_bytes(),
            body_truncated: false,
            elapsed: Duration::from_millis(ms),
        }
    }

    use Status::{Critical as C, Ok as O, Warning as W};

    #[test]
    fn http_table() {
        // (yaml after `url:`, status, body, elapsed ms, expected status, expected message)
        let rows: &[(&str, u16, &str, u64, Status, &str)] = &[
            // Status codes.
            ("", 200, "", 12, O, "HTTP 200 in 12ms"),
            ("", 204, "", 12, O, "HTTP 204 in 12ms"),
            ("", 503, "", 12, C, "expected status 2xx, got 503"),
            ("", 301, "", 12, C, "expected status 2xx, got 301"),
            (
                "expect: {status: [200]}",
                503,
                "",
                5,
                C,
                "expected status 200, got 503",
            ),
            (
                "expect: {status: [200]}",
                201,
                "",
                5,
                C,
                "expected status 200, got 201",
            ),
            (
                "expect: {status: [200, 3xx]}",
                503,
                "",
                5,
                C,
                "expected status 200, 3xx, got 503",
            ),
            (
                "expect: {status: [200, 3xx]}",
                302,
                "",
                5,
                O,
                "HTTP 302 in 5ms",
            ),
            (
                "expect: {status: ['200-204']}",
                204,
                "",
                5,
                O,
                "HTTP 204 in 5ms",
            ),
            (
                "expect: {status: ['200-204']}",
                205,
                "",
                5,
                C,
                "expected status 200-204, got 205",
            ),
            ("expect: {status: [4xx]}", 404, "", 5, O, "HTTP 404 in 5ms"),
            (
                "expect: {status: ['401']}",
                401,
                "",
                5,
                O,
                "HTTP 401 in 5ms",
            ),
            // Body substring and regex, with invert.
            (
                "expect: {body_contains: ok}",
                200,
                "all ok",
                3,
                O,
                "HTTP 200 in 3ms",
            ),
            (
                "expect: {body_contains: ok}",
                200,
                "bad",
                3,
                C,
                r#"body does not contain "ok""#,
            ),
            (
                "expect: {body_contains: error, invert: true}",
                200,
                "an error",
                3,
                C,
                r#"body contains "error" (inverted match)"#,
            ),
            (
                "expect: {body_contains: error, invert: true}",
                200,
                "fine",
                3,
                O,
                "HTTP 200 in 3ms",
            ),
            (
                "expect: {body_matches: 'v\\d+'}",
                200,
                "v12",
                3,
                O,
                "HTTP 200 in 3ms",
            ),
            (
                "expect: {body_matches: '^up$'}",
                200,
                "down",
                3,
                C,
                "body does not match /^up$/",
            ),
            (
                "expect: {body_matches: 'fail(ed|ure)', invert: true}",
                200,
                "it failed",
                3,
                C,
                "body matches /fail(ed|ure)/ (inverted match)",
            ),
            (
                "expect: {body_matches: 'fail(ed|ure)', invert: true}",
                200,
                "it worked",
                3,
                O,
                "HTTP 200 in 3ms",
            ),
            (
                "expect: {body_contains: '\"q\"'}",
                200,
                "x",
                3,
                C,
                r#"body does not contain "\"q\"""#,
            ),
            // Several failures: first one decides, the rest are counted.
            (
                "expect: {status: [200], body_contains: ok}",
                500,
                "boom",
                3,
                C,
                "expected status 200, got 500 (and 1 more)",
            ),
            (
                "expect: {body_contains: ok, body_matches: '^ok', response_time: {warning: 1ms}}",
                200,
                "no",
                3,
                C,
                r#"body does not contain "ok" (and 2 more)"#,
            ),
            // JSON equality.
            (
                "expect: {json: [{path: $.status, equals: ok}]}",
                200,
                r#"{"status":"ok"}"#,
                7,
                O,
                "HTTP 200 in 7ms",
            ),
            (
                "expect: {json: [{path: $.status, equals: ok}]}",
                200,
                r#"{"status":"degraded"}"#,
                7,
                C,
                r#"$.status was "degraded", expected "ok""#,
            ),
            (
                "expect: {json: [{path: $.status, not_equals: ok}]}",
                200,
                r#"{"status":"ok"}"#,
                7,
                C,
                r#"$.status was "ok", expected anything but "ok""#,
            ),
            (
                "expect: {json: [{path: $.status, not_equals: ok}]}",
                200,
                r#"{"status":"down"}"#,
                7,
                O,
                "HTTP 200 in 7ms",
            ),
            (
                "expect: {json: [{path: $.n, equals: 1000}]}",
                200,
                r#"{"n":1000.0}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.n, equals: 1000.0}]}",
                200,
                r#"{"n":1000}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.n, equals: 5}]}",
                200,
                r#"{"n":"5"}"#,
                1,
                C,
                r#"$.n was "5", expected 5"#,
            ),
            (
                "expect: {json: [{path: $.n, equals: '5'}]}",
                200,
                r#"{"n":5}"#,
                1,
                C,
                r#"$.n was 5, expected "5""#,
            ),
            (
                "expect: {json: [{path: $.b, equals: true}]}",
                200,
                r#"{"b":true}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.a, equals: [1, 2.0, {k: v}]}]}",
                200,
                r#"{"a":[1.0,2,{"k":"v"}]}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            // Missing nodes and exists.
            (
                "expect: {json: [{path: $.version, equals: '2'}]}",
                200,
                r#"{"v":1}"#,
                1,
                C,
                "$.version not found",
            ),
            (
                "expect: {json: [{path: $.x, exists: true}]}",
                200,
                r#"{"x":0}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.x, exists: true}]}",
                200,
                r#"{}"#,
                1,
                C,
                "$.x not found",
            ),
            (
                "expect: {json: [{path: $.x, exists: false}]}",
                200,
                r#"{}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.x, exists: false}]}",
                200,
                r#"{"x":null}"#,
                1,
                C,
                "$.x exists, expected it not to",
            ),
            // Numbers.
            (
                "expect: {json: [{path: $.queue.depth, below: 1000}]}",
                200,
                r#"{"queue":{"depth":1500}}"#,
                1,
                C,
                "$.queue.depth was 1500, expected below 1000",
            ),
            (
                "expect: {json: [{path: $.queue.depth, below: 1000}]}",
                200,
                r#"{"queue":{"depth":999.5}}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.queue.depth, below: 1000}]}",
                200,
                r#"{"queue":{"depth":"12"}}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.q.depth, below: 1000}]}",
                200,
                r#"{"q":{"depth":"x"}}"#,
                1,
                C,
                r#"$.q.depth is "x", expected a number"#,
            ),
            (
                "expect: {json: [{path: $.q.depth, above: 0.5, below: 2}]}",
                200,
                r#"{"q":{"depth":0.5}}"#,
                1,
                C,
                "$.q.depth was 0.5, expected above 0.5",
            ),
            (
                "expect: {json: [{path: $.free, above: 10}]}",
                200,
                r#"{"free":"3"}"#,
                1,
                C,
                r#"$.free was "3", expected above 10"#,
            ),
            (
                "expect: {json: [{path: $.free, above: 10}]}",
                200,
                r#"{"free":true}"#,
                1,
                C,
                "$.free is true, expected a number",
            ),
            // Regex on values.
            (
                "expect: {json: [{path: $.version, matches: '^2\\.'}]}",
                200,
                r#"{"version":"1.2"}"#,
                1,
                C,
                r#"$.version was "1.2", expected to match /^2\./"#,
            ),
            (
                "expect: {json: [{path: $.version, matches: '^2\\.'}]}",
                200,
                r#"{"version":"2.7"}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.version, matches: '^2\\.'}]}",
                200,
                r#"{"version":2.5}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.on, matches: '^true$'}]}",
                200,
                r#"{"on":true}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.on, matches: x}]}",
                200,
                r#"{"on":[1]}"#,
                1,
                C,
                "$.on is [1], expected a string, number or boolean to match /x/",
            ),
            // Length.
            (
                "expect: {json: [{path: $.items, length: 3}]}",
                200,
                r#"{"items":[1,2]}"#,
                1,
                C,
                "$.items has length 2, expected 3",
            ),
            (
                "expect: {json: [{path: $.items, length: 2}]}",
                200,
                r#"{"items":[1,2]}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.s, length: 3}]}",
                200,
                r#"{"s":"héé"}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: $.o, length: 1}]}",
                200,
                r#"{"o":{"a":1,"b":2}}"#,
                1,
                C,
                "$.o has length 2, expected 1",
            ),
            (
                "expect: {json: [{path: $.n, length: 1}]}",
                200,
                r#"{"n":7}"#,
                1,
                C,
                "$.n is 7, expected an array, string or object of length 1",
            ),
            // Filters: the first node selected is tested.
            (
                "expect: {json: [{path: '$.deps[?@.up == false].name', exists: false}]}",
                200,
                r#"{"deps":[{"name":"db","up":true},{"name":"cache","up":false},{"name":"mq","up":false}]}"#,
                1,
                C,
                "$.deps[?@.up == false].name exists, expected it not to",
            ),
            (
                "expect: {json: [{path: '$.deps[?@.up == false].name', equals: cache}]}",
                200,
                r#"{"deps":[{"name":"db","up":true},{"name":"cache","up":false},{"name":"mq","up":false}]}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            (
                "expect: {json: [{path: '$.deps[?@.up == false].name', exists: false}]}",
                200,
                r#"{"deps":[{"name":"db","up":true}]}"#,
                1,
                O,
                "HTTP 200 in 1ms",
            ),
            // Several operators, several assertions.
            (
                "expect: {json: [{path: $.n, not_equals: 0, below: 5, above: 1}]}",
                200,
                r#"{"n":9}"#,
                1,
                C,
                "$.n was 9, expected below 5",
            ),
            (
                "expect: {json: [{path: $.a, equals: 1}, {path: $.b, equals: 2}, {path: $.c, exists: true}]}",
                200,
                r#"{"a":0,"b":0}"#,
                1,
                C,
                "$.a was 0, expected 1 (and 2 more)",
            ),
            // Not JSON.
            (
                "expect: {json: [{path: $.status, equals: ok}]}",
                200,
                "<html>",
                1,
                C,
                "body is not JSON: expected value at line 1 column 1",
            ),
            (
                "expect: {json: [{path: $.a, equals: 1}, {path: $.b, equals: 2}]}",
                502,
                "",
                1,
                C,
                "expected status 2xx, got 502 (and 1 more)",
            ),
            (
                "extract: {v: $.version}",
                200,
                "<html>",
                4,
                O,
                "HTTP 200 in 4ms",
            ),
            // Response time.
            (
                "expect: {response_time: {warning: 500ms, critical: 2s}}",
                200,
                "",
                640,
                W,
                "response time 640ms above warning 500ms",
            ),
            (
                "expect: {response_time: {warning: 500ms, critical: 2s}}",
                200,
                "",
                2300,
                C,
                "response time 2.3s above critical 2s",
            ),
            (
                "expect: {response_time: {warning: 500ms, critical: 2s}}",
                200,
                "",
                500,
                O,
                "HTTP 200 in 500ms",
            ),
            (
                "expect: {response_time: {warning: 500ms, critical: 2s}}",
                200,
                "",
                2000,
                W,
                "response time 2s above warning 500ms",
            ),
            (
                "expect: {response_time: {critical: 1s}}",
                200,
                "",
                1049,
                C,
                "response time 1.0s above critical 1s",
            ),
            (
                "expect: {response_time: {critical: 1s}}",
                200,
                "",
                999,
                O,
                "HTTP 200 in 999ms",
            ),
            (
                "expect: {response_time: {warning: 1s}}",
                200,
                "",
                12_345,
                W,
                "response time 12.3s above warning 1s",
            ),
            (
                "expect: {response_time: {warning: 1s}}",
                200,
                "",
                1500,
                W,
                "response time 1.5s above warning 1s",
            ),
            (
                "expect: {status: [200], response_time: {warning: 100ms}}",
                503,
                "",
                640,
                C,
                "expected status 200, got 503 (and 1 more)",
            ),
            ("", 200, "", 61_000, O, "HTTP 200 in 61s"),
        ];
        for (i, (yaml, code, body, ms, want_status, want_msg)) in rows.iter().enumerate() {
            let a = compile(yaml);
            let v = a.evaluate(&resp(*code, body, *ms));
            assert_eq!(
                (v.status, v.message.as_str()),
                (*want_status, *want_msg),
                "row {i}: {yaml} / {code} {body:?} {ms}ms"
            );
        }
    }

    #[test]
    fn truncated_body_is_said_on_body_failures_only() {
        let rows: &[(&str, u16, &str, &str)] = &[
            (
                "expect: {body_contains: '</html>'}",
                200,
                "<html><body>",
                r#"body does not contain "</html>" (body truncated at 12 bytes)"#,
            ),
            (
                "expect: {body_matches: 'end$'}",
                200,
                "<html><body>",
                "body does not match /end$/ (body truncated at 12 bytes)",
            ),
            (
                "expect: {body_contains: body, invert: true}",
                200,
                "<html><body>",
                r#"body contains "body" (inverted match) (body truncated at 12 bytes)"#,
            ),
            (
                "expect: {json: [{path: $.a, equals: 1}]}",
                200,
                r#"{"a":[1,2"#,
                "body is not JSON: EOF while parsing a list at line 1 column 9 (body truncated at 9 bytes)",
            ),
            (
                "expect: {status: [200]}",
                500,
                "<html>",
                "expected status 200, got 500",
            ),
        ];
        for (yaml, code, body, want) in rows {
            let a = compile(yaml);
            let r = HttpResponseView {
                body_truncated: true,
                ..resp(*code, body, 10)
            };
            let v = a.evaluate(&r);
            assert_eq!(v.status, Status::Critical, "{yaml}");
            assert_eq!(v.message, *want, "{yaml}");
        }
    }

    #[test]
    fn extract_takes_first_node_whatever_the_status() {
        let a = compile(
            "extract:\n  version: $.version\n  first_down: '$.deps[?@.up == false].name'\n  \
             missing: $.nope\n  obj: $.meta\nexpect:\n  status: [200]\n",
        );
        let body = r#"{"version":"2.4.1","meta":{"a":[1]},"deps":[{"name":"db","up":true},{"name":"cache","up":false},{"name":"mq","up":false}]}"#;
        let v = a.evaluate(&resp(503, body, 40));
        assert_eq!(v.status, Status::Critical);
        assert_eq!(v.message, "expected status 200, got 503");
        let want: BTreeMap<String, Value> = [
            ("version".to_owned(), Value::from("2.4.1")),
            ("first_down".to_owned(), Value::from("cache")),
            ("obj".to_owned(), serde_json::json!({"a": [1]})),
        ]
        .into_iter()
        .collect();
        assert_eq!(v.extracted, want);

        // Not JSON: nothing extracted, and extraction alone does not fail the check.
        let v = a.evaluate(&resp(200, "nope", 40));
        assert_eq!(v.status, Status::Ok);
        assert!(v.extracted.is_empty());
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let a = compile("expect: {json: [{path: $.s, equals: short}]}");
        let long = "x".repeat(500);
        let body = format!(r#"{{"s":"{long}"}}"#);
        let v = a.evaluate(&resp(200, &body, 1));
        assert!(v.message.starts_with(r#"$.s was "xxx"#), "{}", v.message);
        assert!(v.message.contains("…, expected \"short\""), "{}", v.message);
        assert!(v.message.len() < 200, "{}", v.message);
    }

    #[test]
    fn equals_null_is_judged_when_given() {
        // YAML `equals: null` reads as "not set"; the API can still hand over a JSON null.
        let mut s = spec("url: http://x/\nexpect: {json: [{path: $.err, exists: true}]}");
        s.expect.json[0].equals = Some(Value::Null);
        let a = HttpAssertions::compile(&s).unwrap();
        let v = a.evaluate(&resp(200, r#"{"err":null}"#, 1));
        assert_eq!(
            (v.status, v.message.as_str()),
            (Status::Ok, "HTTP 200 in 1ms")
        );
        let v = a.evaluate(&resp(200, r#"{"err":"disk full"}"#, 1));
        assert_eq!(v.message, r#"$.err was "disk full", expected null"#);
    }

    fn compile_errors(yaml: &str) -> Vec<FieldError> {
        match HttpAssertions::compile(&spec(yaml)) {
            Ok(_) => panic!("expected errors for {yaml}"),
            Err(e) => e,
        }
    }

    #[test]
    fn compile_errors_name_the_field_and_place() {
        let yaml = "\
url: http://example.test/
expect:
  body_matches: '(unclosed'
  json:
    - path: $.ok
      equals: true
    - path: $.[bad
      equals: 1
    - path: $.x
    - path: $.v
      matches: 'a{2,1}'
  response_time: {warning: 5s, critical: 2s}
extract:
  good: $.a
  version: $$
";
        let errs = compile_errors(yaml);
        let got: Vec<(&str, u64, u64)> = errs
            .iter()
            .map(|e| (e.field.as_str(), e.line, e.column))
            .collect();
        assert_eq!(
            got,
            vec![
                ("http.expect.body_matches", 3, 17),
                ("http.expect.json[1].path", 7, 13),
                ("http.expect.json[2]", 9, 13),
                ("http.expect.json[3].matches", 11, 16),
                ("http.expect.response_time", 0, 0),
                ("http.extract.version", 15, 12),
            ],
            "{errs:#?}"
        );
        assert_eq!(
            errs[0].message,
            "invalid regular expression: unclosed group (at character 1)"
        );
        assert!(
            errs[1]
                .message
                .starts_with("invalid JSONPath \"$.[bad\": at position"),
            "{}",
            errs[1].message
        );
        assert_eq!(
            errs[2].message,
            "needs at least one of equals, not_equals, below, above, matches, exists, length"
        );
        assert!(
            errs[3].message.starts_with("invalid regular expression: "),
            "{}",
            errs[3].message
        );
        assert!(!errs[3].message.contains('\n'), "{}", errs[3].message);
        assert_eq!(
            errs[4].message,
            "warning 5s is above critical 2s; warning must not exceed critical"
        );
        assert!(
            errs[5].message.starts_with("invalid JSONPath \"$$\": "),
            "{}",
            errs[5].message
        );
        for e in &errs {
            assert!(!e.message.contains('\n'), "{e:?}");
        }
    }

    #[test]
    fn compile_rejects_contradictions_and_huge_regexes() {
        let errs = compile_errors(
            "url: http://x/\nexpect:\n  json:\n    - {path: $.a, exists: false, equals: 1}\n    \
             - {path: $.b, below: 1, above: 5}\n",
        );
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["http.expect.json[0].exists", "http.expect.json[1]"],
            "{errs:#?}"
        );
        assert_eq!(errs[1].line, 5);
        assert_eq!(
            errs[1].message,
            "below 1 and above 5 cannot both hold; below must be greater than above"
        );

        let errs =
            compile_errors("url: http://x/\nexpect:\n  body_matches: '\\w{1000}\\w{1000}'\n");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "http.expect.body_matches");
        assert!(
            errs[0].message.starts_with("regular expression too large"),
            "{}",
            errs[0].message
        );

        // Equal thresholds are fine.
        compile("expect: {response_time: {warning: 2s, critical: 2s}}");
    }

    fn tcp(yaml: &str) -> Result<TcpAssertions, Vec<FieldError>> {
        let s: TcpSpec = serde_saphyr::from_str(&format!("host: h\nport: 22\n{yaml}"))
            .unwrap_or_else(|e| panic!("{yaml}\n{e}"));
        TcpAssertions::compile(&s)
    }

    #[test]
    fn tcp_table() {
        // (yaml, reply, wants_reply, satisfied_by, check)
        let rows: &[(&str, &str, bool, bool, Option<&str>)] = &[
            ("", "", false, true, None),
            ("", "anything", false, true, None),
            ("expect: SSH-", "SSH-2.0-OpenSSH_9.6\r\n", true, true, None),
            ("expect: SSH-", "", true, false, Some("no reply")),
            (
                "expect: SSH-",
                "HTTP/1.1 400",
                true,
                false,
                Some(r#"reply does not contain "SSH-""#),
            ),
            ("expect_matches: '^\\+OK'", "+OK ready", true, true, None),
            (
                "expect_matches: '^\\+OK'",
                "-ERR",
                true,
                false,
                Some(r"reply does not match /^\+OK/"),
            ),
            (
                "expect_matches: '^\\+OK'",
                "",
                true,
                false,
                Some("no reply"),
            ),
            (
                "expect: '220'\nexpect_matches: 'ESMTP$'",
                "220 mail ESMTP",
                true,
                true,
                None,
            ),
            (
                "expect: '220'\nexpect_matches: 'ESMTP$'",
                "220 mail",
                true,
                false,
                Some("reply does not match /ESMTP$/"),
            ),
            (
                "expect: '220'\nexpect_matches: 'ESMTP$'",
                "554 no ESMTP",
                true,
                false,
                Some(r#"reply does not contain "220""#),
            ),
        ];
        for (yaml, reply, wants, satisfied, check) in rows {
            let t = tcp(yaml).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
            assert_eq!(t.wants_reply(), *wants, "{yaml}");
            assert_eq!(
                t.satisfied_by(reply.as_bytes()),
                *satisfied,
                "{yaml} / {reply:?}"
            );
            assert_eq!(
                t.check(reply.as_bytes()).as_deref(),
                *check,
                "{yaml} / {reply:?}"
            );
        }

        let errs = tcp("expect_matches: '[z-a]'").err().unwrap_or_default();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            (errs[0].field.as_str(), errs[0].line, errs[0].column),
            ("tcp.expect_matches", 3, 17)
        );
        assert!(
            errs[0].message.starts_with("invalid regular expression: "),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn durations_read_well() {
        let rows = [
            (0, "0ms"),
            (12, "12ms"),
            (999, "999ms"),
            (1000, "1s"),
            (1049, "1.0s"),
            (1050, "1.1s"),
            (2300, "2.3s"),
            (120_000, "120s"),
        ];
        for (ms, want) in rows {
            assert_eq!(format_duration(Duration::from_millis(ms)), want);
        }
    }
}
