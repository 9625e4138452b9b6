//! The four statuses of a result, numbered as Nagios numbers them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The status of one result: `ok`, `warning`, `critical` or `unknown` (Nagios 0/1/2/3).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The check passed.
    #[default]
    Ok,
    /// The check passed a warning threshold.
    Warning,
    /// The check failed.
    Critical,
    /// The check could not tell (for example a plugin that exits 3).
    Unknown,
}

impl Status {
    /// All statuses, in Nagios order.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Warning, Self::Critical, Self::Unknown];

    /// The Nagios code: 0, 1, 2 or 3.
    pub const fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Critical => 2,
            Self::Unknown => 3,
        }
    }

    /// The status for a Nagios code; anything outside 0..=3 is `unknown`.
    pub const fn from_code(code: i64) -> Self {
        match code {
            0 => Self::Ok,
            1 => Self::Warning,
            2 => Self::Critical,
            _ => Self::Unknown,
        }
    }

    /// Whether this status is a problem (anything but `ok`).
    pub const fn is_bad(self) -> bool {
        !matches!(self, Self::Ok)
    }

    /// Rank for "worst of": ok < warning < unknown < critical.
    pub const fn severity(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Warning => 1,
            Self::Unknown => 2,
            Self::Critical => 3,
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Self) -> Self {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// The lowercase name, as in files and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_worst_is_critical() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(i64::from(s.code())), s);
        }
        assert_eq!(Status::from_code(7), Status::Unknown);
        assert_eq!(Status::Ok.worst(Status::Unknown), Status::Unknown);
        assert_eq!(Status::Critical.worst(Status::Unknown), Status::Critical);
        assert_eq!(Status::Warning.worst(Status::Ok), Status::Warning);
    }
}
