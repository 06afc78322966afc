//! VMPL switching on the boot vCPU (SVSM spec (AMD 58019) §"Calling convention", GHCB spec (AMD
//! 56421) §4.1.8 "SNP Run VMPL"): RUN_VMPL from VMPL0 runs the VMSA registered (AP creation) for
//! that VMPL; the guest's VMGEXIT asking for VMPL0 saves its registers into its VMSA page and resumes
//! Warden after its VMGEXIT, with the GHCB MSR answering 0x017. When Warden runs the guest again, its
//! GPRs come from the VMSA page (where Warden wrote its results). Hidden state (segment caches, FPU,
//! descriptor tables) is kept per VMPL with unicorn's context save/restore.
//!
//! More vCPUs: a VMSA registered for another APIC ID (the guest's CREATE_VCPU, which Warden turns into
//! AP creation) runs when the boot vCPU, at the guest's VMPL, makes an exit the hypervisor serves
//! itself (the guest's waits do); it runs until it halts, then the boot vCPU resumes. Warden runs on
//! the boot vCPU only, so another vCPU asking for VMPL0 stops the machine.
use std::collections::{BTreeMap, BTreeSet};

use unicorn_engine::{Context, RegisterX86, Unicorn};

use crate::guest_code;
use crate::hypervisor::Flow;
use crate::machine::{Outcome, State, refresh};
use crate::memory::{self, REGIONS};
use crate::vmsa_state;

/// GHCB MSR RUN_VMPL answer, success.
pub const RUN_VMPL_OK: u64 = 0x017;

/// The vCPUs' VMPL state.
#[derive(Default)]
pub struct Vcpus {
    /// The APIC ID of the vCPU running now.
    apic: u32,
    vmpl: u8,
    ghcb_msr: BTreeMap<(u32, u8), u64>,
    contexts: BTreeMap<(u32, u8), Context>,
    /// Other vCPUs that halted (not scheduled again).
    halted: BTreeSet<u32>,
    /// The boot vCPU's VMPL while another vCPU runs.
    parked_vmpl: u8,
    /// VMSAs registered with AP creation: (APIC ID, VMPL) → VMSA GPA.
    pub registered: BTreeMap<(u32, u8), u64>,
    /// VMPL switches done.
    pub switches: u64,
}

impl std::fmt::Debug for Vcpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vcpus")
            .field("vmpl", &self.vmpl)
            .field("registered", &self.registered)
            .field("switches", &self.switches)
            .finish_non_exhaustive()
    }
}

impl Vcpus {
    /// The VMPL the boot vCPU runs at.
    pub fn vmpl(&self) -> u8 {
        self.vmpl
    }

    /// The APIC ID of the running vCPU.
    pub fn apic(&self) -> u32 {
        self.apic
    }

    /// The GHCB MSR of the running vCPU as seen at `vmpl`.
    pub fn ghcb_msr(&self, vmpl: u8) -> u64 {
        self.ghcb_msr.get(&(self.apic, vmpl)).copied().unwrap_or(0)
    }

    /// Sets the running vCPU's GHCB MSR at `vmpl`.
    pub fn set_ghcb_msr(&mut self, vmpl: u8, value: u64) {
        self.ghcb_msr.insert((self.apic, vmpl), value);
    }
}

fn save_context(uc: &mut Unicorn<'_, State>, vmpl: u8) -> Result<(), String> {
    let mut ctx = uc.context_alloc().map_err(|e| format!("context: {e:?}"))?;
    uc.context_save(&mut ctx).map_err(|e| format!("context save: {e:?}"))?;
    let apic = uc.get_data().vcpus.apic;
    uc.get_data_mut().vcpus.contexts.insert((apic, vmpl), ctx);
    Ok(())
}

fn restore_context(uc: &mut Unicorn<'_, State>, vmpl: u8) -> Result<bool, String> {
    let apic = uc.get_data().vcpus.apic;
    let Some(ctx) = uc.get_data_mut().vcpus.contexts.remove(&(apic, vmpl)) else { return Ok(false) };
    let r = uc.context_restore(&ctx).map_err(|e| format!("context restore: {e:?}"));
    uc.get_data_mut().vcpus.contexts.insert((apic, vmpl), ctx);
    r?;
    // A CR3 write flushes the TLB, which the restored context's translations need.
    let cr3 = uc.reg_read(RegisterX86::CR3).unwrap_or(0);
    uc.reg_write(RegisterX86::CR3, cr3).map_err(|e| format!("cr3: {e:?}"))?;
    Ok(true)
}

fn refresh_all(uc: &mut Unicorn<'_, State>) -> Result<(), String> {
    for (s, e) in REGIONS {
        refresh(uc, s, e)?;
    }
    Ok(())
}

/// RUN_VMPL(`target`) from the current VMPL (RIP already past the VMGEXIT).
pub fn run_vmpl(uc: &mut Unicorn<'_, State>, target: u8) -> Flow {
    match run_vmpl_inner(uc, target) {
        Ok(flow) => flow,
        Err(e) => Flow::Stop(Outcome::Unsupported(e)),
    }
}

