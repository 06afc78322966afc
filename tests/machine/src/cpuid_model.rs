//! The CPUID the machine presents: what the emulated CPU itself answers (so nothing is advertised that
//! unicorn cannot execute), plus the SEV leaf 0x8000_001F saying SEV, SEV-ES, SNP and VMPLs with the
//! machine's C-bit, and the physical address width the emulated MMU really has.
use unicorn_engine::unicorn_const::{Arch, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};
use warden_defs::snp_cpuid::{LEAF_ENCRYPTED_MEMORY, SNP_CPUID_MAX_ENTRIES, SnpCpuidFunction};

use crate::memory::{C_BIT, PHYS_ADDR_BITS};

/// The (leaf, subleaf) pairs the CPUID page carries: the ones an SVSM and its guest ask for.
const LEAVES: &[(u32, u32)] = &[
    (0, 0),
    (1, 0),
    (7, 0),
    (0xB, 0),
    (0xB, 1),
    (0xD, 0),
    (0xD, 1),
    (0x8000_0000, 0),
    (0x8000_0001, 0),
    (0x8000_0007, 0),
    (0x8000_0008, 0),
    (LEAF_ENCRYPTED_MEMORY, 0),
];

/// 0x8000_001F EAX: SME (0), SEV (1), SEV-ES (3), SEV-SNP (4), VMPL (5) (AMD64 APM vol. 3, CPUID
/// Fn8000_001F).
const SEV_FEATURES_EAX: u32 = (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 5);
/// 0x8000_001F EBX[15:12]: number of VMPLs.
const VMPL_COUNT: u32 = 4;

/// The machine's CPUID answers, one per (leaf, subleaf).
#[derive(Clone, Debug)]
pub struct CpuidModel {
    entries: Vec<SnpCpuidFunction>,
}

impl CpuidModel {
    /// Asks a scratch engine (the same CPU model the machine runs) for every leaf in [`LEAVES`].
    pub fn probe() -> Self {
        let entries = LEAVES
            .iter()
            .map(|&(leaf, sub)| {
                let [eax, ebx, ecx, edx] = match leaf {
                    LEAF_ENCRYPTED_MEMORY => [SEV_FEATURES_EAX, u32::from(C_BIT) | (VMPL_COUNT << 12), 0, 0],
                    0x8000_0000 => {
                        let [_, b, c, d] = execute_cpuid(leaf, sub);
                        [LEAF_ENCRYPTED_MEMORY, b, c, d]
                    }
                    // EAX[7:0] physical, [15:8] linear address bits.
                    0x8000_0008 => {
                        let [_, b, c, d] = execute_cpuid(leaf, sub);
                        [PHYS_ADDR_BITS | (48 << 8), b, c, d]
                    }
                    _ => execute_cpuid(leaf, sub),
                };
                SnpCpuidFunction { eax_in: leaf, ecx_in: sub, eax, ebx, ecx, edx, ..Default::default() }
            })
            .collect();
        Self { entries }
    }

    /// The answer for `leaf`/`subleaf`: the table's, or zeros for a leaf the machine does not model.
    pub fn lookup(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let subleaf_matters = matches!(leaf, 7 | 0xB | 0xD);
        self.entries
            .iter()
            .find(|e| e.eax_in == leaf && (!subleaf_matters || e.ecx_in == subleaf))
            .map_or([0; 4], |e| [e.eax, e.ebx, e.ecx, e.edx])
    }

    /// The same model with `leaf`/`subleaf` answering `registers` (EAX, EBX, ECX, EDX), or without
    /// that entry when `registers` is `None`: a CPUID page the PSP would refuse, for tests of what the
    /// firmware does with one.
    pub fn with_entry(mut self, leaf: u32, subleaf: u32, registers: Option<[u32; 4]>) -> Self {
        self.entries.retain(|e| (e.eax_in, e.ecx_in) != (leaf, subleaf));
        if let Some([eax, ebx, ecx, edx]) = registers {
            self.entries.push(SnpCpuidFunction {
                eax_in: leaf,
                ecx_in: subleaf,
                eax,
                ebx,
                ecx,
                edx,
                ..Default::default()
            });
        }
        self
    }

    /// The entries for the SNP CPUID page.
    pub fn entries(&self) -> &[SnpCpuidFunction] {
        &self.entries[..self.entries.len().min(SNP_CPUID_MAX_ENTRIES)]
    }
}

/// Runs one CPUID on a fresh MODE_64 engine.
pub fn execute_cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let run = || -> Result<[u32; 4], unicorn_engine::unicorn_const::uc_error> {
        let mut uc = Unicorn::new(Arch::X86, Mode::MODE_64)?;
        uc.mem_map(0x1000, 0x1000, Prot::ALL)?;
        uc.mem_write(0x1000, &[0x0F, 0xA2])?;
        uc.reg_write(RegisterX86::RAX, u64::from(leaf))?;
        uc.reg_write(RegisterX86::RCX, u64::from(subleaf))?;
        uc.emu_start(0x1000, 0x1002, 0, 0)?;
        let r = |reg| uc.reg_read(reg).map(|v| v as u32);
        Ok([r(RegisterX86::EAX)?, r(RegisterX86::EBX)?, r(RegisterX86::ECX)?, r(RegisterX86::EDX)?])
    };
    run().unwrap_or([0; 4])
}
