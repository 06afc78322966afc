//! The core protocol's PVALIDATE request list as the guest writes it (SVSM spec (AMD 58019), "Core
//! Protocol", SVSM_CORE_PVALIDATE request header and entry tables): a header, then the entries, in a
//! buffer the guest hands Warden by GPA (its calling area's buffer at CAA + 8).
use warden_defs::svsm::{PvalidateEntry, PvalidateHeader, pvalidate_entries_that_fit};
use zerocopy::{FromBytes, IntoBytes};

/// Why a list cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListError {
    /// No entries: Warden refuses an empty list, so the guest never sends one by mistake.
    Empty,
    /// More entries than the buffer (or the page after `offset`) holds.
    TooLong,
}

/// Writes the header (`entries`, `next` = 0) and the entries into `buffer`, which starts at page
/// offset `offset` (the list may not cross its page). Returns how many bytes were written.
pub fn write(buffer: &mut [u8], offset: u64, entries: &[PvalidateEntry]) -> Result<usize, ListError> {
    if entries.is_empty() {
        return Err(ListError::Empty);
    }
    let count = u16::try_from(entries.len()).map_err(|_| ListError::TooLong)?;
    let size = size_of::<PvalidateHeader>() + 8 * entries.len();
    if entries.len() as u64 > pvalidate_entries_that_fit(offset) || size > buffer.len() {
        return Err(ListError::TooLong);
    }
    let header = PvalidateHeader { entries: count, next: 0, reserved: 0 };
    buffer[..8].copy_from_slice(header.as_bytes());
    for (slot, entry) in buffer[8..size].chunks_exact_mut(8).zip(entries) {
        slot.copy_from_slice(&entry.0.to_le_bytes());
    }
    Ok(size)
}

/// The `next` (cur_index) Warden wrote back: how many entries it processed.
pub fn progress(buffer: &[u8]) -> Option<u16> {
    PvalidateHeader::read_from_prefix(buffer).ok().map(|(header, _)| header.next)
}

#[cfg(test)]
mod tests {
    use super::{ListError, progress, write};
    use warden_defs::svsm::PvalidateEntry;

    #[test]
    fn header_then_little_endian_entries() {
        let mut buffer = [0xAAu8; 64];
        let entries = [
            PvalidateEntry::new(0x100_0000, false, true, false),
            PvalidateEntry::new(0x120_0000, true, true, true),
        ];
        assert_eq!(write(&mut buffer, 8, &entries), Ok(24));
        assert_eq!(&buffer[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buffer[8..16], &0x100_0004u64.to_le_bytes());
        assert_eq!(&buffer[16..24], &0x120_000Du64.to_le_bytes());
        assert_eq!(buffer[24], 0xAA, "nothing past the list is written");
        assert_eq!(progress(&buffer), Some(0));
    }

    #[test]
    fn empty_and_overlong_lists_are_refused() {
        let mut buffer = [0u8; 4096];
        assert_eq!(write(&mut buffer, 8, &[]), Err(ListError::Empty));
        let many = [PvalidateEntry(0); 511];
        assert_eq!(write(&mut buffer, 8, &many), Err(ListError::TooLong), "510 fit after CAA + 8");
        assert_eq!(write(&mut buffer, 8, &many[..510]), Ok(8 + 510 * 8));
        assert_eq!(write(&mut buffer[..16], 8, &many[..2]), Err(ListError::TooLong));
    }

    #[test]
    fn progress_reads_next() {
        let buffer = [3u8, 0, 2, 0, 0, 0, 0, 0];
        assert_eq!(progress(&buffer), Some(2));
        assert_eq!(progress(&buffer[..4]), None);
    }
}
