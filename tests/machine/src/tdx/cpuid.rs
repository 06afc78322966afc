//! CPUID in a TD: the TDX module answers the leaves it virtualizes itself (no exit), and raises #VE for
//! the rest, which the guest forwards to the VMM with TDG.VP.VMCALL<Instruction.CPUID> ("Intel TDX
//! Module v1.5 Base Architecture Specification" (348549) §"CPUID Virtualization"). The model: basic
//! leaves up to 0x23 and extended leaves up to 0x8000_0008 are the module's (the emulated CPU's
//! answers, with leaf 0's maximum raised to 0x21 and leaf 0x21 reading "IntelTDX    "); everything
//! else (the hypervisor range 0x4000_0000.., AMD's 0x8000_001F ...) raises #VE.
use crate::cpuid_model::execute_cpuid;

/// The TDX module's own leaf: its vendor string is in EBX, EDX, ECX.
pub const LEAF_TDX: u32 = 0x21;
/// The TSC/crystal-clock leaf: a TDX module answers it with the TD's TSC frequency.
pub const LEAF_TSC: u32 = 0x15;
/// Leaf 0x15's nominal crystal clock in a TD (ECX), and the unit of TD_PARAMS.TSC_FREQUENCY (EBX).
const TD_CRYSTAL_HZ: u32 = 25_000_000;
/// The highest basic leaf the model's TDX module answers.
const MAX_BASIC: u32 = 0x23;
/// The highest extended leaf the model's TDX module answers.
const MAX_EXTENDED: u32 = 0x8000_0008;

/// The TDX module's answer for `leaf`/`subleaf`, or `None` when the leaf raises #VE.
pub fn module_answer(leaf: u32, subleaf: u32) -> Option<[u32; 4]> {
    let native = (leaf <= MAX_BASIC) || (0x8000_0000..=MAX_EXTENDED).contains(&leaf);
    if !native {
        return None;
    }
    Some(match leaf {
        0 => {
            let [eax, ebx, ecx, edx] = execute_cpuid(0, 0);
            [eax.max(LEAF_TDX), ebx, ecx, edx]
        }
        LEAF_TDX if subleaf == 0 => {
            let word = |s: &[u8; 4]| u32::from_le_bytes(*s);
            [0, word(b"Inte"), word(b"    "), word(b"lTDX")]
        }
        LEAF_TDX => [0; 4],
        LEAF_TSC => tsc_leaf(),
        0x8000_0000 => {
            let [_, ebx, ecx, edx] = execute_cpuid(leaf, 0);
            [MAX_EXTENDED, ebx, ecx, edx]
        }
        _ => execute_cpuid(leaf, subleaf),
    })
}

/// Leaf 0x15 as the TDX module sets it for a TD ("Intel TDX Module v1.5 Base Architecture
/// Specification" (348549) §"Time Stamp Counter"): EAX = 1, EBX = TSC_FREQUENCY in 25 MHz units, ECX =
/// 25 MHz, so the TSC rate is ECX × EBX / EAX. The emulated TSC is the host's (unicorn's RDTSC reads
/// it), so the model measures the host's rate once, over 20 ms, and rounds it to the 25 MHz unit.
fn tsc_leaf() -> [u32; 4] {
    static RATE: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let units = *RATE.get_or_init(|| {
        let (start, tsc) = (std::time::Instant::now(), host_tsc());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let hz = (host_tsc() - tsc) as f64 / start.elapsed().as_secs_f64();
        ((hz / f64::from(TD_CRYSTAL_HZ)).round() as u32).max(1)
    });
    [1, units, TD_CRYSTAL_HZ, 0]
}

fn host_tsc() -> u64 {
    // SAFETY: RDTSC only reads the host's time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_says_tdx_and_sends_hypervisor_leaves_to_the_vmm() {
        let [_, ebx, ecx, edx] = module_answer(LEAF_TDX, 0).unwrap();
        let bytes: Vec<u8> = [ebx, edx, ecx].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert_eq!(&bytes, b"IntelTDX    ");
        assert!(module_answer(0, 0).unwrap()[0] >= LEAF_TDX);
        assert_eq!(module_answer(0x4000_0000, 0), None);
        assert_eq!(module_answer(0x8000_001F, 0), None);
        assert_eq!(module_answer(0x8000_0000, 0).unwrap()[0], MAX_EXTENDED);
    }
}
