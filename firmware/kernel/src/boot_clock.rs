//! Boot phases timed with the TSC, reported on the ready line (and read by `cargo xtask bench boot`).
use core::fmt;

/// How many phases the clock keeps.
const MAX_PHASES: usize = 12;

/// The boot's phases so far.
#[derive(Debug)]
pub struct BootClock {
    start: u64,
    last: u64,
    phases: [(&'static str, u64); MAX_PHASES],
    count: usize,
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// TSC ticks per microsecond if the (hyper)visor says: KVM/QEMU's timing leaf 0x4000_0010 (EAX = TSC kHz),
/// else CPUID 0x15 (crystal ratio). On TDX only leaf 0x15, which the TDX module answers itself with the
/// TD's configured TSC frequency (TDX Module v1.5 Base Architecture Specification (348549), "CPUID
/// Virtualization"); the hypervisor range would be the VMM's word (a #VE), which must not set the
/// vTPM's clock.
pub(crate) fn tsc_khz() -> Option<u64> {
    {
        let ask_hypervisor = crate::machine::kind() != Some(warden_defs::boot::BootPlatform::Tdx);
        let hypervisor_max = if ask_hypervisor { core::arch::x86_64::__cpuid(0x4000_0000).eax } else { 0 };
        if (0x4000_0010..0x4000_0100).contains(&hypervisor_max) {
            let khz = core::arch::x86_64::__cpuid(0x4000_0010).eax;
            if khz != 0 {
                return Some(u64::from(khz));
            }
        }
        if core::arch::x86_64::__cpuid(0).eax >= 0x15 {
            let leaf = core::arch::x86_64::__cpuid(0x15);
            if leaf.eax != 0 && leaf.ebx != 0 && leaf.ecx != 0 {
                return Some(u64::from(leaf.ecx) * u64::from(leaf.ebx) / u64::from(leaf.eax) / 1000);
            }
        }
    }
    None
}

impl BootClock {
    /// Starts timing now.
    pub fn start() -> Self {
        let now = rdtsc();
        Self { start: now, last: now, phases: [("", 0); MAX_PHASES], count: 0 }
    }

    /// Ends the phase called `name`.
    pub fn phase(mut self, name: &'static str) -> Self {
        let now = rdtsc();
        if let Some(slot) = self.phases.get_mut(self.count) {
            *slot = (name, now - self.last);
            self.count += 1;
        }
        self.last = now;
        self
    }

    /// A displayable summary: total and per-phase time, in microseconds where the TSC rate is known.
    pub fn summary(&self) -> Summary<'_> {
        // The rate Warden measured (`tsc`, native) first; else what the (hyper)visor's CPUID says.
        Summary { clock: self, khz: crate::tsc::khz().or_else(tsc_khz) }
    }
}

/// See [`BootClock::summary`].
#[derive(Debug)]
pub struct Summary<'a> {
    clock: &'a BootClock,
    khz: Option<u64>,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |f: &mut fmt::Formatter<'_>, ticks: u64| match self.khz {
            Some(khz) => write!(f, "{}.{:03}ms", ticks / khz, ticks % khz * 1000 / khz),
            None => write!(f, "{ticks}cyc"),
        };
        f.write_str("total=")?;
        show(f, self.clock.last - self.clock.start)?;
        for (name, ticks) in &self.clock.phases[..self.clock.count] {
            write!(f, " {name}=")?;
            show(f, *ticks)?;
        }
        Ok(())
    }
}
