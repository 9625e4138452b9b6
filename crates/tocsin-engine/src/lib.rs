//! tocsin-engine.
