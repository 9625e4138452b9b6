//! The Nagios plugin output format: the text before `|` on the first line is the message, the
//! following lines up to the next `|` are the long output, and everything after a `|` is
//! performance data, `'label'=value[unit];[warn];[crit];[min];[max]` items separated by spaces
//! (the Monitoring Plugins Development Guidelines, "Plugin Output" and "Performance data").
//!
//! Pure and forgiving: a malformed item is skipped and described in [`PluginOutput::errors`], the
//! rest is kept. [`perf_metrics`] turns items into [`Metric`]s (names `[a-z0-9_]+`, units kept)
//! and the thresholds, minimum and maximum into a JSON object for `extracted`.

use std::fmt;

use serde_json::{Map, Value};

use crate::Metric;

/// Longest metric name made from a label.
const MAX_NAME: usize = 100;

/// A plugin's standard output, split the Nagios way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PluginOutput {
    /// The first line up to its `|`, trimmed: the short message.
    pub text: String,
    /// Lines 2… up to the line that holds the next `|` (that line's text part included),
    /// joined with `\n`, surrounding blank lines removed.
    pub long_text: String,
    /// The performance data items, in order.
    pub perfdata: Vec<PerfValue>,
    /// One line per item that could not be read (it is skipped).
    pub errors: Vec<String>,
}

/// One performance data item.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfValue {
    /// The label as written, quotes removed (`''` inside quotes is one `'`).
    pub label: String,
    /// The value; `None` when the plugin wrote `U` (it could not determine it).
    pub value: Option<f64>,
    /// Unit of measure as written (`s`, `ms`, `%`, `B`, `KB`, `c`, …), empty if none.
    pub unit: String,
    /// Warning range.
    pub warn: Option<Range>,
    /// Critical range.
    pub crit: Option<Range>,
    /// Lowest possible value.
    pub min: Option<f64>,
    /// Highest possible value.
    pub max: Option<f64>,
}

/// A Nagios threshold range, `[@][start:][end]`: `10` (alert outside 0..10), `10:` (below 10),
/// `~:10` (above 10), `10:20` (outside 10..20), `@10:20` (inside 10..20).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// Lower bound (`-inf` for `~`).
    pub start: f64,
    /// Upper bound (`+inf` when left out after `:`).
    pub end: f64,
    /// `@`: alert when the value is inside the range rather than outside.
    pub inside: bool,
}

