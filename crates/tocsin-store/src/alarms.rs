//! Alarms in the store: short per-tenant ids, alarm rows (opaque JSON plus the columns queries
//! need), their timelines (`alarm_events`), and [`Store::save_alarm_change`], which writes an
//! alarm change together with its outbox rows in one transaction.
//!
//! The store does not know the alarm model (that lives in `tocsin-core`): an alarm is a JSON
//! `body` plus its tenant, id, key (`check:web`, `group:shop`), open flag and times. The timeline
//! is kept as rows, not in the body: it is append-only, grows with every re-notification, and is
//! read page by page, while the body is rewritten on every change.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::outbox::NewDelivery;
use crate::sql;
use crate::store::GC_CHUNK;
use crate::{Store, StoreError};

/// An alarm as stored: the columns the store queries by, and the alarm itself as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmRow {
    /// The owning tenant (`""` for the operator's own alarms).
    pub tenant: String,
    /// Short id, unique per tenant, from [`Store::next_alarm_id`].
    pub id: i64,
    /// What the alarm is about: `check:<id>` or `group:<id>`.
    pub key: String,
    /// Whether the alarm is open.
    pub open: bool,
    /// When it opened, Unix milliseconds.
    pub opened_ms: i64,
    /// When it closed, Unix milliseconds (`None` while open). Retention counts from here.
    pub closed_ms: Option<i64>,
    /// When it last changed, Unix milliseconds.
    pub updated_ms: i64,
    /// The alarm itself (faults, acks, notification counters…), opaque to the store.
    pub body: serde_json::Value,
}

impl AlarmRow {
    /// The cursor that pages past this alarm in [`Store::alarms`].
    pub fn cursor(&self) -> AlarmCursor {
        AlarmCursor {
            opened_ms: self.opened_ms,
            tenant: self.tenant.clone(),
            id: self.id,
        }
    }
}

/// One entry of an alarm's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmEvent {
    /// Position in the alarm's timeline, chosen by the caller, unique per alarm (1, 2, 3, …).
    /// Saving an event whose `seq` the alarm already has fails the whole change.
    pub seq: i64,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// What happened: `opened`, `fault`, `notified`, `acked`, `closed`, …
    pub kind: String,
    /// The details, opaque to the store.
    pub body: serde_json::Value,
}

/// Everything one alarm change writes, in one transaction (see [`Store::save_alarm_change`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AlarmChange {
    /// The alarm after the change (inserted, or replacing the stored row of the same tenant and
    /// id).
    pub alarm: AlarmRow,
    /// Its new timeline entries.
    pub events: Vec<AlarmEvent>,
    /// The notifications the change decided on.
    pub notifications: Vec<NewDelivery>,
}

/// Which alarms [`Store::alarms`] lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AlarmFilter {
    /// Open alarms only.
    Open,
    /// Closed alarms only.
    Closed,
    /// Both.
    #[default]
    All,
}

impl AlarmFilter {
    fn code(self) -> i16 {
        match self {
            Self::Open => 1,
            Self::Closed => 0,
            Self::All => -1,
        }
    }
}

/// Where a page of [`Store::alarms`] ends: alarms are listed by `(opened_ms, tenant, id)`,
/// descending, and the next page starts strictly after this one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AlarmCursor {
    /// The `opened_ms` of the last alarm of the page.
    pub opened_ms: i64,
    /// Its tenant.
    pub tenant: String,
    /// Its id.
    pub id: i64,
}

impl Store {
    /// Hands out the next alarm id of `tenant`: 1 for its first alarm, then increasing by one.
    /// An id is never handed out twice, even if the alarm that had it was never saved or has been
    /// deleted by retention (ids may have gaps).
    pub async fn next_alarm_id(&self, tenant: &str) -> Result<i64, StoreError> {
        let op = "allocate an alarm id";
        let row = sqlx::query(sql::NEXT_ALARM_ID)
            .bind(tenant)
            .fetch_one(&self.write)
            .await
            .map_err(self.err(op))?;
        row.try_get::<i64, _>(0).map_err(self.err(op))
    }

