//! The `mattermost` channel (not yet written).

use tocsin_core::directory::Contact;

use crate::{BuildError, Defaults, Message, Notifier, SendFuture};

/// A built mattermost channel.
#[derive(Debug)]
pub struct Mattermost {}

impl Mattermost {
    /// Builds the channel of a `mattermost` contact.
    pub fn build(contact: &Contact, _defaults: &Defaults) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported {
            contact: contact.id.clone(),
            kind: contact.kind,
        })
    }
}

impl Notifier for Mattermost {
    fn send<'a>(&'a self, _m: &'a Message) -> SendFuture<'a> {
        Box::pin(async { Err(crate::DeliveryError::permanent("not written")) })
    }
}
