//! The handshake's key and the runtime data that carries it: the guest answers the challenge with the
//! challenge nonce and the public half of a P-384 key made for this handshake only, and asks Warden to
//! attest SHA-512 of that object's JCS (RFC 8785) bytes ([`RuntimeData::svsm_nonce`], shared with the
//! verifier), so the report speaks for the key the secret will be sealed to.
use warden_verifier::jwe::RecipientKey;
use warden_verifier::protocol::RuntimeData;

/// A fresh P-384 key for one handshake (its secret scalar zeroizes itself when dropped).
pub fn fresh() -> RecipientKey {
    RecipientKey::generate_p384()
}

/// The runtime data answering `challenge_nonce` with the public half of `key`.
pub fn runtime_data(challenge_nonce: &str, key: &RecipientKey) -> RuntimeData {
    RuntimeData { nonce: challenge_nonce.to_owned(), tee_pubkey: key.public_jwk() }
}

#[cfg(test)]
mod tests {
    use super::{RecipientKey, fresh, runtime_data};
    use sha2::{Digest, Sha512};

    /// The key of the scalar 1, whose public key is P-384's generator: its coordinates are published
    /// (SEC 2 §2.5.1, FIPS 186-4 D.1.2.4), so the canonical text below is written by hand, not by the
    /// code under test.
    fn generator_key() -> RecipientKey {
        let mut one = [0u8; 48];
        one[47] = 1;
        RecipientKey::P384(p384::SecretKey::from_slice(&one).unwrap())
    }

    #[test]
    fn the_svsm_nonce_is_sha512_of_the_hand_written_canonical_form() {
        let data = runtime_data("q83vEjRWeJA=", &generator_key());
        let expected = concat!(
            r#"{"nonce":"q83vEjRWeJA=","tee-pubkey":{"crv":"P-384","kty":"EC","#,
            r#""x":"qofKIr6LBTeOscce8yCtdG4dO2KLp5uYWfdB4IJUKjhVAvJdv1UpbDpUXjhydgq3","#,
            r#""y":"NhfeSpYmLG9dnpi_kpLcKfj0Hb0omhR86doxE7XwuMAKYLHOHX6BnXpDHXyQ6g5f"}}"#
        );
        assert_eq!(String::from_utf8(data.canonical_bytes().unwrap()).unwrap(), expected);
        assert_eq!(data.svsm_nonce().unwrap(), <[u8; 64]>::from(Sha512::digest(expected.as_bytes())));
    }

    #[test]
    fn another_key_or_challenge_is_another_nonce() {
        let key = fresh();
        let nonce = runtime_data("bm9uY2U=", &key).svsm_nonce().unwrap();
        assert_ne!(nonce, runtime_data("bm9uY2Y=", &key).svsm_nonce().unwrap());
        assert_ne!(nonce, runtime_data("bm9uY2U=", &fresh()).svsm_nonce().unwrap());
    }

    #[test]
    fn whitespace_and_member_order_do_not_change_the_nonce() {
        let data = runtime_data("bm9uY2U=", &fresh());
        let spaced = serde_json::to_string_pretty(&data).unwrap();
        let parsed: warden_verifier::protocol::RuntimeData = serde_json::from_str(&spaced).unwrap();
        assert_eq!(parsed.svsm_nonce().unwrap(), data.svsm_nonce().unwrap());
    }
}
