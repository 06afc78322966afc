//! SEV-SNP instruction return codes and RMP attribute encodings the guest uses.
//!
//! AMD64 APM vol. 3, instruction reference pages PVALIDATE and RMPADJUST (return codes, RDX attributes).
//! These come from the CPU, not a hostile party, but a code the spec does not list for an instruction
//! still survives as a value ([`SnpRc`] is open) and is reported, never assumed away.

/// An EAX return code of PVALIDATE or RMPADJUST. Open: unknown values survive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnpRc(pub u32);

impl SnpRc {
    /// Success. For PVALIDATE, CF = 1 with this code means the RMP entry was unchanged.
    pub const SUCCESS: Self = Self(0);
    /// Bad input: unaligned address, bad page size, bad target VMPL or attribute bits.
    pub const FAIL_INPUT: Self = Self(1);
    /// RMPADJUST asked for more than the current VMPL holds, or for a VMPL not below it.
    pub const FAIL_PERMISSION: Self = Self(2);
    /// The requested page size disagrees with the RMP entry's (2M request on 4K entries or the reverse).
    pub const FAIL_SIZEMISMATCH: Self = Self(6);
}

/// PVALIDATE ECX: 4 KiB page.
pub const PVALIDATE_SIZE_4K: u32 = 0;
/// PVALIDATE ECX: 2 MiB page.
pub const PVALIDATE_SIZE_2M: u32 = 1;

/// RMPADJUST RDX bits \[7:0\]: the target VMPL.
pub const RMPADJUST_VMPL_MASK: u64 = 0xFF;
/// RMPADJUST RDX bits \[15:8\]: the permission mask (see [`RMP_PERM_READ`] …).
pub const RMPADJUST_PERMS_SHIFT: u32 = 8;
/// RMPADJUST RDX bit 16: make the page a VMSA.
pub const RMPADJUST_VMSA: u64 = 1 << 16;

/// Permission bit (in the 8-bit mask): read.
pub const RMP_PERM_READ: u8 = 1 << 0;
/// Permission bit: write.
pub const RMP_PERM_WRITE: u8 = 1 << 1;
/// Permission bit: execute in user mode.
pub const RMP_PERM_EXEC_USER: u8 = 1 << 2;
/// Permission bit: execute in supervisor mode.
pub const RMP_PERM_EXEC_SUPERVISOR: u8 = 1 << 3;
/// All four permissions: what VMPL0 holds on every validated page.
pub const RMP_PERM_ALL: u8 = 0xF;

/// The highest VMPL number.
pub const MAX_VMPL: u8 = 3;

/// #VC error code for an access to a page whose RMP entry is not validated.
pub const VC_EXIT_NOT_VALIDATED: u64 = 0x404;

/// Encodes RMPADJUST's RDX (APM vol. 3, RMPADJUST: target VMPL, permissions, VMSA bit).
pub const fn rmpadjust_attrs(target_vmpl: u8, perms: u8, vmsa: bool) -> u64 {
    (target_vmpl as u64) | ((perms as u64) << RMPADJUST_PERMS_SHIFT) | if vmsa { RMPADJUST_VMSA } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmpadjust_attrs_match_coconut_encodings() {
        // Coconut grants with `vmpl | 0xF00` and makes a VMSA with `0x10100 | vmpl` (COCONUT `kernel/src/sev/utils.rs`).
        assert_eq!(rmpadjust_attrs(1, RMP_PERM_ALL, false), 0xF01);
        assert_eq!(rmpadjust_attrs(2, RMP_PERM_READ, true), 0x10102);
    }
}
