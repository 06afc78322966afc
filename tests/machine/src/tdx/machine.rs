//! The TDX machine: the vCPU (unicorn), guest RAM mapped once at its GPAs with page protections that
//! follow the Secure EPT (accepted: usable; pending or converted to shared: no access, and the fault
//! becomes a #VE or a stop), the TDX module model and the VMM, and the run loop that turns what the
//! engine reports into what a TD would see. Shared GPAs (the shared bit, 47) are reached only by the
//! VMM through GHCI calls: unicorn's 40-bit physical addresses cannot name them in a page table.
//! While the L2 VM runs (`super::l2_run`), the same hooks report its events, which become L2 exits
//! (`super::l2_exits`) instead of #VE.
use std::collections::BTreeMap;
use std::time::Instant;

use iced_x86::Register;
use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Prot};
use unicorn_engine::{RegisterX86, Unicorn};
use warden_platform::memory::GpaRange;
use warden_sim::PageState;

use super::cpuid::module_answer;
use super::l2_run::L2Vcpu;
use super::loader::TdImage;
use super::module::{Gprs, TdMemory, Tdcall, TdxModule};
use super::reset::{self, CR4_MCE};
use super::sites::{self, TDCALL, TdSite};
use super::ve::{self, DF, VE, VeInfo};
use super::vmm::{Vmm, VmmOutcome, WARDEN_TESTS_PASSED};
use crate::exceptions::{self, PF, UD};
use crate::hypervisor::Hypervisor;
use crate::intercepts;
use crate::machine::{Config, Outcome};
use crate::memory::{RAM, REGIONS, ROM};

const PAGE: u64 = 0x1000;
const CHUNK: u64 = 2 << 20;
/// MSRs a TD reads and writes without the TDX module's involvement (IA32_PAT, the segment bases,
/// the SYSCALL MSRs, TSC_AUX); IA32_EFER is readable only ("Intel TDX Module v1.5 Base Architecture
/// Specification" (348549) §"MSR Virtualization"). Every other RDMSR/WRMSR raises #VE.
const NATIVE_MSRS: [u32; 9] = [
    0x277,
    0xC000_0081,
    0xC000_0082,
    0xC000_0083,
    0xC000_0084,
    0xC000_0100,
    0xC000_0101,
    0xC000_0102,
    0xC000_0103,
];
const MSR_EFER: u32 = 0xC000_0080;

/// What a hook saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TdEvent {
    /// A site is about to execute.
    Site(u64, TdSite),
    /// An invalid instruction (TDCALL before its site was hooked, or a real #UD).
    Invalid,
    /// The emulator raised this vector.
    Exception(u32),
    /// An access the protections refused, at this physical address.
    Memory { address: u64, kind: MemType },
    /// An I/O or CPUID instruction ran without a site.
    Unhooked(&'static str),
}

/// The engine's data.
#[derive(Debug)]
pub struct TdState {
    /// The TDX module and its Secure EPT.
    pub module: TdxModule,
    /// The VMM.
    pub vmm: Vmm,
    /// The last hook's event.
    pub event: Option<TdEvent>,
    /// A site to let execute once.
    pub skip_site: Option<u64>,
    /// Every hooked site.
    pub sites: BTreeMap<u64, TdSite>,
    /// Per page of [`REGIONS`]: whether it is mapped usable now (for the L1).
    usable: BTreeMap<u64, bool>,
    /// The L2 VM's vCPU: which VM runs, the saved contexts, the L2's protections.
    pub l2: L2Vcpu,
}

/// The TDX machine.
#[allow(missing_debug_implementations)] // unicorn's engine has no Debug
pub struct TdxMachine<'a> {
    /// The engine.
    pub uc: Unicorn<'a, TdState>,
    config: Config,
    trace: bool,
}

fn uc_err(what: &str) -> impl Fn(unicorn_engine::unicorn_const::uc_error) -> String + '_ {
    move |e| format!("{what}: {e:?}")
}

/// The machine's view of private memory for the TDX module (GPA = physical address).
struct Physical<'u, 'a>(&'u mut Unicorn<'a, TdState>);

