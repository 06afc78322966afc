//! The vCPU table: each vCPU's calling area and VMSAs, and indexes of both by page.
//!
//! These pages are what Warden relies on in guest memory: it reads and clears `call_pending` in a
//! calling area, and the CPU runs a VMSA. So none of them may be rescinded, re-validated (which zeroes
//! the page), or reused as another calling area, VMSA or buffer; [`Vcpus::protected`] is the check.
//! A calling area is also validated when it is registered (`core_protocol.rs`, `probe_calling_area`),
//! so with rescinding refused it stays readable for as long as it is one.
//!
//! Bounded (threat model T4, T7): the table is sized once from the platform's APIC ID list, and a vCPU
//! holds at most two VMSAs, its current one and the previous one Linux deletes after starting the new
//! (`arch/x86/coco/sev/core.c`, `wakeup_cpu_via_vmgexit`). Nothing here allocates after construction,
//! and every lookup is a binary search, so a guest can neither grow the heap nor slow PVALIDATE down.
use crate::error::AddressError;
use crate::page_index::PageIndex;
use alloc::collections::TryReserveError;
use alloc::vec::Vec;

/// The most VMSAs one vCPU may hold: its current one and the one it replaces.
pub const VMSAS_PER_VCPU: usize = 2;

/// One vCPU as Warden knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuState {
    /// Its APIC ID (from the platform's vCPU list, not from the guest).
    pub apic_id: u32,
    /// Its calling area's GPA (page-aligned), once known.
    pub caa: Option<u64>,
    /// The VMSA the guest registered for it with CREATE_VCPU, if any.
    pub vmsa: Option<u64>,
}

/// Why a VMSA cannot be recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RegisterRefusal {
    /// No vCPU has this APIC ID.
    UnknownApicId,
    /// The vCPU holds [`VMSAS_PER_VCPU`] VMSAs already; one must be deleted first.
    Full,
}

/// The table. Calls are serialised by the dispatcher's `&mut self`, so no locking here: the request
/// loop holds one lock around the dispatcher, which also closes COCONUT's PVALIDATE/CREATE_VCPU race.
#[derive(Clone, Debug, Default)]
pub(crate) struct Vcpus {
    /// Sorted by APIC ID, unique.
    vcpus: Vec<VcpuState>,
    /// Per vCPU (same index): a replaced VMSA still registered, until DELETE_VCPU.
    previous: Vec<Option<u64>>,
    /// Every page with the RMP VMSA bit set on the guest's behalf, with its APIC ID.
    vmsas: PageIndex,
    /// Every calling area, with its APIC ID.
    caas: PageIndex,
}

impl Vcpus {
    /// A table of the given APIC IDs (duplicates collapse), none with a calling area or VMSA yet.
    pub(crate) fn new(apic_ids: &[u32]) -> Result<Self, TryReserveError> {
        let mut vcpus = Vec::new();
        vcpus.try_reserve_exact(apic_ids.len())?;
        vcpus.extend(apic_ids.iter().map(|&apic_id| VcpuState { apic_id, caa: None, vmsa: None }));
        vcpus.sort_unstable_by_key(|v| v.apic_id);
        vcpus.dedup_by_key(|v| v.apic_id);
        let mut previous = Vec::new();
        previous.try_reserve_exact(vcpus.len())?;
        previous.resize(vcpus.len(), None);
        let vmsas = PageIndex::with_capacity(vcpus.len().saturating_mul(VMSAS_PER_VCPU))?;
        let caas = PageIndex::with_capacity(vcpus.len())?;
        Ok(Self { vcpus, previous, vmsas, caas })
    }

    fn index(&self, apic_id: u32) -> Option<usize> {
        self.vcpus.binary_search_by_key(&apic_id, |v| v.apic_id).ok()
    }

    /// The vCPU with `apic_id`.
    pub(crate) fn get(&self, apic_id: u32) -> Option<&VcpuState> {
        self.vcpus.get(self.index(apic_id)?)
    }

    /// Every vCPU, by APIC ID.
    pub(crate) fn all(&self) -> &[VcpuState] {
        &self.vcpus
    }

    /// Moves `apic_id`'s calling area to `caa` (checked by the caller). False, changing nothing, for an
    /// unknown APIC ID or a page that is another vCPU's calling area.
    pub(crate) fn set_caa(&mut self, apic_id: u32, caa: u64) -> bool {
        if self.caas.get(caa).is_some_and(|owner| owner != apic_id) {
            return false;
        }
        let Some(i) = self.index(apic_id) else { return false };
        let Some(v) = self.vcpus.get_mut(i) else { return false };
        if let Some(old) = v.caa.replace(caa) {
            self.caas.remove(old);
        }
        // Capacity is one per vCPU and the old entry is gone: this cannot fail.
        self.caas.insert(caa, apic_id)
    }

