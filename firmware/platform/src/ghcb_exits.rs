//! The NAE exits Warden performs through the GHCB (IOIO, CPUID, MSR read and write, page-state change,
//! AP creation, guest request):
//! each builds its request in a private [`Ghcb`], makes one [`GhcbTransport::exchange`], and decides
//! only from the private copy the exchange hands back.
//!
//! Threat model T1: the hypervisor writes the shared page whenever it likes, so the transport copies it
//! back once and nothing here can reach the shared page again. Every output used must have its valid
//! bit (GHCB spec (AMD 56421) §2.3.2, "GHCB Layout" and the valid bitmap; KVM clears the bitmap on
//! entry and sets a bit for each field it returns, COCONUT refuses outputs without one), including the
//! status in `sw_exit_info_1`; IN data is cut to the access width; anything the protocol does not allow
//! is a typed [`Misbehaviour`], never a panic. Exits: GHCB spec §4.1 (NAE events: IOIO, CPUID, MSR),
//! §4.1.6 (SNP page state change). The real transport (`SharedGhcb` in the firmware binary) writes the
//! private copy whole, VMGEXITs and reads the page back in one volatile copy.
//!
//! Here rather than in `warden-defs`: this is protocol logic over a transport, and the page-state
//! change answers with [`PscError`] of the memory traits; `warden-defs` keeps the wire layout and the
//! field-level checks.
use warden_defs::ghcb::exit::{
    ExitCode, GuestRequestError, IoDirection, IoWidth, MSR_READ, MSR_WRITE, guest_request_status,
    ioio_exit_info,
};
use warden_defs::ghcb::{EventInjection, Field, Ghcb, GhcbError, HvErrorCode, SHARED_BUFFER_SIZE};
use warden_defs::psc::{PscDescriptor, SVM_EXIT_PSC};
use zerocopy::IntoBytes;

use crate::memory::PscError;

/// Carries one NAE exit to the hypervisor and back.
pub trait GhcbTransport {
    /// Writes `ghcb` (Warden's private request) to the shared page whole, VMGEXITs, and copies the
    /// shared page back into `ghcb` **once**: afterwards `ghcb` is the only view of the reply.
    fn exchange(&mut self, ghcb: &mut Ghcb);

    /// The guest-physical address of the shared page's shared buffer (`sw_scratch` of a PSC).
    fn shared_buffer_gpa(&self) -> u64;
}

/// A reply the protocol does not allow: the hypervisor misbehaved (threat model T1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// An output the exit needs (or the status itself) has no valid bit.
    MissingOutput(Field),
    /// `sw_exit_info_1` = 1 with an `sw_exit_info_2` that is not a valid #GP or #UD.
    BadException(u64),
    /// `sw_exit_info_1` bits 31:0 are none of 0, 1, 2.
    UnknownStatus(u32),
    /// An exception to inject in answer to an exit that cannot raise one (a page-state change).
    UnexpectedException(EventInjection),
}

/// Why an IOIO, CPUID or MSR exit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitError {
    /// `sw_exit_info_1` = 1: the hypervisor asks to inject #GP or #UD (it refuses the access).
    Exception(EventInjection),
    /// `sw_exit_info_1` = 2: the hypervisor reports a GHCB error.
    Hypervisor(HvErrorCode),
    /// The hypervisor misbehaved.
    Misbehaved(Misbehaviour),
}

/// Why a page-state-change exit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PscExitError {
    /// The hypervisor refused the change in a way the protocol allows (the acceptance engine reports it).
    Refused(PscError),
    /// The hypervisor misbehaved.
    Misbehaved(Misbehaviour),
}

/// The four registers of a CPUID answer, each cut to 32 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidResult {
    /// EAX.
    pub eax: u32,
    /// EBX.
    pub ebx: u32,
    /// ECX.
    pub ecx: u32,
    /// EDX.
    pub edx: u32,
}

const LOW32: u64 = 0xFFFF_FFFF;

/// An output of the reply, refused unless its valid bit is set.
fn output(reply: &Ghcb, field: Field) -> Result<u64, Misbehaviour> {
    reply.output(field).map_err(|_| Misbehaviour::MissingOutput(field))
}

/// The reply's status: `sw_exit_info_1` (and `sw_exit_info_2` when it is not 0) must be marked valid,
/// then `warden_defs::ghcb::Ghcb::exit_status` decodes them.
fn status(reply: &Ghcb) -> Result<(), ExitError> {
    let info_1 = output(reply, Field::SwExitInfo1).map_err(ExitError::Misbehaved)?;
    if info_1 as u32 != 0 {
        output(reply, Field::SwExitInfo2).map_err(ExitError::Misbehaved)?;
    }
    reply.exit_status().map_err(|error| match error {
        GhcbError::Exception(event) => ExitError::Exception(event),
        GhcbError::Hypervisor(code) => ExitError::Hypervisor(code),
        GhcbError::BadException(info) => ExitError::Misbehaved(Misbehaviour::BadException(info)),
        GhcbError::UnknownStatus(code) => ExitError::Misbehaved(Misbehaviour::UnknownStatus(code)),
        GhcbError::MissingOutput(field) => ExitError::Misbehaved(Misbehaviour::MissingOutput(field)),
    })
}

