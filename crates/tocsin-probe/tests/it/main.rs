//! Integration tests of the probes against the testkit's real servers on 127.0.0.1.

mod common;
mod http;
mod tcp;
