//! The discord channel against a local server playing the provider.
