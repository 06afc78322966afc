//! The bundled test guest: Warden launches it at VMPL2 on SEV-SNP (`warden_defs::guest_launch`), and it
//! drives Warden through the SVSM calling convention only, printing `guest: <step>: PASS|FAIL <detail>`
//! for every check and `guest: verdict: ...` at the end, on COM1 through its own GHCB. Then it halts.
#![no_std]
#![no_main]

mod console;
mod entry;
mod ghcb_page;
mod guest_pages;
mod instr;
mod steps;
mod svsm_call;

use core::sync::atomic::{AtomicBool, Ordering};

use warden_defs::guest_launch::GuestBootInfo;

/// Set by the second vCPU once it runs; the boot vCPU waits for it.
pub static SECOND_VCPU_RAN: AtomicBool = AtomicBool::new(false);

/// The boot vCPU's Rust entry, with the boot-information page's GPA from RDI.
#[unsafe(no_mangle)]
extern "C" fn guest_start(boot_info: u64) -> ! {
    // Nothing can be printed before the GHCB is registered; without it, ask to be terminated.
    if ghcb_page::register().is_err() {
        ghcb_page::terminate();
    }
    entry::load_idt();
    println!("guest: started at VMPL2, boot information at {boot_info:#x}");
    // SAFETY: the launch contract puts the boot-information page at RDI, a granted launch page; it is
    // copied once here and only the copy is used.
    let info = unsafe { (boot_info as *const GuestBootInfo).read_volatile() };
    let verdict = steps::run(boot_info, info);
    println!("guest: verdict: {verdict}");
    instr::halt_forever()
}

/// The second vCPU's Rust entry: register the GHCB, say it runs, tell the boot vCPU, halt.
#[unsafe(no_mangle)]
extern "C" fn guest_ap_start() -> ! {
    if ghcb_page::register().is_ok() {
        println!("guest: vcpu1: PASS running");
        SECOND_VCPU_RAN.store(true, Ordering::SeqCst);
    } else {
        // The boot vCPU's wait times out and reports the failure.
        println!("guest: vcpu1: FAIL could not register the GHCB");
    }
    instr::halt_forever()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("guest: panic: FAIL {info}");
    println!("guest: verdict: FAIL (panic)");
    instr::halt_forever()
}
