//! Readings from `/proc`: CPU time of a process and of each of its threads, resident memory,
//! and the machine-wide CPU counters (to tell how busy the rest of the machine was).

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Clock ticks per second of the `/proc` CPU counters (`getconf CLK_TCK`, 100 when unknown).
pub(crate) fn ticks_per_second() -> f64 {
    static TCK: OnceLock<f64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Converts clock ticks to seconds.
pub(crate) fn secs(ticks: u64) -> f64 {
    ticks as f64 / ticks_per_second()
}

/// `(comm, utime + stime)` from the text of a `stat` file.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the comm: state(3) ppid(4) … utime(14) stime(15); index 0 is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// User plus system CPU ticks of a process (`"self"` or a PID), all its threads included.
pub(crate) fn process_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text).map(|(_, t)| t)
}

/// CPU ticks of the live threads of a process, summed by thread name.
pub(crate) fn thread_ticks(pid: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        if let Some((comm, t)) = parse_stat(&text) {
            *out.entry(comm).or_insert(0) += t;
        }
    }
    out
}

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub(crate) fn status_bytes(pid: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// This process's resident set size, bytes.
pub(crate) fn rss() -> u64 {
    status_bytes("self", "VmRSS").unwrap_or(0)
}

/// Machine-wide `(busy, total)` CPU ticks from `/proc/stat` (all CPUs summed).
pub(crate) fn machine_ticks() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// Number of CPUs and their model name, from `/proc/cpuinfo`.
pub(crate) fn cpu_model() -> (usize, String) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let models: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("model name"))
        .filter_map(|l| l.split_once(':').map(|(_, m)| m.trim()))
        .collect();
    let name = models.first().copied().unwrap_or("unknown").to_owned();
    (models.len(), name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parens_in_comm() {
        let text = "42 (tokio (rt) w) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat(text), Some(("tokio (rt) w".to_owned(), 300)));
    }

    #[test]
    fn own_counters_are_readable() {
        assert!(process_ticks("self").is_some());
        assert!(rss() > 0);
        assert!(!thread_ticks("self").is_empty());
        let (busy, total) = machine_ticks().unwrap();
        assert!(busy <= total);
    }
}
