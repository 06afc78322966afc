//! The bundled test guest: Warden launches it at VMPL2 on SEV-SNP, or as the L2 VM 1 of a partitioned
//! TD on TDX (`warden_defs::guest_launch`; the boot-information page says which), and it drives Warden
//! through the SVSM calling convention only, printing `guest: <step>: PASS|FAIL <detail>` for every
//! check and `guest: verdict: ...` at the end, on COM1 (through its own GHCB on SNP, with OUT on TDX).
//! On TDX it then attacks Warden's memory, which Warden must stop. Then it halts.
#![no_std]
#![no_main]

mod console;
mod entry;
mod ghcb_page;
mod guest_pages;
mod instr;
mod steps;
mod svsm_call;
mod transport;

use core::sync::atomic::{AtomicBool, Ordering};

use warden_defs::guest_launch::GuestBootInfo;
use warden_test_guest::boot_info::Platform;

/// Set by the second vCPU once it runs; the boot vCPU waits for it.
pub static SECOND_VCPU_RAN: AtomicBool = AtomicBool::new(false);

/// The boot vCPU's Rust entry, with the boot-information page's GPA from RDI.
#[unsafe(no_mangle)]
extern "C" fn guest_start(boot_info: u64) -> ! {
    // SAFETY: the launch contract puts the boot-information page at RDI, a granted launch page; it is
    // copied once here and only the copy is used. Reading it needs no exit on either platform, so it
    // comes first: its `platform` field says how to print at all.
    let info = unsafe { (boot_info as *const GuestBootInfo).read_volatile() };
    let platform = Platform::assumed(info.platform);
    transport::select(platform);
    // On SNP nothing can be printed before the GHCB is registered; without it, ask to be terminated.
    // TDX has no GHCB: the console is OUT.
    if platform == Platform::Snp && ghcb_page::register().is_err() {
        ghcb_page::terminate();
    }
    entry::load_idt();
    match platform {
        Platform::Snp => println!("guest: started at VMPL2, boot information at {boot_info:#x}"),
        Platform::TdxL2 => println!("guest: started as the TD's L2 VM 1, boot information at {boot_info:#x}"),
    }
    let verdict = steps::run(boot_info, info);
    println!("guest: verdict: {verdict}");
    if platform == Platform::TdxL2 {
        steps::attacks::write_warden(info.svsm_base);
    }
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
