//! Integration tests of the probes against the testkit's real servers on 127.0.0.1, real
//! programs and real files.

mod common;

mod command;
mod disk;
mod dns;
mod guard;
mod host_metrics;
mod http;
mod icmp;
mod log;
mod process;
mod tcp;
mod tls;
