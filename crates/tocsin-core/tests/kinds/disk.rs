//! Configuration errors of the `disk` kind, placed in their files.
