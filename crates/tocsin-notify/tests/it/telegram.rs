//! The telegram channel against a local server playing the provider.
