//! Configuration errors of the `tls` kind, placed in their files.
