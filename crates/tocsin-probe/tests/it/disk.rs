//! The `disk` probe against real local targets.
