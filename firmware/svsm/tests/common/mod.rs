//! A simulated SNP guest for the dispatcher's tests: warden-sim's strict RMP behind the dispatcher's
//! `SnpMemory + GuestMemory` bound, and helpers that set up what a guest would have at call time.
#![allow(dead_code, reason = "each test file uses a different subset of the helpers")]
#![allow(unsafe_code, reason = "tests call the simulator's unsafe-by-contract RMP primitives")]

use core::mem::offset_of;
use warden_defs::layout::{PAGE_SIZE, WARDEN_BASE, WARDEN_END};
use warden_defs::psc::{PscDescriptor, PscEntry, PscOp};
use warden_defs::svsm::{CallId, PROTOCOL_CORE, PvalidateEntry, PvalidateHeader};
use warden_defs::vmsa::{EFER_SVME, Vmsa};
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};
use warden_sim::Fault;
use warden_sim::snp::SimSnp;
use warden_svsm::{Caller, CoreConfig, CoreProtocol, Dispatcher, GuestMemory, GuestRegs, MemoryError, Reply};
use zerocopy::IntoBytes;

/// The guest's VMPL in these tests (COCONUT runs Linux at VMPL2).
pub const GUEST_VMPL: u8 = 2;
/// The top of simulated RAM.
pub const RAM_END: u64 = 0x1000_0000;
/// The boot vCPU's calling area.
pub const BOOT_CAA: u64 = 0x10_0000;
/// A second vCPU's calling area (set up by `with_second_vcpu`).
pub const AP_CAA: u64 = 0x11_0000;
/// APIC IDs.
pub const APIC_IDS: [u32; 2] = [0, 1];
/// The boot vCPU's SEV features.
pub const SEV_FEATURES: u64 = 0x1;

/// The simulated machine as the dispatcher sees it.
#[derive(Debug)]
pub struct SimEnv {
    pub sim: SimSnp,
}

impl SnpMemory for SimEnv {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        // SAFETY: forwarded to the simulator, which touches no real memory.
        unsafe { self.sim.pvalidate(gpa, size, validate) }
    }
    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        // SAFETY: forwarded to the simulator.
        unsafe { self.sim.rmpadjust(gpa, size, vmpl, perms, vmsa) }
    }
    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        // SAFETY: forwarded to the simulator.
        unsafe { self.sim.page_state_change(desc) }
    }
}

fn lift(f: Fault) -> MemoryError {
    match f {
        Fault::NotValidated { .. } => MemoryError::NotValidated,
        _ => MemoryError::Unavailable,
    }
}

impl GuestMemory for SimEnv {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.sim.read(gpa, buf).map_err(lift)
    }
    fn write(&mut self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.sim.write(gpa, data).map_err(lift)
    }
}

impl SimEnv {
    /// RAM [0, RAM_END) exists; Warden's region is validated for VMPL0 only; nothing else is assigned.
    pub fn new() -> Self {
        let mut sim = SimSnp::new(&[GpaRange::new(0, RAM_END).unwrap()]);
        sim.prevalidate(GpaRange::new(WARDEN_BASE, WARDEN_END).unwrap());
        let mut env = Self { sim };
        env.guest_owned(BOOT_CAA, 1);
        env
    }

    /// The hypervisor assigns `[gpa, gpa + pages * 4K)` to the guest as 4 KiB entries (not validated).
    pub fn assign_4k(&mut self, gpa: u64, pages: u64) {
        for i in 0..pages {
            self.psc(PscEntry::new((gpa >> 12) + i, PscOp::PRIVATE, false));
        }
    }

    /// The hypervisor assigns the 2 MiB page at `gpa` as one 2 MiB entry.
    pub fn assign_2m(&mut self, gpa: u64) {
        self.psc(PscEntry::new(gpa >> 12, PscOp::PRIVATE, true));
    }

    fn psc(&mut self, entry: PscEntry) {
        let mut desc = PscDescriptor::zeroed();
        desc.entries[0] = entry;
        // SAFETY: simulator only.
        unsafe { self.sim.page_state_change(&mut desc) }.unwrap();
        assert_eq!(desc.header.cur_entry, 1);
    }

