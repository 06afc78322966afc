//! Tests of the GHCB read-back checks and the MSR-protocol encodings against the reference's values.
use super::exit::{
    ApCreateRequest, GuestRequestError, IoDirection, IoWidth, ap_create_exit_info_1, guest_request_status,
    ioio_exit_info,
};
use super::msr::{self, HvFeatures, MsrError, PscOp};
use super::{Field, Ghcb, GhcbError, HvErrorCode};
use zerocopy::{FromBytes, IntoBytes};

#[test]
fn set_marks_the_valid_bit_at_offset_over_eight() {
    let mut ghcb = Ghcb::new();
    ghcb.set(Field::Rax, 7);
    ghcb.set(Field::Xcr0, 1);
    // RAX at 0x1F8 -> bit 63 of word 0; XCR0 at 0x3E8 -> bit 125 = word 1 bit 61.
    assert_eq!(ghcb.valid_bitmap, [1 << 63, 1 << 61]);
    let bytes = ghcb.as_bytes();
    assert_eq!(&bytes[0x1F8..0x200], &7u64.to_le_bytes());
    assert_eq!(&bytes[0xFFA..0xFFC], &2u16.to_le_bytes());
}

#[test]
fn an_output_counts_only_with_its_valid_bit() {
    let mut bytes = [0u8; 4096];
    bytes[0x1F8..0x200].copy_from_slice(&0x55u64.to_le_bytes());
    let ghcb = Ghcb::read_from_bytes(&bytes[..]).unwrap();
    assert_eq!(ghcb.output(Field::Rax), Err(GhcbError::MissingOutput(Field::Rax)));
    bytes[0x3F0 + 7] = 0x80; // bit 63 of the first bitmap word
    let ghcb = Ghcb::read_from_bytes(&bytes[..]).unwrap();
    assert_eq!(ghcb.output(Field::Rax), Ok(0x55));
    assert_eq!(ghcb.output(Field::Rbx), Err(GhcbError::MissingOutput(Field::Rbx)));
    assert!(!ghcb.is_valid_at(4096));
}

#[test]
fn exit_status_decodes_success_errors_and_exceptions() {
    let mut ghcb = Ghcb::new();
    assert_eq!(ghcb.exit_status(), Ok(()));
    // Only [31:0] of exit_info_1 is the status.
    ghcb.sw_exit_info_1 = 0xFFFF_FFFF_0000_0000;
    assert_eq!(ghcb.exit_status(), Ok(()));
    ghcb.sw_exit_info_1 = 2;
    ghcb.sw_exit_info_2 = 3;
    assert_eq!(ghcb.exit_status(), Err(GhcbError::Hypervisor(HvErrorCode::INVALID_SCRATCH)));
    ghcb.sw_exit_info_1 = 1;
    // Valid (bit 31), exception type (3 << 8), error code valid (bit 11), #GP, error code 0x10.
    ghcb.sw_exit_info_2 = (0x10 << 32) | (1 << 31) | (1 << 11) | (3 << 8) | 13;
    let injected = ghcb.exit_status().unwrap_err();
    assert!(matches!(injected, GhcbError::Exception(e) if e.vector == 13 && e.error_code == Some(0x10)));
    // A #PF or an event without the valid bit is not a sane report.
    ghcb.sw_exit_info_2 = (1 << 31) | (3 << 8) | 14;
    assert!(matches!(ghcb.exit_status(), Err(GhcbError::BadException(_))));
    ghcb.sw_exit_info_2 = (3 << 8) | 6;
    assert!(matches!(ghcb.exit_status(), Err(GhcbError::BadException(_))));
    ghcb.sw_exit_info_1 = 9;
    assert_eq!(ghcb.exit_status(), Err(GhcbError::UnknownStatus(9)));
}

#[test]
fn msr_requests_match_the_reference_encodings() {
    assert_eq!(msr::register_gpa_request(0x1234), 0x0123_4012);
    assert_eq!(msr::psc_request(0x8_0000, PscOp::Shared), (2 << 52) | (0x8_0000 << 12) | 0x014);
    assert_eq!(msr::run_vmpl_request(0), 0x016);
    assert_eq!(msr::run_vmpl_request(2), (2 << 32) | 0x016);
    assert_eq!(msr::terminate_request(1, 7), (7 << 16) | (1 << 12) | 0x100);
}

#[test]
fn msr_responses_are_checked() {
    // max 2, min 1, C-bit 51.
    let info = msr::parse_sev_info((2 << 48) | (1 << 32) | (51 << 24) | 0x001).unwrap();
    assert_eq!((info.max_version, info.min_version, info.c_bit), (2, 1, 51));
    assert_eq!(
        msr::parse_sev_info((1 << 48) | (1 << 32) | 0x001),
        Err(MsrError::UnsupportedVersion { min: 1, max: 1 })
    );
    assert_eq!(msr::parse_sev_info((2 << 48) | 0x005), Err(MsrError::WrongFunction { expected: 1, got: 5 }));
    assert_eq!(msr::check_register_gpa((0x1234 << 12) | 0x013, 0x1234), Ok(()));
    assert!(matches!(
        msr::check_register_gpa((0x1235 << 12) | 0x013, 0x1234),
        Err(MsrError::GfnMismatch { .. })
    ));
    assert_eq!(msr::check_psc(0x015), Ok(()));
    assert_eq!(msr::check_psc((5 << 32) | 0x015), Err(MsrError::Failed(5)));
    assert_eq!(msr::check_run_vmpl(0x017), Ok(()));
    assert_eq!(msr::check_run_vmpl(0x016), Err(MsrError::WrongFunction { expected: 0x17, got: 0x16 }));
    assert_eq!(msr::check_run_vmpl((1 << 32) | 0x017), Err(MsrError::Failed(1)));
}

#[test]
fn hv_features_must_include_what_warden_needs() {
    let all = msr::parse_hv_features((0b10_0011 << 12) | 0x081).unwrap();
    assert_eq!(all.require(HvFeatures::REQUIRED), Ok(()));
    let no_vmpl = msr::parse_hv_features((0b11 << 12) | 0x081).unwrap();
    assert_eq!(no_vmpl.require(HvFeatures::REQUIRED), Err(MsrError::MissingFeatures(HvFeatures::MULTI_VMPL)));
    assert!(msr::parse_hv_features(0x080).is_err());
}

#[test]
fn exit_info_encodings() {
    // OUT of a byte to COM1: port 0x3F8 in [31:16], 8-bit data, 64-bit address, type OUT.
    assert_eq!(ioio_exit_info(0x3F8, IoWidth::Byte, IoDirection::Out), (0x3F8 << 16) | (1 << 9) | (1 << 4));
    assert_eq!(ioio_exit_info(0x3FD, IoWidth::Byte, IoDirection::In) & 1, 1);
    assert_eq!(ap_create_exit_info_1(ApCreateRequest::Create, 2, 5), (5 << 32) | (2 << 16) | 1);
    assert_eq!(guest_request_status(0), Ok(()));
    assert_eq!(guest_request_status(1 << 32), Err(GuestRequestError::InvalidLength));
    assert_eq!(guest_request_status((2 << 32) | 4), Err(GuestRequestError::Busy));
    assert_eq!(guest_request_status(0x16), Err(GuestRequestError::Firmware(0x16)));
    assert_eq!(guest_request_status(9 << 32), Err(GuestRequestError::Vmm(9)));
}
