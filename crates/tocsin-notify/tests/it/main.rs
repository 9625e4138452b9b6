//! Integration tests of tocsin-notify's channels against real local servers: the testkit's HTTP
//! server playing each provider (it checks the exact request the provider documents and answers
//! as the provider does), aiosmtpd (Debian's python3-aiosmtpd) for email.

#[cfg(feature = "aws")]
mod cloudwatch;
mod common;
mod datadog;
mod discord;
mod email;
#[cfg(feature = "aws")]
mod eventbridge;
mod gotify;
mod mattermost;
mod ntfy;
mod opsgenie;
mod pagerduty;
mod pushover;
mod slack;
mod teams;
mod telegram;
mod twilio;
mod webhook;
