//! The teams channel against a local server playing the provider.
