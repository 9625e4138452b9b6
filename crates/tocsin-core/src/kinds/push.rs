//! `push:` — a dead-man check. Something outside Tocsin (a backup job, a cron script, a device)
//! posts its results to `POST /api/v1/push/{check-id}` with the check's token; the check turns
//! critical when nothing arrives within `within` plus `grace`.
//!
//! The spec is the users' contract (field names are the YAML names); [`PushSpec::validate`]
//! reports every problem with the field it is in.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Dur;
use crate::assert::FieldError;
use crate::check::Secret;

/// Shortest accepted token: long enough not to be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// `push:` as written in a check.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// The token a sender must present (`Authorization: Bearer …` or `?token=…`). Usually
    /// `${SOME_VARIABLE}`; never shown.
    pub token: Secret,
    /// A result is expected at least this often.
    pub within: Dur,
    /// Extra time allowed after `within` before the check turns critical (default 0s).
    #[serde(default)]
    pub grace: Dur,
}

impl PushSpec {
    /// Every problem with the spec, fields relative to the check (`push.…`).
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let n = self.token.expose().chars().count();
        if n < MIN_TOKEN_LEN {
            errors.push(FieldError::nowhere(
                "push.token",
                format!(
                    "must be at least {MIN_TOKEN_LEN} characters (got {n}); generate one with \
                     e.g. `openssl rand -hex 16`"
                ),
            ));
        }
        if self.within.get() < Duration::from_secs(1) {
            errors.push(FieldError::nowhere(
                "push.within",
                format!("must be at least 1s (got {})", self.within),
            ));
        }
        errors
    }

    /// The longest silence allowed: `within` plus `grace`.
    pub fn deadline(&self) -> Duration {
        self.within.get() + self.grace.get()
    }

    /// Whether `token` is this check's token, compared in constant time.
    pub fn accepts(&self, token: &str) -> bool {
        let want = self.token.expose().as_bytes();
        let got = token.as_bytes();
        let mut diff = want.len() ^ got.len();
        for (i, w) in want.iter().enumerate() {
            diff |= usize::from(w ^ got.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }

    /// A push check talks to no host.
    pub fn target_host(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(token: &str, within: &str) -> PushSpec {
        serde_saphyr::from_str(&format!("{{ token: {token}, within: {within} }}")).unwrap()
    }

    #[test]
    fn tokens_compare_exactly() {
        let s = spec("0123456789abcdef", "1h");
        assert!(s.accepts("0123456789abcdef"));
        for bad in [
            "",
            "0123456789abcde",
            "0123456789abcdeF",
            "0123456789abcdef0",
        ] {
            assert!(!s.accepts(bad), "{bad:?}");
        }
    }

    #[test]
    fn validation() {
        assert!(spec("0123456789abcdef", "1h").validate().is_empty());
        let e = spec("short", "1h").validate();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "push.token");
        assert!(e[0].message.contains("at least 16"), "{}", e[0].message);
        assert_eq!(
            spec("0123456789abcdef", "0s").validate()[0].field,
            "push.within"
        );
        assert_eq!(
            spec("0123456789abcdef", "1h").deadline(),
            Duration::from_secs(3600)
        );
    }
}
