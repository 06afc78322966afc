//! The SVSM core protocol (0), except QUERY_PROTOCOL which the dispatcher answers from its registry.
//!
//! Source: SVSM spec (AMD 58019), "Core Protocol" (SVSM_CORE_REMAP_CA, _PVALIDATE, _CREATE_VCPU,
//! _DELETE_VCPU, _CONFIGURE_VTOM), and COCONUT `kernel/src/protocols/core.rs` for the checks the spec
//! leaves implicit. Every rule that protects Warden is written beside its check.
use crate::buffer::BufferCheck;
use crate::error::{AddressError, Bug, GuestError, ParamError, SvsmError};
use crate::guest::{GuestMemory, GuestRam};
use crate::pages::{self, Cleared};
use crate::pvalidate;
use crate::regs::{Caller, GuestRegs, Outputs};
use crate::vcpus::{RegisterRefusal, VcpuState, Vcpus};
use warden_defs::layout::PAGE_SIZE;
use warden_defs::snp::MAX_VMPL;
use warden_defs::svsm::{CALLING_AREA_BUFFER_OFFSET, CONFIGURE_VTOM_QUERY, core_call};
use warden_defs::vmsa::{EFER_SVME, Vmsa};
use warden_platform::memory::{GpaRange, SnpMemory};
use zerocopy::FromBytes;

/// The core protocol's version range: 1 only, as Linux, EDK2 and COCONUT expect.
pub(crate) const CORE_VERSIONS: (u32, u32) = (1, 1);

/// What the firmware knows at boot: the guest's VMPL, its vCPUs, its RAM, the boot vCPU's calling area.
#[derive(Clone, Copy, Debug)]
pub struct CoreConfig<'a> {
    /// The VMPL the guest OS runs at (1..=3).
    pub guest_vmpl: u8,
    /// Every vCPU's APIC ID (from the platform, not the guest).
    pub apic_ids: &'a [u32],
    /// The boot vCPU.
    pub boot_apic_id: u32,
    /// The boot vCPU's calling area (the secrets page's `svsm_caa`). The platform names it, not the
    /// guest, and it must already be validated: [`CoreProtocol::new`] has no guest memory to probe it
    /// through, as CREATE_VCPU and REMAP_CA probe theirs (see `probe_calling_area`).
    pub boot_caa: u64,
    /// The guest's RAM, from the memory map.
    pub ram: &'a [GpaRange],
}

/// Why a [`CoreConfig`] is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The guest VMPL is 0 or above 3.
    GuestVmpl,
    /// The boot APIC ID is not in the list.
    BootApicId,
    /// The boot calling area is not an aligned page of guest RAM (or the vCPU has none yet).
    BootCaa(AddressError),
    /// A VMSA Warden registers is not an aligned page of guest RAM, or is already a protected page.
    Vmsa(AddressError),
    /// A VMSA Warden launches the guest with in its own memory is not a page of Warden's.
    VmsaOutsideWarden,
    /// The vCPU holds its current and previous VMSA already.
    TooManyVmsas,
    /// The vCPU table could not be allocated.
    OutOfMemory,
}

/// The core protocol's state: guest RAM, the vCPU table, the guest's VMPL.
#[derive(Clone, Debug)]
pub struct CoreProtocol {
    ram: GuestRam,
    vcpus: Vcpus,
    guest_vmpl: u8,
}

impl CoreProtocol {
    /// Checks the configuration and records the boot vCPU's calling area.
    pub fn new(config: CoreConfig<'_>) -> Result<Self, ConfigError> {
        if config.guest_vmpl == 0 || config.guest_vmpl > MAX_VMPL {
            return Err(ConfigError::GuestVmpl);
        }
        let ram = GuestRam::new(config.ram);
        if !config.boot_caa.is_multiple_of(PAGE_SIZE) {
            return Err(ConfigError::BootCaa(AddressError::Misaligned));
        }
        ram.check(config.boot_caa, PAGE_SIZE).map_err(ConfigError::BootCaa)?;
        let mut vcpus = Vcpus::new(config.apic_ids).map_err(|_| ConfigError::OutOfMemory)?;
        if !vcpus.set_caa(config.boot_apic_id, config.boot_caa) {
            return Err(ConfigError::BootApicId);
        }
        Ok(Self { ram, vcpus, guest_vmpl: config.guest_vmpl })
    }