impl Range {
    /// Parses a range as plugins write it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (inside, body) = match t.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let bad = |why: &str| format!("invalid range {t:?}: {why}");
        let number = |s: &str| -> Result<f64, String> {
            parse_number(s)
                .filter(|(_, rest)| rest.is_empty())
                .map(|(n, _)| n)
                .ok_or_else(|| bad(&format!("{s:?} is not a number")))
        };
        let (start, end) = match body.split_once(':') {
            Some((a, b)) => {
                let start = match a {
                    "~" => f64::NEG_INFINITY,
                    "" => 0.0,
                    _ => number(a)?,
                };
                let end = if b.is_empty() {
                    f64::INFINITY
                } else {
                    number(b)?
                };
                (start, end)
            }
            None if body.is_empty() => return Err(bad("empty")),
            None => (0.0, number(body)?),
        };
        if start > end {
            return Err(bad("start is greater than end"));
        }
        Ok(Self { start, end, inside })
    }

    /// Whether `value` is in the alert zone of this range.
    pub fn alerts(&self, value: f64) -> bool {
        let within = self.start <= value && value <= self.end;
        if self.inside { within } else { !within }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inside {
            f.write_str("@")?;
        }
        match (self.start, self.end) {
            (s, e) if s == 0.0 && e.is_finite() && !self.inside => write!(f, "{e}"),
            (s, e) => {
                if s == f64::NEG_INFINITY {
                    f.write_str("~:")?;
                } else {
                    write!(f, "{s}:")?;
                }
                if e.is_finite() {
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// Splits a plugin's standard output into message, long output and performance data.
pub fn parse_output(stdout: &str) -> PluginOutput {
    let mut lines = stdout
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let mut perf_parts: Vec<&str> = Vec::new();
    let text = match first.split_once('|') {
        Some((t, p)) => {
            perf_parts.push(p);
            t
        }
        None => first,
    };
    let mut long: Vec<&str> = Vec::new();
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            perf_parts.push(line);
        } else if let Some((t, p)) = line.split_once('|') {
            long.push(t);
            perf_parts.push(p);
            in_perf = true;
        } else {
            long.push(line);
        }
    }
    let long_text = long.join("\n").trim_matches(['\n', ' ', '\t']).to_owned();
    let mut errors = Vec::new();
    let mut perfdata = Vec::new();
    for part in perf_parts {
        let (mut items, mut errs) = parse_perfdata(part);
        perfdata.append(&mut items);
        errors.append(&mut errs);
    }
    PluginOutput {
        text: text.trim().to_owned(),
        long_text,
        perfdata,
        errors,
    }
}

/// Reads performance data items separated by whitespace; returns the items read and one
/// message per item skipped.
pub fn parse_perfdata(text: &str) -> (Vec<PerfValue>, Vec<String>) {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        match parse_item(rest) {
            Ok((item, after)) => {
                items.push(item);
                rest = after;
            }
            Err((message, after)) => {
                errors.push(message);
                rest = after;
            }
        }
    }
    (items, errors)
}

/// One item at the start of `s` (which starts with a non-space); the item or an error, and what
/// follows it.
fn parse_item(s: &str) -> Result<(PerfValue, &str), (String, &str)> {
    let skip_token = |from: &str| -> usize { from.find(char::is_whitespace).unwrap_or(from.len()) };
    let (label, after_label) = if let Some(quoted) = s.strip_prefix('\'') {
        let mut label = String::new();
        let mut chars = quoted.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if matches!(chars.peek(), Some((_, '\''))) {
                    label.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                label.push(c);
            }
        }
        let Some(end) = end else {
            return Err((format!("unterminated quoted label in {}", show(s)), ""));
        };
        let after = &quoted[end..];
        match after.strip_prefix('=') {
            Some(a) => (label, a),
            None => {
                let n = skip_token(after);
                return Err((
                    format!("no '=' after label {}", show(&format!("'{label}'"))),
                    &after[n..],
                ));
            }
        }
    } else {
        let n = skip_token(s);
        let token = &s[..n];
        match token.split_once('=') {
            Some((l, _)) => (l.to_owned(), &s[l.len() + 1..]),
            None => return Err((format!("no '=' in {}", show(token)), &s[n..])),
        }
    };
    let n = skip_token(after_label);
    let (spec, after) = (&after_label[..n], &after_label[n..]);
    if label.is_empty() {
        return Err((
            format!("empty label in {}", show(&format!("={spec}"))),
            after,
        ));
    }
    let item = parse_value_spec(&label, spec).map_err(|m| (m, after))?;
    Ok((item, after))
}

