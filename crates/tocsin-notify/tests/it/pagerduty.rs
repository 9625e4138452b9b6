//! The pagerduty channel against a local server playing the provider.
