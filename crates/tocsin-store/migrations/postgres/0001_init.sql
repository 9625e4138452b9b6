-- Tocsin store, PostgreSQL dialect. Keep in lock-step with migrations/sqlite/0001_init.sql:
-- same tables, same columns, same names; only the type spellings differ.
-- Times are Unix milliseconds (BIGINT), JSON is TEXT, statuses are Nagios codes 0..3.

-- The state engine's per-check state, one row per check, as opaque JSON.
CREATE TABLE check_state (
    check_id   TEXT   NOT NULL PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Raw results, kept for the results retention period.
CREATE TABLE results (
    id         BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id   TEXT     NOT NULL,
    started_ms BIGINT   NOT NULL,
    status     SMALLINT NOT NULL,
    message    TEXT     NOT NULL,
    total_us   BIGINT   NOT NULL,
    body       TEXT     NOT NULL
);
CREATE INDEX results_check_started ON results (check_id, started_ms DESC, id DESC);
CREATE INDEX results_started ON results (started_ms);

-- Per-check, per-minute rollups, kept for the rollups retention period.
CREATE TABLE rollups_minute (
    check_id  TEXT   NOT NULL,
    minute_ms BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    ok        BIGINT NOT NULL,
    p50_us    BIGINT NOT NULL,
    p95_us    BIGINT NOT NULL,
    max_us    BIGINT NOT NULL,
    PRIMARY KEY (check_id, minute_ms)
);
CREATE INDEX rollups_minute_minute ON rollups_minute (minute_ms);

-- State changes (soft/hard transitions, recoveries, flapping), kept like rollups.
CREATE TABLE state_changes (
    id          BIGINT   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    check_id    TEXT     NOT NULL,
    at_ms       BIGINT   NOT NULL,
    from_status SMALLINT NOT NULL,
    to_status   SMALLINT NOT NULL,
    hard        SMALLINT NOT NULL,
    kind        TEXT     NOT NULL,
    message     TEXT     NOT NULL
);
CREATE INDEX state_changes_check_at ON state_changes (check_id, at_ms DESC, id DESC);
CREATE INDEX state_changes_at ON state_changes (at_ms);
