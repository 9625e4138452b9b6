//! `command:` — run a Nagios plugin, a SlapOS promise or any program, and judge what it said.
//!
//! Three protocols decide the status:
//! - `nagios` (default): exit 0/1/2/3 is ok/warning/critical/unknown, the first line of standard
//!   output (up to `|`) is the message, performance data become metrics
//!   ([`super::perfdata`]);
//! - `promise` (SlapOS): exit 0 is ok, anything else critical; standard output is a JSON object
//!   whose `message` is the message;
//! - `exit` (Amon's `cmd` probe): a non-zero exit is critical unless `ignore_exit_status`, and
//!   `match` rules on standard output or standard error raise their own status.
//!
//! The spec is the users' contract (field names are the YAML names); [`CommandSpec::validate`]
//! reports every problem with the field it is in. [`CommandSpec::compile`] gives the
//! [`CommandJudge`], which turns a finished run ([`Finished`]) into a status, a one-line message,
//! metrics and extracted values. Running the process is the probe's business.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::assert::{FieldError, REGEX_SIZE_LIMIT, compile_regex, format_duration, regex_message};
use crate::check::{ByteSize, Secret};
use crate::kinds::perfdata;
use crate::{Metric, Status};

/// Default `max_output`: 64 KiB of each of standard output and standard error.
pub const DEFAULT_MAX_OUTPUT: u64 = 64 << 10;

/// Largest `max_output` accepted (the output of a run is held in memory).
pub const MAX_MAX_OUTPUT: u64 = 16 << 20;

/// `PATH` of a command unless `env` or `inherit_env` sets it.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The shell of `shell: true`, run as `/bin/sh -c TEXT`.
pub const SHELL: &str = "/bin/sh";

/// Longest message, in characters, before it is cut with `…`.
pub const MAX_MESSAGE: usize = 1000;

/// Names of the metrics every run reports; performance data labels that sanitise to one of
/// these get a `_2` suffix.
pub const OWN_METRICS: [&str; 2] = ["response_time", "exit_code"];

/// `command:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// How the output is read: `nagios` (default), `promise` or `exit`.
    #[serde(default)]
    pub protocol: Protocol,
    /// The program and its arguments as a list, or (with `shell: true`) one string of shell text.
    pub run: Run,
    /// Run `run` (a string) with `/bin/sh -c` (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shell: bool,
    /// Environment variables set for the command (values are never shown).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Secret>,
    /// Names of Tocsin's own environment variables passed on to the command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherit_env: Vec<String>,
    /// Working directory (absolute; default: Tocsin's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Keep at most this much of each of standard output and standard error (default 64KiB);
    /// the rest is read and thrown away.
    #[serde(default = "default_max_output")]
    pub max_output: ByteSize,
    /// `exit` only: a non-zero exit is not a failure by itself (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_exit_status: bool,
    /// `exit` only: rules on the output; each one that fires sets its status.
    #[serde(default, rename = "match", skip_serializing_if = "Vec::is_empty")]
    pub matches: Vec<MatchRule>,
}

fn default_max_output() -> ByteSize {
    ByteSize(DEFAULT_MAX_OUTPUT)
}

/// How a command's exit status and output become a result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Nagios plugin: exit 0/1/2/3, first line, performance data.
    #[default]
    Nagios,
    /// SlapOS promise: exit 0 or not, JSON `message` on standard output.
    Promise,
    /// Any program: the exit status and `match` rules.
    Exit,
}

impl Protocol {
    /// The name, as in files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Nagios => "nagios",
            Self::Promise => "promise",
            Self::Exit => "exit",
        }
    }

    /// The status of a run that could not start, was killed by a signal or exited outside the
    /// protocol: `unknown` for a plugin (it could not check), `critical` for the others.
    pub const fn failure_status(self) -> Status {
        match self {
            Self::Nagios => Status::Unknown,
            Self::Promise | Self::Exit => Status::Critical,
        }
    }
}

/// `run:` — a list of arguments, or one string of shell text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Run {
    /// `[program, arg, …]`, run without a shell.
    Args(Vec<String>),
    /// Text for `/bin/sh -c` (only with `shell: true`).
    Shell(String),
}

impl<'de> Deserialize<'de> for Run {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RunVisitor;
        impl<'de> Visitor<'de> for RunVisitor {
            type Value = Run;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a list of arguments ([program, arg, …]), or a string of shell text with \
                     shell: true",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Run, E> {
                Ok(Run::Shell(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Run, A::Error> {
                let mut args = Vec::new();
                while let Some(a) = seq.next_element::<String>()? {
                    args.push(a);
                }
                Ok(Run::Args(args))
            }
        }
        d.deserialize_any(RunVisitor)
    }
}

impl Serialize for Run {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Args(a) => a.serialize(s),
            Self::Shell(t) => s.serialize_str(t),
        }
    }
}

/// Which output a match rule reads.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name, as in files and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// How a match rule's `pattern` is read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchType {
    /// A regular expression (Rust `regex` syntax).
    #[default]
    Regex,
    /// Plain text.
    Substring,
}

