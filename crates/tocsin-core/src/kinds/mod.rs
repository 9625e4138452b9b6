//! The specs of the probe kinds other than `http` and `tcp` (which live in [`crate::check`]):
//! one module per kind. Each spec validates itself into [`crate::assert::FieldError`]s, whose
//! fields are relative to the check, so the loader can place every error in its file.

pub mod command;
pub mod disk;
pub mod dns;
pub mod host_metrics;
pub mod icmp;
pub mod limits;
pub mod log;
pub mod perfdata;
pub mod process;
pub mod push;
pub mod tls;

pub use command::CommandSpec;
pub use disk::DiskSpec;
pub use dns::DnsSpec;
pub use host_metrics::HostMetricsSpec;
pub use icmp::IcmpSpec;
pub use log::LogSpec;
pub use process::ProcessSpec;
pub use push::PushSpec;
pub use tls::TlsSpec;
