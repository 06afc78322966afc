//! The firmware's own test cases: what can only be checked on the booted machine.
use alloc::boxed::Box;
use alloc::vec::Vec;
use warden_defs::boot::BootPlatform;
use warden_defs::layout::{self, StackId};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

use super::{TestCase, TestResult};
use crate::paging::translate;
use crate::{ensure, fw_cfg, heap, layout_check};

/// Every case, in the order they run.
pub const CASES: &[TestCase] = &[
    ("heap_allocates_and_returns_memory", heap_allocates_and_returns_memory),
    ("page_tables_match_the_layout", page_tables_match_the_layout),
    ("code_is_not_writable_and_data_not_executable", code_is_not_writable_and_data_not_executable),
    ("stacks_have_unmapped_guard_pages", stacks_have_unmapped_guard_pages),
    ("control_registers_enforce_protection", control_registers_enforce_protection),
    ("platform_is_detected_as_claimed", platform_is_detected_as_claimed),
    ("fw_cfg_reads_the_probe_file", fw_cfg_reads_the_probe_file),
];

fn heap_allocates_and_returns_memory() -> TestResult {
    let (used_before, _) = heap::usage();
    {
        let numbers: Vec<u64> = (0..100_000).collect();
        ensure!(numbers.iter().sum::<u64>() == 100_000 * 99_999 / 2, "vector contents corrupted");
        let big: Box<[u8]> = alloc::vec![0x5Au8; 64 * 1024].into_boxed_slice();
        ensure!(big.iter().all(|&b| b == 0x5A), "box contents corrupted");
        let (used_during, _) = heap::usage();
        ensure!(used_during >= used_before + 800_000 + 64 * 1024, "usage did not grow: {used_during}");
        let address = big.as_ptr() as u64;
        ensure!(
            (layout::HEAP_BASE..layout::WARDEN_END).contains(&address),
            "allocation outside the heap: {address:#x}"
        );
    }
    let (used_after, _) = heap::usage();
    ensure!(used_after == used_before, "leak: {used_before} bytes before, {used_after} after");
    Ok(())
}

fn page_tables_match_the_layout() -> TestResult {
    layout_check::check().map_err(|error| alloc::format!("{error:?}"))
}

static mut WRITABLE_STATIC: u64 = 7;

fn code_is_not_writable_and_data_not_executable() -> TestResult {
    let code = translate(code_is_not_writable_and_data_not_executable as *const () as u64)
        .map_err(|e| alloc::format!("{e:?}"))?;
    ensure!(code.executable && !code.writable, "code mapping {code:?}");
    let data = translate(&raw const WRITABLE_STATIC as u64).map_err(|e| alloc::format!("{e:?}"))?;
    ensure!(data.writable && !data.executable, "data mapping {data:?}");
    let rodata = translate(CASES.as_ptr() as u64).map_err(|e| alloc::format!("{e:?}"))?;
    ensure!(!rodata.writable && !rodata.executable, "rodata mapping {rodata:?}");
    let stub = translate(layout::BOOT_STUB_PAGE).map_err(|e| alloc::format!("{e:?}"))?;
    ensure!(stub.executable && !stub.writable, "boot stub mapping {stub:?}");
    Ok(())
}

fn stacks_have_unmapped_guard_pages() -> TestResult {
    for id in [StackId::Boot, StackId::DoubleFault, StackId::Nmi, StackId::MachineCheck, StackId::Exception] {
        ensure!(translate(layout::stack_guard(id)).is_err(), "guard page of {id:?} is mapped");
        let top = translate(layout::stack_top(id) - 8).map_err(|e| alloc::format!("{id:?}: {e:?}"))?;
        ensure!(top.writable && !top.executable, "{id:?} stack mapping {top:?}");
    }
    let here = &raw const WRITABLE_STATIC as u64;
    ensure!(here < layout::IMAGE_LIMIT, "statics outside the image");
    Ok(())
}

fn control_registers_enforce_protection() -> TestResult {
    ensure!(Cr0::read().contains(Cr0Flags::WRITE_PROTECT | Cr0Flags::PAGING), "CR0 {:?}", Cr0::read());
    ensure!(
        Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE | EferFlags::LONG_MODE_ACTIVE),
        "EFER {:?}",
        Efer::read()
    );
    ensure!(
        Cr4::read().contains(Cr4Flags::PHYSICAL_ADDRESS_EXTENSION | Cr4Flags::OSFXSR),
        "CR4 {:?}",
        Cr4::read()
    );
    Ok(())
}

/// Threat model T3: the CPU's evidence, read as the boot read it, confirms the platform Warden runs on
/// and refuses every other claim.
fn platform_is_detected_as_claimed() -> TestResult {
    match crate::machine::kind() {
        Some(BootPlatform::Snp) => {
            // CPUID would be the hypervisor's answer here: SEV_STATUS alone, as `start_snp` reads it.
            let evidence = crate::cpu::features::snp_evidence();
            ensure!(evidence.snp_active && !evidence.tdx_guest, "SEV-SNP, yet {evidence:?}");
            ensure!(warden_platform::detect(1, evidence).is_ok(), "an SNP claim is refused on SNP");
            ensure!(warden_platform::detect(0, evidence).is_err(), "a native claim is accepted on SNP");
        }
        Some(BootPlatform::Tdx) => {
            // CPUID leaf 0x21 is the TDX module's own answer (never a #VE), so it may decide here.
            let evidence = crate::cpu::features::evidence();
            ensure!(evidence.tdx_guest && !evidence.snp_active, "TDX, yet {evidence:?}");
            ensure!(warden_platform::detect(2, evidence).is_ok(), "a TDX claim is refused on TDX");
            ensure!(warden_platform::detect(0, evidence).is_err(), "a native claim is accepted on TDX");
            ensure!(warden_platform::detect(1, evidence).is_err(), "an SNP claim is accepted on TDX");
        }
        kind => {
            let evidence = crate::cpu::features::evidence();
            ensure!(kind == Some(BootPlatform::Native), "detected {kind:?}");
            ensure!(
                !evidence.snp_active && !evidence.tdx_guest,
                "QEMU without confidentiality, yet {evidence:?}"
            );
            ensure!(warden_platform::detect(0, evidence).is_ok(), "a native claim is refused");
            ensure!(
                warden_platform::detect(1, evidence).is_err(),
                "an SNP claim on native hardware is accepted"
            );
        }
    }
    Ok(())
}

fn fw_cfg_reads_the_probe_file() -> TestResult {
    let mut buffer = [0u8; 32];
    let len = fw_cfg::read_file("opt/warden/probe", &mut buffer).ok_or("no opt/warden/probe file")?;
    ensure!(&buffer[..len] == b"warden-probe", "probe file holds {:?}", &buffer[..len]);
    let mut tiny = [0u8; 4];
    ensure!(fw_cfg::read_file("opt/warden/probe", &mut tiny) == Some(4), "a short buffer is not respected");
    ensure!(fw_cfg::read_file("opt/warden/absent", &mut tiny).is_none(), "an absent file was found");
    Ok(())
}
