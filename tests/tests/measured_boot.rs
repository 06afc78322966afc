//! Measured boot, end to end: `cargo xtask run --event-log FILE` writes the TCG event log the booted
//! firmware returns (Warden's measured-boot protocol); unmodified `tpm2_eventlog` parses it, and the
//! PCR values it replays equal what `tpm2_pcrread` reads from the firmware's vTPM, for PCR 0 and 1 in
//! every bank (SHA-1, SHA-256, SHA-384). The PCR 0 launch event names exactly the native launch
//! measurement `cargo xtask measure --json` predicts from the ELF (`native_image_digest`), and PCR 0
//! is the replay of that one event from the startup locality: a value, so a PCR 0 extended with
//! anything else fails.
//!
//! tpm2-tools before the fixes for tpm2-tools#3224 (EV_NO_ACTION events extended) and #3146
//! (StartupLocality ignored) replay PCR 0 of any log with a StartupLocality event wrongly; Debian's 5.4
//! is such a version. So PCR 0 is also replayed here by the PFP's rule (TCG PC Client PFP §10.4.5.3:
//! PCR 0 starts at the startup locality, EV_NO_ACTION extends nothing) from the digests
//! `tpm2_eventlog` printed, and the tool's own PCR 0 must equal either the value read back (a fixed
//! tool) or exactly what the known bug computes (Debian's).
#![forbid(unsafe_code)]
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384};
use warden_tests::BootedFirmware;
use warden_vtpm::measured_boot::{LaunchMeasurement, LaunchRoot};

const PORT: u16 = 25341;

/// PCR values by (bank, index), hex lowercase.
type Pcrs = BTreeMap<(String, u32), String>;

/// The `bank:` / `N : 0x...` blocks of `tpm2_pcrread` and of `tpm2_eventlog`'s `pcrs:` section.
fn pcr_values(text: &str) -> Pcrs {
    let mut bank = String::new();
    let mut values = Pcrs::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_suffix(':').filter(|n| n.starts_with("sha")) {
            bank = name.to_string();
        } else if let Some((index, value)) = trimmed.split_once(':')
            && let (Ok(index), Some(hex)) = (index.trim().parse::<u32>(), value.trim().strip_prefix("0x"))
        {
            values.insert((bank.clone(), index), hex.to_lowercase());
        }
    }
    values
}

/// One event as `tpm2_eventlog` printed it: PCR, type, and the digests by bank.
#[derive(Debug, Default)]
struct Event {
    pcr: u32,
    kind: String,
    digests: Vec<(String, String)>,
}

/// The events after the Spec ID event (EventNum 0), from `tpm2_eventlog`'s YAML.
fn events(yaml: &str) -> Vec<Event> {
    let body = yaml.split("\npcrs:").next().unwrap_or_default();
    let mut events: Vec<Event> = Vec::new();
    let mut bank = String::new();
    for line in body.lines().map(str::trim) {
        let field = |name: &str| line.strip_prefix(name).map(|v| v.trim().trim_matches('"').to_string());
        if field("- EventNum:").is_some() {
            events.push(Event::default());
        } else if let (Some(value), Some(event)) = (field("PCRIndex:"), events.last_mut()) {
            event.pcr = value.parse().unwrap();
        } else if let (Some(value), Some(event)) = (field("EventType:"), events.last_mut()) {
            event.kind = value;
        } else if let Some(value) = field("- AlgorithmId:") {
            bank = value;
        } else if let (Some(value), Some(event)) = (field("Digest:"), events.last_mut()) {
            event.digests.push((bank.clone(), value.to_lowercase()));
        }
    }
    // EventNum 0 is the Spec ID event: a single SHA-1-format digest, no bank.
    events.into_iter().skip(1).collect()
}

fn extend(bank: &str, pcr: &[u8], digest: &[u8]) -> Vec<u8> {
    match bank {
        "sha1" => Sha1::new().chain_update(pcr).chain_update(digest).finalize().to_vec(),
        "sha256" => Sha256::new().chain_update(pcr).chain_update(digest).finalize().to_vec(),
        "sha384" => Sha384::new().chain_update(pcr).chain_update(digest).finalize().to_vec(),
        other => panic!("unexpected bank {other}"),
    }
}

