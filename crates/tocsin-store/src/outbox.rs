//! The notification outbox in the store: rows written with their alarm change (see
//! [`Store::save_alarm_change`]), read back by notifier workers ([`Store::due_deliveries`]) and
//! moved through `pending` → `delivered` | `dead` by the `mark_*` calls; plus [`backoff`], the
//! retry schedule.
//!
//! Pending rows survive a crash or a restart (they are committed with the alarm change), so
//! delivery resumes where it stopped. A row is only ever moved out of `pending`, never back, and
//! a `mark_*` on a row that is no longer pending changes nothing and returns `false`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql;
use crate::{Store, StoreError};

/// A notification to queue with an alarm change. Its tenant and alarm id are the alarm's.
///
/// The payload is stored in the database and shown in the API's dead letters: it names the
/// contact and says what to tell it, and never carries the contact's secrets (tokens, webhook
/// URLs with keys), which the notifier looks up when it delivers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewDelivery {
    /// Unique over the whole outbox; a second row with the same key is ignored. Make it with
    /// [`idempotency_key`]. Notifiers pass it on to channels that deduplicate (PagerDuty's
    /// `dedup_key`, an `Idempotency-Key` header).
    pub idempotency_key: String,
    /// The contact's name.
    pub contact: String,
    /// The channel kind: `email`, `webhook`, `slack`, … (for per-channel rate limits).
    pub channel: String,
    /// What to deliver, opaque to the store.
    pub payload: serde_json::Value,
    /// When it was queued, Unix milliseconds; the first attempt is due then.
    pub created_ms: i64,
}

/// The idempotency key of the notification of `contact` about event `seq` of an alarm:
/// `tenant/alarm_id/seq/contact`.
pub fn idempotency_key(tenant: &str, alarm_id: i64, seq: i64, contact: &str) -> String {
    format!("{tenant}/{alarm_id}/{seq}/{contact}")
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Delivered.
    Delivered,
    /// Given up on (a dead letter).
    Dead,
}

impl DeliveryStatus {
    /// `pending`, `delivered` or `dead`, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The row id (for the `mark_*` calls).
    pub id: i64,
    /// See [`NewDelivery::idempotency_key`].
    pub idempotency_key: String,
    /// The alarm's tenant.
    pub tenant: String,
    /// The alarm's id.
    pub alarm_id: i64,
    /// The contact's name.
    pub contact: String,
    /// The channel kind.
    pub channel: String,
    /// What to deliver.
    pub payload: serde_json::Value,
    /// When it was queued, Unix milliseconds.
    pub created_ms: i64,
    /// Attempts made so far (each `mark_*` call counts one).
    pub attempts: u32,
    /// When the next attempt is due, Unix milliseconds (meaningful while pending).
    pub next_attempt_ms: i64,
    /// When the last attempt was made.
    pub last_attempt_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Where it is.
    pub status: DeliveryStatus,
    /// When it was delivered.
    pub delivered_ms: Option<i64>,
    /// When it was given up on.
    pub dead_ms: Option<i64>,
}

/// Outbox rows by status (for `/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxCounts {
    /// Waiting for delivery.
    pub pending: u64,
    /// Delivered (and not yet dropped by retention).
    pub delivered: u64,
    /// Dead letters (not yet dropped by retention).
    pub dead: u64,
}

/// The delay before the next attempt after `failures` failed attempts (1 after the first
/// failure): exponential with "equal jitter". The ceiling is `base · 2^(failures − 1)`, capped
/// at `max`; the delay is uniform in `[ceiling / 2, ceiling]`, placed by `jitter` in `[0, 1]`
/// (0 → the low end, 1 → the ceiling; out of range or NaN is clamped, NaN counting as 0).
///
/// Half of the ceiling is kept as a floor, unlike "full jitter" (uniform in `[0, ceiling]`),
/// so that a channel that keeps failing is not retried almost at once by an unlucky draw, while
/// the other half still spreads the retries of many notifications that failed together.
/// Deterministic: the caller draws `jitter` (from a random source, or a hash of the
/// idempotency key).
pub fn backoff(failures: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let ceiling = base.saturating_mul(factor).min(max);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let floor = ceiling / 2;
    let span = ceiling.saturating_sub(floor);
    let extra = Duration::try_from_secs_f64(span.as_secs_f64() * jitter)
        .unwrap_or(span)
        .min(span);
    floor.saturating_add(extra)
}

