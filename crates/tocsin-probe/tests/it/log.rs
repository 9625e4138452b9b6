//! The `log` probe against real local targets.
