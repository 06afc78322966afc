//! The native request loop: the host program that plays the guest writes its call into QEMU's guest RAM
//! (shared with it) and rings one byte on COM2; Warden serves it from guest memory through the code a
//! VMGEXIT reaches on SNP (`warden_svsm::doorbell`) and answers with one byte.
//!
//! Only the doorbell crosses the serial port, two bytes per call: carrying the pages a byte at a time
//! cost ~366 ms per vTPM call under TCG. The serial port stays the doorbell because it is the one device
//! both TCG and KVM give a polling firmware without interrupts or PCI set-up, and QEMU hands its bytes
//! to a host socket as they come.
use warden_defs::layout::COM2_PORT;
use warden_svsm::Dispatcher;
use warden_svsm::doorbell::serve_doorbell;

use crate::serial::Uart;
use crate::services::{NATIVE_CALLER, NoRmp};
use crate::snp::guest_memory::{GuestMapping, SnpGuestMemory};
use warden_svsm::Paired;

/// The doorbell (COM2) and guest RAM as Warden mapped it. Opened before the ready line: programming the
/// UART clears its FIFOs, so a host that rings after "ready" loses nothing.
#[derive(Debug)]
pub struct DoorbellChannel {
    uart: Uart,
    /// The same copies (one `rep movsb` each) as on SNP; off SNP no #VC can interrupt them.
    memory: SnpGuestMemory,
}

impl DoorbellChannel {
    /// Programs COM2; the host's calls are read through `mapping`.
    pub fn open(mapping: GuestMapping) -> Self {
        // SAFETY: COM2 is the doorbell's port; nothing else in Warden drives it.
        Self { uart: unsafe { Uart::new(COM2_PORT) }, memory: SnpGuestMemory::new(mapping) }
    }
}

impl crate::boot_steps::RequestChannel for DoorbellChannel {
    /// Serves doorbells forever.
    fn serve_forever(mut self, dispatcher: &mut Dispatcher) -> ! {
        crate::println!(
            "warden: serving SVSM calls (core, vTPM) from guest RAM, doorbell on COM2 (calling area {:#x})",
            warden_svsm::doorbell::NATIVE_BOOT_CAA
        );
        let mut rmp = NoRmp;
        loop {
            let byte = self.uart.read_byte();
            let mut env = Paired { platform: &mut rmp, memory: &mut self.memory };
            let answer = serve_doorbell(dispatcher, &mut env, NATIVE_CALLER, byte);
            self.uart.write(&[answer as u8]);
        }
    }
}
