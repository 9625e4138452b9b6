//! The SQL text, shared by both backends: `$N` placeholders, portable types, and multi-row
//! `INSERT` statements built once per row count and backend and cached.

use std::sync::{Arc, OnceLock};

use crate::Backend;

/// Rows per multi-row statement at most. Row counts below it are written as a sum of powers of
/// two (e.g. 300 = 256 + 32 + 8 + 4), so each table needs at most `LOG_CHUNK + 1` distinct
/// statements, all of which stay in sqlx's per-connection prepared statement cache.
pub(crate) const LOG_CHUNK: u32 = 8;
/// `1 << LOG_CHUNK`.
pub(crate) const CHUNK: usize = 1 << LOG_CHUNK;

/// A multi-row `INSERT … VALUES (…), (…) …` for one table.
///
/// PostgreSQL gets numbered `$N` placeholders. SQLite gets anonymous `?` ones: sqlx binds each
/// parameter after asking SQLite for its name, and `sqlite3_bind_parameter_name` walks a list,
/// which makes binding a statement with thousands of `$N` parameters quadratic (it was a third of
/// the CPU time of a write batch). The statements are otherwise identical.
pub(crate) struct MultiInsert {
    head: &'static str,
    cols: usize,
    tail: &'static str,
    numbered: OnceLock<Vec<Arc<str>>>,
    anonymous: OnceLock<Vec<Arc<str>>>,
}

impl MultiInsert {
    const fn new(head: &'static str, cols: usize, tail: &'static str) -> Self {
        Self {
            head,
            cols,
            tail,
            numbered: OnceLock::new(),
            anonymous: OnceLock::new(),
        }
    }

    /// The statement for `1 << pow` rows on `backend`.
    pub(crate) fn sql(&self, backend: Backend, pow: u32) -> Arc<str> {
        let numbered = backend == Backend::Postgres;
        let cache = if numbered {
            &self.numbered
        } else {
            &self.anonymous
        };
        let all = cache.get_or_init(|| {
            (0..=LOG_CHUNK)
                .map(|p| self.build(1 << p, numbered))
                .collect()
        });
        Arc::clone(&all[pow.min(LOG_CHUNK) as usize])
    }

    fn build(&self, rows: usize, numbered: bool) -> Arc<str> {
        let mut s = String::with_capacity(self.head.len() + self.tail.len() + rows * self.cols * 7);
        s.push_str(self.head);
        let mut n = 0;
        for r in 0..rows {
            s.push_str(if r == 0 { " (" } else { ", (" });
            for c in 0..self.cols {
                n += 1;
                if c > 0 {
                    s.push_str(", ");
                }
                if numbered {
                    s.push('$');
                    s.push_str(&n.to_string());
                } else {
                    s.push('?');
                }
            }
            s.push(')');
        }
        s.push_str(self.tail);
        s.into()
    }
}

/// Splits `n` rows into statement sizes: whole chunks, then the binary digits of the rest,
/// largest first. Yields (offset, pow).
pub(crate) fn plan(n: usize) -> impl Iterator<Item = (usize, u32)> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let left = n - offset;
        if left == 0 {
            return None;
        }
        let pow = if left >= CHUNK {
            LOG_CHUNK
        } else {
            usize::BITS - 1 - left.leading_zeros()
        };
        let at = offset;
        offset += 1 << pow;
        Some((at, pow))
    })
}

pub(crate) static INSERT_RESULTS: MultiInsert = MultiInsert::new(
    "INSERT INTO results (check_id, started_ms, status, message, total_us, body) VALUES",
    6,
    "",
);

pub(crate) static UPSERT_STATES: MultiInsert = MultiInsert::new(
    "INSERT INTO check_state (check_id, state, updated_ms) VALUES",
    3,
    " ON CONFLICT (check_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms",
);

pub(crate) static INSERT_CHANGES: MultiInsert = MultiInsert::new(
    "INSERT INTO state_changes (check_id, at_ms, from_status, to_status, hard, kind, message) \
     VALUES",
    7,
    "",
);