/// `value[unit];warn;crit;min;max` of the item `label`.
fn parse_value_spec(label: &str, spec: &str) -> Result<PerfValue, String> {
    let mut fields = spec.split(';');
    let head = fields.next().unwrap_or("");
    let bad = |why: String| format!("{}: {why}", show(label));
    let (value, unit) = if head == "U" {
        (None, String::new())
    } else if head.is_empty() {
        return Err(bad("no value".into()));
    } else {
        let (n, unit) = parse_number(head)
            .ok_or_else(|| bad(format!("value {} is not a number", show(head))))?;
        if !valid_unit(unit) {
            return Err(bad(format!("value {} is not a number", show(head))));
        }
        (Some(n), unit.to_owned())
    };
    let rest: Vec<&str> = fields.collect();
    if rest.len() > 4 {
        return Err(bad(format!(
            "{} fields after the value (at most 4: warn;crit;min;max)",
            rest.len()
        )));
    }
    let field = |i: usize| rest.get(i).map(|s| s.trim()).filter(|s| !s.is_empty());
    let strip_unit = |s: &str| -> String {
        if !unit.is_empty()
            && let Some(t) = s.strip_suffix(unit.as_str())
        {
            return t.to_owned();
        }
        s.to_owned()
    };
    let range = |i: usize, name: &str| -> Result<Option<Range>, String> {
        match field(i) {
            None => Ok(None),
            Some(t) => Range::parse(t)
                .or_else(|e| Range::parse(&strip_unit(t)).map_err(|_| e))
                .map(Some)
                .map_err(|e| bad(format!("{name}: {e}"))),
        }
    };
    let bound = |i: usize, name: &str| -> Result<Option<f64>, String> {
        match field(i) {
            None => Ok(None),
            Some(t) => {
                let t = strip_unit(t);
                parse_number(&t)
                    .filter(|(_, r)| r.is_empty())
                    .map(|(n, _)| Some(n))
                    .ok_or_else(|| bad(format!("{name} {} is not a number", show(&t))))
            }
        }
    };
    Ok(PerfValue {
        label: label.to_owned(),
        value,
        warn: range(0, "warn")?,
        crit: range(1, "crit")?,
        min: bound(2, "min")?,
        max: bound(3, "max")?,
        unit,
    })
}

/// A decimal number at the start of `s` (`-1.5`, `.5`, `3e-2`) and what follows it.
fn parse_number(s: &str) -> Option<(f64, &str)> {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_start = j;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    let n: f64 = s[..i].parse().ok()?;
    n.is_finite().then_some((n, &s[i..]))
}

/// A unit is anything but more number: no digits, signs, points or commas (`12,5%` is not
/// `12` with unit `,5%`).
fn valid_unit(unit: &str) -> bool {
    !unit
        .chars()
        .any(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | '+' | '-' | '=' | '\''))
}

/// A label as a metric name: lowercase ASCII letters and digits, every other run of characters
/// one `_`, no `_` at either end, at most 100 bytes. May be empty (`/`).
pub fn metric_name(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let mut name = out.trim_matches('_').to_owned();
    if name.len() > MAX_NAME {
        name.truncate(MAX_NAME);
        name = name.trim_end_matches('_').to_owned();
    }
    name
}

/// The metrics of `items`, and what does not fit in a metric as a JSON object keyed by metric
/// name (empty when there is nothing to say).
///
/// A label that leaves no name (`/`) becomes `perf_N` (N its 1-based position). A name already
/// taken, by an earlier item or by one of `reserved`, gets `_2`, `_3`, … The object holds, per
/// item and only when there is something: `label` (when the name differs from it), `value: null`
/// (for `U`), `warn` and `crit` (ranges, as text), `min` and `max`.
pub fn perf_metrics(items: &[PerfValue], reserved: &[&str]) -> (Vec<Metric>, Map<String, Value>) {
    let mut taken: Vec<String> = reserved.iter().map(|s| (*s).to_owned()).collect();
    let mut metrics = Vec::with_capacity(items.len());
    let mut extra = Map::new();
    for (i, item) in items.iter().enumerate() {
        let mut base = metric_name(&item.label);
        if base.is_empty() {
            base = format!("perf_{}", i + 1);
        }
        let mut name = base.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        taken.push(name.clone());
        let mut info = Map::new();
        if name != item.label {
            info.insert("label".into(), Value::String(item.label.clone()));
        }
        match item.value {
            Some(v) => metrics.push(Metric {
                name: name.clone(),
                value: v,
                unit: item.unit.clone(),
            }),
            None => {
                info.insert("value".into(), Value::Null);
            }
        }
        if let Some(w) = item.warn {
            info.insert("warn".into(), Value::String(w.to_string()));
        }
        if let Some(c) = item.crit {
            info.insert("crit".into(), Value::String(c.to_string()));
        }
        for (key, v) in [("min", item.min), ("max", item.max)] {
            if let Some(n) = v.and_then(serde_json::Number::from_f64) {
                info.insert(key.into(), Value::Number(n));
            }
        }
        if !info.is_empty() {
            extra.insert(name, Value::Object(info));
        }
    }
    (metrics, extra)
}

