//! Unit tests of the TDX module model and the VMM, leaf by leaf, without booting anything.
use std::collections::HashMap;

use warden_defs::tdx::{TDG_MEM_PAGE_ACCEPT, TDVMCALL_MAP_GPA, TdvmcallStatus, TdxStatus};
use warden_defs::tdx_report::{TDG_MR_REPORT, TDG_MR_RTMR_EXTEND, TdReport};
use warden_platform::memory::GpaRange;
use warden_sim::PageState;
use warden_sim::tdx::MapGpaBehavior;
use zerocopy::FromBytes;

use super::module::{Gprs, TDG_VP_INFO, TDG_VP_VEINFO_GET, TDX_NO_VE_INFO, TdMemory, Tdcall, TdxModule, reg};
use super::report;
use super::ve::VeInfo;
use super::vmm::{VMCALL_IO, VMCALL_REPORT_FATAL_ERROR, Vmm, VmmOutcome};
use crate::hypervisor::Hypervisor;

const G1: u64 = 1 << 30;

/// Sparse guest memory: absent pages read as zero.
#[derive(Default)]
struct Sparse(HashMap<u64, Box<[u8; 4096]>>);

impl TdMemory for Sparse {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = gpa + i as u64;
            *b = self.0.get(&(a & !0xFFF)).map_or(0, |p| p[(a & 0xFFF) as usize]);
        }
        true
    }
    fn write(&mut self, gpa: u64, buf: &[u8]) -> bool {
        if buf.len() >= 4096 && buf.iter().all(|&b| b == 0) {
            // Zeroing a large range (an accept): drop the pages it covers (absent pages read zero).
            self.0.retain(|&page, _| page < gpa || page >= gpa + buf.len() as u64);
            return true;
        }
        for (i, &b) in buf.iter().enumerate() {
            let a = gpa + i as u64;
            if b == 0 && !self.0.contains_key(&(a & !0xFFF)) {
                continue;
            }
            self.0.entry(a & !0xFFF).or_insert_with(|| Box::new([0; 4096]))[(a & 0xFFF) as usize] = b;
        }
        true
    }
}

/// A TD with 2 GiB of RAM whose first page was added at build.
fn td() -> TdxModule {
    TdxModule::new(&[GpaRange::new(0, 2 * G1).unwrap()], [0], [0x11; 48])
}

fn call(m: &mut TdxModule, mem: &mut Sparse, leaf: u64, rcx: u64, rdx: u64, r8: u64) -> (Tdcall, Gprs) {
    let mut r: Gprs = [0; 16];
    (r[reg::RAX], r[reg::RCX], r[reg::RDX], r[reg::R8]) = (leaf, rcx, rdx, r8);
    (m.tdcall(&mut r, mem), r)
}

#[test]
fn vp_info_reports_gpaw_48() {
    let (_, r) = call(&mut td(), &mut Sparse::default(), TDG_VP_INFO, 0, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::RCX] & 0x3F), (0, 48));
}

#[test]
fn accept_zeroes_once_then_says_already_accepted() {
    let (mut m, mut mem) = (td(), Sparse::default());
    mem.write(0x5000, &[0xAA; 16]);
    let (t, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, 0x5000, 0, 0);
    assert_eq!((t, r[reg::RAX]), (Tdcall::Accepted(0x5000, 0x6000), 0));
    let mut b = [1u8; 16];
    mem.read(0x5000, &mut b);
    assert_eq!(b, [0; 16], "an accepted page is zeroed");
    mem.write(0x5000, &[0xBB; 16]);
    let (t, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, 0x5000, 0, 0);
    assert_eq!((t, r[reg::RAX] >> 32), (Tdcall::Done, TdxStatus::PAGE_ALREADY_ACCEPTED.class()));
    mem.read(0x5000, &mut b);
    assert_eq!(b, [0xBB; 16], "PAGE_ALREADY_ACCEPTED does not zero");
}

#[test]
fn a_2m_accept_over_a_partly_accepted_range_is_a_size_mismatch_and_1g_works_when_aligned() {
    let (mut m, mut mem) = (td(), Sparse::default());
    let (_, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, 0x20_0000 | 1, 0, 0);
    assert_eq!(r[reg::RAX], 0);
    // Page 0 was added at build: the first 2 MiB is partly accepted.
    let (_, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, 1, 0, 0);
    assert_eq!(r[reg::RAX], TdxStatus::PAGE_SIZE_MISMATCH.0);
    let (t, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, G1 | 2, 0, 0);
    assert_eq!((t, r[reg::RAX]), (Tdcall::Accepted(G1, 2 * G1), 0));
    assert_eq!(m.sept.counters.accepts_by_level, [1, 2, 0]);
}

#[test]
fn bad_accept_operands_are_operand_invalid() {
    let (mut m, mut mem) = (td(), Sparse::default());
    for rcx in [0x5000 | 3, 0x5008, 0x1000 | 1, (1 << 47) | 0x5000, 4 * G1] {
        let (_, r) = call(&mut m, &mut mem, TDG_MEM_PAGE_ACCEPT, rcx, 0, 0);
        assert_eq!(r[reg::RAX], TdxStatus::OPERAND_INVALID.0, "RCX {rcx:#x}");
    }
}

