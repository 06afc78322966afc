//! NIST known-answer vectors (FIPS 180-4 examples, CSVS long messages) on the accelerated and the
//! portable paths, the run-time selection, the boot self-test and the `digest` trait surface.

mod common;

use common::{cpu_has, hex};
use warden_sha::digest::{Digest, FixedOutputReset};
use warden_sha::{Algorithm, Implementation, implementation, portable, self_test};

const MSG_448: &[u8] = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
const MSG_896: &[u8] = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

/// (message, SHA-256, SHA-384, SHA-512); the million-'a' message is built separately.
const VECTORS: &[(&[u8], &str, &str, &str)] = &[
    (
        b"",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
    ),
    (
        b"abc",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    ),
    (
        MSG_448,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
        "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445",
    ),
    (
        MSG_896,
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
        "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
    ),
];

const MILLION_A_256: &str = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
const MILLION_A_384: &str =
    "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985";
const MILLION_A_512: &str = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b";

fn digest_of<D: Digest>(msg: &[u8]) -> Vec<u8> {
    D::digest(msg).to_vec()
}

/// One million 'a', fed as 1000 updates of 1000 bytes (crosses block boundaries at every offset).
fn million_a<D: Digest>() -> Vec<u8> {
    let chunk = [b'a'; 1000];
    let mut h = D::new();
    for _ in 0..1000 {
        h.update(chunk);
    }
    h.finalize().to_vec()
}

fn check_all<D256: Digest, D384: Digest, D512: Digest>() {
    for (msg, d256, d384, d512) in VECTORS {
        let len = msg.len();
        assert_eq!(digest_of::<D256>(msg), hex(d256), "SHA-256 of {len} bytes");
        assert_eq!(digest_of::<D384>(msg), hex(d384), "SHA-384 of {len} bytes");
        assert_eq!(digest_of::<D512>(msg), hex(d512), "SHA-512 of {len} bytes");
    }
    assert_eq!(million_a::<D256>(), hex(MILLION_A_256), "SHA-256 of a million 'a'");
    assert_eq!(million_a::<D384>(), hex(MILLION_A_384), "SHA-384 of a million 'a'");
    assert_eq!(million_a::<D512>(), hex(MILLION_A_512), "SHA-512 of a million 'a'");
}

#[test]
fn nist_vectors_selected_path() {
    check_all::<warden_sha::Sha256, warden_sha::Sha384, warden_sha::Sha512>();
}

#[test]
fn nist_vectors_portable_path() {
    check_all::<portable::Sha256, portable::Sha384, portable::Sha512>();
}

#[test]
fn accelerated_path_is_selected_when_the_cpu_has_it() {
    let sha256_hw = cpu_has("sha_ni") && cpu_has("ssse3") && cpu_has("sse4_1");
    let sha512_hw = cpu_has("avx2") && cpu_has("bmi2");
    let expect = |hw| if hw { Implementation::Accelerated } else { Implementation::Portable };
    assert_eq!(implementation(Algorithm::Sha256), expect(sha256_hw));
    assert_eq!(implementation(Algorithm::Sha384), expect(sha512_hw));
    assert_eq!(implementation(Algorithm::Sha512), expect(sha512_hw));
}

#[test]
fn boot_self_test_passes() {
    assert_eq!(self_test(), Ok(()));
}

#[test]
fn reset_and_clone_mid_stream() {
    let mut h = warden_sha::Sha384::new();
    h.update(&MSG_896[..50]);
    let mut copy = h.clone();
    h.update(&MSG_896[50..]);
    copy.update(&MSG_896[50..]);
    let first = h.finalize_fixed_reset().to_vec();
    assert_eq!(first, hex(VECTORS[3].2));
    assert_eq!(copy.finalize().to_vec(), first);
    // After the reset the hasher starts from the IV again.
    h.update(b"abc");
    assert_eq!(h.finalize().to_vec(), hex(VECTORS[1].2));
}
