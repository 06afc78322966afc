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
//! directory and jump to Warden. The reset vector tells real mode from protected mode with SMSW, whose
//! encoding (like the short jumps around it) means the same in 16- and 32-bit code.
//!
//! Nothing here trusts the directory beyond its magic: on SNP and TDX it is measured with the image, and
//! on native there is nothing to protect against.
//!
//! `unsafe`: only the stub itself, the one `global_asm!` below (which the `unsafe_code` lint counts);
//! there is no Rust `unsafe` block.
#![no_std]
#![no_main]

use warden_defs::boot::{BOOT_ROM_MAGIC, rom_offsets};
use warden_defs::layout::BOOT_ROM_DIRECTORY;

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
    mov ({dir} + {off_rsi}), %esi
    mov ({dir} + {off_rip}), %ebx
    mov ({dir} + {off_cr3}), %eax
    mov %eax, %cr3

    mov ${cr4}, %eax
    mov %eax, %cr4
    mov %edi, %edx
    mov ${msr_efer}, %ecx
    rdmsr
    or ${efer_bits}, %eax
    wrmsr
    mov %edx, %edi
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
    options(att_syntax)
);

/// Never called: the stub has no Rust code, but a `no_std` binary must name a panic handler.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
