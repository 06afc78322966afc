//! The boot sequence, top to bottom: from the 64-bit entry to the ready line.
use spin::Once;
use warden_defs::boot::BootPlatform;
use warden_platform::{CpuEvidence, Platform, Termination};

use crate::native::NativePlatform;
use crate::{console, cpu, heap, layout_check, println};

/// The platform, once detected: the fault and panic paths terminate through it.
static PLATFORM: Once<BootPlatform> = Once::new();

/// The banner's build flavour: a test image says so, loudly.
const FLAVOUR: &str = if cfg!(feature = "insecure_test_image") {
    "INSECURE TEST IMAGE (test keys, test hooks)"
} else if cfg!(feature = "insecure_bench_image") {
    "INSECURE BENCH IMAGE (hash benchmark)"
} else {
    "release"
};

/// Warden's first Rust code. `claim` is the boot path's platform claim (RDI), `params` the GPA of the
/// boot parameter page (RSI).
pub extern "C" fn warden_start(claim: u64, params: u64) -> ! {
    if cfg!(feature = "insecure_baseline_image") {
        crate::bench::baseline()
    }
    let clock = crate::boot_clock::BootClock::start();

    // 1. The console, so that everything after can be reported.
    console::init();
    println!(
        "warden {} ({FLAVOUR}): entered with platform claim {claim}, parameters at {params:#x}",
        env!("CARGO_PKG_VERSION")
    );
    let mut clock = clock.phase("console");

    // 2. Which platform are we on? The claim must agree with the CPU (threat model T3).
    let evidence = cpu::features::evidence();
    let kind = match warden_platform::detect(claim, evidence) {
        Ok(kind) => kind,
        Err(error) => {
            println!("warden: refusing to run: {error:?}");
            // With no confidential hardware present, QEMU's exit device is the honest way to stop.
            if evidence == CpuEvidence::default() {
                crate::native::exit(Termination::PlatformMismatch)
            }
            terminate(Termination::PlatformMismatch)
        }
    };
    PLATFORM.call_once(|| kind);
    if kind == BootPlatform::Native {
        // The PIT counts while Warden boots; the ready line reads it to know the TSC rate.
        crate::tsc::start_window();
    }
    let platform = match kind {
        BootPlatform::Native => NativePlatform::new(),
        // The SNP/TDX platforms are built (GHCB / TDCALL), but the steps below are not ready for them yet
        // (the heap must be accepted first, the console and CPUID need #VC/#VE), so Warden stops here.
        BootPlatform::Snp => {
            let mut snp = crate::snp::SnpPlatform::init().unwrap_or_else(|error| {
                println!("warden: SNP set-up refused: {error:?}");
                crate::snp::terminate_with(error.reason())
            });
            // SAFETY: once, before `heap::init`; nothing references the heap yet.
            if let Err(error) = unsafe { crate::snp::heap::accept_heap(&mut snp) } {
                println!("warden: SNP heap validation failed: {error:?}");
                snp.terminate(Termination::Failure)
            }
            println!(
                "warden: SNP platform set up (C-bit {}), heap validated; the rest of the boot is not SNP-ready",
                snp.c_bit()
            );
            snp.terminate(Termination::PlatformMismatch)
        }
        BootPlatform::Tdx => {
            let mut tdx = crate::tdx::TdxPlatform::init().unwrap_or_else(|error| {
                println!("warden: TDX set-up refused: {error:?}");
                crate::tdx::report_fatal_error(Termination::PlatformMismatch)
            });
            // SAFETY: once, before `heap::init`; nothing references the heap yet.
            if let Err(error) = unsafe { crate::tdx::heap::accept_heap(&mut tdx) } {
                println!("warden: TDX heap acceptance failed: {error:?}");
                tdx.terminate(Termination::Failure)
            }
            println!(
                "warden: TDX platform set up (shared bit {:#x}), heap accepted; the rest of the boot is not TDX-ready",
                tdx.shared_bit()
            );
            tdx.terminate(Termination::PlatformMismatch)
        }
    };
    clock = clock.phase("platform");

    // 3. The CPU's own tables: GDT/TSS with IST stacks, IDT; then SIMD state for the hash code.
    cpu::init();
    let simd = cpu::features::enable_simd();
    // The hash code must not probe XCR0 itself (XGETBV): Warden just wrote it and says what it holds. A
    // host that cannot run guest SIMD gets it declared empty (x87 only): the hashes run portable code.
    let simd_refused = kind == BootPlatform::Native && host_refuses_simd();
    warden_sha::declare_xcr0(if simd_refused { 1 } else { simd.xcr0 });
    clock = clock.phase("cpu");

    // The hashes' known answers, on the code just chosen and on the portable code.
    if let Err(error) = warden_sha::self_test() {
        println!("warden: hash self-test failed: {error:?}");
        platform.terminate(Termination::Failure)
    }
    let sha = |algorithm| warden_sha::implementation(algorithm);
    println!(
        "warden: hashing: sha256 {:?}, sha384/512 {:?} (self-test passed{})",
        sha(warden_sha::Algorithm::Sha256),
        sha(warden_sha::Algorithm::Sha384),
        if simd_refused { "; the host refuses guest SIMD" } else { "" }
    );
    clock = clock.phase("sha");

    // 4. The live page tables must say what the layout promises before Warden relies on them.
    if let Err(error) = layout_check::check() {
        println!("warden: page tables do not match the layout: {error:?}");
        platform.terminate(Termination::Failure)
    }
    clock = clock.phase("paging");

    // 5. The heap. Native memory needs no acceptance; SNP/TDX accept it here first.
    // SAFETY: runs once; the initial page tables map the heap writable (checked above) and nothing else
    // uses it; on native there is nothing to accept.
    unsafe { heap::init() };
    clock = clock.phase("heap");

    // The boot's TSC rate, against the PIT window opened after platform detection.
    let _ = crate::tsc::finish_window();
    clock = clock.phase("tsc");

    // 6. The services: the SVSM dispatcher with the core protocol and the vTPM, and the transport they
    //    are reached through. "Ready" means they are up.
    // The guest's RAM as QEMU reports it (fw_cfg: many port reads, so once).
    let ram = crate::native::ram_bytes().unwrap_or(0);
    #[cfg(warden_request_loop)]
    let (mut dispatcher, transport) = {
        match crate::services::start(ram) {
            Ok(dispatcher) => (dispatcher, crate::request_loop::Transport::open()),
            Err(error) => {
                println!("warden: the services cannot start: {error:?}");
                platform.terminate(Termination::Failure)
            }
        }
    };
    #[cfg(warden_request_loop)]
    {
        clock = clock.phase("services");
    }

    let (used, free) = heap::usage();
    let ram_mib = ram >> 20;
    clock = clock.phase("report");
    println!(
        "warden: ready: platform {:?}, guest RAM {ram_mib} MiB, sse {}, avx {}, heap {} KiB free ({used} B used), boot {}",
        platform.kind(),
        simd.sse,
        simd.avx,
        free / 1024,
        clock.summary()
    );

    #[cfg(feature = "insecure_test_image")]
    crate::ktest::run(&platform);
    #[cfg(feature = "insecure_bench_image")]
    crate::bench::run(&platform);

    // 7. The request loop.
    #[cfg(warden_request_loop)]
    {
        println!("warden: serving SVSM calls (core, vTPM) on the test transport (COM2)");
        transport.serve_forever(&mut dispatcher)
    }
}

