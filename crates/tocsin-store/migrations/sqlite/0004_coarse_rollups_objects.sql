-- Tocsin store: hourly and daily rollups (for uptime figures, sparklines and 90-day bars
-- without reading every minute), objects created through the API, and tenants.
-- The same text for SQLite and PostgreSQL. Times are Unix milliseconds, JSON is TEXT.

-- Same columns and merge rule as rollups_minute; `minute_ms` is the start of the hour or day.
CREATE TABLE rollups_hour (
    check_id  TEXT   NOT NULL,
    minute_ms BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    ok        BIGINT NOT NULL,
    p50_us    BIGINT NOT NULL,
    p95_us    BIGINT NOT NULL,
    max_us    BIGINT NOT NULL,
    PRIMARY KEY (check_id, minute_ms)
);
CREATE INDEX rollups_hour_minute ON rollups_hour (minute_ms);

CREATE TABLE rollups_day (
    check_id  TEXT   NOT NULL,
    minute_ms BIGINT NOT NULL,
    count     BIGINT NOT NULL,
    ok        BIGINT NOT NULL,
    p50_us    BIGINT NOT NULL,
    p95_us    BIGINT NOT NULL,
    max_us    BIGINT NOT NULL,
    PRIMARY KEY (check_id, minute_ms)
);
CREATE INDEX rollups_day_minute ON rollups_day (minute_ms);

-- Checks, contacts, contact groups and groups created through the API. `body` is the object
-- as a configuration file would write it (JSON); `version` grows by one on every change and
-- is the object's ETag.
CREATE TABLE api_objects (
    kind       TEXT   NOT NULL,
    id         TEXT   NOT NULL,
    tenant     TEXT   NOT NULL DEFAULT '',
    version    BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    body       TEXT   NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX api_objects_tenant ON api_objects (tenant, kind, id);

-- Tenants, created by the operator.
CREATE TABLE tenants (
    id         TEXT   NOT NULL PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_ms BIGINT NOT NULL
);
