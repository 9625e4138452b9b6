//! Conformance suite: every case runs once against SQLite (a file in a temp dir) and once against
//! PostgreSQL (a fresh schema per test in the database at `TOCSIN_TEST_PG`, default
//! `postgres://postgres@127.0.0.1:5432/test`). When PostgreSQL is unreachable the PostgreSQL
//! cases are skipped with a note, or fail when the `CI` environment variable is set.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe, Connection};
use tempfile::TempDir;
use tocsin_core::{CheckResult, Metric, Status, Timings};
use tocsin_store::{
    AlarmChange, AlarmEvent, AlarmFilter, AlarmRow, Backend, DeliveryStatus, NewDelivery,
    OutboxCounts, Retention, Rollup, StateChange, Store, StoreError, Write, WriteBehind,
    idempotency_key, minute_of, spawn_collector, spawn_collector_with,
};

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";

/// One test database: its URL, and what to remove afterwards.
struct Db {
    backend: Backend,
    url: String,
    _dir: Option<TempDir>,
    /// PostgreSQL: (server URL, schema to drop).
    pg: Option<(String, String)>,
}

impl Db {
    fn sqlite() -> Option<Db> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tocsin.db");
        let url = format!("sqlite://{}", path.to_str().expect("utf-8 temp path"));
        Some(Db {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
            pg: None,
        })
    }

    async fn postgres() -> Option<Db> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        sqlx::any::install_default_drivers();
        let server = std::env::var("TOCSIN_TEST_PG").unwrap_or_else(|_| DEFAULT_PG.to_owned());
        let connect = tokio::time::timeout(Duration::from_secs(5), AnyConnection::connect(&server));
        let mut conn = match connect.await {
            Ok(Ok(conn)) => conn,
            outcome => {
                let why = match outcome {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out after 5 s".to_owned(),
                };
                let server = tocsin_store::redact(&server);
                assert!(
                    std::env::var_os("CI").is_none(),
                    "PostgreSQL at {server} is unreachable ({why}); CI is set, so this fails. \
                     Start PostgreSQL or point TOCSIN_TEST_PG at one."
                );
                eprintln!("note: skipping a PostgreSQL case: {server} is unreachable ({why})");
                return None;
            }
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .subsec_nanos();
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            nanos,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create test schema");
        conn.close().await.expect("close admin connection");
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-c%20search_path%3D{schema}");
        Some(Db {
            backend: Backend::Postgres,
            url,
            _dir: None,
            pg: Some((server, schema)),
        })
    }

    async fn open(&self) -> Store {
        let store = Store::open(&self.url).await.expect("open store");
        assert_eq!(store.backend(), self.backend);
        store
    }

    async fn cleanup(&self) {
        if let Some((server, schema)) = &self.pg {
            let mut conn = AnyConnection::connect(server)
                .await
                .expect("admin connection");
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&mut conn)
                .await
                .expect("drop test schema");
            conn.close().await.expect("close admin connection");
        }
    }
}

/// Runs one case on one database (if it is available), then cleans up even if the case panicked.
async fn run<Fut>(db: Option<Db>, case: fn(Arc<Db>) -> Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = db else { return };
    let db = Arc::new(db);
    let outcome = tokio::spawn(case(Arc::clone(&db))).await;
    db.cleanup().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::run(crate::Db::sqlite(), crate::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    crate::run(crate::Db::postgres().await, crate::$case).await;
                }
            )*
        }
    };
}

conformance!(
    migrations_are_idempotent,
    results_round_trip,
    results_newest_first_and_paging,
    last_results_per_check,
    states_upsert_load_and_delete,
    state_changes_newest_first,
    rollups_through_write_behind,
    retention_deletes_only_old_rows,
    write_behind_close_is_durable,
    write_behind_coalesces_states,
    write_behind_after_close,
    write_behind_closes_old_minutes_by_itself,
    collector_runs_periodically,
    alarm_ids_are_short_increasing_and_never_reused,
    alarm_change_is_all_or_nothing,
    alarms_round_trip_and_list,
    outbox_ignores_a_repeated_idempotency_key,
    due_deliveries_oldest_first,
    outbox_transitions_and_counts,
    alarm_and_outbox_retention,
    collector_collects_alarms_and_outbox,
    outbox_survives_a_restart,
);

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms fit")
}

fn result(at: i64, status: Status, total_us: u64, message: &str) -> CheckResult {
    let mut r = CheckResult::new(status, message, at);
    r.timings.total_us = total_us;
    r
}

fn wr(check: &str, r: CheckResult) -> Write {
    Write::Result {
        check: check.to_owned(),
        result: r.into(),
    }
}

fn full_result() -> CheckResult {
    let mut extracted = BTreeMap::new();
    extracted.insert("version".to_owned(), json!("1.2.3"));
    extracted.insert(
        "nested".to_owned(),
        json!({"a": [1, 2.5, null, true], "b": "x\"y"}),
    );
    CheckResult {
        status: Status::Warning,
        message: "slow: 812 ms > 500 ms — ünïcode ✓".to_owned(),
        started_at_ms: 1_700_000_123_456,
        timings: Timings {
            dns_us: Some(1_200),
            connect_us: Some(3_400),
            tls_us: Some(15_000),
            first_byte_us: Some(790_000),
            total_us: 812_345,
        },
        metrics: vec![
            Metric {
                name: "response_time".to_owned(),
                value: 0.812_345,
                unit: "s".to_owned(),
            },
            Metric {
                name: "bytes".to_owned(),
                value: 1_048_576.0,
                unit: "bytes".to_owned(),
            },
            Metric {
                name: "ratio".to_owned(),
                value: -0.5,
                unit: String::new(),
            },
        ],
        extracted,
        cert_not_after: Some(1_790_000_000),
    }
}

