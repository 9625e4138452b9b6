//! The `icmp` probe against real local targets.
