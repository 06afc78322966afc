//! `cargo xtask run --event-log FILE`: the TCG event log of Warden's measured boot, fetched from the
//! booted firmware through Warden's measured-boot protocol (GET_EVENT_LOG, `docs/measured-boot.md`)
//! over the native guest channel, the way a guest asks for it: once with no buffer to learn the size,
//! then with a buffer that large in guest RAM.
use std::path::Path;

use warden_defs::svsm::{CallId, PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, measured_boot_call};
use warden_svsm::doorbell::CallRegisters;

use crate::bridge::{BUFFER_GPA, Channel};

const PAGE: usize = 4096;
/// The most pages the bridge's buffer at [`BUFFER_GPA`] may take (guest RAM up to Warden's base is free
/// for the host's calls; a log is a few KiB).
const MAX_LOG_PAGES: usize = 16;

/// One GET_EVENT_LOG call with a buffer of `size` bytes at [`BUFFER_GPA`].
fn get_event_log(channel: &mut Channel, size: u64) -> crate::Result<CallRegisters> {
    let regs = CallRegisters {
        rax: CallId { protocol: PROTOCOL_WARDEN_MEASURED_BOOT, call: measured_boot_call::GET_EVENT_LOG }
            .to_rax(),
        rcx: BUFFER_GPA,
        rdx: size,
        ..Default::default()
    };
    channel.call(&regs)
}

/// The firmware's event log.
pub fn fetch(channel: &mut Channel) -> crate::Result<Vec<u8>> {
    // Size 0 asks for the size: INVALID_PARAMETER with RCX = the log's length.
    let asked = get_event_log(channel, 0)?;
    let (rax, len) = (asked.rax, asked.rcx);
    if rax != ResultCode::INVALID_PARAMETER.0 {
        return Err(
            format!("GET_EVENT_LOG without a buffer answered {rax:#x} (is the protocol served?)").into()
        );
    }
    let len = usize::try_from(len)?;
    let count = len.div_ceil(PAGE).max(1);
    if count > MAX_LOG_PAGES {
        return Err(format!("the event log ({len} bytes) is larger than the bridge's buffer").into());
    }
    let answer = get_event_log(channel, (count * PAGE) as u64)?;
    if answer.rax != ResultCode::SUCCESS.0 || answer.rcx != len as u64 {
        return Err(format!("GET_EVENT_LOG answered {:#x} with size {}", answer.rax, answer.rcx).into());
    }
    let mut log = vec![0u8; len];
    channel.read_guest(BUFFER_GPA, &mut log)?;
    Ok(log)
}

/// Fetches the log and writes it to `path`; says where and how large.
pub fn write(channel: &mut Channel, path: &Path) -> crate::Result {
    let log = fetch(channel)?;
    std::fs::write(path, &log)
        .map_err(|e| format!("cannot write the event log to {}: {e}", path.display()))?;
    eprintln!("xtask: wrote Warden's event log ({} bytes) to {}", log.len(), path.display());
    Ok(())
}
