//! The `tls` probe against real local targets.