    /// Records a VMSA Warden itself made for the guest (the boot vCPU's, when it launches the guest OS at
    /// its VMPL), so that the protection rules cover it like one made by CREATE_VCPU.
    pub fn register_vmsa(&mut self, apic_id: u32, vmsa_gpa: u64) -> Result<(), ConfigError> {
        if !vmsa_gpa.is_multiple_of(PAGE_SIZE) {
            return Err(ConfigError::Vmsa(AddressError::Misaligned));
        }
        self.ram.check(vmsa_gpa, PAGE_SIZE).map_err(ConfigError::Vmsa)?;
        self.vcpus.protected(vmsa_gpa, PAGE_SIZE, None).map_err(ConfigError::Vmsa)?;
        let caa = self.vcpus.get(apic_id).ok_or(ConfigError::BootApicId)?.caa;
        let caa = caa.ok_or(ConfigError::BootCaa(AddressError::CallingArea))?;
        self.vcpus.register(apic_id, vmsa_gpa, caa).map_err(|e| match e {
            RegisterRefusal::UnknownApicId => ConfigError::BootApicId,
            RegisterRefusal::Full => ConfigError::TooManyVmsas,
        })
    }

    /// Records the VMSA Warden launched the guest's boot vCPU with, built in a page of Warden's own
    /// memory (as COCONUT builds its guest's first VMSA): the guest can neither name it in a call (every
    /// guest address check refuses Warden's pages) nor delete it, and the vCPU table knows its vCPU runs.
    pub fn register_warden_vmsa(&mut self, apic_id: u32, vmsa_gpa: u64) -> Result<(), ConfigError> {
        if !vmsa_gpa.is_multiple_of(PAGE_SIZE) {
            return Err(ConfigError::Vmsa(AddressError::Misaligned));
        }
        if warden_defs::layout::owned_overlap(vmsa_gpa, PAGE_SIZE).is_none() {
            return Err(ConfigError::VmsaOutsideWarden);
        }
        let caa = self.vcpus.get(apic_id).ok_or(ConfigError::BootApicId)?.caa;
        let caa = caa.ok_or(ConfigError::BootCaa(AddressError::CallingArea))?;
        self.vcpus.register(apic_id, vmsa_gpa, caa).map_err(|e| match e {
            RegisterRefusal::UnknownApicId => ConfigError::BootApicId,
            RegisterRefusal::Full => ConfigError::TooManyVmsas,
        })
    }

    /// What Warden knows about a vCPU.
    pub fn vcpu(&self, apic_id: u32) -> Option<VcpuState> {
        self.vcpus.get(apic_id).copied()
    }

    /// Every vCPU, by APIC ID.
    pub fn vcpus(&self) -> &[VcpuState] {
        self.vcpus.all()
    }

