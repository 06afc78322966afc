//! The simulated SEV-SNP platform (**insecure: test only**): PVALIDATE, RMPADJUST and guest accesses
//! checked against the RMP model the way the CPU checks them, and a hypervisor for page-state changes.
mod hv;

use warden_defs::psc::PscDescriptor;
use warden_defs::snp::MAX_VMPL;
use warden_platform::memory::{
    GpaRange, PageSize, PscError, PvalidateError, PvalidateOutcome, RmpadjustError, SnpMemory, VmplPerms,
};

pub use hv::PscBehavior;

use crate::data::PageData;
use crate::rmp::{Region, Rmp};
use crate::{Fault, PAGE, RmpEntry, in_ram};

/// Instructions and exits issued, for tests and the `accept` benchmark.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SnpCounters {
    /// PVALIDATE instructions (any size, any outcome).
    pub pvalidate: u64,
    /// Of which at 2 MiB.
    pub pvalidate_2m: u64,
    /// PVALIDATEs that set a validated bit that was already set (CF = 1 while validating).
    pub pvalidate_unchanged: u64,
    /// RMPADJUST instructions.
    pub rmpadjust: u64,
    /// Page-state-change exits (VMGEXIT 0x8000_0010).
    pub psc_exits: u64,
    /// Descriptor entries the hypervisor processed.
    pub psc_entries_done: u64,
}

/// A simulated SNP guest at VMPL0 and its hypervisor.
#[derive(Debug)]
pub struct SimSnp {
    ram: Vec<GpaRange>,
    rmp: Rmp,
    data: PageData,
    /// How the hypervisor answers page-state changes; honest by default.
    pub psc_behavior: PscBehavior,
    /// When set, the hypervisor backs 2 MiB private requests with 512 4 KiB RMP entries (as it must
    /// when it has no 2 MiB of contiguous memory), so 2 MiB PVALIDATEs meet FAIL_SIZEMISMATCH.
    pub psc_backs_2m_with_4k: bool,
    /// When set, the hypervisor serves a 4 KiB private request by assigning the whole 2 MiB region
    /// as one 2 MiB RMP entry, so 4 KiB PVALIDATEs there meet FAIL_SIZEMISMATCH until a PSMASH.
    pub psc_assigns_2m_for_4k: bool,
    /// Everything issued so far.
    pub counters: SnpCounters,
}

impl SimSnp {
    /// A guest whose hypervisor provides `ram` (guest-physical ranges it will assign on request). All
    /// of it starts hypervisor-owned: nothing is assigned or validated.
    pub fn new(ram: &[GpaRange]) -> Self {
        Self {
            ram: ram.to_vec(),
            rmp: Rmp::default(),
            data: PageData::default(),
            psc_behavior: PscBehavior::Honest,
            psc_backs_2m_with_4k: false,
            psc_assigns_2m_for_4k: false,
            counters: SnpCounters::default(),
        }
    }

    /// Launch-time state: `range` assigned and validated as 4 KiB entries, as the PSP leaves pages
    /// measured into the launch digest (Warden's own image). VMPL0 full, VMPL1-3 none.
    pub fn prevalidate(&mut self, range: GpaRange) {
        let e = RmpEntry { validated: true, ..RmpEntry::fresh_private() };
        let mut gpa = range.start();
        while gpa < range.end() {
            self.rmp.set_small(gpa, e);
            gpa += PAGE;
        }
    }

    /// The RMP entry that governs the 4 KiB page at `gpa`, and whether it is a 2 MiB entry.
    pub fn rmp_entry(&self, gpa: u64) -> (RmpEntry, bool) {
        self.rmp.entry(gpa & !(PAGE - 1))
    }