impl TdMemory for Physical<'_, '_> {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        self.0.mem_read(gpa, buf).is_ok()
    }
    fn write(&mut self, gpa: u64, buf: &[u8]) -> bool {
        self.0.mem_write(gpa, buf).is_ok()
    }
}

/// The GPRs in TDG.VP.VMCALL's order ([`Gprs`]).
pub(super) const GPRS: [RegisterX86; 16] = [
    RegisterX86::RAX,
    RegisterX86::RCX,
    RegisterX86::RDX,
    RegisterX86::RBX,
    RegisterX86::RSP,
    RegisterX86::RBP,
    RegisterX86::RSI,
    RegisterX86::RDI,
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
];

impl<'a> TdxMachine<'a> {
    /// The TD `image` built, the vCPU at the reset vector.
    pub fn launch(image: &TdImage, config: Config) -> Result<Self, String> {
        let ram: Vec<GpaRange> = REGIONS.iter().filter_map(|&(s, e)| GpaRange::new(s, e)).collect();
        let module = TdxModule::new(&ram, image.pages.keys().copied(), image.mrtd.finalize());
        let mut hv = Hypervisor::new(config.echo, false);
        hv.nonce = crate::host_nonce::HostNonce::new(config.nonce);
        let state = TdState {
            module,
            vmm: Vmm::new(hv),
            event: None,
            skip_site: None,
            sites: BTreeMap::new(),
            usable: BTreeMap::new(),
            l2: L2Vcpu::default(),
        };
        let mut uc = Unicorn::new_with_data(Arch::X86, Mode::MODE_64, state).map_err(uc_err("unicorn"))?;
        for (s, e) in REGIONS {
            for chunk in (s..e).step_by(CHUNK as usize) {
                uc.mem_map(chunk, CHUNK, Prot::NONE).map_err(uc_err("map RAM"))?;
            }
        }
        install_hooks(&mut uc)?;
        let mut m = Self { uc, config, trace: std::env::var_os("WARDEN_MACHINE_TRACE").is_some() };
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (&gpa, page) in &image.pages {
            m.uc.mem_write(gpa, &page[..]).map_err(uc_err("place"))?;
            match runs.last_mut() {
                Some((start, bytes)) if *start + bytes.len() as u64 == gpa => {
                    bytes.extend_from_slice(&page[..])
                }
                _ => runs.push((gpa, page.to_vec())),
            }
        }
        for (s, e) in REGIONS {
            follow_sept(&mut m.uc, s, e)?;
        }
        for (start, bytes) in runs {
            m.add_sites(&sites::scan(&bytes, start, 64))?;
            if start >= ROM.0 {
                m.add_sites(&sites::scan(&bytes, start, 32))?;
            }
        }
        reset::enter(&mut m.uc).map_err(uc_err("reset state"))?;
        Ok(m)
    }

    /// Hooks `sites`.
    pub fn add_sites(&mut self, sites: &[(u64, TdSite)]) -> Result<(), String> {
        for &(address, site) in sites {
            if self.uc.get_data().sites.contains_key(&address) {
                continue;
            }
            self.uc.get_data_mut().sites.insert(address, site);
            self.uc
                .add_code_hook(address, address, move |uc, a, _| {
                    let s = uc.get_data_mut();
                    if s.skip_site == Some(a) {
                        s.skip_site = None;
                        return;
                    }
                    s.event = Some(TdEvent::Site(a, site));
                    let _ = uc.emu_stop();
                })
                .map_err(uc_err("code hook"))?;
        }
        Ok(())
    }

