//! Database URLs: which backend a URL names, SQLite URL normalisation, and redaction of secrets.

use std::path::Path;

use crate::{Backend, StoreError};

/// The backend a URL names, from its scheme.
pub(crate) fn backend_of(url: &str) -> Result<Backend, StoreError> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Backend::Sqlite),
        Some("postgres" | "postgresql") => Ok(Backend::Postgres),
        _ => Err(StoreError::UnsupportedUrl { url: redact(url) }),
    }
}

/// Whether a SQLite URL names an in-memory database (one connection must then hold it alive).
pub(crate) fn sqlite_is_memory(url: &str) -> bool {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (db, params) = rest.split_once('?').unwrap_or((rest, ""));
    db == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// A SQLite URL with `mode=rwc` added (create the file if missing) unless it sets a mode itself.
pub(crate) fn sqlite_create_if_missing(url: &str) -> String {
    let params = url.split_once('?').map_or("", |(_, p)| p);
    if params.split('&').any(|p| p.starts_with("mode=")) {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL of the SQLite file at `path` (percent-encoded so any path survives URL parsing).
pub(crate) fn sqlite_url_for_path(path: &Path) -> Result<String, StoreError> {
    let s = path.to_str().ok_or_else(|| StoreError::NonUtf8Path {
        path: path.to_path_buf(),
    })?;
    let mut url = String::with_capacity(s.len() + 16);
    url.push_str("sqlite://");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(url)
}

/// The URL with any password replaced by `****`: the `user:password@` part and `password=`
/// query parameters. Safe to log and to put in errors.
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    // user:password@host
    if let Some(scheme_end) = out.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = out[auth_start..]
            .find(['/', '?', '#'])
            .map_or(out.len(), |i| auth_start + i);
        if let Some(at) = out[auth_start..auth_end].rfind('@') {
            let userinfo = &out[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let from = auth_start + colon + 1;
                let to = auth_start + at;
                out.replace_range(from..to, "****");
            }
        }
    }
    // ?password=…&sslpassword=…
    if let Some(q) = out.find('?') {
        let (head, query) = out.split_at(q + 1);
        let redacted: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.to_ascii_lowercase().contains("password") => format!("{k}=****"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{head}{}", redacted.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let cases = [
            (
                "postgres://u:secret@h:5432/db",
                "postgres://u:****@h:5432/db",
            ),
            ("postgres://u@h/db", "postgres://u@h/db"),
            (
                "postgres://u:p%40ss@h/db?sslmode=disable",
                "postgres://u:****@h/db?sslmode=disable",
            ),
            (
                "postgres://h/db?user=u&password=secret&x=1",
                "postgres://h/db?user=u&password=****&x=1",
            ),
            (
                "sqlite:///var/lib/tocsin/tocsin.db",
                "sqlite:///var/lib/tocsin/tocsin.db",
            ),
            ("sqlite://a@b.db", "sqlite://a@b.db"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn backends_and_sqlite_urls() {
        assert_eq!(backend_of("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/d").unwrap(), Backend::Postgres);
        assert_eq!(backend_of("postgresql://u@h/d").unwrap(), Backend::Postgres);
        let err = backend_of("mysql://u:pw@h/d").unwrap_err().to_string();
        assert!(
            err.contains("mysql://u:****@h/d") && !err.contains("pw"),
            "{err}"
        );

        assert!(sqlite_is_memory("sqlite::memory:"));
        assert!(sqlite_is_memory("sqlite://:memory:"));
        assert!(sqlite_is_memory("sqlite://x?mode=memory"));
        assert!(!sqlite_is_memory("sqlite:///tmp/x.db"));

        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?cache=shared"),
            "sqlite://a.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_create_if_missing("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );

        let url = sqlite_url_for_path(Path::new("/tmp/a b?#%/tocsin.db")).unwrap();
        assert_eq!(url, "sqlite:///tmp/a%20b%3F%23%25/tocsin.db");
    }
}
