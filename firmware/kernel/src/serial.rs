//! A 16550 UART driven by port I/O: the console (COM1) and, on native, the guest test transport (COM2).
use crate::port::{inb, outb};

/// One 16550 UART at a fixed I/O base.
#[derive(Debug)]
pub struct Uart {
    base: u16,
}

const DATA: u16 = 0;
const INTERRUPT_ENABLE: u16 = 1;
const FIFO_CONTROL: u16 = 2;
const LINE_CONTROL: u16 = 3;
const MODEM_CONTROL: u16 = 4;
const LINE_STATUS: u16 = 5;
#[cfg(warden_request_loop)]
const LINE_STATUS_DATA_READY: u8 = 1 << 0;
const LINE_STATUS_TX_EMPTY: u8 = 1 << 5;

impl Uart {
    /// The UART at `base`, programmed for 115200 8N1 with FIFOs on and interrupts off.
    ///
    /// # Safety
    /// `base` must be a 16550's I/O base that nothing else drives.
    pub unsafe fn new(base: u16) -> Self {
        // SAFETY: the caller gives us this UART; these writes only program it.
        unsafe {
            outb(base + INTERRUPT_ENABLE, 0x00);
            outb(base + LINE_CONTROL, 0x80); // divisor latch
            outb(base + DATA, 0x01); // 115200 baud
            outb(base + INTERRUPT_ENABLE, 0x00);
            outb(base + LINE_CONTROL, 0x03); // 8N1
            outb(base + FIFO_CONTROL, 0xC7);
            outb(base + MODEM_CONTROL, 0x03);
        }
        Self { base }
    }

    /// A handle to a UART that is already programmed.
    ///
    /// # Safety
    /// As for [`Uart::new`], and `new` has run for `base`.
    pub const unsafe fn attach(base: u16) -> Self {
        Self { base }
    }

    /// Sends bytes, waiting for room in the transmitter.
    pub fn write(&self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: `new` established that this UART is ours.
            unsafe {
                while inb(self.base + LINE_STATUS) & LINE_STATUS_TX_EMPTY == 0 {}
                outb(self.base + DATA, byte);
            }
        }
    }

    /// Receives one byte, waiting for it.
    #[cfg(warden_request_loop)]
    pub fn read_byte(&self) -> u8 {
        // SAFETY: `new` established that this UART is ours.
        unsafe {
            while inb(self.base + LINE_STATUS) & LINE_STATUS_DATA_READY == 0 {
                core::hint::spin_loop();
            }
            inb(self.base + DATA)
        }
    }
}