/// Text quoted for a message, cut at 60 characters.
fn show(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Range {
        Range::parse(s).unwrap()
    }

    #[test]
    fn ranges_parse_and_judge_as_the_guidelines_say() {
        // (text, start, end, inside, alerting values, quiet values)
        let inf = f64::INFINITY;
        type Case<'a> = (&'a str, f64, f64, bool, &'a [f64], &'a [f64]);
        let cases: &[Case<'_>] = &[
            ("10", 0.0, 10.0, false, &[-1.0, 11.0], &[0.0, 5.0, 10.0]),
            ("10:", 10.0, inf, false, &[9.9, -3.0], &[10.0, 1e9]),
            (
                "~:10",
                f64::NEG_INFINITY,
                10.0,
                false,
                &[10.5],
                &[-1e9, 10.0],
            ),
            ("10:20", 10.0, 20.0, false, &[9.0, 21.0], &[10.0, 20.0]),
            (
                "@10:20",
                10.0,
                20.0,
                true,
                &[10.0, 15.0, 20.0],
                &[9.0, 21.0],
            ),
            ("@5", 0.0, 5.0, true, &[0.0, 5.0], &[-1.0, 6.0]),
            ("-5:-1", -5.0, -1.0, false, &[0.0, -6.0], &[-3.0]),
            ("1.5:2.5e1", 1.5, 25.0, false, &[1.0], &[25.0]),
        ];
        for (text, start, end, inside, alert, quiet) in cases {
            let r = range(text);
            assert_eq!(
                (r.start, r.end, r.inside),
                (*start, *end, *inside),
                "{text}"
            );
            for v in *alert {
                assert!(r.alerts(*v), "{text} should alert on {v}");
            }
            for v in *quiet {
                assert!(!r.alerts(*v), "{text} should not alert on {v}");
            }
            assert_eq!(
                Range::parse(&r.to_string()).unwrap(),
                r,
                "{text} round trip"
            );
        }
        for bad in ["", "@", "20:10", "abc", "1:x", "~"] {
            assert!(Range::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(range("10").to_string(), "10");
        assert_eq!(range("~:10").to_string(), "~:10");
        assert_eq!(range("10:").to_string(), "10:");
        assert_eq!(range("@1:2").to_string(), "@1:2");
        assert_eq!(range("1.000").to_string(), "1");
    }

    #[test]
    fn perfdata_items() {
        // (input, label, value, unit, warn, crit, min, max)
        type Row<'a> = (
            &'a str,
            &'a str,
            Option<f64>,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            Option<f64>,
            Option<f64>,
        );
        let rows: &[Row<'_>] = &[
            ("load1=0.5", "load1", Some(0.5), "", None, None, None, None),
            (
                "load1=1.010;1.000;2.000;0;",
                "load1",
                Some(1.01),
                "",
                Some("1"),
                Some("2"),
                Some(0.0),
                None,
            ),
            (
                "time=0.001781s;;;0.000000;10.000000",
                "time",
                Some(0.001781),
                "s",
                None,
                None,
                Some(0.0),
                Some(10.0),
            ),
            (
                "size=2542B;;;0;",
                "size",
                Some(2542.0),
                "B",
                None,
                None,
                Some(0.0),
                None,
            ),
            (
                "/=14780727296B;243497277849;257024904396;0;270552530944",
                "/",
                Some(14_780_727_296.0),
                "B",
                Some("243497277849"),
                Some("257024904396"),
                Some(0.0),
                Some(270_552_530_944.0),
            ),
            (
                "procs=0;1:1;;0;",
                "procs",
                Some(0.0),
                "",
                Some("1:1"),
                None,
                Some(0.0),
                None,
            ),
            (
                "'C:\\ Used Space'=10.5GB;@5:8;~:20",
                "C:\\ Used Space",
                Some(10.5),
                "GB",
                Some("@5:8"),
                Some("~:20"),
                None,
                None,
            ),
            ("'it''s'=3c", "it's", Some(3.0), "c", None, None, None, None),
            (
                "'a=b'=-4.5e2ms",
                "a=b",
                Some(-450.0),
                "ms",
                None,
                None,
                None,
                None,
            ),
            (
                "temp=U;50;60",
                "temp",
                None,
                "",
                Some("50"),
                Some("60"),
                None,
                None,
            ),
            (
                "pct=80%;90%;95%;0%;100%",
                "pct",
                Some(80.0),
                "%",
                Some("90"),
                Some("95"),
                Some(0.0),
                Some(100.0),
            ),
            (
                "rate=.5KB/s",
                "rate",
                Some(0.5),
                "KB/s",
                None,
                None,
                None,
                None,
            ),
        ];
        for (input, label, value, unit, warn, crit, min, max) in rows {
            let (items, errors) = parse_perfdata(input);
            assert!(errors.is_empty(), "{input}: {errors:?}");
            assert_eq!(items.len(), 1, "{input}");
            let it = &items[0];
            assert_eq!(it.label, *label, "{input}");
            assert_eq!(it.value, *value, "{input}");
            assert_eq!(it.unit, *unit, "{input}");
            assert_eq!(it.warn.map(|r| r.to_string()).as_deref(), *warn, "{input}");
            assert_eq!(it.crit.map(|r| r.to_string()).as_deref(), *crit, "{input}");
            assert_eq!((it.min, it.max), (*min, *max), "{input}");
        }
    }

    #[test]
    fn bad_items_are_skipped_and_described() {
        // (input, labels kept, words of the one error)
        let rows: &[(&str, &[&str], &str)] = &[
            ("a=1 junk b=2", &["a", "b"], "no '=' in \"junk\""),
            ("a=1 'open=3", &["a"], "unterminated quoted label"),
            ("'q'x b=1", &["b"], "no '=' after label"),
            ("=5 b=1", &["b"], "empty label"),
            ("a= b=1", &["b"], "\"a\": no value"),
            ("a=x1 b=1", &["b"], "value \"x1\" is not a number"),
            ("a=12,5% b=1", &["b"], "value \"12,5%\" is not a number"),
            ("a=1;2;3;4;5;6 b=1", &["b"], "5 fields after the value"),
            ("a=1;20:10 b=1", &["b"], "warn: invalid range \"20:10\""),
            ("a=1;;;x b=1", &["b"], "min \"x\" is not a number"),
            ("a=1 b=", &["a"], "\"b\": no value"),
        ];
        for (input, labels, words) in rows {
            let (items, errors) = parse_perfdata(input);
            let got: Vec<&str> = items.iter().map(|i| i.label.as_str()).collect();
            assert_eq!(&got, labels, "{input}");
            assert_eq!(errors.len(), 1, "{input}: {errors:?}");
            assert!(errors[0].contains(words), "{input}: {:?}", errors[0]);
        }
    }

    #[test]
    fn output_splits_into_text_long_text_and_perfdata() {
        let out = parse_output(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
             / 15272 MB (77%);\n\
             /boot 68 MB (69%);\n\
             /home 69357 MB (27%);\n\
             /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
             /home=69357MB;253404;253409;0;253414 \n\
             /var/log=818MB;970;975;0;980\n",
        );
        assert_eq!(out.text, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            out.long_text,
            "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);"
        );
        let labels: Vec<&str> = out.perfdata.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, ["/", "/boot", "/home", "/var/log"]);
        assert!(out.errors.is_empty(), "{:?}", out.errors);

        // (stdout, text, long text, perf labels)
        let rows: &[(&str, &str, &str, &[&str])] = &[
            ("", "", "", &[]),
            ("OK", "OK", "", &[]),
            ("OK\r\n", "OK", "", &[]),
            ("OK | a=1 b=2\n", "OK", "", &["a", "b"]),
            ("OK |", "OK", "", &[]),
            ("| a=1", "", "", &["a"]),
            ("OK\nmore\nand more\n", "OK", "more\nand more", &[]),
            (
                "OK | a=1\nlong | b=2\nc=3\n",
                "OK",
                "long",
                &["a", "b", "c"],
            ),
            ("OK\n\nlong\n\n", "OK", "long", &[]),
            (
                "connect to address 127.0.0.1 and port 1: Connection refused\nHTTP CRITICAL - Unable to open TCP socket\n",
                "connect to address 127.0.0.1 and port 1: Connection refused",
                "HTTP CRITICAL - Unable to open TCP socket",
                &[],
            ),
        ];
        for (stdout, text, long, labels) in rows {
            let out = parse_output(stdout);
            assert_eq!(out.text, *text, "{stdout:?}");
            assert_eq!(out.long_text, *long, "{stdout:?}");
            let got: Vec<&str> = out.perfdata.iter().map(|p| p.label.as_str()).collect();
            assert_eq!(&got, labels, "{stdout:?}");
        }
    }

    #[test]
    fn metric_names_are_sanitised() {
        for (label, name) in [
            ("load1", "load1"),
            ("Load 1", "load_1"),
            ("scaled_load1", "scaled_load1"),
            ("/var/log", "var_log"),
            ("/", ""),
            ("C:\\ Used Space", "c_used_space"),
            ("__x__y__", "x_y"),
            ("température", "temp_rature"),
            ("rta", "rta"),
        ] {
            assert_eq!(metric_name(label), name, "{label}");
        }
        assert_eq!(metric_name(&"a".repeat(300)).len(), 100);
    }

    #[test]
    fn metrics_and_their_thresholds() {
        let (items, _) = parse_perfdata(
            "load1=1.010;1.000;2.000;0; load5=0.5 /=10B;;;0;100 /tmp=3B Load1=2 temp=U response_time=9s",
        );
        let (metrics, extra) = perf_metrics(&items, &["response_time", "exit_code"]);
        let names: Vec<(&str, f64, &str)> = metrics
            .iter()
            .map(|m| (m.name.as_str(), m.value, m.unit.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("load1", 1.01, ""),
                ("load5", 0.5, ""),
                ("perf_3", 10.0, "B"),
                ("tmp", 3.0, "B"),
                ("load1_2", 2.0, ""),
                ("response_time_2", 9.0, "s"),
            ]
        );
        let want = serde_json::json!({
            "load1": {"warn": "1", "crit": "2", "min": 0.0},
            "perf_3": {"label": "/", "min": 0.0, "max": 100.0},
            "tmp": {"label": "/tmp"},
            "load1_2": {"label": "Load1"},
            "temp": {"value": null},
            "response_time_2": {"label": "response_time"},
        });
        assert_eq!(Value::Object(extra), want);
        assert!(metrics.iter().all(|m| {
            m.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }));
    }

    #[test]
    fn numbers() {
        for (s, n, rest) in [
            ("1", 1.0, ""),
            ("-1.5s", -1.5, "s"),
            (".5", 0.5, ""),
            ("5.", 5.0, ""),
            ("3e2x", 300.0, "x"),
            ("3e", 3.0, "e"),
            ("+2KB", 2.0, "KB"),
        ] {
            assert_eq!(parse_number(s), Some((n, rest)), "{s}");
        }
        for s in ["", "-", ".", "e5", "inf", "NaN", "1e999"] {
            assert_eq!(parse_number(s), None, "{s}");
        }
    }
}
