//! The SNP request loop's pure steps: VMGEXIT check, call_pending, registers from and to the VMSA;
//! and a VMSA Warden registers itself.
mod common;

use common::{BOOT_CAA, SimEnv, core_call, dispatcher};
use warden_defs::svsm::{PvalidateEntry, ResultCode, core_call::PVALIDATE};
use warden_defs::vmsa::Vmsa;
use warden_svsm::request::{exited_with_vmgexit, regs_from_vmsa, reply_to_vmsa, take_pending_call};
use warden_svsm::{AddressError, GuestError, GuestRegs, Outputs, Reply, SvsmError};
use zerocopy::{FromBytes, IntoBytes};

/// The reference offsets (SVSM spec AMD 58019 calling convention; Linux `struct sev_es_save_area`),
/// written as raw bytes so that the struct's layout is checked, not assumed.
fn put(page: &mut [u8; 4096], off: usize, v: u64) {
    page[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn registers_come_from_and_go_to_the_reference_offsets() {
    let mut page = [0u8; 4096];
    assert!(!exited_with_vmgexit(&Vmsa::read_from_bytes(&page).unwrap()));
    put(&mut page, 0x3C0, 0x403);
    assert!(exited_with_vmgexit(&Vmsa::read_from_bytes(&page).unwrap()));
    for (off, v) in [(0x1F8, 0x1_0000_0001), (0x308, 2), (0x310, 3), (0x340, 4), (0x348, 5)] {
        put(&mut page, off, v);
    }
    let mut vmsa = Vmsa::read_from_bytes(&page).unwrap();
    assert_eq!(regs_from_vmsa(&vmsa), GuestRegs { rax: 0x1_0000_0001, rcx: 2, rdx: 3, r8: 4, r9: 5 });
    let reply = Reply::from_result(Ok(()), Outputs { rcx: Some(9), rdx: None, r8: Some(7) });
    reply_to_vmsa(&reply, &mut vmsa);
    assert_eq!(regs_from_vmsa(&vmsa), GuestRegs { rax: 0, rcx: 9, rdx: 3, r8: 7, r9: 5 });
    let failed = Reply::from_result(Err(SvsmError::Guest(GuestError::UnsupportedCall)), Outputs::NONE);
    reply_to_vmsa(&failed, &mut vmsa);
    let bytes = vmsa.as_bytes();
    assert_eq!(u64::from_le_bytes(bytes[0x1F8..0x200].try_into().unwrap()), 0x8000_0002);
    assert_eq!(u64::from_le_bytes(bytes[0x340..0x348].try_into().unwrap()), 7);
    assert_eq!(u64::from_le_bytes(bytes[0x308..0x310].try_into().unwrap()), 9);
}

#[test]
fn call_pending_is_taken_once() {
    let mut env = SimEnv::new();
    assert_eq!(take_pending_call(&mut env, BOOT_CAA), Ok(false));
    env.guest_write(BOOT_CAA, &[1, 1]);
    assert_eq!(take_pending_call(&mut env, BOOT_CAA), Ok(true));
    assert_eq!(env.guest_read(BOOT_CAA, 2).unwrap(), vec![0, 1], "only call_pending is cleared");
    assert_eq!(take_pending_call(&mut env, BOOT_CAA), Ok(false));
    assert!(take_pending_call(&mut env, 0x70_0000).is_err(), "an unvalidated calling area is an error");
}

#[test]
fn a_vmsa_warden_made_is_protected_too() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let boot_vmsa = 0x20_0000;
    env.guest_owned(boot_vmsa, 1);
    let mut core = d.core().clone();
    core.register_vmsa(0, boot_vmsa).unwrap();
    assert_eq!(core.vcpu(0).unwrap().vmsa, Some(boot_vmsa));
    assert!(core.register_vmsa(0, boot_vmsa).is_err(), "already a VMSA");
    assert!(core.register_vmsa(0, BOOT_CAA).is_err(), "a calling area");
    d = warden_svsm::Dispatcher::new(core);
    env.write_list(BOOT_CAA + 8, 0, &[PvalidateEntry::new(boot_vmsa, false, false, true)]);
    let reply = core_call(&mut d, &mut env, PVALIDATE, BOOT_CAA + 8, 0, 0);
    assert_eq!(reply.rax, ResultCode::INVALID_ADDRESS);
    assert_eq!(reply.error, Some(SvsmError::Guest(GuestError::InvalidAddress(AddressError::Vmsa))));
}
