//! The mattermost channel against a local server playing the provider.
