//! The machine: one unicorn engine (the vCPU), guest RAM in two views, warden-sim's RMP, the
//! hypervisor model, and the run loop that turns what the engine reports (a hooked site, an invalid
//! instruction, an exception, a protection fault) into what SEV-SNP hardware would do.
use std::collections::BTreeMap;
use std::time::Instant;

use iced_x86::Mnemonic;
use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};
use warden_platform::memory::GpaRange;
use warden_sim::snp::{PscBehavior, SimSnp};

use crate::cpuid_model::CpuidModel;
use crate::exceptions::{self, GP, PF, UD, VC};
use crate::host_nonce::HostNonce;
use crate::hypervisor::{self, Flow, Hypervisor};
use crate::intercepts::{self, MSR_GHCB, MSR_SEV_STATUS, SEV_STATUS, Site};
use crate::loader::LoadedImage;
use crate::memory::{self, PRIVATE_BASE, REGIONS, View, Views};
use crate::psp::cert_chain::CertChain;
use crate::psp::cert_table::certificate_table;
use crate::psp::snp_psp::SnpPsp;
use crate::snp_instructions::{self, Executed, PVALIDATE, RMPADJUST, VMGEXIT};
use crate::vmpl::Vcpus;
use crate::vmsa_state;

/// How the machine is run.
#[derive(Clone, Debug)]
pub struct Config {
    /// How the hypervisor answers page-state changes.
    pub psc_behavior: PscBehavior,
    /// The hypervisor answers GHCB registration with a different GFN.
    pub lie_ghcb_echo: bool,
    /// Wall-clock limit.
    pub max_seconds: f64,
    /// Stop with success once Warden's ready line and the guest's verdict are seen.
    pub smoke: bool,
    /// Print the consoles on stdout.
    pub echo: bool,
    /// Stop with success once Warden's ready line is seen (a guest-less image).
    pub until_ready: bool,
    /// The relying party's nonce the host hands the guest ([`crate::host_nonce`]).
    pub nonce: Option<[u8; crate::host_nonce::NONCE_SIZE]>,
    /// The host file behind the vTPM state disk ([`crate::state_disk`]); `None`: no disk.
    pub vtpm_state: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            psc_behavior: PscBehavior::Honest,
            lie_ghcb_echo: false,
            max_seconds: 60.0,
            smoke: false,
            echo: true,
            until_ready: false,
            nonce: None,
            vtpm_state: None,
        }
    }
}

/// Why the machine stopped.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The smoke run saw what it waits for, or the firmware terminated with TestsPassed (set 0xF, 0).
    Passed(String),
    /// The firmware terminated through the GHCB (reason set, reason code).
    Terminated(u8, u8),
    /// An exception could not be delivered.
    TripleFault(String),
    /// A C=1 access to a page not assigned to the guest, or a PVALIDATE/RMPADJUST of one.
    NestedPageFault(String),
    /// An access the current VMPL has no RMP permission for, or a refused VMSA.
    RmpViolation(String),
    /// The wall-clock limit passed.
    Timeout(f64),
    /// The vCPU halted with nothing left to run.
    Halted(u64),
    /// The guest's verdict line says it failed.
    GuestFailed(String),
    /// Something the machine does not model (or a site it missed).
    Unsupported(String),
    /// TDX: the TD ended itself with TDG.VP.VMCALL<ReportFatalError> and this error code (R12).
    FatalError(u64),
}

impl Outcome {
    /// Success?
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Passed(_))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passed(why) => write!(f, "passed: {why}"),
            Self::Terminated(set, code) => write!(f, "terminated: reason set {set:#x} code {code:#x}"),
            Self::TripleFault(why) => write!(f, "triple fault: {why}"),
            Self::NestedPageFault(why) => write!(f, "nested page fault: {why}"),
            Self::RmpViolation(why) => write!(f, "RMP violation: {why}"),
            Self::Timeout(s) => write!(f, "timeout after {s:.1} s"),
            Self::Halted(rip) => write!(f, "halted at RIP {rip:#x} with nothing left to run"),
            Self::GuestFailed(line) => write!(f, "the guest failed: {line}"),
            Self::Unsupported(why) => write!(f, "unsupported: {why}"),
            Self::FatalError(code) => write!(f, "ReportFatalError with error code {code:#x}"),
        }
    }
}

