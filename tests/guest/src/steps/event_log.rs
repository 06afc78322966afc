//! Warden's measured-boot protocol (`docs/measured-boot.md`): GET_EVENT_LOG with no buffer answers
//! INVALID_PARAMETER and the log's size in RCX; with a page that large it copies the TCG crypto-agile
//! log there (TCG PC Client PFP §10.2): the Spec ID event first, the StartupLocality event with
//! locality 4 (Warden started its vTPM as an H-CRTM) after it. Then the launch event: its digests must
//! be the hashes of its data, and its text (the launch digest Warden extended into PCR 0) is printed
//! whole, for a host test to compare with `cargo xtask measure` (`pcr0_launch.rs` of tests/machine).
use sha2::{Digest, Sha256, Sha384};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::svsm::{PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, measured_boot_call};
use warden_test_guest::launch_event::{self, TEXT_MAX};

use super::{Code, Run, work};
use crate::guest_pages;

/// The whole step.
pub fn run(run: &mut Run) {
    let call = measured_boot_call::GET_EVENT_LOG;
    let size = match run.call(PROTOCOL_WARDEN_MEASURED_BOOT, call, [0, 0, 0, 0]) {
        Ok(answer) => {
            let passed =
                answer.result == ResultCode::INVALID_PARAMETER && (1..=PAGE_SIZE).contains(&answer.rcx);
            run.check(
                "event-log size",
                passed,
                format_args!("{}, RCX = {} bytes", Code(answer.result), answer.rcx),
            );
            answer.rcx
        }
        Err(error) => {
            run.check("event-log size", false, format_args!("the call did not reach Warden: {error:?}"));
            return;
        }
    };
    let gpa = run.free(work::VTPM_BUFFER);
    let Some(answer) =
        run.call_ok("event-log fetch", PROTOCOL_WARDEN_MEASURED_BOOT, call, [gpa, PAGE_SIZE, 0, 0])
    else {
        return;
    };
    let mut page = [0u8; PAGE_SIZE as usize];
    // SAFETY: the vTPM buffer is a validated page of the guest's (work::LIST), used for nothing else now;
    // Warden wrote the log into it during the call.
    unsafe { guest_pages::read(gpa, &mut page) };
    let log = &page[..(answer.rcx.min(PAGE_SIZE)) as usize];
    // TCG_PCClientPCREvent: PCR 0, EV_NO_ACTION (3), then at 32 the Spec ID event's signature.
    let spec_id =
        log.get(..8) == Some(&[0, 0, 0, 0, 3, 0, 0, 0]) && log.get(32..48) == Some(b"Spec ID Event03\0");
    let locality = log.windows(17).any(|w| w == b"StartupLocality\0\x04");
    run.check(
        "event-log fetch",
        answer.rcx == size && spec_id && locality,
        format_args!("{} bytes, Spec ID event {spec_id}, StartupLocality 4 {locality}", answer.rcx),
    );
    launch(run, log);
}

/// The launch event's check: found, digests that are its data's hashes, printable text.
fn launch(run: &mut Run, log: &[u8]) {
    let event = match launch_event::find(log) {
        Ok(event) => event,
        Err(error) => {
            run.check("event-log launch event", false, format_args!("{error:?}"));
            return;
        }
    };
    let hashed = event.sha256 == <[u8; 32]>::from(Sha256::digest(event.data))
        && event.sha384 == <[u8; 48]>::from(Sha384::digest(event.data));
    let mut text = [0u8; TEXT_MAX];
    match launch_event::ascii_text(event.data, &mut text) {
        Some(text) => run.check("event-log launch event", hashed, format_args!("{text}")),
        None => {
            run.check("event-log launch event", false, format_args!("its data is not a short ASCII text"))
        }
    }
}
