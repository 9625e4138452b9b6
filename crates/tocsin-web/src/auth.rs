//! API tokens: how they are made, stored (a SHA-256 hash only) and checked on requests.
//!
//! A token reads `tcn_<id>_<secret>`: `id` is 8 hex characters, public (listings, logs), and
//! `secret` 32 hex characters (128 bits from the kernel's random source). The store keeps the
//! id and the hex SHA-256 of the whole token; a lookup hashes what the client sent and finds
//! the row by hash, so comparing is done by the database on a digest, never on the secret.
//!
//! Roles: `operator` (everything, every tenant), `admin` (a tenant's administrator: reads and
//! changes its tenant's objects) and `read` (reads its tenant's objects). A token of the
//! operator's own tenant (`""`) with role `admin` or `read` is scoped like any tenant's: it
//! sees the objects that belong to no tenant. Another tenant's object is a 404, never a 403.
//!
//! A browser sends no `Authorization` header: its session cookie ([`crate::session`]) stands
//! for the token it logged in with, for reads only (`GET`, `HEAD`); the dashboard's forms
//! post to its own routes, which check the session's CSRF token.
//!
//! Every authenticated request takes a token from its token's bucket (the per-token rate
//! limit, [`crate::WebOptions::api_rate`]); an empty bucket answers 429 with `Retry-After`.

use std::io::Read as _;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use sha2::{Digest, Sha256};
use tocsin_store::{Store, StoreError, TokenRow};

use crate::{ApiError, AppState};

/// The roles a token may have.
pub const ROLES: [&str; 3] = ["operator", "admin", "read"];

/// Hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// `n` random bytes as lower-case hex, from the kernel.
pub(crate) fn random_hex(n: usize) -> std::io::Result<String> {
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
    /// The tenant name is not valid.
    #[error("tenant: {0}")]
    Tenant(String),
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
    tenant: &str,
    name: &str,
    role: &str,
    now_ms: i64,
) -> Result<(TokenRow, String), TokenError> {
    if !ROLES.contains(&role) {
        return Err(TokenError::Role(role.to_owned()));
    }
    if !tenant.is_empty() {
        tocsin_core::check::validate_tenant(tenant).map_err(TokenError::Tenant)?;
        if role == "operator" {
            return Err(TokenError::Role(
                "operator: a tenant's token is admin or read".to_owned(),
            ));
        }
    }
    if name.trim().is_empty() {
        return Err(TokenError::Name);
    }
    let id = random_hex(4)?;
    let token = format!("tcn_{id}_{}", random_hex(16)?);
    let row = TokenRow {
        id,
        tenant: tenant.to_owned(),
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

    /// Whether the token is the operator's (every tenant, every object).
    pub fn is_operator(&self) -> bool {
        self.token.role == "operator"
    }

    /// The tenant whose objects the token reaches (`""`: the operator's own objects).
    pub fn tenant(&self) -> &str {
        &self.token.tenant
    }

    /// Whether an object of `tenant` is visible to this token.
    pub fn sees(&self, tenant: &str) -> bool {
        self.is_operator() || self.token.tenant == tenant
    }

    /// Whether the token may change things.
    pub fn writes(&self) -> bool {
        self.token.role != "read"
    }
}

/// A request made with a token allowed to change things (`operator` or `admin`).
#[derive(Clone, Debug)]
pub struct Writer(pub Caller);

/// A request made with the operator's token.
#[derive(Clone, Debug)]
pub struct Operator(pub Caller);

/// The token a request carries: its `Authorization: Bearer` header, else (for reads) its
/// session cookie.
async fn token_of(parts: &Parts, app: &AppState) -> Result<TokenRow, ApiError> {
    let now = tocsin_engine::now_ms();
    let hash = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| ApiError::unauthenticated("Authorization: not valid text"))?;
            let token = value
                .strip_prefix("Bearer ")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::unauthenticated("Authorization: expected Bearer <token>")
                })?;
            hash_token(token)
        }
        None => {
            let session = parts
                .headers
                .get(header::COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|h| crate::session::cookie(h, crate::session::COOKIE))
                .and_then(|c| app.sessions.get(c, now))
                .ok_or_else(|| {
                    ApiError::unauthenticated(
                        "this request needs a token: Authorization: Bearer <token> (create \
                         one with `tocsin token create`)",
                    )
                })?;
            if !matches!(parts.method, Method::GET | Method::HEAD) {
                return Err(ApiError::forbidden(
                    "a session cookie only reads the API; send Authorization: Bearer <token> \
                     to change things",
                ));
            }
            session.token_hash
        }
    };
    let row = app
        .engine
        .store()
        .token_by_hash(&hash)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::unauthenticated("the token is unknown or revoked"))?;
    app.limit(&row.id, now)?;
    if row.last_used_ms.is_none_or(|t| now - t > 60_000) {
        // Best effort, off the request path.
        let store = app.engine.store().clone();
        let id = row.id.clone();
        tokio::spawn(async move {
            let _ = store.touch_token(&id, now).await;
        });
    }
    Ok(row)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(c) = parts.extensions.get::<Self>() {
            return Ok(c.clone());
        }
        let caller = Self {
            token: token_of(parts, app).await?,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl FromRequestParts<AppState> for Writer {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, app).await?;
        if !caller.writes() {
            return Err(ApiError::forbidden(format!(
                "token {} is read-only",
                caller.token.id
            )));
        }
        Ok(Self(caller))
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, app).await?;
        if !caller.is_operator() {
            return Err(ApiError::forbidden(format!(
                "token {} is not the operator's: this needs a token with role operator",
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
