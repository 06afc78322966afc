//! The TDX L2 guest's exits as Warden serves them: SVSM calls by VMCALL through the same dispatcher as on
//! SNP, port I/O by policy, CPUID, TDCALL refused, MSRs, and the exits that stop the guest; hostile
//! exit information (a zero or overlong instruction length) stops it without moving RIP. And the
//! launch: boot information, grant plan, first state.
mod common;

use common::{BOOT, SimEnv, dispatcher};
use warden_defs::guest_launch::{
    GUEST_BOOT_INFO, GUEST_FREE_BASE, GUEST_FREE_END, GUEST_IMAGE_BASE, GUEST_PAGE_TABLES,
    GUEST_PAYLOAD_MAGIC, GUEST_PLATFORM_TDX_L2, GuestPayload,
};
use warden_defs::layout::{LARGE_PAGE_SIZE, PAGE_SIZE, WARDEN_BASE};
use warden_defs::svsm::{CallId, PROTOCOL_CORE, PROTOCOL_VTPM, ResultCode, core_call};
use warden_defs::tdx::TdxStatus;
use warden_defs::tdx_partition::{ATTR_R, ATTR_W, ATTR_XS, EptQualification, L2GuestState, gpr, vmcs};
use warden_svsm::tdx_l2_exit::{ExitError, ExitInfo, NONCE_PORT};
use warden_svsm::tdx_l2_launch::{GrantSize, boot_info, grant_plan, grants, start_state, start_vmcs};
use warden_svsm::tdx_l2_serve::{Service, Stop, complete_cpuid, complete_port_in, serve};
use zerocopy::FromZeros;

const RIP: u64 = 0x40_1000;

fn exit(reason: u64, length: u64) -> ExitInfo {
    ExitInfo { status: reason, instruction: length << 32, ..ExitInfo::default() }
}

fn state(rax: u64) -> L2GuestState {
    let mut state = L2GuestState::new_zeroed();
    state.rip = RIP;
    state.gprs = core::array::from_fn(|i| 0x1111 * (i as u64 + 1));
    state.gprs[gpr::RAX] = rax;
    state
}

fn run(state: &mut L2GuestState, info: ExitInfo) -> Service {
    let mut d = dispatcher();
    let mut env = SimEnv::new();
    serve(&mut d, &mut env, BOOT, state, &info)
}

#[test]
fn a_vmcall_is_an_svsm_call_answered_in_rax_rcx_rdx_r8_and_rip_moves_past_it() {
    let query = CallId { protocol: PROTOCOL_CORE, call: core_call::QUERY_PROTOCOL }.to_rax();
    let mut s = state(query);
    s.gprs[gpr::RCX] = 1; // the core protocol (0), version 1
    let before = s;
    assert_eq!(run(&mut s, exit(18, 3)), Service::Resume);
    assert_eq!(s.gprs[gpr::RAX], ResultCode::SUCCESS.0);
    assert_eq!(s.gprs[gpr::RCX], 1 << 32 | 1, "core 1..=1");
    assert_eq!(s.rip, RIP + 3);
    // Everything but RAX, RCX, RDX, R8 is left as it was.
    for i in [3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15] {
        assert_eq!(s.gprs[i], before.gprs[i], "gpr {i}");
    }
    assert_eq!(s.rflags, before.rflags);
}

#[test]
fn an_unknown_protocol_and_a_buffer_in_wardens_region_are_refused_with_svsm_codes() {
    let mut s = state(CallId { protocol: 77, call: 0 }.to_rax());
    assert_eq!(run(&mut s, exit(18, 3)), Service::Resume);
    assert_eq!(s.gprs[gpr::RAX], ResultCode::UNSUPPORTED_PROTOCOL.0);
    let mut s = state(CallId { protocol: PROTOCOL_VTPM, call: 8 }.to_rax());
    s.gprs[gpr::RCX] = WARDEN_BASE;
    run(&mut s, exit(18, 3));
    assert_ne!(s.gprs[gpr::RAX], ResultCode::SUCCESS.0);
    assert_eq!(s.rip, RIP + 3);
}

