//! The `eventbridge` channel (not yet written).

use tocsin_core::directory::Contact;

use crate::{BuildError, Defaults, Message, Notifier, SendFuture};

/// A built eventbridge channel.
#[derive(Debug)]
pub struct Eventbridge {}

impl Eventbridge {
    /// Builds the channel of a `eventbridge` contact.
    pub fn build(contact: &Contact, _defaults: &Defaults) -> Result<Self, BuildError> {
        Err(BuildError::Unsupported {
            contact: contact.id.clone(),
            kind: contact.kind,
        })
    }
}

impl Notifier for Eventbridge {
    fn send<'a>(&'a self, _m: &'a Message) -> SendFuture<'a> {
        Box::pin(async { Err(crate::DeliveryError::permanent("not written")) })
    }
}