    /// Reads guest memory as VMPL0.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.read_as(0, gpa, buf)
    }

    /// Writes guest memory as VMPL0.
    pub fn write(&mut self, gpa: u64, buf: &[u8]) -> Result<(), Fault> {
        self.write_as(0, gpa, buf)
    }

    /// Reads guest memory as `vmpl`: every page touched must be assigned, validated, and readable by
    /// `vmpl`, else the fault the hardware raises.
    pub fn read_as(&self, vmpl: u8, gpa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.check_access(vmpl, gpa, buf.len() as u64, VmplPerms::READ)?;
        self.data.read(gpa, buf);
        Ok(())
    }

    /// Writes guest memory as `vmpl` (see [`SimSnp::read_as`]).
    pub fn write_as(&mut self, vmpl: u8, gpa: u64, buf: &[u8]) -> Result<(), Fault> {
        self.check_access(vmpl, gpa, buf.len() as u64, VmplPerms::WRITE)?;
        self.data.write(gpa, buf);
        Ok(())
    }

    fn check_access(&self, vmpl: u8, gpa: u64, len: u64, need: VmplPerms) -> Result<(), Fault> {
        if len == 0 {
            return Ok(());
        }
        if !in_ram(&self.ram, gpa, len) {
            return Err(Fault::OutOfRange { gpa });
        }
        let mut page = gpa & !(PAGE - 1);
        while page < gpa + len {
            let (e, _) = self.rmp.entry(page);
            if !e.assigned {
                return Err(Fault::NotAssigned { gpa: page });
            }
            if !e.validated {
                return Err(Fault::NotValidated { gpa: page });
            }
            let allowed = match vmpl {
                0 => true,
                1..=MAX_VMPL => e.perms[usize::from(vmpl - 1)].contains(need),
                _ => false,
            };
            if !allowed {
                return Err(Fault::NoPermission { gpa: page, vmpl });
            }
            page += PAGE;
        }
        Ok(())
    }

    /// Checks alignment and RMP entry size for a PVALIDATE/RMPADJUST at `gpa`, returning the entry.
    fn locate(&self, gpa: u64, size: PageSize) -> Result<RmpEntry, LocateError> {
        if !gpa.is_multiple_of(size.bytes()) {
            return Err(LocateError::Input);
        }
        if !in_ram(&self.ram, gpa, size.bytes()) {
            return Err(LocateError::NotAssigned);
        }
        match (size, self.rmp.region(gpa)) {
            (_, None) => Err(LocateError::NotAssigned),
            (PageSize::Size2M, Some(Region::Large(e))) | (PageSize::Size4K, Some(Region::Large(e)))
                if !e.assigned =>
            {
                Err(LocateError::NotAssigned)
            }
            (PageSize::Size2M, Some(Region::Large(e))) => Ok(*e),
            (PageSize::Size2M, Some(Region::Small(_))) => Err(LocateError::SizeMismatch),
            (PageSize::Size4K, Some(Region::Large(_))) => Err(LocateError::SizeMismatch),
            (PageSize::Size4K, Some(Region::Small(_))) => {
                let (e, _) = self.rmp.entry(gpa);
                if e.assigned { Ok(e) } else { Err(LocateError::NotAssigned) }
            }
        }
    }

    fn store(&mut self, gpa: u64, size: PageSize, e: RmpEntry) {
        let slot = match size {
            PageSize::Size2M => self.rmp.large_mut(gpa),
            PageSize::Size4K => self.rmp.small_mut(gpa),
        };
        if let Some(slot) = slot {
            *slot = e;
        }
    }
}

enum LocateError {
    Input,
    SizeMismatch,
    NotAssigned,
}

// Implementing the trait's `unsafe fn`s; the bodies only update the model (no unsafe operations).
#[allow(unsafe_code)]
impl SnpMemory for SimSnp {
    unsafe fn pvalidate(
        &mut self,
        gpa: u64,
        size: PageSize,
        validate: bool,
    ) -> Result<PvalidateOutcome, PvalidateError> {
        self.counters.pvalidate += 1;
        if size == PageSize::Size2M {
            self.counters.pvalidate_2m += 1;
        }
        let mut e = self.locate(gpa, size).map_err(|err| match err {
            LocateError::Input => PvalidateError::FailInput,
            LocateError::SizeMismatch => PvalidateError::FailSizeMismatch,
            LocateError::NotAssigned => PvalidateError::NotAssigned,
        })?;
        if e.validated == validate {
            if validate {
                self.counters.pvalidate_unchanged += 1;
            }
            return Ok(PvalidateOutcome::Unchanged);
        }
        e.validated = validate;
        self.store(gpa, size, e);
        Ok(PvalidateOutcome::Changed)
    }

    unsafe fn rmpadjust(
        &mut self,
        gpa: u64,
        size: PageSize,
        target_vmpl: u8,
        perms: VmplPerms,
        vmsa: bool,
    ) -> Result<(), RmpadjustError> {
        self.counters.rmpadjust += 1;
        if target_vmpl > MAX_VMPL || (vmsa && size == PageSize::Size2M) {
            return Err(RmpadjustError::FailInput);
        }
        let mut e = self.locate(gpa, size).map_err(|err| match err {
            LocateError::Input => RmpadjustError::FailInput,
            LocateError::SizeMismatch => RmpadjustError::FailSizeMismatch,
            LocateError::NotAssigned => RmpadjustError::NotAssigned,
        })?;
        // The caller runs at VMPL0: it may only adjust VMPLs numerically greater, and only grant what
        // it holds itself (everything, on a validated page; nothing on an unvalidated one).
        if target_vmpl == 0 {
            return Err(RmpadjustError::FailPermission);
        }
        let held = if e.validated { VmplPerms::ALL } else { VmplPerms::NONE };
        if !held.contains(perms) || (vmsa && !e.validated) {
            return Err(RmpadjustError::FailPermission);
        }
        e.perms[usize::from(target_vmpl - 1)] = perms;
        e.vmsa = vmsa;
        self.store(gpa, size, e);
        Ok(())
    }

    unsafe fn page_state_change(&mut self, desc: &mut PscDescriptor) -> Result<(), PscError> {
        self.counters.psc_exits += 1;
        self.serve_psc(desc)
    }
}