/// What a hook saw; the run loop acts on it after the engine stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A hooked site is about to execute.
    Site(u64, Site),
    /// An invalid instruction (PVALIDATE, RMPADJUST, VMGEXIT, or a real #UD).
    Invalid,
    /// The emulator raised this exception vector.
    Exception(u32),
    /// A protection fault or unmapped access at this physical (or scratch) address.
    Memory { address: u64, kind: MemType },
    /// An I/O or CPUID instruction ran without a hooked site.
    Unhooked(&'static str),
}

/// Everything the hooks and the run loop share (unicorn's per-engine data).
#[derive(Debug)]
pub struct State {
    /// The RMP, PVALIDATE/RMPADJUST semantics and the page-state-change hypervisor.
    pub snp: SimSnp,
    /// The views' protections.
    pub views: Views,
    /// The CPUID the machine presents.
    pub cpuid: CpuidModel,
    /// The hypervisor model.
    pub hv: Hypervisor,
    /// The vCPUs and their VMPL contexts.
    pub vcpus: Vcpus,
    /// The last hook's event.
    pub event: Option<Event>,
    /// A site to let execute once (after the machine handled it and it must now run natively).
    pub skip_site: Option<u64>,
    /// Every hooked site.
    pub sites: BTreeMap<u64, Site>,
    /// The machine added the C-bit to the CR3 the firmware wrote (reads of CR3 take it away again).
    pub cr3_c_bit_added: bool,
}

/// The machine.
#[allow(missing_debug_implementations)] // unicorn's engine has no Debug
pub struct Machine<'a> {
    /// The engine; its data is the [`State`].
    pub uc: Unicorn<'a, State>,
    config: Config,
    trace: bool,
}

fn uc_err(what: &str) -> impl Fn(unicorn_engine::unicorn_const::uc_error) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

impl<'a> Machine<'a> {
    /// An empty machine: RAM mapped, nothing assigned, no CPU state. Tests place code themselves.
    pub fn empty(config: Config) -> Result<Self, String> {
        let ranges: Vec<GpaRange> = REGIONS.iter().filter_map(|&(s, e)| GpaRange::new(s, e)).collect();
        let mut snp = SimSnp::new(&ranges);
        snp.psc_behavior = config.psc_behavior;
        let mut hv = Hypervisor::new(config.echo, config.lie_ghcb_echo);
        hv.nonce = HostNonce::new(config.nonce);
        if let Some(path) = &config.vtpm_state {
            let disk = crate::state_disk::StateDisk::open(path)
                .map_err(|e| format!("vTPM state file {}: {e}", path.display()))?;
            hv.state_disk = Some(disk);
        }
        let state = State {
            snp,
            views: Views::default(),
            cpuid: CpuidModel::probe(),
            hv,
            vcpus: Vcpus::default(),
            event: None,
            skip_site: None,
            sites: BTreeMap::new(),
            cr3_c_bit_added: false,
        };
        let mut uc = Unicorn::new_with_data(Arch::X86, Mode::MODE_64, state).map_err(uc_err("unicorn"))?;
        let views = memory::map(&mut uc).map_err(uc_err("map RAM"))?;
        uc.get_data_mut().views = views;
        install_hooks(&mut uc)?;
        Ok(Self { uc, config, trace: std::env::var_os("WARDEN_MACHINE_TRACE").is_some() })
    }

