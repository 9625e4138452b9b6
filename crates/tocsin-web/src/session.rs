//! Browser sessions: a token typed once on the login page becomes a session cookie.
//!
//! The cookie (`tocsin_session`, HttpOnly, SameSite=Strict, `Secure` when the public URL is
//! https) holds a random 128-bit session id; the server keeps, in memory, the SHA-256 of that
//! id with the hash of the token it stands for and a CSRF token for the session's forms.
//! Every request re-reads the token by its hash, so revoking the token ends its sessions.
//! Sessions live in memory: a restart logs everyone out, which is the safe direction.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::auth::{hash_token, random_hex};

/// The cookie's name.
pub const COOKIE: &str = "tocsin_session";

/// How long a session lasts without use (ms): 12 hours.
pub const IDLE_MS: i64 = 12 * 3600 * 1000;

/// Sessions at most (the oldest is dropped beyond).
const MAX_SESSIONS: usize = 10_000;

/// One session.
#[derive(Clone, Debug)]
pub struct Session {
    /// The hash of the token it stands for.
    pub token_hash: String,
    /// The token every form of this session must carry back (field `csrf`).
    pub csrf: String,
    /// Last use, Unix ms.
    pub seen_ms: i64,
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for a token (already checked); returns the cookie value.
    pub fn open(&self, token_hash: String, now_ms: i64) -> std::io::Result<String> {
        let id = random_hex(16)?;
        let session = Session {
            token_hash,
            csrf: random_hex(16)?,
            seen_ms: now_ms,
        };
        let mut map = self.lock();
        map.retain(|_, s| now_ms - s.seen_ms < IDLE_MS);
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.seen_ms)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(hash_token(&id), session);
        Ok(id)
    }

    /// The session of a cookie value, if it is live (its last use moves to `now_ms`).
    pub fn get(&self, cookie: &str, now_ms: i64) -> Option<Session> {
        let mut map = self.lock();
        let key = hash_token(cookie);
        let s = map.get_mut(&key)?;
        if now_ms - s.seen_ms >= IDLE_MS {
            map.remove(&key);
            return None;
        }
        s.seen_ms = now_ms;
        Some(s.clone())
    }

    /// Ends a session.
    pub fn close(&self, cookie: &str) {
        self.lock().remove(&hash_token(cookie));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_hash
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The value of cookie `name` in a `Cookie:` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_expire_and_close() {
        let s = Sessions::default();
        let c = s.open("h".into(), 0).unwrap();
        assert_eq!(s.get(&c, 1000).unwrap().token_hash, "h");
        assert!(s.get("other", 1000).is_none());
        assert!(s.get(&c, 1000 + IDLE_MS).is_none(), "idle too long");
        let c = s.open("h".into(), 0).unwrap();
        s.close(&c);
        assert!(s.get(&c, 1).is_none());
    }

    #[test]
    fn cookies_are_found_by_name() {
        let h = "a=1; tocsin_session=abc; b=2";
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie(h, "c"), None);
    }
}
