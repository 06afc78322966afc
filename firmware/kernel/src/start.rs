//! The boot: [`warden_start`] detects the platform and hands it to [`boot`], one generic function
//! read top to bottom for every platform, from the console to the request loop.
use core::fmt::Write;

use warden_defs::boot::BootPlatform;
use warden_platform::{CpuEvidence, Platform, Termination};

use crate::boot_clock::BootClock;
use crate::boot_steps::BootSteps;
use crate::native::NativePlatform;
use crate::snp::SnpPlatform;
use crate::tdx::TdxPlatform;
use crate::{console, cpu, heap, layout_check, machine, println};

/// The banner's build flavour: a test image says so, loudly.
const FLAVOUR: &str = if cfg!(feature = "insecure_test_image") {
    "INSECURE TEST IMAGE (test keys, test hooks)"
} else if cfg!(feature = "insecure_bench_image") {
    "INSECURE BENCH IMAGE (hash benchmark)"
} else {
    "release"
};

/// Warden's first Rust code. `claim` is the boot path's platform claim (RDI), `params` the GPA of the
/// boot parameter page (RSI). Decides the platform (the claim must agree with the CPU, threat model
/// T3), records how to terminate on it, and boots it.
pub extern "C" fn warden_start(claim: u64, params: u64) -> ! {
    if cfg!(feature = "insecure_baseline_image") {
        crate::bench::baseline()
    }
    let clock = BootClock::start();
    if BootPlatform::from_register(claim) == Some(BootPlatform::Snp) {
        start_snp(clock, claim, params)
    }
    let evidence = cpu::features::evidence();
    match warden_platform::detect(claim, evidence) {
        Ok(BootPlatform::Native) => {
            machine::record(BootPlatform::Native, crate::native::exit);
            boot(NativePlatform::new(), clock, claim, params)
        }
        // `start_snp` took every SNP claim above; the evidence alone never makes one.
        Ok(BootPlatform::Snp) => machine::halt_forever(),
        Ok(BootPlatform::Tdx) => {
            machine::record(BootPlatform::Tdx, crate::tdx::report_fatal_error);
            let tdx = TdxPlatform::init()
                .unwrap_or_else(|_| crate::tdx::report_fatal_error(Termination::PlatformMismatch));
            boot(tdx, clock, claim, params)
        }
        Err(error) => {
            // With no confidential hardware present, COM1 and QEMU's exit device are the honest way to
            // say so; otherwise there is no trusted channel to report through, and the CPU halts.
            if evidence == CpuEvidence::default() {
                console::init();
                println!("warden: refusing to run: {error:?}");
                crate::native::exit(Termination::PlatformMismatch)
            }
            machine::halt_forever()
        }
    }
}

/// An SNP claim: under SEV-SNP every CPUID, port access and MSR access but SEV_STATUS and the GHCB MSR
/// raises #VC (GHCB spec (AMD 56421) §2.2), so nothing of that kind may run before the IDT has the #VC
/// entry. In order: the CPU tables with the #VC handler (no intercepted instruction); the evidence from
/// SEV_STATUS alone (`cpu::features::snp_evidence`), which must agree with the claim; the CPUID page, the
/// C-bit check and the GHCB registration (`SnpPlatform::init`, MSR protocol only). The first CPUID comes
/// after, in the boot's SIMD step, answered through the registered GHCB.
fn start_snp(clock: BootClock, claim: u64, params: u64) -> ! {
    cpu::init(Some(crate::snp::vc::entry()));
    match warden_platform::detect(claim, cpu::features::snp_evidence()) {
        Ok(BootPlatform::Snp) => {}
        // SEV_STATUS says this is no SNP guest, so there is no GHCB to report through: halt.
        _ => machine::halt_forever(),
    }
    machine::record(BootPlatform::Snp, crate::snp::terminate);
    let snp = SnpPlatform::init().unwrap_or_else(|error| crate::snp::terminate_with(error.reason()));
    boot(snp, clock, claim, params)
}