    /// A machine with `image` loaded and the boot vCPU in the state its VMSA describes.
    pub fn launch(image: &LoadedImage, config: Config) -> Result<Self, String> {
        let mut m = Self::empty(config)?;
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (&gpa, (page, _)) in &image.pages {
            m.place_unrefreshed(gpa, &page[..], true)?;
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() as u64 == gpa => {
                    bytes.extend_from_slice(&page[..])
                }
                _ => runs.push((gpa, page.to_vec())),
            }
        }
        for (s, e) in REGIONS {
            m.refresh(s, e)?;
        }
        let t = Instant::now();
        let mut count = 0;
        for (start, bytes) in runs {
            let rom = start >= memory::ROM.0;
            m.add_sites(&intercepts::scan(&bytes, start, 64))?;
            if rom {
                // The boot stub starts in 32-bit code.
                m.add_sites(&intercepts::scan(&bytes, start, 32))?;
            }
            count += bytes.len();
        }
        if std::env::var_os("WARDEN_MACHINE_DEBUG").is_some() {
            eprintln!(
                "machine: {} sites in {count} bytes, {:.2} s",
                m.uc.get_data().sites.len(),
                t.elapsed().as_secs_f64()
            );
        }
        vmsa_state::load_boot(&mut m.uc, &image.vmsa.1[..]).map_err(uc_err("boot VMSA"))?;
        // The PSP knows the VMPCKs it put in the secrets page; the host installed the test chain.
        if let Some(psp) = SnpPsp::for_image(image) {
            let hv = &mut m.uc.get_data_mut().hv;
            hv.psp = Box::new(psp);
            hv.certificates = Some(certificate_table(CertChain::stored())?);
        }
        Ok(m)
    }

    /// Places a page (plaintext) at `gpa`; `private` pages are assigned and validated as the PSP
    /// leaves launch pages.
    pub fn place(&mut self, gpa: u64, bytes: &[u8], private: bool) -> Result<(), String> {
        self.place_unrefreshed(gpa, bytes, private)?;
        let end = (gpa + bytes.len() as u64 + 0xFFF) & !0xFFF;
        self.refresh(gpa & !0xFFF, end)
    }

    fn place_unrefreshed(&mut self, gpa: u64, bytes: &[u8], private: bool) -> Result<(), String> {
        if !private || self.uc.get_data().views.paging_off_phase {
            // Before paging is on the shared view stands in for private memory (see `memory`).
            self.uc.mem_write(gpa, bytes).map_err(uc_err("place"))?;
        } else {
            let mut cipher = Vec::with_capacity(bytes.len());
            while cipher.len() < bytes.len() {
                cipher.extend(memory::ciphertext(gpa + cipher.len() as u64, 0));
            }
            self.uc.mem_write(gpa, &cipher[..bytes.len()]).map_err(uc_err("place"))?;
        }
        if private {
            self.uc.mem_write(PRIVATE_BASE + gpa, bytes).map_err(uc_err("place"))?;
            let end = (gpa + bytes.len() as u64 + 0xFFF) & !0xFFF;
            if let Some(r) = GpaRange::new(gpa & !0xFFF, end) {
                self.uc.get_data_mut().snp.prevalidate(r);
            }
        }
        Ok(())
    }

    /// Recomputes the views' protections for [start, end).
    pub fn refresh(&mut self, start: u64, end: u64) -> Result<(), String> {
        refresh(&mut self.uc, start, end)
    }

    /// Hooks `sites`.
    pub fn add_sites(&mut self, sites: &[(u64, Site)]) -> Result<(), String> {
        for &(address, site) in sites {
            crate::guest_code::hook(&mut self.uc, address, site)?;
        }
        Ok(())
    }

    /// Runs until the machine stops.
    pub fn run(&mut self) -> Outcome {
        let start = Instant::now();
        self.uc.get_data_mut().hv.started = Some(start);
        loop {
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed > self.config.max_seconds {
                return Outcome::Timeout(elapsed);
            }
            if let Some(outcome) =
                self.uc.get_data_mut().hv.finished(self.config.smoke, self.config.until_ready)
            {
                return outcome;
            }
            let rip = self.reg(RegisterX86::RIP);
            self.uc.get_data_mut().event = None;
            let budget = ((self.config.max_seconds - elapsed) * 1e6) as u64 + 1;
            let ran = self.uc.emu_start(rip, u64::MAX, budget, 0);
            let event = self.uc.get_data_mut().event.take();
            if self.trace {
                eprintln!(
                    "machine: trace: from {rip:#x} -> {event:?} {ran:?} at {:#x}",
                    self.reg(RegisterX86::RIP)
                );
            }
            let flow = match event {
                Some(Event::Site(address, site)) => self.on_site(address, site),
                Some(Event::Invalid) => self.on_invalid(),
                Some(Event::Exception(vector)) => self.on_exception(vector),
                Some(Event::Memory { address, kind }) => self.on_memory(address, kind),
                Some(Event::Unhooked(what)) => Flow::Stop(Outcome::Unsupported(format!(
                    "{what} at RIP {:#x} ran without a hooked site",
                    rip
                ))),
                None => match ran {
                    Err(e) => Flow::Stop(Outcome::Unsupported(format!(
                        "emulator stopped: {e:?} at RIP {:#x}",
                        self.reg(RegisterX86::RIP)
                    ))),
                    Ok(()) if self.halted() => hypervisor::on_halt(&mut self.uc),
                    // After its first report, unicorn stops in front of a later invalid instruction
                    // with no error and without calling the hook (seen with 2.1.5): a slice that
                    // made no progress is such a stop.
                    Ok(()) if self.reg(RegisterX86::RIP) == rip => self.on_stall(rip),
                    Ok(()) => Flow::Continue,
                },
            };
            if let Flow::Stop(outcome) = flow {
                return outcome;
            }
        }
    }

    fn reg(&self, reg: RegisterX86) -> u64 {
        self.uc.reg_read(reg).unwrap_or(0)
    }

    /// Did the last slice end on HLT?
    fn halted(&mut self) -> bool {
        let rip = self.reg(RegisterX86::RIP);
        let mut b = [0u8; 1];
        self.uc.vmem_read(rip.wrapping_sub(1), Prot::EXEC, &mut b).is_ok() && b[0] == 0xF4
    }

    /// Raises `vector` through the IDT; a failure stops the machine with `what` in the message.
    fn raise(&mut self, vector: u8, error_code: Option<u64>, what: &str) -> Flow {
        match exceptions::deliver(&mut self.uc, vector, error_code) {
            Ok(()) => Flow::Continue,
            Err(fault) => Flow::Stop(Outcome::TripleFault(format!("{what} {}", fault.0))),
        }
    }

    fn on_site(&mut self, address: u64, site: Site) -> Flow {
        let vmpl = self.uc.get_data().vcpus.vmpl();
        match site {
            Site::MovCr0 | Site::MovCr3 | Site::MovFromCr3 => self.on_mov_cr(address, site),
            Site::Rdmsr | Site::Wrmsr => {
                let index = self.reg(RegisterX86::RCX) as u32;
                if index == MSR_GHCB || index == MSR_SEV_STATUS {
                    return self.hardware_msr(site, index, vmpl);
                }
                if intercepts::PASSTHROUGH_MSRS.contains(&index) {
                    // Not intercepted: the instruction runs on the (emulated) CPU itself.
                    self.uc.get_data_mut().skip_site = Some(address);
                    return Flow::Continue;
                }
                self.raise(
                    VC,
                    site.exit_code(),
                    &format!("{} of MSR {index:#x} at RIP {address:#x} raised #VC", site.name()),
                )
            }
            Site::SnpInstruction => self.on_invalid(),
            Site::Cpuid | Site::Io => {
                let what = format!("{} at RIP {address:#x} raised #VC", site.name());
                self.raise(VC, site.exit_code(), &what)
            }
        }
    }

    /// `mov cr0/cr3, reg`, executed by the machine: CR3 always gets the C-bit (SNP walks page tables
    /// as private memory); CR0 setting PG ends the paging-off phase (see `memory`).
    fn on_mov_cr(&mut self, address: u64, site: Site) -> Flow {
        let paging_off = self.uc.get_data().views.paging_off_phase;
        let mut bytes = [0u8; 15];
        let read = if paging_off {
            self.uc.mem_read(address, &mut bytes)
        } else {
            self.uc.vmem_read(address, Prot::EXEC, &mut bytes)
        };
        let long_mode = self.reg(RegisterX86::CR0) & (1 << 31) != 0;
        let insn = intercepts::decode(&bytes, address, if long_mode { 64 } else { 32 });
        let gpr = if site == Site::MovFromCr3 { insn.op0_register() } else { insn.op1_register() };
        let (Ok(()), Some(gpr)) = (read, intercepts::gpr(gpr)) else {
            return Flow::Stop(Outcome::Unsupported(format!(
                "{} at RIP {address:#x} not decodable",
                site.name()
            )));
        };
        let value = self.reg(gpr);
        let result = match site {
            Site::MovCr3 => {
                self.uc.get_data_mut().cr3_c_bit_added = value & PRIVATE_BASE == 0;
                self.uc.reg_write(RegisterX86::CR3, value | PRIVATE_BASE)
            }
            Site::MovFromCr3 => {
                let cr3 = self.reg(RegisterX86::CR3);
                let added = if self.uc.get_data().cr3_c_bit_added { PRIVATE_BASE } else { 0 };
                self.uc.reg_write(gpr, cr3 & !added)
            }
            _ => self.uc.reg_write(RegisterX86::CR0, value),
        };
        if let Err(e) = result {
            return Flow::Stop(Outcome::Unsupported(format!("{} at RIP {address:#x}: {e:?}", site.name())));
        }
        let _ = self.uc.reg_write(RegisterX86::RIP, address + insn.len() as u64);
        if site == Site::MovCr0 && paging_off && value & (1 << 31) != 0 {
            let cr3 = self.reg(RegisterX86::CR3);
            self.uc.get_data_mut().cr3_c_bit_added = cr3 & PRIVATE_BASE == 0;
            let _ = self.uc.reg_write(RegisterX86::CR3, cr3 | PRIVATE_BASE);
            let uc = &mut self.uc;
            let mut views = std::mem::take(&mut uc.get_data_mut().views);
            let snp = std::mem::replace(&mut uc.get_data_mut().snp, SimSnp::new(&[]));
            let r = memory::end_paging_off_phase(uc, &mut views, &snp);
            uc.get_data_mut().snp = snp;
            uc.get_data_mut().views = views;
            if let Err(e) = r {
                return Flow::Stop(Outcome::Unsupported(format!("paging-on transition: {e:?}")));
            }
        }
        Flow::Continue
    }

    /// RDMSR/WRMSR of the two MSRs the CPU itself serves for an SEV-ES guest.
    fn hardware_msr(&mut self, site: Site, index: u32, vmpl: u8) -> Flow {
        let rip = self.reg(RegisterX86::RIP);
        match (site, index) {
            (Site::Rdmsr, _) => {
                let value =
                    if index == MSR_GHCB { self.uc.get_data().vcpus.ghcb_msr(vmpl) } else { SEV_STATUS };
                let _ = self.uc.reg_write(RegisterX86::RAX, value & 0xFFFF_FFFF);
                let _ = self.uc.reg_write(RegisterX86::RDX, value >> 32);
            }
            (_, MSR_GHCB) => {
                let value = (self.reg(RegisterX86::RDX) << 32) | (self.reg(RegisterX86::RAX) & 0xFFFF_FFFF);
                self.uc.get_data_mut().vcpus.set_ghcb_msr(vmpl, value);
            }
            _ => return self.raise(GP, Some(0), "WRMSR of SEV_STATUS raised #GP"),
        }
        let _ = self.uc.reg_write(RegisterX86::RIP, rip + 2);
        Flow::Continue
    }

    /// The engine stopped in front of the instruction at `rip` without a hook: the invalid-instruction
    /// case above, if the instruction is one; anything else is not guessed at.
    fn on_stall(&mut self, rip: u64) -> Flow {
        let mut bytes = [0u8; 15];
        let _ = self.uc.vmem_read(rip, Prot::EXEC, &mut bytes);
        let insn = intercepts::decode(&bytes, rip, 64);
        let snp = [PVALIDATE, RMPADJUST, VMGEXIT].iter().any(|p| bytes.starts_with(p));
        if snp
            || insn.is_invalid()
            || matches!(insn.mnemonic(), Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2)
        {
            self.on_invalid()
        } else {
            Flow::Stop(Outcome::Unsupported(format!(
                "the emulator stopped in front of `{:?}` at RIP {rip:#x} without saying why",
                insn.mnemonic()
            )))
        }
    }

    fn on_invalid(&mut self) -> Flow {
        let rip = self.reg(RegisterX86::RIP);
        let mut bytes = [0u8; 4];
        if self.uc.vmem_read(rip, Prot::EXEC, &mut bytes).is_err() {
            return self.raise(UD, None, &format!("#UD at RIP {rip:#x}"));
        }
        let vmpl = self.uc.get_data().vcpus.vmpl();
        let executed = match bytes {
            PVALIDATE | RMPADJUST => {
                let uc = &mut self.uc;
                let mut snp = std::mem::replace(&mut uc.get_data_mut().snp, SimSnp::new(&[]));
                let e = if bytes == PVALIDATE {
                    snp_instructions::pvalidate(uc, &mut snp, vmpl)
                } else {
                    snp_instructions::rmpadjust(uc, &mut snp, vmpl)
                };
                uc.get_data_mut().snp = snp;
                e
            }
            VMGEXIT => return hypervisor::vmgexit(&mut self.uc),
            _ => return self.raise(UD, None, &format!("#UD ({bytes:02x?}) at RIP {rip:#x}")),
        };
        match executed {
            Executed::Done { gpa, len } => match refresh(&mut self.uc, gpa, gpa + len) {
                Ok(()) => Flow::Continue,
                Err(e) => Flow::Stop(Outcome::Unsupported(e)),
            },
            Executed::GeneralProtection => {
                self.raise(GP, Some(0), &format!("PVALIDATE at VMPL{vmpl} (RIP {rip:#x}) raised #GP"))
            }
            Executed::NotAssigned(why) => {
                Flow::Stop(Outcome::NestedPageFault(format!("{why} (RIP {rip:#x})")))
            }
        }
    }

    fn on_exception(&mut self, vector: u32) -> Flow {
        let rip = self.reg(RegisterX86::RIP);
        let vector = vector as u8;
        let error_code = match vector {
            PF => {
                let cr2 = self.reg(RegisterX86::CR2);
                // Present bit: whether the address translates at all (the rest is not reported by unicorn).
                Some(u64::from(self.uc.vmem_translate(cr2, Prot::READ).is_ok()))
            }
            v if exceptions::has_error_code(v) => Some(0),
            _ => None,
        };
        self.raise(vector, error_code, &format!("exception {vector} at RIP {rip:#x}"))
    }

    fn on_memory(&mut self, address: u64, kind: MemType) -> Flow {
        let rip = self.reg(RegisterX86::RIP);
        let vmpl = self.uc.get_data().vcpus.vmpl();
        let access = match kind {
            MemType::WRITE_PROT | MemType::WRITE_UNMAPPED => "write",
            MemType::FETCH_PROT | MemType::FETCH_UNMAPPED => "instruction fetch",
            _ => "read",
        };
        match memory::classify(address) {
            None => Flow::Stop(Outcome::NestedPageFault(format!(
                "{access} of unmapped physical address {address:#x} at RIP {rip:#x} (VMPL{vmpl})"
            ))),
            Some(View::Private(gpa)) => {
                let (e, _) = self.uc.get_data().snp.rmp_entry(gpa);
                if !e.assigned {
                    Flow::Stop(Outcome::NestedPageFault(format!(
                        "C=1 {access} of GPA {gpa:#x}, not assigned to the guest, at RIP {rip:#x} (VMPL{vmpl})"
                    )))
                } else if !e.validated {
                    let what =
                        format!("C=1 {access} of unvalidated GPA {gpa:#x} at RIP {rip:#x} raised #VC 0x404");
                    self.raise(VC, Some(warden_defs::snp::VC_EXIT_NOT_VALIDATED), &what)
                } else {
                    Flow::Stop(Outcome::RmpViolation(format!(
                        "VMPL{vmpl} has no {access} permission for GPA {:#x} (RIP {rip:#x})",
                        gpa & !0xFFF
                    )))
                }
            }
            Some(View::Shared(gpa)) => {
                let page = gpa & !0xFFF;
                match kind {
                    MemType::WRITE_PROT => {
                        // A write with the wrong key: the private page is ciphertext from now on.
                        let generation = rip;
                        let _ =
                            memory::write_private(&mut self.uc, page, &memory::ciphertext(page, generation));
                        let _ = self.uc.mem_protect(page, 0x1000, Prot::ALL);
                        self.uc.get_data_mut().views.note_shared_writable(page);
                        Flow::Continue
                    }
                    _ => Flow::Stop(Outcome::RmpViolation(format!(
                        "{access} of private GPA {page:#x} through a C=0 mapping at RIP {rip:#x} (VMPL{vmpl})"
                    ))),
                }
            }
        }
    }
}

