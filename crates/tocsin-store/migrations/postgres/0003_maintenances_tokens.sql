-- Tocsin store: maintenances created at run time (API, `tocsin ctl`) and API tokens.
-- The same text for SQLite and PostgreSQL. Times are Unix milliseconds, JSON is TEXT.

-- One-off maintenance windows created through the API or `tocsin ctl` (those written in
-- configuration files live in the files). `body` holds the scope and the note; `ended_ms` is
-- set when someone ends the window early.
CREATE TABLE maintenances (
    tenant     TEXT   NOT NULL DEFAULT '',
    id         TEXT   NOT NULL,
    starts_ms  BIGINT NOT NULL,
    ends_ms    BIGINT NOT NULL,
    ended_ms   BIGINT,
    created_ms BIGINT NOT NULL,
    body       TEXT   NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX maintenances_ends ON maintenances (ends_ms);

-- API bearer tokens. Only a SHA-256 hash of each token is kept; `id` is the token's public
-- prefix, shown in listings and logs.
CREATE TABLE api_tokens (
    id           TEXT   NOT NULL PRIMARY KEY,
    tenant       TEXT   NOT NULL DEFAULT '',
    name         TEXT   NOT NULL,
    role         TEXT   NOT NULL,
    hash         TEXT   NOT NULL UNIQUE,
    created_ms   BIGINT NOT NULL,
    last_used_ms BIGINT,
    revoked_ms   BIGINT
);
