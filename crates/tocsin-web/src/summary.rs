//! Per-check uptime and latency summaries for pages that list many checks (the dashboard,
//! status pages): computed from the hourly and daily rollups in the background, every
//! [`REFRESH`], so rendering a page of 10,000 checks reads memory only.
//!
//! - `uptime_24h`: ok results over all results in the last 24 hourly rollups;
//! - `uptime_30d`: the same over the last 30 daily rollups;
//! - `spark`: the median latency (ms) of each of the last 24 hours, oldest first (`None` for an
//!   hour without results).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tocsin_store::{Grain, Store, StoreError};

use crate::svg::Bar;

/// How often summaries are recomputed.
pub const REFRESH: Duration = Duration::from_secs(60);

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// One check's summary.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckSummary {
    /// Uptime over the last 24 hours in %, if anything ran.
    pub uptime_24h: Option<f64>,
    /// Uptime over the last 30 days in %, if anything ran.
    pub uptime_30d: Option<f64>,
    /// Median latency of each of the last 24 hours (ms), oldest first.
    pub spark: Vec<Option<f64>>,
}

/// Summaries of every check, by check id.
pub type SummaryMap = HashMap<String, CheckSummary>;

/// The latest summaries, swapped whole on each refresh.
#[derive(Debug, Default)]
pub struct Summaries {
    current: RwLock<Arc<SummaryMap>>,
}

impl Summaries {
    /// The latest summaries.
    pub fn get(&self) -> Arc<SummaryMap> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Recomputes them now.
    pub async fn refresh(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let map = compute(store, now_ms).await?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(map);
        Ok(())
    }
}

/// Reads the rollups of the last 24 hours and 30 days into summaries.
pub async fn compute(store: &Store, now_ms: i64) -> Result<SummaryMap, StoreError> {
    let this_hour = now_ms - now_ms.rem_euclid(HOUR_MS);
    let first_hour = this_hour - 23 * HOUR_MS;
    let today = now_ms - now_ms.rem_euclid(DAY_MS);
    let mut map: SummaryMap = HashMap::new();
    let mut totals: HashMap<String, (u64, u64)> = HashMap::new();
    for (check, r) in store.rollups_all(Grain::Hour, first_hour).await? {
        let s = map.entry(check.clone()).or_insert_with(|| CheckSummary {
            spark: vec![None; 24],
            ..CheckSummary::default()
        });
        let slot = (r.minute_ms - first_hour) / HOUR_MS;
        if let Some(x) = usize::try_from(slot).ok().and_then(|i| s.spark.get_mut(i))
            && r.count > 0
        {
            *x = Some(r.p50_us as f64 / 1000.0);
        }
        let t = totals.entry(check).or_default();
        t.0 += u64::from(r.count);
        t.1 += u64::from(r.ok);
    }
    for (check, (count, ok)) in totals {
        if let Some(s) = map.get_mut(&check) {
            s.uptime_24h = percent(ok, count);
        }
    }
    let mut days: HashMap<String, (u64, u64)> = HashMap::new();
    for (check, r) in store.rollups_all(Grain::Day, today - 29 * DAY_MS).await? {
        let t = days.entry(check).or_default();
        t.0 += u64::from(r.count);
        t.1 += u64::from(r.ok);
    }
    for (check, (count, ok)) in days {
        map.entry(check).or_default().uptime_30d = percent(ok, count);
    }
    Ok(map)
}

fn percent(ok: u64, count: u64) -> Option<f64> {
    (count > 0).then(|| 100.0 * ok as f64 / count as f64)
}

/// The last `days` days of one check as uptime bars, oldest first (today last; days without
/// results are empty bars).
pub async fn day_bars(
    store: &Store,
    check: &str,
    days: u32,
    now_ms: i64,
) -> Result<Vec<Bar>, StoreError> {
    let today = now_ms - now_ms.rem_euclid(DAY_MS);
    let first = today - i64::from(days.max(1) - 1) * DAY_MS;
    let mut bars: Vec<Bar> = (0..i64::from(days.max(1)))
        .map(|i| Bar {
            start_ms: first + i * DAY_MS,
            ..Bar::default()
        })
        .collect();
    for r in store
        .rollups_in(Grain::Day, check, first, today + DAY_MS)
        .await?
    {
        if let Some(b) = usize::try_from((r.minute_ms - first) / DAY_MS)
            .ok()
            .and_then(|i| bars.get_mut(i))
        {
            b.count = r.count;
            b.ok = r.ok;
        }
    }
    Ok(bars)
}

/// Refreshes `summaries` every [`REFRESH`] until the process ends.
pub(crate) fn spawn_refresher(summaries: Arc<Summaries>, store: Store) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(REFRESH);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            if let Err(e) = summaries.refresh(&store, tocsin_engine::now_ms()).await {
                tracing::warn!(error = %e, "cannot refresh the uptime summaries");
            }
        }
    });
}
