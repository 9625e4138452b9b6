//! The `process` probe against real local targets.
