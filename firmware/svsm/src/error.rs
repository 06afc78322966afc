//! The dispatcher's errors, by who is to blame, and their SVSM result codes.
//!
//! Source: SVSM spec (AMD 58019), table of SVSM result codes and the core protocol's calls (Linux
//! `arch/x86/include/asm/sev.h` `SVSM_ERR_*`). The mapping to a code
//! happens in one place, [`SvsmError::code`]; everything before it keeps the reason, so a test can
//! tell "unaligned 2M entry" from "reserved bits set" although both are INVALID_PARAMETER.
use warden_defs::svsm::ResultCode;
use warden_platform::memory::{PvalidateError, RmpadjustError};

/// Why an address the guest named is refused (SVSM_ERR_INVALID_ADDRESS, except where the reference
/// says INVALID_PARAMETER for the call: see [`ParamError::BadCallingArea`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Not aligned as the call requires (a page, for VMSAs and calling areas).
    Misaligned,
    /// Not inside the guest's RAM (or the range overflows).
    NotGuestRam,
    /// Overlaps a page Warden owns (`warden_defs::layout::WARDEN_OWNED`).
    Warden,
    /// Overlaps a vCPU's calling area.
    CallingArea,
    /// Overlaps a registered VMSA.
    Vmsa,
    /// A rescind would cover the page that holds the request list being processed.
    ListPage,
    /// Warden could not read or write the guest page (not validated, or not assigned).
    Inaccessible,
}

/// Why an argument is refused (SVSM_ERR_INVALID_PARAMETER).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamError {
    /// The PVALIDATE list GPA is not 8-byte aligned.
    ListMisaligned,
    /// The list has no entries.
    NoEntries,
    /// The entries do not fit in the list's 4 KiB page.
    ListTooLong,
    /// `next` is not below `entries`.
    NextPastEnd,
    /// An entry has reserved bits 11:4 set.
    ReservedBits,
    /// An entry's page size is 2 or 3.
    PageSize,
    /// A 2 MiB entry is not 2 MiB aligned.
    Misaligned2M,
    /// REMAP_CA's GPA is refused (unaligned, not guest RAM, or a page Warden relies on); the reference
    /// and COCONUT answer INVALID_PARAMETER for all of these.
    BadCallingArea(AddressError),
    /// CREATE_VCPU names an APIC ID Warden does not know.
    UnknownApicId,
    /// The new VMSA's VMPL is not the guest's.
    VmsaVmpl,
    /// The new VMSA's EFER.SVME is clear.
    VmsaSvme,
    /// The new VMSA's SEV_FEATURES differ from the caller's.
    VmsaSevFeatures,
    /// CREATE_VCPU for a vCPU that holds its current and previous VMSA already (threat model T7: the
    /// table is bounded; DELETE_VCPU frees a slot).
    TooManyVmsas,
    /// DELETE_VCPU names a page that is not a registered VMSA.
    NotAVmsa,
    /// An SVSM_VTPM_CMD buffer is malformed: GPA 0, locality not 0, a size of 0 or beyond the buffer,
    /// or an unknown platform command.
    VtpmBuffer,
    /// An attestation request has a non-zero reserved byte.
    AttestReserved,
    /// SVSM_ATTEST_SINGLE_SERVICE asks for a manifest version other than 0.
    AttestManifestVersion,
    /// The attestation nonce is not 64 bytes, or crosses a page.
    AttestNonce,
    /// An attestation output buffer is smaller than what it must hold; the output registers say how
    /// much each needs (Linux grows its buffers and retries).
    AttestBufferTooSmall,
    /// The event-log buffer is smaller than the log; RCX says how large the log is.
    EventLogBufferTooSmall,
}

/// The guest asked wrongly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestError {
    /// No handler is registered for the protocol.
    UnsupportedProtocol,
    /// The protocol has no such call, or Warden does not serve it.
    UnsupportedCall,
    /// An address argument is refused.
    InvalidAddress(AddressError),
    /// An argument is refused.
    InvalidParameter(ParamError),
    /// A structure in guest memory is malformed (for protocol handlers).
    InvalidFormat,
    /// The request is not valid in this state (CONFIGURE_VTOM other than a query).
    InvalidRequest,
    /// Busy; the guest may retry.
    Busy,
}

/// The CPU refused an RMP operation done on the guest's behalf. The reference passes these through as
/// `0x8000_1000 + hardware code` (PVALIDATE_FAIL_*), which Linux acts on (a 2M size mismatch is
/// retried as 4K pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmpRefusal {
    /// PVALIDATE's code.
    Pvalidate(PvalidateError),
    /// RMPADJUST's code.
    Rmpadjust(RmpadjustError),
    /// PVALIDATE left the page unchanged (CF = 1) and the entry did not ask to ignore it.
    Unchanged,
}

