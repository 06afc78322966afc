//! The #VE handler's decisions (`warden_platform::tdx_ve`) against the simulated TD and VMM: each
//! intercepted instruction is emulated with the right TDG.VP.VMCALL and register effects, a lying or
//! refusing VMM is an error, and an access to a pending page is fatal.
use warden_defs::ghcb::exit::{IoDirection, IoWidth};
use warden_defs::tdx::{TdvmcallStatus, exit_reason};
use warden_platform::memory::GpaRange;
use warden_platform::tdx_ve::{VeAction, VeError, VeInfo, VeIo, VeRegisters, VmcallError, decode, handle};
use warden_sim::tdx::SimTdx;
use warden_sim::tdx_vmm::{SimVmm, VmmBehavior, VmmEvent, ve_for_fault};

const COM1: u16 = 0x3F8;

fn ve(reason: u32, qualification: u64, length: u32) -> VeInfo {
    VeInfo {
        exit_reason: u64::from(reason),
        exit_qualification: qualification,
        instruction_length: length,
        ..VeInfo::default()
    }
}

/// The I/O exit qualification (Intel SDM vol. 3, Table 28-5) of a non-string access.
fn io_qualification(port: u16, bytes: u64, input: bool) -> u64 {
    (u64::from(port) << 16) | (bytes - 1) | if input { 1 << 3 } else { 0 }
}

#[test]
fn cpuid_takes_the_vmm_answer_zero_extended_and_advances_by_the_length() {
    let mut vmm = SimVmm::new();
    vmm.cpuid.insert((0x4000_0000, 0), [1, 2, 3, 4]);
    let mut regs = VeRegisters { rax: 0xFFFF_FFFF_4000_0000, rbx: u64::MAX, rcx: 0, rdx: u64::MAX };
    assert_eq!(handle(&mut vmm, &ve(exit_reason::CPUID, 0, 2), &mut regs, true), Ok(2));
    assert_eq!(regs, VeRegisters { rax: 1, rbx: 2, rcx: 3, rdx: 4 });
}

#[test]
fn port_io_in_keeps_the_width_and_out_sends_only_it() {
    let mut vmm = SimVmm::new();
    vmm.ports.insert(COM1 + 5, 0x60);
    let mut regs = VeRegisters { rax: 0x1122_3344_5566_7788, ..VeRegisters::default() };
    let inb = ve(exit_reason::IO, io_qualification(COM1 + 5, 1, true), 1);
    assert_eq!(
        decode(&inb),
        Ok(VeAction::Io(VeIo { direction: IoDirection::In, port: COM1 + 5, width: IoWidth::Byte }))
    );
    assert_eq!(handle(&mut vmm, &inb, &mut regs, true), Ok(1));
    assert_eq!(regs.rax, 0x1122_3344_5566_7760);
    let outw = ve(exit_reason::IO, io_qualification(COM1, 2, false), 2);
    assert_eq!(handle(&mut vmm, &outw, &mut regs, true), Ok(2));
    assert_eq!(vmm.events, [VmmEvent::Out { port: COM1, value: 0x7760 }]);
}

#[test]
fn a_vmm_that_answers_more_than_the_width_reaches_no_other_bits() {
    let mut vmm = SimVmm::new();
    vmm.behavior = VmmBehavior::WideIn;
    let mut regs = VeRegisters { rax: 0xAAAA_AAAA_AAAA_0000, ..VeRegisters::default() };
    handle(&mut vmm, &ve(exit_reason::IO, io_qualification(0x70, 1, true), 2), &mut regs, true).unwrap();
    assert_eq!(regs.rax, 0xAAAA_AAAA_AAAA_00FF);
    handle(&mut vmm, &ve(exit_reason::IO, io_qualification(0x70, 4, true), 1), &mut regs, true).unwrap();
    assert_eq!(regs.rax, 0xFFFF_FFFF, "IN EAX zero-extends: the VMM's upper half is dropped");
}

