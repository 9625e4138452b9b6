//! The gotify channel against a local server playing the provider.
