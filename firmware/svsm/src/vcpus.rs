//! The vCPU table: each vCPU's calling area and VMSA, and every page registered as a guest VMSA.
//!
//! These pages are what Warden relies on in guest memory: it reads and clears `call_pending` in a
//! calling area, and the CPU runs a VMSA. So none of them may be rescinded, re-validated (which zeroes
//! the page), or reused as another calling area or VMSA; [`Vcpus::protected`] is the check.
use crate::error::AddressError;
use crate::guest::overlaps;
use alloc::vec::Vec;
use warden_defs::layout::PAGE_SIZE;

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

/// The table. Calls are serialised by the dispatcher's `&mut self`, so no locking here: the request
/// loop holds one lock around the dispatcher, which also closes COCONUT's PVALIDATE/CREATE_VCPU race.
#[derive(Clone, Debug, Default)]
pub(crate) struct Vcpus {
    vcpus: Vec<VcpuState>,
    /// Every page with the RMP VMSA bit set on the guest's behalf, with the APIC ID it was created for.
    /// A vCPU's previous VMSA stays here until DELETE_VCPU (Linux creates the new one first).
    vmsas: Vec<(u64, u32)>,
}

impl Vcpus {
    /// A table of the given APIC IDs, none with a calling area or VMSA yet.
    pub(crate) fn new(apic_ids: &[u32]) -> Self {
        let vcpus = apic_ids.iter().map(|&apic_id| VcpuState { apic_id, caa: None, vmsa: None }).collect();
        Self { vcpus, vmsas: Vec::new() }
    }

    /// The vCPU with `apic_id`.
    pub(crate) fn get(&self, apic_id: u32) -> Option<&VcpuState> {
        self.vcpus.iter().find(|v| v.apic_id == apic_id)
    }

    /// The vCPU with `apic_id`, mutably.
    pub(crate) fn get_mut(&mut self, apic_id: u32) -> Option<&mut VcpuState> {
        self.vcpus.iter_mut().find(|v| v.apic_id == apic_id)
    }

    /// Every vCPU.
    pub(crate) fn all(&self) -> &[VcpuState] {
        &self.vcpus
    }

    /// Whether `[gpa, gpa + len)` touches a calling area or a VMSA page. `except_caa_of` exempts one
    /// vCPU's own calling area (CREATE_VCPU may keep a vCPU's current calling area).
    pub(crate) fn protected(
        &self,
        gpa: u64,
        len: u64,
        except_caa_of: Option<u32>,
    ) -> Result<(), AddressError> {
        for v in &self.vcpus {
            if let Some(caa) = v.caa
                && Some(v.apic_id) != except_caa_of
                && overlaps(gpa, len, caa, PAGE_SIZE)
            {
                return Err(AddressError::CallingArea);
            }
        }
        if self.touches_vmsa(gpa, len) {
            return Err(AddressError::Vmsa);
        }
        Ok(())
    }

    /// Whether `[gpa, gpa + len)` touches a registered VMSA page.
    pub(crate) fn touches_vmsa(&self, gpa: u64, len: u64) -> bool {
        self.vmsas.iter().any(|&(vmsa, _)| overlaps(gpa, len, vmsa, PAGE_SIZE))
    }

    /// Whether `gpa` is a registered VMSA.
    pub(crate) fn is_vmsa(&self, gpa: u64) -> bool {
        self.vmsas.iter().any(|&(vmsa, _)| vmsa == gpa)
    }

    /// Records a new VMSA for `apic_id` (which must exist) with its calling area.
    pub(crate) fn register(&mut self, apic_id: u32, vmsa: u64, caa: u64) -> bool {
        let Some(v) = self.get_mut(apic_id) else { return false };
        v.vmsa = Some(vmsa);
        v.caa = Some(caa);
        self.vmsas.push((vmsa, apic_id));
        true
    }

    /// Forgets a VMSA; a vCPU whose current VMSA it was is left without one.
    pub(crate) fn unregister(&mut self, vmsa: u64) {
        self.vmsas.retain(|&(page, _)| page != vmsa);
        for v in &mut self.vcpus {
            if v.vmsa == Some(vmsa) {
                v.vmsa = None;
            }
        }
    }
}
