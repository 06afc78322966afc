//! Self-test commands (Part 3 ch. 10): SelfTest, IncrementalSelfTest, GetTestResult, TestParms, and
//! the known-answer tests they run.

use crate::Tpm;
use crate::crypto::{HashAlg, aes_cfb};
use crate::engine::command::Cmd;
use crate::object::Public;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPML_ALG's maximum (MAX_ALG_LIST_SIZE).
const MAX_ALG_LIST: u32 = 64;

fn hex<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
        let nib = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
        *o = nib(pair.first().copied().unwrap_or(b'0')) << 4 | nib(pair.get(1).copied().unwrap_or(b'0'));
    }
    out
}

/// Known-answer tests from the standards: FIPS 180-2 (SHA-1, SHA-256, SHA-384 of "abc"), RFC 4231 case 2 (HMAC-SHA-256) and
/// FIPS 197 C.3 (AES-256; one CFB block with the plaintext as IV and zero data is E(plaintext)).
pub(crate) fn known_answers_pass() -> bool {
    let sha1 = hex::<20>("a9993e364706816aba3e25717850c26c9cd0d89d");
    let sha256 = hex::<32>("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let sha384 = hex::<48>(
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
    );
    let hmac = hex::<32>("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    let aes_key = hex::<32>("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    let aes_pt = hex::<16>("00112233445566778899aabbccddeeff");
    let aes_ct = hex::<16>("8ea2b7ca516745bfeafc49904b496089");
    let mut block = [0u8; 16];
    let aes_ok = aes_cfb(&aes_key, &aes_pt, &mut block, true).is_ok() && block == aes_ct;
    let hmac_ok =
        HashAlg::Sha256.hmac(b"Jefe", &[b"what do ya want for nothing?"]).is_ok_and(|d| d.as_slice() == hmac);
    HashAlg::Sha1.digest(&[b"abc"]).as_slice() == sha1
        && HashAlg::Sha256.digest(&[b"abc"]).as_slice() == sha256
        && HashAlg::Sha384.digest(&[b"abc"]).as_slice() == sha384
        && hmac_ok
        && aes_ok
}

fn run_self_test(tpm: &mut Tpm) -> TpmResult<()> {
    if known_answers_pass() {
        Ok(())
    } else {
        tpm.failed = true;
        Err(ResponseCode::FAILURE)
    }
}

/// TPM2_SelfTest (Part 3 §10.2).
pub(crate) fn self_test(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.yes_no().p(1)?;
    c.params.finish()?;
    run_self_test(tpm)
}

/// TPM2_IncrementalSelfTest (Part 3 §10.3): everything is tested at once, so the to-do list is empty.
pub(crate) fn incremental_self_test(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let count = c.params.u32().p(1)?;
    if count > MAX_ALG_LIST {
        return Err(ResponseCode::SIZE.param(1));
    }
    for _ in 0..count {
        c.params.u16().p(1)?;
    }
    c.params.finish()?;
    run_self_test(tpm)?;
    c.out.u32(0);
    Ok(())
}

/// TPM2_GetTestResult (Part 3 §10.4).
pub(crate) fn get_test_result(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    c.params.finish()?;
    c.out.u16(0);
    c.out.u32(if tpm.failed { ResponseCode::FAILURE.0 } else { ResponseCode::SUCCESS.0 });
    Ok(())
}

/// TPM2_TestParms (Part 3 §10.5): whether this TPM supports the algorithm parameters
/// (TPMT_PUBLIC_PARMS) a key would have. Tools probe with it before they create a key, so it runs the
/// same parsing and algorithm checks a key's public area gets; what fails answers with that check's
/// code (TPM_RC_TYPE, _SCHEME, _HASH, _KEY_SIZE, _CURVE, _SYMMETRIC, _MODE, _KDF) on parameter 1.
pub(crate) fn test_parms(_tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    Public::parse_parms(&mut c.params).p(1)?;
    c.params.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_answers_pass_with_the_linked_crypto() {
        assert!(super::known_answers_pass());
    }
}
