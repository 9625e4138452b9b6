//! Reading a contact's free-form `settings` map into a channel's typed settings struct, with
//! errors that name the contact and the setting (and never show a value: settings hold secrets).

use serde::de::DeserializeOwned;
use tocsin_core::directory::Contact;

use crate::BuildError;

/// Deserialises `contact.settings` into `T` (which should deny unknown fields).
pub(crate) fn parse<T: DeserializeOwned>(contact: &Contact) -> Result<T, BuildError> {
    let map: serde_json::Map<String, serde_json::Value> = contact
        .settings
        .keys()
        .filter_map(|k| contact.settings.get(k).map(|v| (k.to_owned(), v.clone())))
        .collect();
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| BuildError::setting(contact, "settings", strip_value(&e.to_string())))
}

/// serde_json's messages quote the offending value (`invalid type: string "hunter2"`); a
/// secret must not end up in a log, so quoted values are replaced by `…`.
fn strip_value(msg: &str) -> String {
    // Field names in "unknown field `x`, expected one of `a`, `b`" use backquotes, which we
    // keep; values use double quotes.
    let mut out = String::with_capacity(msg.len());
    let mut in_quote = false;
    for c in msg.chars() {
        match (c, in_quote) {
            ('"', false) => {
                in_quote = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                in_quote = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hidden() {
        assert_eq!(
            strip_value("invalid type: string \"hunter2\", expected u16"),
            "invalid type: string \"…\", expected u16"
        );
        assert_eq!(
            strip_value("unknown field `pasword`, expected one of `password`"),
            "unknown field `pasword`, expected one of `password`"
        );
    }
}
