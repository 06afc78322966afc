//! Processor generations and the TCB a report or a VCEK names, compared component by component.
//!
//! The byte layout of TCB_VERSION (SEV-SNP ABI (AMD 56860) "TCB_VERSION Structure") lives with the
//! report's in `warden_defs::snp_report`; the generation, read from a v3 report's CPUID bytes, picks it.
use core::fmt;

use warden_defs::snp_report::{self, TcbLayout, TcbParts};

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

    /// Where this generation keeps its SVNs in a TCB_VERSION word.
    pub fn layout(self) -> TcbLayout {
        match self {
            Self::Milan | Self::Genoa => TcbLayout::MilanGenoa,
            Self::Turin => TcbLayout::Turin,
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
    /// Decodes a TCB_VERSION word for `product`.
    pub fn from_word(product: Product, word: snp_report::TcbVersion) -> Self {
        let TcbParts { fmc, bootloader, tee, snp, microcode } = word.parts(product.layout());
        Self { fmc, bootloader, tee, snp, microcode }
    }

    /// Encodes for `product` (the inverse of [`TcbVersion::from_word`]; test evidence uses it).
    pub fn to_word(self, product: Product) -> snp_report::TcbVersion {
        let Self { fmc, bootloader, tee, snp, microcode } = self;
        snp_report::TcbVersion::new(product.layout(), TcbParts { fmc, bootloader, tee, snp, microcode })
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
    fn words_round_trip_in_each_generations_layout() {
        let tcb = TcbVersion { fmc: 0, bootloader: 3, tee: 0, snp: 8, microcode: 115 };
        assert_eq!(tcb.to_word(Product::Genoa).0, [3, 0, 0, 0, 0, 0, 8, 115]);
        assert_eq!(TcbVersion::from_word(Product::Genoa, tcb.to_word(Product::Genoa)), tcb);
        let turin = TcbVersion { fmc: 1, ..tcb };
        assert_eq!(turin.to_word(Product::Turin).0, [1, 3, 0, 8, 0, 0, 0, 115]);
        assert_eq!(TcbVersion::from_word(Product::Turin, turin.to_word(Product::Turin)), turin);
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
