//! The pushover channel against a local server playing the provider.
