//! Measured boot (`Tpm::measured_startup`): the H-CRTM start-up, PCR 0 and 1 in every bank, and the
//! crypto-agile event log read back, replayed and checked against PCR_Read and against digests
//! computed here with the `sha1`/`sha2` crates.

use crate::common::{SHA1, SHA256, SHA384, powered, run};
use crate::pcr::read;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};
use warden_vtpm::crypto::HashAlg;
use warden_vtpm::event_log::wire::{EV_NO_ACTION, EV_PLATFORM_CONFIG_FLAGS, EV_S_CRTM_VERSION};
use warden_vtpm::event_log::{LogError, parse};
use warden_vtpm::measured_boot::{LaunchMeasurement, LaunchRoot, MeasureError, PlatformConfig, PlatformKind};
use warden_vtpm::{AlgId, CommandCode, ResponseCode};

const LAUNCH: LaunchMeasurement = LaunchMeasurement { root: LaunchRoot::SnpLaunchDigest, digest: [0x5A; 48] };

fn config() -> PlatformConfig {
    PlatformConfig::new(PlatformKind::Snp, 2, 2, &[(0, 0xA_0000), (0x10_0000, 0x800_0000)])
}

/// SHA-x(0…0 `last` || SHA-x(data)) in the three banks, computed without the engine.
fn extended_once(last: u8, data: &[u8]) -> [Vec<u8>; 3] {
    let mut z1 = [0u8; 20];
    let mut z256 = [0u8; 32];
    let mut z384 = [0u8; 48];
    z1[19] = last;
    z256[31] = last;
    z384[47] = last;
    [
        Sha1::new().chain_update(z1).chain_update(Sha1::digest(data)).finalize().to_vec(),
        Sha256::new().chain_update(z256).chain_update(Sha256::digest(data)).finalize().to_vec(),
        Sha384::new().chain_update(z384).chain_update(Sha384::digest(data)).finalize().to_vec(),
    ]
}

#[test]
fn pcr0_and_pcr1_hold_the_launch_and_the_configuration_in_every_bank() {
    let mut t = powered();
    let log = t.measured_startup(Some(&LAUNCH), &config()).expect("a fresh TPM measures");
    let data = LAUNCH.event_data();
    let config = config();
    let config_bytes = zerocopy::IntoBytes::as_bytes(&config);
    for (bank, (alg, pcr0)) in [SHA1, SHA256, SHA384].into_iter().zip(extended_once(4, &data)).enumerate() {
        assert_eq!(read(&mut t, alg, 0), pcr0, "PCR 0, bank {bank}");
        assert_eq!(read(&mut t, alg, 1), extended_once(0, config_bytes)[bank], "PCR 1, bank {bank}");
    }
    // The log replays to what the TPM reads, PCR by PCR and bank by bank.
    let parsed = parse(log.as_bytes()).expect("the log parses");
    for (id, alg) in [(SHA1, HashAlg::Sha1), (SHA256, HashAlg::Sha256), (SHA384, HashAlg::Sha384)] {
        for pcr in [0, 1] {
            assert_eq!(
                parsed.replay(pcr, alg).as_slice(),
                read(&mut t, id, pcr as usize),
                "PCR {pcr} {id:#x}"
            );
        }
    }
}

#[test]
fn the_log_is_crypto_agile_with_startup_locality_4_first() {
    let mut t = powered();
    let log = t.measured_startup(Some(&LAUNCH), &config()).unwrap();
    let parsed = parse(log.as_bytes()).unwrap();
    assert_eq!(parsed.algorithms, vec![(AlgId::SHA1, 20), (AlgId::SHA256, 32), (AlgId::SHA384, 48)]);
    let types: Vec<(u32, u32)> = parsed.events.iter().map(|e| (e.pcr, e.event_type)).collect();
    assert_eq!(types, vec![(0, EV_NO_ACTION), (0, EV_S_CRTM_VERSION), (1, EV_PLATFORM_CONFIG_FLAGS)]);
    let startup = &parsed.events[0];
    assert_eq!(startup.data, b"StartupLocality\0\x04");
    assert!(startup.digests.iter().all(|(_, d)| d.iter().all(|&b| b == 0)), "EV_NO_ACTION digests are zero");
    // EV_S_CRTM_VERSION: the digest is the hash of the event data, a UTF-16LE string naming the digest.
    let crtm = &parsed.events[1];
    assert_eq!(crtm.digests[1], (AlgId::SHA256, Sha256::digest(&crtm.data).to_vec()));
    let text: String = char::decode_utf16(crtm.data.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])))
        .map(Result::unwrap)
        .collect();
    assert_eq!(text, format!("Warden H-CRTM: SNP launch digest {}\0", "5a".repeat(48)));
}

#[test]
fn the_guest_cannot_start_the_tpm_again_or_reset_pcr0() {
    let mut t = powered();
    t.measured_startup(Some(&LAUNCH), &config()).unwrap();
    let before = read(&mut t, SHA256, 0);
    assert_eq!(run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).rc, ResponseCode::INITIALIZE.0);
    assert_eq!(read(&mut t, SHA256, 0), before);
    assert_eq!(
        t.measured_startup(Some(&LAUNCH), &config()),
        Err(MeasureError::Startup(ResponseCode::INITIALIZE)),
        "measured boot runs once"
    );
}

#[test]
fn without_a_launch_measurement_pcr0_stays_at_the_h_crtm_reset_value() {
    let mut t = powered();
    let log = t.measured_startup(None, &config()).unwrap();
    let mut expected = vec![0u8; 32];
    expected[31] = 4;
    assert_eq!(read(&mut t, SHA256, 0), expected);
    let parsed = parse(log.as_bytes()).unwrap();
    assert!(parsed.events.iter().all(|e| e.pcr != 0 || e.event_type == EV_NO_ACTION), "no PCR 0 extend");
    assert_eq!(parsed.replay(0, HashAlg::Sha256).as_slice(), expected);
}

#[test]
fn a_damaged_log_is_refused_without_panicking() {
    let mut t = powered();
    let log = t.measured_startup(Some(&LAUNCH), &config()).unwrap();
    let bytes = log.as_bytes();
    let events = parse(bytes).unwrap().events.len();
    // Every prefix either is refused as truncated or ends on an event boundary with fewer events.
    for n in 0..bytes.len() {
        match parse(&bytes[..n]) {
            Err(LogError::Truncated | LogError::NotCryptoAgile) => {}
            Err(other) => panic!("prefix {n}: {other:?}"),
            Ok(parsed) => assert!(parsed.events.len() < events, "prefix {n} parsed whole"),
        }
    }
    let mut renamed = bytes.to_vec();
    renamed[32] ^= 1; // the Spec ID signature
    assert_eq!(parse(&renamed), Err(LogError::NotCryptoAgile));
}
