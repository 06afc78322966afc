//! Running the L2 VM on the one unicorn vCPU ("Intel TDX Module TD Partitioning Architecture
//! Specification", TDG.VP.ENTER and L2 exits). TDG.VP.ENTER saves the L1's engine context, loads
//! VM 1's (from the L2 VMCS fields on the first entry, the saved L2 context plus the fields written
//! since on later ones), takes the GPRs, RFLAGS and RIP from the L2 guest-state buffer, and narrows
//! the page protections to VM 1's attributes. An L2 exit writes the L2's registers back into the
//! buffer (RIP of the exiting instruction), restores the L1 context and its protections, and hands
//! the L1 the exit in its TDCALL output registers; the L1 resumes after its TDCALL.
//!
//! The VMCS fields reach the engine through [`super::l2_vmcs_state`].
use std::collections::BTreeMap;
use std::mem::size_of;

use unicorn_engine::unicorn_const::Prot;
use unicorn_engine::{Context, RegisterX86, Unicorn};
use zerocopy::{FromBytes, IntoBytes};

use super::l2_attrs;
use super::l2_vmcs_state::{self, APPLY_ORDER};
use super::machine::{GPRS, TdState};
use super::partition::vmcs;
use crate::memory::REGIONS;

const PAGE: u64 = 0x1000;

/// The L2 guest-state buffer TDG.VP.ENTER's RDX names (Warden's definition: one layout for both sides).
pub use warden_defs::tdx_partition::L2GuestState;

/// VMX basic exit reason (SDM vol. 3 Appendix C): triple fault.
pub const EXIT_TRIPLE_FAULT: u32 = 2;
/// VMX basic exit reason: VMCALL.
pub const EXIT_VMCALL: u32 = 18;
/// VMX basic exit reason: TDCALL.
pub const EXIT_TDCALL: u32 = 77;

/// An L2 exit as the L1 receives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct L2Exit {
    /// The VMX basic exit reason.
    pub reason: u32,
    /// The exit qualification.
    pub qualification: u64,
    /// The guest linear address (EPT violations; 0 when not known).
    pub gla: u64,
    /// The guest physical address (EPT violations).
    pub gpa: u64,
    /// The exiting instruction's length.
    pub length: u32,
}

impl L2Exit {
    /// An exit caused by an instruction of `length` bytes.
    pub fn instruction(reason: u32, qualification: u64, length: u32) -> Self {
        Self { reason, qualification, length, ..Self::default() }
    }
}

/// Which VM the vCPU runs, and what a switch needs.
#[derive(Default)]
pub struct L2Vcpu {
    running: bool,
    buffer: u64,
    l1: Option<Context>,
    l2: Option<Context>,
    /// Runs of accepted pages where VM 1 may do less than the L1: (start, end, VM 1's protection).
    /// `None` when memory changed since it was computed.
    overlay: Option<Vec<(u64, u64, Prot)>>,
    /// TDG.VP.ENTERs that entered the L2.
    pub entries: u64,
    /// L2 exits by basic reason.
    pub exits: BTreeMap<u32, u64>,
}

impl std::fmt::Debug for L2Vcpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("L2Vcpu")
            .field("running", &self.running)
            .field("entries", &self.entries)
            .field("exits", &self.exits)
            .finish_non_exhaustive()
    }
}

impl L2Vcpu {
    /// Whether the vCPU runs VM 1 now.
    pub fn running(&self) -> bool {
        self.running
    }

    /// The Secure EPT or VM 1's attributes changed: recompute the L2's protections at the next entry.
    pub fn memory_changed(&mut self) {
        self.overlay = None;
    }

    /// How many runs of pages the last entry narrowed (each one `mem_protect` per switch).
    pub fn protection_runs(&self) -> Option<usize> {
        self.overlay.as_ref().map(Vec::len)
    }

    /// Whether VM 1 entered before (its first entry loads the whole VMCS state).
    pub fn started(&self) -> bool {
        self.l2.is_some() || self.running
    }
}

fn err<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> String {
    move |e| format!("{what}: {e:?}")
}

/// TDG.VP.ENTER after its checks: the L1's registers are final (RIP past its TDCALL).
pub fn enter(uc: &mut Unicorn<'_, TdState>, buffer: u64) -> Result<(), String> {
    let mut bytes = [0u8; size_of::<L2GuestState>()];
    uc.mem_read(buffer, &mut bytes).map_err(err("L2 guest-state buffer"))?;
    let state = L2GuestState::read_from_bytes(&bytes).map_err(|_| "L2 guest-state buffer size")?;
    let mut l1 = uc.context_alloc().map_err(err("context"))?;
    uc.context_save(&mut l1).map_err(err("context save"))?;
    let mut partition = std::mem::take(&mut uc.get_data_mut().module.partition);
    let saved = uc.get_data_mut().l2.l2.take();
    let loaded = match &saved {
        Some(ctx) => uc
            .context_restore(ctx)
            .map_err(err("L2 context restore"))
            .and_then(|()| l2_vmcs_state::apply(uc, &partition, &partition.dirty)),
        None => l2_vmcs_state::check_64bit(&partition)
            .and_then(|()| l2_vmcs_state::apply(uc, &partition, &APPLY_ORDER)),
    };
    partition.dirty.clear();
    uc.get_data_mut().module.partition = partition;
    loaded?;
    for (value, reg) in state.gprs.iter().zip(GPRS) {
        uc.reg_write(reg, *value).map_err(err("L2 GPR"))?;
    }
    uc.reg_write(RegisterX86::RFLAGS, state.rflags | 2).map_err(err("L2 RFLAGS"))?;
    uc.reg_write(RegisterX86::RIP, state.rip).map_err(err("L2 RIP"))?;
    let overlay = match uc.get_data_mut().l2.overlay.take() {
        Some(o) => o,
        None => overlay(uc.get_data()),
    };
    for &(start, end, prot) in &overlay {
        uc.mem_protect(start, end - start, prot).map_err(err("L2 protections"))?;
    }
    flush_tlb(uc)?;
    let l2 = &mut uc.get_data_mut().l2;
    l2.overlay = Some(overlay);
    l2.l1 = Some(l1);
    l2.buffer = buffer;
    l2.running = true;
    l2.entries += 1;
    Ok(())
}

