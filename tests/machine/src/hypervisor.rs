//! The hypervisor model: what happens at VMGEXIT (GHCB spec (AMD 56421) §2 "GHCB protocol"). The GHCB
//! MSR holds either an MSR-protocol request ([`ghcb_msr`]) or the GPA of the vCPU's GHCB page
//! ([`nae`]). Consoles, AP creation records and the PSP hook live here; RMP work is warden-sim's.
use unicorn_engine::{RegisterX86, Unicorn};
use warden_defs::psc::{PscDescriptor, PscEntry, PscHeader, PscOp};
use warden_platform::memory::{PscError, SnpMemory};
use warden_sim::snp::SimSnp;

use crate::ghcb_msr::{self, MsrRequest};
use crate::host_nonce::{HostNonce, NONCE_PORT};
use crate::machine::{Outcome, State, refresh};
use crate::memory;
use crate::nae;
use crate::psp::{NoPsp, PspModel};
use crate::serial::Console;
use crate::state_disk::{self, StateDisk};
use crate::vmpl;

/// What the run loop does next.
#[derive(Debug, PartialEq)]
pub enum Flow {
    /// Resume the vCPU.
    Continue,
    /// Stop the machine.
    Stop(Outcome),
}

/// Warden's ready line.
pub const READY_LINE: &str = "warden: ready:";
/// The guest's final verdict line starts with this.
pub const VERDICT_LINE: &str = "guest: verdict: ";

/// The hypervisor's own state.
#[derive(Debug)]
pub struct Hypervisor {
    /// Warden's COM1 (VMPL0).
    pub warden: Console,
    /// The guest's COM1 (VMPL1-3).
    pub guest: Console,
    /// Print the consoles.
    pub echo: bool,
    /// Lie about the GHCB registration echo.
    pub lie_ghcb_echo: bool,
    /// The PSP behind guest requests.
    pub psp: Box<dyn PspModel>,
    /// The certificate table the host installed for extended guest requests (GHCB spec (AMD 56421)
    /// §4.1.8.1); `None` answers them with an empty table.
    pub certificates: Option<Vec<u8>>,
    /// The relying party's nonce on the guest's I/O port ([`crate::host_nonce`]).
    pub nonce: HostNonce,
    /// A refused request to report (e.g. AP creation with a non-VMSA page).
    pub notes: Vec<String>,
    /// A stop the hypervisor decided on (termination) that the run loop reports.
    pub stop: Option<Outcome>,
    /// Page-state changes requested through the GHCB MSR protocol (one page each, before a GHCB).
    pub msr_psc: u64,
    /// When Warden's ready line was printed, in seconds since the machine started running.
    pub ready_at: Option<f64>,
    /// When the machine started running.
    pub started: Option<std::time::Instant>,
    /// The vTPM state disk Warden reaches (`--vtpm-state FILE`); without it its ports read as an empty
    /// channel, and Warden keeps the vTPM's state in memory only.
    pub state_disk: Option<StateDisk>,
}

impl Hypervisor {
    /// An honest hypervisor.
    pub fn new(echo: bool, lie_ghcb_echo: bool) -> Self {
        Self {
            warden: Console::default(),
            guest: Console::default(),
            echo,
            lie_ghcb_echo,
            psp: Box::new(NoPsp),
            certificates: None,
            nonce: HostNonce::default(),
            notes: Vec::new(),
            stop: None,
            msr_psc: 0,
            ready_at: None,
            started: None,
            state_disk: None,
        }
    }

    /// Whether the run is over: a stop decided earlier, (smoke) ready line and guest verdict seen, or
    /// (until ready) the ready line seen.
    pub fn finished(&mut self, smoke: bool, until_ready: bool) -> Option<Outcome> {
        if let Some(stop) = self.stop.take() {
            return Some(stop);
        }
        let verdict = self.guest.lines.iter().find(|l| l.starts_with(VERDICT_LINE)).cloned();
        if let Some(v) = &verdict
            && !v[VERDICT_LINE.len()..].starts_with("PASS")
        {
            return Some(Outcome::GuestFailed(v.clone()));
        }
        let ready = self.warden.lines.iter().any(|l| l.starts_with(READY_LINE));
        match (smoke, ready, verdict) {
            (true, true, Some(v)) => Some(Outcome::Passed(v)),
            _ if until_ready && ready => Some(Outcome::Passed("Warden's ready line".into())),
            _ => None,
        }
    }

    /// A byte written to a port by the vCPU at `vmpl`.
    pub fn port_out(&mut self, vmpl: u8, port: u16, byte: u8) {
        if port == NONCE_PORT {
            self.nonce.rewind();
        } else if vmpl == 0 {
            let line = self.warden.out(port, byte, "", self.echo);
            if line.is_some_and(|l| l.starts_with(READY_LINE)) && self.ready_at.is_none() {
                self.ready_at = self.started.map(|t| t.elapsed().as_secs_f64());
            }
        } else {
            // The guest prints its own `guest: ` prefix; the machine adds it to lines without one.
            if let Some(line) = self.guest.out(port, byte, "", false) {
                let line = if line.starts_with("guest: ") { line } else { format!("guest: {line}") };
                if self.echo {
                    println!("{line}");
                }
                if let Some(last) = self.guest.lines.last_mut() {
                    *last = line;
                }
            }
        }
    }

    /// A read of `width` bytes from a port by the vCPU at `vmpl`: the state disk's registers (Warden's
    /// only), the nonce port's stream, else the console's.
    pub fn port_in(&mut self, vmpl: u8, port: u16, width: u8) -> u64 {
        match self.state_disk.as_mut() {
            Some(disk) if vmpl == 0 && state_disk::owns(port) => disk.read(port, width),
            _ if port == NONCE_PORT => u64::from(self.nonce.read()),
            _ => u64::from(Console::input(port)),
        }
    }

