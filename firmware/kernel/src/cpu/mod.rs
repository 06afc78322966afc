//! The boot CPU's own tables and state: GDT and TSS, IDT and exception reports, CPU features.
pub mod exceptions;
pub mod features;
pub mod gdt;

/// Loads the GDT (with the TSS and its IST stacks) and the IDT. After this, every exception is
/// reported on its own stack, a stack overflow included.
pub fn init() {
    gdt::load();
    exceptions::load_idt();
}

/// Stops this CPU for good (used after termination was requested, in case the hypervisor ignores it).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
