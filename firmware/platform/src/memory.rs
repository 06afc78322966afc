//! The primitive memory operations of SEV-SNP and TDX, as two traits: what the acceptance engine and
//! the SVSM core protocol are generic over.
//!
//! Real implementations execute the instructions (PVALIDATE, RMPADJUST, VMGEXIT, TDCALL); the simulated
//! ones in `warden-sim` enforce the same rules on a model of the RMP / Secure EPT. Each method does one
//! architectural operation and reports the architecture's outcome as a typed value; policy (page-size
//! choice, fallback, batching, retries, bookkeeping) lives in `warden-accept`.
//!
//! Why the `unsafe fn`s (STYLE convention 3): validating, invalidating, accepting, converting to shared
//! or changing the VMPL permissions of a page that Rust code is using breaks memory safety — its
//! contents may change under live references, accesses may fault, or the hypervisor may read or write
//! it. Each `# Safety` section says what the caller must guarantee.
//!
//! Errors keep apart the three parties: `Fail*` / `OperandInvalid` mean the request was malformed (our
//! caller asked wrongly, or we have a bug); `NotAssigned`, `Psc*` and MapGPA failures mean the hypervisor
//! did not do what it should; `Unknown`/`Other` codes are reported unchanged.
use warden_defs::psc::PscDescriptor;
use warden_defs::psc::{PSC_ERROR_GENERIC, PSC_ERROR_INVALID_ENTRY, PSC_ERROR_INVALID_HEADER};

/// One past the highest guest-physical address the architecture allows (52-bit physical addresses on
/// both SNP and TDX). Page-state-change entries hold 40-bit frame numbers, so a larger address would
/// silently name a different page.
pub const GPA_LIMIT: u64 = 1 << 52;

/// A half-open range of guest-physical addresses `[start, end)`. Built only by [`GpaRange::new`], so
/// every value is 4 KiB-aligned, non-empty and below [`GPA_LIMIT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GpaRange {
    start: u64,
    end: u64,
}

impl GpaRange {
    /// `[start, end)`, if both are 4 KiB-aligned, `start < end` and `end <= GPA_LIMIT`.
    pub const fn new(start: u64, end: u64) -> Option<Self> {
        if start & 0xFFF != 0 || end & 0xFFF != 0 || start >= end || end > GPA_LIMIT {
            None
        } else {
            Some(Self { start, end })
        }
    }
    /// `[start, start + len)`, if aligned, non-empty and not overflowing.
    pub const fn from_len(start: u64, len: u64) -> Option<Self> {
        match start.checked_add(len) {
            Some(end) => Self::new(start, end),
            None => None,
        }
    }
    /// The first address.
    pub const fn start(self) -> u64 {
        self.start
    }
    /// One past the last address.
    pub const fn end(self) -> u64 {
        self.end
    }
    /// Length in bytes.
    pub const fn len(self) -> u64 {
        self.end - self.start
    }
    /// Never true (a range is non-empty by construction); here for clippy's `len_without_is_empty`.
    pub const fn is_empty(self) -> bool {
        false
    }
    /// Whether `other` lies inside `self`.
    pub const fn contains(self, other: GpaRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// An SNP page size (PVALIDATE ECX / RMPADJUST RCX, and an RMP entry's size).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageSize {
    /// 4 KiB.
    Size4K,
    /// 2 MiB.
    Size2M,
}

impl PageSize {
    /// Bytes in a page of this size.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 0x1000,
            PageSize::Size2M => 0x20_0000,
        }
    }
}

/// What a successful PVALIDATE did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvalidateOutcome {
    /// The validated bit flipped to the requested value.
    Changed,
    /// CF = 1: the validated bit already had the requested value. When validating a page the caller
    /// believes unvalidated, this is the signature of a hypervisor remapping attack (a page validated
    /// twice), and the caller must treat it as such.
    Unchanged,
}

/// Why PVALIDATE refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvalidateError {
    /// FAIL_INPUT (1): unaligned address or bad size. Our bug or a bad request.
    FailInput,
    /// FAIL_SIZEMISMATCH (6): the size disagrees with the RMP entry; retry at the other size.
    FailSizeMismatch,
    /// The page is not assigned to the guest in the RMP. On hardware this is a nested page fault the
    /// hypervisor sees (it should have made the page private first); a simulator reports it.
    NotAssigned,
    /// A return code the architecture does not list for PVALIDATE.
    Unknown(u32),
}

/// VMPL access permissions, RMPADJUST RDX\[15:8\] (`warden_defs::snp::RMP_PERM_*`). Default: none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VmplPerms(u8);

