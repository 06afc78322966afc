//! The guest's COM1 console: every byte an OUT to port 0x3F8, made the platform's way (`transport`:
//! a GHCB IOIO exit on SEV-SNP, never an OUT instruction, which would raise #VC; the OUT instruction
//! itself on TDX, an L2 exit Warden forwards to the host).
use core::fmt;

use crate::transport;

/// COM1's data port.
const COM1: u16 = 0x3F8;

/// Writes to COM1.
#[derive(Debug)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            transport::port_out(COM1, byte).map_err(|_| fmt::Error)?;
        }
        Ok(())
    }
}

/// Prints a line on COM1; a console the hypervisor refuses is ignored (there is nowhere else to say so).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::console::Console, $($arg)*);
    }};
}
