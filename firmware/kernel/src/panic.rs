//! The panic handler: report, then terminate through the platform. Never a silent hang.
use warden_platform::Termination;

use crate::console::print_unlocked;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    print_unlocked(format_args!("\nwarden: PANIC: {info}\n"));
    crate::machine::terminate(Termination::Failure)
}
