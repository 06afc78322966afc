//! The console: COM1, the `log` backend, and `println!`.
//!
//! A spin lock keeps lines whole. The exception and panic paths use [`write_unlocked`] instead: they may
//! run while the lock is held by the code that faulted, and a report that deadlocks is no report.
use core::fmt::{self, Write};
use spin::{Mutex, Once};
use warden_defs::layout::COM1_PORT;

use crate::serial::Uart;

static CONSOLE: Once<Mutex<Uart>> = Once::new();

/// Programs COM1 and installs the `log` backend. Idempotent.
pub fn init() {
    // SAFETY: COM1 is the console; nothing else in Warden drives it.
    CONSOLE.call_once(|| Mutex::new(unsafe { Uart::new(COM1_PORT) }));
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Writes bytes to the console (nothing before `init`).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(uart) = CONSOLE.get() {
        uart.lock().write(bytes);
    }
}

/// Writes bytes without taking the lock: for the fault and panic reports only.
pub fn write_unlocked(bytes: &[u8]) {
    if CONSOLE.get().is_some() {
        // SAFETY: COM1 is programmed (the console exists) and the UART keeps no software state, so a
        // second handle only risks interleaving with a writer that faulted mid-line, which is acceptable.
        let uart = unsafe { Uart::attach(COM1_PORT) };
        uart.write(bytes);
    }
}

struct UnlockedWriter;

impl Write for UnlockedWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_unlocked(s.as_bytes());
        Ok(())
    }
}

/// Formats to the console (used by `println!`).
pub fn print(args: fmt::Arguments) {
    if let Some(uart) = CONSOLE.get() {
        let mut guard = uart.lock();
        let mut writer = LockedWriter(&mut guard);
        let _ = writer.write_fmt(args);
    }
}

/// Formats to the console without the lock (fault and panic reports).
pub fn print_unlocked(args: fmt::Arguments) {
    let _ = UnlockedWriter.write_fmt(args);
}

struct LockedWriter<'a>(&'a mut Uart);

impl Write for LockedWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// `println!` to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;
static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, _metadata: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        print(format_args!("[{:<5} {}] {}\n", record.level(), record.target(), record.args()));
    }
    fn flush(&self) {}
}
