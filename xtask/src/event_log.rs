//! `cargo xtask run --event-log FILE`: the TCG event log of Warden's measured boot, fetched from the
//! booted firmware through Warden's measured-boot protocol (GET_EVENT_LOG, `docs/measured-boot.md`)
//! over the guest test transport, the way a guest asks for it: once with no buffer to learn the size,
//! then with a buffer that large.
use std::path::Path;

use warden_defs::svsm::{CallId, PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, measured_boot_call};
use warden_svsm::GuestRegs;
use warden_svsm::transport::MAX_PAGES;

use crate::bridge::{BUFFER_GPA, Transport};

const PAGE: usize = 4096;

/// One GET_EVENT_LOG call with a buffer of `size` bytes at [`BUFFER_GPA`], carried by `pages`.
fn get_event_log(
    transport: &mut Transport,
    size: u64,
    pages: &[(u64, &[u8; PAGE])],
) -> crate::Result<warden_svsm::transport::Response> {
    let regs = GuestRegs {
        rax: CallId { protocol: PROTOCOL_WARDEN_MEASURED_BOOT, call: measured_boot_call::GET_EVENT_LOG }
            .to_rax(),
        rcx: BUFFER_GPA,
        rdx: size,
        ..Default::default()
    };
    transport.call(&regs, pages)
}

/// The firmware's event log.
pub fn fetch(transport: &mut Transport) -> crate::Result<Vec<u8>> {
    // Size 0 asks for the size: INVALID_PARAMETER with RCX = the log's length.
    let asked = get_event_log(transport, 0, &[])?;
    let (rax, len) = (asked.regs.rax, asked.regs.rcx);
    if rax != ResultCode::INVALID_PARAMETER.0 {
        return Err(
            format!("GET_EVENT_LOG without a buffer answered {rax:#x} (is the protocol served?)").into()
        );
    }
    let len = usize::try_from(len)?;
    let count = len.div_ceil(PAGE).max(1);
    if count > MAX_PAGES {
        return Err(format!("the event log ({len} bytes) is larger than one transport frame carries").into());
    }
    let blank = [0u8; PAGE];
    let pages: Vec<(u64, &[u8; PAGE])> =
        (0..count).map(|i| (BUFFER_GPA + (i * PAGE) as u64, &blank)).collect();
    let response = get_event_log(transport, (count * PAGE) as u64, &pages)?;
    if response.regs.rax != ResultCode::SUCCESS.0 || response.regs.rcx != len as u64 {
        return Err(format!(
            "GET_EVENT_LOG answered {:#x} with size {}",
            response.regs.rax, response.regs.rcx
        )
        .into());
    }
    let mut log: Vec<u8> = response.pages.pages().flat_map(|(_, page)| page.iter().copied()).collect();
    log.truncate(len);
    Ok(log)
}

/// Fetches the log and writes it to `path`; says where and how large.
pub fn write(transport: &mut Transport, path: &Path) -> crate::Result {
    let log = fetch(transport)?;
    std::fs::write(path, &log)
        .map_err(|e| format!("cannot write the event log to {}: {e}", path.display()))?;
    eprintln!("xtask: wrote Warden's event log ({} bytes) to {}", log.len(), path.display());
    Ok(())
}