/// One rule of `match:` (Amon's match object): the rule *fires* when the pattern is found in the
/// stream (or, with `invert`, when it is not), and the run then has at least the rule's status.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    /// `stdout` (default) or `stderr`.
    #[serde(default)]
    pub stream: Stream,
    /// What to look for.
    pub pattern: String,
    /// `regex` (default) or `substring`.
    #[serde(default, rename = "type")]
    pub kind: MatchType,
    /// Regex flags: `i` (ignore case), `m` (`^`/`$` at line ends), `s` (`.` matches newlines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
    /// Only whole words match (`\b` on both sides).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_word: bool,
    /// Fire when the pattern is *not* found.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invert: bool,
    /// The status when the rule fires: `critical` (default), `warning` or `unknown`.
    #[serde(default = "critical")]
    pub status: Status,
}

fn critical() -> Status {
    Status::Critical
}

impl MatchRule {
    /// The rule as a regex with its flags, or why it does not compile.
    fn compile(&self) -> Result<Regex, String> {
        let body = match self.kind {
            MatchType::Regex => self.pattern.clone(),
            MatchType::Substring => regex::escape(&self.pattern),
        };
        let body = if self.match_word {
            // Syntax errors are reported against the pattern as written, not the wrapped one.
            compile_regex(&body)?;
            format!(r"\b(?:{body})\b")
        } else {
            body
        };
        let mut b = RegexBuilder::new(&body);
        b.size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT);
        for f in self.flags.chars() {
            match f {
                'i' => {
                    b.case_insensitive(true);
                }
                'm' => {
                    b.multi_line(true);
                }
                's' => {
                    b.dot_matches_new_line(true);
                }
                // Validated before compiling.
                _ => {}
            }
        }
        b.build().map_err(|e| regex_message(&e))
    }

    /// The pattern as messages show it: `"text"` or `/regex/flags`.
    fn shown(&self) -> String {
        let p = one_line(&self.pattern, 80);
        match self.kind {
            MatchType::Substring => format!("{p:?}{}", flags_suffix(&self.flags)),
            MatchType::Regex => format!("/{p}/{}", self.flags),
        }
    }
}

fn flags_suffix(flags: &str) -> String {
    if flags.is_empty() {
        String::new()
    } else {
        format!(" ({flags})")
    }
}

/// Whether `name` can be an environment variable name: not empty, no `=`, no NUL.
fn bad_env_name(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("an environment variable name must not be empty".into())
    } else if name.contains('=') {
        Some(format!(
            "invalid environment variable name {name:?}: it must not contain '='"
        ))
    } else if name.contains('\0') {
        Some(format!(
            "invalid environment variable name {name:?}: it must not contain a NUL character"
        ))
    } else {
        None
    }
}