async fn migrations_are_idempotent(db: Arc<Db>) {
    let store = db.open().await;
    store
        .write(&[wr("a", result(1_000, Status::Ok, 5, "ok"))])
        .await
        .unwrap();
    store.close().await;
    // Opening again re-runs the migrator: nothing to apply, data intact.
    let store = db.open().await;
    let store2 = db.open().await;
    assert_eq!(store.results("a", None, 10).await.unwrap().len(), 1);
    assert_eq!(store2.results("a", None, 10).await.unwrap().len(), 1);
    store.close().await;
    store2.close().await;
}

async fn results_round_trip(db: Arc<Db>) {
    let store = db.open().await;
    let full = full_result();
    let bare = result(1_700_000_000_000, Status::Critical, 0, "connection refused");
    let unknown = result(
        1_600_000_000_000,
        Status::Unknown,
        u64::from(u32::MAX) * 4,
        "",
    );
    let mut nan = result(1_500_000_000_000, Status::Ok, 1, "nan");
    nan.metrics.push(Metric {
        name: "x".to_owned(),
        value: f64::NAN,
        unit: String::new(),
    });
    store
        .write(&[
            wr("web", full.clone()),
            wr("web", bare.clone()),
            wr("web", unknown.clone()),
            wr("web", nan.clone()),
        ])
        .await
        .unwrap();

    let got = store.results("web", None, 10).await.unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], full);
    assert_eq!(got[1], bare);
    assert_eq!(got[2], unknown);
    // JSON has no NaN: it comes back as NaN through null.
    assert_eq!(got[3].metrics.len(), 1);
    assert!(got[3].metrics[0].value.is_nan());
    assert!(store.results("other", None, 10).await.unwrap().is_empty());
    store.close().await;
}

