//! Where the vTPM's endorsement seed comes from on SEV-SNP: a key the PSP derives for this launch
//! (MSG_KEY_REQ, SEV-SNP ABI AMD 56860), so the same image on the same chip gets the same EK at every
//! boot without any storage, and any other image, policy, chip or TCB gets another.
//!
//! The request (OpenHCL's precedent for a seed that survives reboots): root key VCEK (chip-unique);
//! GUEST_FIELD_SELECT = policy | measurement | TCB version; VMPL 0, so only Warden (the one VMPL0
//! requester) can ever obtain it: the PSP refuses a key for a VMPL below the requester's, and Warden
//! offers the guest no call that reaches MSG_KEY_REQ (the attestation protocol asks only for reports,
//! through [`crate::attest_protocol::EvidenceSource`]). The TCB version mixed in is the REPORTED_TCB of
//! a report asked for just before (the TCB the VCEK that signs Warden's reports is certified for).
//!
//! What this binds, and what not: the EK follows the launch measurement (Warden and its guest payload),
//! the guest policy, the chip and the reported TCB; a TCB update therefore changes the EK (the guest's
//! EK certificate, if any, must be renewed), and nothing protects against a rollback to an older image,
//! which gets its own old EK back. The platform key is handed on to HKDF
//! (`warden_vtpm::EndorsementSeed::from_platform_key`) and wiped; the vTPM never sees it.
//!
//! The same key also seals the vTPM's stored state (`warden_vtpm::persistence::seal::SealingKey::
//! from_platform_key`, another HKDF info, so the sealing key and the EPS are unrelated secrets): only
//! this measurement with this policy at VMPL0 on this chip at this TCB opens it. A TCB update
//! therefore changes the sealing key together with the EK, and the stored state is refused (its tag
//! fails) and the vTPM starts fresh: deliberately, since that state's endorsement objects and EPS
//! belong to the old EK (the platform's EPS wins over a stored one). Carrying a state across an update
//! (deriving the old TCB's key, which the PSP allows for a TCB not above the committed one, to reseal)
//! is not done.
use warden_defs::snp_guest_msg::{GuestFieldSelect, KEY_ROOT_VCEK, KeyRequest, VMPCK_SIZE};
use warden_defs::snp_report::{AttestationReport, TcbVersion};
use zerocopy::FromBytes;
use zeroize::Zeroizing;

use crate::guest_request::{GuestRequestChannel, GuestRequestDriver, GuestRequestError};

/// The launch fields the endorsement key is bound to.
pub const ENDORSEMENT_KEY_FIELDS: GuestFieldSelect =
    GuestFieldSelect::POLICY.union(GuestFieldSelect::MEASUREMENT).union(GuestFieldSelect::TCB_VERSION);

/// The platform label the seed's HKDF mixes in: names the root key and the fields, so a change of
/// either is a change of every EK, never a silent collision.
pub const SNP_ENDORSEMENT_LABEL: &[u8] = b"sev-snp/msg_key_req/vcek/vmpl0/policy+measurement+tcb_version";

/// A source of PSP-derived keys: on SNP, Warden's guest-request driver with VMPCK0. Implementations
/// must not panic and must wipe every copy of the key but the one they return.
pub trait GuestKeySource {
    /// The REPORTED_TCB of a fresh VMPL0 report (MSG_REPORT_REQ).
    fn reported_tcb(&mut self) -> Result<TcbVersion, GuestRequestError>;
    /// MSG_KEY_RSP's key for `request`.
    fn derive_key(&mut self, request: &KeyRequest) -> Result<Zeroizing<[u8; VMPCK_SIZE]>, GuestRequestError>;
}

impl<C: GuestRequestChannel> GuestKeySource for GuestRequestDriver<C> {
    fn reported_tcb(&mut self) -> Result<TcbVersion, GuestRequestError> {
        // The report binds nothing here: only its TCB is read, so REPORT_DATA is zero.
        let (report, _) = self.report(&[0; 64], false)?;
        let report = AttestationReport::read_from_bytes(&report).map_err(|_| GuestRequestError::Payload)?;
        Ok(report.reported_tcb)
    }

    fn derive_key(&mut self, request: &KeyRequest) -> Result<Zeroizing<[u8; VMPCK_SIZE]>, GuestRequestError> {
        GuestRequestDriver::derive_key(self, request)
    }
}

/// The MSG_KEY_REQ for the endorsement seed, mixing in `tcb`.
pub fn endorsement_key_request(tcb: TcbVersion) -> KeyRequest {
    KeyRequest {
        root_key_select: KEY_ROOT_VCEK,
        reserved_0x04: 0,
        guest_field_select: ENDORSEMENT_KEY_FIELDS.0,
        vmpl: 0,
        guest_svn: 0,
        tcb_version: u64::from_le_bytes(tcb.0),
    }
}

/// The platform key the endorsement seed is derived from: MSG_KEY_REQ at the reported TCB.
pub fn snp_endorsement_key(
    source: &mut impl GuestKeySource,
) -> Result<Zeroizing<[u8; VMPCK_SIZE]>, GuestRequestError> {
    let tcb = source.reported_tcb()?;
    source.derive_key(&endorsement_key_request(tcb))
}
