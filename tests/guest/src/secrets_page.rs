//! The guest's copy of the SNP secrets page, as an SVSM hands it to its guest: the VMPCKs of the more
//! privileged VMPLs cleared (a guest must not be able to speak to the PSP as Warden), its own VMPCK
//! kept, and the SVSM fields filled so the guest finds Warden and its calling area. Offsets: SEV-SNP
//! ABI (AMD 56860), secrets page layout (VMPCK0..3 at 0x20, 0x40, 0x60, 0x80); SVSM spec (AMD 58019),
//! the secrets page's SVSM fields from 0x140 (base, size, calling area, max version, guest VMPL).

/// Where VMPCK0 starts, and each key's size.
const VMPCK0: usize = 0x20;
const VMPCK_SIZE: usize = 32;
const SVSM_BASE: usize = 0x140;
const SVSM_SIZE: usize = 0x148;
const SVSM_CAA: usize = 0x150;
const SVSM_GUEST_VMPL: usize = 0x15C;

/// What the page must say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The guest's VMPL (VMPCK0 up to this one, exclusive, must be cleared; this one kept).
    pub vmpl: u8,
    /// Warden's region.
    pub svsm_base: u64,
    /// Its size.
    pub svsm_size: u64,
    /// The boot vCPU's calling area.
    pub caa: u64,
}

/// What is wrong with the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretsError {
    /// A more privileged VMPL's key is still there.
    VmpckNotCleared(u8),
    /// The guest's own key is all zero (it could never talk to the PSP).
    OwnVmpckMissing,
    /// An SVSM field disagrees with the boot information.
    SvsmField(&'static str),
}

fn u64_at(page: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&page[at..at + 8]);
    u64::from_le_bytes(bytes)
}

/// Checks the page against what the boot information says.
pub fn check(page: &[u8; 4096], expected: &Expected) -> Result<(), SecretsError> {
    let key = |vmpl: u8| {
        let at = VMPCK0 + usize::from(vmpl) * VMPCK_SIZE;
        &page[at..at + VMPCK_SIZE]
    };
    for vmpl in 0..expected.vmpl.min(4) {
        if key(vmpl).iter().any(|b| *b != 0) {
            return Err(SecretsError::VmpckNotCleared(vmpl));
        }
    }
    if expected.vmpl < 4 && key(expected.vmpl).iter().all(|b| *b == 0) {
        return Err(SecretsError::OwnVmpckMissing);
    }
    if u64_at(page, SVSM_BASE) != expected.svsm_base {
        return Err(SecretsError::SvsmField("svsm_base"));
    }
    if u64_at(page, SVSM_SIZE) != expected.svsm_size {
        return Err(SecretsError::SvsmField("svsm_size"));
    }
    if u64_at(page, SVSM_CAA) != expected.caa {
        return Err(SecretsError::SvsmField("svsm_caa"));
    }
    if page[SVSM_GUEST_VMPL] != expected.vmpl {
        return Err(SecretsError::SvsmField("svsm_guest_vmpl"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Expected, SecretsError, check};

    const EXPECTED: Expected =
        Expected { vmpl: 2, svsm_base: 0x800_0000, svsm_size: 0x100_0000, caa: 0x30_1000 };

    fn good() -> [u8; 4096] {
        let mut page = [0u8; 4096];
        page[0x60..0xA0].fill(0x5A);
        page[0x140..0x148].copy_from_slice(&0x800_0000u64.to_le_bytes());
        page[0x148..0x150].copy_from_slice(&0x100_0000u64.to_le_bytes());
        page[0x150..0x158].copy_from_slice(&0x30_1000u64.to_le_bytes());
        page[0x15C] = 2;
        page
    }

    #[test]
    fn a_proper_copy_passes() {
        assert_eq!(check(&good(), &EXPECTED), Ok(()));
    }

    #[test]
    fn warden_s_keys_must_be_cleared_and_the_fields_right() {
        let mut page = good();
        page[0x20] = 1;
        assert_eq!(check(&page, &EXPECTED), Err(SecretsError::VmpckNotCleared(0)));
        let mut page = good();
        page[0x5F] = 1;
        assert_eq!(check(&page, &EXPECTED), Err(SecretsError::VmpckNotCleared(1)));
        let mut page = good();
        page[0x60..0x80].fill(0);
        assert_eq!(check(&page, &EXPECTED), Err(SecretsError::OwnVmpckMissing));
        let mut page = good();
        page[0x151] = 0;
        assert_eq!(check(&page, &EXPECTED), Err(SecretsError::SvsmField("svsm_caa")));
        let mut page = good();
        page[0x15C] = 1;
        assert_eq!(check(&page, &EXPECTED), Err(SecretsError::SvsmField("svsm_guest_vmpl")));
    }
}
