//! `disk:` — usage of a file system: space and inodes, judged against thresholds written the
//! way Amon's `disk-usage` probe wrote them (`20%` or `500M` of free space).
//!
//! The spec is the users' contract (field names are the YAML names); [`DiskSpec::validate`]
//! reports every problem with the field it is in, and [`DiskSpec::judge`] turns what `statvfs`
//! measured into findings. Both are pure: the probe does the measuring.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::Status;
use crate::assert::FieldError;
use crate::kinds::limits::{Direction, Finding, Inodes, Limits, Space, fmt_bytes, fmt_percent};

/// Amon's default: the check fails when less than 20% of the space is free.
pub const DEFAULT_FREE: Space = Space::Percent(20.0);

/// `disk:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiskSpec {
    /// Any absolute path on the file system to measure (the mount point or a path under it).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub path: Spanned<String>,
    /// Bad when the free space falls below a threshold: `20%` of the file system, or a size
    /// (`500M` = 500 MiB). Default, when neither `free` nor `used` is given:
    /// `{ critical: 20% }` (Amon's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free: Option<Limits<Space>>,
    /// Bad when the used space reaches a threshold: `90%`, or a size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used: Option<Limits<Space>>,
    /// Bad when the free inodes fall below a threshold: `5%` or a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<Limits<Inodes>>,
    /// Bad when the used inodes reach a threshold: `95%` or a count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_used: Option<Limits<Inodes>>,
}

/// What `statvfs` says about a file system, in bytes and inodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Size of the file system (`f_blocks × f_frsize`).
    pub total_bytes: u64,
    /// Space used (`(f_blocks − f_bfree) × f_frsize`).
    pub used_bytes: u64,
    /// Space available to unprivileged users (`f_bavail × f_frsize`): what `df` calls "Avail".
    pub free_bytes: u64,
    /// Inodes in the file system (`f_files`; 0 when the file system does not count them).
    pub inodes_total: u64,
    /// Free inodes (`f_ffree`).
    pub inodes_free: u64,
}

impl DiskUsage {
    /// Used space as `df` computes it: used / (used + available), so the space reserved for
    /// root counts as neither.
    pub fn used_percent(&self) -> f64 {
        let denom = self.used_bytes.saturating_add(self.free_bytes);
        if denom == 0 {
            return 0.0;
        }
        self.used_bytes as f64 * 100.0 / denom as f64
    }

    /// `100 − used_percent`: the share of the usable space still free.
    pub fn free_percent(&self) -> f64 {
        100.0 - self.used_percent()
    }

    /// Used inodes, `None` when the file system does not count inodes.
    pub fn inodes_used(&self) -> Option<u64> {
        (self.inodes_total > 0).then(|| self.inodes_total.saturating_sub(self.inodes_free))
    }

    /// Used inodes in percent, `None` when the file system does not count inodes.
    pub fn inodes_used_percent(&self) -> Option<f64> {
        self.inodes_used()
            .map(|u| u as f64 * 100.0 / self.inodes_total as f64)
    }
}

