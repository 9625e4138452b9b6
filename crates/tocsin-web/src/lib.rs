//! tocsin-web.