/// A request with its exit code and exit information set (and marked valid), everything else zero.
fn request(exit_code: ExitCode, info_1: u64, info_2: u64) -> Ghcb {
    let mut ghcb = Ghcb::new();
    ghcb.set(Field::SwExitCode, exit_code.0);
    ghcb.set(Field::SwExitInfo1, info_1);
    ghcb.set(Field::SwExitInfo2, info_2);
    ghcb
}

/// A non-string IN of `width` from `port`: the hypervisor's RAX, cut to the width (bits above it are
/// the hypervisor's garbage and never reach Warden).
pub fn io_in<T: GhcbTransport>(transport: &mut T, port: u16, width: IoWidth) -> Result<u64, ExitError> {
    let mut ghcb = request(ExitCode::IOIO, ioio_exit_info(port, width, IoDirection::In), 0);
    transport.exchange(&mut ghcb);
    status(&ghcb)?;
    let rax = output(&ghcb, Field::Rax).map_err(ExitError::Misbehaved)?;
    Ok(rax & width.mask())
}

/// A non-string OUT of `value` (cut to `width`) to `port`. No output is read.
pub fn io_out<T: GhcbTransport>(
    transport: &mut T,
    port: u16,
    width: IoWidth,
    value: u64,
) -> Result<(), ExitError> {
    let mut ghcb = request(ExitCode::IOIO, ioio_exit_info(port, width, IoDirection::Out), 0);
    ghcb.set(Field::Rax, value & width.mask());
    transport.exchange(&mut ghcb);
    status(&ghcb)
}

/// CPUID `leaf`/`subleaf` with XCR0 (leaf 0xD depends on it): all four registers must come back valid.
pub fn cpuid<T: GhcbTransport>(
    transport: &mut T,
    leaf: u32,
    subleaf: u32,
    xcr0: u64,
) -> Result<CpuidResult, ExitError> {
    let mut ghcb = request(ExitCode::CPUID, 0, 0);
    ghcb.set(Field::Rax, u64::from(leaf));
    ghcb.set(Field::Rcx, u64::from(subleaf));
    ghcb.set(Field::Xcr0, xcr0);
    transport.exchange(&mut ghcb);
    status(&ghcb)?;
    let [eax, ebx, ecx, edx] = [Field::Rax, Field::Rbx, Field::Rcx, Field::Rdx]
        .map(|field| output(&ghcb, field).map(|value| (value & LOW32) as u32));
    let misbehaved = ExitError::Misbehaved;
    Ok(CpuidResult {
        eax: eax.map_err(misbehaved)?,
        ebx: ebx.map_err(misbehaved)?,
        ecx: ecx.map_err(misbehaved)?,
        edx: edx.map_err(misbehaved)?,
    })
}

/// RDMSR `msr`: EDX:EAX from the valid RDX and RAX, each cut to 32 bits.
pub fn rdmsr<T: GhcbTransport>(transport: &mut T, msr: u32) -> Result<u64, ExitError> {
    let mut ghcb = request(ExitCode::MSR, MSR_READ, 0);
    ghcb.set(Field::Rcx, u64::from(msr));
    transport.exchange(&mut ghcb);
    status(&ghcb)?;
    let eax = output(&ghcb, Field::Rax).map_err(ExitError::Misbehaved)? & LOW32;
    let edx = output(&ghcb, Field::Rdx).map_err(ExitError::Misbehaved)? & LOW32;
    Ok((edx << 32) | eax)
}

/// WRMSR `msr` with `value` (EDX:EAX). No output is read.
pub fn wrmsr<T: GhcbTransport>(transport: &mut T, msr: u32, value: u64) -> Result<(), ExitError> {
    let mut ghcb = request(ExitCode::MSR, MSR_WRITE, 0);
    ghcb.set(Field::Rcx, u64::from(msr));
    ghcb.set(Field::Rax, value & LOW32);
    ghcb.set(Field::Rdx, value >> 32);
    transport.exchange(&mut ghcb);
    status(&ghcb)
}

/// One page-state-change exit for `desc` (the descriptor goes in the shared buffer, `sw_scratch` names
/// it). On return `desc` holds the reply's shared buffer from the private copy: its header is the
/// hypervisor's allegation, which the caller checks (`warden_accept::psc::check_reply`); the caller
/// also re-copies its own entries before the next exit. `sw_exit_info_2` (valid) is the PSC result.
pub fn page_state_change<T: GhcbTransport>(
    transport: &mut T,
    desc: &mut PscDescriptor,
) -> Result<(), PscExitError> {
    const _: () = assert!(size_of::<PscDescriptor>() == SHARED_BUFFER_SIZE);
    let mut ghcb = request(ExitCode(SVM_EXIT_PSC), 0, 0);
    ghcb.shared_buffer.copy_from_slice(desc.as_bytes());
    ghcb.set(Field::SwScratch, transport.shared_buffer_gpa());
    transport.exchange(&mut ghcb);
    desc.as_mut_bytes().copy_from_slice(&ghcb.shared_buffer);
    match status(&ghcb) {
        Ok(()) => {}
        Err(ExitError::Hypervisor(code)) => return Err(PscExitError::Refused(PscError::Ghcb(code.0))),
        Err(ExitError::Exception(event)) => {
            return Err(PscExitError::Misbehaved(Misbehaviour::UnexpectedException(event)));
        }
        Err(ExitError::Misbehaved(why)) => return Err(PscExitError::Misbehaved(why)),
    }
    match output(&ghcb, Field::SwExitInfo2).map_err(PscExitError::Misbehaved)? {
        0 => Ok(()),
        code => Err(PscExitError::Refused(PscError::from_exit_info2(code))),
    }
}