impl DiskSpec {
    /// Every problem with the spec, fields relative to the check (`disk.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let path = &self.path.value;
        if path.trim().is_empty() {
            errors.push(FieldError::at("disk.path", &self.path, "must not be empty"));
        } else if !path.starts_with('/') {
            errors.push(FieldError::at(
                "disk.path",
                &self.path,
                format!("must be an absolute path (got {path:?})"),
            ));
        }
        let space_value = |s: &Space| match s {
            Space::Percent(p) if *p > 100.0 => Some(format!("{s} is more than 100%")),
            _ => None,
        };
        let space_key = |s: &Space| match s {
            Space::Percent(p) => Some((0, *p)),
            Space::Bytes(b) => Some((1, *b as f64)),
        };
        let inode_value = |s: &Inodes| match s {
            Inodes::Percent(p) if *p > 100.0 => Some(format!("{s} is more than 100%")),
            _ => None,
        };
        let inode_key = |s: &Inodes| match s {
            Inodes::Percent(p) => Some((0, *p)),
            Inodes::Count(n) => Some((1, *n as f64)),
        };
        if let Some(l) = &self.free {
            l.validate(
                "disk.free",
                Direction::Below,
                space_value,
                space_key,
                &mut errors,
            );
        }
        if let Some(l) = &self.used {
            l.validate(
                "disk.used",
                Direction::Above,
                space_value,
                space_key,
                &mut errors,
            );
        }
        if let Some(l) = &self.inodes_free {
            l.validate(
                "disk.inodes_free",
                Direction::Below,
                inode_value,
                inode_key,
                &mut errors,
            );
        }
        if let Some(l) = &self.inodes_used {
            l.validate(
                "disk.inodes_used",
                Direction::Above,
                inode_value,
                inode_key,
                &mut errors,
            );
        }
        errors
    }

    /// A disk check reads a local file system: no host.
    pub fn target_host(&self) -> Option<String> {
        None
    }

    /// The `free` thresholds in force: the ones given, or Amon's `{ critical: 20% }` when
    /// neither `free` nor `used` is given.
    pub fn free_limits(&self) -> Option<Limits<Space>> {
        match (&self.free, &self.used) {
            (Some(f), _) => Some(f.clone()),
            (None, None) => Some(Limits::critical(DEFAULT_FREE)),
            (None, Some(_)) => None,
        }
    }

    /// Every threshold `u` breaches, each with its reason (critical before warning per field).
    pub fn judge(&self, u: &DiskUsage) -> Vec<Finding> {
        let path = &self.path.value;
        let mut out = Vec::new();
        let (fp, up) = (u.free_percent(), u.used_percent());
        let of = |b: u64| format!("{} of {}", fmt_bytes(b), fmt_bytes(u.total_bytes));
        if let Some(l) = self.free_limits()
            && let Some((status, t)) = l.judge(|t| match t {
                Space::Percent(p) => fp < *p,
                Space::Bytes(b) => u.free_bytes < *b,
            })
        {
            out.push(Finding::new(
                status,
                format!(
                    "{path}: {} free ({}), {status} below {t}",
                    fmt_percent(fp),
                    of(u.free_bytes)
                ),
            ));
        }
        if let Some(l) = &self.used
            && let Some((status, t)) = l.judge(|t| match t {
                Space::Percent(p) => up >= *p,
                Space::Bytes(b) => u.used_bytes >= *b,
            })
        {
            out.push(Finding::new(
                status,
                format!(
                    "{path}: {} used ({}), {status} at {t}",
                    fmt_percent(up),
                    of(u.used_bytes)
                ),
            ));
        }
        for (field, limits, dir) in [
            ("inodes_free", &self.inodes_free, Direction::Below),
            ("inodes_used", &self.inodes_used, Direction::Above),
        ] {
            let Some(l) = limits else { continue };
            let (Some(used), Some(used_pct)) = (u.inodes_used(), u.inodes_used_percent()) else {
                out.push(Finding::new(
                    Status::Unknown,
                    format!(
                        "{path}: the file system does not count inodes, so {field} cannot be \
                         judged"
                    ),
                ));
                continue;
            };
            let (n, pct, word) = match dir {
                Direction::Below => (u.inodes_free, 100.0 - used_pct, "free"),
                Direction::Above => (used, used_pct, "used"),
            };
            let hit = l.judge(|t| {
                let (v, t) = match t {
                    Inodes::Percent(p) => (pct, *p),
                    Inodes::Count(c) => (n as f64, *c as f64),
                };
                match dir {
                    Direction::Below => v < t,
                    Direction::Above => v >= t,
                }
            });
            if let Some((status, t)) = hit {
                let rel = match dir {
                    Direction::Below => "below",
                    Direction::Above => "at",
                };
                out.push(Finding::new(
                    status,
                    format!(
                        "{path}: {} of inodes {word} ({n} of {}), {status} {rel} {t}",
                        fmt_percent(pct),
                        u.inodes_total
                    ),
                ));
            }
        }
        out
    }

    /// The one-line summary of a healthy file system: `/var: 41.2% used, 5.9 GiB free of 10 GiB`.
    pub fn summary(&self, u: &DiskUsage) -> String {
        let mut m = format!(
            "{}: {} used, {} free of {}",
            self.path.value,
            fmt_percent(u.used_percent()),
            fmt_bytes(u.free_bytes),
            fmt_bytes(u.total_bytes)
        );
        if let Some(p) = u.inodes_used_percent() {
            m.push_str(&format!(", {} of inodes used", fmt_percent(p)));
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> DiskSpec {
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
    }

    const GIB: u64 = 1 << 30;

    /// 10 GiB, `used` GiB used, `free` GiB available; 1000 inodes, `ifree` free.
    fn usage(used: u64, free: u64, ifree: u64) -> DiskUsage {
        DiskUsage {
            total_bytes: 10 * GIB,
            used_bytes: used * GIB,
            free_bytes: free * GIB,
            inodes_total: 1000,
            inodes_free: ifree,
        }
    }

    #[test]
    fn usage_is_computed_as_df_does() {
        // 1 GiB reserved for root: neither used nor available.
        let u = usage(6, 3, 500);
        assert!((u.used_percent() - 66.666).abs() < 0.01);
        assert!((u.free_percent() - 33.333).abs() < 0.01);
        assert_eq!(u.inodes_used(), Some(500));
        assert_eq!(DiskUsage::default().used_percent(), 0.0);
        assert_eq!(DiskUsage::default().inodes_used_percent(), None);
    }

    #[test]
    fn amon_default_is_critical_below_20_percent_free() {
        let s = spec("path: /var");
        assert!(s.judge(&usage(7, 3, 900)).is_empty());
        let f = s.judge(&usage(9, 1, 900));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, Status::Critical);
        assert_eq!(
            f[0].message,
            "/var: 10.0% free (1 GiB of 10 GiB), critical below 20%"
        );
        // With `used` given, there is no default on free space.
        let s = spec("path: /var\nused: { critical: 95% }");
        assert!(s.judge(&usage(9, 1, 900)).is_empty());
    }

    #[test]
    fn thresholds_table() {
        let cases = [
            // (spec, used GiB, free GiB, free inodes, expected statuses)
            ("free: { warning: 20%, critical: 500M }", 8, 2, 900, vec![]),
            (
                "free: { warning: 30%, critical: 500M }",
                8,
                2,
                900,
                vec![Status::Warning],
            ),
            (
                "free: { warning: 30%, critical: 3G }",
                8,
                2,
                900,
                vec![Status::Critical],
            ),
            (
                "used: { warning: 80%, critical: 90% }",
                8,
                2,
                900,
                vec![Status::Warning],
            ),
            (
                "used: { warning: 70%, critical: 80% }",
                8,
                2,
                900,
                vec![Status::Critical],
            ),
            ("used: { critical: 9GiB }", 8, 2, 900, vec![]),
            (
                "inodes_free: { critical: 5% }",
                1,
                9,
                40,
                vec![Status::Critical],
            ),
            ("inodes_free: { critical: 5% }", 1, 9, 60, vec![]),
            (
                "inodes_free: { warning: 100 }",
                1,
                9,
                60,
                vec![Status::Warning],
            ),
            (
                "inodes_used: { warning: 90%, critical: 99% }",
                1,
                9,
                50,
                vec![Status::Warning],
            ),
            (
                "used: { warning: 50% }\ninodes_used: { critical: 900 }",
                8,
                2,
                50,
                vec![Status::Warning, Status::Critical],
            ),
        ];
        for (extra, used, free, ifree, want) in cases {
            let s = spec(&format!("path: /d\n{extra}"));
            assert!(s.validate().is_empty(), "{extra}: {:?}", s.validate());
            let got: Vec<Status> = s
                .judge(&usage(used, free, ifree))
                .iter()
                .map(|f| f.status)
                .collect();
            assert_eq!(got, want, "{extra}");
        }
    }

    #[test]
    fn inode_thresholds_on_a_file_system_without_inodes_are_unknown() {
        let s = spec("path: /d\ninodes_free: { critical: 5% }");
        let mut u = usage(1, 9, 0);
        u.inodes_total = 0;
        let f = s.judge(&u);
        assert_eq!(f[0].status, Status::Unknown);
        assert!(f[0].message.contains("does not count inodes"), "{f:?}");
    }

    #[test]
    fn validation() {
        let fields = |yaml: &str| -> Vec<String> {
            spec(yaml).validate().into_iter().map(|e| e.field).collect()
        };
        assert!(fields("path: /").is_empty());
        assert_eq!(fields("path: var"), ["disk.path"]);
        assert_eq!(fields("path: ''"), ["disk.path"]);
        assert_eq!(
            fields("path: /\nfree: { warning: 10%, critical: 20% }"),
            ["disk.free.warning"]
        );
        // A percentage and a size cannot be ordered: accepted.
        assert!(fields("path: /\nfree: { warning: 1%, critical: 5G }").is_empty());
        assert_eq!(
            fields("path: /\nused: { warning: 95%, critical: 90% }"),
            ["disk.used.warning"]
        );
        assert_eq!(
            fields("path: /\nused: { critical: 120% }"),
            ["disk.used.critical"]
        );
        assert_eq!(fields("path: /\ninodes_used: {}"), ["disk.inodes_used"]);
        assert_eq!(
            fields("path: /\ninodes_free: { warning: 5, critical: 10 }"),
            ["disk.inodes_free.warning"]
        );
    }

    #[test]
    fn summary_reads_well() {
        let s = spec("path: /var");
        assert_eq!(
            s.summary(&usage(4, 6, 900)),
            "/var: 40.0% used, 6 GiB free of 10 GiB, 10.0% of inodes used"
        );
    }
}
