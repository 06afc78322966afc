//! Fuzz target `svsm_guest_call`: whole guest calls against a dispatcher serving the core protocol,
//! attestation (1), the real vTPM (2) and Warden's measured-boot protocol (the event log), over a simulated SNP guest that holds VMSAs and calling
//! areas (threat model T4, T6). The target that would have found a VMSA used as a vTPM buffer.
//!
//! Input: up to [`MAX_CALLS`] calls, each `caller, writes, rax, rcx, rdx, r8, r9`: the calling vCPU,
//! up to three guest writes made first (raw bytes, a vTPM request, an attestation request, a PVALIDATE
//! list, or VMSA fields, each at an address from [`Pages::gpa`]), RAX from a table of every protocol's
//! calls, and the arguments as addresses.
//!
//! Invariants after every call, beyond "no panic" and "no Warden bug":
//! - **VMSAs**: a page that held the RMP VMSA bit before the call has the same bytes and RMP entry after
//!   it. The one documented change: a successful DELETE_VCPU of that page clears EFER.SVME (and only
//!   that bit) and hands the page back. CREATE_VCPU writes no page.
//! - **Calling areas**: the calling area each vCPU had before the call is unchanged, except that the
//!   caller's own may change from offset 8 on (its buffer, which the caller may name). Warden's one
//!   write to a calling-area header, REMAP_CA clearing the new area's, lands on a page that was not one.
//!   Every registered calling area is validated (Warden polls it outside any call, where a #VC for a
//!   page that is not validated would end Warden; threat model T7).
//! - **Warden's pages**: their bytes and RMP entries never change.
use warden_defs::layout::{
    BOOT_ROM_DIRECTORY, BOOT_STUB_PAGE, PAGE_SIZE, SNP_SECRETS_PAGE, SNP_VMSA_GPA, WARDEN_BASE, WARDEN_END,
};
use warden_defs::svsm::{
    CallId, PROTOCOL_ATTEST, PROTOCOL_VTPM, PROTOCOL_WARDEN_MEASURED_BOOT, ResultCode, core_call,
};
use warden_defs::vmsa::{EFER_SVME, Vmsa};
use warden_platform::memory::GpaRange;
use warden_sim::RmpEntry;
use warden_sim::snp::SimSnp;
use warden_svsm::attest_protocol::AttestProtocol;
use warden_svsm::event_log_protocol::EventLogProtocol;
use warden_svsm::vtpm_protocol::VtpmProtocol;
use warden_svsm::{Caller, CoreConfig, CoreProtocol, Dispatcher, GuestRegs, Reply, SvsmError};

use crate::guest_call_env::{FuzzTpm, InsecureTestEvidence, guest_write, manifest, prepare_guest};
use crate::guest_call_input::{Input, Pages};
use crate::svsm::Env;

/// At most this many calls per input, to keep one iteration cheap.
pub const MAX_CALLS: usize = 8;
const SEV_FEATURES: u64 = 1;
const APIC_IDS: [u32; 3] = [0, 1, 2];
/// Each vCPU's calling area at the start (vCPU 0's comes from the platform, 1's and 2's from the
/// prelude's CREATE_VCPU).
pub const CAAS: [u64; 3] = [0x10_0000, 0x11_0000, 0x12_0000];
/// VMSA pages: the prelude registers the first two (for vCPUs 1 and 2); the third is a candidate.
pub const VMSAS: [u64; 3] = [0x20_0000, 0x20_1000, 0x20_2000];
/// Ordinary validated guest pages.
pub const ORDINARY: [u64; 8] =
    [0x30_0000, 0x30_1000, 0x30_2000, 0x30_3000, 0x30_4000, 0x30_5000, 0x30_6000, 0x30_7000];
/// Assigned but not validated.
pub const UNVALIDATED: [u64; 2] = [0x40_0000, 0x40_1000];
/// Pages Warden owns, inside its region and outside it; the simulator holds them validated for VMPL0.
pub const WARDEN: [u64; 6] =
    [WARDEN_BASE, SNP_SECRETS_PAGE, WARDEN_END - PAGE_SIZE, BOOT_ROM_DIRECTORY, BOOT_STUB_PAGE, SNP_VMSA_GPA];

