//! The stateless session: everything the server must remember between `auth`, `attest` and `resource`
//! travels in the `kbs-session-id` cookie, HMAC-SHA-384-signed under a key every replica shares. So a
//! client may meet a different replica at each step, and the server keeps no per-session memory; the
//! one shared fact, that a challenge was used, goes through [`crate::store::Store::consume_challenge`].
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha384;
use zeroize::Zeroizing;

use crate::store::StoreKey;

type HmacSha384 = Hmac<Sha384>;

/// What a session cookie says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Random id, hex; the key of the one-use challenge check.
    pub id: String,
    /// The challenge nonce handed out by `auth`, standard base64.
    pub nonce: String,
    /// The TEE type the client named.
    pub tee: String,
    /// When the challenge (and the cookie) expires, Unix seconds.
    pub expires: u64,
    /// After `attest`: the attestation token (its `jti` names it), so that a cookie alone can fetch
    /// resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Why a cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Not `payload.mac`, not base64url, not our JSON, or the MAC does not verify.
    #[error("the session cookie is malformed or not signed by this service")]
    Invalid,
    /// Signed by us, but past its expiry.
    #[error("the session (and its challenge) expired")]
    Expired,
}

/// The cookie signing key (zeroized when dropped).
#[derive(Clone)]
pub struct SessionKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

impl SessionKey {
    /// A key from its bytes (at least 32).
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 32).then(|| Self(Zeroizing::new(bytes)))
    }

    /// Derived from the store key (HKDF-SHA-384, RFC 5869), for deployments where every replica
    /// already shares the store key; a separate label keeps the two uses apart.
    pub fn derived_from(store_key: &StoreKey) -> Self {
        let mut key = Zeroizing::new(vec![0u8; 48]);
        Hkdf::<Sha384>::new(None, store_key.bytes())
            .expand(b"warden-verifier session cookie v1", &mut key)
            .expect("48 bytes is a valid HKDF-SHA-384 length");
        Self(key)
    }

    fn mac(&self) -> HmacSha384 {
        HmacSha384::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// The cookie value: base64url(JSON) "." base64url(HMAC-SHA-384 of the first part).
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).expect("a session serialises");
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = self.mac().chain_update(payload.as_bytes()).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks a cookie value's MAC (in constant time) and expiry.
    pub fn open(&self, cookie: &str, now: u64) -> Result<Session, SessionError> {
        let (payload, tag) = cookie.split_once('.').ok_or(SessionError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SessionError::Invalid)?;
        self.mac().chain_update(payload.as_bytes()).verify_slice(&tag).map_err(|_| SessionError::Invalid)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| SessionError::Invalid)?;
        let session: Session = serde_json::from_slice(&json).map_err(|_| SessionError::Invalid)?;
        if session.expires <= now {
            return Err(SessionError::Expired);
        }
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session { id: "ab".into(), nonce: "bm9uY2U=".into(), tee: "svsm".into(), expires: 100, token: None }
    }

    #[test]
    fn a_sealed_session_opens_until_it_expires() {
        let key = SessionKey::derived_from(&StoreKey::new([7; 32]));
        let cookie = key.seal(&session());
        assert_eq!(key.open(&cookie, 99), Ok(session()));
        assert_eq!(key.open(&cookie, 100), Err(SessionError::Expired));
    }

    #[test]
    fn another_key_or_a_changed_payload_is_refused() {
        let key = SessionKey::derived_from(&StoreKey::new([7; 32]));
        let cookie = key.seal(&session());
        let other = SessionKey::derived_from(&StoreKey::new([8; 32]));
        assert_eq!(other.open(&cookie, 0), Err(SessionError::Invalid));
        let forged = Session { expires: 1000, ..session() };
        let forged_payload = key.seal(&forged);
        let (payload, _) = forged_payload.split_once('.').unwrap();
        let (_, tag) = cookie.split_once('.').unwrap();
        assert_eq!(key.open(&format!("{payload}.{tag}"), 0), Err(SessionError::Invalid));
        assert_eq!(key.open("no-dot", 0), Err(SessionError::Invalid));
    }
}
