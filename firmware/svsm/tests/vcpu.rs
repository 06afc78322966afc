//! REMAP_CA, CREATE_VCPU and DELETE_VCPU on the simulated SNP platform: the pages Warden relies on
//! (calling areas, VMSAs, its own region) can never be handed to these calls.
#![allow(unsafe_code, reason = "tests set up RMP state through the simulator's primitives")]
mod common;

use common::{AP_CAA, BOOT_CAA, GUEST_VMPL, SEV_FEATURES, SimEnv, core_call, dispatcher, good_vmsa};
use core::mem::offset_of;
use warden_defs::layout::{PAGE_SIZE, WARDEN_BASE};
use warden_defs::svsm::core_call::{CREATE_VCPU, DELETE_VCPU, PVALIDATE, REMAP_CA};
use warden_defs::svsm::{PvalidateEntry, ResultCode};
use warden_defs::vmsa::Vmsa;
use warden_platform::memory::{PageSize, SnpMemory, VmplPerms};
use warden_svsm::{AddressError, Caller, GuestError, GuestRegs, ParamError, SvsmError};

const VMSA: u64 = 0x20_0000;
const NEW_CAA: u64 = 0x30_0000;

fn param(e: ParamError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidParameter(e)))
}

fn addr(e: AddressError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidAddress(e)))
}

#[test]
fn remap_ca_rules() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    env.guest_owned(NEW_CAA, 1);
    env.guest_write(NEW_CAA, &[1, 1, 1, 1, 1, 1, 1, 1, 9]);

    for (gpa, why) in [
        (NEW_CAA + 8, AddressError::Misaligned),
        (WARDEN_BASE, AddressError::Warden),
        (common::RAM_END, AddressError::NotGuestRam),
        (0x50_0000, AddressError::Inaccessible),
    ] {
        let reply = core_call(&mut d, &mut env, REMAP_CA, gpa, 0, 0);
        assert_eq!(
            (reply.rax, reply.error),
            (ResultCode::INVALID_PARAMETER, param(ParamError::BadCallingArea(why)))
        );
        assert_eq!(d.core().vcpu(0).unwrap().caa, Some(BOOT_CAA));
    }
    // Remapping to the current area changes nothing.
    assert_eq!(core_call(&mut d, &mut env, REMAP_CA, BOOT_CAA, 0, 0).rax, ResultCode::SUCCESS);
    let reply = core_call(&mut d, &mut env, REMAP_CA, NEW_CAA, 0, 0);
    assert_eq!(reply.rax, ResultCode::SUCCESS);
    assert_eq!(d.core().vcpu(0).unwrap().caa, Some(NEW_CAA));
    // The 8-byte header is cleared, the buffer is left alone.
    assert_eq!(env.guest_read(NEW_CAA, 9).unwrap(), vec![0, 0, 0, 0, 0, 0, 0, 0, 9]);
    // The old area is no longer protected; the new one is.
    let list = NEW_CAA + 8;
    env.write_list(list, 0, &[PvalidateEntry::new(BOOT_CAA, false, false, false)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).rax, ResultCode::SUCCESS);
    env.write_list(list, 0, &[PvalidateEntry::new(NEW_CAA, false, false, false)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).error, addr(AddressError::CallingArea));
}

#[test]
fn create_vcpu_makes_a_vmsa_the_guest_cannot_write() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.guest_owned(AP_CAA, 1);
    // VMPL3 (below the guest) could write the page before; it must not keep that on a VMSA.
    // SAFETY: simulator only.
    unsafe { env.sim.rmpadjust(VMSA, PageSize::Size4K, 3, VmplPerms::ALL, false) }.unwrap();
    let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1);
    assert_eq!((reply.rax, reply.error), (ResultCode::SUCCESS, None));
    assert!(env.sim.write_as(3, VMSA, &[0]).is_err());
    let (e, _) = env.sim.rmp_entry(VMSA);
    assert!(e.vmsa);
    assert_eq!(e.perms[usize::from(GUEST_VMPL - 1)], VmplPerms::READ);
    assert!(env.sim.write_as(GUEST_VMPL, VMSA, &[0]).is_err());
    let ap = d.core().vcpu(1).unwrap();
    assert_eq!((ap.vmsa, ap.caa), (Some(VMSA), Some(AP_CAA)));

    // Now both the VMSA and the new calling area are protected from PVALIDATE and REMAP_CA.
    let list = BOOT_CAA + 8;
    env.write_list(list, 0, &[PvalidateEntry::new(VMSA, false, false, true)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).error, addr(AddressError::Vmsa));
    env.write_list(list, 0, &[PvalidateEntry::new(AP_CAA, false, true, true)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).error, addr(AddressError::CallingArea));
    for (gpa, why) in [(VMSA, AddressError::Vmsa), (AP_CAA, AddressError::CallingArea)] {
        let reply = core_call(&mut d, &mut env, REMAP_CA, gpa, 0, 0);
        assert_eq!(reply.error, param(ParamError::BadCallingArea(why)));
    }
    // A PVALIDATE list may not sit in a VMSA: Warden would write `next` into it.
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, VMSA + 8, 0, 0).error, addr(AddressError::Vmsa));
}

