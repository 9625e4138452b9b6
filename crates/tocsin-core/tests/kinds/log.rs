//! Configuration errors of the `log` kind, placed in their files.
