//! `tocsin check`: run checks once, print a table or JSON, exit with the worst Nagios code.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use tocsin_core::{CheckResult, Status};
use tocsin_probe::ProbeEnv;

/// Arguments of `tocsin check`.
#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    /// Configuration directory or file.
    path: PathBuf,
    /// Only these checks (repeatable).
    #[arg(long = "id")]
    ids: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let catalog = match tocsin_core::config::validate_dir(&args.path, &crate::env_lookup) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!("{} configuration error(s)", errors.len());
        }
    };
    let mut specs: Vec<_> = catalog
        .checks
        .into_iter()
        .filter(|c| args.ids.is_empty() || args.ids.iter().any(|i| i == c.id.as_str()))
        .collect();
    for id in &args.ids {
        if !specs.iter().any(|c| c.id.as_str() == id) {
            bail!("no check {id:?} in {}", args.path.display());
        }
    }
    specs.sort_by(|a, b| a.id.cmp(&b.id));
    let env = Arc::new(ProbeEnv::new()?);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, spec) in specs.iter().cloned().enumerate() {
        let env = env.clone();
        tasks.spawn(async move { (i, tocsin_engine::run_once(&spec, &env).await) });
    }
    let mut results: Vec<Option<CheckResult>> = vec![None; specs.len()];
    while let Some(done) = tasks.join_next().await {
        let (i, r) = done?;
        results[i] = Some(r);
    }
    let results: Vec<CheckResult> = results.into_iter().flatten().collect();
    let worst = results.iter().fold(Status::Ok, |w, r| w.worst(r.status));
    if args.json {
        let rows: Vec<_> = specs.iter().zip(&results).map(|(s, r)| serde_json::json!({ "id": s.id, "name": s.name, "kind": s.probe.kind(), "result": r })).collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!(
            "{}",
            table(specs.iter().map(|s| s.id.as_str()).zip(&results))
        );
    }
    Ok(ExitCode::from(worst.code()))
}

fn format_time(us: u64) -> String {
    if us < 10_000_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{:.1}s", us as f64 / 1e6)
    }
}

fn table<'a>(rows: impl Iterator<Item = (&'a str, &'a CheckResult)>) -> String {
    let rows: Vec<[String; 4]> = rows
        .map(|(id, r)| {
            let time = format_time(r.timings.total_us);
            [
                id.to_owned(),
                r.status.as_str().to_uppercase(),
                time,
                r.message.clone(),
            ]
        })
        .collect();
    let head = ["CHECK", "STATUS", "TIME", "MESSAGE"].map(String::from);
    let mut widths = head.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&head).chain(&rows) {
        let line = format!(
            "{:w0$}  {:w1$}  {:>w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let mut a = CheckResult::new(Status::Ok, "HTTP 200 in 3ms", 0);
        a.timings.total_us = 3_400;
        let b = CheckResult::new(Status::Critical, "connection refused (127.0.0.1:1)", 0);
        let t = table([("web", &a), ("db-port", &b)].into_iter());
        assert_eq!(
            t,
            "CHECK    STATUS    TIME  MESSAGE\nweb      OK         3ms  HTTP 200 in 3ms\ndb-port  CRITICAL   0ms  connection refused (127.0.0.1:1)\n"
        );
    }
}
