//! The boot stub: one page at the top of 4 GiB that takes a CPU from where the platform starts it to
//! Warden's 64-bit entry, with the state the image's native VP context describes.
//!
//! Three ways in, one way out:
//!
//! * **Reset vector, real mode** (QEMU `-bios`, no IGVM loader). The stub plays the loader: it switches to
//!   32-bit protected mode, copies the image's pages from the ROM to their GPAs as the boot ROM directory
//!   (`warden_defs::boot::BootRomDirectory`, one page below this one) lists them, and takes RDI (the
//!   platform claim, native) from the directory.
//! * **Reset vector, 32-bit protected mode** (TDX: every vCPU starts here, its pages already in place).
//!   RDI = TDX.
//! * **`boot32_long_mode`, 32-bit protected mode** (the SNP VMSA starts here: KVM's launch rules want
//!   CR0 = PE without paging). RDI = SNP, set by the VMSA.
//!
//! All three end in `boot32_long_mode`: load this page's GDT, enable PAE, load the image's page tables
//! from the directory, set EFER.LME/NXE, enable paging, far-jump to 64-bit code, load RSP/RSI/RIP from the
//! directory and jump to Warden. On SEV-SNP it first ORs the C-bit, at the position the measured CPUID
//! page names (never the hypervisor's word), into every present entry of those tables, so that Warden's
//! memory is reached as private once paging is on; a page without a usable position stops the VM. The
//! EFER access stays RDMSR/WRMSR on every path: KVM passes EFER through to SEV-ES/SNP guests (a write
//! is an automatic trap exit, not a #VC), and no #VC handler exists yet; on TDX, where a WRMSR of EFER
//! raises #VE, the write is skipped because the TD starts with the bits set, and CR4 keeps the TD's
//! MCE bit. The reset vector tells real mode from protected mode with SMSW, whose
//! encoding (like the short jumps around it) means the same in 16- and 32-bit code.
//!
//! Nothing here trusts the directory beyond its magic: on SNP and TDX it is measured with the image, and
//! on native there is nothing to protect against.
//!
//! `unsafe`: only the stub itself, the one `global_asm!` below (which the `unsafe_code` lint counts);
//! there is no Rust `unsafe` block.
#![no_std]
#![no_main]

use warden_defs::boot::{BOOT_ROM_MAGIC, BootPlatform, rom_offsets};
use warden_defs::ghcb::msr::{GHCB_MSR, REASON_SET_WARDEN, REASON_WARDEN_NO_C_BIT, terminate_request};
use warden_defs::layout::{BOOT_ROM_DIRECTORY, PAGE_TABLES_BASE, PAGE_TABLES_SIZE, SNP_CPUID_PAGE};
use warden_defs::snp_cpuid::{LEAF_ENCRYPTED_MEMORY, SNP_CPUID_MAX_ENTRIES};

/// The stub's GDT selectors.
const CODE32: u16 = 0x08;
const DATA: u16 = 0x10;
const CODE64: u16 = 0x18;

/// CR0 after the switch: PE | MP | ET | NE (caches on: the reset value has CD and NW set).
const CR0_PROTECTED: u32 = 0x33;
/// CR0 in long mode: the above | WP | PG.
const CR0_PAGED: u32 = 0x8001_0033;
/// CR4: PAE | OSFXSR | OSXMMEXCPT.
const CR4_LONG: u32 = (1 << 5) | (1 << 9) | (1 << 10);
/// IA32_EFER and its LME | NXE bits.
const MSR_EFER: u32 = 0xC000_0080;
const EFER_LME_NXE: u32 = (1 << 8) | (1 << 11);