    /// Runs until the machine stops.
    pub fn run(&mut self) -> Outcome {
        let start = Instant::now();
        self.uc.get_data_mut().vmm.hv.started = Some(start);
        loop {
            let elapsed = start.elapsed().as_secs_f64();
            if elapsed > self.config.max_seconds {
                return Outcome::Timeout(elapsed);
            }
            if let Some(o) =
                self.uc.get_data_mut().vmm.hv.finished(self.config.smoke, self.config.until_ready)
            {
                return o;
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
            let step = match event {
                Some(TdEvent::Site(address, site)) => self.on_site(address, site),
                Some(TdEvent::Invalid) => self.on_invalid(),
                Some(TdEvent::Exception(vector)) => self.on_exception(vector),
                Some(TdEvent::Memory { address, kind }) => self.on_memory(address, kind),
                Some(TdEvent::Unhooked(what)) => {
                    Err(Outcome::Unsupported(format!("{what} at RIP {rip:#x} ran without a hooked site")))
                }
                None => match ran {
                    Err(e) => Err(Outcome::Unsupported(format!(
                        "emulator stopped: {e:?} at RIP {:#x}",
                        self.reg(RegisterX86::RIP)
                    ))),
                    Ok(()) if self.halted() && self.in_l2() => self.l2_halted(),
                    Ok(()) if self.halted() => {
                        // HLT in a TD raises #VE (the guest asks the VMM with Instruction.HLT).
                        let at = self.reg(RegisterX86::RIP) - 1;
                        let _ = self.uc.reg_write(RegisterX86::RIP, at);
                        self.raise_ve(VeInfo::instruction(ve::EXIT_HLT, 0, 1), &format!("HLT at RIP {at:#x}"))
                    }
                    Ok(()) if self.reg(RegisterX86::RIP) == rip => self.on_stall(rip),
                    Ok(()) => Ok(()),
                },
            };
            if let Err(outcome) = step {
                return outcome;
            }
        }
    }

    pub(super) fn reg(&self, reg: RegisterX86) -> u64 {
        self.uc.reg_read(reg).unwrap_or(0)
    }

    fn halted(&mut self) -> bool {
        let rip = self.reg(RegisterX86::RIP);
        let mut b = [0u8; 1];
        self.uc.vmem_read(rip.wrapping_sub(1), Prot::EXEC, &mut b).is_ok() && b[0] == 0xF4
    }

    fn long_mode(&self) -> bool {
        self.reg(RegisterX86::CR0) & (1 << 31) != 0
    }

    /// The instruction at `rip`, decoded in the current mode.
    pub(super) fn decode(&self, rip: u64) -> Option<iced_x86::Instruction> {
        // Byte by byte: an instruction near the end of the ROM has fewer than 15 readable bytes after it.
        let mut bytes = Vec::with_capacity(15);
        for at in rip..rip + 15 {
            let mut b = [0u8; 1];
            let read = if self.long_mode() {
                self.uc.vmem_read(at, Prot::EXEC, &mut b)
            } else {
                self.uc.mem_read(at, &mut b)
            };
            if read.is_err() {
                break;
            }
            bytes.push(b[0]);
        }
        let insn = intercepts::decode(&bytes, rip, if self.long_mode() { 64 } else { 32 });
        (!insn.is_invalid()).then_some(insn)
    }

    /// Delivers `vector` through the running VM's IDT; one the L2 cannot take exits with a triple fault.
    pub(super) fn raise(&mut self, vector: u8, error_code: Option<u64>, what: &str) -> Result<(), Outcome> {
        if self.in_l2() {
            return self.l2_raise(vector, error_code);
        }
        exceptions::deliver(&mut self.uc, vector, error_code)
            .map_err(|fault| Outcome::TripleFault(format!("{what}: {}", fault.0)))
    }

    /// Raises #VE with `info` (RIP at the instruction); a #VE while the last one's information is
    /// unread is a #DF.
    fn raise_ve(&mut self, info: VeInfo, what: &str) -> Result<(), Outcome> {
        let module = &mut self.uc.get_data_mut().module;
        if module.ve.is_some() {
            return self.raise(
                DF,
                Some(0),
                &format!("{what} raised #VE while the last #VE was unread (#DF)"),
            );
        }
        module.ve = Some(info);
        module.counters.ves += 1;
        self.raise(VE, None, &format!("{what} raised #VE"))
    }

    fn skip(&mut self, address: u64, len: u64) {
        let _ = self.uc.reg_write(RegisterX86::RIP, address + len);
    }

    fn on_site(&mut self, address: u64, site: TdSite) -> Result<(), Outcome> {
        if self.in_l2() {
            return self.l2_site(address, site);
        }
        match site {
            TdSite::Tdcall => self.tdcall(address),
            // A TD's L1 cannot VMCALL (only its L2 can, to exit to the L1).
            TdSite::Vmcall => self.raise(UD, None, &format!("VMCALL at RIP {address:#x}")),
            TdSite::Cpuid => {
                let (leaf, sub) = (self.reg(RegisterX86::RAX) as u32, self.reg(RegisterX86::RCX) as u32);
                match module_answer(leaf, sub) {
                    Some(regs) => {
                        for (r, v) in [RegisterX86::RAX, RegisterX86::RBX, RegisterX86::RCX, RegisterX86::RDX]
                            .into_iter()
                            .zip(regs)
                        {
                            let _ = self.uc.reg_write(r, u64::from(v));
                        }
                        self.skip(address, 2);
                        Ok(())
                    }
                    None => self.raise_ve(
                        VeInfo::instruction(ve::EXIT_CPUID, 0, 2),
                        &format!("CPUID {leaf:#x} at RIP {address:#x}"),
                    ),
                }
            }
            TdSite::Rdmsr | TdSite::Wrmsr => {
                let index = self.reg(RegisterX86::RCX) as u32;
                let read = site == TdSite::Rdmsr;
                if NATIVE_MSRS.contains(&index) || (read && index == MSR_EFER) {
                    self.uc.get_data_mut().skip_site = Some(address);
                    return Ok(());
                }
                let (reason, name) = if read { (ve::EXIT_RDMSR, "RDMSR") } else { (ve::EXIT_WRMSR, "WRMSR") };
                self.raise_ve(
                    VeInfo::instruction(reason, 0, 2),
                    &format!("{name} of MSR {index:#x} at RIP {address:#x}"),
                )
            }
            TdSite::Io => {
                let Some(insn) = self.decode(address) else {
                    return Err(Outcome::Unsupported(format!("I/O at RIP {address:#x} not decodable")));
                };
                let qualification = io_qualification(&insn, self.reg(RegisterX86::RDX) as u16);
                self.raise_ve(
                    VeInfo::instruction(ve::EXIT_IO, qualification, insn.len() as u32),
                    &format!("IN/OUT at RIP {address:#x}"),
                )
            }
            TdSite::MovCr4 => {
                let Some((insn, gpr)) =
                    self.decode(address).and_then(|i| intercepts::gpr(i.op1_register()).map(|g| (i, g)))
                else {
                    return Err(Outcome::Unsupported(format!("MOV CR4 at RIP {address:#x} not decodable")));
                };
                if self.reg(gpr) & CR4_MCE != 0 {
                    self.uc.get_data_mut().skip_site = Some(address);
                    return Ok(());
                }
                // Exit qualification: CR number 4, access type 0 (MOV to CR), the source GPR in [11:8].
                let source = GPRS.iter().position(|&r| r == gpr).unwrap_or(0) as u64;
                self.raise_ve(
                    VeInfo::instruction(ve::EXIT_CR_ACCESS, 4 | (source << 8), insn.len() as u32),
                    &format!("MOV to CR4 clearing MCE at RIP {address:#x}"),
                )
            }
        }
    }

    fn tdcall(&mut self, address: u64) -> Result<(), Outcome> {
        let mut regs: Gprs = [0; 16];
        for (v, r) in regs.iter_mut().zip(GPRS) {
            *v = self.reg(r);
        }
        let placeholder = TdxModule::new(&[], [], [0; 48]);
        let mut module = std::mem::replace(&mut self.uc.get_data_mut().module, placeholder);
        let result = module.tdcall(&mut regs, &mut Physical(&mut self.uc));
        let vmm_outcome = match result {
            Tdcall::Vmcall(exposed) => {
                Some(self.uc.get_data_mut().vmm.serve(&mut module, &mut regs, exposed))
            }
            _ => None,
        };
        self.uc.get_data_mut().module = module;
        for (v, r) in regs.iter().zip(GPRS) {
            let _ = self.uc.reg_write(r, *v);
        }
        self.skip(address, TDCALL.len() as u64);
        match (result, vmm_outcome) {
            (Tdcall::Accepted(s, e), _) | (_, Some(VmmOutcome::Mapped(s, e))) => {
                self.uc.get_data_mut().l2.memory_changed();
                follow_sept(&mut self.uc, s, e).map_err(Outcome::Unsupported)
            }
            (Tdcall::L2AttrsChanged, _) => {
                self.uc.get_data_mut().l2.memory_changed();
                Ok(())
            }
            (Tdcall::EnterL2(buffer), _) => self.enter_l2(buffer),
            (_, Some(VmmOutcome::Fatal(code))) if code & 0xFFFF_FFFF == WARDEN_TESTS_PASSED => {
                Err(Outcome::Passed(format!("TestsPassed (ReportFatalError code {code:#x})")))
            }
            (_, Some(VmmOutcome::Fatal(code))) => Err(Outcome::FatalError(code)),
            (_, Some(VmmOutcome::Halted)) => Err(Outcome::Halted(address)),
            _ => Ok(()),
        }
    }

    fn on_stall(&mut self, rip: u64) -> Result<(), Outcome> {
        if self.in_l2() {
            return self.l2_unrunnable(rip);
        }
        let mut bytes = [0u8; 4];
        let _ = self.uc.vmem_read(rip, Prot::EXEC, &mut bytes);
        if bytes == TDCALL {
            return self.tdcall(rip);
        }
        match self.decode(rip) {
            None => self.raise(UD, None, &format!("#UD at RIP {rip:#x}")),
            Some(i) => Err(Outcome::Unsupported(format!(
                "the emulator stopped in front of `{:?}` at RIP {rip:#x} without saying why",
                i.mnemonic()
            ))),
        }
    }

    fn on_invalid(&mut self) -> Result<(), Outcome> {
        let rip = self.reg(RegisterX86::RIP);
        if self.in_l2() {
            return self.l2_unrunnable(rip);
        }
        let mut bytes = [0u8; 4];
        let _ = self.uc.vmem_read(rip, Prot::EXEC, &mut bytes);
        if bytes == TDCALL {
            return self.tdcall(rip);
        }
        self.raise(UD, None, &format!("#UD ({bytes:02x?}) at RIP {rip:#x}"))
    }

    fn on_exception(&mut self, vector: u32) -> Result<(), Outcome> {
        let rip = self.reg(RegisterX86::RIP);
        let vector = vector as u8;
        if vector == UD && self.in_l2() {
            // The engine's #UD for VMCALL or TDCALL of the L2 is an exit, not the L2's exception.
            return self.l2_unrunnable(rip);
        }
        let error_code = match vector {
            PF => {
                let cr2 = self.reg(RegisterX86::CR2);
                Some(u64::from(self.uc.vmem_translate(cr2, Prot::READ).is_ok()))
            }
            v if exceptions::has_error_code(v) => Some(0),
            _ => None,
        };
        self.raise(vector, error_code, &format!("exception {vector} at RIP {rip:#x}"))
    }

    fn on_memory(&mut self, address: u64, kind: MemType) -> Result<(), Outcome> {
        if self.in_l2() {
            return self.l2_memory(address, kind);
        }
        let rip = self.reg(RegisterX86::RIP);
        let (access, qualification) = match kind {
            MemType::WRITE_PROT | MemType::WRITE_UNMAPPED => ("write", ve::EPT_WRITE),
            MemType::FETCH_PROT | MemType::FETCH_UNMAPPED => ("instruction fetch", ve::EPT_FETCH),
            _ => ("read", ve::EPT_READ),
        };
        let in_ram = REGIONS.iter().any(|&(s, e)| address >= s && address < e);
        if !in_ram {
            return Err(Outcome::NestedPageFault(format!(
                "{access} of GPA {address:#x}, outside the TD's memory, at RIP {rip:#x}"
            )));
        }
        match self.uc.get_data().module.sept.page_state(address & !(PAGE - 1)) {
            PageState::Pending => {
                let info = VeInfo {
                    exit_reason: ve::EXIT_EPT_VIOLATION,
                    exit_qualification: qualification,
                    gpa: address,
                    ..VeInfo::default()
                };
                self.raise_ve(info, &format!("{access} of pending GPA {address:#x} at RIP {rip:#x}"))
            }
            PageState::Shared => Err(Outcome::NestedPageFault(format!(
                "private {access} of GPA {address:#x}, which MapGPA made shared, at RIP {rip:#x} (an EPT violation the VMM sees)"
            ))),
            PageState::Accepted => Err(Outcome::Unsupported(format!(
                "{access} of accepted GPA {address:#x} refused at RIP {rip:#x}"
            ))),
        }
    }
}

/// The I/O qualification of `insn` (port from DX unless immediate).
pub(super) fn io_qualification(insn: &iced_x86::Instruction, dx: u16) -> u64 {
    use iced_x86::Mnemonic as M;
    let is_in = matches!(insn.mnemonic(), M::In | M::Insb | M::Insw | M::Insd);
    let string = matches!(insn.mnemonic(), M::Insb | M::Insw | M::Insd | M::Outsb | M::Outsw | M::Outsd);
    let immediate = (0..insn.op_count()).any(|i| insn.op_kind(i) == iced_x86::OpKind::Immediate8);
    let port = if immediate { insn.immediate8() as u16 } else { dx };
    let data = if is_in { insn.op0_register() } else { insn.op1_register() };
    let size = match data {
        Register::AL => 1,
        Register::AX => 2,
        Register::EAX => 4,
        _ => match insn.mnemonic() {
            M::Insw | M::Outsw => 2,
            M::Insd | M::Outsd => 4,
            _ => 1,
        },
    };
    VeInfo::io_qualification(size, is_in, string, insn.has_rep_prefix(), immediate, port)
}

/// Sets the protections of [start, end) from the Secure EPT: accepted pages usable, others not.
pub fn follow_sept(uc: &mut Unicorn<'_, TdState>, start: u64, end: u64) -> Result<(), String> {
    for (rs, re) in [RAM, ROM] {
        let (s, e) = (start.max(rs) & !(PAGE - 1), end.min(re));
        let mut gpa = s;
        while gpa < e {
            let want = uc.get_data().module.accepted(gpa);
            let mut run_end = gpa + PAGE;
            while run_end < e && uc.get_data().module.accepted(run_end) == want {
                run_end += PAGE;
            }
            let changed = (gpa..run_end)
                .step_by(PAGE as usize)
                .any(|p| uc.get_data().usable.get(&p).copied().unwrap_or(false) != want);
            if changed {
                let prot = if want { Prot::ALL } else { Prot::NONE };
                uc.mem_protect(gpa, run_end - gpa, prot).map_err(|e| format!("protect {gpa:#x}: {e:?}"))?;
                let usable = &mut uc.get_data_mut().usable;
                for p in (gpa..run_end).step_by(PAGE as usize) {
                    usable.insert(p, want);
                }
            }
            gpa = run_end;
        }
    }
    Ok(())
}

fn install_hooks(uc: &mut Unicorn<'_, TdState>) -> Result<(), String> {
    uc.add_insn_invalid_hook(|uc| {
        uc.get_data_mut().event = Some(TdEvent::Invalid);
        false
    })
    .map_err(uc_err("invalid hook"))?;
    uc.add_intr_hook(|uc, vector| {
        uc.get_data_mut().event = Some(TdEvent::Exception(vector));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("interrupt hook"))?;
    uc.add_mem_hook(HookType::MEM_PROT | HookType::MEM_UNMAPPED, 0, u64::MAX, |uc, kind, address, _, _| {
        uc.get_data_mut().event = Some(TdEvent::Memory { address, kind });
        false
    })
    .map_err(uc_err("memory hook"))?;
    uc.add_insn_in_hook(|uc, _, _| {
        uc.get_data_mut().event = Some(TdEvent::Unhooked("IN"));
        let _ = uc.emu_stop();
        0
    })
    .map_err(uc_err("in hook"))?;
    uc.add_insn_out_hook(|uc, _, _, _| {
        uc.get_data_mut().event = Some(TdEvent::Unhooked("OUT"));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("out hook"))?;
    uc.add_insn_sys_hook(unicorn_engine::X86Insn::CPUID, 1, 0, |uc| {
        uc.get_data_mut().event = Some(TdEvent::Unhooked("CPUID"));
        let _ = uc.emu_stop();
    })
    .map_err(uc_err("cpuid hook"))?;
    Ok(())
}