/// The L2 exits with `exit` (RIP at the exiting instruction): back to the L1 after its TDCALL.
pub fn exit(uc: &mut Unicorn<'_, TdState>, exit: L2Exit) -> Result<(), String> {
    let buffer = uc.get_data().l2.buffer;
    let mut bytes = [0u8; size_of::<L2GuestState>()];
    uc.mem_read(buffer, &mut bytes).map_err(err("L2 guest-state buffer"))?;
    let mut state = L2GuestState::read_from_bytes(&bytes).map_err(|_| "L2 guest-state buffer size")?;
    for (value, reg) in state.gprs.iter_mut().zip(GPRS) {
        *value = uc.reg_read(reg).map_err(err("L2 GPR"))?;
    }
    state.rflags = uc.reg_read(RegisterX86::RFLAGS).map_err(err("L2 RFLAGS"))?;
    state.rip = uc.reg_read(RegisterX86::RIP).map_err(err("L2 RIP"))?;
    let cs = uc.reg_read(RegisterX86::CS).map_err(err("L2 CS"))?;
    l2_vmcs_state::note_current_state(uc);
    let cs_base = uc.get_data().module.partition.field(vmcs::BASES[vmcs::CS]);
    let mut l2 = uc.context_alloc().map_err(err("context"))?;
    uc.context_save(&mut l2).map_err(err("context save"))?;
    let Some(l1) = uc.get_data_mut().l2.l1.take() else {
        return Err("an L2 exit with no L1 to return to".into());
    };
    uc.context_restore(&l1).map_err(err("L1 context restore"))?;
    let overlay = uc.get_data_mut().l2.overlay.take().unwrap_or_default();
    for &(start, end, _) in &overlay {
        // Every overlay page is accepted, which the L1 may use fully.
        uc.mem_protect(start, end - start, Prot::ALL).map_err(err("L1 protections"))?;
    }
    flush_tlb(uc)?;
    uc.mem_write(buffer, state.as_bytes()).map_err(err("L2 guest-state buffer"))?;
    let outputs = [
        (RegisterX86::RAX, u64::from(exit.reason)),
        (RegisterX86::RBX, 0),
        (RegisterX86::RCX, exit.qualification),
        (RegisterX86::RDX, exit.gla),
        (RegisterX86::RSI, cs & 0xFFFF),
        (RegisterX86::RDI, cs_base),
        (RegisterX86::R8, exit.gpa),
        (RegisterX86::R9, 0),
        (RegisterX86::R10, 0),
        (RegisterX86::R11, (u64::from(exit.length) << 32)),
        (RegisterX86::R12, 0),
        (RegisterX86::R13, 0),
        (RegisterX86::R14, 0),
        (RegisterX86::R15, 0),
    ];
    for (reg, value) in outputs {
        uc.reg_write(reg, value).map_err(err("L1 output"))?;
    }
    let l2_state = &mut uc.get_data_mut().l2;
    l2_state.overlay = Some(overlay);
    l2_state.l2 = Some(l2);
    l2_state.running = false;
    *l2_state.exits.entry(exit.reason).or_default() += 1;
    Ok(())
}

/// A CR3 write flushes the emulated TLB, whose entries carry the previous protections.
fn flush_tlb(uc: &mut Unicorn<'_, TdState>) -> Result<(), String> {
    let cr3 = uc.reg_read(RegisterX86::CR3).map_err(err("CR3"))?;
    uc.reg_write(RegisterX86::CR3, cr3).map_err(err("CR3"))
}

/// The accepted pages VM 1 may use less than fully, as runs of equal protection.
fn overlay(state: &TdState) -> Vec<(u64, u64, Prot)> {
    let module = &state.module;
    let mut runs: Vec<(u64, u64, Prot)> = Vec::new();
    for (start, end) in REGIONS {
        for page in (start..end).step_by(PAGE as usize) {
            if !module.accepted(page) {
                continue;
            }
            let prot = l2_attrs::prot(module.l2_attrs.get(page));
            if prot.0 == Prot::ALL.0 {
                continue;
            }
            match runs.last_mut() {
                Some((_, run_end, p)) if *run_end == page && p.0 == prot.0 => *run_end += PAGE,
                _ => runs.push((page, page + PAGE, prot)),
            }
        }
    }
    runs
}
