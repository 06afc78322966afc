//! Non-automatic exits through the GHCB page (GHCB spec (AMD 56421) §4 "GHCB protocol", Table 7 exit
//! codes): the page is shared memory, so the hypervisor reads and writes it through the shared view
//! only; it checks the usage, the protocol version and the valid bitmap as KVM does, and answers in
//! sw_exit_info_1/2 (0 = success, 2 = error with the reason in sw_exit_info_2).
use unicorn_engine::Unicorn;
use warden_defs::ghcb::offsets;
use warden_defs::psc::PscDescriptor;
use zerocopy::{FromBytes, IntoBytes};

use crate::ghcb_msr::HV_FEATURES;
use crate::guest_request;
use crate::hypervisor::{Flow, page_state_change, psc_error_code};
use crate::machine::{Outcome, State};
use crate::vmpl;

/// sw_exit_info_2 reasons with sw_exit_info_1 = 2 (GHCB spec Table 6).
const ERR_INVALID_USAGE: u64 = 2;
const ERR_MISSING_INPUT: u64 = 4;
const ERR_INVALID_INPUT: u64 = 5;

/// The GHCB page as read from the shared view.
struct Ghcb {
    page: Vec<u8>,
}

impl Ghcb {
    fn get(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.page[off..off + 8].try_into().unwrap_or_default())
    }
    fn valid(&self, off: usize) -> bool {
        let bit = off / 8;
        self.page[offsets::VALID_BITMAP + bit / 8] & (1 << (bit % 8)) != 0
    }
    fn set(&mut self, off: usize, value: u64) {
        self.page[off..off + 8].copy_from_slice(&value.to_le_bytes());
        let bit = off / 8;
        self.page[offsets::VALID_BITMAP + bit / 8] |= 1 << (bit % 8);
    }
    fn answer(&mut self, info1: u64, info2: u64) {
        self.set(offsets::SW_EXIT_INFO_1, info1);
        self.set(offsets::SW_EXIT_INFO_2, info2);
    }
}

