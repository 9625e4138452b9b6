//! The twilio channel against a local server playing the provider.
