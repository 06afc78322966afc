//! Keyed-hash objects with the XOR scheme (Part 2 Table 149 TPMS_SCHEME_XOR): the primaries
//! tpm2-tools makes with `createprimary -G xor`, and the template checks around them.

use crate::common::{B, RH_ENDORSEMENT, RH_NULL, RH_OWNER, rc_p, started};
use crate::key_helpers::primary;
use warden_vtpm::ResponseCode;

/// A keyed-hash template with the XOR scheme (Part 2 Table 149: hash, then KDF) and `attrs`.
fn xor_template(attrs: u32, hash: u16, kdf: u16) -> Vec<u8> {
    B::new().u16(0x0008).u16(0x000B).u32(attrs).tpm2b(&[]).u16(0x000A).u16(hash).u16(kdf).tpm2b(&[]).0
}

#[test]
fn xor_keyed_hash_primaries_are_decryption_keys_only() {
    let mut t = started();
    // tpm2-tools' `createprimary -G xor`: restricted|decrypt|fixedTPM|fixedParent|
    // sensitiveDataOrigin|userWithAuth, XOR with SHA-256 and KDF1_SP800_108; in every hierarchy.
    let attrs = 0x0003_0072;
    for h in [RH_OWNER, RH_ENDORSEMENT, RH_NULL] {
        let (_, public, _) = primary(&mut t, h, &xor_template(attrs, 0x000B, 0x0022)).unwrap();
        // The template comes back with unique = H(seed || secret), 32 bytes.
        assert_eq!(&public[..public.len() - 34], &xor_template(attrs, 0x000B, 0x0022)[..public.len() - 34]);
        assert_eq!(&public[public.len() - 34..public.len() - 32], &[0, 32]);
    }
    // An unrestricted decryption key may use XOR too; a signing or sealed object may not; the KDF
    // must be one the TPM implements.
    assert!(primary(&mut t, RH_OWNER, &xor_template(0x0002_0072, 0x000B, 0x0022)).is_ok());
    let sign = xor_template(0x0004_0072, 0x000B, 0x0022);
    assert_eq!(primary(&mut t, RH_OWNER, &sign), Err(rc_p(ResponseCode::SCHEME, 2)));
    let sealed = xor_template(0x0000_0072, 0x000B, 0x0022);
    assert_eq!(primary(&mut t, RH_OWNER, &sealed), Err(rc_p(ResponseCode::SCHEME, 2)));
    let kdf2 = xor_template(attrs, 0x000B, 0x0021);
    assert_eq!(primary(&mut t, RH_OWNER, &kdf2), Err(rc_p(ResponseCode::KDF, 2)));
}