/// The statements of one rollup table (`rollups_minute`, `rollups_hour`, `rollups_day`: the
/// same columns, `minute_ms` the start of the period). The upsert merges with an existing row
/// for the same period; see `merge_rollups` for the rule. In an `UPDATE … SET`, every
/// right-hand side sees the old row, on both backends.
macro_rules! rollup_statements {
    ($upsert:ident, $select:ident, $select_all:ident, $gc:ident, $t:literal) => {
        pub(crate) static $upsert: MultiInsert = MultiInsert::new(
            concat!(
                "INSERT INTO ",
                $t,
                " (check_id, minute_ms, count, ok, p50_us, p95_us, max_us) VALUES"
            ),
            7,
            concat!(
                " ON CONFLICT (check_id, minute_ms) DO UPDATE SET ",
                "p50_us = (",
                $t,
                ".p50_us * ",
                $t,
                ".count + excluded.p50_us * excluded.count) ",
                "/ CASE WHEN ",
                $t,
                ".count + excluded.count = 0 THEN 1 ",
                "ELSE ",
                $t,
                ".count + excluded.count END, ",
                "p95_us = (",
                $t,
                ".p95_us * ",
                $t,
                ".count + excluded.p95_us * excluded.count) ",
                "/ CASE WHEN ",
                $t,
                ".count + excluded.count = 0 THEN 1 ",
                "ELSE ",
                $t,
                ".count + excluded.count END, ",
                "max_us = CASE WHEN excluded.max_us > ",
                $t,
                ".max_us THEN excluded.max_us ",
                "ELSE ",
                $t,
                ".max_us END, ",
                "count = ",
                $t,
                ".count + excluded.count, ",
                "ok = ",
                $t,
                ".ok + excluded.ok"
            ),
        );

        /// One check's rows for periods starting in `[$2, $3)`, oldest first.
        pub(crate) const $select: &str = concat!(
            "SELECT minute_ms, count, ok, p50_us, p95_us, max_us FROM ",
            $t,
            " WHERE check_id = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms"
        );

        /// Every check's rows from `$1` on.
        pub(crate) const $select_all: &str = concat!(
            "SELECT check_id, minute_ms, count, ok, p50_us, p95_us, max_us FROM ",
            $t,
            " WHERE minute_ms >= $1"
        );

        /// Deletes up to `$2` rows older than `$1`.
        pub(crate) const $gc: &str = concat!(
            "DELETE FROM ",
            $t,
            " WHERE (check_id, minute_ms) IN (",
            "SELECT check_id, minute_ms FROM ",
            $t,
            " WHERE minute_ms < $1 LIMIT $2)"
        );
    };
}

rollup_statements!(
    UPSERT_ROLLUPS,
    SELECT_ROLLUPS,
    SELECT_ALL_ROLLUPS_MINUTE,
    GC_ROLLUPS,
    "rollups_minute"
);
rollup_statements!(
    UPSERT_ROLLUPS_HOUR,
    SELECT_ROLLUPS_HOUR,
    SELECT_ALL_ROLLUPS_HOUR,
    GC_ROLLUPS_HOUR,
    "rollups_hour"
);
rollup_statements!(
    UPSERT_ROLLUPS_DAY,
    SELECT_ROLLUPS_DAY,
    SELECT_ALL_ROLLUPS_DAY,
    GC_ROLLUPS_DAY,
    "rollups_day"
);

pub(crate) const SELECT_STATES: &str = "SELECT check_id, state FROM check_state ORDER BY check_id";

pub(crate) const DELETE_STATE: &str = "DELETE FROM check_state WHERE check_id = $1";

/// The latest result of every check: a loose index scan over the distinct check ids (a
/// recursive CTE, cheap on both backends however many results there are), then one index probe
/// per check.
pub(crate) const SELECT_LAST_RESULTS: &str = "\
WITH RECURSIVE ids(check_id) AS (
    SELECT (SELECT check_id FROM results ORDER BY check_id LIMIT 1)
    UNION ALL
    SELECT (SELECT r.check_id FROM results r WHERE r.check_id > ids.check_id
            ORDER BY r.check_id LIMIT 1)
    FROM ids WHERE ids.check_id IS NOT NULL
)
SELECT r.check_id, r.started_ms, r.status, r.message, r.total_us, r.body
FROM results r
WHERE r.id IN (
    SELECT (SELECT r2.id FROM results r2 WHERE r2.check_id = ids.check_id
            ORDER BY r2.started_ms DESC, r2.id DESC LIMIT 1)
    FROM ids WHERE ids.check_id IS NOT NULL)
ORDER BY r.check_id";

pub(crate) const SELECT_RESULTS: &str = "\
SELECT check_id, started_ms, status, message, total_us, body FROM results
WHERE check_id = $1 AND started_ms < $2
ORDER BY started_ms DESC, id DESC LIMIT $3";

