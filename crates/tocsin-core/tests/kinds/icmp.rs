//! Configuration errors of the `icmp` kind, placed in their files.
