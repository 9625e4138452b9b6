//! The `discord` channel (not yet written).

use tocsin_core::directory::Contact;

use crate::{BuildError, Defaults, Message, Notifier, SendFuture};

/// A built discord channel.
#[derive(Debug)]
pub struct Discord {}

impl Discord {
    /// Builds the channel of a `discord` contact.
    pub fn build(contact: &Contact, _defaults: &Defaults) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported {
            contact: contact.id.clone(),
            kind: contact.kind,
        })
    }
}

impl Notifier for Discord {
    fn send<'a>(&'a self, _m: &'a Message) -> SendFuture<'a> {
        Box::pin(async { Err(crate::DeliveryError::permanent("not written")) })
    }
}
