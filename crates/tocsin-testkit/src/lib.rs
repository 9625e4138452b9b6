//! tocsin-testkit.
