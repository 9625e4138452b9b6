//! The eventbridge channel against a local server playing the provider.
