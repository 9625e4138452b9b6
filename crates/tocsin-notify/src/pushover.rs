//! The `pushover` channel (not yet written).

use tocsin_core::directory::Contact;

use crate::{BuildError, Defaults, Message, Notifier, SendFuture};

/// A built pushover channel.
#[derive(Debug)]
pub struct Pushover {}

impl Pushover {
    /// Builds the channel of a `pushover` contact.
    pub fn build(contact: &Contact, _defaults: &Defaults) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported {
            contact: contact.id.clone(),
            kind: contact.kind,
        })
    }
}

impl Notifier for Pushover {
    fn send<'a>(&'a self, _m: &'a Message) -> SendFuture<'a> {
        Box::pin(async { Err(crate::DeliveryError::permanent("not written")) })
    }
}