/// The boot sequence, the same on every platform: console; CPU tables; SIMD; page-table check; the
/// loader's parameters; memory;
/// services; ready; request loop. A step the platform cannot do yet is reported and ends the boot.
fn boot<P: BootSteps>(mut platform: P, clock: BootClock, claim: u64, params: u64) -> ! {
    // 1. The console, so that everything after can be reported.
    if let Err(error) = platform.start_console() {
        fail(&platform, "the console cannot start", error)
    }
    println!(
        "warden {} ({FLAVOUR}): entered with platform claim {claim}, parameters at {params:#x}",
        env!("CARGO_PKG_VERSION")
    );
    platform.start_timing();
    let mut clock = clock.phase("console");

    // 2. The CPU's own tables: GDT/TSS with IST stacks, IDT (with the platform's #VC entry).
    match platform.virtualization_exception_entry() {
        Ok(entry) => cpu::init(entry),
        Err(error) => fail(&platform, "the exception handlers cannot be installed", error),
    }
    clock = clock.phase("cpu");

    // 3. SIMD state for the hash code, which must not probe XCR0 itself (XGETBV): Warden just wrote it
    //    and says what it holds. A host that cannot run guest SIMD gets it declared empty (x87 only):
    //    the hashes run portable code. Then their known answers, on the code just chosen.
    let hints = platform.host_hints();
    let simd = cpu::features::enable_simd();
    warden_sha::declare_xcr0(if hints.simd_refused { 1 } else { simd.xcr0 });
    if let Err(error) = warden_sha::self_test() {
        fail(&platform, "hash self-test failed", error)
    }
    let sha = |algorithm| warden_sha::implementation(algorithm);
    println!(
        "warden: hashing: sha256 {:?}, sha384/512 {:?} (self-test passed{})",
        sha(warden_sha::Algorithm::Sha256),
        sha(warden_sha::Algorithm::Sha384),
        if hints.simd_refused { "; the host refuses guest SIMD" } else { "" }
    );
    clock = clock.phase("sha");

    // 4. The live page tables must say what the layout promises before Warden relies on them.
    if let Err(error) = layout_check::check() {
        fail(&platform, "page tables do not match the layout", error)
    }
    clock = clock.phase("paging");

    // 5. The loader's parameter pages, copied once and validated (threat model T3); refused, they end
    //    the boot.
    let facts = crate::boot_params::read(params)
        .unwrap_or_else(|error| fail(&platform, "the boot parameters were refused", error));
    match facts.vcpu_count {
        Some(count) => println!(
            "warden: boot parameters: {count} vCPUs, {} memory ranges",
            facts.memory_map.ranges().len()
        ),
        None => println!(
            "warden: boot parameters: no vCPU count, {} memory ranges",
            facts.memory_map.ranges().len()
        ),
    }
    clock = clock.phase("params");

    // 6. Memory: the heap, accepted through the acceptance engine where the platform requires it.
    // SAFETY: once, before `heap::init`; nothing references the heap yet.
    let memory = unsafe { platform.accept_heap() }.unwrap_or_else(|error| fail(&platform, "heap", error));
    // SAFETY: the page-table check above found the heap mapped writable to itself; nothing uses it.
    if let Err(error) = unsafe { heap::init(memory) } {
        fail(&platform, "the heap refused its memory", error)
    }
    // Where the launch measurement does not cover the parameter pages, they are measured as soon as
    // the heap exists (TDX: RTMR[0]; the TDCALL's buffer is on the heap).
    if let Err(error) = platform.measure_boot_config(&facts) {
        fail(&platform, "the boot configuration cannot be measured", error)
    }
    clock = clock.phase("heap");
    // The boot's TSC rate, against the window `start_timing` opened.
    let _ = crate::tsc::finish_window();
    clock = clock.phase("tsc");

    // 7. The guest's RAM (on SNP mapped for Warden here, with tables from the heap).
    let guest_ram = platform
        .guest_ram(&facts, &hints)
        .unwrap_or_else(|error| fail(&platform, "the guest's RAM cannot be mapped", error));
    let guest_ram_bytes: u64 = guest_ram.iter().map(|range| range.len()).sum();
    clock = clock.phase("ram");

    // 8. The services: the SVSM dispatcher with the core protocol and the vTPM, and the channel they
    //    are reached through (opened before "ready", so nothing sent after it is lost; on SEV-SNP this
    //    launches the guest, which first runs in the request loop). A platform without a channel, or
    //    without a guest to serve at all (TDX, no services), still reaches "ready", then says so and
    //    stops.
    #[cfg(warden_request_loop)]
    let services = match platform.start_services(&guest_ram, &facts) {
        Ok(mut dispatcher) => {
            let channel = platform.open_request_channel(&mut dispatcher, &facts);
            Some((dispatcher, channel))
        }
        // A platform that launches no guest yet (TDX) starts no services, says so, and still
        // reaches "ready" (its boot up to here is what is tested); the boot ends at step 10.
        Err(crate::boot_steps::BootStepError::NoGuestToServe) => {
            println!("warden: services: not started: no guest to serve on this platform yet");
            None
        }
        Err(error) => fail(&platform, "the services cannot start", error),
    };
    #[cfg(warden_request_loop)]
    let mut clock = clock.phase("services");

    // 9. Ready.
    let (used, free) = heap::usage();
    clock = clock.phase("report");
    println!(
        "warden: ready: platform {:?}, guest RAM {} MiB, sse {}, avx {}, heap {} KiB free ({used} B used), boot {}",
        platform.kind(),
        guest_ram_bytes >> 20,
        simd.sse,
        simd.avx,
        free / 1024,
        clock.summary()
    );
    #[cfg(feature = "insecure_test_image")]
    crate::ktest::run(&platform);
    #[cfg(feature = "insecure_bench_image")]
    crate::bench::run(&platform);

    // 10. The request loop.
    #[cfg(warden_request_loop)]
    match services {
        Some((mut dispatcher, Ok(channel))) => {
            use crate::boot_steps::RequestChannel;
            channel.serve_forever(&mut dispatcher)
        }
        Some((_, Err(error))) => fail(&platform, "no request channel", error),
        None => fail(&platform, "no request channel", crate::boot_steps::BootStepError::NoGuestToServe),
    }
}

/// Reports a failed boot step through the platform's own console writer (which works before
/// `println!` does) and terminates.
fn fail<P: Platform>(platform: &P, step: &str, error: impl core::fmt::Debug) -> ! {
    let _ = writeln!(PlatformConsole(platform), "warden: {step}: {error:?}");
    platform.terminate(Termination::Failure)
}

/// `core::fmt::Write` over [`Platform::console_write`].
struct PlatformConsole<'a, P>(&'a P);

impl<P: Platform> Write for PlatformConsole<'_, P> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0.console_write(s.as_bytes());
        Ok(())
    }
}
