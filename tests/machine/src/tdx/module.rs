//! The TDX module model: what TDCALL (`66 0F 01 CC`, leaf in RAX, completion status back in RAX) does
//! for the leaves a TD's L1 uses ("Intel TDX Module v1.5 ABI Specification" (348551), TDCALL leaves:
//! 0 TDG.VP.VMCALL, 1 TDG.VP.INFO, 2 TDG.MR.RTMR.EXTEND, 3 TDG.VP.VEINFO.GET, 4 TDG.MR.REPORT,
//! 6 TDG.MEM.PAGE.ACCEPT) and, for TD partitioning with one L2 VM, 7 TDG.VM.RD, 9 TDG.VP.RD,
//! 10 TDG.VP.WR ([`super::partition`]), 23/24 TDG.MEM.PAGE.ATTR.RD/WR ([`super::l2_attrs`]) and
//! 25 TDG.VP.ENTER (checked here, run by the machine: [`super::l2_run`]). The Secure EPT (accepted, pending, shared; PAGE_ALREADY_ACCEPTED and
//! PAGE_SIZE_MISMATCH) is warden-sim's `SimTdx`, as the SNP machine's RMP is warden-sim's `SimSnp`.
//! Unknown leaves answer TDX_OPERAND_INVALID. TDG.VP.VMCALL is not served here: [`Tdcall::Vmcall`]
//! hands it to the VMM model ([`super::vmm`]) with only the registers the guest exposed.
use warden_defs::tdx::{TDG_MEM_PAGE_ACCEPT, TDG_VP_VMCALL, TdxStatus};
use warden_defs::tdx_report::{
    TD_MEASUREMENT_SIZE, TD_REPORT_DATA_SIZE, TDG_MR_REPORT, TDG_MR_RTMR_EXTEND, TDREPORT_SIZE,
};
use warden_platform::memory::{GpaRange, TdxAcceptError, TdxLevel, TdxMemory};
use warden_sim::PageState;
use warden_sim::tdx::SimTdx;
use zerocopy::IntoBytes;

use super::l2_attrs::L2Attrs;
use super::partition::{
    Partition, TDG_MEM_PAGE_ATTR_RD, TDG_MEM_PAGE_ATTR_WR, TDG_VM_RD, TDG_VP_ENTER, TDG_VP_RD, TDG_VP_WR,
};
use super::report::TdMeasurements;
use super::ve::VeInfo;

/// TDCALL leaf TDG.VP.INFO.
pub const TDG_VP_INFO: u64 = 1;
/// TDCALL leaf TDG.VP.VEINFO.GET.
pub const TDG_VP_VEINFO_GET: u64 = 3;
/// TDX_NO_VE_INFO: TDG.VP.VEINFO.GET with no #VE information pending.
pub const TDX_NO_VE_INFO: u64 = 0xC000_0700_0000_0000;
/// The guest-physical address width the model's TD runs with (the shared bit is bit 47).
pub const GPAW: u64 = 48;
/// TD ATTRIBUTES: SEPT_VE_DISABLE (bit 28) clear, so a pending page raises #VE; DEBUG clear.
pub const ATTRIBUTES: u64 = 0;
/// XFAM: x87, SSE, AVX (what the emulated CPU has).
pub const XFAM: u64 = 0b111;

/// The registers in the order TDG.VP.VMCALL's RCX bitmap names them: RAX, RCX, RDX, RBX, RSP, RBP,
/// RSI, RDI, R8..R15.
pub type Gprs = [u64; 16];
/// Indexes into [`Gprs`].
pub mod reg {
    /// RAX.
    pub const RAX: usize = 0;
    /// RCX.
    pub const RCX: usize = 1;
    /// RDX.
    pub const RDX: usize = 2;
    /// R8.
    pub const R8: usize = 8;
    /// R9.
    pub const R9: usize = 9;
    /// R10.
    pub const R10: usize = 10;
    /// R11.
    pub const R11: usize = 11;
}

/// The guest's private memory as the TDX module reaches it (by GPA, shared bit clear).
pub trait TdMemory {
    /// Reads `buf.len()` bytes at `gpa`; false if they are not guest RAM.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool;
    /// Writes `buf` at `gpa`; false if they are not guest RAM.
    fn write(&mut self, gpa: u64, buf: &[u8]) -> bool;
}

/// What a TDCALL did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tdcall {
    /// Done: the registers hold the leaf's outputs.
    Done,
    /// Accepted pages: the machine must make [start, end) usable.
    Accepted(u64, u64),
    /// TDG.VP.VMCALL: the VMM must serve it; the argument is the RCX bitmap of exposed registers.
    Vmcall(u64),
    /// TDG.MEM.PAGE.ATTR.WR changed VM 1's attributes: the L2's page protections must follow.
    L2AttrsChanged,
    /// TDG.VP.ENTER passed its checks: the machine runs VM 1 from the guest-state buffer at this GPA.
    EnterL2(u64),
}