/// Recomputes the views for [start, end) for the current VMPL.
pub fn refresh(uc: &mut Unicorn<'_, State>, start: u64, end: u64) -> Result<(), String> {
    let vmpl = uc.get_data().vcpus.vmpl();
    let mut views = std::mem::take(&mut uc.get_data_mut().views);
    let snp = std::mem::replace(&mut uc.get_data_mut().snp, SimSnp::new(&[]));
    let r = memory::refresh(uc, &mut views, &snp, vmpl, start, end);
    uc.get_data_mut().snp = snp;
    uc.get_data_mut().views = views;
    r.map_err(|e| format!("protect {start:#x}..{end:#x}: {e:?}"))
}

fn install_hooks(uc: &mut Unicorn<'_, State>) -> Result<(), String> {
    uc.add_insn_invalid_hook(|uc| {
        if std::env::var_os("WARDEN_MACHINE_TRACE").is_some() {
            eprintln!("invalid hook at {:#x}", uc.reg_read(RegisterX86::RIP).unwrap_or(0));
        }
        uc.get_data_mut().event = Some(Event::Invalid);
        false
    })
    .map_err(uc_err("invalid hook"))?;
    uc.add_intr_hook(|uc, vector| {
        uc.get_data_mut().event = Some(Event::Exception(vector));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("interrupt hook"))?;
    let faults = HookType::MEM_PROT | HookType::MEM_UNMAPPED;
    uc.add_mem_hook(faults, 0, u64::MAX, |uc, kind, address, _, _| {
        uc.get_data_mut().event = Some(Event::Memory { address, kind });
        false
    })
    .map_err(uc_err("memory hook"))?;
    uc.add_insn_in_hook(|uc, _, _| {
        uc.get_data_mut().event = Some(Event::Unhooked("IN"));
        let _ = uc.emu_stop();
        0
    })
    .map_err(uc_err("in hook"))?;
    uc.add_insn_out_hook(|uc, _, _, _| {
        uc.get_data_mut().event = Some(Event::Unhooked("OUT"));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("out hook"))?;
    uc.add_insn_sys_hook(unicorn_engine::X86Insn::CPUID, 1, 0, |uc| {
        uc.get_data_mut().event = Some(Event::Unhooked("CPUID"));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("cpuid hook"))?;
    Ok(())
}
