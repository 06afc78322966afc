//! The native platform: QEMU without confidentiality (KVM or TCG). Memory needs no acceptance, the
//! hypervisor is reached through plain port I/O, and termination is QEMU's `isa-debug-exit` device.
use warden_defs::boot::BootPlatform;
use warden_defs::layout::DEBUG_EXIT_PORT;
use warden_platform::{Platform, Termination};

use crate::{console, cpu, port};

/// The native platform. Only `start` creates it, after the platform check.
#[derive(Debug)]
pub struct NativePlatform(());

impl NativePlatform {
    /// The native platform; `start` calls this once `warden_platform::detect` said native.
    pub(crate) fn new() -> Self {
        Self(())
    }
}

/// The byte written to `isa-debug-exit` for each reason; QEMU exits with `(byte << 1) | 1`.
pub const fn exit_code(reason: Termination) -> u8 {
    match reason {
        Termination::TestsPassed => 0x10,
        Termination::Failure => 0x11,
        Termination::PlatformMismatch => 0x12,
    }
}

/// Ends the VM through `isa-debug-exit`; halts if the device is absent.
pub fn exit(reason: Termination) -> ! {
    // SAFETY: port 0xF4 is QEMU's isa-debug-exit when present (it ends the VM), and an unclaimed port
    // otherwise (the write is dropped).
    unsafe { port::outb(DEBUG_EXIT_PORT, exit_code(reason)) };
    cpu::halt_forever()
}

impl Platform for NativePlatform {
    fn kind(&self) -> BootPlatform {
        BootPlatform::Native
    }

    fn console_write(&self, bytes: &[u8]) {
        console::write_bytes(bytes);
    }

    fn terminate(&self, reason: Termination) -> ! {
        exit(reason)
    }
}