    /// A write to one of the state disk's ports by Warden; `false` when the port is not the disk's.
    pub fn state_disk_out(&mut self, vmpl: u8, port: u16, value: u64) -> bool {
        match self.state_disk.as_mut() {
            Some(disk) if vmpl == 0 && state_disk::owns(port) => {
                disk.write(port, value);
                true
            }
            _ => false,
        }
    }
}

/// VMGEXIT at RIP: the hypervisor serves the request in the GHCB MSR.
pub fn vmgexit(uc: &mut Unicorn<'_, State>) -> Flow {
    let switches = uc.get_data().vcpus.switches;
    let flow = serve_exit(uc);
    // An exit the hypervisor served itself (no VMPL switch) is where another vCPU gets to run.
    if flow == Flow::Continue && uc.get_data().vcpus.switches == switches {
        return vmpl::maybe_run_another_vcpu(uc);
    }
    flow
}

fn serve_exit(uc: &mut Unicorn<'_, State>) -> Flow {
    let rip = uc.reg_read(RegisterX86::RIP).unwrap_or(0);
    let _ = uc.reg_write(RegisterX86::RIP, rip + 4);
    let vmpl = uc.get_data().vcpus.vmpl();
    let msr = uc.get_data().vcpus.ghcb_msr(vmpl);
    if msr & 0xFFF == 0 {
        return nae::serve(uc, msr);
    }
    let lie = uc.get_data().hv.lie_ghcb_echo;
    let cpuid = uc.get_data().cpuid.clone();
    match ghcb_msr::decode(msr, |leaf| cpuid.lookup(leaf, 0), lie) {
        MsrRequest::Respond(value) => {
            uc.get_data_mut().vcpus.set_ghcb_msr(vmpl, value);
            Flow::Continue
        }
        MsrRequest::PageState { gpa, private } => {
            uc.get_data_mut().hv.msr_psc += 1;
            let op = if private { PscOp::PRIVATE } else { PscOp::SHARED };
            let mut desc = PscDescriptor::zeroed();
            desc.header = PscHeader { cur_entry: 0, end_entry: 0, reserved: 0 };
            desc.entries[0] = PscEntry::new(gpa >> 12, op, false);
            let error = match page_state_change(uc, &mut desc) {
                Ok(()) if desc.header.cur_entry > 0 => 0,
                Ok(()) => 1,
                Err(e) => psc_error_code(e) >> 32 | 1,
            };
            uc.get_data_mut().vcpus.set_ghcb_msr(vmpl, 0x015 | (error << 32));
            Flow::Continue
        }
        MsrRequest::RunVmpl(target) => vmpl::run_vmpl(uc, target),
        MsrRequest::Terminate(0xF, 0) => {
            Flow::Stop(Outcome::Passed("TestsPassed termination (set 0xF code 0)".into()))
        }
        MsrRequest::Terminate(set, code) => Flow::Stop(Outcome::Terminated(set, code)),
        MsrRequest::Unknown(m) => {
            Flow::Stop(Outcome::Unsupported(format!("GHCB MSR request {m:#x} at RIP {rip:#x} (VMPL{vmpl})")))
        }
    }
}

/// The sw_exit_info_2 of a failed page-state change.
pub fn psc_error_code(e: PscError) -> u64 {
    match e {
        PscError::InvalidHeader => warden_defs::psc::PSC_ERROR_INVALID_HEADER,
        PscError::InvalidEntry => warden_defs::psc::PSC_ERROR_INVALID_ENTRY,
        PscError::Generic => warden_defs::psc::PSC_ERROR_GENERIC,
        PscError::Other(code) | PscError::Ghcb(code) => code,
    }
}

/// Serves a page-state change on warden-sim (honouring its `PscBehavior`), then makes the memory
/// views follow the RMP: a page given to the guest holds ciphertext in both views until validated
/// and written; a page taken back reads zero.
pub fn page_state_change(uc: &mut Unicorn<'_, State>, desc: &mut PscDescriptor) -> Result<(), PscError> {
    let ranges: Vec<(u64, u64)> = desc
        .entries
        .iter()
        .take(usize::from(desc.header.end_entry.min(252)) + 1)
        .skip(usize::from(desc.header.cur_entry))
        .map(|e| if e.is_2m() { (e.gpa() & !0x1F_FFFF, 0x20_0000) } else { (e.gpa(), 0x1000) })
        .collect();
    let before: Vec<Vec<bool>> =
        ranges.iter().map(|&(s, len)| assigned(&uc.get_data().snp, s, len)).collect();
    // SAFETY: SimSnp's implementation of this trait method only updates its model.
    let result = unsafe { uc.get_data_mut().snp.page_state_change(desc) };
    for (&(start, len), was) in ranges.iter().zip(before) {
        let now = assigned(&uc.get_data().snp, start, len);
        for (i, (&a, &b)) in was.iter().zip(now.iter()).enumerate() {
            if a != b {
                let gpa = start + 4096 * i as u64;
                let fill = if b { memory::ciphertext(gpa, 1) } else { vec![0; 4096] };
                let _ = memory::write_private(uc, gpa, &fill);
                let _ = uc.mem_write(gpa, &fill);
            }
        }
        let _ = refresh(uc, start, start + len);
    }
    result
}

fn assigned(snp: &SimSnp, start: u64, len: u64) -> Vec<bool> {
    (start..start + len).step_by(4096).map(|g| snp.rmp_entry(g).0.assigned).collect()
}

/// HLT: another vCPU is done (the boot vCPU resumes); the boot vCPU halting ends the machine.
pub fn on_halt(uc: &mut Unicorn<'_, State>) -> Flow {
    vmpl::on_halt(uc)
}
