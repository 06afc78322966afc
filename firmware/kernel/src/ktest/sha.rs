//! `warden-sha` on the booted machine: the code the firmware really runs (SHA-NI and AVX2 in the
//! soft-float firmware, with the SIMD state Warden enabled itself), against NIST's known answers and,
//! differentially, against the portable path and the RustCrypto `sha2` crate's own hashers.
use alloc::string::String;
use alloc::vec::Vec;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use warden_sha::digest::Digest;
use warden_sha::{Algorithm, Implementation, implementation, portable};

use super::{TestCase, TestResult};
use crate::ensure;

/// Every case, in the order they run.
pub const CASES: &[TestCase] = &[
    ("sha_accelerated_code_is_selected_where_the_cpu_has_it", sha_accelerated_code_is_selected),
    ("sha_nist_known_answers", sha_nist_known_answers),
    ("sha_every_length_to_4096_agrees_with_portable_and_sha2", sha_every_length_agrees),
    ("sha_large_inputs_agree_with_portable_and_sha2", sha_large_inputs_agree),
];

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The expected choice, from CPUID and the host's SIMD hint alone: Warden enables SSE state and, with
/// XSAVE and AVX, the AVX state (`cpu::features::enable_simd`), so the CPU's feature bits decide unless
/// the host refused guest SIMD (`native::host_refuses_simd`). SHA-256 needs SHA, SSSE3 and SSE4.1;
/// SHA-384/512 need AVX2 and BMI2. `warden-sha` additionally requires XSAVE (XCR0 enables the state).
fn sha_accelerated_code_is_selected() -> TestResult {
    let (leaf1, leaf7) = (__cpuid(1), __cpuid_count(7, 0));
    let bit = |register: u32, n: u32| register & (1 << n) != 0;
    let xsave = bit(leaf1.ecx, 26) && !crate::native::host_refuses_simd();
    let sha256 = xsave && bit(leaf7.ebx, 29) && bit(leaf1.ecx, 9) && bit(leaf1.ecx, 19);
    let sha512 = xsave && bit(leaf1.ecx, 28) && bit(leaf7.ebx, 5) && bit(leaf7.ebx, 8);
    let expect = |accelerated: bool| {
        if accelerated { Implementation::Accelerated } else { Implementation::Portable }
    };
    for (algorithm, accelerated) in
        [(Algorithm::Sha256, sha256), (Algorithm::Sha384, sha512), (Algorithm::Sha512, sha512)]
    {
        let chosen = implementation(algorithm);
        ensure!(chosen == expect(accelerated), "{algorithm:?}: CPUID says {accelerated}, chosen {chosen:?}");
    }
    Ok(())
}

/// FIPS 180-2 appendix examples (the NIST CSVS example values): "abc", the 448- and 896-bit messages,
/// one million 'a', and the empty message. Checked against Python's `hashlib` (OpenSSL).
const NIST: &[(&[u8], usize, &str, &str)] = &[
    (
        b"",
        1,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
    ),
    (
        b"abc",
        1,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    ),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        1,
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "3391fdddfc8dc7393707a65b1b4709397cf8b1d162af05abfe8f450de5f36bc6b0455a8520bc4e6f5fe95b1fe3c8452b",
    ),
    (
        b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
        1,
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
        "09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039",
    ),
    (
        b"a",
        1_000_000,
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985",
    ),
];

/// `D` over `part` repeated `times`, fed in 1000-byte updates.
fn repeated<D: Digest>(part: &[u8], times: usize) -> String {
    let mut hasher = D::new();
    let chunk: Vec<u8> = part.iter().copied().cycle().take(part.len() * times.min(1000)).collect();
    let mut left = part.len() * times;
    while left > 0 {
        let take = left.min(chunk.len());
        hasher.update(&chunk[..take]);
        left -= take;
    }
    hex(&hasher.finalize())
}

fn sha_nist_known_answers() -> TestResult {
    for &(part, times, want256, want384) in NIST {
        let len = part.len() * times;
        for (name, got) in [
            ("accelerated", repeated::<warden_sha::Sha256>(part, times)),
            ("portable", repeated::<portable::Sha256>(part, times)),
            ("sha2", repeated::<sha2::Sha256>(part, times)),
        ] {
            ensure!(got == want256, "SHA-256 {name}, {len} bytes: {got}");
        }
        for (name, got) in [
            ("accelerated", repeated::<warden_sha::Sha384>(part, times)),
            ("portable", repeated::<portable::Sha384>(part, times)),
            ("sha2", repeated::<sha2::Sha384>(part, times)),
        ] {
            ensure!(got == want384, "SHA-384 {name}, {len} bytes: {got}");
        }
    }
    Ok(())
}

/// A deterministic pseudo-random buffer (xorshift64*), so a failure reproduces.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// `Fast` (the accelerated types), `Port` and `Soft` (`sha2`) agree on `data`, hashed in one call and
/// split in two updates at `split`.
fn agree<Fast: Digest, Port: Digest, Soft: Digest>(name: &str, data: &[u8], split: usize) -> TestResult {
    let reference = Soft::digest(data);
    let (head, tail) = data.split_at(split.min(data.len()));
    let candidates = [
        ("accelerated", Fast::digest(data).to_vec()),
        ("accelerated split", Fast::new().chain_update(head).chain_update(tail).finalize().to_vec()),
        ("portable", Port::digest(data).to_vec()),
    ];
    for (which, digest) in candidates {
        ensure!(
            digest[..] == reference[..],
            "{name} {which}, {} bytes (split at {split}): {} != sha2 {}",
            data.len(),
            hex(&digest),
            hex(&reference)
        );
    }
    Ok(())
}

fn sha_every_length_agrees() -> TestResult {
    let data = pseudo_random(4096, 0x5157_4152_4445_4E31);
    for len in 0..=data.len() {
        let message = &data[..len];
        // The split walks through every offset within a block as the length grows.
        let split = len * 7 / 13;
        agree::<warden_sha::Sha256, portable::Sha256, sha2::Sha256>("SHA-256", message, split)?;
        agree::<warden_sha::Sha384, portable::Sha384, sha2::Sha384>("SHA-384", message, split)?;
        agree::<warden_sha::Sha512, portable::Sha512, sha2::Sha512>("SHA-512", message, split)?;
    }
    Ok(())
}

fn sha_large_inputs_agree() -> TestResult {
    // Megabytes in one update: the block functions' multi-block loops in their steady state.
    for (len, seed) in [(1 << 20, 1), ((1 << 20) + 13, 2), ((3 << 20) - 1, 3)] {
        let data = pseudo_random(len, seed);
        let split = len / 3 + 5;
        agree::<warden_sha::Sha256, portable::Sha256, sha2::Sha256>("SHA-256", &data, split)?;
        agree::<warden_sha::Sha384, portable::Sha384, sha2::Sha384>("SHA-384", &data, split)?;
        agree::<warden_sha::Sha512, portable::Sha512, sha2::Sha512>("SHA-512", &data, split)?;
    }
    Ok(())
}