impl CommandSpec {
    /// Every problem with the spec, fields relative to the check (`command.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |field: String, message: String| {
            errors.push(FieldError::nowhere(field, message));
        };
        match (&self.run, self.shell) {
            (Run::Args(args), false) => match args.first() {
                None => err(
                    "command.run".into(),
                    "must name a program: [program, arg, …]".into(),
                ),
                Some(p) if p.trim().is_empty() => err(
                    "command.run[0]".into(),
                    "the program must not be empty".into(),
                ),
                Some(p) => {
                    if p.contains('/') && !p.starts_with('/') && self.cwd.is_none() {
                        err(
                            "command.run[0]".into(),
                            format!(
                                "{p:?} is a relative path: give an absolute path, a bare name \
                                 looked up in PATH, or set cwd"
                            ),
                        );
                    }
                    for (i, a) in args.iter().enumerate() {
                        if a.contains('\0') {
                            err(
                                format!("command.run[{i}]"),
                                "must not contain a NUL character".into(),
                            );
                        }
                    }
                }
            },
            (Run::Args(_), true) => err(
                "command.run".into(),
                "with shell: true, run must be one string of shell text (got a list); to run \
                 without a shell, remove shell: true"
                    .into(),
            ),
            (Run::Shell(_), false) => err(
                "command.run".into(),
                "a string runs only through a shell: write the command as a list \
                 ([program, arg, …]) or add shell: true"
                    .into(),
            ),
            (Run::Shell(text), true) => {
                if text.trim().is_empty() {
                    err("command.run".into(), "must not be empty".into());
                } else if text.contains('\0') {
                    err(
                        "command.run".into(),
                        "must not contain a NUL character".into(),
                    );
                }
            }
        }
        for (name, value) in &self.env {
            let field = format!("command.env.{name}");
            if let Some(m) = bad_env_name(name) {
                err(field, m);
            } else if value.expose().contains('\0') {
                err(field, "the value must not contain a NUL character".into());
            }
        }
        for (i, name) in self.inherit_env.iter().enumerate() {
            if let Some(m) = bad_env_name(name) {
                err(format!("command.inherit_env[{i}]"), m);
            }
        }
        if let Some(cwd) = &self.cwd {
            if !cwd.starts_with('/') {
                err(
                    "command.cwd".into(),
                    format!("must be an absolute path (got {cwd:?})"),
                );
            } else if cwd.contains('\0') {
                err(
                    "command.cwd".into(),
                    "must not contain a NUL character".into(),
                );
            }
        }
        if self.max_output.0 == 0 || self.max_output.0 > MAX_MAX_OUTPUT {
            err(
                "command.max_output".into(),
                format!(
                    "must be between 1 byte and 16MiB (got {} bytes)",
                    self.max_output.0
                ),
            );
        }
        if self.protocol != Protocol::Exit {
            let p = self.protocol.as_str();
            if self.ignore_exit_status {
                err(
                    "command.ignore_exit_status".into(),
                    format!(
                        "only protocol: exit uses it (this check has protocol: {p}, where the \
                         exit status is the verdict)"
                    ),
                );
            }
            if !self.matches.is_empty() {
                err(
                    "command.match".into(),
                    format!(
                        "match rules apply only to protocol: exit (this check has protocol: {p})"
                    ),
                );
            }
        }
        for (i, rule) in self.matches.iter().enumerate() {
            let at = |f: &str| format!("command.match[{i}].{f}");
            if rule.pattern.is_empty() {
                err(at("pattern"), "must not be empty".into());
            }
            if let Some(f) = rule.flags.chars().find(|c| !matches!(c, 'i' | 'm' | 's')) {
                err(
                    at("flags"),
                    format!(
                        "unknown flag {f:?}: use i (ignore case), m (^ and $ at line ends), \
                         s (. matches newlines)"
                    ),
                );
            } else if !rule.pattern.is_empty()
                && let Err(m) = rule.compile()
            {
                err(at("pattern"), m);
            }
            if rule.status == Status::Ok {
                err(
                    at("status"),
                    "must be warning, critical or unknown (the status when the rule fires)".into(),
                );
            }
        }
        errors
    }

    /// The judge of this spec's runs; the errors of [`Self::validate`] if it has any.
    pub fn compile(&self) -> Result<CommandJudge, Vec<FieldError>> {
        let errors = self.validate();
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut rules = Vec::with_capacity(self.matches.len());
        for (i, r) in self.matches.iter().enumerate() {
            let regex = r.compile().map_err(|m| {
                vec![FieldError::nowhere(
                    format!("command.match[{i}].pattern"),
                    m,
                )]
            })?;
            rules.push(CompiledRule {
                stream: r.stream,
                regex,
                invert: r.invert,
                status: r.status,
                shown: r.shown(),
            });
        }
        Ok(CommandJudge {
            protocol: self.protocol,
            ignore_exit_status: self.ignore_exit_status,
            rules,
        })
    }

    /// The program to execute and its arguments: `/bin/sh` and `-c TEXT` with `shell: true`; a
    /// relative program path (`./check`) is joined to `cwd`. `None` if the spec is invalid.
    pub fn argv(&self) -> Option<(String, Vec<String>)> {
        match (&self.run, self.shell) {
            (Run::Shell(text), true) => Some((SHELL.to_owned(), vec!["-c".into(), text.clone()])),
            (Run::Args(args), false) => {
                let (program, rest) = args.split_first()?;
                let program = match &self.cwd {
                    Some(cwd) if program.contains('/') && !program.starts_with('/') => {
                        let p = program.strip_prefix("./").unwrap_or(program);
                        format!("{}/{p}", cwd.trim_end_matches('/'))
                    }
                    _ => program.clone(),
                };
                Some((program, rest.to_vec()))
            }
            _ => None,
        }
    }

    /// The command's whole environment: `PATH` ([`DEFAULT_PATH`]) and `LANG=C`, then the
    /// `inherit_env` variables that `lookup` (Tocsin's environment) has, then `env`. Later
    /// entries win.
    pub fn environment(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        vars.insert("PATH".into(), DEFAULT_PATH.into());
        vars.insert("LANG".into(), "C".into());
        for name in &self.inherit_env {
            if let Some(v) = lookup(name) {
                vars.insert(name.clone(), v);
            }
        }
        for (k, v) in &self.env {
            vars.insert(k.clone(), v.expose().to_owned());
        }
        vars.into_iter().collect()
    }

    /// The values of `env`, for the fingerprint (they are masked when serialised).
    pub fn secrets(&self) -> Vec<&str> {
        self.env.values().map(Secret::expose).collect()
    }

    /// A command talks to no host of its own (its arguments may name one; `host:` labels it).
    pub fn target_host(&self) -> Option<String> {
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Judging a finished run.
// ---------------------------------------------------------------------------------------------

/// How the command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal killed it (not Tocsin's timeout: that is reported by the probe).
    Signal(i32),
}

/// What a finished run left: how it ended and what it printed (each stream cut at `max_output`).
#[derive(Clone, Copy, Debug)]
pub struct Finished<'a> {
    /// How it ended.
    pub exit: Exit,
    /// Standard output (invalid UTF-8 replaced).
    pub stdout: &'a str,
    /// Standard error.
    pub stderr: &'a str,
    /// Standard output was longer than `max_output`.
    pub stdout_truncated: bool,
    /// Standard error was longer than `max_output`.
    pub stderr_truncated: bool,
    /// From start to exit.
    pub elapsed: Duration,
}

