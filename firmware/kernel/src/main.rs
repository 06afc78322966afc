//! Warden's firmware binary: the 64-bit entry, and the modules that cannot run on a host (they execute
//! privileged instructions or own the machine's tables). Everything that parses, decides or computes
//! lives in the host-tested `warden-*` library crates.
//!
//! unsafe: allowed in this crate only, because it is the one place that executes instructions (port
//! I/O, control registers, PVALIDATE/VMGEXIT/TDCALL), edits descriptor and page tables, hands memory
//! to the allocator and copies the loader's pages from their fixed addresses (`boot_params`); every block carries a `// SAFETY:` argument (workspace lint).
#![no_std]
#![no_main]

extern crate alloc;

mod bench;
mod boot_clock;
mod boot_params;
mod boot_steps;
mod console;
mod cpu;
#[cfg(warden_services)]
mod entropy;
mod fw_cfg;
mod heap;
#[cfg(warden_services)]
mod image_digest;
#[cfg(feature = "insecure_test_image")]
mod ktest;
mod layout_check;
mod machine;
mod native;
mod paging;
mod panic;
mod port;
#[cfg(warden_request_loop)]
mod request_loop;
mod serial;
#[cfg(warden_services)]
mod services;
mod snp;
mod start;
#[cfg(warden_services)]
mod state_disk;
mod tdx;
mod tsc;
#[cfg(warden_services)]
mod vtpm_clock;
#[cfg(warden_services)]
mod vtpm_state;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .global warden_entry
warden_entry:
    /* The boot stub or the loader set RSP to the top of the boot stack; RDI = platform claim,
     * RSI = boot parameter page. Clear the frame pointer so stack walks end here. */
    xor %ebp, %ebp
    call {start}
    ud2
    "#,
    start = sym start::warden_start,
    options(att_syntax)
);
