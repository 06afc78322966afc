//! State that survives a reboot (issue 15), through the booted firmware: `cargo xtask run --vtpm-state
//! FILE` attaches FILE as Warden's state disk, `tpm2-tools` drive the vTPM through the mssim bridge.
//! A persistent NV index, a persistent key and a changed owner auth survive a reboot with the same
//! file; a flipped byte, a file sealed for another image, and an older state handed back within one
//! boot are refused (the firmware says so and starts fresh).
#![forbid(unsafe_code)]
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use warden_tests::{BootedFirmware, ScratchDir};
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::persistence::seal::{self, ImageId, SealingKey};

const INDEX: &str = "0x1500016";
const PERSISTENT: &str = "0x81000005";
const OWNER_AUTH: &str = "survives-reboots";

/// One boot of the firmware with `state` as its state disk, its console collected.
struct Boot {
    firmware: BootedFirmware,
    console: Arc<Mutex<String>>,
}

impl Boot {
    fn start(state: &Path, port: u16) -> Self {
        let mut firmware =
            BootedFirmware::spawn(port, &[OsStr::new("--vtpm-state"), state.as_os_str()], Stdio::piped());
        let console = Arc::new(Mutex::new(String::new()));
        let stdout = firmware.take_stdout().expect("piped stdout");
        let sink = console.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut all = sink.lock().unwrap();
                all.push_str(&line);
                all.push('\n');
            }
        });
        firmware.wait_for_bridge(Duration::from_secs(90));
        let boot = Self { firmware, console };
        boot.expect_ok("tpm2_startup -c");
        boot
    }

    /// The console so far.
    fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Waits (a few seconds at most) for the console to say `text`.
    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.console().contains(text) {
            assert!(Instant::now() < deadline, "the console never said {text:?}:\n{}", self.console());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn run(&self, line: &str) -> Output {
        self.firmware.tpm2(&line.split(' ').collect::<Vec<_>>())
    }

    fn expect_ok(&self, line: &str) -> String {
        self.firmware.tpm2_ok(&line.split(' ').collect::<Vec<_>>())
    }

    fn expect_fail(&self, line: &str) {
        assert!(!self.run(line).status.success(), "{line} succeeded");
    }
}

/// The `name:` line of `tpm2_readpublic`.
fn name_of(readpublic: &str) -> String {
    readpublic.lines().find(|l| l.starts_with("name:")).expect("a name line").to_owned()
}

/// The vTPM starts fresh: no index, no persistent key, an empty owner auth.
fn assert_fresh(boot: &Boot) {
    boot.expect_fail(&format!("tpm2_readpublic -c {PERSISTENT}"));
    boot.expect_fail(&format!("tpm2_nvreadpublic {INDEX}"));
    boot.expect_ok("tpm2_changeauth -c o fresh-owner");
}

/// Threat model T10.
#[test]
fn nv_a_persistent_key_and_owner_auth_survive_a_reboot_and_bad_state_is_refused() {
    let scratch = ScratchDir::new("vtpm-state");
    let state = scratch.path("vtpm-state.bin");
    std::fs::write(scratch.path("data"), b"rebooted").unwrap();

    // First boot: an index written, a key made persistent, the owner auth changed.
    let key_name = {
        let boot = Boot::start(&state, 26321);
        boot.wait_for("vTPM state: none stored yet");
        boot.expect_ok(&format!("tpm2_nvdefine {INDEX} -C o -s 8 -a ownerread|ownerwrite"));
        boot.expect_ok(&format!("tpm2_nvwrite {INDEX} -C o -i {}", scratch.arg("data")));
        boot.expect_ok(&format!("tpm2_createprimary -C o -G ecc256 -c {}", scratch.arg("primary.ctx")));
        boot.expect_ok(&format!("tpm2_evictcontrol -C o -c {} {PERSISTENT}", scratch.arg("primary.ctx")));
        boot.expect_ok(&format!("tpm2_changeauth -c o {OWNER_AUTH}"));
        name_of(&boot.expect_ok(&format!("tpm2_readpublic -c {PERSISTENT}")))
    };
    let saved = std::fs::read(&state).unwrap();
    let generation = seal::header(&saved).expect("a sealed state in the file").generation.get();

    // Second boot, same file: all three are back.
    {
        let boot = Boot::start(&state, 26321);
        boot.wait_for(&format!("restored generation {generation}"));
        let read = boot.expect_ok(&format!("tpm2_nvread {INDEX} -C o -s 8 -P {OWNER_AUTH}"));
        assert_eq!(read.as_bytes(), b"rebooted");
        boot.expect_fail(&format!("tpm2_nvread {INDEX} -C o -s 8"));
        assert_eq!(name_of(&boot.expect_ok(&format!("tpm2_readpublic -c {PERSISTENT}"))), key_name);

        // Within this boot, the host hands back the state of before the last write: the next save
        // finds it, refuses it and the vTPM starts fresh (manufactured anew: it needs a TPM2_Startup,
        // so the tool's closing FlushContext already fails).
        let before = std::fs::read(&state).unwrap();
        let write = |data: &[u8; 8]| {
            std::fs::write(scratch.path("data"), data).unwrap();
            boot.run(&format!("tpm2_nvwrite {INDEX} -C o -P {OWNER_AUTH} -i {}", scratch.arg("data")))
        };
        assert!(write(b"changed1").status.success());
        std::fs::write(&state, &before).unwrap();
        write(b"changed2");
        boot.wait_for("vTPM state refused (Older");
        boot.expect_ok("tpm2_startup -c");
        assert_fresh(&boot);
    }

    // A flipped byte in the sealed body: refused, fresh.
    let mut flipped = saved.clone();
    flipped[seal::HEADER_LEN + 5] ^= 0x10;
    std::fs::write(&state, &flipped).unwrap();
    {
        let boot = Boot::start(&state, 26321);
        boot.wait_for("vTPM state refused (Seal(Tag))");
        assert_fresh(&boot);
    }

    // A state sealed for another image (with that image's key): refused, fresh.
    let other = ImageId([0x42; 48]);
    let mut tpm = Tpm::new(Box::new(InsecureTestEntropy::new(7)));
    tpm.power_on();
    let blob =
        seal::seal(&SealingKey::insecure_native(&other), &other, generation + 1, [9; 12], &tpm.nv_state());
    std::fs::write(&state, &blob).unwrap();
    {
        let boot = Boot::start(&state, 26321);
        boot.wait_for("vTPM state refused (Seal(OtherImage))");
        assert_fresh(&boot);
    }
}