async fn results_newest_first_and_paging(db: Arc<Db>) {
    let store = db.open().await;
    // Ten results written out of order, plus a tie at 5000 (the later insert is newer).
    let mut batch: Vec<Write> = [7, 2, 9, 1, 10, 4, 6, 3, 8, 5]
        .iter()
        .map(|i| wr("a", result(i * 1_000, Status::Ok, 1, &format!("r{i}"))))
        .collect();
    batch.push(wr("a", result(5_000, Status::Ok, 1, "r5-later")));
    batch.push(wr("b", result(99_000, Status::Ok, 1, "other check")));
    store.write(&batch).await.unwrap();

    let messages = |rs: &[CheckResult]| rs.iter().map(|r| r.message.clone()).collect::<Vec<_>>();
    let page = store.results("a", None, 3).await.unwrap();
    assert_eq!(messages(&page), ["r10", "r9", "r8"]);
    let page = store
        .results("a", Some(page[2].started_at_ms), 4)
        .await
        .unwrap();
    assert_eq!(messages(&page), ["r7", "r6", "r5-later", "r5"]);
    let page = store
        .results("a", Some(page[3].started_at_ms), 10)
        .await
        .unwrap();
    assert_eq!(messages(&page), ["r4", "r3", "r2", "r1"]);
    assert!(
        store
            .results("a", Some(1_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.results("a", None, 0).await.unwrap().is_empty());
    store.close().await;
}

async fn last_results_per_check(db: Arc<Db>) {
    let store = db.open().await;
    assert!(store.last_results().await.unwrap().is_empty());
    let mut batch = Vec::new();
    for c in 0..40 {
        let check = format!("check-{c:02}");
        for i in 0..5 {
            // The newest is not the last one written.
            let at = if i == 2 { 50_000 } else { i * 1_000 };
            batch.push(wr(
                &check,
                result(at + c, Status::Ok, 1, &format!("{check}/{i}")),
            ));
        }
    }
    store.write(&batch).await.unwrap();
    let last = store.last_results().await.unwrap();
    assert_eq!(last.len(), 40);
    for (c, (check, r)) in last.iter().enumerate() {
        assert_eq!(check, &format!("check-{c:02}"));
        assert_eq!(r.message, format!("{check}/2"));
        assert_eq!(r.started_at_ms, 50_000 + i64::try_from(c).unwrap());
    }
    store.close().await;
}

async fn states_upsert_load_and_delete(db: Arc<Db>) {
    let store = db.open().await;
    let st = |check: &str, v: serde_json::Value| Write::State {
        check: check.to_owned(),
        state: v,
    };
    store
        .write(&[
            st("a", json!({"v": 1})),
            st("b", json!({"v": 1, "s": [1, 2]})),
        ])
        .await
        .unwrap();
    store.write(&[st("a", json!({"v": 2}))]).await.unwrap();
    // Several states of one check in one batch: the last wins.
    store
        .write(&[
            st("c", json!({"v": 1})),
            st("c", json!({"v": 2})),
            st("c", json!({"v": 3})),
        ])
        .await
        .unwrap();
    let states = store.load_states().await.unwrap();
    assert_eq!(
        states,
        vec![
            ("a".to_owned(), json!({"v": 2})),
            ("b".to_owned(), json!({"v": 1, "s": [1, 2]})),
            ("c".to_owned(), json!({"v": 3})),
        ]
    );
    store.delete_state("b").await.unwrap();
    store.delete_state("nope").await.unwrap();
    let states = store.load_states().await.unwrap();
    assert_eq!(
        states.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>(),
        ["a", "c"]
    );
    store.close().await;
}

async fn state_changes_newest_first(db: Arc<Db>) {
    let store = db.open().await;
    let change = |at: i64, from: Status, to: Status, hard: bool, kind: &str| StateChange {
        check: "svc".to_owned(),
        at_ms: at,
        from,
        to,
        hard,
        kind: kind.to_owned(),
        message: format!("{kind} at {at}"),
    };
    let a = change(1_000, Status::Ok, Status::Critical, false, "soft");
    let b = change(2_000, Status::Critical, Status::Critical, true, "hard");
    let c = change(3_000, Status::Critical, Status::Ok, true, "recovered");
    let d = change(
        2_500,
        Status::Critical,
        Status::Warning,
        true,
        "flapping_started",
    );
    let mut other = a.clone();
    other.check = "other".to_owned();
    store
        .write(&[
            Write::Change(a.clone()),
            Write::Change(c.clone()),
            Write::Change(b.clone()),
            Write::Change(other),
        ])
        .await
        .unwrap();
    store.write(&[Write::Change(d.clone())]).await.unwrap();
    assert_eq!(
        store.state_changes("svc", 10).await.unwrap(),
        vec![c.clone(), d, b, a]
    );
    assert_eq!(store.state_changes("svc", 1).await.unwrap(), vec![c]);
    assert_eq!(store.state_changes("other", 10).await.unwrap().len(), 1);
    assert!(store.state_changes("none", 10).await.unwrap().is_empty());
    store.close().await;
}

async fn rollups_through_write_behind(db: Arc<Db>) {
    let store = db.open().await;
    // The current minute: the writer does not close it on its own for two minutes, and with a
    // one-hour period it never ticks during the test, so only flush() writes rollups.
    let m = minute_of(now_ms());
    let wb = WriteBehind::spawn(store.clone(), 128, Duration::from_secs(3600));
    // total_us 1..=100 in shuffled order; every tenth one critical.
    for i in 0..100u64 {
        let v = (i * 37) % 100 + 1;
        let status = if v % 10 == 0 {
            Status::Critical
        } else {
            Status::Ok
        };
        let at = m + i64::try_from(i * 500).unwrap();
        wb.push(wr("r", result(at, status, v, "x"))).await;
    }
    wb.push(wr(
        "r",
        result(m + 60_000, Status::Warning, 7, "next minute"),
    ))
    .await;
    wb.push(wr("other", result(m + 1, Status::Ok, 3, "other check")))
        .await;
    wb.flush().await;

    let rollups = store.rollups("r", m, m + 120_000).await.unwrap();
    assert_eq!(
        rollups,
        vec![
            Rollup {
                minute_ms: m,
                count: 100,
                ok: 90,
                p50_us: 50,
                p95_us: 95,
                max_us: 100
            },
            Rollup {
                minute_ms: m + 60_000,
                count: 1,
                ok: 0,
                p50_us: 7,
                p95_us: 7,
                max_us: 7
            },
        ]
    );
    // [from, to) is half-open.
    assert_eq!(store.rollups("r", m, m + 60_000).await.unwrap().len(), 1);
    assert_eq!(
        store.rollups("r", m + 1, m + 60_001).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.rollups("other", m, m + 60_000).await.unwrap()[0].count,
        1
    );

    // A second piece of the same minute merges: counts add, max is the max, percentiles are
    // the count-weighted mean (approximate).
    for i in 0..100 {
        wb.push(wr("r", result(m + i, Status::Ok, 1_000, "late")))
            .await;
    }
    wb.close().await;
    let merged = store.rollups("r", m, m + 60_000).await.unwrap();
    assert_eq!(
        merged,
        vec![Rollup {
            minute_ms: m,
            count: 200,
            ok: 190,
            p50_us: (50 * 100 + 1_000 * 100) / 200,
            p95_us: (95 * 100 + 1_000 * 100) / 200,
            max_us: 1_000,
        }]
    );
    assert_eq!(
        merged[0],
        tocsin_store::merge_rollups(
            &rollups[0],
            &Rollup {
                minute_ms: m,
                count: 100,
                ok: 100,
                p50_us: 1_000,
                p95_us: 1_000,
                max_us: 1_000
            }
        )
    );
    // The raw results went in as well.
    assert_eq!(store.results("r", None, 1_000).await.unwrap().len(), 201);
    store.close().await;
}

async fn retention_deletes_only_old_rows(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let day = 24 * 3600 * 1000;
    let keep_results = Duration::from_secs(7 * 24 * 3600);
    let keep_rollups = Duration::from_secs(400 * 24 * 3600);

    // More old results than one delete chunk, to exercise the chunk loop.
    let old: Vec<Write> = (0..12_345)
        .map(|i| wr("a", result(now - 8 * day - i, Status::Ok, 1, "old")))
        .collect();
    for chunk in old.chunks(4_000) {
        store.write(chunk).await.unwrap();
    }
    store
        .write(&[
            wr("a", result(now - day, Status::Ok, 1, "recent")),
            wr("b", result(now - 6 * day, Status::Ok, 1, "recent too")),
            Write::State {
                check: "a".to_owned(),
                state: json!({"ancient": true}),
            },
            Write::Change(StateChange {
                check: "a".to_owned(),
                at_ms: now - 401 * day,
                from: Status::Ok,
                to: Status::Critical,
                hard: true,
                kind: "hard".to_owned(),
                message: "old change".to_owned(),
            }),
            Write::Change(StateChange {
                check: "a".to_owned(),
                at_ms: now - 8 * day,
                from: Status::Critical,
                to: Status::Ok,
                hard: true,
                kind: "recovered".to_owned(),
                message: "kept change".to_owned(),
            }),
        ])
        .await
        .unwrap();
    let old_minute = minute_of(now - 401 * day);
    let kept_minute = minute_of(now - 10 * day);
    let rollup = |minute_ms| Rollup {
        minute_ms,
        count: 1,
        ok: 1,
        p50_us: 1,
        p95_us: 1,
        max_us: 1,
    };
    store
        .upsert_rollups(&[
            ("a".to_owned(), rollup(old_minute)),
            ("a".to_owned(), rollup(kept_minute)),
        ])
        .await
        .unwrap();

    let deleted = store
        .collect_garbage(now, keep_results, keep_rollups)
        .await
        .unwrap();
    // Old results, an old state change, and the old minute with its hour and day rows.
    assert_eq!(deleted, 12_345 + 1 + 3);

    let left = store.results("a", None, 100_000).await.unwrap();
    assert_eq!(
        left.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["recent"]
    );
    assert_eq!(store.results("b", None, 10).await.unwrap().len(), 1);
    let changes = store.state_changes("a", 10).await.unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].message, "kept change");
    let rollups = store.rollups("a", i64::MIN, i64::MAX).await.unwrap();
    assert_eq!(rollups, vec![rollup(kept_minute)]);
    // State is never collected.
    assert_eq!(store.load_states().await.unwrap().len(), 1);
    // Nothing more to do.
    assert_eq!(
        store
            .collect_garbage(now, keep_results, keep_rollups)
            .await
            .unwrap(),
        0
    );
    store.close().await;
}

