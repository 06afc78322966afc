//! The TDX #VE handler's decisions: what a virtualization exception (vector 20) asks for, and its
//! emulation through the VMM, as host-testable code over the [`TdVmcall`] trait.
//!
//! In a TD the TDX module turns the instructions it does not virtualize itself (CPUID leaves outside its
//! table, port I/O, most MSRs, HLT) and EPT violations on pending private pages into #VE in the guest
//! (Intel TDX Module v1.5 Base Architecture Specification (348549), "Virtualization Exception"; Intel SDM
//! vol. 3, "Virtualization Exceptions"). The handler asks the module what happened (TDG.VP.VEINFO.GET: exit reason, exit
//! qualification, GLA, GPA, instruction length), [`decode`]s that into a [`VeAction`], and [`handle`]
//! emulates the instruction with the matching TDG.VP.VMCALL (GHCI for Intel TDX 1.5 (726792) §3:
//! Instruction.CPUID, .IO, .RDMSR, .WRMSR, .HLT), then the caller resumes after the instruction.
//!
//! Unlike SEV-SNP's #VC, nothing is decoded from instruction bytes: the TDX module (trusted) reports the
//! exit reason, the I/O qualification and the length. What the VMM returns is hostile: an IN's data is
//! cut to the access's width, and a refusal (R10 != 0) is an error, never a value.
//!
//! Everything else is fatal ([`VeError`]): an EPT violation means Warden touched a private page it did
//! not accept (it accepts its memory before use, so this is a bug or the VMM removing a page: an
//! attack), and string or REP I/O is never executed by Warden.
use warden_defs::ghcb::exit::{IoDirection, IoWidth};
use warden_defs::tdx::exit_reason;

/// The longest x86 instruction: a longer length from the TDX module is refused.
const MAX_INSTRUCTION_LEN: u32 = 15;
/// I/O exit qualification (Intel SDM vol. 3, Table 28-5): bits 2:0 size - 1, bit 3 direction (1 = IN),
/// bit 4 string instruction, bit 5 REP prefix, bits 31:16 port.
const IO_SIZE_MASK: u64 = 0b111;
const IO_DIRECTION_IN: u64 = 1 << 3;
const IO_STRING: u64 = 1 << 4;
const IO_REP: u64 = 1 << 5;
const IO_PORT_SHIFT: u32 = 16;
const LOW32: u64 = 0xFFFF_FFFF;

/// What TDG.VP.VEINFO.GET returned (Intel TDX Module v1.5 ABI Specification (348551), TDG.VP.VEINFO.GET).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VeInfo {
    /// RCX: the VMX basic exit reason (`warden_defs::tdx::exit_reason`), bits 15:0 significant.
    pub exit_reason: u64,
    /// RDX: the exit qualification.
    pub exit_qualification: u64,
    /// R8: the guest linear address (EPT violation).
    pub gla: u64,
    /// R9: the guest physical address (EPT violation).
    pub gpa: u64,
    /// R10\[31:0\]: the instruction's length.
    pub instruction_length: u32,
}

impl VeInfo {
    /// From TDG.VP.VEINFO.GET's output registers.
    pub const fn from_registers(rcx: u64, rdx: u64, r8: u64, r9: u64, r10: u64) -> Self {
        Self { exit_reason: rcx, exit_qualification: rdx, gla: r8, gpa: r9, instruction_length: r10 as u32 }
    }
}

/// A port access a #VE reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VeIo {
    /// IN or OUT.
    pub direction: IoDirection,
    /// The port.
    pub port: u16,
    /// AL, AX or EAX.
    pub width: IoWidth,
}

/// What the intercepted instruction was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VeAction {
    /// CPUID (leaf EAX, sub-leaf ECX).
    Cpuid,
    /// HLT.
    Hlt,
    /// IN or OUT, not string, not REP.
    Io(VeIo),
    /// RDMSR (ECX).
    Rdmsr,
    /// WRMSR (ECX, EDX:EAX).
    Wrmsr,
}

/// Why a TDG.VP.VMCALL gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmcallError {
    /// The TDX module refused the TDCALL itself (RAX, a `warden_defs::tdx::TdxStatus`).
    Tdcall(u64),
    /// The VMM answered with this TDG.VP.VMCALL status (R10, `warden_defs::tdx::TdvmcallStatus`).
    Refused(u64),
}

/// Why a #VE was not handled: each is fatal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VeError {
    /// An access to a private page that is not accepted: Warden accepts before it touches memory, so
    /// this is a Warden bug or a page the VMM removed (an attack).
    EptViolation {
        /// The page's GPA.
        gpa: u64,
        /// The linear address accessed.
        gla: u64,
    },
    /// An exit reason Warden never causes.
    UnexpectedExit(u64),
    /// String or REP port I/O (never executed by Warden), or a size that is not 1, 2 or 4 bytes.
    UnsupportedIo(u64),
    /// The TDX module reported an instruction length outside 1..=15.
    InstructionLength(u32),
    /// The VMM did not answer the emulating TDG.VP.VMCALL.
    Vmm(VmcallError),
}

impl From<VmcallError> for VeError {
    fn from(error: VmcallError) -> Self {
        VeError::Vmm(error)
    }
}