#[test]
fn a_hostile_instruction_length_stops_the_guest_with_rip_unmoved() {
    for length in [0, 16, 0xFFFF_FFFF] {
        let mut s = state(0);
        let service = run(&mut s, exit(18, length));
        assert_eq!(service, Service::Stop(Stop::Malformed(ExitError::InstructionLength(length))));
        assert_eq!(s.rip, RIP);
        assert_eq!(s.gprs[gpr::RAX], 0, "no call was made");
    }
    let mut s = state(0);
    let failed = ExitInfo { status: 0xC000_0100_0000_0040, ..ExitInfo::default() };
    assert!(matches!(run(&mut s, failed), Service::Stop(Stop::Malformed(ExitError::EnterFailed(_)))));
}

#[test]
fn port_io_follows_the_policy() {
    let io = |size: u64, is_in: bool, port: u16| ExitInfo {
        qualification: (size - 1) | u64::from(is_in) << 3 | u64::from(port) << 16,
        ..exit(30, 1)
    };
    let mut s = state(0x4142);
    assert_eq!(run(&mut s, io(1, false, 0x3F8)), Service::PortOut { port: 0x3F8, size: 1, value: 0x42 });
    assert_eq!(s.rip, RIP + 1);
    let mut s = state(0x4142);
    assert_eq!(run(&mut s, io(1, true, NONCE_PORT)), Service::PortIn { port: NONCE_PORT });
    complete_port_in(&mut s, 0x99);
    assert_eq!(s.gprs[gpr::RAX], 0x4199, "IN AL merges into RAX");
    // An unknown port reads all ones; a 32-bit IN zero-extends.
    let mut s = state(0xAAAA_BBBB_CCCC_DDDD);
    assert_eq!(run(&mut s, io(2, true, 0x510)), Service::Resume);
    assert_eq!(s.gprs[gpr::RAX], 0xAAAA_BBBB_CCCC_FFFF);
    let mut s = state(0xAAAA_BBBB_CCCC_DDDD);
    run(&mut s, io(4, true, 0x2F8));
    assert_eq!(s.gprs[gpr::RAX], 0xFFFF_FFFF);
    // An OUT to a device of Warden's (COM2) is dropped: nothing for the firmware to forward.
    let mut s = state(0x41);
    assert_eq!(run(&mut s, io(1, false, 0x2F8)), Service::Resume);
    assert_eq!((s.gprs[gpr::RAX], s.rip), (0x41, RIP + 1));
}

#[test]
fn cpuid_is_left_to_the_firmware_and_its_answer_zero_extends() {
    let mut s = state(0xFFFF_FFFF_0000_0001);
    s.gprs[gpr::RCX] = 0x1_0000_0002;
    assert_eq!(run(&mut s, exit(10, 2)), Service::Cpuid { leaf: 1, subleaf: 2 });
    complete_cpuid(&mut s, [1, 2, 3, 4]);
    assert_eq!(s.gprs[..4], [1, 3, 4, 2], "RAX, RCX, RDX, RBX in buffer order");
    assert_eq!(s.rip, RIP + 2);
}

#[test]
fn a_tdcall_of_the_l2_is_refused_and_msrs_are_empty() {
    let mut s = state(4); // TDG.MR.REPORT
    assert_eq!(run(&mut s, exit(77, 4)), Service::Resume);
    assert_eq!((s.gprs[gpr::RAX], s.rip), (TdxStatus::OPERAND_INVALID.0, RIP + 4));
    let mut s = state(7);
    run(&mut s, exit(31, 2));
    assert_eq!((s.gprs[gpr::RAX], s.gprs[gpr::RDX], s.rip), (0, 0, RIP + 2));
    let mut s = state(7);
    let before = s.gprs;
    run(&mut s, exit(32, 2));
    assert_eq!((s.gprs, s.rip), (before, RIP + 2));
}

#[test]
fn halt_denial_and_the_unknown_stop_the_guest_without_touching_it() {
    let cases = [
        (exit(12, 1), Service::Halted),
        (
            ExitInfo { gpa: WARDEN_BASE, qualification: 0x82, ..exit(48, 3) },
            Service::Denied { gpa: WARDEN_BASE, qualification: EptQualification(0x82) },
        ),
        (exit(2, 0), Service::Stop(Stop::TripleFault)),
        (exit(1, 0), Service::Stop(Stop::Unserved(1))),
    ];
    for (info, expected) in cases {
        let mut s = state(5);
        let before = s;
        assert_eq!(run(&mut s, info), expected);
        assert_eq!(s, before, "{info:?}");
    }
}

