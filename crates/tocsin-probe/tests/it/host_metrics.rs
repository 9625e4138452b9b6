//! The `host_metrics` probe against real local targets.
