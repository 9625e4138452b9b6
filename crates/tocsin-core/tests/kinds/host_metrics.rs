//! Configuration errors of the `host_metrics` kind, placed in their files.