impl Store {
    /// Up to `limit` pending deliveries due at `now_ms` (`next_attempt_ms <= now_ms`), the
    /// longest-waiting first (by due time, then by id, i.e. queueing order). A row whose payload
    /// cannot be decoded is skipped with a warning.
    ///
    /// This only reads: with several workers (or nodes) on one outbox, give each its own rows
    /// (by channel or by shard) or they will deliver the same row twice.
    pub async fn due_deliveries(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError> {
        let op = "read due deliveries";
        let rows = sqlx::query(sql::SELECT_DUE)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        Ok(self.deliveries_skipping_corrupt(&rows, op))
    }

    /// One outbox row.
    pub async fn delivery(&self, id: i64) -> Result<Option<Delivery>, StoreError> {
        let op = "read a delivery";
        let row = sqlx::query(sql::SELECT_DELIVERY)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(self.err(op))?;
        row.map(|row| self.delivery_of_row(&row, op)).transpose()
    }

    /// The outbox rows of one alarm, in queueing order.
    pub async fn alarm_deliveries(
        &self,
        tenant: &str,
        alarm_id: i64,
    ) -> Result<Vec<Delivery>, StoreError> {
        let op = "read an alarm's deliveries";
        let rows = sqlx::query(sql::SELECT_ALARM_DELIVERIES)
            .bind(tenant)
            .bind(alarm_id)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|row| self.delivery_of_row(row, op))
            .collect()
    }

