//! The `disk` probe against real local targets.

use std::time::Duration;

use tocsin_core::kinds::DiskSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};

use crate::common::{metric, run};

const T: Duration = Duration::from_secs(5);

fn disk(yaml: &str) -> ProbeSpec {
    let spec: DiskSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Disk(Box::new(spec))
}

async fn check(path: &std::path::Path, extra: &str) -> CheckResult {
    run(&disk(&format!("path: {}\n{extra}", path.display())), T)
        .await
        .0
}

#[tokio::test]
async fn a_temp_dir_is_measured() {
    let dir = tempfile::tempdir().unwrap();
    let r = check(dir.path(), "free: { critical: 0% }").await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    let prefix = format!("{}: ", dir.path().display());
    assert!(r.message.starts_with(&prefix), "{}", r.message);
    assert!(r.message.contains("% used, "), "{}", r.message);
    let used = metric(&r, "used_percent").unwrap();
    let free = metric(&r, "free_percent").unwrap();
    assert!((0.0..=100.0).contains(&used), "{used}");
    assert!((used + free - 100.0).abs() < 0.05, "{used} + {free}");
    let total = metric(&r, "total_bytes").unwrap();
    assert!(total > 0.0);
    assert!(metric(&r, "free_bytes").unwrap() <= total);
    assert!(metric(&r, "used_bytes").unwrap() <= total);
    let units: Vec<(&str, &str)> = r
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.unit.as_str()))
        .collect();
    assert!(units.contains(&("used_percent", "%")), "{units:?}");
    assert!(units.contains(&("free_bytes", "bytes")), "{units:?}");
    assert!(r.timings.total_us > 0);
}

#[tokio::test]
async fn space_thresholds_forced_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // Used space is always at least 0%: warning.
        ("used: { warning: 0%, critical: 100% }", Status::Warning),
        // Never this much free space: critical, whatever the disk.
        (
            "free: { warning: 1000000T, critical: 900000T }",
            Status::Critical,
        ),
        ("free: { warning: 1000000T }", Status::Warning),
        // Free space is never below 0 bytes, used space never reaches 1000000T.
        (
            "free: { critical: 0 }\nused: { critical: 1000000T }",
            Status::Ok,
        ),
        ("used: { critical: 0 }", Status::Critical),
    ];
    for (extra, want) in cases {
        let r = check(dir.path(), extra).await;
        assert_eq!(r.status, want, "{extra}: {r:?}");
    }
    let r = check(dir.path(), "free: { critical: 1000000T }").await;
    let want = format!("{}: ", dir.path().display());
    assert!(
        r.message.starts_with(&want) && r.message.contains(", critical below 976.56 PiB"),
        "{}",
        r.message
    );
    let r = check(dir.path(), "used: { warning: 0% }").await;
    assert!(r.message.contains(" used ("), "{}", r.message);
    assert!(r.message.ends_with(", warning at 0%"), "{}", r.message);
}

#[tokio::test]
async fn inodes_are_measured_or_reported_missing() {
    let dir = tempfile::tempdir().unwrap();
    let r = check(dir.path(), "inodes_free: { warning: 100% }").await;
    match metric(&r, "inodes_total") {
        Some(total) => {
            assert!(total > 0.0);
            let used = metric(&r, "inodes_used").unwrap();
            assert_eq!(used + metric(&r, "inodes_free").unwrap(), total);
            let pct = metric(&r, "inodes_used_percent").unwrap();
            assert!((0.0..=100.0).contains(&pct));
            // Fewer than 100% of inodes are ever free once a directory exists.
            assert_eq!(r.status, Status::Warning, "{r:?}");
            assert!(r.message.contains("of inodes free"), "{}", r.message);
            let r = check(dir.path(), "inodes_used: { critical: 100% }").await;
            assert_eq!(r.status, Status::Ok, "{r:?}");
            let r = check(dir.path(), "inodes_used: { critical: 1 }").await;
            assert_eq!(r.status, Status::Critical, "{r:?}");
        }
        None => {
            assert_eq!(r.status, Status::Unknown, "{r:?}");
            assert!(r.message.contains("does not count inodes"), "{}", r.message);
        }
    }
}

#[tokio::test]
async fn a_missing_path_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("not-mounted");
    let r = check(&gone, "").await;
    assert_eq!(r.status, Status::Critical);
    assert_eq!(
        r.message,
        format!(
            "cannot measure {}: No such file or directory",
            gone.display()
        )
    );
    assert!(r.metrics.is_empty());
}

#[tokio::test]
async fn a_file_measures_its_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "x").unwrap();
    let a = check(&file, "free: { critical: 0% }").await;
    let b = check(dir.path(), "free: { critical: 0% }").await;
    assert_eq!(a.status, Status::Ok);
    assert_eq!(metric(&a, "total_bytes"), metric(&b, "total_bytes"));
}