/// Counts of what reached the model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModuleCounters {
    /// TDCALLs of any leaf.
    pub tdcalls: u64,
    /// TDG.VP.VMCALLs.
    pub vmcalls: u64,
    /// #VEs raised.
    pub ves: u64,
}

/// The TDX module and the TD it runs.
#[derive(Debug)]
pub struct TdxModule {
    /// The Secure EPT and the VMM's MapGPA behaviour (warden-sim).
    pub sept: SimTdx,
    /// MRTD, RTMRs, ATTRIBUTES, XFAM.
    pub measurements: TdMeasurements,
    /// The pending #VE's information (VE_INFO.VALID set), until TDG.VP.VEINFO.GET reads it.
    pub ve: Option<VeInfo>,
    /// What reached the model.
    pub counters: ModuleCounters,
    /// The TD's private RAM.
    ram: Vec<GpaRange>,
    /// VM 1's vCPU metadata (L2 VMCS fields, L2_CTLS).
    pub partition: Partition,
    /// VM 1's page attributes.
    pub l2_attrs: L2Attrs,
}

fn status(s: TdxStatus) -> u64 {
    s.0
}

/// Whether `gpa` is the TD's private RAM (shared bit clear), accepted or not.
fn private_ram(ram: &[GpaRange], shared_bit: u64, gpa: u64) -> bool {
    gpa & shared_bit == 0 && ram.iter().any(|r| r.start() <= gpa && gpa < r.end())
}

/// Sets RAX from a leaf's result: 0 when the outputs were written, else the failure status.
fn answer(r: &mut Gprs, result: Result<(), u64>) {
    r[reg::RAX] = result.err().unwrap_or(0);
}

impl TdxModule {
    /// The module after TDH.MR.FINALIZE of a TD with private RAM `ram`, `added` pages (accepted) and
    /// build measurement `mrtd`.
    pub fn new(ram: &[GpaRange], added: impl IntoIterator<Item = u64>, mrtd: [u8; 48]) -> Self {
        let mut sept = SimTdx::new(ram);
        for gpa in added {
            if let Some(r) = GpaRange::new(gpa, gpa + 0x1000) {
                sept.preaccept(r);
            }
        }
        Self {
            sept,
            measurements: TdMeasurements { attributes: ATTRIBUTES, xfam: XFAM, mrtd, rtmr: [[0; 48]; 4] },
            ve: None,
            counters: ModuleCounters::default(),
            ram: ram.to_vec(),
            partition: Partition::default(),
            l2_attrs: L2Attrs::default(),
        }
    }

    /// The shared bit.
    pub fn shared_bit(&self) -> u64 {
        1 << (GPAW - 1)
    }

    /// Whether the page at `gpa` is private and accepted.
    pub fn accepted(&self, gpa: u64) -> bool {
        gpa & self.shared_bit() == 0 && self.sept.page_state(gpa) == PageState::Accepted
    }

    /// Whether [gpa, gpa + len) is private and accepted.
    fn accepted_range(&self, gpa: u64, len: u64) -> bool {
        let end = gpa.saturating_add(len);
        (gpa & !0xFFF..end).step_by(0x1000).all(|p| self.accepted(p))
    }

