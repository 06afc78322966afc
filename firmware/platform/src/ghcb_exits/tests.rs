//! Threat model T1 tests of the GHCB exits: a model of the shared page that counts how often Warden's
//! side writes and reads it, a "hypervisor" that writes any reply, and one that rewrites the page after
//! Warden's copy.
use warden_defs::ghcb::exit::{ExitCode, GuestRequestError, IoDirection, IoWidth, MSR_WRITE, ioio_exit_info};
use warden_defs::ghcb::{EventInjection, Field, Ghcb, HvErrorCode};
use warden_defs::psc::{PSC_ERROR_INVALID_ENTRY, PscDescriptor, PscEntry, PscHeader, PscOp, SVM_EXIT_PSC};
use zerocopy::IntoBytes;

use super::{
    CertificateBuffer, CpuidResult, ExitError, GhcbTransport, GuestRequestExitError, Misbehaviour,
    PscExitError, ap_create, cpuid, guest_request, io_in, io_out, page_state_change, rdmsr, wrmsr,
};
use crate::memory::PscError;

const SHARED_BUFFER_GPA: u64 = 0x7000_0800;
/// EVENTINJ: valid, type exception, vector 13 (#GP), error code 0 valid.
const INJECT_GP: u64 = (1 << 31) | (3 << 8) | (1 << 11) | 13;

/// The shared GHCB page, as both sides see it.
struct SharedPageModel {
    /// The page itself.
    shared: Ghcb,
    /// What Warden wrote before the last VMGEXIT.
    last_request: Option<Ghcb>,
    /// Whole-page writes and reads by Warden's side.
    writes: usize,
    reads: usize,
    /// The hypervisor's reply to the request it finds on the page.
    hypervisor: fn(&Ghcb) -> Ghcb,
    /// What the hypervisor does to the page after Warden copied it back (a racing vCPU or thread).
    after_copy: fn(&mut Ghcb),
}

impl SharedPageModel {
    fn new(hypervisor: fn(&Ghcb) -> Ghcb) -> Self {
        Self { shared: Ghcb::new(), last_request: None, writes: 0, reads: 0, hypervisor, after_copy: |_| {} }
    }

    fn request(&self) -> Ghcb {
        self.last_request.expect("no exit was made")
    }
}

impl GhcbTransport for SharedPageModel {
    fn exchange(&mut self, ghcb: &mut Ghcb) {
        self.shared = *ghcb;
        self.writes += 1;
        self.last_request = Some(self.shared);
        self.shared = (self.hypervisor)(&self.shared);
        *ghcb = self.shared;
        self.reads += 1;
        (self.after_copy)(&mut self.shared);
    }

    fn shared_buffer_gpa(&self) -> u64 {
        SHARED_BUFFER_GPA
    }
}

/// A reply with `fields` written and marked valid, status 0 unless `fields` sets one.
fn reply(fields: &[(Field, u64)]) -> Ghcb {
    let mut ghcb = Ghcb::new();
    ghcb.set(Field::SwExitInfo1, 0);
    ghcb.set(Field::SwExitInfo2, 0);
    for &(field, value) in fields {
        ghcb.set(field, value);
    }
    ghcb
}

/// Every register output valid with recognisable values; status 0.
fn full_reply(_: &Ghcb) -> Ghcb {
    reply(&[(Field::Rax, 0x41), (Field::Rbx, 0x42), (Field::Rcx, 0x43), (Field::Rdx, 0x44)])
}

/// A PSC reply: the request's buffer with `cur_entry` past `end_entry`, status 0.
fn psc_done(request: &Ghcb) -> Ghcb {
    let mut ghcb = reply(&[]);
    ghcb.shared_buffer = request.shared_buffer;
    ghcb.shared_buffer[0..2]
        .copy_from_slice(&(u16::from_le_bytes([request.shared_buffer[2], 0]) + 1).to_le_bytes());
    ghcb
}

/// Everything the hypervisor could rewrite: the status, the outputs, their valid bits, the buffer.
fn scribble(page: &mut Ghcb) {
    page.sw_exit_info_1 = 2;
    page.sw_exit_info_2 = 0xBAD;
    page.rax = u64::MAX;
    page.rdx = u64::MAX;
    page.valid_bitmap = [0; 2];
    page.shared_buffer = [0xFF; 0x7F0];
}

fn one_entry_descriptor() -> PscDescriptor {
    let mut desc = PscDescriptor::zeroed();
    desc.entries[0] = PscEntry::new(0x123, PscOp::PRIVATE, false);
    desc.header = PscHeader { cur_entry: 0, end_entry: 0, reserved: 0 };
    desc
}

