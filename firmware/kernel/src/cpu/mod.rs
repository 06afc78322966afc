//! The boot CPU's own tables and state: GDT and TSS, IDT and exception reports, CPU features.
pub mod exceptions;
pub mod features;
pub mod gdt;

use core::sync::atomic::{AtomicBool, Ordering};

use self::exceptions::VirtualizationEntry;

/// Whether [`init`] has loaded the tables.
static LOADED: AtomicBool = AtomicBool::new(false);

/// Loads the GDT (with the TSS and its IST stacks) and the IDT. After this, every exception is
/// reported on its own stack, a stack overflow included. `virtualization_entry` is the platform's
/// returning handler for its virtualization exception (#VC, vector 29, on SEV-SNP; #VE, vector 20, on
/// TDX), if it has one; otherwise both vectors are reported as fatal.
///
/// Once only: the SNP boot loads the tables before detection (`start::start_snp`), and the generic
/// boot's CPU step then finds them loaded with the same #VC entry. Loading them again is not merely
/// redundant: LTR of the TSS, which the first load marked busy, raises #GP (AMD64 APM vol. 3, LTR).
pub fn init(virtualization_entry: Option<VirtualizationEntry>) {
    if LOADED.swap(true, Ordering::AcqRel) {
        return;
    }
    gdt::load();
    exceptions::load_idt(virtualization_entry);
}
