//! The IDT and the exception report.
//!
//! Every exception vector (0-31) has an assembly stub that pushes a uniform frame (a zero where the CPU
//! pushes no error code, then the vector, then the general registers) and calls [`exception_report`],
//! which prints the vector, its name, the error code, RIP, CR2 and the registers, names the stack whose
//! guard page was hit if that is what happened, and terminates through the platform. The handlers run on
//! IST stacks, so a fault caused by a full stack can still be reported.
//!
//! None of them returns: Warden takes no interrupts. The one returning handler, the platform's
//! virtualization exception (#VC on SEV-SNP, #VE on TDX), is the platform's own entry
//! ([`VirtualizationEntry`]).
use spin::Once;
use warden_defs::layout::{STACKS, StackId, stack_guard};
use warden_platform::Termination;
use x86_64::VirtAddr;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptDescriptorTable;

use super::gdt::{IST_DOUBLE_FAULT, IST_EXCEPTION, IST_MACHINE_CHECK, IST_NMI};
use crate::console::print_unlocked;

/// What the stubs push, lowest address first.
#[derive(Debug)]
#[repr(C)]
pub struct ExceptionFrame {
    /// R15 down to RAX, in push order reversed.
    pub gprs: [u64; 15],
    /// The vector number.
    pub vector: u64,
    /// The CPU's error code, or 0 where the vector has none.
    pub error_code: u64,
    /// The faulting (or next) instruction.
    pub rip: u64,
    /// The code segment.
    pub cs: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// The interrupted stack pointer.
    pub rsp: u64,
    /// The stack segment.
    pub ss: u64,
}

const GPR_NAMES: [&str; 15] =
    ["r15", "r14", "r13", "r12", "r11", "r10", "r9", "r8", "rbp", "rdi", "rsi", "rdx", "rcx", "rbx", "rax"];

/// The architectural names of vectors 0-31.
const VECTOR_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved (15)",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection",
    "VMM communication (#VC)",
    "security exception",
    "reserved (31)",
];

const PAGE_FAULT: u64 = 14;

core::arch::global_asm!(
    r#"
    .macro exception_stub_no_error vector
    .balign 16
exception_stub_\vector:
    push $0
    push $\vector
    jmp exception_common
    .endm

    .macro exception_stub_error vector
    .balign 16
exception_stub_\vector:
    push $\vector
    jmp exception_common
    .endm

    .section .text.exceptions, "ax"
    exception_stub_no_error 0
    exception_stub_no_error 1
    exception_stub_no_error 2
    exception_stub_no_error 3
    exception_stub_no_error 4
    exception_stub_no_error 5
    exception_stub_no_error 6
    exception_stub_no_error 7
    exception_stub_error 8
    exception_stub_no_error 9
    exception_stub_error 10
    exception_stub_error 11
    exception_stub_error 12
    exception_stub_error 13
    exception_stub_error 14
    exception_stub_no_error 15
    exception_stub_no_error 16
    exception_stub_error 17
    exception_stub_no_error 18
    exception_stub_no_error 19
    exception_stub_no_error 20
    exception_stub_error 21
    exception_stub_no_error 22
    exception_stub_no_error 23
    exception_stub_no_error 24
    exception_stub_no_error 25
    exception_stub_no_error 26
    exception_stub_no_error 27
    exception_stub_no_error 28
    exception_stub_error 29
    exception_stub_error 30
    exception_stub_no_error 31

exception_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    and $-16, %rsp
    call {report}
    ud2

    .section .rodata.exceptions, "a"
    .balign 8
    .global warden_exception_stubs
warden_exception_stubs:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exception_stub_\vector
    .endr
    "#,
    report = sym exception_report,
    options(att_syntax)
);

unsafe extern "C" {
    /// The stubs' addresses, indexed by vector (defined in the assembly above).
    static warden_exception_stubs: [u64; 32];
}

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Which virtualization exception a platform's returning handler takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VirtualizationVector {
    /// SEV-SNP's #VC (vector 29; AMD64 APM vol. 2, "#VC Exception"): the CPU pushes an error code.
    Vc,
    /// TDX's #VE (vector 20; Intel SDM vol. 3, "Virtualization Exceptions"): no error code.
    Ve,
}

/// The entry of a platform's returning virtualization-exception handler (#VC on SEV-SNP, #VE on TDX),
/// given to [`load_idt`] by the platform that has one, so this module needs no platform module.
#[derive(Clone, Copy, Debug)]
pub struct VirtualizationEntry {
    vector: VirtualizationVector,
    entry: VirtAddr,
}

impl VirtualizationEntry {
    /// A #VC handler's address.
    ///
    /// # Safety
    /// `entry` must be the address of code that expects the frame the CPU pushes for #VC (with its
    /// error code), preserves every register it does not emulate, and returns with IRETQ.
    pub unsafe fn vc(entry: VirtAddr) -> Self {
        Self { vector: VirtualizationVector::Vc, entry }
    }

    /// A #VE handler's address.
    ///
    /// # Safety
    /// `entry` must be the address of code that expects the frame the CPU pushes for #VE (no error
    /// code), preserves every register it does not emulate, and returns with IRETQ.
    pub unsafe fn ve(entry: VirtAddr) -> Self {
        Self { vector: VirtualizationVector::Ve, entry }
    }
}