/// The verdict on a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// The status.
    pub status: Status,
    /// One line.
    pub message: String,
    /// `response_time`, `exit_code`, and a plugin's performance data.
    pub metrics: Vec<Metric>,
    /// `perfdata` (thresholds, min, max, labels), `long_output`, `perfdata_errors`,
    /// `stdout_truncated`/`stderr_truncated`, a promise's other JSON fields.
    pub extracted: BTreeMap<String, Value>,
}

/// A compiled `match:` rule.
#[derive(Clone, Debug)]
struct CompiledRule {
    stream: Stream,
    regex: Regex,
    invert: bool,
    status: Status,
    shown: String,
}

/// Turns finished runs of one spec into results.
#[derive(Clone, Debug)]
pub struct CommandJudge {
    protocol: Protocol,
    ignore_exit_status: bool,
    rules: Vec<CompiledRule>,
}

impl CommandJudge {
    /// The protocol judged.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The status, message, metrics and extracted values of a finished run.
    pub fn judge(&self, f: &Finished<'_>) -> Judgement {
        let mut metrics = vec![Metric {
            name: "response_time".into(),
            value: f.elapsed.as_secs_f64(),
            unit: "s".into(),
        }];
        if let Exit::Code(c) = f.exit {
            metrics.push(Metric {
                name: "exit_code".into(),
                value: f64::from(c),
                unit: String::new(),
            });
        }
        let mut extracted = BTreeMap::new();
        if f.stdout_truncated {
            extracted.insert("stdout_truncated".into(), Value::Bool(true));
        }
        if f.stderr_truncated {
            extracted.insert("stderr_truncated".into(), Value::Bool(true));
        }
        let (status, message) = match self.protocol {
            Protocol::Nagios => nagios(f, &mut metrics, &mut extracted),
            Protocol::Promise => promise(f, &mut extracted),
            Protocol::Exit => self.exit(f),
        };
        Judgement {
            status,
            message: one_line(&message, MAX_MESSAGE),
            metrics,
            extracted,
        }
    }

    fn exit(&self, f: &Finished<'_>) -> (Status, String) {
        let mut problems: Vec<(Status, String)> = Vec::new();
        if !self.ignore_exit_status {
            match f.exit {
                Exit::Code(0) => {}
                Exit::Code(c) => problems.push((
                    Status::Critical,
                    with_detail(
                        format!("exited with status {c}"),
                        first_line(f.stderr).or_else(|| first_line(f.stdout)),
                    ),
                )),
                Exit::Signal(s) => {
                    problems.push((Status::Critical, format!("killed by {}", signal_name(s))));
                }
            }
        }
        for rule in &self.rules {
            let text = match rule.stream {
                Stream::Stdout => f.stdout,
                Stream::Stderr => f.stderr,
            };
            let stream = rule.stream.as_str();
            match (rule.regex.find(text), rule.invert) {
                (Some(m), false) => {
                    let before = &text[..m.start()];
                    let line_no = before.matches('\n').count() + 1;
                    let start = before.rfind('\n').map_or(0, |i| i + 1);
                    let end = text[m.start()..]
                        .find('\n')
                        .map_or(text.len(), |i| m.start() + i);
                    let line = &text[start..end];
                    problems.push((
                        rule.status,
                        format!(
                            "{stream} matches {} on line {line_no}: {:?}",
                            rule.shown,
                            one_line(line.trim(), 120)
                        ),
                    ));
                }
                (None, true) => problems.push((
                    rule.status,
                    format!("{stream} does not match {}", rule.shown),
                )),
                _ => {}
            }
        }
        if problems.is_empty() {
            let how = match f.exit {
                Exit::Code(c) => {
                    format!("exited with status {c} in {}", format_duration(f.elapsed))
                }
                Exit::Signal(s) => format!("killed by {} (exit status ignored)", signal_name(s)),
            };
            return (Status::Ok, with_detail(how, first_line(f.stdout)));
        }
        let status = problems
            .iter()
            .fold(Status::Ok, |acc, (s, _)| acc.worst(*s));
        let reasons: Vec<String> = problems.into_iter().map(|(_, m)| m).collect();
        (status, reasons.join("; "))
    }
}

