//! The console: COM1 (programmed directly on native, reached through the platform's hypervisor channel
//! on SEV-SNP and TDX, where port I/O is intercepted), the `log` backend, and `println!`.
//!
//! A spin lock keeps lines whole. The exception and panic paths use [`write_unlocked`] instead: they may
//! run while the lock is held by the code that faulted, and a report that deadlocks is no report.
use core::fmt::{self, Write};
use spin::{Mutex, Once};
use warden_defs::layout::COM1_PORT;

use crate::serial::Uart;

/// Where console bytes go.
enum Sink {
    /// COM1, programmed by Warden (native).
    Uart(Uart),
    /// A platform's own writer (SNP: IOIO exits through the GHCB; TDX: TDVMCALL Instruction.IO).
    Forward(fn(&[u8])),
}

impl Sink {
    fn write(&self, bytes: &[u8]) {
        match self {
            Sink::Uart(uart) => uart.write(bytes),
            Sink::Forward(write) => write(bytes),
        }
    }
}

static CONSOLE: Once<Mutex<Sink>> = Once::new();

/// Programs COM1 and installs the `log` backend. Idempotent (the first `init*` call wins).
pub fn init() {
    // SAFETY: COM1 is the console; nothing else in Warden drives it.
    CONSOLE.call_once(|| Mutex::new(Sink::Uart(unsafe { Uart::new(COM1_PORT) })));
    install_logger();
}

/// Sends the console through `write` (a platform whose port I/O the hypervisor cannot see directly)
/// and installs the `log` backend. Idempotent (the first `init*` call wins).
pub fn init_forwarded(write: fn(&[u8])) {
    CONSOLE.call_once(|| Mutex::new(Sink::Forward(write)));
    install_logger();
}

fn install_logger() {
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Writes bytes to the console (nothing before `init`).
pub fn write_bytes(bytes: &[u8]) {
    if let Some(sink) = CONSOLE.get() {
        sink.lock().write(bytes);
    }
}

/// Writes bytes without taking the lock: for the fault and panic reports only.
pub fn write_unlocked(bytes: &[u8]) {
    match CONSOLE.get().map(|sink| sink.try_lock()) {
        Some(Some(sink)) => sink.write(bytes),
        // The lock is held by the code that faulted.
        Some(None) => write_bypassing_lock(bytes),
        None => {}
    }
}

fn write_bypassing_lock(bytes: &[u8]) {
    if crate::machine::kind() == Some(warden_defs::boot::BootPlatform::Native) {
        // SAFETY: COM1 is programmed (the console exists) and the UART keeps no software state, so a
        // second handle only risks interleaving with a writer that faulted mid-line, which is acceptable.
        let uart = unsafe { Uart::attach(COM1_PORT) };
        uart.write(bytes);
    }
    // A forwarded console's writer takes the hypervisor channel's own lock, which the faulting writer
    // may hold: the report is dropped rather than deadlocking.
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
    if let Some(sink) = CONSOLE.get() {
        let mut guard = sink.lock();
        let mut writer = LockedWriter(&mut guard);
        let _ = writer.write_fmt(args);
    }
}

/// Formats to the console without the lock (fault and panic reports).
pub fn print_unlocked(args: fmt::Arguments) {
    let _ = UnlockedWriter.write_fmt(args);
}

struct LockedWriter<'a>(&'a mut Sink);

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