/// Threat model T1.
#[test]
fn every_exit_writes_and_reads_the_shared_page_exactly_once() {
    // Threat model T1: one copy out, one copy back, per exit.
    let mut model = SharedPageModel::new(full_reply);
    assert_eq!(io_in(&mut model, 0x3FD, IoWidth::Byte), Ok(0x41));
    assert_eq!(io_out(&mut model, 0x3F8, IoWidth::Byte, 0x61), Ok(()));
    assert!(cpuid(&mut model, 1, 0, 1).is_ok());
    assert_eq!(rdmsr(&mut model, 0x1B), Ok((0x44 << 32) | 0x41));
    assert_eq!(wrmsr(&mut model, 0x1B, 7), Ok(()));
    assert_eq!((model.writes, model.reads), (5, 5));
    let mut psc = SharedPageModel::new(psc_done);
    assert_eq!(page_state_change(&mut psc, &mut one_entry_descriptor()), Ok(()));
    assert_eq!((psc.writes, psc.reads), (1, 1));
}

/// Threat model T1.
#[test]
fn a_page_rewritten_after_the_copy_changes_no_outcome() {
    // Threat model T1: decisions come from the private copy only.
    let mut model = SharedPageModel::new(full_reply);
    model.after_copy = scribble;
    assert_eq!(io_in(&mut model, 0x3FD, IoWidth::Dword), Ok(0x41));
    assert_eq!(cpuid(&mut model, 1, 0, 1), Ok(CpuidResult { eax: 0x41, ebx: 0x42, ecx: 0x43, edx: 0x44 }));
    assert_eq!(rdmsr(&mut model, 0x1B), Ok((0x44 << 32) | 0x41));
    assert_eq!(model.shared.sw_exit_info_1, 2, "the scribbler ran");

    let mut psc = SharedPageModel::new(psc_done);
    psc.after_copy = scribble;
    let mut desc = one_entry_descriptor();
    assert_eq!(page_state_change(&mut psc, &mut desc), Ok(()));
    assert_eq!(desc.header, PscHeader { cur_entry: 1, end_entry: 0, reserved: 0 });
}

fn missing<T>(field: Field) -> Result<T, ExitError> {
    Err(ExitError::Misbehaved(Misbehaviour::MissingOutput(field)))
}

/// Threat model T1.
#[test]
fn an_output_without_its_valid_bit_is_refused() {
    // Threat model T1: a value counts only if the hypervisor marked it written.
    let mut no_rax = SharedPageModel::new(|_| {
        let mut ghcb = reply(&[]);
        ghcb.rax = 0x41;
        ghcb
    });
    assert_eq!(io_in(&mut no_rax, 0x3FD, IoWidth::Byte), missing(Field::Rax));
    assert_eq!(rdmsr(&mut no_rax, 0x1B), missing(Field::Rax));
    let mut no_rbx = SharedPageModel::new(|_| reply(&[(Field::Rax, 1), (Field::Rcx, 3), (Field::Rdx, 4)]));
    assert_eq!(cpuid(&mut no_rbx, 0, 0, 1), missing(Field::Rbx));
    let mut no_rdx = SharedPageModel::new(|_| reply(&[(Field::Rax, 1)]));
    assert_eq!(rdmsr(&mut no_rdx, 0x1B), missing(Field::Rdx));
    // The status itself must be marked valid, even when it says success.
    let mut no_status = SharedPageModel::new(|_| {
        let mut ghcb = full_reply(&Ghcb::new());
        ghcb.valid_bitmap[Field::SwExitInfo1 as usize / 8 / 64] &=
            !(1 << (Field::SwExitInfo1 as usize / 8 % 64));
        ghcb
    });
    assert_eq!(io_out(&mut no_status, 0x3F8, IoWidth::Byte, 0), missing(Field::SwExitInfo1));
    let mut psc_no_result = SharedPageModel::new(|request| {
        let mut ghcb = psc_done(request);
        ghcb.valid_bitmap = [0; 2];
        ghcb.set(Field::SwExitInfo1, 0);
        ghcb
    });
    assert_eq!(
        page_state_change(&mut psc_no_result, &mut one_entry_descriptor()),
        Err(PscExitError::Misbehaved(Misbehaviour::MissingOutput(Field::SwExitInfo2)))
    );
}

