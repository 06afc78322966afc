//! Calling areas are pages Warden reads and writes on its own, long after the call that registered them
//! (`call_pending` at offset 0): each must be validated private guest memory when it is registered, and
//! the guest may not rescind it afterwards. On SEV-SNP, Warden touching an assigned page that is not
//! validated raises #VC with error code 0x404 (AMD64 APM vol. 2 §15.36, "Page Validation"): outside a
//! call that fault ends Warden, a denial of service.
mod common;

use common::{AP_CAA, BOOT_CAA, SimEnv, core_call, dispatcher, good_vmsa};
use warden_defs::svsm::core_call::{CREATE_VCPU, PVALIDATE, REMAP_CA};
use warden_defs::svsm::{PvalidateEntry, ResultCode};
use warden_svsm::{AddressError, GuestError, ParamError, SvsmError};

const VMSA: u64 = 0x20_0000;
/// A page the hypervisor assigned to the guest but nobody validated.
const UNVALIDATED: u64 = 0x30_0000;
/// The boot vCPU's PVALIDATE list, in its own calling area past the header.
const LIST: u64 = BOOT_CAA + 8;

fn addr(e: AddressError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidAddress(e)))
}

fn param(e: ParamError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidParameter(e)))
}

/// Threat model T4, T7: CREATE_VCPU naming an assigned but unvalidated page as the calling area is
/// refused before anything changes: no vCPU state, and the VMSA page is still the guest's.
#[test]
fn create_vcpu_refuses_an_unvalidated_calling_area() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.assign_4k(UNVALIDATED, 1);
    let vmsa_entry = env.sim.rmp_entry(VMSA).0;

    let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA, UNVALIDATED, 1);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::Inaccessible)));
    let vcpu = d.core().vcpu(1).unwrap();
    assert_eq!((vcpu.caa, vcpu.vmsa), (None, None), "nothing is registered");
    assert_eq!(env.sim.rmp_entry(VMSA).0, vmsa_entry, "the VMSA page is untouched");
    assert!(!env.sim.rmp_entry(UNVALIDATED).0.validated);

    // The same call with a validated calling area succeeds: the refusal was about the page's state.
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    assert_eq!(d.core().vcpu(1).unwrap().caa, Some(AP_CAA));
}

/// Threat model T4, T7: REMAP_CA to an assigned but unvalidated page is refused (INVALID_PARAMETER, as
/// the SVSM spec (AMD 58019) answers for SVSM_CORE_REMAP_CA) and the caller keeps its calling area.
#[test]
fn remap_ca_refuses_an_unvalidated_calling_area() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.assign_4k(UNVALIDATED, 1);

    let reply = core_call(&mut d, &mut env, REMAP_CA, UNVALIDATED, 0, 0);
    assert_eq!(
        (reply.rax, reply.error),
        (ResultCode::INVALID_PARAMETER, param(ParamError::BadCallingArea(AddressError::Inaccessible)))
    );
    assert_eq!(d.core().vcpu(0).unwrap().caa, Some(BOOT_CAA), "nothing is registered");
    assert!(!env.sim.rmp_entry(UNVALIDATED).0.validated);
}

/// Threat model T4, T7: once CREATE_VCPU registered a calling area, a guest PVALIDATE may neither
/// rescind it (Warden's next read of `call_pending` would fault) nor validate it again (which zeroes
/// it under Warden); the page stays validated.
#[test]
fn pvalidate_cannot_rescind_a_registered_calling_area() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);

    for entry in [
        PvalidateEntry::new(AP_CAA, false, false, false),
        PvalidateEntry::new(AP_CAA, false, false, true),
        PvalidateEntry::new(AP_CAA, false, true, true),
    ] {
        env.write_list(LIST, 0, &[entry]);
        let reply = core_call(&mut d, &mut env, PVALIDATE, LIST, 0, 0);
        assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::CallingArea)));
        assert!(env.sim.rmp_entry(AP_CAA).0.validated, "the calling area stays validated");
        assert_eq!(d.core().vcpu(1).unwrap().caa, Some(AP_CAA));
    }
}
