//! RMP operations on guest pages, done on the guest's behalf: the only `unsafe` in this crate.
//!
//! The primitives ([`SnpMemory::pvalidate`], [`SnpMemory::rmpadjust`]) are `unsafe fn` because used on
//! a page Warden itself relies on they break memory safety. Here they are called only on a
//! [`Cleared`] page: a value that [`Cleared::check`] alone builds, after proving the page is guest RAM,
//! outside Warden's region, and none of the guest pages Warden reads or writes (calling areas, VMSAs,
//! the request list being processed). Warden never holds a Rust reference into guest memory: it
//! reaches it only through [`GuestMemory`] copies.
use crate::error::{AddressError, HvFault, RmpRefusal, SvsmError};
use crate::guest::{GuestMemory, GuestRam, Paired, overlaps};
use crate::vcpus::Vcpus;
use warden_defs::layout::PAGE_SIZE;
use warden_defs::psc::PscDescriptor;
use warden_defs::snp::MAX_VMPL;
use warden_platform::memory::{
    PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};

/// A guest page the protection rules have cleared for an RMP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cleared {
    gpa: u64,
    size: PageSize,
}

impl Cleared {
    /// Checks `[gpa, gpa + size)` (aligned by the caller) against guest RAM and Warden's own pages.
    /// `list_page` is the page holding the request list in flight, which Warden writes back.
    pub(crate) fn check(
        gpa: u64,
        size: PageSize,
        ram: &GuestRam,
        vcpus: &Vcpus,
        list_page: Option<u64>,
    ) -> Result<Self, AddressError> {
        ram.check(gpa, size.bytes())?;
        vcpus.protected(gpa, size.bytes(), None)?;
        if let Some(list) = list_page
            && overlaps(gpa, size.bytes(), list, PAGE_SIZE)
        {
            return Err(AddressError::ListPage);
        }
        Ok(Self { gpa, size })
    }

    /// A page CREATE_VCPU or DELETE_VCPU operates on: guest RAM, checked by the caller against the
    /// table with its own exemptions.
    pub(crate) fn vmsa_candidate(gpa: u64, ram: &GuestRam) -> Result<Self, AddressError> {
        ram.check(gpa, PAGE_SIZE)?;
        Ok(Self { gpa, size: PageSize::Size4K })
    }
}

fn rmpadjust<E: SnpMemory>(
    env: &mut E,
    page: Cleared,
    vmpl: u8,
    perms: VmplPerms,
    vmsa: bool,
) -> Result<(), SvsmError> {
    // SAFETY: `page` is a `Cleared` guest page: not Warden's memory, not a page Warden reads or writes
    // through a Rust reference (it has none into guest memory), so changing a lower VMPL's access to it
    // or its VMSA bit cannot break Warden's memory safety. Granting exposes only guest data (a page is
    // zeroed before its first grant, see `validate_for_guest`).
    unsafe { env.rmpadjust(page.gpa, page.size, vmpl, perms, vmsa) }
        .map_err(|e| SvsmError::lift_rmpadjust(e, page.gpa))
}

/// Revokes every access of VMPLs `guest_vmpl..=3` and clears the VMSA bit.
pub(crate) fn revoke<E: SnpMemory>(env: &mut E, page: Cleared, guest_vmpl: u8) -> Result<(), SvsmError> {
    for vmpl in guest_vmpl..=MAX_VMPL {
        rmpadjust(env, page, vmpl, VmplPerms::NONE, false)?;
    }
    Ok(())
}

/// Gives the guest's VMPL full access (COCONUT's `vmpl | 0xF00`), VMSA bit clear.
pub(crate) fn grant<E: SnpMemory>(env: &mut E, page: Cleared, guest_vmpl: u8) -> Result<(), SvsmError> {
    rmpadjust(env, page, guest_vmpl, VmplPerms::ALL, false)
}

/// Makes the page a VMSA for the guest's VMPL, readable by it (COCONUT's `0x10100 | vmpl`).
pub(crate) fn make_vmsa<E: SnpMemory>(env: &mut E, page: Cleared, guest_vmpl: u8) -> Result<(), SvsmError> {
    rmpadjust(env, page, guest_vmpl, VmplPerms::READ, true)
}

/// Validates the page for the guest: PVALIDATE, zero, then grant. The zeroing (threat model T6)
/// defeats a hypervisor that remaps one of Warden's private pages to this GPA after invalidating it
/// (COCONUT's attack note): the guest must never see the old contents.
pub(crate) fn validate_for_guest<E: SnpMemory + GuestMemory>(
    env: &mut E,
    page: Cleared,
    ignore_cf: bool,
    guest_vmpl: u8,
) -> Result<(), SvsmError> {
    // SAFETY: a `Cleared` guest page; Warden holds no reference into it, and its contents are
    // overwritten below before anyone is given access.
    let outcome = unsafe { env.pvalidate(page.gpa, page.size, true) }
        .map_err(|e| SvsmError::lift_pvalidate(e, page.gpa))?;
    if outcome == PvalidateOutcome::Unchanged && !ignore_cf {
        return Err(SvsmError::Rmp(RmpRefusal::Unchanged));
    }
    let zeros = [0u8; PAGE_SIZE as usize];
    let mut gpa = page.gpa;
    while gpa < page.gpa + page.size.bytes() {
        env.write(gpa, &zeros)
            .map_err(|_| SvsmError::Hypervisor(HvFault::ValidatedPageUnwritable { gpa }))?;
        gpa += PAGE_SIZE;
    }
    grant(env, page, guest_vmpl)
}

/// Rescinds the page: revoke the guest's access first (so no lower VMPL keeps a window into a page
/// about to change owner), then PVALIDATE to clear the validated bit.
pub(crate) fn rescind_from_guest<E: SnpMemory>(
    env: &mut E,
    page: Cleared,
    ignore_cf: bool,
    guest_vmpl: u8,
) -> Result<(), SvsmError> {
    revoke(env, page, guest_vmpl)?;
    // SAFETY: a `Cleared` guest page: Warden never uses it, so invalidating it cannot fault Warden.
    let outcome = unsafe { env.pvalidate(page.gpa, page.size, false) }
        .map_err(|e| SvsmError::lift_pvalidate(e, page.gpa))?;
    if outcome == PvalidateOutcome::Unchanged && !ignore_cf {
        return Err(SvsmError::Rmp(RmpRefusal::Unchanged));
    }
    Ok(())
}

// Forwarding: `Paired`'s RMP primitives are its platform's, under the same contracts.
impl<P: SnpMemory, M> SnpMemory for Paired<'_, P, M> {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        // SAFETY: our caller upholds `pvalidate`'s contract; it is passed on unchanged.
        unsafe { self.platform.pvalidate(gpa, size, validate) }
    }

    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        target_vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        // SAFETY: our caller upholds `rmpadjust`'s contract; it is passed on unchanged.
        unsafe { self.platform.rmpadjust(gpa, size, target_vmpl, perms, vmsa) }
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        // SAFETY: our caller upholds `page_state_change`'s contract; it is passed on unchanged.
        unsafe { self.platform.page_state_change(desc) }
    }
}
