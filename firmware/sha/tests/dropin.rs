//! The hashers stand in for `sha2`'s types where the vTPM and attestation code use them: the same trait
//! set, and `hmac::Hmac<D>` (which needs the block-level core API) gives the RFC 4231 answers.

mod common;

use common::hex;
use hmac::{Hmac, Mac};
use warden_sha::digest::core_api::BlockSizeUser;
use warden_sha::digest::{FixedOutput, FixedOutputReset, HashMarker, Reset, Update};

/// Compiles only if `D` has every trait callers rely on from `sha2::Sha256` and friends.
fn assert_drop_in<D>()
where
    D: Default + Clone + core::fmt::Debug + Update + FixedOutput + FixedOutputReset + HashMarker + Reset,
    D: BlockSizeUser,
{
}

#[test]
fn same_traits_as_sha2() {
    assert_drop_in::<sha2::Sha256>();
    assert_drop_in::<warden_sha::Sha256>();
    assert_drop_in::<warden_sha::Sha384>();
    assert_drop_in::<warden_sha::Sha512>();
    assert_drop_in::<warden_sha::portable::Sha256>();
    assert_drop_in::<warden_sha::portable::Sha384>();
    assert_drop_in::<warden_sha::portable::Sha512>();
}

/// HMAC of `msg` under `key` with hash type `$d` (a macro: `Hmac`'s bounds are long to spell generically).
macro_rules! hmac_tag {
    ($d:ty, $key:expr, $msg:expr) => {{
        let mut mac = Hmac::<$d>::new_from_slice($key).expect("any key length");
        Mac::update(&mut mac, $msg);
        mac.finalize().into_bytes().to_vec()
    }};
}

/// RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
#[test]
fn hmac_rfc4231_case2() {
    let (key, msg) = (b"Jefe".as_slice(), b"what do ya want for nothing?".as_slice());
    assert_eq!(
        hmac_tag!(warden_sha::Sha256, key, msg),
        hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    );
    assert_eq!(
        hmac_tag!(warden_sha::Sha384, key, msg),
        hex(concat!(
            "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47",
            "e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"
        ))
    );
    assert_eq!(
        hmac_tag!(warden_sha::Sha512, key, msg),
        hex(concat!(
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554",
            "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        ))
    );
}