fn run_vmpl_inner(uc: &mut Unicorn<'_, State>, target: u8) -> Result<Flow, String> {
    let from = uc.get_data().vcpus.vmpl();
    let apic = uc.get_data().vcpus.apic;
    if apic != 0 {
        return Ok(Flow::Stop(Outcome::Unsupported(format!(
            "vCPU {apic} asked for VMPL{target}: Warden runs on the boot vCPU only on this machine"
        ))));
    }
    if from == 0 && target > 0 {
        let Some(&gpa) = uc.get_data().vcpus.registered.get(&(0, target)) else {
            // No VMSA for that VMPL: the request fails.
            uc.get_data_mut().vcpus.set_ghcb_msr(0, RUN_VMPL_OK | (1 << 32));
            return Ok(Flow::Continue);
        };
        let (e, _) = uc.get_data().snp.rmp_entry(gpa);
        if !e.vmsa {
            return Ok(Flow::Stop(Outcome::RmpViolation(format!(
                "RUN_VMPL {target}: the VMSA page {gpa:#x} lacks the RMP VMSA bit"
            ))));
        }
        uc.get_data_mut().vcpus.set_ghcb_msr(0, RUN_VMPL_OK);
        save_context(uc, 0)?;
        let mut page = vec![0u8; 4096];
        memory::read_private(uc, gpa, &mut page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
        if restore_context(uc, target)? {
            vmsa_state::load_gprs(uc, &page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
        } else {
            vmsa_state::load_full(uc, &page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
            guest_code::hook_guest_sites(uc)?;
        }
        let s = uc.get_data_mut();
        s.vcpus.vmpl = target;
        s.vcpus.switches += 1;
        s.vcpus.set_ghcb_msr(target, RUN_VMPL_OK);
        refresh_all(uc)?;
        Ok(Flow::Continue)
    } else if from > 0 && target == 0 {
        let Some(&gpa) = uc.get_data().vcpus.registered.get(&(0, from)) else {
            return Err(format!("VMPL{from} runs without a registered VMSA"));
        };
        let mut page = vec![0u8; 4096];
        memory::read_private(uc, gpa, &mut page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
        vmsa_state::save_exit(uc, &mut page);
        memory::write_private(uc, gpa, &page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
        save_context(uc, from)?;
        if !restore_context(uc, 0)? {
            return Err("VMPL0 has no saved state to return to".into());
        }
        let s = uc.get_data_mut();
        s.vcpus.vmpl = 0;
        s.vcpus.switches += 1;
        s.vcpus.set_ghcb_msr(0, RUN_VMPL_OK);
        refresh_all(uc)?;
        Ok(Flow::Continue)
    } else {
        Err(format!("RUN_VMPL {target} from VMPL{from} is not modelled"))
    }
}

/// At an exit the hypervisor served for the boot vCPU at a guest VMPL: run another registered vCPU
/// that has not halted, if there is one (its first run starts from its VMSA).
pub fn maybe_run_another_vcpu(uc: &mut Unicorn<'_, State>) -> Flow {
    let v = &uc.get_data().vcpus;
    if v.apic != 0 || v.vmpl == 0 {
        return Flow::Continue;
    }
    let next = v.registered.iter().find(|((apic, _), _)| *apic != 0 && !v.halted.contains(apic));
    let Some((&(apic, vmpl), &gpa)) = next else { return Flow::Continue };
    match switch_to(uc, apic, vmpl, gpa) {
        Ok(flow) => flow,
        Err(e) => Flow::Stop(Outcome::Unsupported(e)),
    }
}

fn switch_to(uc: &mut Unicorn<'_, State>, apic: u32, vmpl: u8, gpa: u64) -> Result<Flow, String> {
    if !uc.get_data().snp.rmp_entry(gpa).0.vmsa {
        return Ok(Flow::Stop(Outcome::RmpViolation(format!(
            "vCPU {apic}: the VMSA page {gpa:#x} lacks the RMP VMSA bit"
        ))));
    }
    let boot_vmpl = uc.get_data().vcpus.vmpl;
    save_context(uc, boot_vmpl)?;
    uc.get_data_mut().vcpus.parked_vmpl = boot_vmpl;
    uc.get_data_mut().vcpus.apic = apic;
    if !restore_context(uc, vmpl)? {
        let mut page = vec![0u8; 4096];
        memory::read_private(uc, gpa, &mut page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
        vmsa_state::load_full(uc, &page).map_err(|e| format!("VMSA {gpa:#x}: {e:?}"))?;
    }
    let s = uc.get_data_mut();
    s.vcpus.vmpl = vmpl;
    s.vcpus.switches += 1;
    if vmpl != boot_vmpl {
        refresh_all(uc)?;
    }
    Ok(Flow::Continue)
}

/// The running vCPU halted. Another vCPU is done and the boot vCPU resumes; the boot vCPU halting
/// ends the machine.
pub fn on_halt(uc: &mut Unicorn<'_, State>) -> Flow {
    let apic = uc.get_data().vcpus.apic;
    if apic == 0 {
        let rip = uc.reg_read(RegisterX86::RIP).unwrap_or(0);
        return Flow::Stop(Outcome::Halted(rip));
    }
    let r = (|| -> Result<(), String> {
        let vmpl = uc.get_data().vcpus.vmpl;
        save_context(uc, vmpl)?;
        let s = uc.get_data_mut();
        s.vcpus.halted.insert(apic);
        s.vcpus.apic = 0;
        let boot_vmpl = s.vcpus.parked_vmpl;
        restore_context(uc, boot_vmpl)?;
        let s = uc.get_data_mut();
        s.vcpus.vmpl = boot_vmpl;
        s.vcpus.switches += 1;
        if boot_vmpl != vmpl {
            refresh_all(uc)?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => Flow::Continue,
        Err(e) => Flow::Stop(Outcome::Unsupported(e)),
    }
}
