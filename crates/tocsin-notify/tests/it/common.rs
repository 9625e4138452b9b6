//! Shared helpers: contacts and messages for the tests.

use std::collections::BTreeMap;

use tocsin_core::check::{Origin, Secret};
use tocsin_core::directory::{Contact, ContactKind, Settings};
use tocsin_notify::Message;

/// A contact of `kind` with `to`, `url` and `settings` (a JSON object).
pub(crate) fn contact(
    kind: ContactKind,
    to: Option<&str>,
    url: Option<&str>,
    settings: serde_json::Value,
) -> Contact {
    let map: BTreeMap<String, serde_json::Value> =
        serde_json::from_value(settings).expect("settings must be a JSON object");
    Contact {
        id: "ops".into(),
        name: "Ops".into(),
        kind,
        to: to.map(str::to_owned),
        url: url.map(Secret::new),
        settings: Settings::from(map),
        rate_limit: None,
        origin: Origin::default(),
    }
}

/// The sample message (tenant `acme`, alarm 42, `check=web`, opened, sequence 1).
pub(crate) fn message() -> Message {
    Message::sample()
}

/// The field a build error names; panics on any other error.
pub(crate) fn setting_field(e: tocsin_notify::BuildError) -> String {
    match e {
        tocsin_notify::BuildError::Setting { field, .. } => field,
        other => panic!("{other}"),
    }
}
