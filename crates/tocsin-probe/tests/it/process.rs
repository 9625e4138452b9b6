//! The `process` probe against processes the tests spawn themselves (`sleep` with a distinctive
//! argument), counted by name, command line and user.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tocsin_core::kinds::ProcessSpec;
use tocsin_core::{CheckResult, ProbeSpec, Status};
use tocsin_probe::RunContext;

use crate::common::{env, metric, run};

const T: Duration = Duration::from_secs(5);

fn process(yaml: &str) -> ProbeSpec {
    let spec: ProcessSpec = serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}\n{e}"));
    ProbeSpec::Process(Box::new(spec))
}

async fn check(yaml: &str) -> CheckResult {
    run(&process(yaml), T).await.0
}

/// Children killed and reaped when dropped.
struct Kids(Vec<Child>);

impl Drop for Kids {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A `sleep` duration no other process uses: `3600.<our pid><n>`.
fn marker() -> String {
    static N: AtomicU32 = AtomicU32::new(1);
    format!(
        "3600.{}{:03}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn sleeps(arg: &str, n: usize) -> Kids {
    Kids(
        (0..n)
            .map(|_| {
                Command::new("sleep")
                    .arg(arg)
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("spawn sleep")
            })
            .collect(),
    )
}

/// The cmdline regex that matches exactly the sleeps of `arg`.
fn re(arg: &str) -> String {
    format!("'^sleep {}$'", arg.replace('.', "\\."))
}

fn my_uid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

fn pids(r: &CheckResult) -> Vec<u64> {
    match r.extracted.get("pids") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        other => panic!("pids: {other:?}"),
    }
}

#[tokio::test]
async fn counts_by_cmdline_name_and_user() {
    let arg = marker();
    let kids = sleeps(&arg, 3);
    let r = check(&format!("cmdline: {}", re(&arg))).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert_eq!(metric(&r, "processes"), Some(3.0));
    assert!(
        r.message.starts_with(&format!(
            "3 processes match cmdline=/^sleep {}",
            arg.replace('.', "\\.")
        )),
        "{}",
        r.message
    );
    let mut want: Vec<u64> = kids.0.iter().map(|c| u64::from(c.id())).collect();
    want.sort_unstable();
    assert_eq!(pids(&r), want);
    assert!(metric(&r, "rss_bytes").unwrap() > 0.0);
    let cpu = metric(&r, "cpu_percent").unwrap();
    assert!((0.0..50.0).contains(&cpu), "{cpu}");

    let uid = my_uid();
    let r = check(&format!(
        "{{ name: sleep, cmdline: {}, user: {uid} }}",
        re(&arg)
    ))
    .await;
    assert_eq!(metric(&r, "processes"), Some(3.0), "{r:?}");
    let r = check(&format!(
        "{{ cmdline: {}, user: {} }}",
        re(&arg),
        uid + 4242
    ))
    .await;
    assert_eq!(r.status, Status::Critical, "{r:?}");
    assert_eq!(
        r.message,
        format!(
            "no process matches cmdline=/^sleep {}$/ user={} (at least 1 expected)",
            arg.replace('.', "\\."),
            uid + 4242
        )
    );
    // The user by name, looked up in /etc/passwd.
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    if let Some(name) = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some(&uid.to_string()))
        .and_then(|l| l.split(':').next())
    {
        let r = check(&format!("{{ cmdline: {}, user: {name} }}", re(&arg))).await;
        assert_eq!(metric(&r, "processes"), Some(3.0), "{r:?}");
    }
    // A name that is not the process's.
    let r = check(&format!("{{ name: slee, cmdline: {} }}", re(&arg))).await;
    assert_eq!(metric(&r, "processes"), Some(0.0), "{r:?}");
    drop(kids);
}

