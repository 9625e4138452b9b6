//! Shields-style flat SVG badges of public checks: status (`/badge/{check}.svg`), 30-day uptime
//! (`/badge/{check}/uptime.svg`) and latest response time (`/badge/{check}/latency.svg`).
//!
//! Text is escaped, widths are estimated from Verdana 11 px glyph widths (and pinned with
//! `textLength`, so another font still fits), colours keep white text at 4.5:1 contrast or
//! more, and each badge says what it shows in `aria-label` and `<title>`. Badges are cached
//! for a minute.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::format::{self, Level};
use super::{public_check, respond};
use crate::svg::{esc, uptime_class};
use crate::{ApiError, AppState};

/// Badge colours (white text on each has a contrast ratio of at least 4.5:1).
const GREEN: &str = "#2e7d32";
const AMBER: &str = "#9a6700";
const RED: &str = "#c62828";
const GREY: &str = "#616161";
const BLUE: &str = "#0b5cad";
const LABEL: &str = "#555";

/// `GET /badge/{check}.svg`: the check's name and its status in one word.
pub(crate) fn status(app: &AppState, id: &str) -> Result<Response, ApiError> {
    let e = public_check(&app.engine, id)?;
    let level = Level::of(&e.snapshot().state);
    let color = match level {
        Level::Operational => GREEN,
        Level::Degraded => AMBER,
        Level::Down => RED,
        Level::Unknown | Level::Pending => GREY,
    };
    Ok(svg_response(badge(&e.spec.name, level.short(), color)))
}

/// `GET /badge/{check}/uptime.svg`: uptime over the last 30 days.
pub(crate) async fn uptime(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = public_check(&app.engine, &id)?;
    let uptime = app
        .summaries
        .get()
        .get(e.id().as_str())
        .and_then(|s| s.uptime_30d);
    let color = match uptime_class(uptime) {
        "up" => GREEN,
        "degraded" => AMBER,
        "down" => RED,
        _ => GREY,
    };
    Ok(svg_response(badge(
        "uptime 30d",
        &format::uptime(uptime),
        color,
    )))
}

/// `GET /badge/{check}/latency.svg`: the response time of the latest result.
pub(crate) async fn latency(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let e = public_check(&app.engine, &id)?;
    let (text, color) = match e.snapshot().last {
        Some(r) => (format::latency(r.timings.total_us), BLUE),
        None => ("no data".to_owned(), GREY),
    };
    Ok(svg_response(badge("latency", &text, color)))
}

fn svg_response(svg: String) -> Response {
    let mut r = respond("image/svg+xml; charset=utf-8", 60, svg);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    r
}

/// The estimated width of `text` in Verdana 11 px.
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 3.5,
            ' ' | 'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' => 4.6,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 10.7,
            'A'..='Z' => 7.8,
            '0'..='9' => 7.0,
            _ => 6.7,
        })
        .sum()
}

/// A flat badge: `label` on grey, `message` on `color`.
pub(crate) fn badge(label: &str, message: &str, color: &str) -> String {
    let (lt, mt) = (text_width(label).ceil(), text_width(message).ceil());
    let (lw, mw) = (lt + 10.0, mt + 10.0);
    let w = lw + mw;
    let (lx, mx) = (lw / 2.0, lw + mw / 2.0);
    let (label, message) = (esc(label), esc(message));
    let spoken = format!("{label}: {message}");
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" \
         viewBox=\"0 0 {w} 20\" role=\"img\" aria-label=\"{spoken}\"><title>{spoken}</title>\
         <linearGradient id=\"s\" x2=\"0\" y2=\"100%\"><stop offset=\"0\" stop-color=\"#bbb\" \
         stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>\
         <clipPath id=\"r\"><rect width=\"{w}\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>\
         <g clip-path=\"url(#r)\"><rect width=\"{lw}\" height=\"20\" fill=\"{LABEL}\"/>\
         <rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{color}\"/>\
         <rect width=\"{w}\" height=\"20\" fill=\"url(#s)\"/></g>\
         <g fill=\"#fff\" text-anchor=\"middle\" \
         font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">"
    );
    for (x, width, text) in [(lx, lt, &label), (mx, mt, &message)] {
        let _ = write!(
            s,
            "<text aria-hidden=\"true\" x=\"{x}\" y=\"15\" fill=\"#010101\" \
             fill-opacity=\".3\" textLength=\"{width}\">{text}</text>\
             <text x=\"{x}\" y=\"14\" textLength=\"{width}\">{text}</text>"
        );
    }
    s.push_str("</g></svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badges_escape_and_speak() {
        let s = badge("a<b>&\"c\"", "up", GREEN);
        assert!(
            s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{s}"
        );
        assert!(s.ends_with("</svg>"), "{s}");
        assert!(!s.contains("a<b>"), "{s}");
        assert!(
            s.contains("aria-label=\"a&lt;b&gt;&amp;&quot;c&quot;: up\""),
            "{s}"
        );
        assert!(s.contains("role=\"img\""), "{s}");
        assert!(s.contains(">up</text>"), "{s}");
    }

    #[test]
    fn widths_grow_with_the_text() {
        assert!(text_width("mmmm") > text_width("iiii"));
        let short = badge("x", "up", GREEN);
        let long = badge("a much longer label", "up", GREEN);
        let width = |s: &str| -> f64 {
            let w = s.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        assert!(width(&long) > width(&short) + 50.0);
    }
}