pub(crate) const SELECT_CHANGES: &str = "\
SELECT check_id, at_ms, from_status, to_status, hard, kind, message FROM state_changes
WHERE check_id = $1
ORDER BY at_ms DESC, id DESC LIMIT $2";

pub(crate) const GC_RESULTS: &str = "\
DELETE FROM results WHERE id IN (SELECT id FROM results WHERE started_ms < $1 LIMIT $2)";

pub(crate) const GC_CHANGES: &str = "\
DELETE FROM state_changes WHERE id IN (SELECT id FROM state_changes WHERE at_ms < $1 LIMIT $2)";

// Alarms (see `alarms.rs`).

/// Hands out the next alarm id of a tenant (1 for its first alarm).
pub(crate) const NEXT_ALARM_ID: &str = "\
INSERT INTO alarm_ids (tenant, last_id) VALUES ($1, 1)
ON CONFLICT (tenant) DO UPDATE SET last_id = alarm_ids.last_id + 1
RETURNING last_id";

/// Raises a tenant's counter to an id saved with an alarm, so that an id the store did not hand
/// out (an import) is never handed out later.
pub(crate) const RESERVE_ALARM_ID: &str = "\
INSERT INTO alarm_ids (tenant, last_id) VALUES ($1, $2)
ON CONFLICT (tenant) DO UPDATE SET last_id = excluded.last_id
WHERE excluded.last_id > alarm_ids.last_id";

pub(crate) const UPSERT_ALARM: &str = "\
INSERT INTO alarms (tenant, id, key, open, opened_ms, closed_ms, updated_ms, body)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (tenant, id) DO UPDATE SET key = excluded.key, open = excluded.open,
    opened_ms = excluded.opened_ms, closed_ms = excluded.closed_ms,
    updated_ms = excluded.updated_ms, body = excluded.body";

pub(crate) const INSERT_ALARM_EVENT: &str = "\
INSERT INTO alarm_events (tenant, alarm_id, seq, at_ms, kind, body)
VALUES ($1, $2, $3, $4, $5, $6)";

/// The columns of an alarm row, in the order `alarms.rs` decodes them.
macro_rules! select_alarms {
    () => {
        "SELECT tenant, id, key, open, opened_ms, closed_ms, updated_ms, body FROM alarms\n"
    };
}

pub(crate) const SELECT_ALARM: &str = concat!(select_alarms!(), "WHERE tenant = $1 AND id = $2");

pub(crate) const SELECT_OPEN_ALARMS: &str =
    concat!(select_alarms!(), "WHERE open = 1 ORDER BY tenant, id");

pub(crate) const SELECT_OPEN_ALARM_OF_KEY: &str = concat!(
    select_alarms!(),
    "WHERE tenant = $1 AND key = $2 AND open = 1 ORDER BY id DESC LIMIT 1"
);

/// `$1` the tenant, or NULL for all; `$2` 1 open, 0 closed, -1 both; `($3, $4, $5)` the cursor
/// `(opened_ms, tenant, id)` to page before; `$6` the limit.
pub(crate) const SELECT_ALARMS: &str = concat!(
    select_alarms!(),
    "\
WHERE ($1 IS NULL OR tenant = $1) AND ($2 < 0 OR open = $2)
  AND (opened_ms < $3 OR (opened_ms = $3 AND (tenant < $4 OR (tenant = $4 AND id < $5))))
ORDER BY opened_ms DESC, tenant DESC, id DESC LIMIT $6"
);

pub(crate) const SELECT_ALARM_EVENTS: &str = "\
SELECT seq, at_ms, kind, body FROM alarm_events
WHERE tenant = $1 AND alarm_id = $2 ORDER BY seq";

/// Deletes a chunk of alarms closed before `$1`; returns their keys so their events go too.
pub(crate) const GC_ALARMS: &str = "\
DELETE FROM alarms WHERE (tenant, id) IN (
    SELECT tenant, id FROM alarms WHERE open = 0 AND closed_ms < $1 LIMIT $2)
RETURNING tenant, id";

pub(crate) const GC_ALARM_EVENTS: &str =
    "DELETE FROM alarm_events WHERE tenant = $1 AND alarm_id = $2";

// The outbox (see `outbox.rs`).

/// A second delivery with the same idempotency key is ignored.
pub(crate) const INSERT_DELIVERY: &str = "\
INSERT INTO outbox (idempotency_key, tenant, alarm_id, contact, channel, payload, created_ms,
                    attempts, next_attempt_ms, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $7, 'pending')
