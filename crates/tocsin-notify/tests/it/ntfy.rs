//! The ntfy channel against a local server playing the provider.
