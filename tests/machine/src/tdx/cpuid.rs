//! CPUID in a TD: the TDX module answers the leaves it virtualizes itself (no exit), and raises #VE for
//! the rest, which the guest forwards to the VMM with TDG.VP.VMCALL<Instruction.CPUID> ("Intel TDX
//! Module v1.5 Base Architecture Specification" (348549) §"CPUID Virtualization"). The model: basic
//! leaves up to 0x23 and extended leaves up to 0x8000_0008 are the module's (the emulated CPU's
//! answers, with leaf 0's maximum raised to 0x21 and leaf 0x21 reading "IntelTDX    "); everything
//! else (the hypervisor range 0x4000_0000.., AMD's 0x8000_001F ...) raises #VE. Leaf 0x15 is the TD's
//! TSC frequency as the TDX module reports it (EAX = 1, ECX = 25 MHz, EBX = the frequency in 25 MHz
//! units), here the emulated CPU's TSC rate, measured once.
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};

use crate::cpuid_model::execute_cpuid;

/// The TDX module's own leaf: its vendor string is in EBX, EDX, ECX.
pub const LEAF_TDX: u32 = 0x21;
/// The TSC/crystal ratio leaf.
pub const LEAF_TSC: u32 = 0x15;
/// The crystal clock the TDX module reports in leaf 0x15 ECX: 25 MHz.
const TSC_CRYSTAL_HZ: u32 = 25_000_000;
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
        LEAF_TSC => [1, tsc_25mhz_units(), TSC_CRYSTAL_HZ, 0],
        0x8000_0000 => {
            let [_, ebx, ecx, edx] = execute_cpuid(leaf, 0);
            [MAX_EXTENDED, ebx, ecx, edx]
        }
        _ => execute_cpuid(leaf, subleaf),
    })
}

/// The emulated CPU's TSC rate in 25 MHz units (unicorn's RDTSC reads the host's counter): two RDTSCs
/// on a scratch engine 50 ms apart, measured on first use.
fn tsc_25mhz_units() -> u32 {
    static UNITS: OnceLock<u32> = OnceLock::new();
    *UNITS.get_or_init(|| {
        let read = || -> Option<u64> {
            let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64).ok()?;
            uc.mem_map(0x1000, 0x1000, Prot::ALL).ok()?;
            uc.mem_write(0x1000, &[0x0F, 0x31]).ok()?;
            uc.emu_start(0x1000, 0x1002, 0, 0).ok()?;
            Some(
                (uc.reg_read(RegisterX86::RDX).ok()? << 32)
                    | (uc.reg_read(RegisterX86::RAX).ok()? & 0xFFFF_FFFF),
            )
        };
        let t0 = Instant::now();
        let a = read();
        std::thread::sleep(Duration::from_millis(50));
        let (b, seconds) = (read(), t0.elapsed().as_secs_f64());
        match (a, b) {
            (Some(a), Some(b)) if b > a => {
                ((b - a) as f64 / seconds / f64::from(TSC_CRYSTAL_HZ)).round().max(1.0) as u32
            }
            // No usable counter: report 1 GHz rather than nothing.
            _ => 40,
        }
    })
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

    #[test]
    fn leaf_0x15_gives_a_tsc_rate_close_to_the_counter() {
        let [eax, ebx, ecx, _] = module_answer(LEAF_TSC, 0).unwrap();
        assert_eq!((eax, ecx), (1, TSC_CRYSTAL_HZ));
        let hz = u64::from(ebx) * u64::from(TSC_CRYSTAL_HZ);
        assert!((100_000_000..10_000_000_000).contains(&hz), "{hz} Hz");
    }
}
