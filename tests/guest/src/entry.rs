//! The guest's first instructions and its CPU tables. Warden starts the boot vCPU in 64-bit mode at
//! `guest_entry` with RDI = the boot-information page, RSP = 0 and no IDT (`warden_defs::guest_launch`);
//! the second vCPU starts at `guest_ap_entry` from the VMSA the guest wrote. Both get a stack in .bss,
//! the guest's own flat GDT, and an IDT whose handlers print the vector and stop: any exception here,
//! #VC (29) included, is a bug in the guest or in what Warden gave it.
use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::instr;

/// The flat 64-bit code selector in the guest's GDT.
pub const CODE_SELECTOR: u16 = 0x08;
/// The flat data selector.
pub const DATA_SELECTOR: u16 = 0x10;
/// Bytes of the boot vCPU's stack: every GHCB exit copies a 4 KiB page on the stack, twice.
const BSP_STACK_SIZE: usize = 64 * 1024;
/// Bytes of the second vCPU's stack (it prints one line).
const AP_STACK_SIZE: usize = 32 * 1024;
const _: () = assert!(BSP_STACK_SIZE.is_multiple_of(16) && AP_STACK_SIZE.is_multiple_of(16));

global_asm!(
    r#"
    .section .text.entry, "ax"
    .global guest_entry
guest_entry:
    lea rsp, [rip + guest_bsp_stack_top]
    mov r12, rdi
    lgdt [rip + guest_gdtr]
    push {code}
    lea rax, [rip + 2f]
    push rax
    retfq
2:
    mov ax, {data}
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov rdi, r12
    call guest_start
    ud2

    .global guest_ap_entry
guest_ap_entry:
    lea rsp, [rip + guest_ap_stack_top]
    call guest_ap_start
    ud2

    .section .data.guest_gdt, "aw"
    .balign 16
guest_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF
    .quad 0x00CF93000000FFFF
guest_gdt_end:
    .balign 16
    .global guest_gdtr
guest_gdtr:
    .word guest_gdt_end - guest_gdt - 1
    .quad guest_gdt

    .section .bss.guest_stacks, "aw", @nobits
    .balign 16
    .skip {bsp}
guest_bsp_stack_top:
    .skip {ap}
    .global guest_ap_stack_top
guest_ap_stack_top:
"#,
    code = const CODE_SELECTOR,
    data = const DATA_SELECTOR,
    bsp = const BSP_STACK_SIZE,
    ap = const AP_STACK_SIZE,
);

// One stub per architectural vector: those without an error code push 0 in its place, then the vector;
// the common part hands vector, error code and the faulting RIP to `guest_exception`.
global_asm!(
    r#"
    .section .text.guest_exceptions, "ax"
    .macro exc_noerr n
guest_exc_\n:
    push 0
    push \n
    jmp guest_exc_common
    .endm
    .macro exc_err n
guest_exc_\n:
    push \n
    jmp guest_exc_common
    .endm
    .irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
    exc_noerr \n
    .endr
    .irp n, 8,10,11,12,13,14,17,21,29,30
    exc_err \n
    .endr
guest_exc_common:
    mov rdi, [rsp]
    mov rsi, [rsp + 8]
    mov rdx, [rsp + 16]
    and rsp, -16
    call guest_exception
    ud2

    .section .rodata.guest_exception_stubs, "a"
    .balign 8
    .global guest_exception_stubs
guest_exception_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad guest_exc_\n
    .endr
"#
);

unsafe extern "C" {
    /// The 32 stubs' addresses, in vector order (above).
    static guest_exception_stubs: [u64; 32];
    /// The GDT pointer (limit, base) loaded at entry; the second vCPU's VMSA gets the same GDT.
    static guest_gdtr: [u8; 10];
    /// Where the second vCPU starts.
    fn guest_ap_entry();
}

/// The IDT: 32 gates of 16 bytes, written once by the boot vCPU before `lidt`.
static IDT: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// An interrupt gate (type 0xE, present, DPL 0) to `handler` on the current stack (AMD64 APM vol. 2
/// §4.8.4, "Gate Descriptors").
const fn gate(handler: u64) -> [u64; 2] {
    let low =
        (handler & 0xFFFF) | ((CODE_SELECTOR as u64) << 16) | (0x8E << 40) | ((handler >> 16) & 0xFFFF) << 48;
    [low, handler >> 32]
}

/// Fills and loads the IDT.
pub fn load_idt() {
    // SAFETY: the table is defined in the global_asm above, in .rodata, 32 addresses long.
    let stubs = unsafe { &*core::ptr::addr_of!(guest_exception_stubs) };
    for (vector, stub) in stubs.iter().enumerate() {
        let [low, high] = gate(*stub);
        IDT[2 * vector].store(low, Ordering::Relaxed);
        IDT[2 * vector + 1].store(high, Ordering::Relaxed);
    }
    let (base, limit) = idt();
    let pointer: [u16; 5] =
        [limit, base as u16, (base >> 16) as u16, (base >> 32) as u16, (base >> 48) as u16];
    // SAFETY: `pointer` describes the static IDT above, whose gates all lead to the stubs.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(nostack, readonly)) };
}

/// The IDT's base and limit (for the second vCPU's VMSA).
pub fn idt() -> (u64, u16) {
    (IDT.as_ptr() as u64, (size_of_val(&IDT) - 1) as u16)
}

/// The GDT's base and limit (for the second vCPU's VMSA).
pub fn gdt() -> (u64, u16) {
    // SAFETY: `guest_gdtr` is the 10-byte pointer defined in the global_asm above, never written.
    let pointer = unsafe { *core::ptr::addr_of!(guest_gdtr) };
    let limit = u16::from_le_bytes([pointer[0], pointer[1]]);
    let mut base = [0u8; 8];
    base.copy_from_slice(&pointer[2..10]);
    (u64::from_le_bytes(base), limit)
}

/// The second vCPU's first instruction.
pub fn ap_entry() -> u64 {
    guest_ap_entry as *const () as u64
}

/// Every exception ends here: the guest says which, and stops.
#[unsafe(no_mangle)]
extern "C" fn guest_exception(vector: u64, error_code: u64, rip: u64) -> ! {
    crate::println!("guest: exception: FAIL vector {vector} error code {error_code:#x} at rip {rip:#x}");
    crate::println!("guest: verdict: FAIL (exception {vector} at rip {rip:#x})");
    instr::halt_forever()
}
