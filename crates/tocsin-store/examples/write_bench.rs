//! Write-throughput micro-benchmark of the store: results per second through `Store::write` in
//! batches and end to end through the `WriteBehind`, then the cost of the restart and history
//! reads on the table it filled. Prints its figures.
//!
//! ```text
//! cargo run --release -p tocsin-store --example write_bench -- [--url URL] [--rows N]
//!     [--batch B] [--checks C] [--wb-first]
//! ```
//! Without `--url`, it uses a fresh SQLite file in a temp dir. With a PostgreSQL URL, it writes
//! into that database's current schema (use a scratch database).

use std::time::{Duration, Instant};

use tocsin_core::{CheckResult, Metric, Status, Timings};
use tocsin_store::{Store, Write, WriteBehind};

struct Args {
    url: Option<String>,
    rows: usize,
    batch: usize,
    checks: usize,
    /// Run the write-behind phase first (on an empty table).
    wb_first: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: None,
        rows: 200_000,
        batch: 8_000,
        checks: 1_000,
        wb_first: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = Some(value()?),
            "--rows" => args.rows = value()?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--batch" => args.batch = value()?.parse().map_err(|e| format!("--batch: {e}"))?,
            "--wb-first" => args.wb_first = true,
            "--checks" => args.checks = value()?.parse().map_err(|e| format!("--checks: {e}"))?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    args.batch = args.batch.max(1);
    args.checks = args.checks.max(1);
    Ok(args)
}

/// A result shaped like an HTTP check's: four phases, two metrics, a short message.
fn result(i: usize, base_ms: i64) -> CheckResult {
    let total = 20_000 + (i * 7919) % 180_000;
    let total_us = u64::try_from(total).unwrap_or(0);
    CheckResult {
        status: if i.is_multiple_of(50) {
            Status::Critical
        } else {
            Status::Ok
        },
        message: format!("HTTP 200 in {} ms", total / 1000),
        // As if results arrived at 15 000/s: rollup rows per result as in production.
        started_at_ms: base_ms + i64::try_from(i / 15).unwrap_or(0),
        timings: Timings {
            dns_us: Some(900),
            connect_us: Some(2_100),
            tls_us: Some(11_000),
            first_byte_us: Some(total_us.saturating_sub(3_000)),
            total_us,
        },
        metrics: vec![
            Metric {
                name: "response_time".to_owned(),
                value: f64::from(u32::try_from(total).unwrap_or(0)) / 1e6,
                unit: "s".to_owned(),
            },
            Metric {
                name: "bytes".to_owned(),
                value: 5_321.0,
                unit: "bytes".to_owned(),
            },
        ],
        extracted: Default::default(),
        cert_not_after: None,
    }
}

fn writes(from: usize, to: usize, checks: usize, base_ms: i64) -> Vec<Write> {
    (from..to)
        .map(|i| Write::Result {
            check: format!("check-{:05}", i % checks),
            result: result(i, base_ms).into(),
        })
        .collect()
}

fn rate(rows: usize, took: Duration) -> String {
    let per_s = rows as f64 / took.as_secs_f64();
    format!(
        "{rows} rows in {:.3} s = {per_s:.0} rows/s",
        took.as_secs_f64()
    )
}

async fn direct(
    store: &Store,
    args: &Args,
    base_ms: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    // 1. Store::write in batches (one transaction each), batches built beforehand.
    let batches: Vec<Vec<Write>> = (0..args.rows)
        .step_by(args.batch)
        .map(|from| {
            writes(
                from,
                (from + args.batch).min(args.rows),
                args.checks,
                base_ms,
            )
        })
        .collect();
    let started = Instant::now();
    for b in &batches {
        store.write(b).await?;
    }
    println!(
        "Store::write, batches of {}: {}",
        args.batch,
        rate(args.rows, started.elapsed())
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let dir = tempfile::tempdir()?;
    let url = match &args.url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            dir.path().join("bench.db").to_str().ok_or("temp path")?
        ),
    };
    let store = Store::open(&url).await?;
    println!(
        "store: {} ({}), rows {}, batch {}, checks {}",
        store.backend(),
        store.url(),
        args.rows,
        args.batch,
        args.checks
    );
    // Now: results arrive as they would in production (the writer closes each minute once).
    let base_ms = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?;

    if !args.wb_first {
        direct(&store, &args, base_ms).await?;
    }

    // 2. WriteBehind end to end: 4 producers push writes built beforehand, then close (which
    //    flushes everything, rollups included).
    let wb = WriteBehind::spawn_with_batch(
        store.clone(),
        10_000,
        Duration::from_millis(200),
        args.batch,
    );
    let producers = 4;
    let base = base_ms;
    let mut prepared: Vec<Vec<Write>> = (0..producers).map(|_| Vec::new()).collect();
    for (i, w) in writes(0, args.rows, args.checks, base)
        .into_iter()
        .enumerate()
    {
        prepared[i % producers].push(w);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mine in prepared {
        let wb = wb.clone();
        tasks.push(tokio::spawn(async move {
            for w in mine {
                wb.push(w).await;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let stats = wb.stats();
    wb.clone().close().await;
    let took = started.elapsed();
    let after = wb.stats();
    println!(
        "WriteBehind push..close, max batch {}: {} ({} batches, {} rollup rows, {} errors; \
         queue depth when producers finished: {})",
        args.batch,
        rate(args.rows, took),
        after.batches,
        after.rollups_written,
        after.errors,
        stats.queue_depth
    );

    if args.wb_first {
        direct(&store, &args, base_ms).await?;
    }

    // 3. Reads on the filled table.
    let started = Instant::now();
    let last = store.last_results().await?;
    println!(
        "last_results: {} checks in {:.1} ms",
        last.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let page = store.results("check-00007", None, 100).await?;
    println!(
        "results(limit 100): {} rows in {:.2} ms",
        page.len(),
        started.elapsed().as_secs_f64() * 1e3
    );

    // 4. Retention on everything: how fast chunks go.
    let started = Instant::now();
    let deleted = store
        .collect_garbage(
            base_ms + 100_000_000_000,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .await?;
    println!(
        "collect_garbage: {}",
        rate(usize::try_from(deleted)?, started.elapsed())
    );
    store.close().await;
    Ok(())
}
