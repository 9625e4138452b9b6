//! Charts drawn by the server as inline SVG: a latency sparkline and uptime bars. No script,
//! no external file: the markup goes straight into the page (or a badge).
//!
//! Every function returns a complete `<svg>` element with a `role="img"` and an
//! `aria-label` that says in words what the picture shows.

use std::fmt::Write as _;

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A sparkline of `points` (oldest first; `None` where nothing was measured), `w` × `h`
/// pixels, scaled from 0 to the largest value. `label` is read aloud (`latency, last 24 h`).
pub fn sparkline(points: &[Option<f64>], w: u32, h: u32, label: &str) -> String {
    let max = points
        .iter()
        .flatten()
        .copied()
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let n = points.len().max(2) - 1;
    let (wf, hf) = (f64::from(w), f64::from(h));
    let mut d = String::new();
    let mut pen_up = true;
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => {
                let x = wf * i as f64 / n as f64;
                let y = (hf - 1.0) - (hf - 2.0) * (v / max);
                let _ = write!(d, "{}{x:.1},{y:.1}", if pen_up { 'M' } else { 'L' });
                pen_up = false;
            }
            None => pen_up = true,
        }
    }
    let last = points.iter().rev().flatten().next();
    let spoken = match last {
        Some(v) => format!("{label}: latest {v:.0} ms, peak {max:.0} ms"),
        None => format!("{label}: no data"),
    };
    format!(
        "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\"><path d=\"{d}\" fill=\"none\" \
         stroke=\"currentColor\" stroke-width=\"1.5\"/></svg>",
        esc(&spoken)
    )
}

/// One bar of an uptime chart: a period (a day) and its results.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bar {
    /// Start of the period, Unix ms.
    pub start_ms: i64,
    /// Results in the period.
    pub count: u32,
    /// Of which ok.
    pub ok: u32,
}

impl Bar {
    /// Uptime of the period in %, or `None` without results.
    pub fn uptime(&self) -> Option<f64> {
        (self.count > 0).then(|| 100.0 * f64::from(self.ok) / f64::from(self.count))
    }
}

/// The colour class of an uptime: `up` (≥ 99.9 %), `degraded` (≥ 99 %), `down`, or `none`.
pub fn uptime_class(uptime: Option<f64>) -> &'static str {
    match uptime {
        None => "none",
        Some(u) if u >= 99.9 => "up",
        Some(u) if u >= 99.0 => "degraded",
        Some(_) => "down",
    }
}

/// Uptime bars, one per period (oldest first), each with a `<title>` (date and uptime) for
/// pointer and screen-reader users. Colours come from the page's CSS classes
/// (`bar-up`, `bar-degraded`, `bar-down`, `bar-none`).
pub fn uptime_bars(bars: &[Bar], w: u32, h: u32, label: &str) -> String {
    let n = bars.len().max(1) as f64;
    let slot = f64::from(w) / n;
    let bw = (slot - 1.0).max(1.0);
    let mut out = format!(
        "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        esc(label)
    );
    for (i, b) in bars.iter().enumerate() {
        let day = jiff::Timestamp::from_millisecond(b.start_ms)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default();
        let text = match b.uptime() {
            Some(u) => format!("{day}: {u:.2}% ({} of {} ok)", b.ok, b.count),
            None => format!("{day}: no data"),
        };
        let _ = write!(
            out,
            "<rect class=\"bar-{}\" x=\"{:.1}\" y=\"0\" width=\"{bw:.1}\" height=\"{h}\"><title>{}</title></rect>",
            uptime_class(b.uptime()),
            slot * i as f64,
            esc(&text)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn sparklines_break_on_gaps_and_say_the_latest() {
        let s = sparkline(&[Some(1.0), None, Some(2.0), Some(4.0)], 30, 10, "latency");
        assert!(s.contains("d=\"M0.0,"), "{s}");
        assert_eq!(s.matches('M').count(), 2, "a gap lifts the pen: {s}");
        assert!(s.contains("latest 4 ms, peak 4 ms"), "{s}");
        assert!(sparkline(&[None, None], 30, 10, "x").contains("no data"));
    }

    #[test]
    fn uptime_classes_and_bars() {
        assert_eq!(uptime_class(Some(100.0)), "up");
        assert_eq!(uptime_class(Some(99.5)), "degraded");
        assert_eq!(uptime_class(Some(50.0)), "down");
        assert_eq!(uptime_class(None), "none");
        let bars = [
            Bar {
                start_ms: 0,
                count: 10,
                ok: 10,
            },
            Bar::default(),
        ];
        let s = uptime_bars(&bars, 20, 10, "90 days");
        assert!(s.contains("bar-up") && s.contains("bar-none"), "{s}");
        assert!(s.contains("1970-01-01: 100.00% (10 of 10 ok)"), "{s}");
    }
}
