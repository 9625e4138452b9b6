//! [`Store`]: opening a database by URL (pools, SQLite pragmas, migrations) and every query,
//! written once for both backends.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sqlx::any::{Any, AnyArguments, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use tocsin_core::{CheckResult, Metric, Status, Timings};

use crate::sql::{self, MultiInsert};
use crate::{Backend, Retention, Rollup, StateChange, StoreError, Write, url};

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Read connections on SQLite (WAL readers never block the writer or each other).
const SQLITE_READERS: u32 = 4;
/// Connections on PostgreSQL.
const POSTGRES_CONNECTIONS: u32 = 10;
/// Rows deleted per statement by the garbage collector.
pub(crate) const GC_CHUNK: i64 = 5_000;

/// The database: a pool for reads and, on SQLite, a separate single-connection pool for writes
/// (SQLite has one writer at a time; one connection makes that explicit instead of contended).
/// Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    pub(crate) backend: Backend,
    /// The URL with any password redacted.
    url: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .finish()
    }
}

/// The JSON kept in `results.body`: everything of a result that has no column of its own.
#[derive(Serialize)]
struct BodyOut<'a> {
    timings: &'a Timings,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    metrics: &'a [Metric],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extracted: &'a BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cert_not_after: Option<i64>,
}

#[derive(Deserialize)]
struct BodyIn {
    #[serde(default)]
    timings: Timings,
    #[serde(default)]
    metrics: Vec<MetricIn>,
    #[serde(default)]
    extracted: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    cert_not_after: Option<i64>,
}

/// A stored metric. JSON has no NaN or infinity (serde_json writes them as `null`), so a `null`
/// value reads back as NaN instead of failing the whole row.
#[derive(Deserialize)]
struct MetricIn {
    name: String,
    value: Option<f64>,
    #[serde(default)]
    unit: String,
}

