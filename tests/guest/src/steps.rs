//! The guest's checks, in order: the boot information, QUERY_PROTOCOL, PVALIDATE of its own memory,
//! REMAP_CA, CREATE_VCPU/DELETE_VCPU of a second vCPU that runs, the vTPM protocol, the vTPM's state
//! across reboots, the vTPM's EK
//! against the attestation manifest, the attestation protocol (evidence printed for `cargo xtask
//! attest`), Warden's event log, and the attacks
//! Warden must refuse. Each check prints one line and counts as one step of the verdict.
//!
//! On TDX (the guest as Warden's L2) the steps that need SEV-SNP do not run: there is no secrets page,
//! no PVALIDATE, no calling area to remap and no second vCPU. The others run as on SNP; the EK and
//! attestation steps only when Warden offers the attestation protocol there.
pub mod attacks;
mod attest;
mod core_calls;
mod ek;
mod event_log;
mod pvalidate;
mod state;
mod vcpu;
mod vtpm;

use core::fmt;

use warden_defs::guest_launch::{GUEST_VMPL, GuestBootInfo};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::ResultCode;
use warden_test_guest::boot_info::{self, Platform};
use warden_test_guest::secrets_page;
use warden_test_guest::verdict::{Tally, Verdict, refused_with, result_name};

use crate::println;
use crate::svsm_call::{self, Answer, CallError, Channel};

/// The guest's free RAM, by role (offsets from `free_start`): what it validates and then uses.
pub mod work {
    use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};

    /// Validated alone, written, then rescinded.
    pub const SINGLE: u64 = 0;
    /// The first of the pages validated as one list; they then serve the roles below.
    pub const LIST: u64 = PAGE_SIZE;
    /// How many.
    pub const LIST_PAGES: u64 = 6;
    /// The calling area REMAP_CA moves to.
    pub const NEW_CAA: u64 = LIST;
    /// The second vCPU's VMSA.
    pub const VCPU1_VMSA: u64 = LIST + PAGE_SIZE;
    /// The second vCPU's calling area.
    pub const VCPU1_CAA: u64 = LIST + 2 * PAGE_SIZE;
    /// The vTPM command buffer.
    pub const VTPM_BUFFER: u64 = LIST + 3 * PAGE_SIZE;
    /// The forged VMSA that claims VMPL 0.
    pub const FORGED_VMSA: u64 = LIST + 4 * PAGE_SIZE;
    /// The 2 MiB page validated with one entry.
    pub const LARGE: u64 = LARGE_PAGE_SIZE;
    /// The attestation step's buffers (request, report, manifest, certificates), in the 2 MiB page.
    pub const ATTEST: u64 = LARGE;
    /// Their room.
    pub const ATTEST_SIZE: u64 = LARGE_PAGE_SIZE;
    /// How much free RAM the roles need.
    pub const NEEDED: u64 = LARGE + LARGE_PAGE_SIZE;
}

/// Bytes as lowercase hex.
pub struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The state the steps share: the checks so far, the boot information, the platform, the current
/// calling area (SNP).
#[derive(Debug)]
pub struct Run {
    tally: Tally,
    info: GuestBootInfo,
    platform: Platform,
    caa: u64,
}

impl Run {
    /// Records one check and prints its line.
    pub fn check(&mut self, step: &str, passed: bool, detail: fmt::Arguments<'_>) {
        let word = self.tally.record(passed);
        println!("guest: {step}: {word} {detail}");
    }

    /// One SVSM call: through the current calling area on SNP, VMCALL on TDX.
    pub fn call(&mut self, protocol: u32, call: u32, args: [u64; 4]) -> Result<Answer, CallError> {
        let channel = match self.platform {
            Platform::Snp => Channel::CallingArea(self.caa),
            Platform::TdxL2 => Channel::Vmcall,
        };
        svsm_call::call(channel, protocol, call, args)
    }

    /// The platform the guest runs on.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// A call that must succeed: prints a FAIL line (and answers `None`) otherwise.
    pub fn call_ok(&mut self, step: &str, protocol: u32, call: u32, args: [u64; 4]) -> Option<Answer> {
        match self.call(protocol, call, args) {
            Ok(answer) if answer.result == ResultCode::SUCCESS => Some(answer),
            Ok(answer) => {
                self.check(step, false, format_args!("Warden answered {}", Code(answer.result)));
                None
            }
            Err(error) => {
                self.check(step, false, format_args!("the call did not reach Warden: {error:?}"));
                None
            }
        }
    }