#[test]
fn veinfo_get_returns_the_pending_information_once() {
    let (mut m, mut mem) = (td(), Sparse::default());
    let (_, r) = call(&mut m, &mut mem, TDG_VP_VEINFO_GET, 0, 0, 0);
    assert_eq!(r[reg::RAX], TDX_NO_VE_INFO);
    m.ve = Some(VeInfo {
        exit_reason: 48,
        exit_qualification: 2,
        gla: 0,
        gpa: 0x9000,
        instruction_length: 0,
        instruction_info: 0,
    });
    let (_, r) = call(&mut m, &mut mem, TDG_VP_VEINFO_GET, 0, 0, 0);
    assert_eq!((r[reg::RAX], r[reg::RCX], r[reg::RDX], r[reg::R9]), (0, 48, 2, 0x9000));
    let (_, r) = call(&mut m, &mut mem, TDG_VP_VEINFO_GET, 0, 0, 0);
    assert_eq!(r[reg::RAX], TDX_NO_VE_INFO);
}

#[test]
fn rtmr_extend_and_report_carry_the_measurements() {
    let (mut m, mut mem) = (td(), Sparse::default());
    mem.write(0x40, &[0x33; 48]);
    let (_, r) = call(&mut m, &mut mem, TDG_MR_RTMR_EXTEND, 0x40, 2, 0);
    assert_eq!(r[reg::RAX], 0);
    assert_ne!(m.measurements.rtmr[2], [0; 48]);
    mem.write(0xC00, &[0x77; 64]);
    let (_, r) = call(&mut m, &mut mem, TDG_MR_REPORT, 0x400, 0xC00, 0);
    assert_eq!(r[reg::RAX], 0);
    let mut bytes = [0u8; 1024];
    mem.read(0x400, &mut bytes);
    let report = TdReport::read_from_bytes(&bytes).unwrap();
    assert!(report::verify(&report));
    assert_eq!(report.td_info.mr_td, [0x11; 48]);
    assert_eq!(report.td_info.rtmr[2], m.measurements.rtmr[2]);
    assert_eq!(report.mac_struct.report_data, [0x77; 64]);
}

#[test]
fn measurement_leaves_refuse_bad_operands_and_pending_pages() {
    let (mut m, mut mem) = (td(), Sparse::default());
    let invalid = TdxStatus::OPERAND_INVALID.0;
    assert_eq!(call(&mut m, &mut mem, TDG_MR_RTMR_EXTEND, 0x41, 2, 0).1[reg::RAX], invalid);
    assert_eq!(call(&mut m, &mut mem, TDG_MR_RTMR_EXTEND, 0x40, 4, 0).1[reg::RAX], invalid);
    assert_eq!(call(&mut m, &mut mem, TDG_MR_RTMR_EXTEND, 0x9000, 0, 0).1[reg::RAX], invalid, "pending");
    assert_eq!(call(&mut m, &mut mem, TDG_MR_REPORT, 0x200, 0xC00, 0).1[reg::RAX], invalid);
    assert_eq!(call(&mut m, &mut mem, TDG_MR_REPORT, 0x400, 0xC00, 1).1[reg::RAX], invalid);
    assert_eq!(m.measurements.rtmr, [[0; 48]; 4]);
}

#[test]
fn unknown_leaves_are_operand_invalid() {
    let (_, r) = call(&mut td(), &mut Sparse::default(), 0x55, 0, 0, 0);
    assert_eq!(r[reg::RAX], TdxStatus::OPERAND_INVALID.0);
}

fn vmm() -> Vmm {
    Vmm::new(Hypervisor::new(false, false))
}

#[test]
fn vmcall_exposes_only_what_rcx_names() {
    let (mut m, mut mem) = (td(), Sparse::default());
    let (_, r) = call(&mut m, &mut mem, 0, 0xFC02, 0, 0);
    assert_eq!(r[reg::RAX], TdxStatus::OPERAND_INVALID.0, "RCX itself is never exposed");
    let mut r: Gprs = [0; 16];
    r[reg::RCX] = 0xFC00;
    r[11] = VMCALL_IO;
    (r[12], r[13], r[14], r[15]) = (1, 1, 0x3F8, u64::from(b'x'));
    r[reg::R8] = 0x1234;
    assert_eq!(m.tdcall(&mut r, &mut mem), Tdcall::Vmcall(0xFC00));
    let mut v = vmm();
    assert_eq!(v.serve(&mut m, &mut r, 0xFC00), VmmOutcome::Resume);
    assert_eq!((r[10], r[reg::R8]), (0, 0x1234));
    r[15] = b'\n'.into();
    v.serve(&mut m, &mut r, 0xFC00);
    assert_eq!(v.hv.warden.lines, vec!["x".to_string()]);
}

#[test]
fn map_gpa_follows_the_vmm_and_a_lying_vmm_changes_nothing() {
    let mut m = td();
    let mut v = vmm();
    let shared = m.shared_bit();
    let mut r: Gprs = [0; 16];
    (r[11], r[12], r[13]) = (TDVMCALL_MAP_GPA, shared | 0x10_0000, 0x2000);
    assert_eq!(v.serve(&mut m, &mut r, 0xFC00), VmmOutcome::Mapped(0x10_0000, 0x10_2000));
    assert_eq!((r[10], m.sept.page_state(0x10_1000)), (0, PageState::Shared));
    m.sept.map_gpa_behavior = MapGpaBehavior::RetryAt(0x7777_0000);
    (r[10], r[11], r[12], r[13]) = (0, TDVMCALL_MAP_GPA, 0x10_0000, 0x2000);
    v.serve(&mut m, &mut r, 0xFC00);
    assert_eq!(r[10], TdvmcallStatus::RETRY.0);
    assert_eq!(m.sept.page_state(0x10_0000), PageState::Shared, "the lie converted nothing");
    (r[10], r[11], r[12]) = (0, VMCALL_REPORT_FATAL_ERROR, 0x11);
    assert_eq!(v.serve(&mut m, &mut r, 0xFC00), VmmOutcome::Fatal(0x11));
}
