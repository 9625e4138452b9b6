//! The cloudwatch channel against a local server playing the provider.