/// The fw_cfg file in which a host whose KVM cannot execute guest SIMD says so (contents `off`). KVM-PVM
/// (software virtualization, `/sys/module/kvm_pvm`) runs Warden's SSE/AVX instructions in its emulator and
/// stops the VM on those it lacks (SHA-NI's PSHUFD), and it passes the real CPUID through, so QEMU's
/// `-cpu host,-sha-ni` cannot hide them. Native only: there the host is trusted with availability anyway.
pub const SIMD_HINT_FILE: &str = "opt/warden/simd";

/// Whether the host asked (fw_cfg [`SIMD_HINT_FILE`] = `off`) that Warden use no SIMD.
pub fn host_refuses_simd() -> bool {
    let mut hint = [0u8; 8];
    let len = crate::fw_cfg::read_file(SIMD_HINT_FILE, &mut hint).unwrap_or(0);
    hint.get(..len).is_some_and(|hint| hint.trim_ascii() == b"off")
}

/// Terminates through the detected platform (QEMU's exit device, the GHCB MSR protocol's termination
/// request, TDX's ReportFatalError); before detection the CPU halts.
pub fn terminate(reason: Termination) -> ! {
    match PLATFORM.get() {
        Some(BootPlatform::Native) => crate::native::exit(reason),
        Some(BootPlatform::Snp) => crate::snp::terminate_with(crate::snp::Reason::Termination(reason)),
        Some(BootPlatform::Tdx) => crate::tdx::report_fatal_error(reason),
        None => cpu::halt_forever(),
    }
}