/// The instruction emulations the #VE handler asks of the VMM, each one TDG.VP.VMCALL (GHCI for Intel
/// TDX 1.5 (726792) §3). The real one issues TDCALLs (`warden-kernel`); `warden-sim`'s models a VMM
/// that can be told to lie.
pub trait TdVmcall {
    /// Instruction.CPUID: EAX, EBX, ECX, EDX.
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> Result<[u32; 4], VmcallError>;
    /// Instruction.HLT.
    fn hlt(&mut self, interrupts_blocked: bool) -> Result<(), VmcallError>;
    /// Instruction.IO, IN: whatever the VMM returns (the caller cuts it to `width`).
    fn io_in(&mut self, port: u16, width: IoWidth) -> Result<u64, VmcallError>;
    /// Instruction.IO, OUT of `value`'s low `width` bits.
    fn io_out(&mut self, port: u16, width: IoWidth, value: u64) -> Result<(), VmcallError>;
    /// Instruction.RDMSR.
    fn rdmsr(&mut self, msr: u32) -> Result<u64, VmcallError>;
    /// Instruction.WRMSR.
    fn wrmsr(&mut self, msr: u32, value: u64) -> Result<(), VmcallError>;
}

/// The general registers the emulations read and write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VeRegisters {
    /// RAX.
    pub rax: u64,
    /// RBX.
    pub rbx: u64,
    /// RCX.
    pub rcx: u64,
    /// RDX.
    pub rdx: u64,
}

/// What the #VE asks for, from the TDX module's report alone.
pub fn decode(info: &VeInfo) -> Result<VeAction, VeError> {
    // Bits 15:0 are the basic exit reason; the rest are flags a #VE does not set for these exits.
    let reason = info.exit_reason;
    let action = match u32::try_from(reason).unwrap_or(u32::MAX) {
        exit_reason::CPUID => VeAction::Cpuid,
        exit_reason::HLT => VeAction::Hlt,
        exit_reason::RDMSR => VeAction::Rdmsr,
        exit_reason::WRMSR => VeAction::Wrmsr,
        exit_reason::IO => VeAction::Io(decode_io(info.exit_qualification)?),
        exit_reason::EPT_VIOLATION => return Err(VeError::EptViolation { gpa: info.gpa, gla: info.gla }),
        _ => return Err(VeError::UnexpectedExit(reason)),
    };
    if !(1..=MAX_INSTRUCTION_LEN).contains(&info.instruction_length) {
        return Err(VeError::InstructionLength(info.instruction_length));
    }
    Ok(action)
}

fn decode_io(qualification: u64) -> Result<VeIo, VeError> {
    if qualification & (IO_STRING | IO_REP) != 0 {
        return Err(VeError::UnsupportedIo(qualification));
    }
    let width = match qualification & IO_SIZE_MASK {
        0 => IoWidth::Byte,
        1 => IoWidth::Word,
        3 => IoWidth::Dword,
        _ => return Err(VeError::UnsupportedIo(qualification)),
    };
    let direction = if qualification & IO_DIRECTION_IN != 0 { IoDirection::In } else { IoDirection::Out };
    Ok(VeIo { direction, port: (qualification >> IO_PORT_SHIFT) as u16, width })
}

/// Emulates the instruction a #VE reported: decodes `info`, asks `vmm`, updates `registers`. Returns
/// how far to advance RIP (the instruction's length). `interrupts_blocked` is RFLAGS.IF clear (HLT's
/// argument to the VMM).
pub fn handle<V: TdVmcall>(
    vmm: &mut V,
    info: &VeInfo,
    registers: &mut VeRegisters,
    interrupts_blocked: bool,
) -> Result<u64, VeError> {
    match decode(info)? {
        VeAction::Cpuid => {
            let [eax, ebx, ecx, edx] = vmm.cpuid(registers.rax as u32, registers.rcx as u32)?;
            // CPUID writes the 32-bit registers, which zero-extends them.
            [registers.rax, registers.rbx, registers.rcx, registers.rdx] =
                [eax, ebx, ecx, edx].map(u64::from);
        }
        VeAction::Hlt => vmm.hlt(interrupts_blocked)?,
        VeAction::Io(VeIo { direction: IoDirection::In, port, width }) => {
            let value = vmm.io_in(port, width)? & width.mask();
            registers.rax = match width {
                // IN EAX writes a 32-bit register: zero-extended.
                IoWidth::Dword => value,
                IoWidth::Byte | IoWidth::Word => (registers.rax & !width.mask()) | value,
            };
        }
        VeAction::Io(VeIo { direction: IoDirection::Out, port, width }) => {
            vmm.io_out(port, width, registers.rax & width.mask())?
        }
        VeAction::Rdmsr => {
            let value = vmm.rdmsr(registers.rcx as u32)?;
            [registers.rax, registers.rdx] = [value & LOW32, value >> 32];
        }
        VeAction::Wrmsr => {
            let value = ((registers.rdx & LOW32) << 32) | (registers.rax & LOW32);
            vmm.wrmsr(registers.rcx as u32, value)?
        }
    }
    Ok(u64::from(info.instruction_length))
}
