//! Integration tests of tocsin-notify's channels against real local servers: the testkit's HTTP
//! server for webhooks, aiosmtpd (Debian's python3-aiosmtpd) for email.

mod common;
mod email;
mod webhook;
