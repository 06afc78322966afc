//! The TPMS_ATTEST header every attestation shares (Part 2 Table 131): magic, type, qualifiedSigner,
//! extraData, clockInfo, firmwareVersion. Shared by the attestation commands (Part 3 ch. 18) and
//! TPM2_NV_Certify (§31.16), so it lives below both.

use crate::Tpm;
use crate::crypto::HashAlg;
use crate::wire::constants::TPM_GENERATED_VALUE;
use crate::wire::handle::Handle;
use crate::wire::marshal::Writer;
use crate::wire::response_code::{ResponseCode, TpmResult};

/// firmwareVersion: TPM_PT_FIRMWARE_VERSION_1 || _2 as GetCapability reports them.
const FIRMWARE_VERSION: u64 = 1 << 32;

/// The TPMS_ATTEST header: magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion.
pub(crate) fn attest_header(tpm: &mut Tpm, kind: u16, signer: Handle, extra: &[u8]) -> TpmResult<Writer> {
    let (clock, reset, restart, firmware) = clock_info(tpm, signer)?;
    let mut w = Writer::new();
    w.u32(TPM_GENERATED_VALUE);
    w.u16(kind);
    match tpm.key(signer) {
        Some(k) => w.tpm2b(&k.qualified),
        None => w.tpm2b(&[]),
    }
    w.tpm2b(extra);
    w.u64(clock);
    w.u32(reset);
    w.u32(restart);
    w.u8(1);
    w.u64(firmware);
    Ok(w)
}

/// (clock, resetCount, restartCount, firmwareVersion) as a signer may reveal them. Keys outside the
/// owner and platform hierarchies (an AK under the EK) would otherwise let two attestations be
/// linked by the counters, so their values are offset by a secret derived from the owner proof
/// and the signer's Name (Part 1 §36.6, as ms-tpm-20-ref FillInAttestInfo does).
pub(crate) fn clock_info(tpm: &mut Tpm, signer: Handle) -> TpmResult<(u64, u32, u32, u64)> {
    let now = tpm.now_ms();
    let (clock, mut reset, mut restart, mut firmware) =
        (tpm.time.clock(now), tpm.time.reset_count, tpm.time.restart_count, FIRMWARE_VERSION);
    if let Some(k) = tpm.key(signer)
        && !matches!(k.hierarchy, Handle::RH_OWNER | Handle::RH_PLATFORM)
    {
        let proof = tpm.hier.proof(Handle::RH_OWNER).ok_or(ResponseCode::FAILURE)?;
        let o = HashAlg::Sha256.kdfa(proof, b"OBFUSCATE", &k.name, &[], 128)?;
        let word = |i: usize| o.get(i..i + 4).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        firmware = firmware.wrapping_add(u64::from(word(0)) << 32 | u64::from(word(4)));
        reset = reset.wrapping_add(word(8));
        restart = restart.wrapping_add(word(12));
    }
    Ok((clock, reset, restart, firmware))
}