/// A Nagios plugin's verdict.
fn nagios(
    f: &Finished<'_>,
    metrics: &mut Vec<Metric>,
    extracted: &mut BTreeMap<String, Value>,
) -> (Status, String) {
    // Cut output may end in the middle of an item: read whole lines only.
    let stdout = match (f.stdout_truncated, f.stdout.rfind('\n')) {
        (true, Some(i)) => &f.stdout[..i],
        _ => f.stdout,
    };
    let out = perfdata::parse_output(stdout);
    let (mut perf, thresholds) = perfdata::perf_metrics(&out.perfdata, &OWN_METRICS);
    metrics.append(&mut perf);
    if !thresholds.is_empty() {
        extracted.insert("perfdata".into(), Value::Object(thresholds));
    }
    if !out.long_text.is_empty() {
        extracted.insert("long_output".into(), Value::String(out.long_text.clone()));
    }
    if !out.errors.is_empty() {
        let errors = out.errors.iter().take(10).cloned().map(Value::String);
        extracted.insert("perfdata_errors".into(), Value::Array(errors.collect()));
    }
    // A plugin that starts with a blank line still has something to say.
    let text = (!out.text.is_empty())
        .then_some(out.text.as_str())
        .or_else(|| first_line(&out.long_text));
    match f.exit {
        Exit::Code(c @ 0..=3) => {
            let message = match (text, first_line(f.stderr)) {
                (Some(t), _) => t.to_owned(),
                (None, Some(e)) => format!("no output on stdout (exit status {c}); stderr: {e}"),
                (None, None) => format!("no output (exit status {c})"),
            };
            (Status::from_code(i64::from(c)), message)
        }
        Exit::Code(c) => {
            let hint = match c {
                126 => " (the shell could not execute the program)",
                127 => " (the shell did not find the program)",
                _ => "",
            };
            (
                Status::Unknown,
                with_detail(
                    format!("exit status {c} is not a plugin status (0-3){hint}"),
                    text.or_else(|| first_line(f.stderr)),
                ),
            )
        }
        Exit::Signal(s) => (
            Status::Unknown,
            with_detail(
                format!("killed by {}", signal_name(s)),
                text.or_else(|| first_line(f.stderr)),
            ),
        ),
    }
}

/// A SlapOS promise's verdict: the exit status, and the JSON status object on standard output.
fn promise(f: &Finished<'_>, extracted: &mut BTreeMap<String, Value>) -> (Status, String) {
    let json = match serde_json::from_str::<Value>(f.stdout.trim()) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let mut json_message = None;
    let mut json_status = None;
    if let Some(map) = json {
        for (k, v) in map {
            match (k.as_str(), v) {
                ("message", Value::String(s)) => json_message = Some(s),
                ("message", other) if !other.is_null() => json_message = Some(other.to_string()),
                ("status", Value::String(s)) => json_status = promise_status(&s),
                ("failed", Value::Bool(true)) => json_status = Some(Status::Critical),
                (_, v @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                    extracted.insert(k, v);
                }
                _ => {}
            }
        }
    }
    let json_message = json_message.filter(|m| !m.trim().is_empty());
    match f.exit {
        Exit::Code(0) => {
            let status = json_status.unwrap_or(Status::Ok);
            let message = json_message
                .or_else(|| first_line(f.stdout).map(str::to_owned))
                .unwrap_or_else(|| "exited with status 0".into());
            (status, message)
        }
        Exit::Code(c) => {
            let message = json_message.unwrap_or_else(|| {
                with_detail(
                    format!("exited with status {c}"),
                    first_line(f.stderr).or_else(|| first_line(f.stdout)),
                )
            });
            (Status::Critical, message)
        }
        Exit::Signal(s) => (
            Status::Critical,
            with_detail(
                format!("killed by {}", signal_name(s)),
                json_message.as_deref(),
            ),
        ),
    }
}

/// A promise's `status` field: `OK`, `WARNING`, `ERROR`/`FAILED`/`CRITICAL`, `UNKNOWN`.
fn promise_status(s: &str) -> Option<Status> {
    match s.trim().to_ascii_lowercase().as_str() {
        "ok" | "success" => Some(Status::Ok),
        "warning" | "warn" => Some(Status::Warning),
        "error" | "failed" | "fail" | "critical" | "crit" => Some(Status::Critical),
        "unknown" => Some(Status::Unknown),
        _ => None,
    }
}

/// `head: detail`, or `head` alone.
fn with_detail(head: String, detail: Option<&str>) -> String {
    match detail {
        Some(d) => format!("{head}: {d}"),
        None => head,
    }
}

/// The first line of `s` that is not blank, trimmed.
pub fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
}

/// `s` on one line (control characters become spaces), cut at `max` characters with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.trim().to_owned()
}

