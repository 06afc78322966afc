//! Every RSA private-key operation on bytes a guest chose is blinded (threat model T5; RUSTSEC-2023-0071,
//! the "Marvin" timing attack on `rsa` 0.9): checked on the source text, since a test cannot time it.
//! The functional tests of StartAuthSession (salted), ActivateCredential, Import, RSA_Decrypt and Sign
//! check that the blinded paths give the right answers.

use crate::layering::{sources, uses};

/// The audited places allowed to run an RSA private-key operation, and how.
const ALLOWED: [(&str, &str); 4] = [
    // `decrypt_secret`: salts, credentials, Import seeds.
    ("object/secret.rs", "decrypt_blinded("),
    // TPM2_RSA_Decrypt.
    ("commands/asymmetric.rs", "decrypt_blinded("),
    // TPM2_RSA_Decrypt with scheme TPM_ALG_NULL: raw RSADP, blinded by the DRBG stream (`Some(rng)`).
    ("commands/asymmetric.rs", "rsa_decrypt_and_check("),
    // TPM2_Sign, Quote, Certify...: RSASSA and RSAPSS with a DRBG stream for blinding.
    ("object/key_material.rs", "sign_with_rng("),
];

/// Threat model T5: no unblinded RSA private-key call (`.decrypt(`, `.sign(`, the hazmat primitives with
/// no RNG) exists anywhere in the engine; the blinded calls live only in the audited functions.
#[test]
fn every_rsa_private_key_operation_is_blinded() {
    let mut bad = Vec::new();
    for (file, text) in sources("") {
        // AES-CFB's `Decryptor::decrypt` is the one `.decrypt(` that is not RSA.
        let unblinded = [".decrypt(", ".sign(", "rsa_decrypt_and_check(", "hazmat::rsa_decrypt("];
        for needle in unblinded {
            for line in uses(&text, needle) {
                let blinded_raw = needle == "rsa_decrypt_and_check("
                    && line.contains("Some(rng)")
                    && ALLOWED.contains(&(file.as_str(), needle));
                let aes = needle == ".decrypt(" && line.contains("Decryptor::");
                if !(aes || blinded_raw) {
                    bad.push(format!("{file}: {}", line.trim()));
                }
            }
        }
        for needle in ["decrypt_blinded(", "sign_with_rng("] {
            if !uses(&text, needle).is_empty() && !ALLOWED.contains(&(file.as_str(), needle)) {
                bad.push(format!("{file}: {needle} outside the audited functions"));
            }
        }
    }
    assert!(bad.is_empty(), "unblinded or unaudited RSA private-key operations:\n{}", bad.join("\n"));
    for (file, needle) in ALLOWED {
        let text = sources("").into_iter().find(|(f, _)| f == file).map(|(_, t)| t).unwrap_or_default();
        assert!(!uses(&text, needle).is_empty(), "{file} no longer calls {needle}: update ALLOWED");
    }
}
