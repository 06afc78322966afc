//! The VMM side of TDG.VP.VMCALL: the GHCI sub-functions a TD's firmware uses ("GHCI for Intel TDX
//! 1.5" (726792) §3: R10 = 0 for the GHCI-standard calls, R11 = the sub-function, arguments in
//! R12-R15, the VMM's status back in R10 and its output in R11). The VMM sees only the registers the
//! guest exposed in RCX and writes only those back (the TDX module enforces it; [`serve`]). Its
//! devices are the SNP machine's: the console and the nonce port through the same [`Hypervisor`].
use std::collections::BTreeMap;

use warden_defs::tdx::{TDVMCALL_MAP_GPA, TdvmcallStatus};
use warden_platform::memory::{GpaRange, MapGpaError, MapGpaOutcome, TdxMemory};

use super::module::{Gprs, TdxModule};
use crate::cpuid_model::CpuidModel;
use crate::hypervisor::Hypervisor;

/// GHCI sub-function Instruction.CPUID (the VMX exit reason).
pub const VMCALL_CPUID: u64 = 10;
/// GHCI sub-function Instruction.IO.
pub const VMCALL_IO: u64 = 30;
/// GHCI sub-function Instruction.RDMSR.
pub const VMCALL_RDMSR: u64 = 31;
/// GHCI sub-function Instruction.WRMSR.
pub const VMCALL_WRMSR: u64 = 32;
/// GHCI sub-function Instruction.HLT.
pub const VMCALL_HLT: u64 = 12;
/// GHCI sub-function ReportFatalError.
pub const VMCALL_REPORT_FATAL_ERROR: u64 = 0x10003;

/// ReportFatalError's R12\[31:0\] when Warden's test image ends with its tests passed: the byte its
/// native platform writes to `isa-debug-exit` for TestsPassed (the machine's success, as the SNP
/// machine's is termination reason set 0xF code 0).
pub const WARDEN_TESTS_PASSED: u64 = 0x10;

const R10: usize = 10;
const R11: usize = 11;
const R12: usize = 12;
const R13: usize = 13;
const R14: usize = 14;
const R15: usize = 15;

/// What the machine must do after the VMM answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmmOutcome {
    /// Resume the TD.
    Resume,
    /// MapGPA was asked for [start, end): the machine re-reads the Secure EPT there.
    Mapped(u64, u64),
    /// ReportFatalError with this error code (R12): the VMM ends the TD.
    Fatal(u64),
    /// Instruction.HLT: the vCPU waits for an interrupt this machine never sends.
    Halted,
}

/// The VMM.
#[derive(Debug)]
pub struct Vmm {
    /// Consoles, the nonce port, the ready line.
    pub hv: Hypervisor,
    /// CPUID answers for the leaves the TDX module sends to the VMM.
    pub cpuid: CpuidModel,
    /// MSRs the VMM emulates (written with WRMSR, read back with RDMSR).
    pub msrs: BTreeMap<u32, u64>,
    /// GHCI calls served, by sub-function.
    pub calls: BTreeMap<u64, u64>,
    /// COM1's scratch register (16550 offset 7): a byte the UART keeps and returns.
    scratch: u8,
}

/// COM1's scratch register.
const COM1_SCRATCH: u16 = crate::serial::COM1 + 7;

impl Vmm {
    /// An honest VMM around `hv`.
    pub fn new(hv: Hypervisor) -> Self {
        Self { hv, cpuid: CpuidModel::probe(), msrs: BTreeMap::new(), calls: BTreeMap::new(), scratch: 0 }
    }

    /// Serves the TDG.VP.VMCALL in `regs` with `exposed` (the RCX bitmap): the VMM works on a copy
    /// holding only the exposed registers, and only those are written back.
    pub fn serve(&mut self, module: &mut TdxModule, regs: &mut Gprs, exposed: u64) -> VmmOutcome {
        let mut seen: Gprs = [0; 16];
        for (i, v) in seen.iter_mut().enumerate() {
            if exposed & (1 << i) != 0 {
                *v = regs[i];
            }
        }
        let outcome = self.ghci(module, &mut seen);
        for (i, v) in seen.iter().enumerate() {
            if exposed & (1 << i) != 0 {
                regs[i] = *v;
            }
        }
        outcome
    }

