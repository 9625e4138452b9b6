//! Loading checks of every probe kind: good files load, and every bad field is an error that
//! names the file, the line and column, and the field.

mod common;

mod command;
mod disk;
mod dns;
mod host_metrics;
mod icmp;
mod log;
mod process;
mod push;
mod tls;
