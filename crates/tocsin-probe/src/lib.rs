//! tocsin-probe.
