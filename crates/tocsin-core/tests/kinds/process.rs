//! Configuration errors of the `process` kind, placed in their files.
