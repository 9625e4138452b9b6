//! The UI's stylesheet and script, compiled into the binary and served under `/assets/` with
//! a content hash in their names (`app.<hash>.css`), so browsers may keep them for a year:
//! a new build that changes them changes their names.
//!
//! The unhashed names (`/assets/app.css`, `/assets/app.js`) answer too, revalidated on every
//! use, for tools that want a stable address.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");

/// A year: hashed names never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct Asset {
    /// `app.css`.
    plain: &'static str,
    /// `/assets/app.<hash>.css`.
    url: String,
    body: &'static str,
    content_type: &'static str,
}

impl Asset {
    fn new(plain: &'static str, body: &'static str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let (stem, ext) = plain.rsplit_once('.').unwrap_or((plain, ""));
        Self {
            plain,
            url: format!("/assets/{stem}.{hash}.{ext}"),
            body,
            content_type,
        }
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        Asset::new("app.css", CSS, "text/css; charset=utf-8"),
        Asset::new("app.js", JS, "text/javascript; charset=utf-8"),
    ]
});

/// The stylesheet's address, with its hash.
pub(crate) fn css_url() -> &'static str {
    &ASSETS[0].url
}

/// The script's address, with its hash.
pub(crate) fn js_url() -> &'static str {
    &ASSETS[1].url
}

/// `GET /assets/{name}`.
pub(crate) async fn serve(Path(name): Path<String>) -> Response {
    for a in ASSETS.iter() {
        let cache = if a.url.strip_prefix("/assets/") == Some(name.as_str()) {
            IMMUTABLE
        } else if a.plain == name {
            "no-cache"
        } else {
            continue;
        };
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            ],
            a.body,
        )
            .into_response();
    }
    (StatusCode::NOT_FOUND, "no such asset").into_response()
}