    /// Writes an alarm change in one transaction: the alarm (insert or replace), its new
    /// timeline events, and its notifications as pending outbox rows. Either all of it is
    /// written or none of it (the outbox guarantee: a notification exists if and only if the
    /// change that decided it was saved).
    ///
    /// A notification whose idempotency key is already in the outbox is skipped, not an error,
    /// so a change may be saved again safely as far as the outbox is concerned; an event whose
    /// `seq` the alarm already has is an error (and nothing is written). Returns how many
    /// outbox rows were added.
    ///
    /// Saving an alarm with an id the tenant's counter has not reached yet raises the counter,
    /// so [`Store::next_alarm_id`] never hands that id out again.
    pub async fn save_alarm_change(&self, change: &AlarmChange) -> Result<u64, StoreError> {
        let a = &change.alarm;
        let mut tx = self
            .write
            .begin()
            .await
            .map_err(self.err("begin an alarm change"))?;
        sqlx::query(sql::RESERVE_ALARM_ID)
            .bind(a.tenant.as_str())
            .bind(a.id)
            .execute(&mut *tx)
            .await
            .map_err(self.err("reserve an alarm id"))?;
        sqlx::query(sql::UPSERT_ALARM)
            .bind(a.tenant.as_str())
            .bind(a.id)
            .bind(a.key.as_str())
            .bind(i16::from(a.open))
            .bind(a.opened_ms)
            .bind(a.closed_ms)
            .bind(a.updated_ms)
            .bind(a.body.to_string())
            .execute(&mut *tx)
            .await
            .map_err(self.err("save an alarm"))?;
        let mut added = 0;
        for n in &change.notifications {
            added += sqlx::query(sql::INSERT_DELIVERY)
                .bind(n.idempotency_key.as_str())
                .bind(a.tenant.as_str())
                .bind(a.id)
                .bind(n.contact.as_str())
                .bind(n.channel.as_str())
                .bind(n.payload.to_string())
                .bind(n.created_ms)
                .execute(&mut *tx)
                .await
                .map_err(self.err("queue a notification"))?
                .rows_affected();
        }
        for e in &change.events {
            sqlx::query(sql::INSERT_ALARM_EVENT)
                .bind(a.tenant.as_str())
                .bind(a.id)
                .bind(e.seq)
                .bind(e.at_ms)
                .bind(e.kind.as_str())
                .bind(e.body.to_string())
                .execute(&mut *tx)
                .await
                .map_err(self.err("append an alarm event"))?;
        }
        tx.commit()
            .await
            .map_err(self.err("commit an alarm change"))?;
        Ok(added)
    }

