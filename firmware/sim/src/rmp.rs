//! A sparse Reverse Map Table: one logical entry per 4 KiB page, stored per 2 MiB region either as a
//! single 2 MiB entry or as 512 4 KiB entries. Regions never touched are hypervisor-owned.
use std::collections::HashMap;

use warden_platform::memory::VmplPerms;

use crate::{LARGE, PAGE};

/// What the RMP holds for one 4 KiB page (or, for a 2 MiB entry, for all 512 of its pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RmpEntry {
    /// Assigned to the guest (private). Unassigned pages are the hypervisor's (shared).
    pub assigned: bool,
    /// The guest validated it with PVALIDATE. Cleared whenever the hypervisor reassigns the page.
    pub validated: bool,
    /// The page is a VMSA (set by RMPADJUST from VMPL0).
    pub vmsa: bool,
    /// Permissions of VMPL1..=3 (index 0 is VMPL1). VMPL0 holds all permissions on validated pages.
    pub perms: [VmplPerms; 3],
}

impl RmpEntry {
    /// What RMPUPDATE leaves when the hypervisor assigns a page to the guest: not validated, no
    /// VMSA, no permissions for VMPL1-3.
    pub(crate) const fn fresh_private() -> Self {
        Self { assigned: true, validated: false, vmsa: false, perms: [VmplPerms::NONE; 3] }
    }
}

/// One 2 MiB region of the RMP.
#[derive(Clone, Debug)]
pub(crate) enum Region {
    /// One 2 MiB entry.
    Large(RmpEntry),
    /// 512 4 KiB entries.
    Small(Box<[RmpEntry; 512]>),
}

/// The table. Regions absent from the map are all hypervisor-owned.
#[derive(Debug, Default)]
pub(crate) struct Rmp {
    regions: HashMap<u64, Region>,
}

fn index(gpa: u64) -> (u64, usize) {
    (gpa / LARGE, ((gpa % LARGE) / PAGE) as usize)
}

impl Rmp {
    /// The region holding `gpa`, if any part of it was ever assigned.
    pub(crate) fn region(&self, gpa: u64) -> Option<&Region> {
        self.regions.get(&(gpa / LARGE))
    }

    /// The entry that governs the 4 KiB page at `gpa`, and whether it is a 2 MiB entry.
    pub(crate) fn entry(&self, gpa: u64) -> (RmpEntry, bool) {
        let (r, i) = index(gpa);
        match self.regions.get(&r) {
            None => (RmpEntry::default(), false),
            Some(Region::Large(e)) => (*e, true),
            Some(Region::Small(es)) => (es[i], false),
        }
    }

    /// The 2 MiB entry at `gpa` (2 MiB-aligned), mutably, if the region is one.
    pub(crate) fn large_mut(&mut self, gpa: u64) -> Option<&mut RmpEntry> {
        match self.regions.get_mut(&(gpa / LARGE)) {
            Some(Region::Large(e)) => Some(e),
            _ => None,
        }
    }

    /// The 4 KiB entry at `gpa`, mutably, if its region is made of 4 KiB entries.
    pub(crate) fn small_mut(&mut self, gpa: u64) -> Option<&mut RmpEntry> {
        let (r, i) = index(gpa);
        match self.regions.get_mut(&r) {
            Some(Region::Small(es)) => Some(&mut es[i]),
            _ => None,
        }
    }

    /// Sets the 2 MiB region at `gpa` to one entry (or drops it when unassigned).
    pub(crate) fn set_large(&mut self, gpa: u64, e: RmpEntry) {
        if e.assigned {
            self.regions.insert(gpa / LARGE, Region::Large(e));
        } else {
            self.regions.remove(&(gpa / LARGE));
        }
    }

    /// Sets the 2 MiB region at `gpa` to 512 copies of `e` as 4 KiB entries.
    pub(crate) fn set_small_all(&mut self, gpa: u64, e: RmpEntry) {
        self.regions.insert(gpa / LARGE, Region::Small(Box::new([e; 512])));
    }

    /// Sets the 4 KiB entry at `gpa`, splitting a 2 MiB entry into 512 copies first (what the
    /// hypervisor does with PSMASH before it changes one page of a large page).
    pub(crate) fn set_small(&mut self, gpa: u64, e: RmpEntry) {
        let (r, i) = index(gpa);
        let region =
            self.regions.entry(r).or_insert_with(|| Region::Small(Box::new([RmpEntry::default(); 512])));
        if let Region::Large(large) = region {
            *region = Region::Small(Box::new([*large; 512]));
        }
        if let Region::Small(es) = region {
            es[i] = e;
            if es.iter().all(|x| !x.assigned) {
                self.regions.remove(&r);
            }
        }
    }

    /// PSMASH: splits the 2 MiB entry at `gpa` into 512 equal 4 KiB entries. False if not a 2 MiB
    /// assigned entry.
    pub(crate) fn psmash(&mut self, gpa: u64) -> bool {
        match self.regions.get(&(gpa / LARGE)) {
            Some(Region::Large(e)) if e.assigned => {
                let e = *e;
                self.set_small_all(gpa, e);
                true
            }
            _ => false,
        }
    }

    /// UNSMASH: merges 512 identical assigned 4 KiB entries into one 2 MiB entry. False otherwise.
    pub(crate) fn unsmash(&mut self, gpa: u64) -> bool {
        match self.regions.get(&(gpa / LARGE)) {
            Some(Region::Small(es)) if es[0].assigned && es.iter().all(|x| *x == es[0]) => {
                let e = es[0];
                self.set_large(gpa, e);
                true
            }
            _ => false,
        }
    }
}
