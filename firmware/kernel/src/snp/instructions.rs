//! The SEV-SNP guest instructions: PVALIDATE, RMPADJUST, VMGEXIT, and the GHCB MSR.
//!
//! Encodings and register contracts: AMD64 APM vol. 3 ch. 4, PVALIDATE (`F2 0F 01 FF`), RMPADJUST
//! (`F3 0F 01 FE`), VMGEXIT (`F3 0F 01 D9`); the GHCB MSR (0xC001_0130): GHCB spec (AMD 56421) §2.3.1.
//! Emitted as bytes so that no assembler support is assumed. **Not exercised on hardware**: no machine
//! this was written on has SEV-SNP; each encoding was checked against those documents and `objdump` only.
use core::arch::asm;

use warden_defs::ghcb::msr::GHCB_MSR;

/// PVALIDATE (`F2 0F 01 FF`): RAX = virtual address, ECX = page size (0 = 4 KiB, 1 = 2 MiB), EDX = 1 to
/// validate, 0 to rescind. Returns EAX (the return code) and CF (set: the RMP entry was unchanged).
///
/// # Safety
/// `vaddr` must be mapped (to the page the caller means) and aligned to the size. Validating: the page
/// must be owned by the caller and not referenced by any Rust object (its contents are undefined until
/// written). Rescinding: nothing may access the page afterwards (any access faults). The caller must
/// have excluded, by its own bookkeeping, that the page is validated at another address (the
/// double-validation attack): see `warden_platform::memory::SnpMemory::pvalidate`.
pub unsafe fn pvalidate(vaddr: u64, size: u32, validate: bool) -> (u32, bool) {
    let rax: u64;
    let unchanged: u8;
    // SAFETY: the caller guarantees the contract above. PVALIDATE reads RAX/ECX/EDX, writes EAX and the
    // flags (declared: `setc` reads CF right after), and changes only the RMP entry's validated bit; it
    // may change what memory means, so `nomem` is not claimed. No stack use.
    unsafe {
        asm!(
            ".byte 0xF2, 0x0F, 0x01, 0xFF",
            "setc {unchanged}",
            unchanged = out(reg_byte) unchanged,
            inlateout("rax") vaddr => rax,
            in("ecx") size,
            in("edx") u32::from(validate),
            options(nostack),
        );
    }
    (rax as u32, unchanged != 0)
}

/// RMPADJUST (`F3 0F 01 FE`): RAX = virtual address, RCX = page size, RDX = attributes (target VMPL in
/// \[7:0\], permissions in \[15:8\], VMSA in bit 16; `warden_defs::snp::rmpadjust_attrs`). Returns EAX.
///
/// # Safety
/// `vaddr` must be mapped to the page the caller means. Granting permissions lets a lower VMPL read or
/// write the page: it must hold nothing of Warden's. Making it a VMSA hands it to the CPU: nothing else
/// may use it. See `warden_platform::memory::SnpMemory::rmpadjust`.
pub unsafe fn rmpadjust(vaddr: u64, size: u64, attrs: u64) -> u32 {
    let rax: u64;
    // SAFETY: per the contract above. RMPADJUST reads RAX/RCX/RDX, writes EAX and the flags, and changes
    // the RMP entry's permissions for a lower VMPL; no stack use.
    unsafe {
        asm!(
            ".byte 0xF3, 0x0F, 0x01, 0xFE",
            inlateout("rax") vaddr => rax,
            in("rcx") size,
            in("rdx") attrs,
            options(nostack),
        );
    }
    rax as u32
}

/// VMGEXIT (`F3 0F 01 D9`, REP VMMCALL): hands control to the hypervisor, which reads the request from
/// the GHCB MSR (MSR protocol) or from the GHCB page it names, and writes its answer there.
///
/// # Safety
/// The GHCB MSR must hold a request whose effect the caller has reasoned about (a page-state change
/// gives a page to the hypervisor; a registered GHCB page is read and written by it). Under SEV-ES/SNP
/// the hypervisor cannot change Warden's registers, so none are clobbered.
pub unsafe fn vmgexit() {
    // SAFETY: per the contract above; the hypervisor may write shared memory (so `nomem` is not
    // claimed, and the asm is a compiler barrier for the GHCB page), but not registers or the stack.
    // Flags are not claimed preserved: nothing in the GHCB specification promises it.
    unsafe { asm!(".byte 0xF3, 0x0F, 0x01, 0xD9", options(nostack)) };
}

/// Writes the GHCB MSR (0xC001_0130).
///
/// # Safety
/// The value is the next VMGEXIT's request: an MSR-protocol request, or the GPA of the registered GHCB.
/// The write itself is not intercepted (it does not raise #VC) and touches no memory.
pub unsafe fn write_ghcb_msr(value: u64) {
    // SAFETY: WRMSR of the GHCB MSR only sets the value the hypervisor reads at the next VMGEXIT.
    unsafe {
        asm!(
            "wrmsr",
            in("ecx") GHCB_MSR,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nomem, nostack, preserves_flags),
        );
    }
}

/// Reads the GHCB MSR: after an MSR-protocol VMGEXIT, the hypervisor's response (hostile: check it with
/// `warden_defs::ghcb::msr`).
pub fn read_ghcb_msr() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: RDMSR of the GHCB MSR has no side effects and is not intercepted under SEV-ES/SNP; the MSR
    // exists on every CPU that runs the SNP platform (only `snp` code, after detection, calls this).
    unsafe {
        asm!(
            "rdmsr",
            in("ecx") GHCB_MSR,
            out("eax") low,
            out("edx") high,
            options(nomem, nostack, preserves_flags),
        );
    }
    (u64::from(high) << 32) | u64::from(low)
}

/// Flushes the cache lines of the 4 KiB page at `vaddr` (CLFLUSH each 64-byte line), so that no dirty
/// line written through the private mapping is written back after the page became shared.
pub fn flush_page_cache(vaddr: u64) {
    let page = vaddr & !0xFFF;
    for line in (page..page + 0x1000).step_by(64) {
        // SAFETY: CLFLUSH writes back and invalidates a line; it changes no memory contents. The callers
        // pass a page Warden maps (an unmapped one would fault, not corrupt).
        unsafe { asm!("clflush [{}]", in(reg) line, options(nostack, preserves_flags)) };
    }
}
