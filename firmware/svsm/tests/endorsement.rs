//! The stable EK: the endorsement seed from a (simulated, INSECURE) PSP key through HKDF, the EK the
//! manifest carries from TPM2_CreatePrimary on the vTPM itself, and who may ask for the key.
use sha2::{Digest, Sha256};
use warden_defs::ek_template::{EK_L1_AUTH_POLICY, EK_L1_MODULUS_SIZE, TPM_RH_ENDORSEMENT, l1_modulus};
use warden_defs::snp_guest_msg::{GuestFieldSelect, KEY_ROOT_VCEK, KeyRequest, PspStatus};
use warden_defs::snp_report::TcbVersion;
use warden_sim::snp_keys::{InsecureSimKeyDerivation, SimLaunch};
use warden_svsm::EvidenceError;
use warden_svsm::endorsement_key::{GuestKeySource, SNP_ENDORSEMENT_LABEL, snp_endorsement_key};
use warden_svsm::vtpm_manifest::{create_ek_command, endorsement_key_public, parse_create_primary};
use warden_svsm::vtpm_protocol::TpmEngine;
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
use warden_vtpm::{EndorsementSeed, FirmwareConfig, Tpm};
use zeroize::Zeroizing;

/// The simulated PSP behind the trait the driver implements; remembers what it was asked.
struct SimPsp {
    psp: InsecureSimKeyDerivation,
    asked: Vec<KeyRequest>,
}

impl GuestKeySource for SimPsp {
    fn derive_key(&mut self, request: &KeyRequest) -> Result<Zeroizing<[u8; 32]>, EvidenceError> {
        self.asked.push(*request);
        self.psp.derive(request).map(Zeroizing::new).map_err(|_| EvidenceError::Unavailable)
    }
}

fn psp(chip: u64, measurement: u8, requester_vmpl: u32) -> SimPsp {
    let launch = SimLaunch { policy: 0x3_0000, measurement: [measurement; 48] };
    SimPsp { psp: InsecureSimKeyDerivation { chip, launch, requester_vmpl }, asked: Vec::new() }
}

const TCB: TcbVersion = TcbVersion([3, 0, 0, 0, 0, 0, 8, 115]);

struct Engine(Tpm);

impl TpmEngine for Engine {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.execute(command)
    }
}

/// A boot: the firmware's TPM (entropy differs per boot) with the seed from `source`, and its EK.
fn boot(source: &mut SimPsp, entropy: u64) -> (Engine, Vec<u8>) {
    let key = snp_endorsement_key(source, TCB).expect("the PSP answers VMPL0's request");
    let seed = EndorsementSeed::from_platform_key(&key, SNP_ENDORSEMENT_LABEL);
    let tpm = Tpm::firmware(
        Box::new(InsecureTestEntropy::new(entropy)),
        Box::new(InsecureTestClock::default()),
        &FirmwareConfig::FIRMWARE,
        &seed,
    );
    let mut engine = Engine(tpm);
    let ek = endorsement_key_public(&mut engine).expect("the EK is created at boot");
    engine.0.power_on();
    (engine, ek)
}

#[test]
fn the_same_launch_on_the_same_chip_gets_the_same_ek_and_another_launch_another() {
    let (_, first) = boot(&mut psp(1, 0xAA, 0), 1);
    let (_, again) = boot(&mut psp(1, 0xAA, 0), 2);
    assert_eq!(first, again, "a reboot of the same image keeps the EK");
    assert_eq!(l1_modulus(&first).map(<[u8]>::len), Some(EK_L1_MODULUS_SIZE));
    let (_, other_image) = boot(&mut psp(1, 0xAB, 0), 1);
    assert_ne!(first, other_image, "another measurement, another EK");
    let (_, other_chip) = boot(&mut psp(2, 0xAA, 0), 1);
    assert_ne!(first, other_chip, "another chip, another EK");
}

#[test]
fn warden_asks_for_a_vmpl0_vcek_key_bound_to_policy_measurement_and_tcb() {
    let mut source = psp(1, 0xAA, 0);
    snp_endorsement_key(&mut source, TCB).unwrap();
    let [request] = source.asked.as_slice() else { panic!("one request: {:?}", source.asked) };
    assert_eq!(request.vmpl, 0);
    assert_eq!(request.root_key_select, KEY_ROOT_VCEK);
    let select = GuestFieldSelect(request.guest_field_select);
    for field in [GuestFieldSelect::POLICY, GuestFieldSelect::MEASUREMENT, GuestFieldSelect::TCB_VERSION] {
        assert!(select.contains(field), "{field:?}");
    }
    assert_eq!(request.tcb_version.to_le_bytes(), TCB.0);
    // Another TCB (an update) is another key.
    let mut updated = psp(1, 0xAA, 0);
    let newer = TcbVersion([3, 0, 0, 0, 0, 0, 9, 115]);
    assert_ne!(
        *snp_endorsement_key(&mut updated, newer).unwrap(),
        *snp_endorsement_key(&mut source, TCB).unwrap()
    );
}

#[test]
fn a_vmpl2_requester_cannot_obtain_the_vmpl0_key() {
    let mut guest = psp(1, 0xAA, 2);
    assert_eq!(snp_endorsement_key(&mut guest, TCB).err(), Some(EvidenceError::Unavailable));
    let mut request = warden_svsm::endorsement_key::endorsement_key_request(TCB);
    assert_eq!(guest.psp.derive(&request), Err(PspStatus::INVALID_PARAM));
    // What the guest may have, a VMPL2 key for the same fields, is not Warden's.
    request.vmpl = 2;
    let guest_key = guest.psp.derive(&request).unwrap();
    let warden_key = snp_endorsement_key(&mut psp(1, 0xAA, 0), TCB).unwrap();
    assert_ne!(guest_key, *warden_key);
}

#[test]
fn the_guest_s_own_create_primary_gives_the_manifest_s_ek() {
    let (mut engine, manifest_ek) = boot(&mut psp(1, 0xAA, 0), 5);
    // _TPM_Init happened: the guest starts the TPM as at power-on.
    let startup = engine.0.execute(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0]);
    assert_eq!(startup[6..10], [0, 0, 0, 0], "the guest's TPM2_Startup(CLEAR) succeeds");
    let response = engine.0.execute(&create_ek_command());
    let (_, public) = parse_create_primary(&response).unwrap();
    assert_eq!(public, manifest_ek.as_slice());
}

#[test]
fn the_l1_policy_is_policy_secret_of_the_endorsement_hierarchy() {
    // Part 3 §23.4: policyDigest = H(H(0…0 ‖ TPM_CC_PolicySecret ‖ Name(TPM_RH_ENDORSEMENT)) ‖ policyRef),
    // with an empty policyRef; a permanent handle's Name is the handle.
    let mut first = Sha256::new();
    first.update([0u8; 32]);
    first.update(0x151u32.to_be_bytes());
    first.update(TPM_RH_ENDORSEMENT.to_be_bytes());
    let digest = Sha256::digest(first.finalize());
    assert_eq!(digest[..], EK_L1_AUTH_POLICY);
}

#[test]
fn only_the_endorsement_module_reaches_the_key_source() {
    // No protocol handler holds or names a GuestKeySource: the guest has no path to MSG_KEY_REQ.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut todo = vec![src.clone()];
    let mut named = Vec::new();
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read_to_string(&path).unwrap().contains("GuestKeySource") {
                named.push(path.strip_prefix(&src).unwrap().display().to_string());
            }
        }
    }
    assert_eq!(named, ["endorsement_key.rs"]);
}