    /// Up to `limit` dead letters, the most recently given up first.
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let op = "read dead letters";
        let rows = sqlx::query(sql::SELECT_DEAD)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        Ok(self.deliveries_skipping_corrupt(&rows, op))
    }

    /// Records a successful attempt at `now_ms`. Returns `false` (and changes nothing) if the
    /// row does not exist or is not pending.
    pub async fn mark_delivered(&self, id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_DELIVERED)
            .bind(id)
            .bind(now_ms)
            .execute(&self.write)
            .await
            .map_err(self.err("mark a delivery delivered"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a failed attempt at `now_ms` (`attempts + 1`, `last_error`) and when to try
    /// again (see [`backoff`]). Returns `false` (and changes nothing) if the row does not exist
    /// or is not pending.
    pub async fn mark_failed(
        &self,
        id: i64,
        now_ms: i64,
        error: &str,
        next_attempt_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_FAILED)
            .bind(id)
            .bind(now_ms)
            .bind(error)
            .bind(next_attempt_ms)
            .execute(&self.write)
            .await
            .map_err(self.err("mark a delivery failed"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves a pending delivery's next attempt to `next_attempt_ms` without counting an
    /// attempt (a rate limit made it wait). Returns `false` if the row is not pending.
    pub async fn postpone_delivery(
        &self,
        id: i64,
        next_attempt_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::POSTPONE)
            .bind(id)
            .bind(next_attempt_ms)
            .execute(&self.write)
            .await
            .map_err(self.err("postpone a delivery"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Gives up on a delivery at `now_ms` after a last failed attempt (`attempts + 1`,
    /// `last_error`): it becomes a dead letter. Returns `false` (and changes nothing) if the row
    /// does not exist or is not pending.
    pub async fn mark_dead(&self, id: i64, now_ms: i64, error: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(sql::MARK_DEAD)
            .bind(id)
            .bind(now_ms)
            .bind(error)
            .execute(&self.write)
            .await
            .map_err(self.err("mark a delivery dead"))?;
        Ok(done.rows_affected() > 0)
    }

    /// Outbox rows by status.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let op = "count outbox rows";
        let rows = sqlx::query(sql::OUTBOX_COUNTS)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        let mut counts = OutboxCounts::default();
        for row in &rows {
            let status: String = row.try_get(0).map_err(self.err(op))?;
            let n = u64::try_from(row.try_get::<i64, _>(1).map_err(self.err(op))?).unwrap_or(0);
            match DeliveryStatus::parse(&status) {
                Some(DeliveryStatus::Pending) => counts.pending = n,
                Some(DeliveryStatus::Delivered) => counts.delivered = n,
                Some(DeliveryStatus::Dead) => counts.dead = n,
                None => {}
            }
        }
        Ok(counts)
    }

    fn deliveries_skipping_corrupt(&self, rows: &[AnyRow], op: &'static str) -> Vec<Delivery> {
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            match self.delivery_of_row(row, op) {
                Ok(d) => out.push(d),
                Err(error) => {
                    tracing::warn!(%error, "skipping an outbox row that cannot be decoded");
                }
            }
        }
        out
    }

    fn delivery_of_row(&self, row: &AnyRow, op: &'static str) -> Result<Delivery, StoreError> {
        let e = || self.err(op);
        let id: i64 = row.try_get(0).map_err(e())?;
        let corrupt = |reason: String| StoreError::Corrupt {
            what: "delivery",
            row: id.to_string(),
            reason,
        };
        let payload: String = row.try_get(6).map_err(e())?;
        let payload = serde_json::from_str(&payload).map_err(|err| corrupt(err.to_string()))?;
        let status: String = row.try_get(12).map_err(e())?;
        let status = DeliveryStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown status {status:?}")))?;
        let attempts: i64 = row.try_get(8).map_err(e())?;
        Ok(Delivery {
            id,
            idempotency_key: row.try_get(1).map_err(e())?,
            tenant: row.try_get(2).map_err(e())?,
            alarm_id: row.try_get(3).map_err(e())?,
            contact: row.try_get(4).map_err(e())?,
            channel: row.try_get(5).map_err(e())?,
            payload,
            created_ms: row.try_get(7).map_err(e())?,
            attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
            next_attempt_ms: row.try_get(9).map_err(e())?,
            last_attempt_ms: row.try_get(10).map_err(e())?,
            last_error: row.try_get(11).map_err(e())?,
            status,
            delivered_ms: row.try_get(13).map_err(e())?,
            dead_ms: row.try_get(14).map_err(e())?,
        })
    }

    /// Deletes delivered rows delivered before `delivered_cutoff_ms` and dead letters that died
    /// before `dead_cutoff_ms`, a chunk per statement. Pending rows are never deleted. Returns
    /// the rows deleted.
    pub(crate) async fn collect_outbox(
        &self,
        delivered_cutoff_ms: i64,
        dead_cutoff_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for (stmt, cutoff, op) in [
            (
                sql::GC_DELIVERED,
                delivered_cutoff_ms,
                "delete old deliveries",
            ),
            (sql::GC_DEAD, dead_cutoff_ms, "delete old dead letters"),
        ] {
            deleted += self.delete_chunked(stmt, cutoff, op).await?;
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_table() {
        let base = 10 * S;
        let max = 3600 * S;
        // (failures, jitter, expected)
        let table: &[(u32, f64, Duration)] = &[
            (0, 0.0, 5 * S),
            (0, 1.0, 10 * S),
            (1, 0.0, 5 * S),
            (1, 0.5, Duration::from_millis(7_500)),
            (1, 1.0, 10 * S),
            (2, 0.0, 10 * S),
            (2, 1.0, 20 * S),
            (3, 0.0, 20 * S),
            (3, 1.0, 40 * S),
            (9, 1.0, 2560 * S),
            (10, 0.0, 1800 * S),
            (10, 1.0, 3600 * S),
            (31, 0.25, 2250 * S),
            (32, 1.0, 3600 * S),
            (u32::MAX, 1.0, 3600 * S),
            // Out of range jitter is clamped; NaN counts as 0.
            (1, -3.0, 5 * S),
            (1, 7.0, 10 * S),
            (1, f64::NAN, 5 * S),
            (1, f64::INFINITY, 10 * S),
        ];
        for &(failures, jitter, want) in table {
            assert_eq!(
                backoff(failures, base, max, jitter),
                want,
                "failures={failures} jitter={jitter}"
            );
        }
    }

    #[test]
    fn backoff_degenerate_inputs_do_not_panic() {
        assert_eq!(backoff(5, Duration::ZERO, S, 0.7), Duration::ZERO);
        // max below base: max wins.
        assert_eq!(backoff(1, 10 * S, S, 1.0), S);
        assert!(backoff(u32::MAX, Duration::MAX, Duration::MAX, 1.0) >= Duration::MAX / 2);
    }

    #[test]
    fn backoff_is_monotone_in_failures_at_fixed_jitter() {
        let mut last = Duration::ZERO;
        for failures in 1..40 {
            let d = backoff(failures, S, 600 * S, 0.3);
            assert!(d >= last, "failures={failures}");
            last = d;
        }
    }

    #[test]
    fn statuses_round_trip() {
        for s in [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Dead,
        ] {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(DeliveryStatus::parse("sent"), None);
    }

    #[test]
    fn keys_name_tenant_alarm_event_and_contact() {
        assert_eq!(idempotency_key("acme", 42, 3, "ops"), "acme/42/3/ops");
    }
}
