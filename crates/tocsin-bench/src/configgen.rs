//! Writes configuration directories of many generated checks, split into files of at most
//! `per_file` checks.

use std::fmt::Write as _;
use std::path::Path;

use tocsin_core::Dur;

/// What every generated check looks like.
pub(crate) struct Generated<'a> {
    /// Number of checks.
    pub(crate) checks: usize,
    /// Checks per file.
    pub(crate) per_file: usize,
    /// `defaults.every`.
    pub(crate) every: Dur,
    /// `defaults.timeout`.
    pub(crate) timeout: Dur,
    /// The probe of check `i`: its YAML lines under `- id: …`, indented by four spaces.
    pub(crate) probe: &'a dyn Fn(usize) -> String,
}

/// The probe lines of an HTTP check of `url`, expecting `status` if given.
pub(crate) fn http(url: &str, status: Option<u16>) -> String {
    let mut s = format!("    http:\n      url: {url}\n");
    if let Some(code) = status {
        let _ = writeln!(s, "      expect: {{ status: [{code}] }}");
    }
    s
}

/// Writes `gen` under `dir` (`checks-0000.yml`, …); returns the number of bytes written.
pub(crate) fn write(dir: &Path, g: &Generated<'_>) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let per_file = g.per_file.max(1);
    let mut bytes = 0u64;
    let mut start = 0;
    let mut file_no = 0;
    while start < g.checks {
        let end = (start + per_file).min(g.checks);
        let mut text = String::with_capacity((end - start) * 110 + 64);
        let _ = write!(
            text,
            "defaults:\n  every: {}\n  timeout: {}\nchecks:\n",
            g.every, g.timeout
        );
        for i in start..end {
            let _ = write!(text, "  - id: bench-{i:07}\n{}", (g.probe)(i));
        }
        std::fs::write(dir.join(format!("checks-{file_no:04}.yml")), &text)?;
        bytes += text.len() as u64;
        start = end;
        file_no += 1;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_directory_loads_without_errors() {
        let dir = tempfile::tempdir().unwrap();
        let probe = |i: usize| http(&format!("http://127.0.0.1:9/x-{i}"), Some(200));
        let g = Generated {
            checks: 25,
            per_file: 10,
            every: Dur::secs(2),
            timeout: Dur::secs(2),
            probe: &probe,
        };
        write(dir.path(), &g).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        let mut set = tocsin_core::config::ConfigSet::default();
        set.reload(dir.path(), &|_| None);
        assert!(set.all_errors().is_empty(), "{:?}", set.all_errors());
        assert_eq!(set.catalog().checks.len(), 25);
    }
}
