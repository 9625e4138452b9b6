//! The opsgenie channel against a local server playing the provider.
