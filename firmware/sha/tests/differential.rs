//! Differential test against the `sha2` crate: random messages of every length 0..4096 and a few of
//! 1 MiB, fed whole and in random chunk sizes, through the selected (accelerated on this host) and the
//! portable paths of SHA-256, SHA-384 and SHA-512.

mod common;

use common::Rng;
use warden_sha::digest::Digest;
use warden_sha::portable;

/// Hashes `msg` split into chunks of random sizes up to `max_chunk` (empty chunks included).
fn chunked<D: Digest>(msg: &[u8], rng: &mut Rng, max_chunk: usize) -> Vec<u8> {
    let mut h = D::new();
    let mut rest = msg;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(rng.below_or_eq(max_chunk).min(rest.len()));
        h.update(head);
        rest = tail;
    }
    h.finalize().to_vec()
}

/// Compares `Ours` with `Reference` on one message, one-shot and chunked.
fn same<Ours: Digest, Reference: Digest>(msg: &[u8], rng: &mut Rng, max_chunk: usize, what: &str) {
    let expected = Reference::digest(msg).to_vec();
    assert_eq!(Ours::digest(msg).to_vec(), expected, "{what}: one-shot, {} bytes", msg.len());
    assert_eq!(chunked::<Ours>(msg, rng, max_chunk), expected, "{what}: chunked, {} bytes", msg.len());
}

fn every_length<Ours: Digest, Reference: Digest>(seed: u64, what: &str) {
    let mut rng = Rng::new(seed);
    for len in 0..4096 {
        let msg = rng.bytes(len);
        // Chunks up to 600 bytes: sub-block, several blocks, and (for SHA-512) more than 4 blocks.
        same::<Ours, Reference>(&msg, &mut rng, 600, what);
    }
}

fn large<Ours: Digest, Reference: Digest>(seed: u64, what: &str) {
    let mut rng = Rng::new(seed);
    for extra in [0, 1, 127, 300] {
        let msg = rng.bytes((1 << 20) + extra);
        same::<Ours, Reference>(&msg, &mut rng, 70_000, what);
    }
}

#[test]
fn sha256_every_length() {
    every_length::<warden_sha::Sha256, sha2::Sha256>(1, "SHA-256 selected");
    every_length::<portable::Sha256, sha2::Sha256>(2, "SHA-256 portable");
}

#[test]
fn sha384_every_length() {
    every_length::<warden_sha::Sha384, sha2::Sha384>(3, "SHA-384 selected");
    every_length::<portable::Sha384, sha2::Sha384>(4, "SHA-384 portable");
}

#[test]
fn sha512_every_length() {
    every_length::<warden_sha::Sha512, sha2::Sha512>(5, "SHA-512 selected");
    every_length::<portable::Sha512, sha2::Sha512>(6, "SHA-512 portable");
}

#[test]
fn one_mebibyte_messages() {
    large::<warden_sha::Sha256, sha2::Sha256>(7, "SHA-256 selected");
    large::<portable::Sha256, sha2::Sha256>(8, "SHA-256 portable");
    large::<warden_sha::Sha384, sha2::Sha384>(9, "SHA-384 selected");
    large::<portable::Sha384, sha2::Sha384>(10, "SHA-384 portable");
    large::<warden_sha::Sha512, sha2::Sha512>(11, "SHA-512 selected");
    large::<portable::Sha512, sha2::Sha512>(12, "SHA-512 portable");
}
