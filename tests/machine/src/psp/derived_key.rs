//! MSG_KEY_REQ → MSG_KEY_RSP (SEV-SNP ABI (AMD 56860) "MSG_KEY_REQ Message Structure" and
//! "MSG_KEY_RSP"): a 32-byte key derived from a root key (the chip secret behind the VCEK, or the
//! guest's VM root key) and exactly the launch fields GUEST_FIELD_SELECT names, for a VMPL not more
//! privileged than the requester's. AMD's KDF is not public; the model's is HKDF-SHA-384 (RFC 5869)
//! over the root, with every selected input (and the selection itself and the VMPL) in the info, so
//! the properties a guest relies on hold: same inputs, same key; any selected input changed, another
//! key; an unselected input changed, the same key.
use hkdf::Hkdf;
use sha2::Sha384;
use warden_defs::snp_guest_msg::{GuestFieldSelect, KEY_ROOT_VCEK, KEY_ROOT_VMRK, KeyRequest, KeyResponse};
use warden_defs::snp_report::{TcbParts, TcbVersion};
use zerocopy::FromZeros;

use super::chip::{self, COMMITTED_TCB, TCB_LAYOUT};
use super::snp_psp::GuestContext;
use super::status;

/// The GUEST_FIELD_SELECT bits MSG_KEY_REQ version 1 defines (bits 0..5); LAUNCH_MIT_VECTOR (bit 6)
/// needs message version 2, which the model does not implement.
const FIELD_SELECT_V1: u64 = 0x3F;

/// The root keys a derived key can come from.
#[derive(Clone, Debug)]
pub struct RootKeys {
    /// The chip secret (ROOT_KEY_SELECT = VCEK): the same for every guest on this chip.
    pub chip_secret: [u8; 32],
    /// The VM root key (ROOT_KEY_SELECT = VMRK): this launch's own, random at launch.
    pub vmrk: [u8; 32],
}

impl RootKeys {
    /// The chip's secret and a fresh VMRK.
    pub fn for_launch() -> Self {
        let mut vmrk = [0u8; 32];
        // A host without entropy leaves the VMRK zero: VMRK keys then repeat across launches.
        let _ = getrandom::fill(&mut vmrk);
        Self { chip_secret: chip::chip_secret(), vmrk }
    }
}

/// Answers MSG_KEY_REQ from a requester at `requester_vmpl` (the VMPCK's index). A refused request is
/// answered with a STATUS and no key, never an error of the whole guest request.
pub fn answer(
    request: &KeyRequest,
    requester_vmpl: u32,
    roots: &RootKeys,
    guest: &GuestContext,
) -> KeyResponse {
    let mut response = KeyResponse::new_zeroed();
    match derive(request, requester_vmpl, roots, guest) {
        Ok(key) => response.derived_key = key,
        Err(code) => response.status = code,
    }
    response
}

fn derive(
    request: &KeyRequest,
    requester_vmpl: u32,
    roots: &RootKeys,
    guest: &GuestContext,
) -> Result<[u8; 32], u32> {
    let select = GuestFieldSelect(request.guest_field_select);
    let root = match request.root_key_select {
        KEY_ROOT_VCEK => &roots.chip_secret,
        KEY_ROOT_VMRK => &roots.vmrk,
        _ => return Err(status::INVALID_PARAM),
    };
    if request.reserved_0x04 != 0 || select.0 & !FIELD_SELECT_V1 != 0 {
        return Err(status::INVALID_PARAM);
    }
    // A VMPL-n requester may ask for its own key or a less privileged VMPL's, never a lower one's.
    if request.vmpl < requester_vmpl || request.vmpl > 3 {
        return Err(status::INVALID_PARAM);
    }
    if select.contains(GuestFieldSelect::GUEST_SVN) && request.guest_svn > guest.guest_svn {
        return Err(status::INVALID_PARAM);
    }
    let tcb = TcbVersion(request.tcb_version.to_le_bytes());
    if select.contains(GuestFieldSelect::TCB_VERSION) && !tcb_acceptable(tcb) {
        return Err(status::INVALID_PARAM);
    }
    let mut info = Vec::with_capacity(160);
    info.extend_from_slice(&request.root_key_select.to_le_bytes());
    info.extend_from_slice(&request.vmpl.to_le_bytes());
    info.extend_from_slice(&select.0.to_le_bytes());
    let fields: [(GuestFieldSelect, &[u8]); 6] = [
        (GuestFieldSelect::POLICY, &guest.policy.to_le_bytes()),
        (GuestFieldSelect::IMAGE_ID, &guest.image_id),
        (GuestFieldSelect::FAMILY_ID, &guest.family_id),
        (GuestFieldSelect::MEASUREMENT, &guest.measurement),
        (GuestFieldSelect::GUEST_SVN, &request.guest_svn.to_le_bytes()),
        (GuestFieldSelect::TCB_VERSION, &tcb.0),
    ];
    for (bit, bytes) in fields {
        if select.contains(bit) {
            info.extend_from_slice(bytes);
        }
    }
    let mut key = [0u8; 32];
    Hkdf::<Sha384>::new(Some(b"warden insecure test PSP derived key"), root)
        .expand(&info, &mut key)
        .map_err(|_| status::INVALID_PARAM)?;
    Ok(key)
}

/// A requested TCB_VERSION: reserved bytes zero, no SVN above the committed TCB's.
fn tcb_acceptable(tcb: TcbVersion) -> bool {
    let parts: TcbParts = tcb.parts(TCB_LAYOUT);
    chip::tcb_version(parts) == tcb && chip::tcb_covers(COMMITTED_TCB, parts)
}
