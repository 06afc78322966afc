//! The simulated VMM behind a TD's TDG.VP.VMCALL instruction emulations (**insecure: test only**):
//! Instruction.CPUID, .IO, .RDMSR, .WRMSR and .HLT as `warden_platform::tdx_ve::TdVmcall`, with a
//! CPUID table, MSRs and ports it remembers, and a [`VmmBehavior`] that can be told to lie.
use std::collections::BTreeMap;

use warden_defs::ghcb::exit::IoWidth;
use warden_defs::tdx::TdvmcallStatus;
use warden_defs::tdx::exit_reason;
use warden_platform::tdx_ve::{TdVmcall, VeInfo, VmcallError};

use crate::Fault;

/// How the simulated VMM answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmmBehavior {
    /// Answers as asked.
    Honest,
    /// Refuses every call with TDG.VP.VMCALL_INVALID_OPERAND.
    Refuse,
    /// Answers every IN with all 64 bits set, whatever the access's width.
    WideIn,
}

/// One emulated access, as the VMM saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmmEvent {
    /// An OUT of `value` to `port`.
    Out {
        /// The port.
        port: u16,
        /// The data.
        value: u64,
    },
    /// A WRMSR.
    Wrmsr {
        /// The MSR.
        msr: u32,
        /// The value.
        value: u64,
    },
    /// A HLT.
    Hlt {
        /// Interrupts were blocked.
        interrupts_blocked: bool,
    },
}

/// A VMM's view of a TD's emulated instructions.
#[derive(Debug)]
pub struct SimVmm {
    /// How it answers.
    pub behavior: VmmBehavior,
    /// CPUID answers by (leaf, sub-leaf); others are zeros.
    pub cpuid: BTreeMap<(u32, u32), [u32; 4]>,
    /// MSR values; a read of another MSR is refused.
    pub msrs: BTreeMap<u32, u64>,
    /// Port values an IN returns; other ports read all ones (a floating bus).
    pub ports: BTreeMap<u16, u64>,
    /// Every OUT, WRMSR and HLT, in order.
    pub events: Vec<VmmEvent>,
}

impl SimVmm {
    /// An honest VMM with nothing configured.
    pub fn new() -> Self {
        Self {
            behavior: VmmBehavior::Honest,
            cpuid: BTreeMap::new(),
            msrs: BTreeMap::new(),
            ports: BTreeMap::new(),
            events: Vec::new(),
        }
    }

    fn answer(&self) -> Result<(), VmcallError> {
        match self.behavior {
            VmmBehavior::Refuse => Err(VmcallError::Refused(TdvmcallStatus::INVALID_OPERAND.0)),
            VmmBehavior::Honest | VmmBehavior::WideIn => Ok(()),
        }
    }
}

impl Default for SimVmm {
    fn default() -> Self {
        Self::new()
    }
}

impl TdVmcall for SimVmm {
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<[u32; 4], VmcallError> {
        self.answer()?;
        Ok(self.cpuid.get(&(leaf, subleaf)).copied().unwrap_or_default())
    }

    fn hlt(&mut self, interrupts_blocked: bool) -> Result<(), VmcallError> {
        self.answer()?;
        self.events.push(VmmEvent::Hlt { interrupts_blocked });
        Ok(())
    }

    fn io_in(&mut self, port: u16, width: IoWidth) -> Result<u64, VmcallError> {
        self.answer()?;
        if self.behavior == VmmBehavior::WideIn {
            return Ok(u64::MAX);
        }
        Ok(self.ports.get(&port).copied().unwrap_or(u64::MAX) & width.mask())
    }

    fn io_out(&mut self, port: u16, width: IoWidth, value: u64) -> Result<(), VmcallError> {
        self.answer()?;
        self.events.push(VmmEvent::Out { port, value: value & width.mask() });
        Ok(())
    }

    fn rdmsr(&mut self, msr: u32) -> Result<u64, VmcallError> {
        self.answer()?;
        self.msrs.get(&msr).copied().ok_or(VmcallError::Refused(TdvmcallStatus::INVALID_OPERAND.0))
    }

    fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmcallError> {
        self.answer()?;
        self.msrs.insert(msr, value);
        self.events.push(VmmEvent::Wrmsr { msr, value });
        Ok(())
    }
}

/// The #VE the TDX module raises for `fault` (an access to a pending private page at the linear
/// address `gla`, identity-mapped in Warden): an EPT violation with the page's GPA. `None` for faults
/// that are no #VE (SNP faults, or addresses outside the TD).
pub fn ve_for_fault(fault: Fault, gla: u64) -> Option<VeInfo> {
    match fault {
        Fault::NotAccepted { gpa } => Some(VeInfo {
            exit_reason: u64::from(exit_reason::EPT_VIOLATION),
            exit_qualification: 0,
            gla,
            gpa,
            instruction_length: 0,
        }),
        _ => None,
    }
}
