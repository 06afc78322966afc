//! A simulated PSP's MSG_KEY_REQ (**insecure: test only**, its chip secret is a constant): a key derived
//! from a chip secret, the requested VMPL and exactly the launch fields the request selects, refused for
//! a VMPL lower than the requester's, as SEV-SNP ABI (AMD 56860), MSG_KEY_REQ, prescribes.
//!
//! AMD's derivation is not public; what the tests rely on is only its shape: the same chip, launch and
//! request give the same key, any selected field that differs gives another, an unselected one does not
//! matter, and a VMPL2 requester never gets a VMPL0 key. (The PSP also refuses a TCB_VERSION above the
//! committed TCB; the model takes any, as its tests do not need that rule.)
use warden_defs::snp_guest_msg::{GuestFieldSelect, KEY_ROOT_VCEK, KeyRequest, PspStatus};
use warden_sha::Sha384;
use warden_sha::digest::Digest;

/// The launch fields a key may be bound to (SEV-SNP ABI, ATTESTATION_REPORT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimLaunch {
    /// The guest policy.
    pub policy: u64,
    /// The launch digest.
    pub measurement: [u8; 48],
}

/// The simulated PSP's key derivation for one launch on one chip. INSECURE: the chip secret is chosen
/// by the test.
#[derive(Clone, Debug)]
pub struct InsecureSimKeyDerivation {
    /// Stands for the chip's VCEK root (`chip` 0 and 1 are two different chips).
    pub chip: u64,
    /// The launch being asked for.
    pub launch: SimLaunch,
    /// The VMPL the request comes from (the VMPCK it was sealed with).
    pub requester_vmpl: u32,
}

impl InsecureSimKeyDerivation {
    /// MSG_KEY_RSP's status and key for `request`.
    pub fn derive(&self, request: &KeyRequest) -> Result<[u8; 32], PspStatus> {
        let select = GuestFieldSelect(request.guest_field_select);
        let known = (1u64 << 7) - 1;
        if request.root_key_select != KEY_ROOT_VCEK
            || request.reserved_0x04 != 0
            || request.guest_field_select & !known != 0
            || request.vmpl > 3
            || request.vmpl < self.requester_vmpl
        {
            return Err(PspStatus::INVALID_PARAM);
        }
        let mut h = Sha384::new();
        h.update(b"INSECURE simulated PSP key derivation");
        h.update(self.chip.to_le_bytes());
        h.update(request.vmpl.to_le_bytes());
        h.update(request.guest_field_select.to_le_bytes());
        if select.contains(GuestFieldSelect::POLICY) {
            h.update(self.launch.policy.to_le_bytes());
        }
        if select.contains(GuestFieldSelect::MEASUREMENT) {
            h.update(self.launch.measurement);
        }
        if select.contains(GuestFieldSelect::GUEST_SVN) {
            h.update(request.guest_svn.to_le_bytes());
        }
        if select.contains(GuestFieldSelect::TCB_VERSION) {
            h.update(request.tcb_version.to_le_bytes());
        }
        let digest = h.finalize();
        let mut key = [0u8; 32];
        key.copy_from_slice(&digest[..32]);
        Ok(key)
    }
}
