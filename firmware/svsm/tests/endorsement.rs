//! The stable EK: the endorsement seed from a PSP key (Warden's guest-request driver against the
//! simulated PSP, INSECURE TEST KEYS) through HKDF, the EK the manifest carries from TPM2_CreatePrimary on
//! the vTPM itself, and what Warden asks the PSP for.
use sha2::{Digest, Sha256};
use warden_defs::ek_template::{EK_L1_AUTH_POLICY, EK_L1_MODULUS_SIZE, TPM_RH_ENDORSEMENT, l1_modulus};
use warden_defs::snp_guest_msg::{
    GuestFieldSelect, KEY_ROOT_VCEK, KeyRequest, SECRETS_VMPCK0_OFFSET, VMPCK_SIZE,
};
use warden_defs::snp_report::TcbVersion;
use warden_sim::psp::{SimPsp, SimPspError};
use warden_svsm::endorsement_key::{GuestKeySource, SNP_ENDORSEMENT_LABEL, snp_endorsement_key};
use warden_svsm::guest_request::{
    ChannelError, ChannelReply, GuestRequestChannel, GuestRequestDriver, GuestRequestError, MessagePage,
};
use warden_svsm::vtpm_manifest::{create_ek_command, endorsement_key_public, parse_create_primary};
use warden_svsm::vtpm_protocol::TpmEngine;
use warden_vtpm::insecure_test_entropy::{InsecureTestClock, InsecureTestEntropy};
use warden_vtpm::{EndorsementSeed, FirmwareConfig, Tpm};
use zeroize::Zeroizing;

/// An honest host in front of the simulated PSP.
struct Host(SimPsp);

impl GuestRequestChannel for Host {
    fn exchange(
        &mut self,
        request: &MessagePage,
        pages: Option<usize>,
    ) -> Result<ChannelReply, ChannelError> {
        let (response, certificates) = self.0.guest_request(request, pages).map_err(|e| match e {
            SimPspError::InvalidLength(pages) => ChannelError::InvalidLength { pages },
            SimPspError::Firmware(code) => ChannelError::Firmware(code),
        })?;
        Ok(ChannelReply { response, certificates })
    }

    fn wipe_vmpck0(&mut self) {}
}

/// Warden's driver for a launch measured `measurement` on the simulated chip.
fn driver(measurement: [u8; 48]) -> GuestRequestDriver<Host> {
    let mut psp = SimPsp::insecure_test();
    psp.measurement = measurement;
    let mut secrets = [0u8; 4096];
    secrets[SECRETS_VMPCK0_OFFSET..SECRETS_VMPCK0_OFFSET + VMPCK_SIZE].copy_from_slice(&psp.vmpck(0));
    let vmpck0 = secrets[SECRETS_VMPCK0_OFFSET..SECRETS_VMPCK0_OFFSET + VMPCK_SIZE].try_into().unwrap();
    GuestRequestDriver::new(Host(psp), Zeroizing::new(vmpck0))
}

struct Engine(Tpm);

impl TpmEngine for Engine {
    fn execute(&mut self, command: &[u8]) -> Vec<u8> {
        self.0.execute(command)
    }
}

/// A boot: the firmware's TPM (entropy differs per boot) with the seed the PSP's key gives, and its EK.
fn boot(measurement: [u8; 48], entropy: u64) -> (Engine, Vec<u8>) {
    let key = snp_endorsement_key(&mut driver(measurement)).expect("the PSP answers Warden's request");
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
fn the_same_launch_gets_the_same_ek_and_another_measurement_another() {
    let (_, first) = boot([0xAA; 48], 1);
    let (_, again) = boot([0xAA; 48], 2);
    assert_eq!(first, again, "a reboot of the same image keeps the EK");
    assert_eq!(l1_modulus(&first).map(<[u8]>::len), Some(EK_L1_MODULUS_SIZE));
    let (_, other_image) = boot([0xAB; 48], 1);
    assert_ne!(first, other_image, "another measurement, another EK");
}

/// A key source that records what it is asked and derives from the TCB it is asked for.
struct Recorder {
    tcb: TcbVersion,
    asked: Vec<KeyRequest>,
}

impl GuestKeySource for Recorder {
    fn reported_tcb(&mut self) -> Result<TcbVersion, GuestRequestError> {
        Ok(self.tcb)
    }

    fn derive_key(&mut self, request: &KeyRequest) -> Result<Zeroizing<[u8; 32]>, GuestRequestError> {
        self.asked.push(*request);
        Ok(Zeroizing::new(Sha256::digest(request.tcb_version.to_le_bytes()).into()))
    }
}

#[test]
fn warden_asks_for_a_vmpl0_vcek_key_bound_to_policy_measurement_and_the_reported_tcb() {
    let tcb = TcbVersion([3, 0, 0, 0, 0, 0, 8, 115]);
    let mut source = Recorder { tcb, asked: Vec::new() };
    let key = snp_endorsement_key(&mut source).unwrap();
    let [request] = source.asked.as_slice() else { panic!("one request: {:?}", source.asked) };
    assert_eq!(request.vmpl, 0);
    assert_eq!(request.root_key_select, KEY_ROOT_VCEK);
    let select = GuestFieldSelect(request.guest_field_select);
    for field in [GuestFieldSelect::POLICY, GuestFieldSelect::MEASUREMENT, GuestFieldSelect::TCB_VERSION] {
        assert!(select.contains(field), "{field:?}");
    }
    assert!(!select.contains(GuestFieldSelect::GUEST_SVN), "the guest SVN is not Warden's to bind");
    assert_eq!(request.tcb_version.to_le_bytes(), tcb.0);
    // A TCB update is another key, so another EK.
    let mut updated = Recorder { tcb: TcbVersion([3, 0, 0, 0, 0, 0, 9, 115]), asked: Vec::new() };
    assert_ne!(*snp_endorsement_key(&mut updated).unwrap(), *key);
}

#[test]
fn the_guest_s_own_create_primary_gives_the_manifest_s_ek() {
    let (mut engine, manifest_ek) = boot([0xAA; 48], 5);
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
