-- Tocsin store, SQLite dialect: alarms, their timelines, and the notification outbox.
-- Keep in lock-step with migrations/postgres/0002_alarms_outbox.sql: same tables, same columns,
-- same names; only the type spellings differ. Times are Unix milliseconds, JSON is TEXT,
-- booleans are 0/1.

-- The last alarm id handed out per tenant. Alarm ids are short, increase per tenant and are
-- never reused, even after retention has deleted the alarms that had them.
CREATE TABLE alarm_ids (
    tenant  TEXT   NOT NULL PRIMARY KEY,
    last_id BIGINT NOT NULL
);

-- Alarms (incidents), per check (`key` = `check:web`) or per group (`group:shop`). The alarm
-- itself is opaque JSON in `body`; the columns are what queries need.
CREATE TABLE alarms (
    tenant     TEXT    NOT NULL DEFAULT '',
    id         BIGINT  NOT NULL,
    key        TEXT    NOT NULL,
    open       INTEGER NOT NULL,
    opened_ms  BIGINT  NOT NULL,
    closed_ms  BIGINT,
    updated_ms BIGINT  NOT NULL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (tenant, id)
);
-- The open alarm of a key.
CREATE INDEX alarms_open_key ON alarms (tenant, key) WHERE open = 1;
-- Listing, newest first.
CREATE INDEX alarms_opened ON alarms (opened_ms DESC, tenant DESC, id DESC);
-- Retention of closed alarms.
CREATE INDEX alarms_closed ON alarms (closed_ms) WHERE open = 0;

-- An alarm's timeline, append-only, deleted with its alarm.
CREATE TABLE alarm_events (
    tenant   TEXT   NOT NULL,
    alarm_id BIGINT NOT NULL,
    seq      BIGINT NOT NULL,
    at_ms    BIGINT NOT NULL,
    kind     TEXT   NOT NULL,
    body     TEXT   NOT NULL,
    PRIMARY KEY (tenant, alarm_id, seq)
);

-- Notifications to deliver, written in the same transaction as the alarm change that caused
-- them. `status` is `pending`, `delivered` or `dead`.
CREATE TABLE outbox (
    id              INTEGER NOT NULL PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    tenant          TEXT    NOT NULL,
    alarm_id        BIGINT  NOT NULL,
    contact         TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_ms      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT  NOT NULL,
    last_attempt_ms BIGINT,
    last_error      TEXT,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead')),
    delivered_ms    BIGINT,
    dead_ms         BIGINT
);
CREATE INDEX outbox_due ON outbox (next_attempt_ms, id) WHERE status = 'pending';
CREATE INDEX outbox_delivered ON outbox (delivered_ms) WHERE status = 'delivered';
CREATE INDEX outbox_dead ON outbox (dead_ms DESC, id DESC) WHERE status = 'dead';
CREATE INDEX outbox_alarm ON outbox (tenant, alarm_id);
