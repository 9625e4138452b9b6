//! The `dns` probe against real local targets.
