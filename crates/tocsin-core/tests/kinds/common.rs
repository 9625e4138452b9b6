//! Helpers shared by the kind tests: load one file's text, get its check or its errors.

use tocsin_core::CheckSpec;
use tocsin_core::config::parse_file;

fn no_env(_: &str) -> Option<String> {
    None
}

/// The checks of a file that must load.
pub(crate) fn load(text: &str) -> Vec<CheckSpec> {
    match parse_file("t.yml", text, &no_env) {
        Ok(f) => f.checks.iter().map(|c| (**c).clone()).collect(),
        Err(errors) => {
            let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("{text}\nshould load, got:\n{}", shown.join("\n"))
        }
    }
}

/// The errors of a file that must not load, displayed as `t.yml:LINE:COL: FIELD: MESSAGE`.
pub(crate) fn errors(text: &str) -> Vec<String> {
    match parse_file("t.yml", text, &no_env) {
        Ok(_) => panic!("{text}\nshould not load"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Asserts that `text` fails with exactly one error that starts with `place_and_field` (such as
/// `t.yml:4:12: checks[0].dns.type`) and contains `words`.
pub(crate) fn assert_error(text: &str, place_and_field: &str, words: &str) {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{text}\nexpected one error, got {e:#?}");
    assert!(
        e[0].starts_with(place_and_field) && e[0].contains(words),
        "{text}\nexpected `{place_and_field}…{words}…`, got {:?}",
        e[0]
    );
}
