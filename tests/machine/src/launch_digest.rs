//! The SNP launch digest as the PSP computes it while the loader hands it pages: one SNP_LAUNCH_UPDATE
//! per page, `LD = SHA-384(PAGE_INFO)` (SEV-SNP ABI (AMD 56860) §8.17 SNP_LAUNCH_UPDATE, Table 67
//! PAGE_INFO). Written from the spec, independently of `cargo xtask measure` (which the test compares
//! it with), so the two check each other.
use sha2::{Digest, Sha384};

/// PAGE_INFO's PAGE_TYPE (SEV-SNP ABI (AMD 56860) Table 67).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageType {
    /// Measured data: CONTENTS = SHA-384 of the page.
    Normal = 0x01,
    /// A VMSA: CONTENTS = SHA-384 of the VMSA page.
    Vmsa = 0x02,
    /// A zero page (CONTENTS zero).
    Zero = 0x03,
    /// Unmeasured memory (CONTENTS zero).
    Unmeasured = 0x04,
    /// The secrets page the PSP fills (CONTENTS zero).
    Secrets = 0x05,
    /// The CPUID page the PSP checks (CONTENTS zero).
    Cpuid = 0x06,
}

/// The running launch digest.
#[derive(Clone, Debug)]
pub struct LaunchDigest {
    ld: [u8; 48],
    /// SNP_LAUNCH_UPDATE steps taken.
    pub pages: u64,
}

impl Default for LaunchDigest {
    /// The digest before the first page: 48 zero bytes.
    fn default() -> Self {
        Self { ld: [0; 48], pages: 0 }
    }
}

impl LaunchDigest {
    /// One SNP_LAUNCH_UPDATE of the page at `gpa`. `page` is hashed for NORMAL and VMSA pages and
    /// ignored otherwise; VMPL1-3 permissions are zero, as the loader sets them.
    pub fn update(&mut self, page_type: PageType, gpa: u64, page: &[u8; 4096]) {
        let contents: [u8; 48] = match page_type {
            PageType::Normal | PageType::Vmsa => Sha384::digest(page).into(),
            _ => [0; 48],
        };
        let mut info = [0u8; 0x70];
        info[..0x30].copy_from_slice(&self.ld);
        info[0x30..0x60].copy_from_slice(&contents);
        info[0x60..0x62].copy_from_slice(&0x70u16.to_le_bytes()); // LENGTH
        info[0x62] = page_type as u8;
        // 0x63 IMI_PAGE, 0x64..0x67 VMPL3/2/1 permissions and reserved: all zero.
        info[0x68..0x70].copy_from_slice(&gpa.to_le_bytes());
        self.ld = Sha384::digest(info).into();
        self.pages += 1;
    }

    /// The digest so far (the attestation report's MEASUREMENT once the launch finishes).
    pub fn value(&self) -> [u8; 48] {
        self.ld
    }
}
