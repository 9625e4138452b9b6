//! Tocsin's pure core: the model, the configuration schema and its loading, schedules, the state
//! engine and the assertions that turn a response into a status.
//!
//! Architecture invariant: this crate does no network I/O, starts no tasks and speaks no SQL. The
//! only I/O it does is reading configuration files in [`config`]. Everything that decides (states,
//! schedules, assertions) is a pure function tested with tables.

pub mod alarm;
pub mod assert;
pub mod check;
pub mod config;
pub mod directory;
pub mod duration;
pub mod kinds;
pub mod result;
pub mod schedule;
#[cfg(feature = "openapi")]
mod schema;
pub mod state;
pub mod status;

pub use check::{AlertPolicy, CheckId, CheckSpec, FlapPolicy, ProbeSpec};
pub use duration::Dur;
pub use result::{CheckResult, Metric, Timings};
pub use schedule::Schedule;
pub use state::{CheckState, Transition};
pub use status::Status;