    /// One alarm of a tenant.
    pub async fn alarm(&self, tenant: &str, id: i64) -> Result<Option<AlarmRow>, StoreError> {
        let op = "read an alarm";
        let row = sqlx::query(sql::SELECT_ALARM)
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.read)
            .await
            .map_err(self.err(op))?;
        row.map(|row| self.alarm_of_row(&row, op)).transpose()
    }

    /// The open alarm of `key` in `tenant` (the newest, should there be several).
    pub async fn open_alarm(
        &self,
        tenant: &str,
        key: &str,
    ) -> Result<Option<AlarmRow>, StoreError> {
        let op = "read the open alarm of a key";
        let row = sqlx::query(sql::SELECT_OPEN_ALARM_OF_KEY)
            .bind(tenant)
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(self.err(op))?;
        row.map(|row| self.alarm_of_row(&row, op)).transpose()
    }

    /// Every open alarm of every tenant, by tenant and id (for a restart). An alarm whose body
    /// is not valid JSON is skipped with a warning rather than failing the restart.
    pub async fn open_alarms(&self) -> Result<Vec<AlarmRow>, StoreError> {
        let op = "load open alarms";
        let rows = sqlx::query(sql::SELECT_OPEN_ALARMS)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            match self.alarm_of_row(row, op) {
                Ok(alarm) => out.push(alarm),
                Err(StoreError::Corrupt { row, reason, .. }) => {
                    tracing::warn!(alarm = %row, error = %reason, "skipping a stored alarm that cannot be decoded");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Up to `limit` alarms of `tenant` (or of every tenant with `None`), newest opened first;
    /// with `before`, only those after that cursor (to page: pass the [`AlarmRow::cursor`] of
    /// the last one you got).
    pub async fn alarms(
        &self,
        tenant: Option<&str>,
        filter: AlarmFilter,
        before: Option<&AlarmCursor>,
        limit: u32,
    ) -> Result<Vec<AlarmRow>, StoreError> {
        let op = "list alarms";
        let (before_ms, before_tenant, before_id) = match before {
            Some(c) => (c.opened_ms, c.tenant.as_str(), c.id),
            None => (i64::MAX, "", 0),
        };
        let rows = sqlx::query(sql::SELECT_ALARMS)
            .bind(tenant)
            .bind(filter.code())
            .bind(before_ms)
            .bind(before_tenant)
            .bind(before_id)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter().map(|row| self.alarm_of_row(row, op)).collect()
    }

    /// The timeline of an alarm, oldest first.
    pub async fn alarm_events(&self, tenant: &str, id: i64) -> Result<Vec<AlarmEvent>, StoreError> {
        let op = "read an alarm's events";
        let rows = sqlx::query(sql::SELECT_ALARM_EVENTS)
            .bind(tenant)
            .bind(id)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|row| {
                let e = || self.err(op);
                let seq: i64 = row.try_get(0).map_err(e())?;
                let body: String = row.try_get(3).map_err(e())?;
                Ok(AlarmEvent {
                    seq,
                    at_ms: row.try_get(1).map_err(e())?,
                    kind: row.try_get(2).map_err(e())?,
                    body: serde_json::from_str(&body).map_err(|err| StoreError::Corrupt {
                        what: "alarm event",
                        row: format!("{tenant}/{id}#{seq}"),
                        reason: err.to_string(),
                    })?,
                })
            })
            .collect()
    }

    fn alarm_of_row(&self, row: &AnyRow, op: &'static str) -> Result<AlarmRow, StoreError> {
        let e = || self.err(op);
        let tenant: String = row.try_get(0).map_err(e())?;
        let id: i64 = row.try_get(1).map_err(e())?;
        let body: String = row.try_get(7).map_err(e())?;
        let body = serde_json::from_str(&body).map_err(|err| StoreError::Corrupt {
            what: "alarm body",
            row: format!("{tenant}/{id}"),
            reason: err.to_string(),
        })?;
        Ok(AlarmRow {
            key: row.try_get(2).map_err(e())?,
            open: row.try_get::<i64, _>(3).map_err(e())? != 0,
            opened_ms: row.try_get(4).map_err(e())?,
            closed_ms: row.try_get(5).map_err(e())?,
            updated_ms: row.try_get(6).map_err(e())?,
            tenant,
            id,
            body,
        })
    }

    /// Deletes alarms closed before `cutoff_ms` with their timelines, a chunk per transaction.
    /// Open alarms are never deleted. Returns the rows deleted (alarms and events).
    pub(crate) async fn collect_alarms(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let op = "delete old alarms";
        let mut deleted = 0;
        loop {
            let mut tx = self.write.begin().await.map_err(self.err(op))?;
            let gone = sqlx::query(sql::GC_ALARMS)
                .bind(cutoff_ms)
                .bind(GC_CHUNK)
                .fetch_all(&mut *tx)
                .await
                .map_err(self.err(op))?;
            for row in &gone {
                let tenant: String = row.try_get(0).map_err(self.err(op))?;
                let id: i64 = row.try_get(1).map_err(self.err(op))?;
                deleted += sqlx::query(sql::GC_ALARM_EVENTS)
                    .bind(tenant)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(self.err("delete old alarm events"))?
                    .rows_affected();
            }
            tx.commit().await.map_err(self.err(op))?;
            let n = u64::try_from(gone.len()).unwrap_or(u64::MAX);
            deleted += n;
            if n < GC_CHUNK.unsigned_abs() {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }
}