/// AP creation's request code "create now" (GHCB spec (AMD 56421) §4.1.9, SNP AP Creation:
/// `sw_exit_info_1` bits 31:0; 0 is create on INIT, 2 destroy).
const AP_CREATE: u64 = 1;

/// An SNP AP-creation exit (GHCB spec §4.1.9) asking the hypervisor to run the VMSA at `vmsa_gpa` for
/// vCPU `apic_id` at `vmpl`, with `sev_features` in RAX: `sw_exit_info_1` = 1 (create) | VMPL in bits
/// 19:16 | APIC ID in bits 63:32, `sw_exit_info_2` = the VMSA's GPA. No output is read.
pub fn ap_create<T: GhcbTransport>(
    transport: &mut T,
    apic_id: u32,
    vmpl: u8,
    vmsa_gpa: u64,
    sev_features: u64,
) -> Result<(), ExitError> {
    let info_1 = AP_CREATE | (u64::from(vmpl & 0xF) << 16) | (u64::from(apic_id) << 32);
    let mut ghcb = request(ExitCode::SNP_AP_CREATION, info_1, vmsa_gpa);
    ghcb.set(Field::Rax, sev_features);
    transport.exchange(&mut ghcb);
    status(&ghcb)
}

/// Why a guest-request exit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestRequestExitError {
    /// The hypervisor or the PSP refused the request (`sw_exit_info_2`, GHCB spec §4.1.8).
    Refused(GuestRequestError),
    /// `sw_exit_info_1` = 2: the hypervisor refused the exit itself (e.g. an address it cannot use).
    Ghcb(HvErrorCode),
    /// INVALID_LEN on an extended request: the certificate buffer needs this many pages (RBX).
    CertificatePages(u64),
    /// The hypervisor misbehaved.
    Misbehaved(Misbehaviour),
}

/// The certificate buffer of an extended guest request: shared pages at `gpa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateBuffer {
    /// The first page's guest-physical address.
    pub gpa: u64,
    /// How many 4 KiB pages.
    pub pages: u64,
}

/// An SNP guest request (GHCB spec (AMD 56421) §4.1.8): `sw_exit_info_1` = the request page's GPA,
/// `sw_exit_info_2` = the response page's, both shared; with `certificates`, the extended request
/// (RAX = the buffer's GPA, RBX = its page count). The answer is `sw_exit_info_2` (valid): 0, or the
/// VMM error in bits 63:32 and the firmware error in bits 31:0; on INVALID_LEN, RBX (valid) holds the
/// pages needed. The pages' contents are the caller's to copy and check.
pub fn guest_request<T: GhcbTransport>(
    transport: &mut T,
    request_gpa: u64,
    response_gpa: u64,
    certificates: Option<CertificateBuffer>,
) -> Result<(), GuestRequestExitError> {
    let exit =
        if certificates.is_some() { ExitCode::SNP_EXT_GUEST_REQUEST } else { ExitCode::SNP_GUEST_REQUEST };
    let mut ghcb = request(exit, request_gpa, response_gpa);
    if let Some(buffer) = certificates {
        ghcb.set(Field::Rax, buffer.gpa);
        ghcb.set(Field::Rbx, buffer.pages);
    }
    transport.exchange(&mut ghcb);
    let misbehaved = GuestRequestExitError::Misbehaved;
    match status(&ghcb) {
        Ok(()) => {}
        Err(ExitError::Misbehaved(why)) => return Err(misbehaved(why)),
        Err(ExitError::Exception(event)) => return Err(misbehaved(Misbehaviour::UnexpectedException(event))),
        Err(ExitError::Hypervisor(code)) => return Err(GuestRequestExitError::Ghcb(code)),
    }
    let info_2 = output(&ghcb, Field::SwExitInfo2).map_err(misbehaved)?;
    match guest_request_status(info_2) {
        Ok(()) => Ok(()),
        Err(GuestRequestError::InvalidLength) if certificates.is_some() => {
            Err(GuestRequestExitError::CertificatePages(output(&ghcb, Field::Rbx).map_err(misbehaved)?))
        }
        Err(error) => Err(GuestRequestExitError::Refused(error)),
    }
}

#[cfg(test)]
mod tests;
