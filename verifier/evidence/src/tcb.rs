//! The TCB_VERSION word of a report or a VCEK, whose byte layout depends on the processor generation.
//!
//! SEV-SNP ABI (AMD 56860) Table 3 "TCB_VERSION Structure": Milan and Genoa put the bootloader SVN in
//! byte 0, the TEE SVN in byte 1, the SNP SVN in byte 6 and the microcode SVN in byte 7; Turin (family
//! 0x1A) adds an FMC SVN in byte 0 and moves the others to bytes 1, 2, 3 and 7.
use core::fmt;

/// An AMD EPYC generation, which decides the TCB layout, the chip-id length and the root key (ARK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Product {
    /// Family 0x19, models 0x00..=0x0F (3rd generation EPYC).
    Milan,
    /// Family 0x19, models 0x10..=0x1F and 0xA0..=0xAF (4th generation EPYC).
    Genoa,
    /// Family 0x1A (5th generation EPYC).
    Turin,
}

impl Product {
    /// The generation a v3+ report names in its CPUID_FAM_ID / CPUID_MOD_ID bytes (SEV-SNP ABI Table 23).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, _) => Some(Self::Turin),
            _ => None,
        }
    }

    /// How many leading bytes of CHIP_ID the VCEK's hwid extension carries: Turin VCEKs are issued for
    /// the 8-byte chip id, earlier generations for all 64 bytes (VCEK specification, AMD 57230, §3).
    pub fn hwid_len(self) -> usize {
        match self {
            Self::Milan | Self::Genoa => 64,
            Self::Turin => 8,
        }
    }

    /// The name AMD gives the generation in its certificates (`ARK-Milan`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }
}

/// The security versions of the firmware components a report or a VCEK names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcbVersion {
    /// FMC SVN (Turin and later; zero before).
    pub fmc: u8,
    /// PSP bootloader SVN.
    pub bootloader: u8,
    /// PSP OS (TEE) SVN.
    pub tee: u8,
    /// SNP firmware SVN.
    pub snp: u8,
    /// Microcode patch level.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decodes the 8-byte TCB_VERSION for `product`.
    pub fn from_bytes(product: Product, b: [u8; 8]) -> Self {
        match product {
            Product::Milan | Product::Genoa => {
                Self { fmc: 0, bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7] }
            }
            Product::Turin => Self { fmc: b[0], bootloader: b[1], tee: b[2], snp: b[3], microcode: b[7] },
        }
    }

    /// Encodes for `product` (the inverse of [`TcbVersion::from_bytes`]; test evidence uses it).
    pub fn to_bytes(self, product: Product) -> [u8; 8] {
        match product {
            Product::Milan | Product::Genoa => {
                [self.bootloader, self.tee, 0, 0, 0, 0, self.snp, self.microcode]
            }
            Product::Turin => [self.fmc, self.bootloader, self.tee, self.snp, 0, 0, 0, self.microcode],
        }
    }

    /// Whether every component is at least `minimum`'s: a TCB is only as new as its oldest part.
    pub fn meets(self, minimum: Self) -> bool {
        self.fmc >= minimum.fmc
            && self.bootloader >= minimum.bootloader
            && self.tee >= minimum.tee
            && self.snp >= minimum.snp
            && self.microcode >= minimum.microcode
    }
}

impl fmt::Display for TcbVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fmc {} bootloader {} tee {} snp {} microcode {}",
            self.fmc, self.bootloader, self.tee, self.snp, self.microcode
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Product, TcbVersion};

    #[test]
    fn layouts_round_trip_and_differ_by_generation() {
        let tcb = TcbVersion { fmc: 0, bootloader: 3, tee: 0, snp: 8, microcode: 115 };
        assert_eq!(tcb.to_bytes(Product::Genoa), [3, 0, 0, 0, 0, 0, 8, 115]);
        assert_eq!(TcbVersion::from_bytes(Product::Genoa, tcb.to_bytes(Product::Genoa)), tcb);
        let turin = TcbVersion { fmc: 1, ..tcb };
        assert_eq!(turin.to_bytes(Product::Turin), [1, 3, 0, 8, 0, 0, 0, 115]);
        assert_eq!(TcbVersion::from_bytes(Product::Turin, turin.to_bytes(Product::Turin)), turin);
    }

    #[test]
    fn one_older_component_fails_the_minimum() {
        let minimum = TcbVersion { fmc: 0, bootloader: 3, tee: 0, snp: 8, microcode: 100 };
        assert!(TcbVersion { microcode: 100, ..minimum }.meets(minimum));
        assert!(!TcbVersion { snp: 7, microcode: 200, ..minimum }.meets(minimum));
    }

    #[test]
    fn generations_come_from_cpuid() {
        assert_eq!(Product::from_cpuid(0x19, 0x01), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 0x02), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0x17, 0x31), None);
    }
}
