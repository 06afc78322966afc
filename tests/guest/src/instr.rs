//! The few instructions the guest executes that Rust cannot express: MSR access, VMGEXIT (SEV-SNP),
//! VMCALL, TDCALL and port I/O (TDX, where each one is an L2 exit Warden serves), control register
//! reads, HLT and PAUSE. Everything else in the guest is plain memory access.
use core::arch::asm;

/// The GHCB MSR (GHCB spec (AMD 56421) §2.3.1): the GHCB's GPA, or an MSR-protocol request.
pub use warden_defs::ghcb::msr::GHCB_MSR;
/// SEV_STATUS (AMD64 APM vol. 2 §15.34.10): read-only, answered by the CPU, never the hypervisor.
pub const SEV_STATUS_MSR: u32 = 0xC001_0131;

/// RDMSR.
pub fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: reads one of the two MSRs above (the only ones the guest names), which exist on every
    // SEV-SNP vCPU and have no side effects on read.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nostack, nomem)) };
    (u64::from(high) << 32) | u64::from(low)
}

/// WRMSR of the GHCB MSR (the only MSR the guest writes).
pub fn write_ghcb_msr(value: u64) {
    // SAFETY: the GHCB MSR only holds a value for the next VMGEXIT; writing it changes no memory.
    unsafe {
        asm!(
            "wrmsr",
            in("ecx") GHCB_MSR, in("eax") value as u32, in("edx") (value >> 32) as u32,
            options(nostack, nomem),
        )
    };
}

/// VMGEXIT (`rep vmmcall`, F3 0F 01 D9; AMD64 APM vol. 3, VMGEXIT): hands the vCPU to the hypervisor,
/// which reads the GHCB MSR (and the GHCB page it names). Not `nomem`: the hypervisor reads and writes
/// the shared page, and Warden the calling area, while the guest is out.
pub fn vmgexit() {
    // SAFETY: the hypervisor returns to the next instruction with every register preserved; the memory
    // it may change is shared (GHCB) or read afterwards through volatile or atomic accesses.
    unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xd9", options(nostack)) };
}

/// The SVSM call's VMGEXIT: the call's registers in, Warden's results out (SVSM spec (AMD 58019),
/// "SVSM calling convention": RAX = protocol << 32 | call, RCX, RDX, R8, R9; results in RAX, RCX, RDX,
/// R8). The GHCB MSR holds the RUN_VMPL request and `call_pending` is set before this runs.
pub fn vmgexit_call(rax: u64, rcx: u64, rdx: u64, r8: u64, r9: u64) -> [u64; 4] {
    let (a, c, d, r);
    // SAFETY: as `vmgexit`; Warden changes only the registers named as outputs, through the VMSA.
    unsafe {
        asm!(
            ".byte 0xf3, 0x0f, 0x01, 0xd9",
            inout("rax") rax => a, inout("rcx") rcx => c, inout("rdx") rdx => d, inout("r8") r8 => r,
            in("r9") r9,
            options(nostack),
        )
    };
    [a, c, d, r]
}

/// The SVSM call's VMCALL on TDX (0F 01 C1; Intel SDM vol. 2, VMCALL): an L2 exit (basic reason 18)
/// the TDX module carries to Warden, the L1, which answers in RAX, RCX, RDX and R8, advances RIP past
/// the instruction and leaves every other register as it was (Warden's TDX launch contract, the SVSM
/// calling convention's registers).
pub fn vmcall_svsm(rax: u64, rcx: u64, rdx: u64, r8: u64, r9: u64) -> [u64; 4] {
    let (a, c, d, r);
    // SAFETY: the L1 changes only the registers named as outputs and no memory the guest did not hand
    // it in the call's arguments (read afterwards through volatile copies).
    unsafe {
        asm!(
            ".byte 0x0f, 0x01, 0xc1",
            inout("rax") rax => a, inout("rcx") rcx => c, inout("rdx") rdx => d, inout("r8") r8 => r,
            in("r9") r9,
            options(nostack),
        )
    };
    [a, c, d, r]
}

/// TDCALL (66 0F 01 CC; Intel TDX Module v1.5 ABI Specification (348551)) with leaf `rax` and RCX,
/// RDX, R8; answers RAX, the status. From an L2 with TDVMCALL disabled it is an L2 exit (basic reason
/// 77) that the L1 answers instead of the TDX module.
pub fn tdcall(rax: u64, rcx: u64, rdx: u64, r8: u64) -> u64 {
    let status;
    // SAFETY: a TDCALL the guest makes only to see it refused; whoever answers may write the registers
    // of the TDCALL ABI's outputs (declared clobbered) and the buffers named in RCX/RDX, which are the
    // caller's own free pages.
    unsafe {
        asm!(
            ".byte 0x66, 0x0f, 0x01, 0xcc",
            inout("rax") rax => status, inout("rcx") rcx => _, inout("rdx") rdx => _, inout("r8") r8 => _,
            lateout("r9") _, lateout("r10") _, lateout("r11") _,
            options(nostack),
        )
    };
    status
}

/// OUT of one byte (on TDX an L2 I/O exit Warden forwards or drops).
pub fn out_byte(port: u16, byte: u8) {
    // SAFETY: port I/O touches no memory; on TDX it exits to Warden, which decides what it does.
    unsafe { asm!("out dx, al", in("dx") port, in("al") byte, options(nostack, nomem)) };
}

/// IN of one byte (on TDX an L2 I/O exit Warden forwards, or answers with all ones).
pub fn in_byte(port: u16) -> u8 {
    let byte;
    // SAFETY: as `out_byte`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") byte, options(nostack, nomem)) };
    byte
}

/// CR0.
pub fn cr0() -> u64 {
    let value;
    // SAFETY: reading a control register changes nothing.
    unsafe { asm!("mov {}, cr0", out(reg) value, options(nostack, nomem)) };
    value
}

/// CR3.
pub fn cr3() -> u64 {
    let value;
    // SAFETY: reading a control register changes nothing.
    unsafe { asm!("mov {}, cr3", out(reg) value, options(nostack, nomem)) };
    value
}

/// CR4.
pub fn cr4() -> u64 {
    let value;
    // SAFETY: reading a control register changes nothing.
    unsafe { asm!("mov {}, cr4", out(reg) value, options(nostack, nomem)) };
    value
}

/// PAUSE, in a spin-wait.
pub fn pause() {
    core::hint::spin_loop();
}

/// HLT forever, with interrupts off: the machine sees a halted vCPU.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: HLT only stops the vCPU until the next event; IF is clear, so it stays stopped.
        unsafe { asm!("cli", "hlt", options(nostack, nomem)) };
    }
}
