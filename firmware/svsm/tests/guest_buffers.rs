//! Attacks through the buffers a guest names: a vTPM buffer that is a VMSA or another vCPU's calling
//! area, and calls that name one of Warden's own pages outside its main region (threat model T4).
mod common;

use common::{AP_CAA, BOOT, BOOT_CAA, SimEnv, core_call, dispatcher, dispatcher_with_ram};
use std::sync::{Arc, Mutex};
use warden_defs::layout::{BOOT_ROM_DIRECTORY, BOOT_STUB_PAGE, SNP_VMSA_GPA, WARDEN_BASE, WARDEN_END};
use warden_defs::svsm::core_call::{CREATE_VCPU, PVALIDATE, REMAP_CA};
use warden_defs::svsm::{CallId, PROTOCOL_VTPM, PvalidateEntry, ResultCode, vtpm_call};
use warden_platform::memory::GpaRange;
use warden_svsm::vtpm_protocol::{TpmEngine, VtpmProtocol, request_buffer};
use warden_svsm::{AddressError, Dispatcher, GuestError, GuestRegs, ParamError, Reply, SvsmError};

/// An engine that counts its commands and answers with 64 bytes of 0xAA.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<u32>>);

impl TpmEngine for Counter {
    fn execute(&mut self, _command: &[u8]) -> Vec<u8> {
        *self.0.lock().unwrap() += 1;
        vec![0xAA; 64]
    }
}

const VMSA: u64 = 0x20_0000;

fn with_vtpm(mut d: Dispatcher, engine: &Counter) -> Dispatcher {
    d.register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(engine.clone()))).unwrap();
    d
}

fn vtpm_cmd(d: &mut Dispatcher, env: &mut SimEnv, gpa: u64) -> Reply {
    let rax = CallId { protocol: PROTOCOL_VTPM, call: vtpm_call::CMD }.to_rax();
    d.handle(env, BOOT, GuestRegs { rax, rcx: gpa, rdx: 0, r8: 0, r9: 0 })
}

fn addr(e: AddressError) -> Option<SvsmError> {
    Some(SvsmError::Guest(GuestError::InvalidAddress(e)))
}

/// Threat model T4: a guest makes page P a VMSA with CREATE_VCPU (its bytes also form a valid vTPM
/// request), then names P as the vTPM buffer. Warden must refuse, leaving the VMSA byte for byte as it
/// was: otherwise the response would overwrite the VMPL byte and the registers the CPU will run.
#[test]
fn a_vmsa_is_never_a_vtpm_buffer() {
    let engine = Counter::default();
    let mut env = SimEnv::new();
    let mut d = with_vtpm(dispatcher(), &engine);
    env.guest_owned(VMSA, 1);
    env.guest_write(VMSA, &request_buffer(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x44]).unwrap()[..32]);
    env.write_vmsa_fields(VMSA);
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    let mut before = [0u8; 4096];
    env.sim.read(VMSA, &mut before).unwrap();

    let reply = vtpm_cmd(&mut d, &mut env, VMSA);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::Vmsa)));
    // Nor a buffer that only straddles into the VMSA (the protocol does not require alignment).
    let reply = vtpm_cmd(&mut d, &mut env, VMSA - 8);
    assert_eq!(reply.error, addr(AddressError::Vmsa));
    let mut after = [0u8; 4096];
    env.sim.read(VMSA, &mut after).unwrap();
    assert_eq!(before, after, "the VMSA changed");
    assert_eq!(*engine.0.lock().unwrap(), 0);
}

