//! Fuzz bodies for the SVSM dispatcher (threat model T4: a hostile guest). Each runs in microseconds so the bounded CI run stays cheap.
#![allow(unsafe_code, reason = "forwards the simulator's unsafe-by-contract RMP primitives")]

use warden_defs::layout::{PAGE_SIZE, WARDEN_BASE, WARDEN_END};
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_defs::svsm::{CallId, ResultCode, core_call};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_sim::snp::SimSnp;
use warden_svsm::transport::{self, MAX_PAGES};
use warden_svsm::{
    Caller, CoreConfig, CoreProtocol, Dispatcher, GuestMemory, GuestRegs, MemoryError, SvsmError,
};

const RAM_END: u64 = 0x0A00_0000;
const CAA: u64 = 0x10_0000;
const GUEST_VMPL: u8 = 2;
const CALLER: Caller = Caller { apic_id: 0, sev_features: 1 };
/// Warden pages the simulator marks validated, to check that no input changes them.
const WARDEN_PROBES: [u64; 3] = [WARDEN_BASE, WARDEN_BASE + 0x20_0000, WARDEN_END - PAGE_SIZE];

/// The simulated SNP guest behind the dispatcher's `SnpMemory + GuestMemory` bound.
pub(crate) struct Env(pub(crate) SimSnp);

impl SnpMemory for Env {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        v: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        // SAFETY: the simulator touches no real memory.
        unsafe { self.0.pvalidate(gpa, size, v) }
    }
    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        vmpl: u8,
        p: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        // SAFETY: the simulator touches no real memory.
        unsafe { self.0.rmpadjust(gpa, size, vmpl, p, vmsa) }
    }
    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        // SAFETY: the simulator touches no real memory.
        unsafe { self.0.page_state_change(desc) }
    }
}

impl GuestMemory for Env {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.0.read(gpa, buf).map_err(|_| MemoryError::Unavailable)
    }
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.0.write(gpa, data).map_err(|_| MemoryError::Unavailable)
    }
}

/// A small guest: its calling area and 16 pages at 2 MiB are validated and its own, 16 pages at 3 MiB
/// are assigned but not validated, 4 MiB is one assigned 2 MiB page; a few Warden pages are validated.
fn setup() -> (Env, Dispatcher) {
    let mut sim = SimSnp::new(&[GpaRange::new(0, RAM_END).unwrap()]);
    for probe in WARDEN_PROBES {
        sim.prevalidate(GpaRange::from_len(probe, PAGE_SIZE).unwrap());
    }
    let mut desc = PscDescriptor::zeroed();
    let mut n = 0;
    for gfn in [CAA >> 12].into_iter().chain((0x200..0x210).chain(0x300..0x310)) {
        desc.entries[n] = PscEntry::new(gfn, PscOp::PRIVATE, false);
        n += 1;
    }
    desc.entries[n] = PscEntry::new(0x400, PscOp::PRIVATE, true);
    desc.header.end_entry = n as u16;
    let mut env = Env(sim);
    // SAFETY: simulator only.
    unsafe { env.0.page_state_change(&mut desc) }.unwrap();
    for gpa in [CAA].into_iter().chain((0x200..0x210).map(|g| g << 12)) {
        // SAFETY: simulator only.
        unsafe {
            env.0.pvalidate(gpa, PageSize::Size4K, true).unwrap();
            env.0.rmpadjust(gpa, PageSize::Size4K, GUEST_VMPL, VmplPerms::ALL, false).unwrap();
        }
    }
    // A hostile memory map that claims Warden's region too: the dispatcher must refuse it anyway.
    let ram = [GpaRange::new(0, RAM_END).unwrap()];
    let core = CoreProtocol::new(CoreConfig {
        guest_vmpl: GUEST_VMPL,
        apic_ids: &[0, 1],
        boot_apic_id: 0,
        boot_caa: CAA,
        ram: &ram,
    })
    .unwrap();
    (env, Dispatcher::new(core))
}

/// The result codes an SVSM call may end in: the protocol's own (SVSM spec (AMD 58019), result codes),
/// never an unknown value. Shared by the targets that drive the dispatcher.
pub(crate) const GUEST_CALL_RESULTS: [ResultCode; 10] = [
    ResultCode::SUCCESS,
    ResultCode::UNSUPPORTED_PROTOCOL,
    ResultCode::UNSUPPORTED_CALL,
    ResultCode::INVALID_ADDRESS,
    ResultCode::INVALID_PARAMETER,
    ResultCode::INVALID_REQUEST,
    ResultCode::PVALIDATE_FAIL_INPUT,
    ResultCode::PVALIDATE_FAIL_PERMISSION,
    ResultCode::PVALIDATE_FAIL_SIZEMISMATCH,
    ResultCode::PVALIDATE_FAIL_NO_CHANGE,
];

