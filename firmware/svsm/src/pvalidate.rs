//! SVSM_CORE_PVALIDATE: validate or rescind the guest pages a request list names.
//!
//! Source: SVSM spec (AMD 58019), SVSM_CORE_PVALIDATE (request header and entry format; Linux
//! `svsm_pvalidate_call`, COCONUT `protocols/core.rs`). The list is copied into a
//! private buffer in a single read of the rest of its page, then checked, then acted on: a guest vCPU
//! rewriting the list while Warden works on it changes nothing (COCONUT reads each entry from guest
//! memory as it goes). Only `next` is written back, once, at the end.
use crate::buffer::BufferCheck;
use crate::error::{AddressError, ParamError, SvsmError};
use crate::guest::{GuestMemory, GuestRam};
use crate::pages::{self, Cleared};
use crate::regs::Caller;
use crate::vcpus::Vcpus;
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE};
use warden_defs::svsm::{PvalidateEntry, PvalidateHeader, pvalidate_entries_that_fit};
use warden_platform::memory::{PageSize, SnpMemory};
use zerocopy::FromBytes;

/// What the list's header allows: entries `next..entries`, all inside the copied page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListBounds {
    pub(crate) entries: u16,
    pub(crate) next: u16,
}

/// Checks the header against the reference's rules: entries != 0, entries fit in the page from the
/// list's offset, next < entries.
pub(crate) fn check_header(header: PvalidateHeader, list_gpa: u64) -> Result<ListBounds, ParamError> {
    if header.entries == 0 {
        return Err(ParamError::NoEntries);
    }
    if u64::from(header.entries) > pvalidate_entries_that_fit(list_gpa) {
        return Err(ParamError::ListTooLong);
    }
    if header.next >= header.entries {
        return Err(ParamError::NextPastEnd);
    }
    Ok(ListBounds { entries: header.entries, next: header.next })
}

/// Decodes one entry's shape: page size, reserved bits, alignment (COCONUT's order).
pub(crate) fn check_entry(entry: PvalidateEntry) -> Result<PageSize, ParamError> {
    let size = match entry.page_size() {
        0 => PageSize::Size4K,
        1 => PageSize::Size2M,
        _ => return Err(ParamError::PageSize),
    };
    if entry.reserved() != 0 {
        return Err(ParamError::ReservedBits);
    }
    if size == PageSize::Size2M && !entry.gpa().is_multiple_of(LARGE_PAGE_SIZE) {
        return Err(ParamError::Misaligned2M);
    }
    Ok(size)
}

/// The whole call. `list_gpa` is RCX.
pub(crate) fn pvalidate<E: SnpMemory + GuestMemory>(
    env: &mut E,
    check: BufferCheck<'_>,
    caller: Caller,
    guest_vmpl: u8,
    list_gpa: u64,
) -> Result<(), SvsmError> {
    if !list_gpa.is_multiple_of(8) {
        return Err(ParamError::ListMisaligned.into());
    }
    let offset = list_gpa % PAGE_SIZE;
    let len = PAGE_SIZE - offset;
    // `next` is written back into the list: it must be a buffer the caller may hand Warden (never a
    // VMSA or another vCPU's calling area; the caller's own calling area from offset 8 is fine: Linux
    // puts the list there).
    let buffer = check.check(list_gpa, len, 8, caller.apic_id)?;
    let (ram, vcpus) = (check.ram, check.vcpus);

    // The one read of the list.
    let mut copy = [0u8; PAGE_SIZE as usize];
    let buf = copy.get_mut(..len as usize).ok_or(AddressError::NotGuestRam)?;
    buffer.read(&*env, buf)?;
    let list: &[u8] = buf;

    let (header, rest) = PvalidateHeader::read_from_prefix(list).map_err(|_| ParamError::ListTooLong)?;
    let bounds = check_header(header, list_gpa)?;
    let list_page = list_gpa - offset;

    let mut next = bounds.next;
    let mut result = Ok(());
    for raw in rest.chunks_exact(8).take(usize::from(bounds.entries)).skip(usize::from(bounds.next)) {
        let entry = PvalidateEntry(u64::read_from_bytes(raw).map_err(|_| ParamError::ListTooLong)?);
        result = one(env, ram, vcpus, guest_vmpl, list_page, entry);
        if result.is_err() {
            break;
        }
        next += 1;
    }

    let write_back = buffer.write(env, 2, &next.to_le_bytes()).map_err(SvsmError::from);
    result.and(write_back)
}

fn one<E: SnpMemory + GuestMemory>(
    env: &mut E,
    ram: &GuestRam,
    vcpus: &Vcpus,
    guest_vmpl: u8,
    list_page: u64,
    entry: PvalidateEntry,
) -> Result<(), SvsmError> {
    let size = check_entry(entry)?;
    let page = Cleared::check(entry.gpa(), size, ram, vcpus, Some(list_page))?;
    if entry.validate() {
        pages::validate_for_guest(env, page, entry.ignore_cf(), guest_vmpl)
    } else {
        pages::rescind_from_guest(env, page, entry.ignore_cf(), guest_vmpl)
    }
}