impl VmplPerms {
    /// No access.
    pub const NONE: Self = Self(0);
    /// Read.
    pub const READ: Self = Self(warden_defs::snp::RMP_PERM_READ);
    /// Write.
    pub const WRITE: Self = Self(warden_defs::snp::RMP_PERM_WRITE);
    /// Execute in user mode.
    pub const EXEC_USER: Self = Self(warden_defs::snp::RMP_PERM_EXEC_USER);
    /// Execute in supervisor mode.
    pub const EXEC_SUPERVISOR: Self = Self(warden_defs::snp::RMP_PERM_EXEC_SUPERVISOR);
    /// All four.
    pub const ALL: Self = Self(warden_defs::snp::RMP_PERM_ALL);

    /// From the 8-bit mask; bits above the four defined ones are refused.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !warden_defs::snp::RMP_PERM_ALL != 0 { None } else { Some(Self(bits)) }
    }
    /// The 8-bit mask.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// Whether every permission in `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

/// Why RMPADJUST refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmpadjustError {
    /// FAIL_INPUT (1): unaligned address, bad size, bad VMPL number, VMSA bit on a 2 MiB page.
    FailInput,
    /// FAIL_PERMISSION (2): target VMPL not below the caller's, or more permissions than it holds.
    FailPermission,
    /// FAIL_SIZEMISMATCH (6): the size disagrees with the RMP entry.
    FailSizeMismatch,
    /// The page is not assigned to the guest (a nested page fault on hardware).
    NotAssigned,
    /// A return code the architecture does not list for RMPADJUST.
    Unknown(u32),
}

/// Why a page-state change (VMGEXIT 0x8000_0010) failed as a whole. Partial completion is not an
/// error: it shows in the descriptor's `cur_entry`, which the caller must check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PscError {
    /// sw_exit_info_2 = (1 << 32) | 1: the hypervisor calls the header invalid.
    InvalidHeader,
    /// sw_exit_info_2 = (1 << 32) | 2: the hypervisor calls an entry invalid.
    InvalidEntry,
    /// sw_exit_info_2 = 0x100 << 32: generic hypervisor failure.
    Generic,
    /// Any other non-zero sw_exit_info_2.
    Other(u64),
    /// The GHCB protocol itself failed (sw_exit_info_1 = 2; sw_exit_info_2 is carried here).
    Ghcb(u64),
}

impl PscError {
    /// Decodes a non-zero sw_exit_info_2 of a page-state change.
    pub const fn from_exit_info2(info2: u64) -> Self {
        match info2 {
            PSC_ERROR_INVALID_HEADER => Self::InvalidHeader,
            PSC_ERROR_INVALID_ENTRY => Self::InvalidEntry,
            PSC_ERROR_GENERIC => Self::Generic,
            other => Self::Other(other),
        }
    }
}

/// The SEV-SNP memory primitives, as run at VMPL0.
pub trait SnpMemory {
    /// PVALIDATE `gpa` (through Warden's mapping of it) at `size`: set (`validate`) or clear the RMP
    /// validated bit. `gpa` must be aligned to `size` (else [`PvalidateError::FailInput`]).
    ///
    /// # Safety
    /// Validating: the page must be one the caller owns and no Rust reference points into it (its
    /// contents are undefined until written). Invalidating: nothing may use the page afterwards, since
    /// any access faults. The caller must also have checked, through its own bookkeeping, that the page
    /// is not already validated at another GPA alias (the double-validation attack).
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError>;

    /// RMPADJUST: set `target_vmpl`'s permissions on the page to `perms`, and (4 KiB only) mark it a
    /// VMSA or not. `target_vmpl` must be numerically greater than the caller's VMPL (0) and at most 3.
    ///
    /// # Safety
    /// Granting lets a less-privileged VMPL read or write the page: it must not hold Warden's secrets
    /// or state. Making a page a VMSA hands it to the CPU as vCPU state: nothing may use it otherwise.
    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        target_vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError>;

    /// One page-state-change exit: copies `desc` into the GHCB shared buffer, VMGEXITs, and copies the
    /// hypervisor's descriptor back into `desc`. Everything read back is hostile: the caller must
    /// check `header.cur_entry` (in bounds, advancing) and must not trust the entries.
    ///
    /// # Safety
    /// Making pages private resets their validated bit (contents become undefined); making them
    /// shared hands them to the hypervisor. No Rust reference may point into any page the descriptor
    /// names from `cur_entry` to `end_entry`.
    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError>;
}

