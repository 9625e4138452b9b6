//! The store's error type. Every message says what failed; URLs in it are redacted.

use std::path::PathBuf;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL names no backend we support.
    #[error(
        "unsupported database URL {url:?}: expected sqlite:///path/to/file.db, sqlite://relative.db, \
         sqlite::memory: or postgres://user@host/database"
    )]
    UnsupportedUrl {
        /// The URL, redacted.
        url: String,
    },
    /// A path that cannot be put in a URL.
    #[error("database path {path:?} is not valid UTF-8")]
    NonUtf8Path {
        /// The path.
        path: PathBuf,
    },
    /// The data directory could not be created.
    #[error("cannot create the data directory {path:?}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Connecting (or setting up a new connection) failed.
    #[error("cannot open the database {url}: {source}")]
    Connect {
        /// The URL, redacted.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// Running the embedded migrations failed.
    #[error("migrating the database {url} failed: {source}")]
    Migrate {
        /// The URL, redacted.
        url: String,
        /// Why.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed.
    #[error("{op} failed ({backend} store): {source}")]
    Query {
        /// What we were doing: `insert results`, `load states`, …
        op: &'static str,
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored JSON column could not be decoded.
    #[error("stored {what} of check {check:?} is not valid: {source}")]
    Decode {
        /// `result body`, `state`, …
        what: &'static str,
        /// The check.
        check: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A stored alarm, alarm event or outbox row could not be decoded.
    #[error("stored {what} {row} is not valid: {reason}")]
    Corrupt {
        /// `alarm body`, `alarm event`, `delivery`, …
        what: &'static str,
        /// Which row: `tenant/id` of an alarm, the id of a delivery.
        row: String,
        /// Why.
        reason: String,
    },
}

impl StoreError {
    /// Whether the statement broke a uniqueness rule (an id that exists already).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Query { source, .. }
            if source.as_database_error().is_some_and(|d| d.is_unique_violation()))
    }
}