/// Serves the exit described by the GHCB page at `gpa` (RIP already past the VMGEXIT).
pub fn serve(uc: &mut Unicorn<'_, State>, gpa: u64) -> Flow {
    let vmpl = uc.get_data().vcpus.vmpl();
    let mut page = vec![0u8; 4096];
    if gpa == 0 || uc.mem_read(gpa, &mut page).is_err() {
        return Flow::Stop(Outcome::Unsupported(format!(
            "VMGEXIT with GHCB MSR {gpa:#x}: no GHCB there (VMPL{vmpl})"
        )));
    }
    let mut g = Ghcb { page };
    let usage = u32::from_le_bytes(g.page[0xFFC..0x1000].try_into().unwrap_or_default());
    let exit_code = g.get(offsets::SW_EXIT_CODE);
    let (info1, info2) = (g.get(offsets::SW_EXIT_INFO_1), g.get(offsets::SW_EXIT_INFO_2));
    // The bitmap is the guest's statement of which inputs it wrote; outputs get fresh bits.
    let inputs_valid = |g: &Ghcb, offs: &[usize]| offs.iter().all(|&o| g.valid(o));
    let mut flow = Flow::Continue;
    if usage != 0 {
        g.page[offsets::VALID_BITMAP..offsets::VALID_BITMAP + 16].fill(0);
        g.answer(2, ERR_INVALID_USAGE);
    } else if !inputs_valid(&g, &[offsets::SW_EXIT_CODE, offsets::SW_EXIT_INFO_1, offsets::SW_EXIT_INFO_2]) {
        g.page[offsets::VALID_BITMAP..offsets::VALID_BITMAP + 16].fill(0);
        g.answer(2, ERR_MISSING_INPUT);
    } else {
        let rax_valid = g.valid(offsets::RAX);
        let rcx_valid = g.valid(offsets::RCX);
        let rbx_valid = g.valid(offsets::RBX);
        let rbx = g.get(offsets::RBX);
        let (rax, rcx, rdx) = (g.get(offsets::RAX), g.get(offsets::RCX), g.get(offsets::RDX));
        let scratch = g.get(offsets::SW_SCRATCH);
        g.page[offsets::VALID_BITMAP..offsets::VALID_BITMAP + 16].fill(0);
        match exit_code {
            0x7B => {
                let port = (info1 >> 16) as u16;
                let bytes: u8 = match (info1 >> 4) & 7 {
                    1 => 1,
                    2 => 2,
                    _ => 4,
                };
                if info1 & 4 != 0 {
                    g.answer(2, ERR_INVALID_INPUT); // string I/O through the GHCB is not modelled
                } else if info1 & 1 == 1 {
                    g.set(offsets::RAX, uc.get_data_mut().hv.port_in(vmpl, port, bytes));
                    g.answer(0, 0);
                } else if !rax_valid {
                    g.answer(2, ERR_MISSING_INPUT);
                } else if uc.get_data_mut().hv.state_disk_out(vmpl, port, rax) {
                    g.answer(0, 0);
                } else {
                    for i in 0..bytes {
                        uc.get_data_mut().hv.port_out(vmpl, port, (rax >> (8 * i)) as u8);
                        if port != crate::serial::COM1 {
                            break;
                        }
                    }
                    g.answer(0, 0);
                }
            }
            0x72 => {
                if !rax_valid || !rcx_valid {
                    g.answer(2, ERR_MISSING_INPUT);
                } else {
                    let [a, b, c, d] = uc.get_data().cpuid.lookup(rax as u32, rcx as u32);
                    g.set(offsets::RAX, u64::from(a));
                    g.set(offsets::RBX, u64::from(b));
                    g.set(offsets::RCX, u64::from(c));
                    g.set(offsets::RDX, u64::from(d));
                    g.answer(0, 0);
                }
            }
            0x7C => {
                // No MSR behind the hypervisor holds anything: reads are zero, writes are dropped.
                if info1 == 0 {
                    g.set(offsets::RAX, 0);
                    g.set(offsets::RDX, 0);
                }
                let _ = rdx;
                g.answer(0, 0);
            }
            0x8000_0010 => {
                let off = scratch.wrapping_sub(gpa) as usize;
                let size = core::mem::size_of::<PscDescriptor>();
                if scratch < gpa || off < offsets::SHARED_BUFFER || off + size > 0xFF0 {
                    g.answer(2, ERR_INVALID_INPUT);
                } else {
                    let mut desc = match PscDescriptor::read_from_bytes(&g.page[off..off + size]) {
                        Ok(d) => d,
                        Err(_) => PscDescriptor::zeroed(),
                    };
                    let r = page_state_change(uc, &mut desc);
                    g.page[off..off + size].copy_from_slice(desc.as_bytes());
                    match r {
                        Ok(()) => g.answer(0, 0),
                        Err(e) => g.answer(0, psc_error_code(e)),
                    }
                }
            }
            0x8000_0013 => {
                let request = info1 & 0xFFFF;
                let target_vmpl = ((info1 >> 16) & 0xF) as u8;
                let apic = (info1 >> 32) as u32;
                match request {
                    1 if !uc.get_data().snp.rmp_entry(info2).0.vmsa => {
                        let note = format!(
                            "AP creation for APIC {apic} VMPL{target_vmpl} refused: page {info2:#x} lacks the RMP VMSA bit"
                        );
                        uc.get_data_mut().hv.notes.push(note);
                        g.answer(2, ERR_INVALID_INPUT);
                    }
                    1 => {
                        uc.get_data_mut().vcpus.registered.insert((apic, target_vmpl), info2 & !0xFFF);
                        g.answer(0, 0);
                    }
                    2 => {
                        uc.get_data_mut().vcpus.registered.remove(&(apic, target_vmpl));
                        g.answer(0, 0);
                    }
                    _ => g.answer(2, ERR_INVALID_INPUT),
                }
            }
            0x8000_0018 => {
                let target = (info1 & 0xFF) as u8;
                flow = vmpl::run_vmpl(uc, target);
                g.answer(0, 0);
            }
            0x8000_0011 | 0x8000_0012 => {
                let answer = if exit_code == 0x8000_0011 {
                    Some(guest_request::regular(uc, info1, info2))
                } else if !rax_valid || !rbx_valid {
                    None
                } else {
                    Some(guest_request::extended(uc, info1, info2, rax, rbx))
                };
                match answer {
                    None => g.answer(2, ERR_MISSING_INPUT),
                    Some(Err(_)) => g.answer(2, ERR_INVALID_INPUT),
                    Some(Ok(a)) => {
                        if let Some(pages) = a.rbx {
                            g.set(offsets::RBX, pages);
                        }
                        g.answer(0, a.exit_info_2);
                    }
                }
            }
            0x8000_FFFD => g.answer(0, HV_FEATURES),
            0x8000_FFFE => {
                let (set, code) = ((info1 & 0xF) as u8, ((info1 >> 4) & 0xFF) as u8);
                flow = Flow::Stop(if (set, code) == (0xF, 0) {
                    Outcome::Passed("TestsPassed termination (set 0xF code 0)".into())
                } else {
                    Outcome::Terminated(set, code)
                });
            }
            other => {
                flow = Flow::Stop(Outcome::Unsupported(format!("GHCB exit {other:#x} (VMPL{vmpl})")));
            }
        }
    }
    let _ = uc.mem_write(gpa, &g.page);
    flow
}