/// `measure --json`'s `native_image_digest`: the host's prediction from `target/warden/warden.elf`.
fn predicted_native_digest() -> [u8; 48] {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let out = warden_tests::xtask()
        .args(["measure", "--json"])
        .env("WARDEN_WORKSPACE", workspace)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest =
        json["native_image_digest"].as_str().unwrap_or_else(|| panic!("no native_image_digest: {json}"));
    unhex(digest).try_into().expect("48 bytes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// Replays `pcr` of `bank` from the printed events: from zero with its last byte `start`, extending
/// each event's digest; EV_NO_ACTION events extend only when `extend_no_action` (the tpm2-tools#3224
/// bug).
fn replay(events: &[Event], bank: &str, pcr: u32, start: u8, extend_no_action: bool) -> String {
    let size = match bank {
        "sha1" => 20,
        "sha256" => 32,
        _ => 48,
    };
    let mut value = vec![0u8; size];
    value[size - 1] = start;
    for event in events.iter().filter(|e| e.pcr == pcr && (extend_no_action || e.kind != "EV_NO_ACTION")) {
        let (_, digest) = event.digests.iter().find(|(b, _)| b == bank).expect("a digest for every bank");
        value = extend(bank, &value, &unhex(digest));
    }
    hex(&value)
}

#[test]
fn tpm2_eventlog_replays_the_firmware_log_to_the_pcrs_it_reads() {
    let dir = std::env::temp_dir().join(format!("warden-measured-boot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log_path = dir.join("eventlog.bin");
    let firmware =
        BootedFirmware::spawn(PORT, &[OsStr::new("--event-log"), log_path.as_os_str()], Stdio::null());
    // The log is written before the bridge listens.
    firmware.wait_for_bridge(Duration::from_secs(90));
    let log = std::fs::read(&log_path).expect("xtask wrote the event log");

    let tool = |args: &[&str]| firmware.tpm2_ok(args);
    let yaml = tool(&["tpm2_eventlog", log_path.to_str().unwrap()]);
    for algorithm in ["algorithmId: sha1", "algorithmId: sha256", "algorithmId: sha384"] {
        assert!(yaml.contains(algorithm), "the Spec ID event lists every bank: {yaml}");
    }
    let events = events(&yaml);
    let kinds: Vec<(u32, &str)> = events.iter().map(|e| (e.pcr, e.kind.as_str())).collect();
    assert_eq!(kinds, [(0, "EV_NO_ACTION"), (0, "EV_S_CRTM_VERSION"), (1, "EV_PLATFORM_CONFIG_FLAGS")]);
    // The StartupLocality event's data: the signature and locality 4 (an H-CRTM).
    let signature = b"StartupLocality\0";
    let at = log.windows(signature.len()).position(|w| w == signature).expect("a StartupLocality event");
    let locality = log[at + signature.len()];
    assert_eq!(locality, 4);

    // The launch event: exactly the measurement the host predicts, hashed into every bank.
    let predicted = LaunchMeasurement { root: LaunchRoot::NativeImage, digest: predicted_native_digest() };
    let launch_data = predicted.event_data();
    let launch = &events[1];
    let expected_digest = |bank: &str| match bank {
        "sha1" => Sha1::digest(&launch_data).to_vec(),
        "sha256" => Sha256::digest(&launch_data).to_vec(),
        _ => Sha384::digest(&launch_data).to_vec(),
    };
    for (bank, digest) in &launch.digests {
        assert_eq!(
            *digest,
            hex(&expected_digest(bank)),
            "the launch event's {bank} digest against measure --json"
        );
    }
    assert!(
        log.windows(launch_data.len()).any(|w| w == launch_data),
        "the log holds the predicted event data"
    );

    let replayed = pcr_values(yaml.split("\npcrs:").nth(1).expect("tpm2_eventlog prints pcrs:"));
    tool(&["tpm2_startup", "-c"]);
    let read = pcr_values(&tool(&["tpm2_pcrread", "sha1:0,1+sha256:0,1+sha384:0,1"]));
    for bank in ["sha1", "sha256", "sha384"] {
        let key = |pcr: u32| (bank.to_string(), pcr);
        assert_eq!(replayed[&key(1)], read[&key(1)], "PCR 1 {bank}: tpm2_eventlog against tpm2_pcrread");
        assert_eq!(replay(&events, bank, 1, 0, false), read[&key(1)], "PCR 1 {bank}: PFP replay");
        assert_eq!(replay(&events, bank, 0, locality, false), read[&key(0)], "PCR 0 {bank}: PFP replay");
        // From the prediction alone: the startup locality, then that one event.
        let mut start = vec![0u8; expected_digest(bank).len()];
        *start.last_mut().unwrap() = locality;
        assert_eq!(
            hex(&extend(bank, &start, &expected_digest(bank))),
            read[&key(0)],
            "PCR 0 {bank} against the replay of the predicted launch event"
        );
        assert_ne!(
            read[&key(0)],
            replay(&[], bank, 0, locality, false),
            "PCR 0 {bank} holds only its reset value"
        );
        let buggy = replay(&events, bank, 0, 0, true);
        assert!(
            replayed[&key(0)] == read[&key(0)] || replayed[&key(0)] == buggy,
            "PCR 0 {bank}: tpm2_eventlog replayed {}, the TPM reads {}, the tpm2-tools#3224 replay is {buggy}",
            replayed[&key(0)],
            read[&key(0)]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
