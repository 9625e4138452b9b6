//! Configuration errors of the `dns` kind, placed in their files.