/// Whatever the guest sent: no panic, no bug, Warden's pages untouched, the calling area still the
/// guest's, and only the reference's codes.
fn check_after(env: &Env, error: Option<SvsmError>, rax: ResultCode) {
    assert!(!matches!(error, Some(SvsmError::Bug(_))), "guest input reached a Warden bug: {error:?}");
    for probe in WARDEN_PROBES {
        let (e, _) = env.0.rmp_entry(probe);
        assert!(e.validated && !e.vmsa && e.perms == [VmplPerms::NONE; 3], "Warden page {probe:#x} changed");
    }
    assert!(env.0.rmp_entry(CAA).0.validated, "the calling area was rescinded");
    assert!(GUEST_CALL_RESULTS.contains(&rax), "unexpected result {rax:?}");
}

/// `pvalidate_request_list`: byte 0-1 = the list's offset in the calling area (any value, so also
/// misaligned), byte 2 bit 0 = fold entry GPAs into the simulated RAM; the rest is the list.
/// Threat model T4.
pub fn pvalidate_request_list(data: &[u8]) {
    let (env_and_d, offset, fold) = match data {
        [a, b, flags, ..] => (setup(), u64::from(u16::from_le_bytes([*a, *b])) % PAGE_SIZE, flags & 1 != 0),
        _ => return,
    };
    let (mut env, mut d) = env_and_d;
    let mut list: Vec<u8> = data.get(3..).unwrap_or_default().to_vec();
    list.truncate((PAGE_SIZE - offset) as usize);
    if fold {
        for chunk in list.chunks_exact_mut(8).skip(1) {
            let e = u64::from_le_bytes(chunk.try_into().unwrap());
            let folded = ((e >> 12) % (RAM_END >> 12)) << 12 | (e & 0xFFF);
            chunk.copy_from_slice(&folded.to_le_bytes());
        }
    }
    env.0.write(CAA + offset, &list).unwrap();
    let rax = CallId { protocol: 0, call: core_call::PVALIDATE }.to_rax();
    let reply = d.handle(&mut env, CALLER, GuestRegs { rax, rcx: CAA + offset, ..GuestRegs::default() });
    check_after(&env, reply.error, reply.rax);
    if reply.rax == ResultCode::SUCCESS {
        let mut next = [0u8; 2];
        env.0.read(CAA + offset + 2, &mut next).unwrap();
        let mut entries = [0u8; 2];
        env.0.read(CAA + offset, &mut entries).unwrap();
        assert_eq!(next, entries, "a complete run leaves next == entries");
    }
}

/// `svsm_transport_frame`: the bytes as a raw frame, then (byte 0 bit 0 set) repaired into a
/// well-formed one (magic, version, page count, length, aligned GPAs, CRC) so the dispatcher behind
/// the parser is reached too.
/// Threat model T4.
pub fn svsm_transport_frame(data: &[u8]) {
    let (mut env, mut d) = setup();
    let mut frame = data.to_vec();
    if data.first().is_some_and(|b| b & 1 != 0) && frame.len() >= 8 {
        let pages = usize::from(frame[6]) % (MAX_PAGES + 1);
        frame[..8].copy_from_slice(b"WSRQ\x01\x00\x00\x00");
        frame[6] = pages as u8;
        frame.resize(48 + pages * (8 + 4096) + 4, 0);
        for i in 0..pages {
            let at = 48 + i * (8 + 4096);
            let gpa = u64::from_le_bytes(frame[at..at + 8].try_into().unwrap());
            let gpa = ((gpa >> 12) % (RAM_END >> 12)) << 12;
            frame[at..at + 8].copy_from_slice(&gpa.to_le_bytes());
        }
        let body = frame.len() - 4;
        let crc = transport::crc32(&frame[..body]);
        frame[body..].copy_from_slice(&crc.to_le_bytes());
    }
    let parsed = transport::decode_request(&frame);
    let response = transport::decode_response(&transport::serve(&mut d, &mut env, CALLER, &frame))
        .expect("Warden's own response must decode");
    match parsed {
        Ok(request) => {
            assert_eq!(response.status, 0);
            let sent: Vec<u64> = request.pages.pages().map(|(g, _)| g).collect();
            let back: Vec<u64> = response.pages.pages().map(|(g, _)| g).collect();
            assert_eq!(sent, back);
            check_after(&env, None, ResultCode(response.regs.rax));
        }
        Err(e) => assert_eq!(response.status, e.code()),
    }
}