#[tokio::test]
async fn min_and_max() {
    let arg = marker();
    let _kids = sleeps(&arg, 3);
    let cases = [
        ("min: 3, max: 3", Status::Ok),
        ("min: 4", Status::Critical),
        ("max: 2", Status::Critical),
        ("min: 0, max: 5", Status::Ok),
    ];
    for (extra, want) in cases {
        let r = check(&format!("{{ cmdline: {}, {extra} }}", re(&arg))).await;
        assert_eq!(r.status, want, "{extra}: {r:?}");
    }
    let r = check(&format!("{{ cmdline: {}, max: 2 }}", re(&arg))).await;
    assert!(
        r.message.ends_with(" (at most 2 expected)"),
        "{}",
        r.message
    );
    let r = check(&format!("{{ cmdline: {}, min: 4 }}", re(&arg))).await;
    assert!(r.message.starts_with("3 processes match "), "{}", r.message);
    assert!(
        r.message.ends_with(" (at least 4 expected)"),
        "{}",
        r.message
    );
    // Nothing runs with this argument: fine with min 0.
    let r = check(&format!("{{ cmdline: {}, min: 0 }}", re(&marker()))).await;
    assert_eq!(r.status, Status::Ok, "{r:?}");
    assert!(
        r.message.starts_with("no process matches "),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn cpu_and_rss_thresholds_forced_both_ways() {
    let arg = marker();
    let _kids = sleeps(&arg, 2);
    let cases = [
        ("cpu: { warning: 0% }", Status::Warning),
        ("cpu: { critical: 400% }", Status::Ok),
        ("rss: { warning: 1, critical: 100GiB }", Status::Warning),
        ("rss: { critical: 1 }", Status::Critical),
    ];
    for (extra, want) in cases {
        let r = check(&format!("{{ cmdline: {}, {extra} }}", re(&arg))).await;
        assert_eq!(r.status, want, "{extra}: {r:?}");
    }
    let r = check(&format!(
        "{{ cmdline: {}, rss: {{ critical: 1 }} }}",
        re(&arg)
    ))
    .await;
    assert!(
        r.message.contains(" of memory (rss), critical at 1 B"),
        "{}",
        r.message
    );
}

#[tokio::test]
async fn a_busy_process_shows_cpu() {
    let tag = marker();
    let script = format!("while :; do :; done # {tag}");
    let _kids = Kids(vec![
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    ]);
    let probe = tocsin_probe::build(&process(&format!("cmdline: '# {tag}$'")), &env()).unwrap();
    let cx = RunContext {
        timeout: T,
        started_at_ms: 0,
    };
    let t0 = Instant::now();
    let r = probe.run(cx).await;
    let first_took = t0.elapsed();
    assert_eq!(metric(&r, "processes"), Some(1.0), "{r:?}");
    // Even on a loaded machine, a busy loop gets more than a sliver of a core.
    assert!(metric(&r, "cpu_percent").unwrap() > 1.0, "{r:?}");
    // The first run read twice, 250 ms apart.
    assert!(first_took >= Duration::from_millis(250), "{first_took:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let t0 = Instant::now();
    let r = probe.run(cx).await;
    // The second run averages since the first: one reading, no sampling wait.
    assert!(
        t0.elapsed() < first_took,
        "{:?} vs {first_took:?}",
        t0.elapsed()
    );
    assert!(metric(&r, "cpu_percent").unwrap() > 1.0, "{r:?}");
}

#[tokio::test]
async fn zombies_and_exited_processes_do_not_count() {
    let arg = "0.000".to_owned() + &std::process::id().to_string();
    let mut child = Command::new("sleep").arg(&arg).spawn().unwrap();
    // Not reaped yet: a zombie, until we wait for it.
    let stat = format!("/proc/{}/stat", child.id());
    let t0 = Instant::now();
    while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
        assert!(t0.elapsed() < T, "sleep did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let r = check(&format!("cmdline: {}", re(&arg))).await;
    assert_eq!(metric(&r, "processes"), Some(0.0), "{r:?}");
    child.wait().unwrap();
}

#[tokio::test]
async fn an_unknown_user_is_unknown() {
    let r = check("{ name: sleep, user: no-such-user-here }").await;
    assert_eq!(r.status, Status::Unknown);
    assert_eq!(
        r.message,
        "user \"no-such-user-here\" is not in /etc/passwd"
    );
}
