//! The guest's COM1 console: every byte an OUT to port 0x3F8 through a GHCB IOIO exit on its own
//! shared GHCB (GHCB spec (AMD 56421) §4.1.2, IOIO), never an OUT instruction, which would raise #VC.
use core::fmt;

use warden_defs::ghcb::exit::IoWidth;
use warden_platform::ghcb_exits;

use crate::ghcb_page::SharedGhcb;

/// COM1's data port.
const COM1: u16 = 0x3F8;

/// Writes to COM1.
#[derive(Debug)]
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            ghcb_exits::io_out(&mut SharedGhcb, COM1, IoWidth::Byte, u64::from(byte))
                .map_err(|_| fmt::Error)?;
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