const PAGES: Pages<'static> =
    Pages { vmsas: &VMSAS, caas: &CAAS, warden: &WARDEN, ordinary: &ORDINARY, unvalidated: &UNVALIDATED };

/// RAX values the input chooses from; one selector past the end means "eight raw bytes".
const CALLS: [(u32, u32); 16] = [
    (0, core_call::REMAP_CA),
    (0, core_call::PVALIDATE),
    (0, core_call::CREATE_VCPU),
    (0, core_call::DELETE_VCPU),
    (0, core_call::DEPOSIT_MEM),
    (0, core_call::QUERY_PROTOCOL),
    (0, core_call::CONFIGURE_VTOM),
    (PROTOCOL_ATTEST, 0),
    (PROTOCOL_ATTEST, 1),
    (PROTOCOL_ATTEST, 2),
    (PROTOCOL_VTPM, 0),
    (PROTOCOL_VTPM, 1),
    (PROTOCOL_VTPM, 2),
    (PROTOCOL_WARDEN_MEASURED_BOOT, 0),
    (PROTOCOL_WARDEN_MEASURED_BOOT, 1),
    (3, 0),
];

/// Every page whose bytes are compared around a call.
fn tracked() -> impl Iterator<Item = u64> {
    CAAS.into_iter().chain(VMSAS).chain(ORDINARY).chain(UNVALIDATED)
}

/// The page's bytes as VMPL0 reads them; `None` when it cannot (not validated).
fn page(sim: &SimSnp, gpa: u64) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; PAGE_SIZE as usize];
    sim.read(gpa, &mut bytes).ok().map(|()| bytes)
}

/// The guest after the prelude, and the dispatcher with both protocols registered.
fn setup() -> (Env, Dispatcher) {
    let mut env = Env(SimSnp::new(&[GpaRange::new(0, 1 << 48).unwrap()]));
    prepare_guest(&mut env.0, &PAGES);
    // A memory map that lies: it claims every page, Warden's too. The checks must refuse them anyway.
    let ram = [GpaRange::new(0, 1 << 48).unwrap()];
    let core = CoreProtocol::new(CoreConfig {
        guest_vmpl: crate::guest_call_env::GUEST_VMPL,
        apic_ids: &APIC_IDS,
        boot_apic_id: 0,
        boot_caa: CAAS[0],
        ram: &ram,
    })
    .unwrap();
    let mut d = Dispatcher::new(core);
    d.register(PROTOCOL_VTPM, Box::new(VtpmProtocol::new(FuzzTpm::default()))).unwrap();
    d.register(PROTOCOL_ATTEST, Box::new(AttestProtocol::new(manifest(), InsecureTestEvidence))).unwrap();
    // A stand-in log: the protocol only copies it, so its bytes do not matter.
    let log = (0..300u32).map(|i| i as u8).collect();
    d.register(PROTOCOL_WARDEN_MEASURED_BOOT, Box::new(EventLogProtocol::new(log))).unwrap();
    for apic in [1u32, 2] {
        let regs = GuestRegs {
            rax: CallId { protocol: 0, call: core_call::CREATE_VCPU }.to_rax(),
            rcx: VMSAS[apic as usize - 1],
            rdx: CAAS[apic as usize],
            r8: u64::from(apic),
            r9: 0,
        };
        let reply = d.handle(&mut env, caller(0), regs);
        assert_eq!(reply.rax, ResultCode::SUCCESS, "prelude CREATE_VCPU for vCPU {apic}");
    }
    (env, d)
}

const fn caller(apic_id: u32) -> Caller {
    Caller { apic_id, sev_features: SEV_FEATURES }
}

/// What the invariants compare: the VMSAs and calling areas before a call.
struct Snapshot {
    vmsas: Vec<(u64, Option<Vec<u8>>, RmpEntry)>,
    caas: Vec<(u32, u64, Option<Vec<u8>>)>,
}

fn snapshot(env: &Env, d: &Dispatcher) -> Snapshot {
    let vmsas = tracked()
        .filter_map(|p| {
            let (entry, _) = env.0.rmp_entry(p);
            entry.vmsa.then(|| (p, page(&env.0, p), entry))
        })
        .collect();
    let caas =
        d.core().vcpus().iter().filter_map(|v| Some((v.apic_id, v.caa?, page(&env.0, v.caa?)))).collect();
    Snapshot { vmsas, caas }
}

