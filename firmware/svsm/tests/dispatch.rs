//! Routing, QUERY_PROTOCOL, the calls Warden refuses, and the single copy of a request list.
mod common;

use std::cell::Cell;

use common::{BOOT, BOOT_CAA, SimEnv, core_call, dispatcher};
use warden_defs::layout::WARDEN_BASE;
use warden_defs::psc::PscDescriptor;
use warden_defs::svsm::{
    CallId, PROTOCOL_ATTEST, PROTOCOL_VTPM, PvalidateEntry, ResultCode, core_call as cc, query_protocol_input,
};
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_svsm::{
    CallContext, GuestError, GuestMemory, GuestRegs, MemoryError, Outputs, ProtocolHandler, RegisterError,
    SvsmError,
};

struct Echo {
    calls: u32,
}

impl ProtocolHandler for Echo {
    fn versions(&self) -> (u32, u32) {
        (1, 2)
    }
    fn handle(
        &mut self,
        call: u32,
        regs: GuestRegs,
        _: &mut CallContext<'_>,
    ) -> (Result<(), SvsmError>, Outputs) {
        self.calls += 1;
        match call {
            0 => (Ok(()), Outputs { rcx: None, rdx: Some(regs.rdx + 1), r8: None }),
            _ => (Err(GuestError::UnsupportedCall.into()), Outputs::NONE),
        }
    }
}

fn call(
    d: &mut warden_svsm::Dispatcher,
    env: &mut SimEnv,
    protocol: u32,
    call: u32,
    rcx: u64,
) -> warden_svsm::Reply {
    let rax = CallId { protocol, call }.to_rax();
    d.handle(env, BOOT, GuestRegs { rax, rcx, rdx: 41, r8: 0, r9: 0 })
}

#[test]
fn unknown_protocols_and_calls() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    assert_eq!(call(&mut d, &mut env, PROTOCOL_VTPM, 0, 0).rax, ResultCode::UNSUPPORTED_PROTOCOL);
    assert_eq!(call(&mut d, &mut env, 0xFFFF_FFFF, 0, 0).rax, ResultCode::UNSUPPORTED_PROTOCOL);
    assert_eq!(call(&mut d, &mut env, 0, 8, 0).rax, ResultCode::UNSUPPORTED_CALL);
    assert_eq!(call(&mut d, &mut env, 0, 0xFFFF_FFFF, 0).rax, ResultCode::UNSUPPORTED_CALL);
    // DEPOSIT_MEM / WITHDRAW_MEM: unsupported by design (see core_protocol.rs).
    assert_eq!(call(&mut d, &mut env, 0, cc::DEPOSIT_MEM, 0).rax, ResultCode::UNSUPPORTED_CALL);
    assert_eq!(call(&mut d, &mut env, 0, cc::WITHDRAW_MEM, 0).rax, ResultCode::UNSUPPORTED_CALL);
}

#[test]
fn query_protocol_answers_from_the_registry() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let q = |d: &mut warden_svsm::Dispatcher, env: &mut SimEnv, p, v| {
        let reply = call(d, env, 0, cc::QUERY_PROTOCOL, query_protocol_input(p, v));
        assert_eq!(reply.rax, ResultCode::SUCCESS);
        reply.outputs.rcx.unwrap()
    };
    assert_eq!(q(&mut d, &mut env, 0, 1), (1 << 32) | 1);
    assert_eq!(q(&mut d, &mut env, 0, 2), 0);
    assert_eq!(q(&mut d, &mut env, 0, 0), 0);
    assert_eq!(q(&mut d, &mut env, PROTOCOL_ATTEST, 1), 0, "not registered yet");
    d.register(PROTOCOL_ATTEST, Box::new(Echo { calls: 0 })).unwrap();
    assert_eq!(q(&mut d, &mut env, PROTOCOL_ATTEST, 2), (2 << 32) | 1);
    assert_eq!(q(&mut d, &mut env, PROTOCOL_ATTEST, 3), 0);
    assert_eq!(d.register(PROTOCOL_ATTEST, Box::new(Echo { calls: 0 })), Err(RegisterError::Taken));
    assert_eq!(d.register(0, Box::new(Echo { calls: 0 })), Err(RegisterError::Core));
}

#[test]
fn registered_protocols_are_routed() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    d.register(PROTOCOL_VTPM, Box::new(Echo { calls: 0 })).unwrap();
    let reply = call(&mut d, &mut env, PROTOCOL_VTPM, 0, 0);
    assert_eq!((reply.rax, reply.outputs.rdx), (ResultCode::SUCCESS, Some(42)));
    let mut regs = GuestRegs { rax: 7, rcx: 1, rdx: 2, r8: 3, r9: 4 };
    reply.apply(&mut regs);
    assert_eq!(regs, GuestRegs { rax: 0, rcx: 1, rdx: 42, r8: 3, r9: 4 });
    assert_eq!(call(&mut d, &mut env, PROTOCOL_VTPM, 5, 0).rax, ResultCode::UNSUPPORTED_CALL);
}