/// The current time, Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn status_of(code: i64) -> Status {
    Status::from_code(code)
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the database at `url` and brings its schema up to date.
    ///
    /// URLs: `sqlite:///abs/path/tocsin.db`, `sqlite://relative.db`, `sqlite::memory:`,
    /// `postgres://user@host/db` (or `postgresql://`). An SQLite file is created if missing and
    /// runs in WAL mode with `synchronous=NORMAL` and a busy timeout, with one writer connection.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = url::backend_of(url)?;
        let redacted: Arc<str> = url::redact(url).into();
        let connect_err = |source| StoreError::Connect {
            url: redacted.to_string(),
            source,
        };

        let (read, write) = match backend {
            Backend::Sqlite if url::sqlite_is_memory(url) => {
                // One connection holds an in-memory database alive; it must never be closed.
                let pool = sqlite_pool_options(1, true)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect(url)
                    .await
                    .map_err(connect_err)?;
                (pool.clone(), pool)
            }
            Backend::Sqlite => {
                let url = url::sqlite_create_if_missing(url);
                let write = sqlite_pool_options(1, true)
                    .acquire_timeout(Duration::from_secs(120))
                    .connect(&url)
                    .await
                    .map_err(connect_err)?;
                // Migrate before the readers connect, so they see the schema.
                run_migrations(&write, backend, &redacted).await?;
                let read = sqlite_pool_options(SQLITE_READERS, false)
                    .connect(&url)
                    .await
                    .map_err(connect_err)?;
                let store = Store {
                    read,
                    write,
                    backend,
                    url: Arc::clone(&redacted),
                };
                tracing::debug!(backend = %backend, url = %redacted, "store opened");
                return Ok(store);
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(POSTGRES_CONNECTIONS)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect(url)
                    .await
                    .map_err(connect_err)?;
                (pool.clone(), pool)
            }
        };
        run_migrations(&write, backend, &redacted).await?;
        tracing::debug!(backend = %backend, url = %redacted, "store opened");
        Ok(Store {
            read,
            write,
            backend,
            url: redacted,
        })
    }

    /// Creates `dir` (and its parents) if needed and opens the SQLite file `dir/tocsin.db`.
    pub async fn open_sqlite_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let url = url::sqlite_url_for_path(&dir.join("tocsin.db"))?;
        Self::open(&url).await
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this store was opened with, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes every connection (waiting for those in use). The store is unusable afterwards.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    pub(crate) fn err(&self, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError + use<> {
        let backend = self.backend.as_str();
        move |source| StoreError::Query {
            op,
            backend,
            source,
        }
    }

    /// Every stored check state, by check id. A state that is not valid JSON is skipped with a
    /// warning (the engine then starts that check afresh) rather than failing the restart.
    pub async fn load_states(&self) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let rows = sqlx::query(sql::SELECT_STATES)
            .fetch_all(&self.read)
            .await
            .map_err(self.err("load states"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let check: String = row.try_get(0).map_err(self.err("load states"))?;
            let text: String = row.try_get(1).map_err(self.err("load states"))?;
            match serde_json::from_str(&text) {
                Ok(state) => out.push((check, state)),
                Err(error) => {
                    tracing::warn!(check = %check, %error, "skipping a stored state that is not valid JSON");
                }
            }
        }
        Ok(out)
    }

    /// Deletes the stored state of one check (its history stays).
    pub async fn delete_state(&self, check: &str) -> Result<(), StoreError> {
        sqlx::query(sql::DELETE_STATE)
            .bind(check)
            .execute(&self.write)
            .await
            .map_err(self.err("delete state"))?;
        Ok(())
    }

    /// The latest result of every check that has one, by check id (for a restart). A result whose
    /// body cannot be decoded is skipped with a warning.
    pub async fn last_results(&self) -> Result<Vec<(String, CheckResult)>, StoreError> {
        let rows = sqlx::query(sql::SELECT_LAST_RESULTS)
            .fetch_all(&self.read)
            .await
            .map_err(self.err("load last results"))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            match self.decode_result(row, "load last results") {
                Ok(pair) => out.push(pair),
                Err(StoreError::Decode { check, source, .. }) => {
                    tracing::warn!(check = %check, error = %source, "skipping a stored result that cannot be decoded");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Up to `limit` results of `check`, newest first; with `before_ms`, only those that started
    /// strictly before it (to page: pass the `started_at_ms` of the last one you got).
    pub async fn results(
        &self,
        check: &str,
        before_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CheckResult>, StoreError> {
        let rows = sqlx::query(sql::SELECT_RESULTS)
            .bind(check)
            .bind(before_ms.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(self.err("read results"))?;
        rows.iter()
            .map(|row| self.decode_result(row, "read results").map(|(_, r)| r))
            .collect()
    }

    fn decode_result(
        &self,
        row: &AnyRow,
        op: &'static str,
    ) -> Result<(String, CheckResult), StoreError> {
        let e = || self.err(op);
        let check: String = row.try_get(0).map_err(e())?;
        let started_at_ms: i64 = row.try_get(1).map_err(e())?;
        let status: i64 = row.try_get(2).map_err(e())?;
        let message: String = row.try_get(3).map_err(e())?;
        let total_us: i64 = row.try_get(4).map_err(e())?;
        let body: String = row.try_get(5).map_err(e())?;
        let body: BodyIn = match serde_json::from_str(&body) {
            Ok(b) => b,
            Err(source) => {
                return Err(StoreError::Decode {
                    what: "result body",
                    check,
                    source,
                });
            }
        };
        let mut timings = body.timings;
        timings.total_us = to_u64(total_us);
        let result = CheckResult {
            status: status_of(status),
            message,
            started_at_ms,
            timings,
            metrics: body
                .metrics
                .into_iter()
                .map(|m| Metric {
                    name: m.name,
                    value: m.value.unwrap_or(f64::NAN),
                    unit: m.unit,
                })
                .collect(),
            extracted: body.extracted,
            cert_not_after: body.cert_not_after,
        };
        Ok((check, result))
    }

    /// Up to `limit` state changes of `check`, newest first.
    pub async fn state_changes(
        &self,
        check: &str,
        limit: u32,
    ) -> Result<Vec<StateChange>, StoreError> {
        let op = "read state changes";
        let rows = sqlx::query(sql::SELECT_CHANGES)
            .bind(check)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|row| {
                Ok(StateChange {
                    check: row.try_get(0)?,
                    at_ms: row.try_get(1)?,
                    from: status_of(row.try_get(2)?),
                    to: status_of(row.try_get(3)?),
                    hard: row.try_get::<i64, _>(4)? != 0,
                    kind: row.try_get(5)?,
                    message: row.try_get(6)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err(op))
    }

    /// The per-minute rollups of `check` for minutes in `[from_ms, to_ms)`, oldest first.
    pub async fn rollups(
        &self,
        check: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>, StoreError> {
        self.rollups_in(Grain::Minute, check, from_ms, to_ms).await
    }

    /// Every check's rollups of `grain` from `from_ms` on (`minute_ms` is the start of the
    /// minute, hour or day), in no particular order.
    pub async fn rollups_all(
        &self,
        grain: Grain,
        from_ms: i64,
    ) -> Result<Vec<(String, Rollup)>, StoreError> {
        let op = "read every check's rollups";
        let stmt = match grain {
            Grain::Minute => sql::SELECT_ALL_ROLLUPS_MINUTE,
            Grain::Hour => sql::SELECT_ALL_ROLLUPS_HOUR,
            Grain::Day => sql::SELECT_ALL_ROLLUPS_DAY,
        };
        let rows = sqlx::query(stmt)
            .bind(from_ms)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    Rollup {
                        minute_ms: row.try_get(1)?,
                        count: to_u32(row.try_get(2)?),
                        ok: to_u32(row.try_get(3)?),
                        p50_us: to_u64(row.try_get(4)?),
                        p95_us: to_u64(row.try_get(5)?),
                        max_us: to_u64(row.try_get(6)?),
                    },
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err(op))
    }

    /// The rollups of `grain` of `check` for periods starting in `[from_ms, to_ms)`, oldest
    /// first.
    pub async fn rollups_in(
        &self,
        grain: Grain,
        check: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Rollup>, StoreError> {
        let op = "read rollups";
        let stmt = match grain {
            Grain::Minute => sql::SELECT_ROLLUPS,
            Grain::Hour => sql::SELECT_ROLLUPS_HOUR,
            Grain::Day => sql::SELECT_ROLLUPS_DAY,
        };
        let rows = sqlx::query(stmt)
            .bind(check)
            .bind(from_ms)
            .bind(to_ms)
            .fetch_all(&self.read)
            .await
            .map_err(self.err(op))?;
        rows.iter()
            .map(|row| {
                Ok(Rollup {
                    minute_ms: row.try_get(0)?,
                    count: to_u32(row.try_get(1)?),
                    ok: to_u32(row.try_get(2)?),
                    p50_us: to_u64(row.try_get(3)?),
                    p95_us: to_u64(row.try_get(4)?),
                    max_us: to_u64(row.try_get(5)?),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.err(op))
    }

    /// Writes a batch in one transaction: results and state changes are appended, states
    /// replace the stored ones (only the last state per check in the batch is written).
    pub async fn write(&self, batch: &[Write]) -> Result<(), StoreError> {
        self.write_batch(batch, &[]).await.map(drop)
    }

    /// Merges rollups into the stored ones, in one transaction (see [`crate::merge_rollups`]).
    /// The write-behind does this by itself; this is for imports and tests.
    pub async fn upsert_rollups(&self, rollups: &[(String, Rollup)]) -> Result<(), StoreError> {
        self.write_batch(&[], rollups).await.map(drop)
    }

    /// Writes a batch and rollups in one transaction; returns the rows written.
    pub(crate) async fn write_batch(
        &self,
        batch: &[Write],
        rollups: &[(String, Rollup)],
    ) -> Result<usize, StoreError> {
        let mut results = Vec::new();
        let mut changes = Vec::new();
        let mut states: Vec<(&str, &serde_json::Value)> = Vec::new();
        let mut state_index: HashMap<&str, usize> = HashMap::new();
        for w in batch {
            match w {
                Write::Result { check, result } => results.push((check.as_str(), &**result)),
                Write::Change(c) => changes.push(c),
                Write::State { check, state } => match state_index.get(check.as_str()) {
                    Some(&i) => states[i].1 = state,
                    None => {
                        state_index.insert(check, states.len());
                        states.push((check, state));
                    }
                },
            }
        }
        let rows = results.len() + changes.len() + states.len() + rollups.len();
        if rows == 0 {
            return Ok(0);
        }
        let now = now_ms();

        let mut tx = self
            .write
            .begin()
            .await
            .map_err(self.err("begin a write transaction"))?;
        insert_rows(
            &mut tx,
            self.backend,
            &sql::INSERT_RESULTS,
            &results,
            |q, (check, r)| {
                let body = BodyOut {
                    timings: &r.timings,
                    metrics: &r.metrics,
                    extracted: &r.extracted,
                    cert_not_after: r.cert_not_after,
                };
                // Serialising plain data into a String cannot fail; an empty body would still
                // read back (all fields default).
                let body = serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"));
                q.bind(*check)
                    .bind(r.started_at_ms)
                    .bind(i16::from(r.status.code()))
                    .bind(r.message.as_str())
                    .bind(to_i64(r.timings.total_us))
                    .bind(body)
            },
        )
        .await
        .map_err(self.err("insert results"))?;
        insert_rows(
            &mut tx,
            self.backend,
            &sql::UPSERT_STATES,
            &states,
            |q, (check, state)| q.bind(*check).bind(state.to_string()).bind(now),
        )
        .await
        .map_err(self.err("upsert states"))?;
        insert_rows(
            &mut tx,
            self.backend,
            &sql::INSERT_CHANGES,
            &changes,
            |q, c| {
                q.bind(c.check.as_str())
                    .bind(c.at_ms)
                    .bind(i16::from(c.from.code()))
                    .bind(i16::from(c.to.code()))
                    .bind(i16::from(c.hard))
                    .bind(c.kind.as_str())
                    .bind(c.message.as_str())
            },
        )
        .await
        .map_err(self.err("insert state changes"))?;
        let (hours, days) = if rollups.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            crate::rollup::off_the_worker(|| {
                (coarsen(rollups, Grain::Hour), coarsen(rollups, Grain::Day))
            })
        };
        for (stmt, rows, op) in [
            (&sql::UPSERT_ROLLUPS, rollups, "upsert rollups"),
            (
                &sql::UPSERT_ROLLUPS_HOUR,
                &hours[..],
                "upsert hourly rollups",
            ),
            (&sql::UPSERT_ROLLUPS_DAY, &days[..], "upsert daily rollups"),
        ] {
            insert_rows(&mut tx, self.backend, stmt, rows, |q, (check, r)| {
                q.bind(check.as_str())
                    .bind(r.minute_ms)
                    .bind(i64::from(r.count))
                    .bind(i64::from(r.ok))
                    .bind(to_i64(r.p50_us))
                    .bind(to_i64(r.p95_us))
                    .bind(to_i64(r.max_us))
            })
            .await
            .map_err(self.err(op))?;
        }
        tx.commit()
            .await
            .map_err(self.err("commit a write transaction"))?;
        Ok(rows)
    }

    /// Deletes results that started more than `keep_results` before `now_ms`, and rollups and
    /// state changes older than `keep_rollups`, and closed alarms and finished outbox rows after
    /// the default [`Retention`]; see [`Store::collect_garbage_with`].
    pub async fn collect_garbage(
        &self,
        now_ms: i64,
        keep_results: Duration,
        keep_rollups: Duration,
    ) -> Result<u64, StoreError> {
        let retention = Retention {
            keep_results,
            keep_rollups,
            ..Retention::default()
        };
        self.collect_garbage_with(now_ms, &retention).await
    }

    /// Runs a chunked delete (`stmt` binds the cutoff, then [`GC_CHUNK`]) until a chunk comes
    /// back short; returns the rows deleted. Queued writes may take the connection between
    /// chunks.
    pub(crate) async fn delete_chunked(
        &self,
        stmt: &'static str,
        cutoff: i64,
        op: &'static str,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let done = sqlx::query(stmt)
                .bind(cutoff)
                .bind(GC_CHUNK)
                .execute(&self.write)
                .await
                .map_err(self.err(op))?
                .rows_affected();
            deleted += done;
            if done < GC_CHUNK.unsigned_abs() {
                return Ok(deleted);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Deletes what `retention` drops as of `now_ms`: results, rollups and state changes older
    /// than their keep, alarms closed longer than `keep_closed_alarms` ago (with their events),
    /// outbox rows delivered longer than `keep_delivered` ago and dead letters older than
    /// `keep_dead`. A few thousand rows per statement, so that no statement holds SQLite's write
    /// lock for long. Open alarms and pending deliveries are never deleted. Returns the number of
    /// rows deleted.
    pub async fn collect_garbage_with(
        &self,
        now_ms: i64,
        retention: &Retention,
    ) -> Result<u64, StoreError> {
        let cutoff_of = |keep| now_ms.saturating_sub(duration_ms(keep));
        let results_cutoff = cutoff_of(retention.keep_results);
        let rollups_cutoff = cutoff_of(retention.keep_rollups);
        let mut deleted = 0;
        for (stmt, cutoff, op) in [
            (sql::GC_RESULTS, results_cutoff, "delete old results"),
            (sql::GC_CHANGES, rollups_cutoff, "delete old state changes"),
            (sql::GC_ROLLUPS, rollups_cutoff, "delete old rollups"),
            (
                sql::GC_ROLLUPS_HOUR,
                rollups_cutoff,
                "delete old hourly rollups",
            ),
            (
                sql::GC_ROLLUPS_DAY,
                rollups_cutoff,
                "delete old daily rollups",
            ),
        ] {
            deleted += self.delete_chunked(stmt, cutoff, op).await?;
        }
        deleted += self
            .collect_alarms(cutoff_of(retention.keep_closed_alarms))
            .await?;
        deleted += self
            .collect_outbox(
                cutoff_of(retention.keep_delivered),
                cutoff_of(retention.keep_dead),
            )
            .await?;
        Ok(deleted)
    }
}

/// Set on every SQLite connection. `busy_timeout` is how long to wait for a lock held by
/// another process (a CLI, a backup) before failing.
const SQLITE_PRAGMAS: &[&str] = &["PRAGMA busy_timeout = 10000", "PRAGMA synchronous = NORMAL"];

/// Set on the writer connection as well. `journal_mode` is persistent in the file (a no-op once
/// set). A 64 MB page cache keeps more of the indexes in memory (index inserts otherwise re-read
/// pages from the OS). Checkpointing every 10 000 WAL pages (about 40 MB) instead of 1 000 writes
/// a page that several transactions changed once instead of several times (checkpoints were 30%
/// of the writer's time at 1 000). Statement journals of multi-row statements stay in memory.
const SQLITE_WRITER_PRAGMAS: &[&str] = &[
    "PRAGMA journal_mode = WAL",
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 10000",
    "PRAGMA temp_store = MEMORY",
];

fn sqlite_pool_options(max: u32, writer: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                let extra = if writer { SQLITE_WRITER_PRAGMAS } else { &[] };
                for &pragma in extra.iter().chain(SQLITE_PRAGMAS) {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                // The connection's thread exists now: give it the store's priority.
                crate::priority::lower_sqlite_threads();
                Ok(())
            })
        })
}

async fn run_migrations(pool: &AnyPool, backend: Backend, url: &str) -> Result<(), StoreError> {
    let migrator = match backend {
        Backend::Sqlite => &SQLITE_MIGRATOR,
        Backend::Postgres => &POSTGRES_MIGRATOR,
    };
    migrator
        .run(pool)
        .await
        .map_err(|source| StoreError::Migrate {
            url: url.to_owned(),
            source,
        })
}

/// Inserts `rows` with as few multi-row statements as the plan allows.
async fn insert_rows<'r, T>(
    conn: &mut AnyConnection,
    backend: Backend,
    stmt: &MultiInsert,
    rows: &'r [T],
    bind: impl for<'q> Fn(Query<'q>, &'r T) -> Query<'q>,
) -> Result<(), sqlx::Error> {
    for (at, pow) in sql::plan(rows.len()) {
        let n = 1usize << pow;
        let mut q = sqlx::query(AssertSqlSafe(stmt.sql(backend, pow)));
        for row in &rows[at..at + n] {
            q = bind(q, row);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The period of a rollup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grain {
    /// One minute (`rollups_minute`).
    Minute,
    /// One hour (`rollups_hour`).
    Hour,
    /// One day, UTC (`rollups_day`).
    Day,
}

impl Grain {
    /// The period in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
        }
    }
}

/// Minute rollups merged into rollups of a coarser `grain` (one per check and period), so
/// that each batch adds its share to the hour and day rows in the same transaction.
fn coarsen(rollups: &[(String, Rollup)], grain: Grain) -> Vec<(String, Rollup)> {
    let mut out: Vec<(String, Rollup)> = Vec::new();
    let mut index: HashMap<(&str, i64), usize> = HashMap::new();
    for (check, r) in rollups {
        let start = r.minute_ms - r.minute_ms.rem_euclid(grain.ms());
        match index.get(&(check.as_str(), start)) {
            Some(&i) => out[i].1 = crate::merge_rollups(&out[i].1, r),
            None => {
                index.insert((check.as_str(), start), out.len());
                out.push((
                    check.clone(),
                    Rollup {
                        minute_ms: start,
                        ..*r
                    },
                ));
            }
        }
    }
    out
}
