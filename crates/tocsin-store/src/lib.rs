//! tocsin-store.