/// Builds the IDT (each exception on its IST stack) and loads it.
pub fn load_idt(virtualization: Option<VirtualizationEntry>) {
    // SAFETY: `warden_exception_stubs` is a read-only table of 32 addresses emitted above.
    let stubs = unsafe { &warden_exception_stubs };
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        let stub = |vector: usize| VirtAddr::new(stubs[vector]);
        // SAFETY: (for every `set_handler_addr` and `set_stack_index` below) each address is the entry of
        // an assembly stub that never returns and expects exactly the frame the CPU pushes for that vector
        // (the stubs add a zero error code where the CPU pushes none); each IST slot is set in the TSS by
        // `gdt::load`, which runs first, and points at a mapped stack above a guard page.
        unsafe {
            idt.divide_error.set_handler_addr(stub(0)).set_stack_index(IST_EXCEPTION - 1);
            idt.debug.set_handler_addr(stub(1)).set_stack_index(IST_EXCEPTION - 1);
            idt.non_maskable_interrupt.set_handler_addr(stub(2)).set_stack_index(IST_NMI - 1);
            idt.breakpoint.set_handler_addr(stub(3)).set_stack_index(IST_EXCEPTION - 1);
            idt.overflow.set_handler_addr(stub(4)).set_stack_index(IST_EXCEPTION - 1);
            idt.bound_range_exceeded.set_handler_addr(stub(5)).set_stack_index(IST_EXCEPTION - 1);
            idt.invalid_opcode.set_handler_addr(stub(6)).set_stack_index(IST_EXCEPTION - 1);
            idt.device_not_available.set_handler_addr(stub(7)).set_stack_index(IST_EXCEPTION - 1);
            idt.double_fault.set_handler_addr(stub(8)).set_stack_index(IST_DOUBLE_FAULT - 1);
            idt.invalid_tss.set_handler_addr(stub(10)).set_stack_index(IST_EXCEPTION - 1);
            idt.segment_not_present.set_handler_addr(stub(11)).set_stack_index(IST_EXCEPTION - 1);
            idt.stack_segment_fault.set_handler_addr(stub(12)).set_stack_index(IST_EXCEPTION - 1);
            idt.general_protection_fault.set_handler_addr(stub(13)).set_stack_index(IST_EXCEPTION - 1);
            idt.page_fault.set_handler_addr(stub(14)).set_stack_index(IST_EXCEPTION - 1);
            idt.x87_floating_point.set_handler_addr(stub(16)).set_stack_index(IST_EXCEPTION - 1);
            idt.alignment_check.set_handler_addr(stub(17)).set_stack_index(IST_EXCEPTION - 1);
            idt.machine_check.set_handler_addr(stub(18)).set_stack_index(IST_MACHINE_CHECK - 1);
            idt.simd_floating_point.set_handler_addr(stub(19)).set_stack_index(IST_EXCEPTION - 1);
            idt.cp_protection_exception.set_handler_addr(stub(21)).set_stack_index(IST_EXCEPTION - 1);
            idt.hv_injection_exception.set_handler_addr(stub(28)).set_stack_index(IST_EXCEPTION - 1);
            idt.vmm_communication_exception.set_handler_addr(stub(29)).set_stack_index(IST_EXCEPTION - 1);
            idt.virtualization.set_handler_addr(stub(20)).set_stack_index(IST_EXCEPTION - 1);
            // The platform's virtualization exception (#VC on SNP, #VE on TDX) goes to its returning
            // handler instead (`VirtualizationEntry`'s contract: it takes the CPU's frame for that
            // vector and returns with IRETQ); it runs on the interrupted stack (no IST), so an
            // intercepted instruction inside another handler's report does not overwrite that
            // handler's frame (`set_handler_addr` resets the entry's options, the IST index above
            // included).
            if let Some(VirtualizationEntry { vector, entry }) = virtualization {
                match vector {
                    VirtualizationVector::Vc => idt.vmm_communication_exception.set_handler_addr(entry),
                    VirtualizationVector::Ve => idt.virtualization.set_handler_addr(entry),
                };
            }
            idt.security_exception.set_handler_addr(stub(30)).set_stack_index(IST_EXCEPTION - 1);
        }
        idt
    });
    idt.load();
}

/// The stack whose guard page holds `address`, if any.
fn guard_page_owner(address: u64) -> Option<&'static str> {
    let ids = [StackId::Boot, StackId::DoubleFault, StackId::Nmi, StackId::MachineCheck, StackId::Exception];
    ids.into_iter()
        .find(|&id| (stack_guard(id)..stack_guard(id) + 0x1000).contains(&address))
        .map(|id| STACKS[id as usize].name)
}

/// Prints what happened and terminates. Called by `exception_common` on the exception's IST stack.
extern "C" fn exception_report(frame: &ExceptionFrame) -> ! {
    let vector = frame.vector;
    let name = VECTOR_NAMES.get(vector as usize).copied().unwrap_or("unknown");
    print_unlocked(format_args!(
        "\nwarden: FATAL EXCEPTION {vector} ({name}) error code {:#x} rip {:#018x} cs {:#x} rflags {:#x} rsp {:#018x}\n",
        frame.error_code, frame.rip, frame.cs, frame.rflags, frame.rsp
    ));
    if vector == PAGE_FAULT {
        let cr2 = Cr2::read_raw();
        print_unlocked(format_args!("warden: page fault address (cr2) {cr2:#018x}\n"));
        if let Some(stack) = guard_page_owner(cr2) {
            print_unlocked(format_args!(
                "warden: stack overflow: the {stack} stack ran into its guard page\n"
            ));
        }
    }
    for (i, value) in frame.gprs.iter().enumerate() {
        print_unlocked(format_args!(
            "  {:>3} {value:#018x}{}",
            GPR_NAMES[i],
            if i % 4 == 3 { "\n" } else { "" }
        ));
    }
    print_unlocked(format_args!("\n"));
    crate::machine::terminate(Termination::Failure)
}