async fn write_behind_close_is_durable(db: Arc<Db>) {
    let store = db.open().await;
    // A small queue and small batches: pushes wait for room (backpressure) and many batches run.
    let wb = WriteBehind::spawn_with_batch(store.clone(), 64, Duration::from_millis(5), 300);
    let n: u32 = 5_000;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let wb = wb.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..n / 4 {
                let check = format!("c{}", i % 10);
                wb.push(wr(
                    &check,
                    result(1_000_000 + i64::from(i), Status::Ok, 10, &format!("{t}")),
                ))
                .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let before_close = wb.stats();
    assert_eq!(before_close.dropped, 0);
    wb.clone().close().await;
    let stats = wb.stats();
    assert!(stats.rows_written >= u64::from(n), "{stats:?}");
    assert!(stats.batches > 1, "{stats:?}");
    assert_eq!(stats.errors, 0);
    assert_eq!(stats.queue_depth, 0);
    store.close().await;

    let store = db.open().await;
    let mut total = 0;
    for c in 0..10 {
        total += store
            .results(&format!("c{c}"), None, 100_000)
            .await
            .unwrap()
            .len();
    }
    assert_eq!(total, n as usize);
    store.close().await;
}

async fn write_behind_coalesces_states(db: Arc<Db>) {
    let store = db.open().await;
    let wb = WriteBehind::spawn(store.clone(), 1_000, Duration::from_secs(3600));
    for v in 1..=100 {
        wb.push(Write::State {
            check: "a".to_owned(),
            state: json!({"v": v}),
        })
        .await;
        wb.push(Write::State {
            check: "b".to_owned(),
            state: json!({"v": -v}),
        })
        .await;
    }
    wb.flush().await;
    let stats = wb.stats();
    // 200 state writes, one batch, two rows.
    assert_eq!((stats.batches, stats.rows_written), (1, 2), "{stats:?}");
    assert_eq!(
        store.load_states().await.unwrap(),
        vec![
            ("a".to_owned(), json!({"v": 100})),
            ("b".to_owned(), json!({"v": -100}))
        ]
    );
    // A flush with nothing pending commits nothing.
    wb.flush().await;
    assert_eq!(wb.stats().batches, 1);
    wb.close().await;
    store.close().await;
}

async fn write_behind_after_close(db: Arc<Db>) {
    let store = db.open().await;
    let wb = WriteBehind::spawn(store.clone(), 8, Duration::from_millis(10));
    let other = wb.clone();
    wb.push(wr("a", result(1, Status::Ok, 1, "before"))).await;
    wb.close().await;
    assert_eq!(store.results("a", None, 10).await.unwrap().len(), 1);
    // The queue is closed for every clone: try_push gives the write back, push counts a drop.
    let w = wr("a", result(2, Status::Ok, 1, "after"));
    assert_eq!(other.try_push(w.clone()), Err(w.clone()));
    other.push(w).await;
    other.flush().await;
    assert_eq!(other.stats().dropped, 1);
    assert_eq!(store.results("a", None, 10).await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn errors_redact_passwords_and_name_the_url() {
    // A bad port fails at once (an unreachable server would be retried for 30 s).
    let err = Store::open("postgres://tocsin:hunter2@127.0.0.1:notaport/db")
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Connect { .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains("postgres://tocsin:****@127.0.0.1:notaport/db"),
        "{text}"
    );

    let err = Store::open("mysql://root:hunter2@h/db").await.unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    assert!(!err.to_string().contains("hunter2"));
}

#[tokio::test]
async fn sqlite_dir_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a dir?#with%odd/chars");
    let store = Store::open_sqlite_dir(&nested).await.unwrap();
    store
        .write(&[wr("x", result(1, Status::Ok, 1, "m"))])
        .await
        .unwrap();
    store.close().await;
    assert!(nested.join("tocsin.db").is_file());
    let store = Store::open_sqlite_dir(&nested).await.unwrap();
    assert_eq!(store.results("x", None, 10).await.unwrap().len(), 1);
    assert!(format!("{store:?}").contains("Sqlite"));
    store.close().await;

    let mem = Store::open("sqlite::memory:").await.unwrap();
    mem.write(&[wr("x", result(1, Status::Ok, 1, "m"))])
        .await
        .unwrap();
    assert_eq!(mem.results("x", None, 10).await.unwrap().len(), 1);
    assert_eq!(mem.last_results().await.unwrap().len(), 1);
}

/// Polls `cond` until it holds, for at most 10 s (for effects of background tasks that have no
/// event to await).
async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn write_behind_closes_old_minutes_by_itself(db: Arc<Db>) {
    let store = db.open().await;
    let wb = WriteBehind::spawn(store.clone(), 64, Duration::from_millis(20));
    let old = minute_of(now_ms()) - 10 * 60_000;
    let current = minute_of(now_ms());
    // One result per minute: a tick between two pushes would split a minute in two pieces.
    wb.push(wr("t", result(old + 10, Status::Critical, 30, "old")))
        .await;
    wb.push(wr("t", result(current, Status::Ok, 5, "current")))
        .await;
    // No flush: the writer's own tick writes the results and the closed minute, not the open one.
    eventually("the old minute's rollup", || {
        let store = store.clone();
        async move {
            !store
                .rollups("t", old, old + 60_000)
                .await
                .unwrap()
                .is_empty()
        }
    })
    .await;
    assert_eq!(
        store.rollups("t", old, current + 60_000).await.unwrap(),
        vec![Rollup {
            minute_ms: old,
            count: 1,
            ok: 0,
            p50_us: 30,
            p95_us: 30,
            max_us: 30
        }]
    );
    assert_eq!(store.results("t", None, 10).await.unwrap().len(), 2);
    wb.close().await;
    assert_eq!(
        store
            .rollups("t", current, current + 60_000)
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

async fn collector_runs_periodically(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    store
        .write(&[
            wr("g", result(now - 3_600_000, Status::Ok, 1, "old")),
            wr("g", result(now, Status::Ok, 1, "new")),
        ])
        .await
        .unwrap();
    let collector = spawn_collector(
        store.clone(),
        Duration::from_secs(60),
        Duration::from_secs(3600 * 24),
        Duration::from_millis(20),
    );
    eventually("the collector to delete the old result", || {
        let store = store.clone();
        async move { store.results("g", None, 10).await.unwrap().len() == 1 }
    })
    .await;
    collector.abort();
    assert_eq!(
        store.results("g", None, 10).await.unwrap()[0].message,
        "new"
    );
    store.close().await;
}

// Alarms and the outbox.

const DAY: i64 = 24 * 3600 * 1000;

fn alarm(tenant: &str, id: i64, key: &str, opened_ms: i64, closed_ms: Option<i64>) -> AlarmRow {
    AlarmRow {
        tenant: tenant.to_owned(),
        id,
        key: key.to_owned(),
        open: closed_ms.is_none(),
        opened_ms,
        closed_ms,
        updated_ms: closed_ms.unwrap_or(opened_ms),
        body: json!({"key": key, "faults": [{"check": "web", "status": 2}], "note": "ünï ✓"}),
    }
}

fn event(seq: i64, at_ms: i64, kind: &str) -> AlarmEvent {
    AlarmEvent {
        seq,
        at_ms,
        kind: kind.to_owned(),
        body: json!({"seq": seq}),
    }
}

fn note(a: &AlarmRow, seq: i64, contact: &str, created_ms: i64) -> NewDelivery {
    NewDelivery {
        idempotency_key: idempotency_key(&a.tenant, a.id, seq, contact),
        contact: contact.to_owned(),
        channel: "webhook".to_owned(),
        payload: json!({"alarm": a.id, "seq": seq, "text": "web is down"}),
        created_ms,
    }
}

fn change(
    alarm: AlarmRow,
    events: Vec<AlarmEvent>,
    notifications: Vec<NewDelivery>,
) -> AlarmChange {
    AlarmChange {
        alarm,
        events,
        notifications,
    }
}

/// Opens an alarm for `key` with one event and one notification to `ops`; returns it.
async fn open_alarm(store: &Store, tenant: &str, key: &str, at: i64) -> AlarmRow {
    let id = store.next_alarm_id(tenant).await.unwrap();
    let a = alarm(tenant, id, key, at, None);
    let n = note(&a, 1, "ops", at);
    store
        .save_alarm_change(&change(a.clone(), vec![event(1, at, "opened")], vec![n]))
        .await
        .unwrap();
    a
}

async fn alarm_ids_are_short_increasing_and_never_reused(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(store.next_alarm_id("acme").await.unwrap());
    }
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    // Per tenant: another tenant (and the operator, tenant "") start at 1.
    assert_eq!(store.next_alarm_id("globex").await.unwrap(), 1);
    assert_eq!(store.next_alarm_id("").await.unwrap(), 1);

    // Concurrent allocations never hand out one id twice.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.next_alarm_id("acme").await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort_unstable();
    assert_eq!(got, (6..26).collect::<Vec<_>>());

    // Saving an alarm with an id the counter has not reached raises the counter.
    store
        .save_alarm_change(&change(
            alarm("acme", 100, "check:web", now, None),
            vec![],
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(store.next_alarm_id("acme").await.unwrap(), 101);
    // A lower id saved later does not lower it.
    store
        .save_alarm_change(&change(
            alarm("acme", 50, "check:db", now, None),
            vec![],
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(store.next_alarm_id("acme").await.unwrap(), 102);

    // Deleting alarms (retention) does not make their ids available again.
    let closed = alarm(
        "globex",
        2,
        "check:old",
        now - 40 * DAY,
        Some(now - 31 * DAY),
    );
    store
        .save_alarm_change(&change(closed, vec![], vec![]))
        .await
        .unwrap();
    store
        .collect_garbage_with(now, &Retention::default())
        .await
        .unwrap();
    assert_eq!(store.alarm("globex", 2).await.unwrap(), None);
    assert_eq!(store.next_alarm_id("globex").await.unwrap(), 3);
    store.close().await;

    // Nor does a restart.
    let store = db.open().await;
    assert_eq!(store.next_alarm_id("acme").await.unwrap(), 103);
    store.close().await;
}

async fn alarm_change_is_all_or_nothing(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let a = open_alarm(&store, "acme", "check:web", now).await;

    // A change that fails inside the transaction (an event with a seq the alarm already has,
    // written after the alarm update and the outbox rows) leaves nothing behind.
    let mut updated = a.clone();
    updated.body = json!({"changed": true});
    updated.updated_ms = now + 1;
    let failing = change(
        updated.clone(),
        vec![event(2, now + 1, "fault"), event(1, now + 1, "duplicate")],
        vec![note(&a, 2, "ops", now + 1), note(&a, 2, "oncall", now + 1)],
    );
    let err = store.save_alarm_change(&failing).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Query {
                op: "append an alarm event",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.alarm("acme", a.id).await.unwrap(), Some(a.clone()));
    let events = store.alarm_events("acme", a.id).await.unwrap();
    assert_eq!(events, vec![event(1, now, "opened")]);
    let deliveries = store.alarm_deliveries("acme", a.id).await.unwrap();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(
        deliveries[0].idempotency_key,
        idempotency_key("acme", a.id, 1, "ops")
    );

    // A new alarm whose change fails is not there at all.
    let id = store.next_alarm_id("acme").await.unwrap();
    let b = alarm("acme", id, "check:db", now, None);
    let failing = change(
        b.clone(),
        vec![event(1, now, "opened"), event(1, now, "again")],
        vec![note(&b, 1, "ops", now)],
    );
    assert!(store.save_alarm_change(&failing).await.is_err());
    assert_eq!(store.alarm("acme", id).await.unwrap(), None);
    assert!(store.alarm_events("acme", id).await.unwrap().is_empty());
    assert!(store.alarm_deliveries("acme", id).await.unwrap().is_empty());
    assert_eq!(store.outbox_counts().await.unwrap().pending, 1);

    // The store is usable after the failed transactions, and the corrected change goes in whole.
    let ok = change(
        updated.clone(),
        vec![event(2, now + 1, "fault")],
        vec![note(&a, 2, "ops", now + 1), note(&a, 2, "oncall", now + 1)],
    );
    assert_eq!(store.save_alarm_change(&ok).await.unwrap(), 2);
    assert_eq!(store.alarm("acme", a.id).await.unwrap(), Some(updated));
    assert_eq!(store.alarm_events("acme", a.id).await.unwrap().len(), 2);
    assert_eq!(store.alarm_deliveries("acme", a.id).await.unwrap().len(), 3);
    store.close().await;
}

async fn alarms_round_trip_and_list(db: Arc<Db>) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    // acme: 1 open (web), 2 closed (db), 3 open (group shop); globex: 1 open; operator: 1 closed.
    let web = open_alarm(&store, "acme", "check:web", t0).await;
    let db_id = store.next_alarm_id("acme").await.unwrap();
    let mut dba = alarm("acme", db_id, "check:db", t0 + 10, None);
    store
        .save_alarm_change(&change(
            dba.clone(),
            vec![event(1, t0 + 10, "opened")],
            vec![],
        ))
        .await
        .unwrap();
    // Close it: the same row is replaced, events append.
    dba.open = false;
    dba.closed_ms = Some(t0 + 20);
    dba.updated_ms = t0 + 20;
    dba.body = json!({"closed_by": "recovery"});
    store
        .save_alarm_change(&change(
            dba.clone(),
            vec![event(2, t0 + 20, "closed")],
            vec![],
        ))
        .await
        .unwrap();
    let shop = open_alarm(&store, "acme", "group:shop", t0 + 30).await;
    let other = open_alarm(&store, "globex", "check:web", t0 + 30).await;
    let op_id = store.next_alarm_id("").await.unwrap();
    let op = alarm("", op_id, "check:disk", t0 + 5, Some(t0 + 6));
    store
        .save_alarm_change(&change(op.clone(), vec![], vec![]))
        .await
        .unwrap();

    assert_eq!(store.alarm("acme", db_id).await.unwrap(), Some(dba.clone()));
    assert_eq!(store.alarm("acme", 99).await.unwrap(), None);
    // Tenant scoping: globex's alarm 1 is not acme's alarm 1.
    assert_eq!(store.alarm("globex", 1).await.unwrap(), Some(other.clone()));
    assert_eq!(store.alarm("acme", 1).await.unwrap(), Some(web.clone()));
    assert_eq!(
        store.alarm_events("acme", db_id).await.unwrap(),
        vec![event(1, t0 + 10, "opened"), event(2, t0 + 20, "closed")]
    );

    assert_eq!(
        store.open_alarms().await.unwrap(),
        vec![web.clone(), shop.clone(), other.clone()]
    );
    assert_eq!(
        store.open_alarm("acme", "check:web").await.unwrap(),
        Some(web.clone())
    );
    assert_eq!(store.open_alarm("acme", "check:db").await.unwrap(), None);
    assert_eq!(
        store.open_alarm("globex", "group:shop").await.unwrap(),
        None
    );

    let ids = |v: Vec<AlarmRow>| v.into_iter().map(|a| (a.tenant, a.id)).collect::<Vec<_>>();
    let all = store
        .alarms(None, AlarmFilter::All, None, 100)
        .await
        .unwrap();
    // Newest opened first; ties by tenant then id, descending.
    assert_eq!(
        ids(all.clone()),
        [
            ("globex".to_owned(), other.id),
            ("acme".to_owned(), shop.id),
            ("acme".to_owned(), db_id),
            ("".to_owned(), op_id),
            ("acme".to_owned(), web.id),
        ]
    );
    assert_eq!(
        ids(store
            .alarms(Some("acme"), AlarmFilter::Open, None, 100)
            .await
            .unwrap()),
        [("acme".to_owned(), shop.id), ("acme".to_owned(), web.id)]
    );
    assert_eq!(
        ids(store
            .alarms(None, AlarmFilter::Closed, None, 100)
            .await
            .unwrap()),
        [("acme".to_owned(), db_id), ("".to_owned(), op_id)]
    );
    assert_eq!(
        ids(store
            .alarms(Some(""), AlarmFilter::All, None, 100)
            .await
            .unwrap()),
        [("".to_owned(), op_id)]
    );
    // Paging by cursor, two at a time, visits every alarm once, in order, across the tie.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .alarms(None, AlarmFilter::All, cursor.as_ref(), 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(last.cursor());
        paged.extend(page);
    }
    assert_eq!(paged, all);
    store.close().await;
}

async fn outbox_ignores_a_repeated_idempotency_key(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let a = open_alarm(&store, "acme", "check:web", now).await;
    // The same notification again (a retried save), with a new one beside it.
    let mut again = note(&a, 1, "ops", now + 5);
    again.payload = json!({"different": true});
    let added = store
        .save_alarm_change(&change(
            a.clone(),
            vec![],
            vec![again, note(&a, 1, "oncall", now + 5)],
        ))
        .await
        .unwrap();
    assert_eq!(added, 1);
    let deliveries = store.alarm_deliveries("acme", a.id).await.unwrap();
    assert_eq!(deliveries.len(), 2);
    // The first row is untouched.
    assert_eq!(deliveries[0].contact, "ops");
    assert_eq!(deliveries[0].created_ms, now);
    assert_eq!(deliveries[0].payload["text"], "web is down");
    assert_eq!(deliveries[1].contact, "oncall");
    // Even once delivered, the key stays taken.
    assert!(
        store
            .mark_delivered(deliveries[0].id, now + 6)
            .await
            .unwrap()
    );
    let added = store
        .save_alarm_change(&change(
            a.clone(),
            vec![],
            vec![note(&a, 1, "ops", now + 7)],
        ))
        .await
        .unwrap();
    assert_eq!(added, 0);
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts {
            pending: 1,
            delivered: 1,
            dead: 0
        }
    );
    store.close().await;
}

async fn due_deliveries_oldest_first(db: Arc<Db>) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    let a = open_alarm(&store, "acme", "check:web", t0).await; // ops due at t0
    store
        .save_alarm_change(&change(
            a.clone(),
            vec![],
            vec![
                note(&a, 2, "late", t0 + 100),
                note(&a, 2, "early", t0 - 100),
                note(&a, 2, "same", t0),
            ],
        ))
        .await
        .unwrap();
    let due = |now, limit| {
        let store = store.clone();
        async move {
            store
                .due_deliveries(now, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|d| d.contact)
                .collect::<Vec<_>>()
        }
    };
    assert!(due(t0 - 101, 10).await.is_empty());
    assert_eq!(due(t0 - 100, 10).await, ["early"]);
    // Same due time: queueing order.
    assert_eq!(due(t0, 10).await, ["early", "ops", "same"]);
    assert_eq!(due(t0 + 100, 10).await, ["early", "ops", "same", "late"]);
    assert_eq!(due(t0 + 100, 2).await, ["early", "ops"]);

    // A failed attempt moves a row to its next attempt time.
    let early = store.due_deliveries(t0, 1).await.unwrap().remove(0);
    assert_eq!(early.status, DeliveryStatus::Pending);
    assert_eq!(early.attempts, 0);
    assert_eq!(early.next_attempt_ms, t0 - 100);
    assert!(
        store
            .mark_failed(early.id, t0, "connection refused", t0 + 50)
            .await
            .unwrap()
    );
    assert_eq!(due(t0, 10).await, ["ops", "same"]);
    assert_eq!(due(t0 + 100, 10).await, ["ops", "same", "early", "late"]);
    // Delivered and dead rows are never due.
    let rows = store.due_deliveries(t0, 10).await.unwrap();
    assert!(store.mark_delivered(rows[0].id, t0).await.unwrap());
    assert!(store.mark_dead(rows[1].id, t0, "gone").await.unwrap());
    assert_eq!(due(i64::MAX, 10).await, ["early", "late"]);
    store.close().await;
}

async fn outbox_transitions_and_counts(db: Arc<Db>) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts::default()
    );
    let a = open_alarm(&store, "acme", "check:web", t0).await;
    store
        .save_alarm_change(&change(
            a.clone(),
            vec![],
            vec![note(&a, 1, "b", t0), note(&a, 1, "c", t0)],
        ))
        .await
        .unwrap();
    let rows = store.alarm_deliveries("acme", a.id).await.unwrap();
    let [d1, d2, d3] = [rows[0].id, rows[1].id, rows[2].id];
    let fresh = &rows[0];
    assert_eq!(fresh.tenant, "acme");
    assert_eq!(fresh.alarm_id, a.id);
    assert_eq!(fresh.channel, "webhook");
    assert_eq!(fresh.attempts, 0);
    assert_eq!(fresh.next_attempt_ms, t0);
    assert_eq!(fresh.last_attempt_ms, None);
    assert_eq!(fresh.last_error, None);
    assert_eq!(fresh.delivered_ms, None);
    assert_eq!(fresh.dead_ms, None);

    // d1: fails twice, then is delivered.
    assert!(
        store
            .mark_failed(d1, t0 + 1, "HTTP 502", t0 + 10)
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_failed(d1, t0 + 10, "timeout", t0 + 30)
            .await
            .unwrap()
    );
    let d = store.delivery(d1).await.unwrap().unwrap();
    assert_eq!(
        (
            d.attempts,
            d.last_attempt_ms,
            d.last_error.as_deref(),
            d.next_attempt_ms
        ),
        (2, Some(t0 + 10), Some("timeout"), t0 + 30)
    );
    assert!(store.mark_delivered(d1, t0 + 30).await.unwrap());
    let d = store.delivery(d1).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Delivered);
    assert_eq!(d.attempts, 3);
    assert_eq!(d.delivered_ms, Some(t0 + 30));
    // Delivered is final.
    assert!(
        !store
            .mark_failed(d1, t0 + 31, "late", t0 + 40)
            .await
            .unwrap()
    );
    assert!(!store.mark_dead(d1, t0 + 31, "late").await.unwrap());
    assert!(!store.mark_delivered(d1, t0 + 31).await.unwrap());
    assert_eq!(store.delivery(d1).await.unwrap().unwrap(), d);

    // d2: fails, then is given up on.
    assert!(
        store
            .mark_failed(d2, t0 + 1, "HTTP 500", t0 + 10)
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_dead(d2, t0 + 10, "HTTP 500 for 24 h")
            .await
            .unwrap()
    );
    let d = store.delivery(d2).await.unwrap().unwrap();
    assert_eq!(d.status, DeliveryStatus::Dead);
    assert_eq!(d.attempts, 2);
    assert_eq!(d.dead_ms, Some(t0 + 10));
    assert_eq!(d.last_error.as_deref(), Some("HTTP 500 for 24 h"));
    // Dead is final.
    assert!(!store.mark_delivered(d2, t0 + 11).await.unwrap());
    assert!(!store.mark_failed(d2, t0 + 11, "x", t0 + 20).await.unwrap());
    // Unknown ids change nothing.
    assert!(!store.mark_delivered(-1, t0).await.unwrap());
    assert_eq!(store.delivery(-1).await.unwrap(), None);

    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts {
            pending: 1,
            delivered: 1,
            dead: 1
        }
    );
    // d3 dies later: dead letters, most recent first, limited.
    assert!(
        store
            .mark_dead(d3, t0 + 20, "contact deleted")
            .await
            .unwrap()
    );
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(dead.iter().map(|d| d.id).collect::<Vec<_>>(), [d3, d2]);
    assert_eq!(store.dead_letters(1).await.unwrap().len(), 1);
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts {
            pending: 0,
            delivered: 1,
            dead: 2
        }
    );
    store.close().await;
}