/// The hypervisor broke a rule (threat model T2, T6). The guest sees SVSM_ERR_INVALID_ADDRESS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HvFault {
    /// The page is not assigned to the guest in the RMP.
    NotAssigned {
        /// The page.
        gpa: u64,
    },
    /// A page Warden had just validated could not be written.
    ValidatedPageUnwritable {
        /// The page.
        gpa: u64,
    },
}

/// The platform could not produce attestation evidence (the PSP or the host refused, or did not
/// answer). Neither the guest's fault nor Warden's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceError {
    /// The host asked to try again later (SNP guest requests may be throttled); SVSM_ERR_BUSY, which
    /// Linux retries.
    Busy,
    /// No evidence can be had (the request failed, or no evidence source exists).
    Unavailable,
}

/// Warden has a bug: an invariant of its own bookkeeping failed. The request loop should stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    /// The vCPU table disagrees with itself.
    VcpuTable,
}

/// Every error a call can end in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SvsmError {
    /// The guest asked wrongly.
    Guest(GuestError),
    /// The CPU refused an RMP operation.
    Rmp(RmpRefusal),
    /// The hypervisor misbehaved.
    Hypervisor(HvFault),
    /// No attestation evidence could be had.
    Evidence(EvidenceError),
    /// Warden has a bug.
    Bug(Bug),
}

impl From<GuestError> for SvsmError {
    fn from(e: GuestError) -> Self {
        Self::Guest(e)
    }
}

impl From<Bug> for SvsmError {
    fn from(e: Bug) -> Self {
        Self::Bug(e)
    }
}

impl From<AddressError> for SvsmError {
    fn from(e: AddressError) -> Self {
        Self::Guest(GuestError::InvalidAddress(e))
    }
}

impl From<ParamError> for SvsmError {
    fn from(e: ParamError) -> Self {
        Self::Guest(GuestError::InvalidParameter(e))
    }
}

impl SvsmError {
    /// The SVSM result code the guest sees.
    pub const fn code(self) -> ResultCode {
        match self {
            Self::Guest(GuestError::UnsupportedProtocol) => ResultCode::UNSUPPORTED_PROTOCOL,
            Self::Guest(GuestError::UnsupportedCall) => ResultCode::UNSUPPORTED_CALL,
            Self::Guest(GuestError::InvalidAddress(_)) => ResultCode::INVALID_ADDRESS,
            Self::Guest(GuestError::InvalidParameter(_)) => ResultCode::INVALID_PARAMETER,
            Self::Guest(GuestError::InvalidFormat) => ResultCode::INVALID_FORMAT,
            Self::Guest(GuestError::InvalidRequest) => ResultCode::INVALID_REQUEST,
            Self::Guest(GuestError::Busy) => ResultCode::BUSY,
            Self::Rmp(RmpRefusal::Unchanged) => ResultCode::PVALIDATE_FAIL_NO_CHANGE,
            Self::Rmp(RmpRefusal::Pvalidate(e)) => ResultCode::protocol_specific(match e {
                PvalidateError::FailInput => 1,
                PvalidateError::FailSizeMismatch => 6,
                PvalidateError::Unknown(code) => code,
                // Not a hardware code: the RMP entry belongs to the hypervisor; see `lift_pvalidate`.
                PvalidateError::NotAssigned => 1,
            }),
            Self::Rmp(RmpRefusal::Rmpadjust(e)) => ResultCode::protocol_specific(match e {
                RmpadjustError::FailInput => 1,
                RmpadjustError::FailPermission => 2,
                RmpadjustError::FailSizeMismatch => 6,
                RmpadjustError::Unknown(code) => code,
                RmpadjustError::NotAssigned => 1,
            }),
            Self::Hypervisor(_) => ResultCode::INVALID_ADDRESS,
            Self::Evidence(EvidenceError::Busy) => ResultCode::BUSY,
            // "Not valid in this state": the request was well formed, the platform cannot serve it.
            Self::Evidence(EvidenceError::Unavailable) => ResultCode::INVALID_REQUEST,
            // Never a success, never a code the guest could act on as a retry hint.
            Self::Bug(_) => ResultCode::INVALID_REQUEST,
        }
    }

    /// Lifts a PVALIDATE failure for page `gpa`: "not assigned" is the hypervisor's doing.
    pub(crate) const fn lift_pvalidate(e: PvalidateError, gpa: u64) -> Self {
        match e {
            PvalidateError::NotAssigned => Self::Hypervisor(HvFault::NotAssigned { gpa }),
            other => Self::Rmp(RmpRefusal::Pvalidate(other)),
        }
    }

    /// Lifts an RMPADJUST failure for page `gpa`.
    pub(crate) const fn lift_rmpadjust(e: RmpadjustError, gpa: u64) -> Self {
        match e {
            RmpadjustError::NotAssigned => Self::Hypervisor(HvFault::NotAssigned { gpa }),
            other => Self::Rmp(RmpRefusal::Rmpadjust(other)),
        }
    }
}