/// `signal 9 (SIGKILL)`.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return format!("signal {signal}"),
    };
    format!("signal {signal} ({name})")
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas for the API's OpenAPI document (feature `openapi`): the types below serialise by
// hand, so their schemas are written by hand too.
// ---------------------------------------------------------------------------------------------

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Run {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::OneOfBuilder::new()
            .item(utoipa::openapi::schema::ArrayBuilder::new().items(<String as utoipa::PartialSchema>::schema()))
            .item(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String))
            .description(Some("`[program, arg, …]`, run without a shell; or one string of shell text (with `shell: true`)."))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Run {}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> CommandSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"))
    }

    fn judge(yaml: &str) -> CommandJudge {
        spec(yaml)
            .compile()
            .unwrap_or_else(|e| panic!("{yaml}\n{e:?}"))
    }

    fn finished<'a>(exit: Exit, stdout: &'a str, stderr: &'a str) -> Finished<'a> {
        Finished {
            exit,
            stdout,
            stderr,
            stdout_truncated: false,
            stderr_truncated: false,
            elapsed: Duration::from_millis(12),
        }
    }

    fn metric(j: &Judgement, name: &str) -> Option<(f64, String)> {
        j.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| (m.value, m.unit.clone()))
    }

    #[test]
    fn regex_errors_point_into_the_pattern_as_written() {
        for word in [false, true] {
            let errors = spec(&format!(
                "{{ protocol: exit, run: [x], match: [{{ pattern: 'a(', match_word: {word} }}] }}"
            ))
            .validate();
            assert_eq!(
                errors[0].message, "invalid regular expression: unclosed group (at character 2)",
                "match_word: {word}"
            );
        }
    }

    #[test]
    fn nagios_statuses_and_messages() {
        let j = judge("{ run: [check_x] }");
        use Status::*;
        // (exit, stdout, stderr, status, message)
        let rows: &[(Exit, &str, &str, Status, &str)] = &[
            (Exit::Code(0), "OK - fine | a=1", "", Ok, "OK - fine"),
            (
                Exit::Code(1),
                "LOAD WARNING - 1.01\n",
                "",
                Warning,
                "LOAD WARNING - 1.01",
            ),
            (
                Exit::Code(2),
                "DISK CRITICAL\nlong\n",
                "",
                Critical,
                "DISK CRITICAL",
            ),
            (
                Exit::Code(3),
                "Usage:\ncheck_load [-r]",
                "bad option",
                Unknown,
                "Usage:",
            ),
            (
                Exit::Code(2),
                "",
                "oops\n",
                Critical,
                "no output on stdout (exit status 2); stderr: oops",
            ),
            (Exit::Code(0), "", "", Ok, "no output (exit status 0)"),
            (Exit::Code(0), "| a=1", "", Ok, "no output (exit status 0)"),
            (
                Exit::Code(127),
                "",
                "sh: 1: check_nope: not found",
                Unknown,
                "exit status 127 is not a plugin status (0-3) (the shell did not find the program): sh: 1: check_nope: not found",
            ),
            (
                Exit::Code(4),
                "WEIRD",
                "",
                Unknown,
                "exit status 4 is not a plugin status (0-3): WEIRD",
            ),
            (
                Exit::Signal(11),
                "",
                "",
                Unknown,
                "killed by signal 11 (SIGSEGV)",
            ),
            (Exit::Code(0), "tab\there", "", Ok, "tab here"),
            (
                Exit::Code(0),
                "\nOK after a blank line\n",
                "",
                Ok,
                "OK after a blank line",
            ),
        ];
        for (exit, stdout, stderr, status, message) in rows {
            let v = j.judge(&finished(*exit, stdout, stderr));
            assert_eq!(
                (v.status, v.message.as_str()),
                (*status, *message),
                "{stdout:?}"
            );
        }
    }

    #[test]
    fn nagios_perfdata_become_metrics_and_extracted() {
        let j = judge("{ run: [check_load] }");
        let v = j.judge(&finished(
            Exit::Code(1),
            "LOAD WARNING - total load average: 1.01, 0.77, 0.34|load1=1.010;1.000;2.000;0; load5=0.770;1.000;2.000;0; load15=0.340;1.000;2.000;0; junk\nline two\n",
            "",
        ));
        assert_eq!(v.status, Status::Warning);
        assert_eq!(metric(&v, "load1"), Some((1.01, String::new())));
        assert_eq!(metric(&v, "load15"), Some((0.34, String::new())));
        assert_eq!(metric(&v, "exit_code"), Some((1.0, String::new())));
        assert_eq!(metric(&v, "response_time"), Some((0.012, "s".into())));
        assert_eq!(
            v.extracted["perfdata"]["load5"],
            serde_json::json!({"warn": "1", "crit": "2", "min": 0.0})
        );
        assert_eq!(v.extracted["long_output"], "line two");
        assert_eq!(
            v.extracted["perfdata_errors"],
            serde_json::json!(["no '=' in \"junk\""])
        );
        let disk = j.judge(&finished(
            Exit::Code(0),
            "DISK OK| /=14780727296B;243497277849;257024904396;0;270552530944 time=1s",
            "",
        ));
        assert_eq!(
            metric(&disk, "perf_1"),
            Some((14_780_727_296.0, "B".into()))
        );
        assert_eq!(disk.extracted["perfdata"]["perf_1"]["label"], "/");
        assert_eq!(metric(&disk, "time"), Some((1.0, "s".into())));
        let clash = j.judge(&finished(Exit::Code(0), "OK | exit_code=5", ""));
        assert_eq!(metric(&clash, "exit_code"), Some((0.0, String::new())));
        assert_eq!(metric(&clash, "exit_code_2"), Some((5.0, String::new())));
    }

    #[test]
    fn promise_statuses_and_messages() {
        let j = judge("{ protocol: promise, run: [p] }");
        use Status::*;
        let rows: &[(Exit, &str, &str, Status, &str)] = &[
            (
                Exit::Code(0),
                r#"{"message": "buildout is OK"}"#,
                "",
                Ok,
                "buildout is OK",
            ),
            (
                Exit::Code(1),
                r#"{"message": "port 8080 is closed"}"#,
                "",
                Critical,
                "port 8080 is closed",
            ),
            (
                Exit::Code(0),
                r#"{"status": "ERROR", "message": "bad"}"#,
                "",
                Critical,
                "bad",
            ),
            (
                Exit::Code(0),
                r#"{"status": "WARNING", "message": "meh"}"#,
                "",
                Warning,
                "meh",
            ),
            (
                Exit::Code(0),
                r#"{"failed": true, "message": "x"}"#,
                "",
                Critical,
                "x",
            ),
            (Exit::Code(0), "{}", "", Ok, "{}"),
            (Exit::Code(0), "plain text\n", "", Ok, "plain text"),
            (Exit::Code(0), "", "", Ok, "exited with status 0"),
            (
                Exit::Code(2),
                "",
                "Traceback\n",
                Critical,
                "exited with status 2: Traceback",
            ),
            (Exit::Code(2), "", "", Critical, "exited with status 2"),
            (Exit::Code(0), r#"{"message": 42}"#, "", Ok, "42"),
            (
                Exit::Signal(9),
                r#"{"message": "half"}"#,
                "",
                Critical,
                "killed by signal 9 (SIGKILL): half",
            ),
        ];
        for (exit, stdout, stderr, status, message) in rows {
            let v = j.judge(&finished(*exit, stdout, stderr));
            assert_eq!(
                (v.status, v.message.as_str()),
                (*status, *message),
                "{stdout:?}"
            );
        }
        let v = j.judge(&finished(
            Exit::Code(0),
            r#"{"message": "ok", "title": "t", "count": 3, "nested": {"a": 1}}"#,
            "",
        ));
        assert_eq!(v.extracted.get("title"), Some(&serde_json::json!("t")));
        assert_eq!(v.extracted.get("count"), Some(&serde_json::json!(3)));
        assert!(!v.extracted.contains_key("nested"));
        assert!(!v.extracted.contains_key("message"));
    }

    #[test]
    fn exit_protocol_statuses_and_match_rules() {
        use Status::*;
        let plain = judge("{ protocol: exit, run: [x] }");
        let ignoring = judge("{ protocol: exit, run: [x], ignore_exit_status: true }");
        let rules = judge(
            r#"{ protocol: exit, run: [x], match: [
                { pattern: "ERROR", type: substring },
                { stream: stderr, pattern: 'warn\w*', flags: i, status: warning },
                { pattern: ready, invert: true, match_word: true, status: unknown } ] }"#,
        );
        // (judge, exit, stdout, stderr, status, message)
        let rows: &[(&CommandJudge, Exit, &str, &str, Status, &str)] = &[
            (
                &plain,
                Exit::Code(0),
                "",
                "",
                Ok,
                "exited with status 0 in 12ms",
            ),
            (
                &plain,
                Exit::Code(0),
                "hello\n",
                "",
                Ok,
                "exited with status 0 in 12ms: hello",
            ),
            (
                &plain,
                Exit::Code(3),
                "out",
                "err",
                Critical,
                "exited with status 3: err",
            ),
            (
                &plain,
                Exit::Code(3),
                "out",
                "",
                Critical,
                "exited with status 3: out",
            ),
            (
                &plain,
                Exit::Signal(15),
                "",
                "",
                Critical,
                "killed by signal 15 (SIGTERM)",
            ),
            (
                &ignoring,
                Exit::Code(3),
                "",
                "",
                Ok,
                "exited with status 3 in 12ms",
            ),
            (
                &ignoring,
                Exit::Signal(13),
                "",
                "",
                Ok,
                "killed by signal 13 (SIGPIPE) (exit status ignored)",
            ),
            (
                &rules,
                Exit::Code(0),
                "all ready\n",
                "",
                Ok,
                "exited with status 0 in 12ms: all ready",
            ),
            (
                &rules,
                Exit::Code(0),
                "line one\nready\nERROR: disk full\n",
                "",
                Critical,
                r#"stdout matches "ERROR" on line 3: "ERROR: disk full""#,
            ),
            (
                &rules,
                Exit::Code(0),
                "ready",
                "Warnings: 3",
                Warning,
                r#"stderr matches /warn\w*/i on line 1: "Warnings: 3""#,
            ),
            (
                &rules,
                Exit::Code(0),
                "already",
                "",
                Unknown,
                "stdout does not match /ready/",
            ),
            (
                &rules,
                Exit::Code(1),
                "not ERROR ready",
                "",
                Critical,
                r#"exited with status 1: not ERROR ready; stdout matches "ERROR" on line 1: "not ERROR ready""#,
            ),
        ];
        for (j, exit, stdout, stderr, status, message) in rows {
            let v = j.judge(&finished(*exit, stdout, stderr));
            assert_eq!(
                (v.status, v.message.as_str()),
                (*status, *message),
                "{stdout:?} {stderr:?}"
            );
        }
    }

    #[test]
    fn truncation_and_long_messages() {
        let j = judge("{ run: [x] }");
        let long = "x".repeat(5000);
        let mut f = finished(Exit::Code(0), &long, "");
        f.stdout_truncated = true;
        let v = j.judge(&f);
        assert_eq!(v.message.chars().count(), MAX_MESSAGE + 1);
        assert!(v.message.ends_with('…'));
        assert_eq!(v.extracted["stdout_truncated"], true);
        assert!(!v.extracted.contains_key("stderr_truncated"));
        // The last, cut line of performance data is not read.
        let mut f = finished(Exit::Code(0), "OK | a=1\nlong | b=2\nc=12", "");
        f.stdout_truncated = true;
        let v = j.judge(&f);
        assert_eq!(metric(&v, "b"), Some((2.0, String::new())));
        assert_eq!(metric(&v, "c"), None);
    }

    #[test]
    fn validation() {
        // (yaml, field, words)
        let rows: &[(&str, &str, &str)] = &[
            ("{ run: [] }", "command.run", "must name a program"),
            ("{ run: [''] }", "command.run[0]", "must not be empty"),
            ("{ run: [bin/check] }", "command.run[0]", "relative path"),
            ("{ run: 'echo hi' }", "command.run", "add shell: true"),
            (
                "{ run: [echo, hi], shell: true }",
                "command.run",
                "one string of shell text",
            ),
            (
                "{ run: '  ', shell: true }",
                "command.run",
                "must not be empty",
            ),
            (
                "{ run: [x], env: { 'A=B': c } }",
                "command.env.A=B",
                "must not contain '='",
            ),
            (
                "{ run: [x], inherit_env: [''] }",
                "command.inherit_env[0]",
                "must not be empty",
            ),
            ("{ run: [x], cwd: tmp }", "command.cwd", "absolute path"),
            (
                "{ run: [x], max_output: 0 }",
                "command.max_output",
                "between 1 byte and 16MiB",
            ),
            (
                "{ run: [x], max_output: 1GiB }",
                "command.max_output",
                "got 1073741824 bytes",
            ),
            (
                "{ run: [x], ignore_exit_status: true }",
                "command.ignore_exit_status",
                "protocol: nagios",
            ),
            (
                "{ protocol: promise, run: [x], match: [{ pattern: a }] }",
                "command.match",
                "only to protocol: exit",
            ),
            (
                "{ protocol: exit, run: [x], match: [{ pattern: '' }] }",
                "command.match[0].pattern",
                "must not be empty",
            ),
            (
                "{ protocol: exit, run: [x], match: [{ pattern: '(' }] }",
                "command.match[0].pattern",
                "invalid regular expression",
            ),
            (
                "{ protocol: exit, run: [x], match: [{ pattern: a, flags: g }] }",
                "command.match[0].flags",
                "unknown flag 'g'",
            ),
            (
                "{ protocol: exit, run: [x], match: [{ pattern: a, status: ok }] }",
                "command.match[0].status",
                "warning, critical or unknown",
            ),
        ];
        for (yaml, field, words) in rows {
            let e = spec(yaml).validate();
            assert_eq!(e.len(), 1, "{yaml}: {e:?}");
            assert_eq!(e[0].field, *field, "{yaml}");
            assert!(e[0].message.contains(words), "{yaml}: {}", e[0].message);
        }
        for good in [
            "{ run: [/usr/lib/nagios/plugins/check_load, -w, '1,1,1'] }",
            "{ run: [./check, 5, 1.50, true], cwd: /opt/checks }",
            "{ run: 'a | b', shell: true, protocol: promise }",
            "{ protocol: exit, run: [x], ignore_exit_status: true, match: [{ pattern: '(?i)x', stream: stderr }] }",
        ] {
            assert!(spec(good).validate().is_empty(), "{good}");
        }
    }

    #[test]
    fn argv_and_environment() {
        let s = spec("{ run: [./check, 5, 1.50], cwd: /opt/checks/ }");
        assert_eq!(
            s.argv(),
            Some(("/opt/checks/check".into(), vec!["5".into(), "1.50".into()]))
        );
        let s = spec("{ run: 'echo $HOME', shell: true }");
        assert_eq!(
            s.argv(),
            Some(("/bin/sh".into(), vec!["-c".into(), "echo $HOME".into()]))
        );
        assert_eq!(spec("{ run: 'x' }").argv(), None);
        let s = spec(
            "{ run: [x], env: { LANG: fr_FR.UTF-8, TOKEN: s3cret }, inherit_env: [HOME, NOPE] }",
        );
        let lookup = |n: &str| (n == "HOME").then(|| "/root".to_owned());
        let env = s.environment(&lookup);
        let want: Vec<(String, String)> = [
            ("HOME", "/root"),
            ("LANG", "fr_FR.UTF-8"),
            ("PATH", DEFAULT_PATH),
            ("TOKEN", "s3cret"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(env, want);
        assert!(!format!("{s:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&s).unwrap().contains("s3cret"));
        assert_eq!(s.secrets(), ["fr_FR.UTF-8", "s3cret"]);
        assert_eq!(s.target_host(), None);
    }

    #[test]
    fn run_must_be_a_list_or_a_string() {
        let e = serde_saphyr::from_str::<CommandSpec>("{ run: 5 }").unwrap_err();
        assert!(e.to_string().contains("a list of arguments"), "{e}");
    }
}