/// Threat model T1.
#[test]
fn in_data_with_high_garbage_bits_is_masked_to_the_width() {
    // Threat model T1: bits above the access width never reach Warden.
    let mut model = SharedPageModel::new(|_| reply(&[(Field::Rax, 0xDEAD_BEEF_CAFE_F00D)]));
    assert_eq!(io_in(&mut model, 0x60, IoWidth::Byte), Ok(0x0D));
    assert_eq!(io_in(&mut model, 0x60, IoWidth::Word), Ok(0xF00D));
    assert_eq!(io_in(&mut model, 0x60, IoWidth::Dword), Ok(0xCAFE_F00D));
    let mut wide = SharedPageModel::new(|_| {
        reply(&[
            (Field::Rax, u64::MAX),
            (Field::Rbx, u64::MAX),
            (Field::Rcx, u64::MAX),
            (Field::Rdx, u64::MAX),
        ])
    });
    assert_eq!(rdmsr(&mut wide, 0x1B), Ok(u64::MAX));
    assert_eq!(cpuid(&mut wide, 0, 0, 1).map(|r| r.eax), Ok(u32::MAX));
}

/// Threat model T1.
#[test]
fn every_status_decodes_into_a_typed_error() {
    // Threat model T1: no status the hypervisor can write panics or passes for success.
    let mut gp = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo1, 1), (Field::SwExitInfo2, INJECT_GP)]));
    let event = EventInjection { vector: 13, error_code: Some(0) };
    assert_eq!(rdmsr(&mut gp, 0xC000_0080), Err(ExitError::Exception(event)));
    let mut bad = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo1, 1), (Field::SwExitInfo2, 14)]));
    assert_eq!(
        io_in(&mut bad, 0x60, IoWidth::Byte),
        Err(ExitError::Misbehaved(Misbehaviour::BadException(14)))
    );
    let mut hv = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo1, 2), (Field::SwExitInfo2, 5)]));
    assert_eq!(
        io_out(&mut hv, 0x60, IoWidth::Byte, 0),
        Err(ExitError::Hypervisor(HvErrorCode::INVALID_INPUT))
    );
    let mut unknown = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo1, 7)]));
    assert_eq!(cpuid(&mut unknown, 0, 0, 1), Err(ExitError::Misbehaved(Misbehaviour::UnknownStatus(7))));
    // An error status whose detail word is not marked valid is malformed, not an error report.
    let mut no_detail = SharedPageModel::new(|_| {
        let mut ghcb = Ghcb::new();
        ghcb.set(Field::SwExitInfo1, 2);
        ghcb
    });
    let missing_detail = Err(ExitError::Misbehaved(Misbehaviour::MissingOutput(Field::SwExitInfo2)));
    assert_eq!(wrmsr(&mut no_detail, 0x1B, 0), missing_detail);
    // A page-state change cannot raise an exception; its own results are refusals.
    let mut desc = one_entry_descriptor();
    let unexpected = Err(PscExitError::Misbehaved(Misbehaviour::UnexpectedException(event)));
    assert_eq!(page_state_change(&mut gp, &mut desc), unexpected);
    assert_eq!(page_state_change(&mut hv, &mut desc), Err(PscExitError::Refused(PscError::Ghcb(5))));
    let mut entry = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo2, PSC_ERROR_INVALID_ENTRY)]));
    assert_eq!(page_state_change(&mut entry, &mut desc), Err(PscExitError::Refused(PscError::InvalidEntry)));
}

#[test]
fn requests_carry_exactly_the_inputs_of_each_exit() {
    let mut model = SharedPageModel::new(full_reply);
    io_out(&mut model, 0x3F8, IoWidth::Byte, 0x1234).unwrap();
    let request = model.request();
    assert_eq!(request.sw_exit_code, ExitCode::IOIO.0);
    assert_eq!(request.sw_exit_info_1, ioio_exit_info(0x3F8, IoWidth::Byte, IoDirection::Out));
    assert_eq!(request.output(Field::Rax), Ok(0x34), "OUT data is cut to the width before it leaves");
    io_in(&mut model, 0x3FD, IoWidth::Word).unwrap();
    assert!(!model.request().is_valid(Field::Rax), "an IN sends no data");
    cpuid(&mut model, 0xD, 1, 0x7).unwrap();
    let request = model.request();
    assert_eq!(request.sw_exit_code, ExitCode::CPUID.0);
    assert_eq!([Field::Rax, Field::Rcx, Field::Xcr0].map(|f| request.output(f)), [Ok(0xD), Ok(1), Ok(7)]);
    wrmsr(&mut model, 0xC000_0080, 0x1122_3344_5566_7788).unwrap();
    let request = model.request();
    assert_eq!((request.sw_exit_code, request.sw_exit_info_1), (ExitCode::MSR.0, MSR_WRITE));
    let inputs = [Field::Rcx, Field::Rax, Field::Rdx].map(|f| request.output(f));
    assert_eq!(inputs, [Ok(0xC000_0080), Ok(0x5566_7788), Ok(0x1122_3344)]);

    let mut psc = SharedPageModel::new(psc_done);
    let desc = one_entry_descriptor();
    page_state_change(&mut psc, &mut desc.clone()).unwrap();
    let request = psc.request();
    assert_eq!(request.sw_exit_code, SVM_EXIT_PSC);
    assert_eq!(request.output(Field::SwScratch), Ok(SHARED_BUFFER_GPA));
    assert_eq!(&request.shared_buffer[..], desc.as_bytes());
}

