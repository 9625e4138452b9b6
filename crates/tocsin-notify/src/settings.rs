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

/// serde_json's messages quote the offending value (`invalid type: string "hunter2"`,
/// `invalid type: integer `1234``); a secret must not end up in a log, so values are replaced
/// by `…`: double-quoted ones anywhere, and whatever an `invalid type:`/`invalid value:` names
/// before its `, expected`.
fn strip_value(msg: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((what, expected)) = rest.split_once(", expected")
        {
            // Keep the kind (`string`, `integer`) and drop the value.
            let kind = what.split_whitespace().next().unwrap_or("value");
            return format!("{prefix}{kind} …, expected{}", strip_quoted(expected));
        }
    }
    strip_quoted(msg)
}

fn strip_quoted(msg: &str) -> String {
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
            "invalid type: string …, expected u16"
        );
        assert_eq!(
            strip_value("invalid type: integer `1234`, expected a string at line 1"),
            "invalid type: integer …, expected a string at line 1"
        );
        assert_eq!(
            strip_value("unknown field `pasword`, expected one of `password`"),
            "unknown field `pasword`, expected one of `password`"
        );
    }
}