/// Threat model T4: another vCPU's calling area is Warden's to read (`call_pending`); a response written
/// over it would forge a pending call. The caller's own calling area is refused on its 8-byte header
/// only (Linux puts request data in its buffer from offset 8).
#[test]
fn another_vcpus_calling_area_is_never_a_vtpm_buffer() {
    let engine = Counter::default();
    let mut env = SimEnv::new();
    let mut d = with_vtpm(dispatcher(), &engine);
    env.good_vmsa(VMSA);
    env.guest_owned(AP_CAA, 1);
    assert_eq!(core_call(&mut d, &mut env, CREATE_VCPU, VMSA, AP_CAA, 1).rax, ResultCode::SUCCESS);
    let request = request_buffer(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x44]).unwrap();
    env.guest_write(AP_CAA, &request);
    let reply = vtpm_cmd(&mut d, &mut env, AP_CAA);
    assert_eq!((reply.rax, reply.error), (ResultCode::INVALID_ADDRESS, addr(AddressError::CallingArea)));
    assert_eq!(env.guest_read(AP_CAA, 4096).unwrap(), request.to_vec(), "the calling area changed");
    env.guest_write(BOOT_CAA, &request);
    assert_eq!(vtpm_cmd(&mut d, &mut env, BOOT_CAA).error, addr(AddressError::CallingArea));
    assert_eq!(*engine.0.lock().unwrap(), 0);
}

/// The pages Warden owns outside `WARDEN_BASE..WARDEN_END`: the boot ROM directory, the boot stub and
/// the SNP VMSA (the secrets, CPUID and GHCB pages sit inside the region).
const OWNED_OUTSIDE: [u64; 3] = [BOOT_ROM_DIRECTORY, BOOT_STUB_PAGE, SNP_VMSA_GPA];

/// A memory map that lies: it calls everything but Warden's main region guest RAM (threat model T3).
fn lying_ram() -> [GpaRange; 2] {
    [GpaRange::new(0, WARDEN_BASE).unwrap(), GpaRange::new(WARDEN_END, 1 << 48).unwrap()]
}

/// Threat model T4: PVALIDATE, REMAP_CA, CREATE_VCPU and the vTPM buffer naming any page Warden owns
/// outside its main region are refused before anything touches the page, whatever the memory map says.
#[test]
fn warden_pages_outside_its_region_are_refused_everywhere() {
    let engine = Counter::default();
    let mut env = SimEnv::new();
    let mut d = with_vtpm(dispatcher_with_ram(&lying_ram()), &engine);
    env.guest_owned(AP_CAA, 1);
    let list = BOOT_CAA + 8;
    for page in OWNED_OUTSIDE {
        assert!(!(WARDEN_BASE..WARDEN_END).contains(&page), "{page:#x} is outside the main region");
        for validate in [true, false] {
            env.write_list(list, 0, &[PvalidateEntry::new(page, false, validate, false)]);
            let reply = core_call(&mut d, &mut env, PVALIDATE, list, 0, 0);
            assert_eq!(reply.error, addr(AddressError::Warden), "PVALIDATE {page:#x}");
        }
        let reply = core_call(&mut d, &mut env, CREATE_VCPU, page, AP_CAA, 1);
        assert_eq!(reply.error, addr(AddressError::Warden), "CREATE_VCPU VMSA {page:#x}");
        let reply = core_call(&mut d, &mut env, CREATE_VCPU, VMSA, page, 1);
        assert_eq!(reply.error, addr(AddressError::Warden), "CREATE_VCPU CAA {page:#x}");
        let reply = core_call(&mut d, &mut env, REMAP_CA, page, 0, 0);
        let expected = Some(SvsmError::Guest(GuestError::InvalidParameter(ParamError::BadCallingArea(
            AddressError::Warden,
        ))));
        assert_eq!(reply.error, expected, "REMAP_CA {page:#x}");
        for gpa in [page, page + 0x800, page - 8] {
            assert_eq!(vtpm_cmd(&mut d, &mut env, gpa).error, addr(AddressError::Warden), "vTPM {gpa:#x}");
        }
        // A PVALIDATE list inside the page is refused too.
        let reply = core_call(&mut d, &mut env, PVALIDATE, page + 8, 0, 0);
        assert_eq!(reply.error, addr(AddressError::Warden), "list at {page:#x}");
    }
    assert_eq!(*engine.0.lock().unwrap(), 0);
}
