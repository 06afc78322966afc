//! The guest's own GHCB (GHCB spec (AMD 56421)): the MSR protocol requests it makes (§2.3.1: register
//! the GHCB, single-page state changes) and a [`GhcbTransport`] over its shared page, so that the
//! IOIO and page-state-change exits are `warden_platform::ghcb_exits`' and the AP-creation exit is
//! built from the same `Ghcb` type. The guest trusts the hypervisor no more than Warden does: every
//! reply is copied once and checked.
use warden_defs::ghcb::exit::{ApCreateRequest, ExitCode, ap_create_exit_info_1};
use warden_defs::ghcb::msr::{self, MsrError, PscOp};
use warden_defs::ghcb::{Field, Ghcb, GhcbError, offsets};
use warden_defs::guest_launch::GUEST_GHCB;
use warden_defs::layout::PAGE_SIZE;
use warden_platform::ghcb_exits::GhcbTransport;

use crate::instr;

/// One MSR-protocol exchange: the request in the GHCB MSR, VMGEXIT, the response read back.
fn msr_protocol(request: u64) -> u64 {
    instr::write_ghcb_msr(request);
    instr::vmgexit();
    instr::rdmsr(instr::GHCB_MSR)
}

/// Registers the GHCB page with the hypervisor (request 0x012; the response must echo the GFN).
pub fn register() -> Result<(), MsrError> {
    let gfn = GUEST_GHCB / PAGE_SIZE;
    msr::check_register_gpa(msr_protocol(msr::register_gpa_request(gfn)), gfn)
}

/// Makes one 4 KiB page private with the MSR protocol's page-state change (request 0x014).
pub fn make_private(gpa: u64) -> Result<(), MsrError> {
    msr::check_psc(msr_protocol(msr::psc_request(gpa / PAGE_SIZE, PscOp::Private)))
}

/// A harmless exit (the MSR protocol's SEV information request, 0x002) made only to hand the
/// hypervisor the CPU while this vCPU waits for another: a hypervisor that schedules vCPUs only at
/// exits then gets to run the other one.
pub fn yield_to_hypervisor() {
    let _ = msr_protocol(msr::SEV_INFO_REQ);
}

/// Asks the hypervisor to end the guest (request 0x100, reason set 0, code 0): the guest's way out
/// when it cannot even print.
pub fn terminate() -> ! {
    let _ = msr_protocol(msr::terminate_request(msr::REASON_SET_GENERAL, msr::REASON_GENERAL));
    instr::halt_forever()
}

/// The guest's shared GHCB page, identity-mapped without the C-bit by Warden's page tables.
#[derive(Debug)]
pub struct SharedGhcb;

impl GhcbTransport for SharedGhcb {
    fn exchange(&mut self, ghcb: &mut Ghcb) {
        let page = GUEST_GHCB as *mut Ghcb;
        // SAFETY: GUEST_GHCB is the guest's shared GHCB page (launch contract), mapped and 4 KiB; only
        // the vCPU that is running uses it (the second vCPU runs while the first waits).
        unsafe { page.write_volatile(*ghcb) };
        instr::write_ghcb_msr(GUEST_GHCB);
        instr::vmgexit();
        // SAFETY: as above; one volatile copy, after which only the private copy is looked at.
        *ghcb = unsafe { page.read_volatile() };
    }

    fn shared_buffer_gpa(&self) -> u64 {
        GUEST_GHCB + offsets::SHARED_BUFFER as u64
    }
}

/// Why the AP-creation exit failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApCreateError {
    /// The hypervisor's status (or a reply without a valid status).
    Status(GhcbError),
}

/// Starts the vCPU `apic_id` at `vmpl` on the VMSA at `vmsa_gpa` (GHCB spec §4.1.10, "SNP AP
/// Creation": exit 0x8000_0013, exit_info_1 = request | VMPL << 16 | APIC ID << 32, exit_info_2 = the
/// VMSA's GPA, RAX = its SEV features).
pub fn create_ap(vmpl: u8, apic_id: u32, vmsa_gpa: u64, sev_features: u64) -> Result<(), ApCreateError> {
    let mut ghcb = Ghcb::new();
    ghcb.set(Field::SwExitCode, ExitCode::SNP_AP_CREATION.0);
    ghcb.set(Field::SwExitInfo1, ap_create_exit_info_1(ApCreateRequest::Create, vmpl, apic_id));
    ghcb.set(Field::SwExitInfo2, vmsa_gpa);
    ghcb.set(Field::Rax, sev_features);
    SharedGhcb.exchange(&mut ghcb);
    ghcb.output(Field::SwExitInfo1).map_err(ApCreateError::Status)?;
    ghcb.exit_status().map_err(ApCreateError::Status)
}

const _: () = assert!(size_of::<Ghcb>() == PAGE_SIZE as usize);
const _: () = assert!(GUEST_GHCB.is_multiple_of(PAGE_SIZE));