    /// A call that must be refused with one of `allowed`.
    pub fn expect_refusal(
        &mut self,
        step: &str,
        protocol: u32,
        call: u32,
        args: [u64; 4],
        allowed: &[ResultCode],
    ) {
        match self.call(protocol, call, args) {
            Ok(answer) => {
                let passed = refused_with(answer.result, allowed);
                self.check(step, passed, format_args!("refused with {}", Code(answer.result)));
            }
            Err(error) => self.check(step, false, format_args!("the call did not reach Warden: {error:?}")),
        }
    }

    /// The current calling area.
    pub fn caa(&self) -> u64 {
        self.caa
    }

    /// A GPA in the free RAM.
    pub fn free(&self, offset: u64) -> u64 {
        self.info.free_start + offset
    }
}

/// A result code as `NAME (0x...)`.
pub struct Code(pub ResultCode);

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#x})", result_name(self.0), self.0.0)
    }
}

/// Runs every step the platform has; answers the verdict.
pub fn run(boot_info_gpa: u64, info: GuestBootInfo) -> Verdict {
    let platform = crate::transport::platform();
    let mut run = Run { tally: Tally::default(), info, platform, caa: info.caa };
    if !boot_info(&mut run, boot_info_gpa) {
        return run.tally.verdict();
    }
    match platform {
        Platform::Snp => {
            secrets(&mut run);
            core_calls::query_protocols(&mut run);
            pvalidate::run(&mut run);
            core_calls::remap_ca(&mut run);
            vcpu::run(&mut run);
            vtpm::run(&mut run);
            state::run(&mut run);
            ek::run(&mut run);
            attest::run(&mut run);
            event_log::run(&mut run);
            attacks::run(&mut run);
        }
        Platform::TdxL2 => {
            let attestation = core_calls::query_protocols(&mut run);
            vtpm::run(&mut run);
            state::run(&mut run);
            if attestation {
                ek::run(&mut run);
                attest::run(&mut run);
            }
            event_log::run(&mut run);
            attacks::run_tdx(&mut run);
        }
    }
    run.tally.verdict()
}

/// The guest's copy of the secrets page: Warden's keys cleared, its own kept, the SVSM fields filled.
fn secrets(run: &mut Run) {
    let mut page = [0u8; PAGE_SIZE as usize];
    // SAFETY: the secrets copy is a launch page Warden granted the guest (launch contract).
    unsafe { crate::guest_pages::read(run.info.secrets, &mut page) };
    let expected = secrets_page::Expected {
        vmpl: GUEST_VMPL,
        svsm_base: run.info.svsm_base,
        svsm_size: run.info.svsm_size,
        caa: run.info.caa,
    };
    match secrets_page::check(&page, &expected) {
        Ok(()) => {
            run.check("secrets-page", true, format_args!("VMPCK0/1 cleared, VMPCK2 kept, SVSM fields filled"))
        }
        Err(error) => run.check("secrets-page", false, format_args!("{error:?}")),
    }
}

/// The boot information must be Warden's, and say what the launch contract says for the platform the
/// guest started as; the steps use it.
fn boot_info(run: &mut Run, gpa: u64) -> bool {
    let info = run.info;
    let problem = match boot_info::check(gpa, &info, work::NEEDED) {
        // The transport was chosen from the same field; a page that names the other platform than the
        // one the guest runs as cannot pass (`Platform::assumed` makes that impossible, checked anyway).
        Ok(platform) if platform == run.platform => None,
        Ok(_) => Some("the platform changed under the guest"),
        Err(error) => Some(error.reason()),
    };
    run.check(
        "boot-info",
        problem.is_none(),
        format_args!(
            "{} (vmpl {}, apic id {}, vcpus {}, caa {:#x}, free {:#x}..{:#x}, svsm {:#x}+{:#x}, c-bit {}{})",
            problem.unwrap_or("magic and layout as launched"),
            info.vmpl,
            info.apic_id,
            info.vcpu_count,
            info.caa,
            info.free_start,
            info.free_end,
            info.svsm_base,
            info.svsm_size,
            info.c_bit,
            match run.platform {
                Platform::Snp => "",
                Platform::TdxL2 => ", TDX L2 VM 1",
            }
        ),
    );
    problem.is_none()
}