    fn ghci(&mut self, module: &mut TdxModule, r: &mut Gprs) -> VmmOutcome {
        let invalid = TdvmcallStatus::INVALID_OPERAND.0;
        if r[R10] != 0 {
            // A vendor-specific call: this VMM has none.
            r[R10] = invalid;
            return VmmOutcome::Resume;
        }
        let sub = r[R11];
        *self.calls.entry(sub).or_default() += 1;
        r[R10] = 0;
        match sub {
            VMCALL_IO => {
                let (size, write, port) = (r[R12], r[R13] == 1, r[R14] as u16);
                if !matches!(size, 1 | 2 | 4) || r[R13] > 1 || r[R14] > 0xFFFF {
                    r[R10] = invalid;
                    return VmmOutcome::Resume;
                }
                if port == COM1_SCRATCH && size == 1 {
                    if write {
                        self.scratch = r[R15] as u8;
                    } else {
                        r[R11] = self.scratch.into();
                    }
                } else if write {
                    for i in 0..size {
                        self.hv.port_out(0, port, (r[R15] >> (8 * i)) as u8);
                    }
                } else {
                    r[R11] =
                        (0..size).fold(0, |acc, i| acc | (self.hv.port_in(0, port, 1) & 0xFF) << (8 * i));
                }
            }
            VMCALL_CPUID => {
                let [a, b, c, d] = match r[R12] as u32 {
                    // The VMM of a TD advertises no AMD memory encryption.
                    0x8000_001F => [0; 4],
                    leaf => self.cpuid.lookup(leaf, r[R13] as u32),
                };
                (r[R12], r[R13], r[R14], r[R15]) = (a.into(), b.into(), c.into(), d.into());
            }
            VMCALL_RDMSR => match self.msrs.get(&(r[R12] as u32)) {
                Some(&v) => r[R11] = v,
                None => r[R10] = invalid,
            },
            VMCALL_WRMSR => {
                self.msrs.insert(r[R12] as u32, r[R13]);
            }
            VMCALL_REPORT_FATAL_ERROR => return VmmOutcome::Fatal(r[R12]),
            VMCALL_HLT => return VmmOutcome::Halted,
            TDVMCALL_MAP_GPA => return self.map_gpa(module, r),
            _ => r[R10] = invalid,
        }
        VmmOutcome::Resume
    }

    /// MapGPA: R12 = the start (with the shared bit: convert to shared), R13 = the length.
    fn map_gpa(&mut self, module: &mut TdxModule, r: &mut Gprs) -> VmmOutcome {
        let shared_bit = module.shared_bit();
        let shared = r[R12] & shared_bit != 0;
        let start = r[R12] & !shared_bit;
        let Some(range) = GpaRange::new(start, start.saturating_add(r[R13])) else {
            r[R10] = TdvmcallStatus::INVALID_OPERAND.0;
            return VmmOutcome::Resume;
        };
        if !start.is_multiple_of(4096) || !r[R13].is_multiple_of(4096) {
            r[R10] = TdvmcallStatus::ALIGN_ERROR.0;
            return VmmOutcome::Resume;
        }
        // SAFETY: SimTdx's implementation only updates its model; the machine follows it in memory.
        let result = unsafe { module.sept.map_gpa(range, shared) };
        match result {
            Ok(MapGpaOutcome::Done) => {}
            Ok(MapGpaOutcome::Retry { resume_at }) => {
                r[R10] = TdvmcallStatus::RETRY.0;
                r[R11] = resume_at | if shared { shared_bit } else { 0 };
            }
            Err(e) => {
                r[R10] = match e {
                    MapGpaError::AlignError => TdvmcallStatus::ALIGN_ERROR.0,
                    MapGpaError::GpaInUse => TdvmcallStatus::GPA_INUSE.0,
                    _ => TdvmcallStatus::INVALID_OPERAND.0,
                };
                return VmmOutcome::Resume;
            }
        }
        // The machine follows the Secure EPT over the whole range, whatever the VMM claims it did.
        VmmOutcome::Mapped(range.start(), range.end())
    }
}
