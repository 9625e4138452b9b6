//! The `command` probe against real local targets.
