//! `POST /api/v1/push/{id}`: passive results for push checks (dead-man switches).
//!
//! The sender proves itself with the check's token, as `Authorization: Bearer …` (preferred) or
//! `?token=…` (for senders that cannot set headers; query strings end up in proxy logs). The
//! body is optional: none at all means "ok, I'm alive"; a JSON object may give a `status`
//! (`ok`, `warning`, `critical`, `unknown`, or the Nagios code 0–3), a `message` and `metrics`
//! (`{"rows": 1200}` or `[{"name": "rows", "value": 1200, "unit": ""}]`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use tocsin_core::{Metric, Status};
use tocsin_engine::{Engine, PushError, Pushed};

use crate::ApiError;
use crate::error::ApiQuery;

/// Largest body accepted.
pub(crate) const MAX_BODY: usize = 64 << 10;
/// Most metrics one push may carry.
const MAX_METRICS: usize = 100;
/// Longest message kept (bytes); longer ones are refused, not cut.
const MAX_MESSAGE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenQuery {
    token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    status: Option<StatusIn>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    metrics: Option<MetricsIn>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StatusIn {
    Code(i64),
    Name(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MetricsIn {
    Map(BTreeMap<String, f64>),
    List(Vec<MetricIn>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricIn {
    name: String,
    value: f64,
    #[serde(default)]
    unit: String,
}

pub(crate) async fn push(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let token = bearer(&headers).or(query.token).ok_or_else(|| {
        ApiError::unauthenticated("give the check's token as Authorization: Bearer …")
    })?;
    let pushed = parse(&body)?;
    match engine.push(&id, &token, pushed).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(e @ PushError::NotFound(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ PushError::Token) => Err(ApiError::unauthenticated(e.to_string())),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The pushed result a body describes; an empty body is a plain "ok".
fn parse(body: &[u8]) -> Result<Pushed, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Pushed::default());
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid(format!(
            "body: {e} (expected a JSON object with status, message, metrics)"
        ))
    })?;
    let status = match b.status {
        None => Status::Ok,
        Some(StatusIn::Code(c @ 0..=3)) => Status::from_code(c),
        Some(StatusIn::Code(c)) => {
            return Err(ApiError::invalid(format!(
                "status: {c} is not a Nagios code (0 to 3)"
            )));
        }
        Some(StatusIn::Name(n)) => Status::ALL
            .into_iter()
            .find(|s| s.as_str() == n.to_ascii_lowercase())
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "status: {n:?} (expected ok, warning, critical, unknown or 0 to 3)"
                ))
            })?,
    };
    if let Some(m) = &b.message
        && m.len() > MAX_MESSAGE
    {
        return Err(ApiError::invalid(format!(
            "message: {} bytes, at most {MAX_MESSAGE} are accepted",
            m.len()
        )));
    }
    let metrics: Vec<Metric> = match b.metrics {
        None => Vec::new(),
        Some(MetricsIn::Map(m)) => m
            .into_iter()
            .map(|(name, value)| Metric {
                name,
                value,
                unit: String::new(),
            })
            .collect(),
        Some(MetricsIn::List(l)) => l
            .into_iter()
            .map(|m| Metric {
                name: m.name,
                value: m.value,
                unit: m.unit,
            })
            .collect(),
    };
    if metrics.len() > MAX_METRICS {
        return Err(ApiError::invalid(format!(
            "metrics: {} given, at most {MAX_METRICS} are accepted",
            metrics.len()
        )));
    }
    for m in &metrics {
        if m.name.is_empty()
            || m.name.len() > 64
            || !m
                .name
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
        {
            return Err(ApiError::invalid(format!(
                "metrics: invalid name {:?} (expected 1 to 64 of a-z, 0-9, _)",
                m.name
            )));
        }
        if !m.value.is_finite() {
            return Err(ApiError::invalid(format!(
                "metrics: {} is not a finite number",
                m.name
            )));
        }
    }
    Ok(Pushed {
        status,
        message: b.message,
        metrics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let p = parse(b"").unwrap();
        assert_eq!(
            (p.status, p.message, p.metrics.len()),
            (Status::Ok, None, 0)
        );
        let p = parse(br#"{"status": 1, "message": "slow", "metrics": {"rows": 12}}"#).unwrap();
        assert_eq!(p.status, Status::Warning);
        assert_eq!(p.message.as_deref(), Some("slow"));
        assert_eq!(p.metrics[0].name, "rows");
        let p = parse(
            br#"{"status": "CRITICAL", "metrics": [{"name": "age", "value": 3, "unit": "s"}]}"#,
        )
        .unwrap();
        assert_eq!(p.status, Status::Critical);
        assert_eq!(p.metrics[0].unit, "s");
        for (bad, words) in [
            (&br#"{"status": 7}"#[..], "not a Nagios code"),
            (br#"{"status": "down"}"#, "expected ok, warning"),
            (br#"{"metrics": {"Bad Name": 1}}"#, "invalid name"),
            (br#"{"colour": "red"}"#, "unknown field"),
            (br#"not json"#, "expected a JSON object"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(format!("{e:?}").contains(words), "{e:?}");
        }
    }
}
