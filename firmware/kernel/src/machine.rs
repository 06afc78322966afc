//! The detected platform as the fault, panic and test paths reach it: which platform Warden runs on and
//! how it terminates there, recorded once by `start` after detection. It depends on no platform module
//! (they hand it their termination function), so every module can stop Warden without an import cycle.
use spin::Once;
use warden_defs::boot::BootPlatform;
use warden_platform::Termination;

/// The detected platform and its termination (QEMU's exit device, the GHCB MSR protocol's termination
/// request, TDX's ReportFatalError).
struct Machine {
    kind: BootPlatform,
    terminate: fn(Termination) -> !,
}

static MACHINE: Once<Machine> = Once::new();

/// Records the detected platform; the first call wins (detection runs once).
pub fn record(kind: BootPlatform, terminate: fn(Termination) -> !) {
    MACHINE.call_once(|| Machine { kind, terminate });
}

/// The detected platform, if detection has run.
pub fn kind() -> Option<BootPlatform> {
    MACHINE.get().map(|machine| machine.kind)
}

/// Terminates through the detected platform; before detection the CPU halts.
pub fn terminate(reason: Termination) -> ! {
    match MACHINE.get() {
        Some(machine) => (machine.terminate)(reason),
        None => halt_forever(),
    }
}

/// Stops this CPU for good (used after termination was requested, in case the hypervisor ignores it).
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
