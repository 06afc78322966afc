//! The boot CPU's own tables and state: GDT and TSS, IDT and exception reports, CPU features.
pub mod exceptions;
pub mod features;
pub mod gdt;

use self::exceptions::VcEntry;

/// Loads the GDT (with the TSS and its IST stacks) and the IDT. After this, every exception is
/// reported on its own stack, a stack overflow included. `virtualization_entry` is the platform's
/// returning handler for #VC (vector 29, SEV-SNP), if it has one; otherwise #VC is reported as fatal.
pub fn init(virtualization_entry: Option<VcEntry>) {
    gdt::load();
    exceptions::load_idt(virtualization_entry);
}
