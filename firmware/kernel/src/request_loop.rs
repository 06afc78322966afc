//! The native request loop: SVSM calls arrive as frames of the guest test transport on COM2
//! (`warden_svsm::transport`) and go through the very dispatcher a VMGEXIT reaches on SNP.
//!
//! The stream is hostile (threat model T4): a frame is found by its magic, its length is bounded by
//! the header check before anything is read into memory, and a frame that fails any check is answered
//! with its error status, never a panic.
use alloc::vec;
use warden_defs::layout::COM2_PORT;
use warden_svsm::Dispatcher;
use warden_svsm::transport::{REQUEST_MAGIC, frame_len, serve};

use crate::serial::Uart;
use crate::services::{NATIVE_CALLER, NoRmp};

/// The transport's serial port. Opened before the ready line: programming the UART clears its FIFOs,
/// so a host that sends after "ready" loses nothing.
#[derive(Debug)]
pub struct Transport {
    uart: Uart,
}

impl Transport {
    /// Programs COM2.
    pub fn open() -> Self {
        // SAFETY: COM2 is the transport's port; nothing else in Warden drives it.
        Self { uart: unsafe { Uart::new(COM2_PORT) } }
    }
}

impl crate::boot_steps::RequestChannel for Transport {
    /// Serves frames forever.
    fn serve_forever(self, dispatcher: &mut Dispatcher) -> ! {
        crate::println!("warden: serving SVSM calls (core, vTPM) on the test transport (COM2)");
        serve_forever(&self.uart, dispatcher)
    }
}

fn serve_forever(uart: &Uart, dispatcher: &mut Dispatcher) -> ! {
    let mut rmp = NoRmp;
    loop {
        // Resynchronise on the magic: slide a window until it holds "WSRQ".
        let mut head = [0u8; 8];
        let mut seen = 0;
        while seen < 4 {
            let byte = uart.read_byte();
            if byte == REQUEST_MAGIC[seen] {
                head[seen] = byte;
                seen += 1;
            } else {
                seen = usize::from(byte == REQUEST_MAGIC[0]);
            }
        }
        for slot in &mut head[4..] {
            *slot = uart.read_byte();
        }
        let response = match frame_len(head) {
            Ok(len) => {
                let mut frame = vec![0u8; len];
                frame[..8].copy_from_slice(&head);
                for slot in &mut frame[8..] {
                    *slot = uart.read_byte();
                }
                serve(dispatcher, &mut rmp, NATIVE_CALLER, &frame)
            }
            // The header is refused: `serve` answers with the reason.
            Err(_) => serve(dispatcher, &mut rmp, NATIVE_CALLER, &head),
        };
        uart.write(&response);
    }
}
