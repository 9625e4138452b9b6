//! API tokens: how they are made, stored (a SHA-256 hash only) and checked on requests.
//!
//! A token reads `tcn_<id>_<secret>`: `id` is 8 hex characters, public (listings, logs), and
//! `secret` 32 hex characters (128 bits from the kernel's random source). The store keeps the
//! id and the hex SHA-256 of the whole token; a lookup hashes what the client sent and finds
//! the row by hash, so comparing is done by the database on a digest, never on the secret.
//!
//! Roles: `operator` (everything), `admin` (a tenant's administrator; for now the same rights
//! as operator, as tenants do not exist yet) and `read` (reads only). Requests that change
//! something (alarm actions, maintenances, reload) need `operator` or `admin`.

use std::io::Read as _;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use tocsin_engine::Engine;
use tocsin_store::{Store, StoreError, TokenRow};

use crate::ApiError;

/// The roles a token may have.
pub const ROLES: [&str; 3] = ["operator", "admin", "read"];

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// `n` random bytes as lower-case hex, from the kernel.
fn random_hex(n: usize) -> std::io::Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(hex(&buf))
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The role is not one of [`ROLES`].
    #[error("role {0:?}: expected operator, admin or read")]
    Role(String),
    /// The name is empty.
    #[error("name: must not be empty")]
    Name,
    /// No random bytes.
    #[error("cannot read random bytes: {0}")]
    Random(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token: stores its hash and returns the row and the token (shown once, never
/// again).
pub async fn issue_token(
    store: &Store,
    name: &str,
    role: &str,
    now_ms: i64,
) -> Result<(TokenRow, String), TokenError> {
    if !ROLES.contains(&role) {
        return Err(TokenError::Role(role.to_owned()));
    }
    if name.trim().is_empty() {
        return Err(TokenError::Name);
    }
    let id = random_hex(4)?;
    let token = format!("tcn_{id}_{}", random_hex(16)?);
    let row = TokenRow {
        id,
        tenant: String::new(),
        name: name.trim().to_owned(),
        role: role.to_owned(),
        hash: hash_token(&token),
        created_ms: now_ms,
        last_used_ms: None,
        revoked_ms: None,
    };
    store.insert_token(&row).await?;
    Ok((row, token))
}

/// A request made with a valid token (any role).
#[derive(Clone, Debug)]
pub struct Caller {
    /// The token's row.
    pub token: TokenRow,
}

impl Caller {
    /// Who, for timelines: `token:<name>`.
    pub fn who(&self) -> String {
        format!("token:{}", self.token.name)
    }
}

/// A request made with a token allowed to change things (`operator` or `admin`).
#[derive(Clone, Debug)]
pub struct Writer(pub Caller);

impl FromRequestParts<Arc<Engine>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        engine: &Arc<Engine>,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "this request needs a token: Authorization: Bearer <token> (create one with \
                     `tocsin token create`)",
                )
            })?
            .to_str()
            .map_err(|_| ApiError::unauthenticated("Authorization: not valid text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthenticated("Authorization: expected Bearer <token>"))?;
        let row = engine
            .store()
            .token_by_hash(&hash_token(token))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown or revoked"))?;
        let now = tocsin_engine::now_ms();
        if row.last_used_ms.is_none_or(|t| now - t > 60_000) {
            // Best effort, off the request path.
            let store = engine.store().clone();
            let id = row.id.clone();
            tokio::spawn(async move {
                let _ = store.touch_token(&id, now).await;
            });
        }
        Ok(Self { token: row })
    }
}

impl FromRequestParts<Arc<Engine>> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        engine: &Arc<Engine>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, engine).await?;
        if caller.token.role == "read" {
            return Err(ApiError::forbidden(format!(
                "token {} is read-only",
                caller.token.id
            )));
        }
        Ok(Self(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_hex_has_the_length_asked() {
        let a = random_hex(16).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(a, random_hex(16).unwrap());
    }
}