#[test]
fn create_vcpu_refuses_bad_addresses_and_ids() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.guest_owned(AP_CAA, 1);
    let cases = [
        (VMSA + 8, AP_CAA, 1, addr(AddressError::Misaligned)),
        (VMSA, AP_CAA + 8, 1, addr(AddressError::Misaligned)),
        (WARDEN_BASE, AP_CAA, 1, addr(AddressError::Warden)),
        (VMSA, WARDEN_BASE, 1, addr(AddressError::Warden)),
        (VMSA, VMSA, 1, addr(AddressError::CallingArea)),
        (BOOT_CAA, AP_CAA, 1, addr(AddressError::CallingArea)),
        (VMSA, BOOT_CAA, 1, addr(AddressError::CallingArea)),
        (VMSA, AP_CAA, 7, param(ParamError::UnknownApicId)),
    ];
    for (vmsa_gpa, caa, apic, expected) in cases {
        let reply = core_call(&mut d, &mut env, CREATE_VCPU, vmsa_gpa, caa, apic);
        assert_eq!(reply.error, expected, "{vmsa_gpa:#x} {caa:#x} {apic}");
        assert_eq!(reply.rax, expected.unwrap().code());
        assert!(!env.sim.rmp_entry(vmsa_gpa & !0xFFF).0.vmsa);
    }
    // An existing VMSA cannot be registered twice.
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    good_vmsa(&mut env, VMSA + PAGE_SIZE);
    let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1);
    assert_eq!(reply.error, addr(AddressError::Vmsa));
    // A replacement VMSA for the same vCPU may keep its calling area; the old VMSA stays protected.
    let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA + PAGE_SIZE, AP_CAA, 1);
    assert_eq!(reply.rax, ResultCode::SUCCESS);
    assert_eq!(d.core().vcpu(1).unwrap().vmsa, Some(VMSA + PAGE_SIZE));
    let list = BOOT_CAA + 8;
    env.write_list(list, 0, &[PvalidateEntry::new(VMSA, false, false, true)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).error, addr(AddressError::Vmsa));
}

#[test]
fn create_vcpu_checks_the_vmsa_and_restores_access_on_failure() {
    let cases: [(usize, Vec<u8>, ParamError); 3] = [
        (offset_of!(Vmsa, vmpl), vec![1], ParamError::VmsaVmpl),
        (offset_of!(Vmsa, efer), 0x500u64.to_le_bytes().to_vec(), ParamError::VmsaSvme),
        (offset_of!(Vmsa, sev_features), 0x3u64.to_le_bytes().to_vec(), ParamError::VmsaSevFeatures),
    ];
    for (offset, bytes, why) in cases {
        let mut env = SimEnv::new();
        let mut d = dispatcher();
        good_vmsa(&mut env, VMSA);
        env.guest_owned(AP_CAA, 1);
        env.guest_write(VMSA + offset as u64, &bytes);
        let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1);
        assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_PARAMETER, param(why)));
        let (e, _) = env.sim.rmp_entry(VMSA);
        assert!(!e.vmsa);
        assert_eq!(e.perms[usize::from(GUEST_VMPL - 1)], VmplPerms::ALL, "the guest gets its page back");
        assert_eq!(d.core().vcpu(1).unwrap().vmsa, None);
    }
}

#[test]
fn delete_vcpu_clears_svme_and_the_vmsa_bit() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.guest_owned(AP_CAA, 1);
    let reply = core_call(&mut d, &mut env, DELETE_VCPU, VMSA, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_PARAMETER, param(ParamError::NotAVmsa)));
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    assert_eq!(core_call(&mut d, &mut env, DELETE_VCPU, VMSA, 0, 0).rax, ResultCode::SUCCESS);
    let (e, _) = env.sim.rmp_entry(VMSA);
    assert!(!e.vmsa);
    assert_eq!(e.perms[usize::from(GUEST_VMPL - 1)], VmplPerms::ALL);
    let efer = env.guest_read(VMSA + offset_of!(Vmsa, efer) as u64, 8).unwrap();
    assert_eq!(u64::from_le_bytes(efer.try_into().unwrap()), 0x500);
    assert_eq!(d.core().vcpu(1).unwrap().vmsa, None);
    // The page is the guest's again: it may rescind it.
    let list = BOOT_CAA + 8;
    env.write_list(list, 0, &[PvalidateEntry::new(VMSA, false, false, false)]);
    assert_eq!(core_call(&mut d, &mut env, PVALIDATE, list, 0, 0).rax, ResultCode::SUCCESS);
}

#[test]
fn a_new_vmsa_must_match_the_callers_sev_features() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    good_vmsa(&mut env, VMSA);
    env.guest_owned(AP_CAA, 1);
    let caller = Caller { apic_id: 0, sev_features: SEV_FEATURES | 0x4 };
    let rax = u64::from(CREATE_VCPU);
    let reply = d.handle(&mut env, caller, GuestRegs { rax, rcx: VMSA, rdx: AP_CAA, r8: 1, r9: 0 });
    assert_eq!(reply.error, param(ParamError::VmsaSevFeatures));
}
