//! The SNP request loop's pure steps: VMGEXIT check, call_pending, registers from and to the VMSA;
//! and a VMSA Warden registers itself.
mod common;

use common::{BOOT, BOOT_CAA, SimEnv, core_call, dispatcher};
use warden_defs::svsm::{CallId, PROTOCOL_CORE, core_call as call};
use warden_defs::svsm::{PvalidateEntry, ResultCode, core_call::PVALIDATE};
use warden_defs::vmsa::Vmsa;
use warden_svsm::request::{
    exited_with_vmgexit, regs_from_vmsa, reply_to_vmsa, serve_exit, take_pending_call,
};
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

/// A copied VMSA whose vCPU exited with `exit_code`, asking for core `call` with RCX = `rcx`.
fn exited(exit_code: u64, call: u32, rcx: u64) -> Vmsa {
    let mut page = [0u8; 4096];
    put(&mut page, 0x3C0, exit_code);
    put(&mut page, 0x1F8, CallId { protocol: PROTOCOL_CORE, call }.to_rax());
    put(&mut page, 0x308, rcx);
    put(&mut page, 0x310, 0xDD);
    Vmsa::read_from_bytes(&page).unwrap()
}

#[test]
fn an_exit_is_served_only_if_it_is_a_vmgexit_with_call_pending() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let query = (u64::from(PROTOCOL_CORE) << 32) | 1;

    // Not a VMGEXIT (an NPF, 0x400): nothing happens, even with call_pending set.
    env.guest_write(BOOT_CAA, &[1]);
    let mut vmsa = exited(0x400, call::QUERY_PROTOCOL, query);
    assert_eq!(serve_exit(&mut d, &mut env, BOOT, &mut vmsa), None);
    assert_eq!(vmsa, exited(0x400, call::QUERY_PROTOCOL, query));
    assert_eq!(env.guest_read(BOOT_CAA, 1).unwrap(), [1], "call_pending left alone");

    // A VMGEXIT with call_pending: served, the flag cleared, RAX and RCX replaced, RDX kept.
    let mut vmsa = exited(0x403, call::QUERY_PROTOCOL, query);
    let reply = serve_exit(&mut d, &mut env, BOOT, &mut vmsa).expect("a call");
    assert_eq!(reply.rax, ResultCode::SUCCESS);
    assert_eq!(env.guest_read(BOOT_CAA, 1).unwrap(), [0]);
    assert_eq!(regs_from_vmsa(&vmsa), GuestRegs { rax: 0, rcx: (1 << 32) | 1, rdx: 0xDD, r8: 0, r9: 0 });

    // The same exit again: call_pending is clear now, so it is no call (a VMGEXIT for something else).
    let mut vmsa = exited(0x403, call::QUERY_PROTOCOL, query);
    assert_eq!(serve_exit(&mut d, &mut env, BOOT, &mut vmsa), None);
}

#[test]
fn the_calling_area_is_the_vcpus_current_one_from_wardens_table() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let moved = 0x12_0000;
    env.guest_owned(moved, 1);
    let reply = core_call(&mut d, &mut env, call::REMAP_CA, moved, 0, 0);
    assert_eq!(reply.rax, ResultCode::SUCCESS);

    // call_pending on the old calling area no longer counts; on the new one it does.
    env.guest_write(BOOT_CAA, &[1]);
    let mut vmsa = exited(0x403, call::QUERY_PROTOCOL, 1);
    assert_eq!(serve_exit(&mut d, &mut env, BOOT, &mut vmsa), None);
    env.guest_write(moved, &[1]);
    assert!(serve_exit(&mut d, &mut env, BOOT, &mut vmsa).is_some());
    assert_eq!(env.guest_read(moved, 1).unwrap(), [0]);

    // An APIC ID Warden does not know has no calling area: no call.
    let stranger = warden_svsm::Caller { apic_id: 77, ..BOOT };
    env.guest_write(moved, &[1]);
    assert_eq!(serve_exit(&mut d, &mut env, stranger, &mut exited(0x403, call::QUERY_PROTOCOL, 1)), None);
}