    /// Executes the TDCALL whose leaf is in `r[RAX]`.
    pub fn tdcall(&mut self, r: &mut Gprs, mem: &mut dyn TdMemory) -> Tdcall {
        use reg::{R8, R9, R10, R11, RAX, RCX, RDX};
        self.counters.tdcalls += 1;
        let leaf = r[RAX];
        let invalid = status(TdxStatus::OPERAND_INVALID);
        match leaf {
            TDG_VP_VMCALL => {
                self.counters.vmcalls += 1;
                let exposed = r[RCX];
                // RAX, RCX and RSP are never exposed; bits past R15 are reserved.
                if exposed & 0b10011 != 0 || exposed >> 16 != 0 {
                    r[RAX] = invalid;
                    return Tdcall::Done;
                }
                r[RAX] = 0;
                return Tdcall::Vmcall(exposed);
            }
            TDG_VP_INFO => {
                r[RAX] = 0;
                r[RCX] = GPAW;
                r[RDX] = self.measurements.attributes;
                r[R8] = 1 | (1 << 32); // NUM_VCPUS, MAX_VCPUS
                r[R9] = 0; // VCPU_INDEX
                r[R10] = 0;
                r[R11] = 0;
            }
            TDG_MR_RTMR_EXTEND => {
                let (gpa, index) = (r[RCX], r[RDX]);
                let mut digest = [0u8; TD_MEASUREMENT_SIZE];
                if gpa % 64 != 0 || index > 3 || !self.accepted_range(gpa, 48) || !mem.read(gpa, &mut digest)
                {
                    r[RAX] = invalid;
                } else {
                    self.measurements.extend(index as usize, &digest);
                    r[RAX] = 0;
                }
            }
            TDG_VP_VEINFO_GET => match self.ve.take() {
                None => r[RAX] = TDX_NO_VE_INFO,
                Some(ve) => {
                    r[RAX] = 0;
                    r[RCX] = u64::from(ve.exit_reason);
                    r[RDX] = ve.exit_qualification;
                    r[R8] = ve.gla;
                    r[R9] = ve.gpa;
                    r[R10] = u64::from(ve.instruction_length) | (u64::from(ve.instruction_info) << 32);
                }
            },
            TDG_MR_REPORT => {
                let (out, data_gpa, subtype) = (r[RCX], r[RDX], r[R8]);
                let mut data = [0u8; TD_REPORT_DATA_SIZE];
                let ok = out % TDREPORT_SIZE as u64 == 0
                    && data_gpa % 64 == 0
                    && subtype == 0
                    && self.accepted_range(out, TDREPORT_SIZE as u64)
                    && self.accepted_range(data_gpa, 64)
                    && mem.read(data_gpa, &mut data);
                if !ok {
                    r[RAX] = invalid;
                } else {
                    let report = self.measurements.report(&data);
                    r[RAX] = if mem.write(out, report.as_bytes()) { 0 } else { invalid };
                }
            }
            TDG_MEM_PAGE_ACCEPT => return self.accept(r, mem),
            TDG_VM_RD => {
                let out = self.partition.vm_rd(r[RDX]).map(|v| r[R8] = v);
                answer(r, out);
            }
            TDG_VP_RD => {
                let out = self.partition.vp_rd(r[RDX]).map(|v| r[R8] = v);
                answer(r, out);
            }
            TDG_VP_WR => {
                let out = self.partition.vp_wr(r[RDX], r[R8], r[R9]).map(|old| r[R8] = old);
                answer(r, out);
            }
            TDG_MEM_PAGE_ATTR_RD => {
                let (ram, shared) = (&self.ram, self.shared_bit());
                let out = self.l2_attrs.read(r[RCX], |gpa| private_ram(ram, shared, gpa));
                let out = out.map(|(rcx, rdx)| (r[RCX], r[RDX]) = (rcx, rdx));
                answer(r, out);
            }
            TDG_MEM_PAGE_ATTR_WR => {
                let (ram, shared) = (&self.ram, self.shared_bit());
                let out = self.l2_attrs.write(r[RCX], r[RDX], r[R8], |gpa| private_ram(ram, shared, gpa));
                let out = out.map(|(rcx, rdx)| (r[RCX], r[RDX]) = (rcx, rdx));
                let written = out.is_ok();
                answer(r, out);
                if written {
                    return Tdcall::L2AttrsChanged;
                }
            }
            TDG_VP_ENTER => match self.partition.vp_enter_checks(r[RCX], r[RDX], |gpa| self.accepted(gpa)) {
                Ok(buffer) => return Tdcall::EnterL2(buffer),
                Err(status) => r[RAX] = status,
            },
            _ => r[RAX] = invalid,
        }
        Tdcall::Done
    }

    /// TDG.MEM.PAGE.ACCEPT: RCX = GPA | level (bits 2:0), bits 11:3 reserved.
    fn accept(&mut self, r: &mut Gprs, mem: &mut dyn TdMemory) -> Tdcall {
        let rcx = r[reg::RCX];
        let level = match rcx & 7 {
            0 => TdxLevel::Size4K,
            1 => TdxLevel::Size2M,
            2 => TdxLevel::Size1G,
            _ => {
                r[reg::RAX] = status(TdxStatus::OPERAND_INVALID);
                return Tdcall::Done;
            }
        };
        let gpa = rcx & !0xFFF;
        if rcx & 0xFF8 != 0 || gpa & self.shared_bit() != 0 || gpa >> GPAW != 0 {
            r[reg::RAX] = status(TdxStatus::OPERAND_INVALID);
            return Tdcall::Done;
        }
        // SAFETY: SimTdx's implementation only updates its model; the machine zeroes the guest's bytes.
        let result = unsafe { self.sept.accept(gpa, level) };
        r[reg::RAX] = status(match result {
            Ok(()) => {
                // The TDX module zeroes a page it accepts (in 2 MiB pieces: a 1 GiB page is large).
                let zeros = vec![0u8; level.bytes().min(0x20_0000) as usize];
                let end = gpa + level.bytes();
                if !(gpa..end).step_by(zeros.len()).all(|at| mem.write(at, &zeros)) {
                    return Tdcall::Done;
                }
                r[reg::RAX] = 0;
                return Tdcall::Accepted(gpa, gpa + level.bytes());
            }
            Err(TdxAcceptError::AlreadyAccepted) => TdxStatus::PAGE_ALREADY_ACCEPTED,
            Err(TdxAcceptError::SizeMismatch) => TdxStatus::PAGE_SIZE_MISMATCH,
            Err(TdxAcceptError::OperandBusy) => TdxStatus::OPERAND_BUSY,
            Err(_) => TdxStatus::OPERAND_INVALID,
        });
        Tdcall::Done
    }
}