fn check(env: &Env, d: &Dispatcher, before: &Snapshot, caller: u32, regs: &GuestRegs, reply: &Reply) {
    assert!(!matches!(reply.error, Some(SvsmError::Bug(_))), "guest input reached a Warden bug: {reply:?}");
    assert!(crate::svsm::GUEST_CALL_RESULTS.contains(&reply.rax), "unexpected result {reply:?}");
    let id = CallId::from_rax(regs.rax);
    if id.protocol == PROTOCOL_ATTEST && id.call <= 1 {
        // Linux reads RCX, RDX and R8 as the needed sizes: the protocol sets them on every return.
        let o = reply.outputs;
        assert!(o.rcx.is_some() && o.rdx.is_some() && o.r8.is_some(), "attestation outputs unset: {reply:?}");
    }
    let deleted = CallId::from_rax(regs.rax) == CallId { protocol: 0, call: core_call::DELETE_VCPU }
        && reply.rax == ResultCode::SUCCESS;
    for (gpa, bytes, entry) in &before.vmsas {
        let after = page(&env.0, *gpa);
        if deleted && regs.rcx == *gpa {
            let mut expected = bytes.clone().expect("a registered VMSA is validated");
            let at = core::mem::offset_of!(Vmsa, efer);
            let efer = u64::from_le_bytes(expected[at..at + 8].try_into().unwrap()) & !EFER_SVME;
            expected[at..at + 8].copy_from_slice(&efer.to_le_bytes());
            assert!(after == Some(expected), "DELETE_VCPU changed VMSA {gpa:#x} beyond EFER.SVME");
        } else {
            assert!(&after == bytes, "VMSA {gpa:#x} changed: {regs:x?} -> {reply:?}");
            assert_eq!(env.0.rmp_entry(*gpa).0, *entry, "VMSA {gpa:#x}'s RMP entry changed: {regs:x?}");
        }
    }
    for (apic, caa, bytes) in &before.caas {
        let after = page(&env.0, *caa);
        let from = if *apic == caller { 8 } else { 0 };
        let header = |p: &Option<Vec<u8>>| p.as_ref().map(|p| p[..8].to_vec());
        let unchanged = if *apic == caller { header(&after) == header(bytes) } else { after == *bytes };
        assert!(unchanged, "vCPU {apic}'s calling area {caa:#x} changed from offset {from}: {regs:x?}");
    }
    for v in d.core().vcpus() {
        let validated = v.caa.is_none_or(|caa| env.0.rmp_entry(caa).0.validated);
        assert!(validated, "vCPU {}'s calling area {:x?} is not validated: {regs:x?}", v.apic_id, v.caa);
    }
    for gpa in WARDEN {
        let (entry, _) = env.0.rmp_entry(gpa);
        assert!(
            entry.validated && !entry.vmsa && entry.perms == [Default::default(); 3],
            "Warden page {gpa:#x}"
        );
        let written = page(&env.0, gpa).is_none_or(|p| p != crate::guest_call_env::warden_pattern());
        assert!(!written, "Warden page {gpa:#x} written");
    }
}

/// The target body.
/// Threat model T4.
pub fn svsm_guest_call(data: &[u8]) {
    let (mut env, mut d) = setup();
    let mut input = Input::new(data);
    for _ in 0..MAX_CALLS {
        if input.is_empty() {
            break;
        }
        let apic = APIC_IDS[usize::from(input.byte()) % APIC_IDS.len()];
        for _ in 0..input.byte() % 4 {
            guest_write(&mut env.0, &PAGES, &mut input);
        }
        let rax = match CALLS.get(usize::from(input.byte()) % (CALLS.len() + 1)) {
            Some(&(protocol, call)) => CallId { protocol, call }.to_rax(),
            None => input.u64(),
        };
        let regs = GuestRegs {
            rax,
            rcx: PAGES.gpa(&mut input),
            rdx: PAGES.gpa(&mut input),
            r8: PAGES.gpa(&mut input),
            r9: PAGES.gpa(&mut input),
        };
        let before = snapshot(&env, &d);
        let reply = d.handle(&mut env, caller(apic), regs);
        check(&env, &d, &before, apic, &regs, &reply);
    }
}