    /// The check every guest buffer passes (see `buffer.rs`).
    pub(crate) fn buffer_check(&self) -> BufferCheck<'_> {
        BufferCheck { ram: &self.ram, vcpus: &self.vcpus }
    }

    /// One core call (not QUERY_PROTOCOL).
    pub(crate) fn handle<E: SnpMemory + GuestMemory>(
        &mut self,
        env: &mut E,
        caller: Caller,
        call: u32,
        regs: GuestRegs,
    ) -> (Result<(), SvsmError>, Outputs) {
        let result = match call {
            core_call::REMAP_CA => self.remap_ca(env, caller, regs.rcx),
            core_call::PVALIDATE => {
                pvalidate::pvalidate(env, self.buffer_check(), caller, self.guest_vmpl, regs.rcx)
            }
            core_call::CREATE_VCPU => self.create_vcpu(env, caller, regs),
            core_call::DELETE_VCPU => self.delete_vcpu(env, regs.rcx),
            // The reference gives no arguments for these (§2 "unconfirmed"), Linux never calls them,
            // and Warden's heap is a fixed region of its image: there is nothing to deposit into.
            core_call::DEPOSIT_MEM | core_call::WITHDRAW_MEM => Err(GuestError::UnsupportedCall.into()),
            core_call::CONFIGURE_VTOM => {
                // Warden does not support vTOM: a query answers 0, anything else is refused (COCONUT).
                return if regs.rcx & CONFIGURE_VTOM_QUERY != 0 {
                    (Ok(()), Outputs::rcx(0))
                } else {
                    (Err(GuestError::InvalidRequest.into()), Outputs::NONE)
                };
            }
            _ => Err(GuestError::UnsupportedCall.into()),
        };
        (result, Outputs::NONE)
    }

    /// REMAP_CA: the caller's calling area moves to the page at RCX. Refused (INVALID_PARAMETER, as the
    /// reference and COCONUT answer) for an unaligned GPA, one outside guest RAM or inside Warden, a
    /// page that is not validated, and another vCPU's calling area or any VMSA: Warden writes
    /// `call_pending` there.
    fn remap_ca<E: GuestMemory>(&mut self, env: &mut E, caller: Caller, gpa: u64) -> Result<(), SvsmError> {
        let current = self.vcpus.get(caller.apic_id).ok_or(Bug::VcpuTable)?.caa;
        if !gpa.is_multiple_of(PAGE_SIZE) {
            return Err(ParamError::BadCallingArea(AddressError::Misaligned).into());
        }
        if current == Some(gpa) {
            return Ok(());
        }
        self.ram.check(gpa, PAGE_SIZE).map_err(ParamError::BadCallingArea)?;
        self.vcpus.protected(gpa, PAGE_SIZE, Some(caller.apic_id)).map_err(ParamError::BadCallingArea)?;
        probe_calling_area(env, gpa).map_err(ParamError::BadCallingArea)?;
        // Clear the new area's header (call_pending and flags), as COCONUT does.
        env.write(gpa, &[0u8; 8]).map_err(|_| ParamError::BadCallingArea(AddressError::Inaccessible))?;
        if !self.vcpus.set_caa(caller.apic_id, gpa) {
            return Err(Bug::VcpuTable.into());
        }
        Ok(())
    }

    /// CREATE_VCPU: RCX = VMSA GPA, RDX = calling area GPA, R8 bits 31:0 = APIC ID. A calling area
    /// that is not validated is refused (INVALID_ADDRESS) before anything changes.
    fn create_vcpu<E: SnpMemory + GuestMemory>(
        &mut self,
        env: &mut E,
        caller: Caller,
        regs: GuestRegs,
    ) -> Result<(), SvsmError> {
        let (vmsa_gpa, caa_gpa, apic_id) = (regs.rcx, regs.rdx, regs.r8 as u32);
        if vmsa_gpa % PAGE_SIZE != 0 || caa_gpa % PAGE_SIZE != 0 {
            return Err(AddressError::Misaligned.into());
        }
        let page = Cleared::vmsa_candidate(vmsa_gpa, &self.ram)?;
        self.ram.check(caa_gpa, PAGE_SIZE)?;
        if vmsa_gpa == caa_gpa {
            return Err(AddressError::CallingArea.into());
        }
        // Bounded before anything changes (threat model T7): an unknown vCPU or one that holds two
        // VMSAs already is refused without touching the page.
        self.vcpus.can_register(apic_id).map_err(|e| match e {
            RegisterRefusal::UnknownApicId => ParamError::UnknownApicId,
            RegisterRefusal::Full => ParamError::TooManyVmsas,
        })?;
        // A VMSA may not be any calling area or an existing VMSA (the CPU would run guest-chosen state
        // over a page Warden writes); the calling area may stay the target vCPU's own.
        self.vcpus.protected(vmsa_gpa, PAGE_SIZE, None)?;
        self.vcpus.protected(caa_gpa, PAGE_SIZE, Some(apic_id))?;
        probe_calling_area(env, caa_gpa)?;

        // Take the page away from the guest before looking at it, so that what is checked is what the
        // CPU will run.
        pages::revoke(env, page, self.guest_vmpl)?;
        let checked = self.check_vmsa(env, vmsa_gpa, caller.sev_features);
        let made = checked.and_then(|()| pages::make_vmsa(env, page, self.guest_vmpl));
        if let Err(e) = made {
            // Give the page back; if that fails too, report the first error.
            let _ = pages::grant(env, page, self.guest_vmpl);
            return Err(e);
        }
        self.vcpus.register(apic_id, vmsa_gpa, caa_gpa).map_err(|_| Bug::VcpuTable.into())
    }

    /// The spec's VMSA rules: VMPL = the guest's, EFER.SVME set, SEV_FEATURES = the caller's.
    fn check_vmsa<E: GuestMemory>(&self, env: &E, gpa: u64, sev_features: u64) -> Result<(), SvsmError> {
        let mut page = [0u8; PAGE_SIZE as usize];
        env.read(gpa, &mut page).map_err(|_| AddressError::Inaccessible)?;
        let vmsa = Vmsa::read_from_bytes(&page).map_err(|_| Bug::VcpuTable)?;
        if vmsa.vmpl != self.guest_vmpl {
            return Err(ParamError::VmsaVmpl.into());
        }
        if vmsa.efer & EFER_SVME == 0 {
            return Err(ParamError::VmsaSvme.into());
        }
        if vmsa.sev_features != sev_features {
            return Err(ParamError::VmsaSevFeatures.into());
        }
        Ok(())
    }

    /// DELETE_VCPU: RCX = a registered VMSA. EFER.SVME is cleared so the CPU refuses to run it, then the
    /// VMSA bit, and the page returns to the guest.
    fn delete_vcpu<E: SnpMemory + GuestMemory>(&mut self, env: &mut E, gpa: u64) -> Result<(), SvsmError> {
        if !self.vcpus.is_vmsa(gpa) {
            return Err(ParamError::NotAVmsa.into());
        }
        let page = Cleared::vmsa_candidate(gpa, &self.ram).map_err(|_| Bug::VcpuTable)?;
        let efer_gpa = gpa + core::mem::offset_of!(Vmsa, efer) as u64;
        let mut efer = [0u8; 8];
        env.read(efer_gpa, &mut efer).map_err(|_| AddressError::Inaccessible)?;
        let cleared = u64::from_le_bytes(efer) & !EFER_SVME;
        env.write(efer_gpa, &cleared.to_le_bytes()).map_err(|_| AddressError::Inaccessible)?;
        pages::grant(env, page, self.guest_vmpl)?;
        self.vcpus.unregister(gpa);
        Ok(())
    }
}

