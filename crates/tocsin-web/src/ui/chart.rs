//! The check page's response-time chart, drawn by the server as inline SVG: the total time
//! of each of the latest results as a line, over stacked areas of its phases (DNS, connect,
//! TLS, first byte), with failed results marked. Colours come from the page's CSS classes
//! (`ph-dns`, `ph-connect`, `ph-tls`, `ph-first`, `ph-total`, `pt-bad`); no script, no style
//! attribute (the page's CSP allows neither).

use std::fmt::Write as _;

use tocsin_core::CheckResult;

use super::fmt;
use crate::svg::esc;

/// The phases drawn as areas, bottom up: (name, CSS class, microseconds of a result).
type Phase = (&'static str, &'static str, fn(&CheckResult) -> Option<u64>);

const PHASES: [Phase; 4] = [
    ("DNS", "ph-dns", |r| r.timings.dns_us),
    ("connect", "ph-connect", |r| r.timings.connect_us),
    ("TLS", "ph-tls", |r| r.timings.tls_us),
    ("first byte", "ph-first", |r| r.timings.first_byte_us),
];

/// The names and classes of the phases that appear in `results`, for the chart's legend.
pub(crate) fn legend(results: &[CheckResult]) -> Vec<(&'static str, &'static str)> {
    PHASES
        .iter()
        .filter(|(_, _, f)| results.iter().any(|r| f(r).is_some()))
        .map(|(n, c, _)| (*n, *c))
        .collect()
}

/// A round upper bound for the axis: 1, 2 or 5 times a power of ten, at least `v`.
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|m| *m >= v)
        .unwrap_or(10.0 * p)
}

/// The chart of `results` (oldest first), `w` × `h` pixels; empty without results.
pub(crate) fn response_times(results: &[CheckResult], w: u32, h: u32) -> String {
    if results.is_empty() {
        return String::new();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let totals: Vec<f64> = results.iter().map(|r| ms(r.timings.total_us)).collect();
    let top = nice_max(totals.iter().copied().fold(0.0, f64::max));
    let (left, right, up, down) = (56.0, 8.0, 8.0, 20.0);
    let (wf, hf) = (f64::from(w), f64::from(h));
    let (pw, ph) = (wf - left - right, hf - up - down);
    let n = results.len();
    let x = |i: usize| {
        if n == 1 {
            left + pw / 2.0
        } else {
            left + pw * i as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| up + ph - ph * (v / top).clamp(0.0, 1.0);

    let mut sorted = totals.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let slowest = sorted[sorted.len() - 1];
    let bad = results.iter().filter(|r| r.status.is_bad()).count();
    let label = format!(
        "Response time of the last {n} results: latest {}, median {}, slowest {}; {bad} failed",
        fmt::latency_ms(totals[n - 1]),
        fmt::latency_ms(median),
        fmt::latency_ms(slowest),
    );
    let mut out = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" \
         width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-label=\"{}\">",
        esc(&label)
    );
    // Grid and axis labels: 0, half, top.
    for v in [0.0, top / 2.0, top] {
        let yy = y(v);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            wf - right,
            left - 6.0,
            yy + 4.0,
            esc(&fmt::latency_ms(v))
        );
    }
    // Stacked phases.
    let mut below = vec![0.0_f64; n];
    for (_, class, f) in PHASES {
        if !results.iter().any(|r| f(r).is_some()) {
            continue;
        }
        let above: Vec<f64> = results
            .iter()
            .zip(&below)
            .map(|(r, b)| b + f(r).map_or(0.0, ms))
            .collect();
        let mut d = String::new();
        for (i, v) in above.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1}",
                if i == 0 { 'M' } else { 'L' },
                x(i),
                y(*v)
            );
        }
        for (i, v) in below.iter().enumerate().rev() {
            let _ = write!(d, "L{:.1},{:.1}", x(i), y(*v));
        }
        let _ = write!(out, "<path class=\"{class}\" d=\"{d}Z\"/>");
        below = above;
    }
    // Total, and a mark on each failed result.
    let mut d = String::new();
    for (i, v) in totals.iter().enumerate() {
        let _ = write!(
            d,
            "{}{:.1},{:.1}",
            if i == 0 { 'M' } else { 'L' },
            x(i),
            y(*v)
        );
    }
    let _ = write!(out, "<path class=\"ph-total\" d=\"{d}\" fill=\"none\"/>");
    for (i, r) in results.iter().enumerate() {
        let class = if r.status.is_bad() { "pt-bad" } else { "pt" };
        let _ = write!(
            out,
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"{}\"><title>{}</title></circle>",
            x(i),
            y(totals[i]),
            if r.status.is_bad() { 3.5 } else { 2.0 },
            esc(&format!(
                "{}: {}, {}",
                fmt::when(r.started_at_ms),
                r.status.as_str(),
                fmt::latency_ms(totals[i])
            ))
        );
    }
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{left}\" y=\"{:.1}\">{}</text>\
         <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text></svg>",
        hf - 4.0,
        esc(&fmt::when(results[0].started_at_ms)),
        wf - right,
        hf - 4.0,
        esc(&fmt::when(results[n - 1].started_at_ms)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_core::Status;

    fn result(total_ms: u64, dns_ms: Option<u64>, status: Status) -> CheckResult {
        let mut r = CheckResult::new(status, "m", 86_400_000);
        r.timings.total_us = total_ms * 1000;
        r.timings.dns_us = dns_ms.map(|d| d * 1000);
        r
    }

    #[test]
    fn axis_tops_are_round() {
        assert!((nice_max(0.0) - 1.0).abs() < 1e-9);
        assert!((nice_max(3.0) - 5.0).abs() < 1e-9);
        assert!((nice_max(120.0) - 200.0).abs() < 1e-9);
        assert!((nice_max(1000.0) - 1000.0).abs() < 1e-9);
    }

    #[test]
    fn charts_draw_phases_totals_and_failures() {
        assert_eq!(response_times(&[], 600, 200), "");
        let rs = [
            result(100, Some(10), Status::Ok),
            result(300, Some(20), Status::Critical),
        ];
        let s = response_times(&rs, 600, 200);
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"), "{s}");
        assert!(s.contains("class=\"ph-dns\""), "{s}");
        assert!(!s.contains("ph-tls"), "no TLS phase measured: {s}");
        assert!(s.contains("class=\"ph-total\""), "{s}");
        assert_eq!(s.matches("pt-bad").count(), 1, "{s}");
        assert!(s.contains("slowest 300 ms; 1 failed"), "{s}");
        assert!(
            !s.contains("style="),
            "the CSP forbids style attributes: {s}"
        );
        assert_eq!(legend(&rs), vec![("DNS", "ph-dns")]);
    }
}