    /// Pages the guest already owns (validated, full access at the guest VMPL): what the firmware
    /// before it (or an earlier PVALIDATE call) left.
    pub fn guest_owned(&mut self, gpa: u64, pages: u64) {
        self.assign_4k(gpa, pages);
        for i in 0..pages {
            let page = gpa + i * PAGE_SIZE;
            // SAFETY: simulator only.
            unsafe {
                assert_eq!(self.sim.pvalidate(page, PageSize::Size4K, true), Ok(PvalidateOutcome::Changed));
                self.sim.rmpadjust(page, PageSize::Size4K, GUEST_VMPL, VmplPerms::ALL, false).unwrap();
            }
        }
    }

    /// The guest writes memory at its own VMPL (so it must own the page).
    pub fn guest_write(&mut self, gpa: u64, data: &[u8]) {
        self.sim.write_as(GUEST_VMPL, gpa, data).expect("guest write");
    }

    /// The guest reads memory at its own VMPL.
    pub fn guest_read(&self, gpa: u64, len: usize) -> Result<Vec<u8>, Fault> {
        let mut v = vec![0; len];
        self.sim.read_as(GUEST_VMPL, gpa, &mut v).map(|()| v)
    }

    /// Writes a PVALIDATE list at `gpa` (guest-owned).
    pub fn write_list(&mut self, gpa: u64, next: u16, entries: &[PvalidateEntry]) {
        let header = PvalidateHeader { entries: entries.len() as u16, next, reserved: 0 };
        let mut bytes = header.as_bytes().to_vec();
        for e in entries {
            bytes.extend_from_slice(&e.0.to_le_bytes());
        }
        self.guest_write(gpa, &bytes);
    }

    /// Makes `gpa` a guest-owned page holding a VMSA that passes CREATE_VCPU's checks (SVSM spec,
    /// AMD 58019, SVSM_CORE_CREATE_VCPU: VMPL, EFER.SVME, SEV_FEATURES).
    pub fn good_vmsa(&mut self, gpa: u64) {
        self.guest_owned(gpa, 1);
        self.write_vmsa_fields(gpa);
    }

    /// Writes the fields CREATE_VCPU checks into a page the guest already owns.
    pub fn write_vmsa_fields(&mut self, gpa: u64) {
        self.guest_write(gpa + offset_of!(Vmsa, vmpl) as u64, &[GUEST_VMPL]);
        self.guest_write(gpa + offset_of!(Vmsa, efer) as u64, &(EFER_SVME | 0x500).to_le_bytes());
        self.guest_write(gpa + offset_of!(Vmsa, sev_features) as u64, &SEV_FEATURES.to_le_bytes());
    }

    /// The list's `next` as the guest reads it back.
    pub fn list_next(&self, gpa: u64) -> u16 {
        let b = self.guest_read(gpa + 2, 2).unwrap();
        u16::from_le_bytes([b[0], b[1]])
    }
}

/// The guest's RAM as the memory map gives it: everything but Warden's region.
pub fn guest_ram() -> [GpaRange; 2] {
    [GpaRange::new(0, WARDEN_BASE).unwrap(), GpaRange::new(WARDEN_END, RAM_END).unwrap()]
}

/// A dispatcher for the boot vCPU with `BOOT_CAA`, over `ram`.
pub fn dispatcher_with_ram(ram: &[GpaRange]) -> Dispatcher {
    let core = CoreProtocol::new(CoreConfig {
        guest_vmpl: GUEST_VMPL,
        apic_ids: &APIC_IDS,
        boot_apic_id: 0,
        boot_caa: BOOT_CAA,
        ram,
    })
    .unwrap();
    Dispatcher::new(core)
}

/// A dispatcher over [`guest_ram`].
pub fn dispatcher() -> Dispatcher {
    dispatcher_with_ram(&guest_ram())
}

/// The boot vCPU as caller.
pub const BOOT: Caller = Caller { apic_id: 0, sev_features: SEV_FEATURES };

/// Calls core `call` with RCX, RDX, R8.
pub fn core_call<E: SnpMemory + GuestMemory>(
    d: &mut Dispatcher,
    env: &mut E,
    call: u32,
    rcx: u64,
    rdx: u64,
    r8: u64,
) -> Reply {
    let rax = CallId { protocol: PROTOCOL_CORE, call }.to_rax();
    d.handle(env, BOOT, GuestRegs { rax, rcx, rdx, r8, r9: 0 })
}

/// A guest-owned page holding a VMSA that passes the reference's checks.
pub fn good_vmsa(env: &mut SimEnv, gpa: u64) {
    env.good_vmsa(gpa);
}
