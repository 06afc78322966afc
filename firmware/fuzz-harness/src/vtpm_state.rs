//! Fuzz body for the stored vTPM state (threat model T10: the host keeps the blob and may hand back any
//! bytes). The input is a state body as `Tpm::nv_state` writes it; the fixed-key envelope is opened too.
//! `restore_nv_state` must never panic; a state it accepts must leave a TPM that still answers every
//! command with a well-formed response, and must read back as itself (write, parse, write is stable).

use warden_vtpm::persistence::seal::{self, ImageId, SealingKey};

use crate::vtpm_command::{check_response, started_tpm};

/// TPM2_GetCapability(TPM_CAP_HANDLES, persistent handles, 8): walks the restored persistent objects.
const PERSISTENT_HANDLES: [u8; 22] =
    [0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0, 0, 0, 1, 0x81, 0, 0, 0, 0, 0, 0, 8];
/// TPM2_GetCapability(TPM_CAP_HANDLES, NV indices, 8).
const NV_HANDLES: [u8; 22] =
    [0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7A, 0, 0, 0, 1, 0x01, 0, 0, 0, 0, 0, 0, 8];

/// Threat model T10.
pub fn vtpm_state(data: &[u8]) {
    let _ = seal::open(&SealingKey::new([0; 32]), &ImageId([0; 48]), data);
    let mut tpm = started_tpm();
    if tpm.restore_nv_state(data).is_err() {
        return;
    }
    let saved = tpm.nv_state();
    let mut again = started_tpm();
    again.restore_nv_state(&saved).expect("a state the TPM wrote parses back");
    assert_eq!(again.nv_state_digest(), tpm.nv_state_digest(), "a restored state reads back as itself");
    for command in [&PERSISTENT_HANDLES[..], &NV_HANDLES[..]] {
        check_response(&tpm.execute(command));
    }
}