#[test]
fn configure_vtom_only_answers_a_query() {
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let reply = call(&mut d, &mut env, 0, cc::CONFIGURE_VTOM, 1);
    assert_eq!((reply.rax, reply.outputs.rcx), (ResultCode::SUCCESS, Some(0)));
    assert_eq!(call(&mut d, &mut env, 0, cc::CONFIGURE_VTOM, 2).rax, ResultCode::INVALID_REQUEST);
}

/// The simulated guest, but any read after the first of the list's bytes returns a rewritten list:
/// what a second vCPU racing Warden would make a second read see.
struct Racing {
    env: SimEnv,
    list: u64,
    reads: Cell<u32>,
}

impl GuestMemory for Racing {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.env.read(gpa, buf)?;
        if gpa <= self.list + 8 && self.list < gpa + buf.len() as u64 {
            self.reads.set(self.reads.get() + 1);
            if self.reads.get() > 1 {
                // Every entry now points into Warden's region.
                for chunk in buf.chunks_exact_mut(8).skip(1) {
                    chunk.copy_from_slice(
                        &PvalidateEntry::new(WARDEN_BASE, false, false, true).0.to_le_bytes(),
                    );
                }
            }
        }
        Ok(())
    }
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.env.write(gpa, data)
    }
}

impl SnpMemory for Racing {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        v: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        // SAFETY: forwarded to the simulator.
        unsafe { self.env.pvalidate(gpa, size, v) }
    }
    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        vmpl: u8,
        p: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        // SAFETY: forwarded to the simulator.
        unsafe { self.env.rmpadjust(gpa, size, vmpl, p, vmsa) }
    }
    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        // SAFETY: forwarded to the simulator.
        unsafe { self.env.page_state_change(desc) }
    }
}

#[test]
fn the_list_is_read_once() {
    let mut env = SimEnv::new();
    let list = BOOT_CAA + 8;
    env.assign_4k(0x40_0000, 3);
    let entries: Vec<_> =
        (0..3).map(|i| PvalidateEntry::new(0x40_0000 + i * 0x1000, false, true, false)).collect();
    env.write_list(list, 0, &entries);
    let mut racing = Racing { env, list, reads: Cell::new(0) };
    let mut d = dispatcher();
    let reply = core_call(&mut d, &mut racing, cc::PVALIDATE, list, 0, 0);
    assert_eq!((reply.rax, reply.error), (ResultCode::SUCCESS, None));
    assert_eq!(racing.reads.get(), 1, "the list's bytes were read more than once");
    for i in 0..3 {
        assert!(racing.env.sim.rmp_entry(0x40_0000 + i * 0x1000).0.validated);
    }
}

#[test]
fn a_bug_is_never_what_a_guest_can_cause_here() {
    // The caller is the request loop's word, not the guest's: an APIC ID missing from the table is
    // Warden's bug, and says so.
    let mut env = SimEnv::new();
    let mut d = dispatcher();
    let caller = warden_svsm::Caller { apic_id: 99, sev_features: 0 };
    let reply = d.handle(
        &mut env,
        caller,
        GuestRegs { rax: u64::from(cc::REMAP_CA), rcx: 0x30_0000, ..Default::default() },
    );
    assert_eq!(reply.error, Some(SvsmError::Bug(warden_svsm::Bug::VcpuTable)));
    assert_ne!(reply.rax, ResultCode::SUCCESS);
}

#[test]
fn guest_ram_refuses_overflow_empty_and_warden() {
    use warden_defs::layout::{WARDEN_BASE, WARDEN_END};
    use warden_platform::memory::GpaRange;
    use warden_svsm::{AddressError, GuestRam};
    let ram = GuestRam::new(&[GpaRange::new(0, 0x1_0000_0000).unwrap()]);
    assert_eq!(ram.check(0x1000, 0x1000), Ok(()));
    assert_eq!(ram.check(0x1000, 0), Err(AddressError::NotGuestRam));
    assert_eq!(ram.check(u64::MAX - 0xFFF, 0x2000), Err(AddressError::NotGuestRam));
    assert_eq!(
        ram.check(0xFFFF_F000, 0x1000),
        Err(AddressError::Warden),
        "the boot stub, whatever the map says"
    );
    let low = GuestRam::new(&[GpaRange::new(0, 0x100_0000).unwrap()]);
    assert_eq!(low.check(0xFF_F000, 0x2000), Err(AddressError::NotGuestRam), "past the range's end");
    // The map includes Warden's region; the check refuses it anyway, at both edges.
    assert_eq!(ram.check(WARDEN_BASE - 0x1000, 0x2000), Err(AddressError::Warden));
    assert_eq!(ram.check(WARDEN_END - 1, 1), Err(AddressError::Warden));
    assert_eq!(ram.check(WARDEN_BASE - 0x1000, 0x1000), Ok(()));
    assert_eq!(ram.check(WARDEN_END, 0x1000), Ok(()));
}
