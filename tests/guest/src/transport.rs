//! Which platform the guest runs on, chosen once from the boot-information page before the first
//! print, and the port I/O that differs between them: on SEV-SNP an IN or OUT would raise #VC, so each
//! byte is a GHCB IOIO exit on the guest's own GHCB (GHCB spec (AMD 56421) §4.1.2, IOIO); on TDX the
//! guest is Warden's L2 and executes IN and OUT, each an L2 exit (Intel SDM vol. 3, Appendix C, basic
//! reason 30) that Warden forwards to the host or answers itself. The SVSM calls are `svsm_call`'s.
use core::sync::atomic::{AtomicBool, Ordering};

use warden_defs::ghcb::exit::IoWidth;
use warden_platform::ghcb_exits;
use warden_test_guest::boot_info::Platform;

use crate::ghcb_page::SharedGhcb;
use crate::instr;

/// Set once, before the first print, when the guest is TDX's L2; SNP otherwise.
static TDX_L2: AtomicBool = AtomicBool::new(false);

/// Records the platform the guest runs on; called once, first thing.
pub fn select(platform: Platform) {
    TDX_L2.store(platform == Platform::TdxL2, Ordering::SeqCst);
}

/// The platform [`select`] recorded.
pub fn platform() -> Platform {
    if TDX_L2.load(Ordering::SeqCst) { Platform::TdxL2 } else { Platform::Snp }
}

/// The hypervisor refused a GHCB IOIO exit (SNP only: on TDX the L1 answers every port).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRefused;

/// Writes one byte to `port`.
pub fn port_out(port: u16, byte: u8) -> Result<(), PortRefused> {
    match platform() {
        Platform::Snp => {
            ghcb_exits::io_out(&mut SharedGhcb, port, IoWidth::Byte, u64::from(byte)).map_err(|_| PortRefused)
        }
        Platform::TdxL2 => {
            instr::out_byte(port, byte);
            Ok(())
        }
    }
}

/// Reads one byte from `port`.
pub fn port_in(port: u16) -> Result<u8, PortRefused> {
    match platform() {
        Platform::Snp => ghcb_exits::io_in(&mut SharedGhcb, port, IoWidth::Byte)
            .map(|value| value as u8)
            .map_err(|_| PortRefused),
        Platform::TdxL2 => Ok(instr::in_byte(port)),
    }
}
