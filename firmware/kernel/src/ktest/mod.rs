//! The in-firmware test harness (test images only): runs the firmware's own test cases after boot, prints
//! each result on the console, then ends QEMU through the platform with a pass/fail status.
//!
//! The host decides what runs through fw_cfg file `opt/warden/test`: absent or `all` runs every case;
//! `fault:<name>` deliberately triggers one fault (see `faults.rs`) so the host can check its report.
use alloc::string::String;
use warden_defs::boot::BootPlatform;
use warden_platform::{Platform, Termination};

use crate::{fw_cfg, println};

mod cases;
mod faults;
mod services;
mod sha;
mod snp;
mod tdx;

/// A test case: `Ok` or why it failed.
pub type TestResult = Result<(), String>;

/// A named test case.
pub type TestCase = (&'static str, fn() -> TestResult);

/// Every suite, in the order they run. A module with cases adds its list here.
const SUITES: &[&[TestCase]] = &[cases::CASES, sha::CASES, snp::CASES, tdx::CASES, services::CASES];

/// Cases that need QEMU's devices (fw_cfg), which only the native platform has: reported as skipped
/// elsewhere, never run and never counted as passed.
const NATIVE_ONLY: &[&str] = &["fw_cfg_reads_the_probe_file"];

/// Cases that issue TDCALLs, which only a TD has: reported as skipped elsewhere.
const TDX_ONLY: &[TestCase] = tdx::CASES;

/// Runs what the host asked for, then terminates.
pub fn run(platform: &impl Platform) -> ! {
    let mut request = [0u8; 64];
    let len = fw_cfg::read_file("opt/warden/test", &mut request).unwrap_or(0);
    let request = core::str::from_utf8(&request[..len]).unwrap_or("").trim();
    if let Some(fault) = request.strip_prefix("fault:") {
        faults::trigger(fault);
        println!("warden-test: unknown fault {fault:?}");
        platform.terminate(Termination::Failure)
    }

    let total: usize = SUITES.iter().map(|suite| suite.len()).sum();
    println!("warden-test: running {total} tests");
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let native = crate::machine::kind() == Some(BootPlatform::Native);
    let tdx = crate::machine::kind() == Some(BootPlatform::Tdx);
    for (name, case) in SUITES.iter().flat_map(|suite| suite.iter()) {
        if !native && NATIVE_ONLY.contains(name) {
            skipped += 1;
            println!("test {name} ... skipped (native only)");
            continue;
        }
        if !tdx && TDX_ONLY.iter().any(|(tdx_name, _)| tdx_name == name) {
            skipped += 1;
            println!("test {name} ... skipped (TDX only)");
            continue;
        }
        match case() {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(reason) => {
                failed += 1;
                println!("test {name} ... FAILED: {reason}");
            }
        }
    }
    if skipped == 0 {
        println!("warden-test: {passed} passed, {failed} failed");
    } else {
        println!("warden-test: {passed} passed, {failed} failed, {skipped} skipped (not for this platform)");
    }
    platform.terminate(if failed == 0 { Termination::TestsPassed } else { Termination::Failure })
}

/// Fails the case with a formatted message unless `condition` holds.
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($message:tt)*) => {
        if !$condition {
            return Err(alloc::format!($($message)*));
        }
    };
}
