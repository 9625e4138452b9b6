//! `GET /api/v1/events`: server-sent events of state changes and alarm changes, as they are
//! committed, filtered by the caller's tenant.
//!
//! Each event has an `event:` name (`state` or `alarm`) and a JSON `data:` line (the
//! engine's [`tocsin_engine::events::Event`]). A subscriber that falls too far behind gets one
//! `reload` event (`data: {"missed": N}`): it should re-read what it shows. A comment line is
//! sent every 15 s so proxies keep the connection open. Optional query `?types=state,alarm`.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::error::ApiQuery;
use crate::{ApiError, AppState};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    types: Option<String>,
}

pub(crate) async fn events(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let (mut state, mut alarm) = (true, true);
    if let Some(types) = &q.types {
        (state, alarm) = (false, false);
        for t in types.split(',').map(str::trim) {
            match t {
                "state" => state = true,
                "alarm" => alarm = true,
                other => {
                    return Err(ApiError::invalid(format!(
                        "types: unknown event type {other:?}, expected state or alarm"
                    )));
                }
            }
        }
    }
    let rx = app.engine.subscribe();
    let stream = futures_util::stream::unfold(rx, move |mut rx| {
        let caller = caller.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(p) => {
                        let e = &p.event;
                        let wanted = match e.name() {
                            "state" => state,
                            _ => alarm,
                        };
                        if !wanted || !caller.sees(e.tenant()) {
                            continue;
                        }
                        let ev = SseEvent::default().event(e.name()).data(&p.json);
                        return Some((Ok(ev), rx));
                    }
                    Err(RecvError::Lagged(n)) => {
                        let ev = SseEvent::default()
                            .event("reload")
                            .data(format!("{{\"missed\":{n}}}"));
                        return Some((Ok(ev), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
