//! The datadog channel against a local server playing the provider.