    /// Whether `[gpa, gpa + len)` touches a calling area or a VMSA page. `except_caa_of` exempts one
    /// vCPU's own calling area (CREATE_VCPU may keep a vCPU's current calling area).
    pub(crate) fn protected(
        &self,
        gpa: u64,
        len: u64,
        except_caa_of: Option<u32>,
    ) -> Result<(), AddressError> {
        if self.caas.overlapping(gpa, len).any(|(_, apic)| Some(apic) != except_caa_of) {
            return Err(AddressError::CallingArea);
        }
        if self.touches_vmsa(gpa, len) {
            return Err(AddressError::Vmsa);
        }
        Ok(())
    }

    /// Whether `[gpa, gpa + len)` may be a buffer `caller` hands Warden: no VMSA, no other vCPU's
    /// calling area, and not the 8-byte header of the caller's own (Warden reads `call_pending` there).
    pub(crate) fn buffer_allowed(&self, gpa: u64, len: u64, caller: u32) -> Result<(), AddressError> {
        if self.touches_vmsa(gpa, len) {
            return Err(AddressError::Vmsa);
        }
        let header = warden_defs::svsm::CALLING_AREA_BUFFER_OFFSET;
        for (caa, apic) in self.caas.overlapping(gpa, len) {
            if apic != caller || crate::guest::overlaps(gpa, len, caa, header) {
                return Err(AddressError::CallingArea);
            }
        }
        Ok(())
    }

    /// Whether `[gpa, gpa + len)` touches a registered VMSA page.
    pub(crate) fn touches_vmsa(&self, gpa: u64, len: u64) -> bool {
        self.vmsas.overlapping(gpa, len).next().is_some()
    }

    /// Whether `gpa` is a registered VMSA.
    pub(crate) fn is_vmsa(&self, gpa: u64) -> bool {
        self.vmsas.get(gpa).is_some()
    }

    /// Whether `apic_id` may take one more VMSA.
    pub(crate) fn can_register(&self, apic_id: u32) -> Result<(), RegisterRefusal> {
        let i = self.index(apic_id).ok_or(RegisterRefusal::UnknownApicId)?;
        let held = self.vcpus.get(i).and_then(|v| v.vmsa).is_some() as usize
            + self.previous.get(i).copied().flatten().is_some() as usize;
        if held >= VMSAS_PER_VCPU { Err(RegisterRefusal::Full) } else { Ok(()) }
    }

    /// Records a new VMSA for `apic_id` with its calling area; the current one becomes the previous.
    pub(crate) fn register(&mut self, apic_id: u32, vmsa: u64, caa: u64) -> Result<(), RegisterRefusal> {
        self.can_register(apic_id)?;
        if self.caas.get(caa).is_some_and(|owner| owner != apic_id) || self.vmsas.get(vmsa).is_some() {
            // The callers checked both against `protected`; refuse rather than corrupt the indexes.
            return Err(RegisterRefusal::Full);
        }
        let i = self.index(apic_id).ok_or(RegisterRefusal::UnknownApicId)?;
        let (Some(v), Some(previous)) = (self.vcpus.get_mut(i), self.previous.get_mut(i)) else {
            return Err(RegisterRefusal::UnknownApicId);
        };
        if let Some(current) = v.vmsa.replace(vmsa) {
            *previous = Some(current);
        }
        // Within capacity (at most VMSAS_PER_VCPU per vCPU) and a new page, both checked above; the
        // calling area is free or already this vCPU's: neither can fail.
        let inserted = self.vmsas.insert(vmsa, apic_id);
        let moved = self.set_caa(apic_id, caa);
        if inserted && moved { Ok(()) } else { Err(RegisterRefusal::Full) }
    }

    /// Forgets a VMSA; a vCPU whose current VMSA it was is left without one.
    pub(crate) fn unregister(&mut self, vmsa: u64) {
        let Some(apic_id) = self.vmsas.get(vmsa) else { return };
        self.vmsas.remove(vmsa);
        let Some(i) = self.index(apic_id) else { return };
        if let Some(v) = self.vcpus.get_mut(i)
            && v.vmsa == Some(vmsa)
        {
            v.vmsa = None;
        }
        if let Some(p) = self.previous.get_mut(i)
            && *p == Some(vmsa)
        {
            *p = None;
        }
    }
}
