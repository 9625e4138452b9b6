//! Configuration errors of the `command` kind, placed in their files.