/// A TDX accept level (TDG.MEM.PAGE.ACCEPT RCX\[2:0\]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TdxLevel {
    /// 4 KiB.
    Size4K,
    /// 2 MiB.
    Size2M,
    /// 1 GiB.
    Size1G,
}

impl TdxLevel {
    /// Bytes in a page of this level.
    pub const fn bytes(self) -> u64 {
        match self {
            TdxLevel::Size4K => 0x1000,
            TdxLevel::Size2M => 0x20_0000,
            TdxLevel::Size1G => 0x4000_0000,
        }
    }
    /// The next smaller level, if any.
    pub const fn smaller(self) -> Option<Self> {
        match self {
            TdxLevel::Size4K => None,
            TdxLevel::Size2M => Some(TdxLevel::Size4K),
            TdxLevel::Size1G => Some(TdxLevel::Size2M),
        }
    }
}

/// Why TDG.MEM.PAGE.ACCEPT did not accept a fresh page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdxAcceptError {
    /// Warning PAGE_ALREADY_ACCEPTED: the page is usable but was **not** zeroed.
    AlreadyAccepted,
    /// PAGE_SIZE_MISMATCH: mapped at a smaller size in the Secure EPT; retry at a smaller level.
    SizeMismatch,
    /// OPERAND_BUSY: contention on the Secure EPT entry; retry.
    OperandBusy,
    /// OPERAND_INVALID: bad GPA, level or alignment, or a GPA outside the TD's private memory.
    OperandInvalid,
    /// Any other status, unchanged.
    Other(u64),
}

/// What MapGPA did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapGpaOutcome {
    /// The whole range was converted.
    Done,
    /// TDG.VP.VMCALL_RETRY: converted up to `resume_at` (an allegation: the caller must check it lies
    /// inside the range and past the previous start before calling again from there).
    Retry {
        /// The GPA R11 reported.
        resume_at: u64,
    },
}

/// Why MapGPA failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapGpaError {
    /// TDG.VP.VMCALL_INVALID_OPERAND.
    InvalidOperand,
    /// TDG.VP.VMCALL_GPA_INUSE.
    GpaInUse,
    /// TDG.VP.VMCALL_ALIGN_ERROR.
    AlignError,
    /// Any other status.
    Other(u64),
}

/// The TDX memory primitives.
pub trait TdxMemory {
    /// TDG.MEM.PAGE.ACCEPT of the page at `gpa` (aligned to `level`). On success the TDX module has
    /// zeroed the page; on [`TdxAcceptError::AlreadyAccepted`] it has not.
    ///
    /// # Safety
    /// The page must be owned by the caller with no Rust reference into it: a successful accept
    /// zeroes it.
    unsafe fn accept(&mut self, gpa: u64, level: TdxLevel) -> Result<(), TdxAcceptError>;

    /// `TDG.VP.VMCALL<MapGPA>`: ask the VMM to convert `range` to shared (`shared`) or back to private
    /// (which leaves the pages pending: they must be accepted again).
    ///
    /// # Safety
    /// No Rust reference may point into `range`: converting drops the private contents, and shared
    /// pages are readable and writable by the VMM.
    unsafe fn map_gpa(&mut self, range: GpaRange, shared: bool) -> Result<MapGpaOutcome, MapGpaError>;

    /// Writes zeros over accepted private memory `[gpa, gpa + len)` through Warden's mapping (the engine
    /// zeroes pages the TDX module reported already accepted, since it did not zero them).
    ///
    /// # Safety
    /// The memory must be accepted, owned by the caller, and not referenced by any Rust object.
    unsafe fn zero(&mut self, gpa: u64, len: u64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_aligned_non_empty_and_architectural() {
        assert!(GpaRange::new(0, 0x1000).is_some());
        assert!(GpaRange::new(0x800, 0x1000).is_none());
        assert!(GpaRange::new(0, 0x1800).is_none());
        assert!(GpaRange::new(0x1000, 0x1000).is_none());
        assert!(GpaRange::new(GPA_LIMIT - 0x1000, GPA_LIMIT).is_some());
        assert!(GpaRange::new(GPA_LIMIT, GPA_LIMIT + 0x1000).is_none());
        assert!(GpaRange::from_len(!0xFFF, 0x1000).is_none());
    }

    #[test]
    fn permissions_refuse_undefined_bits() {
        assert_eq!(VmplPerms::from_bits(0xF), Some(VmplPerms::ALL));
        assert_eq!(VmplPerms::from_bits(0x10), None);
        assert!(VmplPerms::ALL.contains(VmplPerms::READ.union(VmplPerms::WRITE)));
        assert!(!VmplPerms::READ.contains(VmplPerms::WRITE));
    }
}