#[test]
fn ap_creation_names_the_vmsa_vcpu_and_vmpl_and_checks_the_status() {
    let mut page = SharedPageModel::new(|_| reply(&[]));
    ap_create(&mut page, 3, 2, 0x0880_5000, 1).unwrap();
    let request = page.request();
    assert_eq!(request.sw_exit_code, ExitCode::SNP_AP_CREATION.0);
    assert_eq!(request.sw_exit_info_1, 1 | (2 << 16) | (3 << 32));
    assert_eq!(request.sw_exit_info_2, 0x0880_5000);
    assert_eq!(request.rax, 1);
    assert!(request.is_valid(Field::Rax));
    assert_eq!((page.writes, page.reads), (1, 1));

    let mut refused = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo1, 2), (Field::SwExitInfo2, 5)]));
    assert_eq!(ap_create(&mut refused, 0, 2, 0x1000, 1), Err(ExitError::Hypervisor(HvErrorCode(5))));
    let mut silent = SharedPageModel::new(|_| Ghcb::new());
    assert!(matches!(ap_create(&mut silent, 0, 2, 0x1000, 1), Err(ExitError::Misbehaved(_))));
}

#[test]
fn guest_requests_name_both_pages_and_the_certificate_buffer() {
    let mut page = SharedPageModel::new(|_| reply(&[]));
    assert_eq!(guest_request(&mut page, 0x1000, 0x2000, None), Ok(()));
    let sent = page.request();
    assert_eq!(sent.output(Field::SwExitCode), Ok(ExitCode::SNP_GUEST_REQUEST.0));
    assert_eq!((sent.output(Field::SwExitInfo1), sent.output(Field::SwExitInfo2)), (Ok(0x1000), Ok(0x2000)));

    let buffer = CertificateBuffer { gpa: 0x5000, pages: 4 };
    assert_eq!(guest_request(&mut page, 0x1000, 0x2000, Some(buffer)), Ok(()));
    let sent = page.request();
    assert_eq!(sent.output(Field::SwExitCode), Ok(ExitCode::SNP_EXT_GUEST_REQUEST.0));
    assert_eq!((sent.output(Field::Rax), sent.output(Field::Rbx)), (Ok(0x5000), Ok(4)));
}

#[test]
fn guest_request_errors_are_typed_and_invalid_len_needs_rbx() {
    let buffer = Some(CertificateBuffer { gpa: 0x5000, pages: 1 });
    let mut page = SharedPageModel::new(|_| reply(&[(Field::SwExitInfo2, 1 << 32), (Field::Rbx, 3)]));
    assert_eq!(
        guest_request(&mut page, 0x1000, 0x2000, buffer),
        Err(GuestRequestExitError::CertificatePages(3))
    );
    // INVALID_LEN without RBX valid, and INVALID_LEN on a plain request, are not the protocol's.
    page.hypervisor = |_| reply(&[(Field::SwExitInfo2, 1 << 32)]);
    let missing = GuestRequestExitError::Misbehaved(Misbehaviour::MissingOutput(Field::Rbx));
    assert_eq!(guest_request(&mut page, 0x1000, 0x2000, buffer), Err(missing));
    let refused = GuestRequestExitError::Refused(GuestRequestError::InvalidLength);
    assert_eq!(guest_request(&mut page, 0x1000, 0x2000, None), Err(refused));
    page.hypervisor = |_| reply(&[(Field::SwExitInfo2, 0x16)]);
    let firmware = GuestRequestExitError::Refused(GuestRequestError::Firmware(0x16));
    assert_eq!(guest_request(&mut page, 0x1000, 0x2000, None), Err(firmware));
    page.hypervisor = |_| reply(&[(Field::SwExitInfo2, 2 << 32)]);
    assert_eq!(
        guest_request(&mut page, 0x1000, 0x2000, None),
        Err(GuestRequestExitError::Refused(GuestRequestError::Busy))
    );
}