#[test]
fn msr_read_splits_and_write_joins_edx_eax() {
    let mut vmm = SimVmm::new();
    vmm.msrs.insert(0x1B, 0xDEAD_BEEF_0000_0900);
    let mut regs = VeRegisters { rcx: 0x1B, ..VeRegisters::default() };
    handle(&mut vmm, &ve(exit_reason::RDMSR, 0, 2), &mut regs, true).unwrap();
    assert_eq!((regs.rax, regs.rdx), (0x900, 0xDEAD_BEEF));
    let mut regs = VeRegisters { rax: 0xFFFF_FFFF_0000_0001, rcx: 0x8B, rdx: 0xFFFF_FFFF_0000_0002, rbx: 0 };
    handle(&mut vmm, &ve(exit_reason::WRMSR, 0, 2), &mut regs, true).unwrap();
    assert_eq!(vmm.events, [VmmEvent::Wrmsr { msr: 0x8B, value: 0x2_0000_0001 }]);
}

#[test]
fn hlt_tells_the_vmm_whether_interrupts_are_blocked() {
    let mut vmm = SimVmm::new();
    let mut regs = VeRegisters::default();
    assert_eq!(handle(&mut vmm, &ve(exit_reason::HLT, 0, 1), &mut regs, true), Ok(1));
    assert_eq!(vmm.events, [VmmEvent::Hlt { interrupts_blocked: true }]);
}

#[test]
fn a_refusing_vmm_is_an_error_never_a_value() {
    let mut vmm = SimVmm::new();
    vmm.behavior = VmmBehavior::Refuse;
    let mut regs = VeRegisters { rax: 7, ..VeRegisters::default() };
    let refused = Err(VeError::Vmm(VmcallError::Refused(TdvmcallStatus::INVALID_OPERAND.0)));
    assert_eq!(handle(&mut vmm, &ve(exit_reason::CPUID, 0, 2), &mut regs, true), refused);
    assert_eq!(
        handle(&mut vmm, &ve(exit_reason::IO, io_qualification(COM1, 1, true), 1), &mut regs, true),
        refused
    );
    assert_eq!(regs.rax, 7, "no register changes on a refusal");
    // An MSR the VMM does not know is refused even by an honest VMM.
    let mut honest = SimVmm::new();
    assert!(matches!(
        handle(&mut honest, &ve(exit_reason::RDMSR, 0, 2), &mut regs, true),
        Err(VeError::Vmm(_))
    ));
}

#[test]
fn string_and_rep_io_and_odd_sizes_are_refused() {
    for qualification in [
        io_qualification(COM1, 1, false) | 1 << 4,
        io_qualification(COM1, 1, true) | 1 << 5,
        io_qualification(COM1, 3, false),
    ] {
        assert_eq!(
            decode(&ve(exit_reason::IO, qualification, 1)),
            Err(VeError::UnsupportedIo(qualification))
        );
    }
}

#[test]
fn other_exits_and_impossible_lengths_are_fatal() {
    // VMCALL (18), a triple fault (2), and a reason with flags in the upper bits.
    for reason in [18u64, 2, (1 << 31) | 10] {
        let info = VeInfo { exit_reason: reason, instruction_length: 2, ..VeInfo::default() };
        assert_eq!(decode(&info), Err(VeError::UnexpectedExit(reason)));
    }
    assert_eq!(decode(&ve(exit_reason::CPUID, 0, 0)), Err(VeError::InstructionLength(0)));
    assert_eq!(decode(&ve(exit_reason::CPUID, 0, 16)), Err(VeError::InstructionLength(16)));
}

#[test]
fn touching_a_pending_page_is_a_fatal_ept_violation() {
    let base = 0x1_0000_0000;
    let td = SimTdx::new(&[GpaRange::from_len(base, 0x20_0000).unwrap()]);
    let mut byte = [0u8; 1];
    let fault = td.read(base + 0x1234, &mut byte).unwrap_err();
    let info = ve_for_fault(fault, base + 0x1234).expect("a pending page raises #VE");
    let mut vmm = SimVmm::new();
    let mut regs = VeRegisters::default();
    assert_eq!(
        handle(&mut vmm, &info, &mut regs, true),
        Err(VeError::EptViolation { gpa: base + 0x1000, gla: base + 0x1234 })
    );
    assert!(vmm.events.is_empty(), "nothing is asked of the VMM");
}
