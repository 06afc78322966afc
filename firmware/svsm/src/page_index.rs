//! A fixed-capacity set of 4 KiB guest pages, each tagged with an APIC ID, sorted for binary search.
//!
//! The vCPU table keeps its VMSAs and calling areas here: the capacity is reserved once, from the
//! platform's vCPU count, so no guest call can make it allocate, and a PVALIDATE entry's overlap check
//! costs O(log n) rather than a scan.
use crate::guest::overlaps;
use alloc::collections::TryReserveError;
use alloc::vec::Vec;
use warden_defs::layout::PAGE_SIZE;

/// The set: `(page GPA, APIC ID)`, sorted by GPA, pages unique.
#[derive(Clone, Debug, Default)]
pub(crate) struct PageIndex {
    pages: Vec<(u64, u32)>,
    capacity: usize,
}

impl PageIndex {
    /// An empty set that will hold up to `capacity` pages without allocating again.
    pub(crate) fn with_capacity(capacity: usize) -> Result<Self, TryReserveError> {
        let mut pages = Vec::new();
        pages.try_reserve_exact(capacity)?;
        Ok(Self { pages, capacity })
    }

    /// Adds `page`; false when the set is full or holds it already.
    pub(crate) fn insert(&mut self, page: u64, apic_id: u32) -> bool {
        match self.pages.binary_search_by_key(&page, |&(p, _)| p) {
            Ok(_) => false,
            Err(_) if self.pages.len() >= self.capacity => false,
            Err(at) => {
                self.pages.insert(at, (page, apic_id));
                true
            }
        }
    }

    /// Removes `page` if present.
    pub(crate) fn remove(&mut self, page: u64) {
        if let Ok(at) = self.pages.binary_search_by_key(&page, |&(p, _)| p) {
            self.pages.remove(at);
        }
    }

    /// The APIC ID `page` is tagged with.
    pub(crate) fn get(&self, page: u64) -> Option<u32> {
        let at = self.pages.binary_search_by_key(&page, |&(p, _)| p).ok()?;
        self.pages.get(at).map(|&(_, apic)| apic)
    }

    /// Every page `[gpa, gpa + len)` overlaps, in address order.
    pub(crate) fn overlapping(&self, gpa: u64, len: u64) -> impl Iterator<Item = (u64, u32)> + '_ {
        // The first page that ends after `gpa`; from there, pages overlap until one starts past the end.
        let first = self.pages.partition_point(|&(p, _)| p.saturating_add(PAGE_SIZE) <= gpa);
        self.pages
            .get(first..)
            .unwrap_or(&[])
            .iter()
            .copied()
            .take_while(move |&(p, _)| overlaps(gpa, len, p, PAGE_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::PageIndex;
    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn overlaps_are_found_by_range_and_capacity_holds() {
        let mut index = PageIndex::with_capacity(3).unwrap();
        assert!(index.insert(0x5000, 1) && index.insert(0x1000, 2) && index.insert(0x3000, 3));
        assert!(!index.insert(0x7000, 4), "full");
        assert!(!index.insert(0x1000, 4), "duplicate");
        let hits = |gpa, len| index.overlapping(gpa, len).collect::<Vec<_>>();
        assert_eq!(hits(0x1FFF, 1), vec![(0x1000, 2)]);
        assert_eq!(hits(0x2000, 0x1000), vec![]);
        assert_eq!(hits(0x1800, 0x4000), vec![(0x1000, 2), (0x3000, 3), (0x5000, 1)]);
        assert_eq!(hits(u64::MAX - 8, 8), vec![]);
        index.remove(0x3000);
        assert_eq!((index.get(0x3000), index.get(0x5000)), (None, Some(1)));
        assert!(index.insert(0x7000, 4));
    }
}