ON CONFLICT (idempotency_key) DO NOTHING";

/// The columns of an outbox row, in the order `outbox.rs` decodes them.
macro_rules! select_deliveries {
    () => {
        "\
SELECT id, idempotency_key, tenant, alarm_id, contact, channel, payload, created_ms, attempts,
       next_attempt_ms, last_attempt_ms, last_error, status, delivered_ms, dead_ms
FROM outbox
"
    };
}

pub(crate) const SELECT_DUE: &str = concat!(
    select_deliveries!(),
    "WHERE status = 'pending' AND next_attempt_ms <= $1
ORDER BY next_attempt_ms, id LIMIT $2"
);

pub(crate) const SELECT_DELIVERY: &str = concat!(select_deliveries!(), "WHERE id = $1");

pub(crate) const SELECT_ALARM_DELIVERIES: &str = concat!(
    select_deliveries!(),
    "WHERE tenant = $1 AND alarm_id = $2 ORDER BY id"
);

pub(crate) const SELECT_DEAD: &str = concat!(
    select_deliveries!(),
    "WHERE status = 'dead' ORDER BY dead_ms DESC, id DESC LIMIT $1"
);

pub(crate) const MARK_DELIVERED: &str = "\
UPDATE outbox SET status = 'delivered', delivered_ms = $2, last_attempt_ms = $2,
    attempts = attempts + 1
WHERE id = $1 AND status = 'pending'";

pub(crate) const MARK_FAILED: &str = "\
UPDATE outbox SET attempts = attempts + 1, last_attempt_ms = $2, last_error = $3,
    next_attempt_ms = $4
WHERE id = $1 AND status = 'pending'";

pub(crate) const POSTPONE: &str = "\
UPDATE outbox SET next_attempt_ms = $2 WHERE id = $1 AND status = 'pending'";

pub(crate) const MARK_DEAD: &str = "\
UPDATE outbox SET status = 'dead', dead_ms = $2, last_attempt_ms = $2, last_error = $3,
    attempts = attempts + 1
WHERE id = $1 AND status = 'pending'";

pub(crate) const OUTBOX_COUNTS: &str = "SELECT status, COUNT(*) FROM outbox GROUP BY status";

pub(crate) const GC_DELIVERED: &str = "\
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE status = 'delivered' AND delivered_ms < $1 LIMIT $2)";

pub(crate) const GC_DEAD: &str = "\
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE status = 'dead' AND dead_ms < $1 LIMIT $2)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_row_once() {
        for n in [0, 1, 2, 3, 255, 256, 257, 300, 1000, 1024, 5000] {
            let mut next = 0;
            let mut pieces = 0;
            for (at, pow) in plan(n) {
                assert_eq!(at, next, "n={n}");
                assert!(pow <= LOG_CHUNK);
                next += 1 << pow;
                pieces += 1;
            }
            assert_eq!(next, n);
            assert!(pieces <= n / CHUNK + LOG_CHUNK as usize + 1);
        }
    }

    #[test]
    fn selects_share_their_column_lists() {
        assert_eq!(
            SELECT_ALARM,
            "SELECT tenant, id, key, open, opened_ms, closed_ms, updated_ms, body FROM alarms\n\
             WHERE tenant = $1 AND id = $2"
        );
        assert_eq!(
            SELECT_DELIVERY,
            "SELECT id, idempotency_key, tenant, alarm_id, contact, channel, payload, created_ms, \
             attempts,\n       next_attempt_ms, last_attempt_ms, last_error, status, \
             delivered_ms, dead_ms\nFROM outbox\nWHERE id = $1"
        );
    }

    #[test]
    fn multi_insert_numbers_placeholders() {
        assert_eq!(
            &*UPSERT_STATES.sql(Backend::Postgres, 1),
            "INSERT INTO check_state (check_id, state, updated_ms) VALUES ($1, $2, $3), \
             ($4, $5, $6) ON CONFLICT (check_id) DO UPDATE SET state = excluded.state, \
             updated_ms = excluded.updated_ms"
        );
        let big = INSERT_RESULTS.sql(Backend::Postgres, LOG_CHUNK);
        assert!(big.ends_with(&format!("${})", CHUNK * 6)));
        assert_eq!(
            &*INSERT_CHANGES.sql(Backend::Sqlite, 1),
            "INSERT INTO state_changes (check_id, at_ms, from_status, to_status, hard, kind, \
             message) VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"
        );
    }
}