/// Proves that a calling area about to be registered is validated private guest memory, by the very
/// access Warden makes to it later: reading its header (`call_pending` and flags).
///
/// Why (threat model T4, T7): on SEV-SNP, Warden touching an assigned page that is not validated
/// raises #VC with error code 0x404 (AMD64 APM vol. 2 §15.36, "Page Validation";
/// `warden_defs::snp::VC_EXIT_NOT_VALIDATED`). Inside a call [`GuestMemory`] reports it as
/// [`crate::MemoryError::NotValidated`], but a registered calling area is also polled outside any
/// call, where that fault would end Warden. Once registered, a guest PVALIDATE can no longer rescind
/// it ([`Vcpus::protected`]), so a page validated now stays validated as long as it is a calling area.
///
/// Why a read and not an RMP instruction: neither PVALIDATE nor RMPADJUST can only ask. PVALIDATE
/// flips the validated bit; RMPADJUST would have to set the guest VMPL's permissions on the page to
/// find out, granting access the guest VMPL may not have had. The read changes nothing.
/// `gpa` is a page of guest RAM the caller has checked against the vCPU table.
fn probe_calling_area<E: GuestMemory>(env: &E, gpa: u64) -> Result<(), AddressError> {
    let mut header = [0u8; CALLING_AREA_BUFFER_OFFSET as usize];
    env.read(gpa, &mut header).map_err(|_| AddressError::Inaccessible)
}