async fn alarm_and_outbox_retention(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let retention = Retention::default();
    // Closed 31 days ago (goes, with its 2 events), closed 29 days ago (stays), opened 60 days
    // ago and still open (stays).
    let old = alarm("acme", 1, "check:old", now - 40 * DAY, Some(now - 31 * DAY));
    let recent = alarm(
        "acme",
        2,
        "check:recent",
        now - 40 * DAY,
        Some(now - 29 * DAY),
    );
    let open = alarm("acme", 3, "check:open", now - 60 * DAY, None);
    for a in [&old, &recent, &open] {
        store
            .save_alarm_change(&change(
                a.clone(),
                vec![event(1, a.opened_ms, "opened"), event(2, a.updated_ms, "x")],
                vec![
                    note(a, 1, "delivered-old", a.opened_ms),
                    note(a, 1, "delivered-new", a.opened_ms),
                    note(a, 1, "dead-old", a.opened_ms),
                    note(a, 1, "dead-new", a.opened_ms),
                    note(a, 1, "pending", a.opened_ms),
                ],
            ))
            .await
            .unwrap();
        for d in store.alarm_deliveries("acme", a.id).await.unwrap() {
            match d.contact.as_str() {
                "delivered-old" => store.mark_delivered(d.id, now - 8 * DAY).await,
                "delivered-new" => store.mark_delivered(d.id, now - 6 * DAY).await,
                "dead-old" => store.mark_dead(d.id, now - 31 * DAY, "x").await,
                "dead-new" => store.mark_dead(d.id, now - 29 * DAY, "x").await,
                _ => Ok(true),
            }
            .unwrap();
        }
    }
    let deleted = store.collect_garbage_with(now, &retention).await.unwrap();
    // 1 alarm + 2 events, and per alarm 1 old delivered + 1 old dead row.
    assert_eq!(deleted, 1 + 2 + 3 * 2);
    assert_eq!(store.alarm("acme", 1).await.unwrap(), None);
    assert!(store.alarm_events("acme", 1).await.unwrap().is_empty());
    assert_eq!(store.alarm("acme", 2).await.unwrap(), Some(recent));
    assert_eq!(store.alarm_events("acme", 2).await.unwrap().len(), 2);
    assert_eq!(store.alarm("acme", 3).await.unwrap(), Some(open));
    // Outbox rows follow their own clocks, not their alarm's: the deleted alarm's pending, new
    // delivered and new dead rows are still there.
    for id in 1..=3 {
        let left: Vec<String> = store
            .alarm_deliveries("acme", id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.contact)
            .collect();
        assert_eq!(left, ["delivered-new", "dead-new", "pending"], "alarm {id}");
    }
    assert_eq!(
        store.collect_garbage_with(now, &retention).await.unwrap(),
        0
    );

    // The old two-duration entry point applies the same alarm and outbox defaults.
    assert_eq!(
        store
            .collect_garbage(
                now + 2 * DAY,
                retention.keep_results,
                retention.keep_rollups
            )
            .await
            .unwrap(),
        // alarm 2 (closed 31 days ago by then) + its 2 events; 3 rows delivered 8 days ago;
        // 3 dead letters 31 days old.
        1 + 2 + 3 + 3
    );
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts {
            pending: 3,
            delivered: 0,
            dead: 0
        }
    );
    store.close().await;
}