const PAYLOAD: GuestPayload = GuestPayload {
    magic: GUEST_PAYLOAD_MAGIC,
    entry: GUEST_IMAGE_BASE + 0x40,
    image_start: GUEST_IMAGE_BASE,
    image_end: GUEST_IMAGE_BASE + 0x20_3000,
};

#[test]
fn the_grant_plan_covers_exactly_the_contracts_ranges_with_2m_pages_where_aligned() {
    let plan = grant_plan(&grants(&PAYLOAD));
    let mut pages: Vec<u64> = Vec::new();
    for &(gpa, size, _) in &plan {
        match size {
            GrantSize::Size4K => pages.push(gpa),
            GrantSize::Size2M => {
                assert!(gpa.is_multiple_of(0x20_0000));
                pages.extend((gpa..gpa + 0x20_0000).step_by(PAGE_SIZE as usize));
            }
        }
    }
    let mut expected = vec![GUEST_BOOT_INFO];
    expected.extend((GUEST_PAGE_TABLES..GUEST_PAGE_TABLES + 4 * PAGE_SIZE).step_by(4096));
    expected.extend((PAYLOAD.image_start..PAYLOAD.image_end).step_by(4096));
    expected.extend((GUEST_FREE_BASE..GUEST_FREE_END).step_by(4096));
    assert_eq!(pages, expected);
    // The image's first 2 MiB and the free RAM are granted as 2 MiB pages; nothing of Warden's is.
    assert!(plan.contains(&(GUEST_IMAGE_BASE, GrantSize::Size2M, ATTR_R | ATTR_W | ATTR_XS)));
    assert_eq!(plan.iter().filter(|p| p.1 == GrantSize::Size2M).count(), 1 + 8);
    assert!(pages.iter().all(|&p| p < WARDEN_BASE));
}

#[test]
fn each_range_is_granted_the_least_it_needs() {
    let attributes = |gpa: u64| {
        grant_plan(&grants(&PAYLOAD))
            .into_iter()
            .find(|&(start, size, _)| {
                let len = if size == GrantSize::Size2M { LARGE_PAGE_SIZE } else { PAGE_SIZE };
                (start..start + len).contains(&gpa)
            })
            .map(|p| p.2)
    };
    assert_eq!(attributes(GUEST_BOOT_INFO), Some(ATTR_R), "the boot information is read-only");
    assert_eq!(attributes(GUEST_PAGE_TABLES), Some(ATTR_R | ATTR_W), "page tables: no execute");
    assert_eq!(attributes(PAYLOAD.entry), Some(ATTR_R | ATTR_W | ATTR_XS), "the image runs in ring 0");
    assert_eq!(attributes(GUEST_FREE_BASE), Some(ATTR_R | ATTR_W), "free RAM is never executable");
    assert_eq!(attributes(GUEST_FREE_END - PAGE_SIZE), Some(ATTR_R | ATTR_W));
    assert_eq!(attributes(WARDEN_BASE), None, "nothing of Warden's");
}

#[test]
fn the_boot_information_and_first_state_follow_the_contract() {
    let info = boot_info();
    assert_eq!((info.platform, info.c_bit, info.vcpu_count), (GUEST_PLATFORM_TDX_L2, 0, 1));
    assert_eq!((info.caa, info.secrets, info.ghcb), (0, 0, 0));
    assert_eq!(info.svsm_base, WARDEN_BASE);
    let s = start_state(&PAYLOAD);
    assert_eq!((s.rip, s.rflags, s.gprs[gpr::RDI], s.gprs[gpr::RSP]), (PAYLOAD.entry, 2, GUEST_BOOT_INFO, 0));
    let fields = start_vmcs(0x7F_F000);
    let value = |encoding| fields.iter().find(|f| f.0 == encoding).map(|f| f.1);
    assert_eq!(value(vmcs::GUEST_CR3), Some(GUEST_PAGE_TABLES));
    assert_eq!(value(vmcs::GUEST_CS_AR), Some(0xA09B));
    assert_eq!(value(vmcs::GUEST_SS_AR), Some(0xC093));
    assert_eq!(value(vmcs::VIRTUAL_APIC_PAGE_ADDRESS), Some(0x7F_F000));
    // Every encoding once.
    let mut encodings: Vec<u32> = fields.iter().map(|f| f.0).collect();
    encodings.sort_unstable();
    encodings.dedup();
    assert_eq!(encodings.len(), fields.len());
    assert_eq!(fields.len(), 4 + 4 * 6 + 4 + 4 + 4 + 1);
}