core::arch::global_asm!(
    r#"
    .section .stub, "ax"
    .code32

    /* 32-bit protected mode, paging off; EDI = platform claim. */
    .global boot32_long_mode
boot32_long_mode:
    cli
    cld
    lgdtl (gdt_descriptor)
    ljmpl ${code32}, $1f
1:
    mov ${data}, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs

    /* Read what long mode needs while the directory is still reachable without paging. */
    mov ({dir} + {off_rsp}), %ebp
    cmp ${claim_snp}, %edi
    jne 1f
    /* SEV-SNP: the C-bit goes into the tables before paging is on (below). The boot stack is part of
     * the measured image, so the walk may use it. */
    mov %ebp, %esp
    call snp_encrypt_page_tables
1:
    mov ({dir} + {off_rsi}), %esi
    mov ({dir} + {off_rip}), %ebx
    mov ({dir} + {off_cr3}), %eax
    mov %eax, %cr3

    /* CR4 keeps what the platform set: a TD starts with CR4.MCE, which it may not clear (Intel TDX
     * Module v1.5 Base Architecture Specification (348549), TD vCPU initial state; the reset value
     * elsewhere is 0). */
    mov %cr4, %eax
    or ${cr4}, %eax
    mov %eax, %cr4
    /* RDMSR/WRMSR use EAX, ECX, EDX only: EDI (the platform claim) stays as it is. EFER is written
     * only if it changes: a TD starts with LME and NXE set, and its WRMSR of EFER raises #VE, which
     * has no handler yet (Linux's startup_64 skips the write the same way). */
    mov ${msr_efer}, %ecx
    rdmsr
    not %eax
    test ${efer_bits}, %eax     /* ZF: every bit already set (NOT leaves the flags alone) */
    not %eax
    jz 2f
    or ${efer_bits}, %eax
    wrmsr
2:
    mov ${cr0_paged}, %eax
    mov %eax, %cr0
    ljmpl ${code64}, $long_mode

    .code64
long_mode:
    mov ${data}, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %ebp, %esp
    mov %edi, %edi
    mov %esi, %esi
    xor %ebp, %ebp
    jmp *%rbx

    .code32
    /* SEV-SNP, paging off: every access is private here (AMD APM vol. 2 §15.34, encrypted memory
     * accesses with paging disabled), so the measured CPUID page and tables read as the image holds
     * them. Find CPUID Fn8000_001F (sub-leaf 0) in the CPUID page (SEV-SNP ABI (AMD 56860), CPUID
     * Reporting: count u32 at 0, entries of 0x30 bytes from 0x10, EAX_in at +0, ECX_in at +4, EBX at
     * +0x1C), take EBX[5:0] as the C-bit position, refuse one outside 32..=51, and OR the bit into
     * every present entry of the tables reachable from the directory's CR3. Clobbers EAX-EDX, ESI. */
snp_encrypt_page_tables:
    mov ({cpuid_page}), %ecx
    cmp ${cpuid_max}, %ecx
    ja snp_no_c_bit
    mov ${cpuid_page} + 0x10, %esi
7:
    test %ecx, %ecx
    jz snp_no_c_bit
    cmpl ${leaf_c_bit}, 0(%esi)
    jne 8f
    cmpl $0, 4(%esi)
    je 9f
8:
    add $0x30, %esi
    dec %ecx
    jmp 7b
9:
    mov 0x1C(%esi), %ecx
    and $0x3F, %ecx
    cmp $32, %ecx
    jb snp_no_c_bit
    cmp $51, %ecx
    ja snp_no_c_bit
    /* The C-bit lies in the entries' high doublewords: bit (position - 32) there. */
    sub $32, %ecx
    mov $1, %edx
    shl %cl, %edx
    mov ({dir} + {off_cr3}), %ebx
    and $0xFFFFF000, %ebx
    mov $4, %ecx
    jmp snp_patch_table

    /* EBX = a table inside the page-table region, ECX = its level (4 = PML4), EDX = the C-bit in the
     * high doubleword. ORs it into every present entry and descends into the tables that non-leaf
     * entries name, which must lie in the region too (a measured image built otherwise stops here). */
snp_patch_table:
    cmp ${tables_base}, %ebx
    jb snp_no_c_bit
    cmp ${tables_end}, %ebx
    jae snp_no_c_bit
    push %esi
    xor %esi, %esi
10:
    testl $1, (%ebx,%esi)
    jz 12f
    orl %edx, 4(%ebx,%esi)
    cmp $1, %ecx
    je 12f
    testl $0x80, (%ebx,%esi)
    jnz 12f
    push %ebx
    push %ecx
    mov (%ebx,%esi), %ebx
    and $0xFFFFF000, %ebx
    dec %ecx
    call snp_patch_table
    pop %ecx
    pop %ebx
12:
    add $8, %esi
    cmp $0x1000, %esi
    jne 10b
    pop %esi
    ret

    /* No usable C-bit: ask the hypervisor to stop the VM with the GHCB MSR protocol's termination
     * request (GHCB spec (AMD 56421) §2.3.1; writing the GHCB MSR and VMGEXIT are not intercepted),
     * and halt should it resume us. */
snp_no_c_bit:
    mov ${ghcb_msr}, %ecx
    mov ${terminate_no_c_bit}, %eax
    xor %edx, %edx
    wrmsr
    .byte 0xF3, 0x0F, 0x01, 0xD9    /* VMGEXIT */
13:
    hlt
    jmp 13b

    /* Real-mode path, now in 32-bit protected mode: copy the ROM's runs to RAM. */
copy_runs:
    mov ${data}, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    cmpl ${magic_lo}, ({dir} + {off_magic})
    jne bad_directory
    cmpl ${magic_hi}, ({dir} + {off_magic} + 4)
    jne bad_directory
    mov ({dir} + {off_run_count}), %edx
    mov ${dir} + {off_runs}, %ebx
2:
    test %edx, %edx
    jz 4f
    mov 0(%ebx), %esi
    mov 4(%ebx), %ecx
    mov 8(%ebx), %edi
    shl $10, %ecx
    test %esi, %esi
    jz 3f
    rep movsl
    jmp 5f
3:
    xor %eax, %eax
    rep stosl
5:
    add $16, %ebx
    dec %edx
    jmp 2b
4:
    mov ({dir} + {off_rdi}), %edi
    jmp boot32_long_mode

    /* No directory: print "WARDEN ROM: bad directory" is more than we can afford here; say '!' and stop. */
bad_directory:
    mov $0x3f8, %dx
    mov $0x21, %al
    outb %al, %dx
6:
    hlt
    jmp 6b

    .balign 8
gdt:
    .quad 0
    .quad 0x00CF9B000000FFFF    /* 0x08: 32-bit code, flat */
    .quad 0x00CF93000000FFFF    /* 0x10: data, flat */
    .quad 0x00AF9B000000FFFF    /* 0x18: 64-bit code */
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt

    /* The reset tail: reached by the short jump at the reset vector, in either mode. */
    .section .tail, "ax"
    .code16
mode_probe:
    smsw %ax                    /* 0F 01 E0: SMSW AX in 16-bit code, SMSW EAX in 32-bit code */
    test $1, %al                /* CR0.PE */
    jnz tdx_entry
    cli
    cld
    lgdtl %cs:(gdt_descriptor - 0xFFFF0000)
    mov ${cr0_protected}, %eax
    mov %eax, %cr0
    ljmpl ${code32}, $copy_runs

    .code32
tdx_entry:
    mov $2, %edi
    jmp boot32_long_mode

    /* The reset vector, in the same section so that the jump is a short one (EB rel8), which means the
     * same in 16- and 32-bit code. */
    .code16
    .org 0x70, 0xcc
    .global reset_vector
reset_vector:
    jmp mode_probe
    .org 0x80, 0xcc
    "#,
    dir = const BOOT_ROM_DIRECTORY,
    off_magic = const rom_offsets::MAGIC,
    off_cr3 = const rom_offsets::CR3,
    off_rip = const rom_offsets::RIP,
    off_rsp = const rom_offsets::RSP,
    off_rdi = const rom_offsets::RDI,
    off_rsi = const rom_offsets::RSI,
    off_run_count = const rom_offsets::RUN_COUNT,
    off_runs = const rom_offsets::RUNS,
    magic_lo = const BOOT_ROM_MAGIC as u32,
    magic_hi = const (BOOT_ROM_MAGIC >> 32) as u32,
    code32 = const CODE32,
    data = const DATA,
    code64 = const CODE64,
    cr0_protected = const CR0_PROTECTED,
    cr0_paged = const CR0_PAGED,
    cr4 = const CR4_LONG,
    msr_efer = const MSR_EFER,
    efer_bits = const EFER_LME_NXE,
    claim_snp = const BootPlatform::Snp as u32,
    cpuid_page = const SNP_CPUID_PAGE,
    cpuid_max = const SNP_CPUID_MAX_ENTRIES,
    leaf_c_bit = const LEAF_ENCRYPTED_MEMORY,
    tables_base = const PAGE_TABLES_BASE,
    tables_end = const PAGE_TABLES_BASE + PAGE_TABLES_SIZE,
    ghcb_msr = const GHCB_MSR,
    terminate_no_c_bit = const terminate_request(REASON_SET_WARDEN, REASON_WARDEN_NO_C_BIT) as u32,
    options(att_syntax)
);

/// Never called: the stub has no Rust code, but a `no_std` binary must name a panic handler.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