async fn collector_collects_alarms_and_outbox(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let a = alarm(
        "acme",
        1,
        "check:web",
        now - 3_600_000,
        Some(now - 3_000_000),
    );
    store
        .save_alarm_change(&change(
            a.clone(),
            vec![event(1, a.opened_ms, "opened")],
            vec![note(&a, 1, "ops", a.opened_ms)],
        ))
        .await
        .unwrap();
    let d = store.alarm_deliveries("acme", 1).await.unwrap()[0].id;
    store.mark_delivered(d, now - 3_000_000).await.unwrap();
    let retention = Retention {
        keep_closed_alarms: Duration::from_secs(60),
        keep_delivered: Duration::from_secs(60),
        ..Retention::default()
    };
    let collector = spawn_collector_with(store.clone(), retention, Duration::from_millis(20));
    eventually(
        "the collector to delete the closed alarm and its delivery",
        || {
            let store = store.clone();
            async move {
                store.alarm("acme", 1).await.unwrap().is_none()
                    && store.outbox_counts().await.unwrap() == OutboxCounts::default()
            }
        },
    )
    .await;
    collector.abort();
    assert!(store.alarm_events("acme", 1).await.unwrap().is_empty());
    store.close().await;
}

async fn outbox_survives_a_restart(db: Arc<Db>) {
    let store = db.open().await;
    let now = now_ms();
    let a = open_alarm(&store, "acme", "check:web", now).await;
    store
        .save_alarm_change(&change(
            a.clone(),
            vec![event(2, now, "fault")],
            vec![note(&a, 2, "ops", now), note(&a, 2, "oncall", now)],
        ))
        .await
        .unwrap();
    let rows = store.due_deliveries(now, 10).await.unwrap();
    assert_eq!(rows.len(), 3);
    store.mark_delivered(rows[0].id, now).await.unwrap();
    store
        .mark_failed(rows[1].id, now, "refused", now + 1_000)
        .await
        .unwrap();
    store.close().await;

    // "Restart": a new store on the same file or schema.
    let store = db.open().await;
    assert_eq!(
        store.outbox_counts().await.unwrap(),
        OutboxCounts {
            pending: 2,
            delivered: 1,
            dead: 0
        }
    );
    let due = store.due_deliveries(now + 1_000, 10).await.unwrap();
    assert_eq!(
        due.iter().map(|d| d.id).collect::<Vec<_>>(),
        [rows[2].id, rows[1].id]
    );
    assert_eq!(due[1].attempts, 1);
    assert_eq!(due[1].last_error.as_deref(), Some("refused"));
    assert_eq!(store.open_alarms().await.unwrap(), vec![a.clone()]);
    assert_eq!(store.alarm_events("acme", a.id).await.unwrap().len(), 2);
    assert_eq!(store.next_alarm_id("acme").await.unwrap(), a.id + 1);
    store.close().await;
}
