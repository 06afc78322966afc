//! The vTPM inside the booted firmware, driven by unmodified `tpm2-tools` through the bridge:
//! tpm2-tools -> mssim -> bridge -> COM2 transport frame -> SVSM dispatcher -> vTPM protocol -> engine.
#![forbid(unsafe_code)]
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha1::Sha1;
use sha2::{Digest, Sha256};
use warden_mssim::Signal;

/// The booted firmware with its bridge on `port`; stopped with TPM_STOP (and killed if that fails).
struct Firmware {
    child: Child,
    port: u16,
}

impl Firmware {
    fn boot(port: u16) -> Self {
        let child = warden_tests::xtask()
            .args(["run", "--no-build", "--headless", "--accel", "tcg", "--timeout", "60"])
            .args(["--vtpm-port", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("the xtask binary runs");
        let firmware = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the bridge never listened on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        firmware
    }

    fn tool(&self, args: &[&str]) -> String {
        let output = Command::new(args[0])
            .args(&args[1..])
            .current_dir(std::env::temp_dir())
            .env("TPM2TOOLS_TCTI", format!("mssim:host=127.0.0.1,port={}", self.port))
            .output()
            .expect("tpm2-tools are installed");
        assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        // TPM_STOP (21) on the platform port ends the bridge, and xtask stops QEMU.
        if let Ok(mut platform) = TcpStream::connect(("127.0.0.1", self.port + 1)) {
            let _ = platform.write_all(&Signal::STOP.to_wire());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn tpm2_tools_drive_the_vtpm_inside_the_firmware() {
    let firmware = Firmware::boot(25321);
    firmware.tool(&["tpm2_startup", "-c"]);

    let random = firmware.tool(&["tpm2_getrandom", "--hex", "32"]);
    assert_eq!(random.trim().len(), 64, "32 random bytes as hex: {random:?}");

    // PCR 16 is resettable: reset, extend, and check the arithmetic against an independent SHA-256.
    firmware.tool(&["tpm2_pcrreset", "16"]);
    let measurement = [0xA5u8; 32];
    let hex: String = measurement.iter().map(|b| format!("{b:02x}")).collect();
    firmware.tool(&["tpm2_pcrextend", &format!("16:sha256={hex}")]);
    let mut expected = Sha256::new();
    expected.update([0u8; 32]);
    expected.update(measurement);
    let expected: String = expected.finalize().iter().map(|b| format!("{b:02X}")).collect();
    let read = firmware.tool(&["tpm2_pcrread", "sha256:16"]);
    assert!(read.contains(&format!("0x{expected}")), "PCR 16 = {read}, expected 0x{expected}");

    // The SHA-1 bank (issue 18) inside the firmware too: PCR 16 was reset in every bank.
    let sha1 = Sha1::digest(b"firmware sha1 event");
    let sha1_hex: String = sha1.iter().map(|b| format!("{b:02x}")).collect();
    firmware.tool(&["tpm2_pcrextend", &format!("16:sha1={sha1_hex}")]);
    let expected = Sha1::new().chain_update([0u8; 20]).chain_update(sha1).finalize();
    let expected: String = expected.iter().map(|b| format!("{b:02X}")).collect();
    let read = firmware.tool(&["tpm2_pcrread", "sha1:16"]);
    assert!(read.contains(&format!("0x{expected}")), "sha1 PCR 16 = {read}, expected 0x{expected}");

    let fixed = firmware.tool(&["tpm2_getcap", "properties-fixed"]);
    assert!(fixed.contains("TPM2_PT_FAMILY_INDICATOR"), "{fixed}");

    // Keys inside the firmware: an ECC P-256 storage primary and a signing child created and loaded under
    // it; the child's signature verifies, a changed message's does not. `@name` is a file in a scratch
    // directory; context files carry the keys between tool invocations (ContextSave/ContextLoad).
    let dir = std::env::temp_dir().join(format!("warden-firmware-vtpm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    std::fs::write(path("message"), b"measured by Warden").unwrap();
    std::fs::write(path("other"), b"not what was signed").unwrap();
    let tool = |args: &[String]| firmware.tool(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let words = |line: &str| {
        line.split(' ').map(|w| w.strip_prefix('@').map_or(w.to_owned(), path)).collect::<Vec<_>>()
    };
    tool(&words("tpm2_createprimary -C o -G ecc256 -c @parent.ctx"));
    tool(&words("tpm2_create -C @parent.ctx -G ecc256 -u @key.pub -r @key.priv"));
    tool(&words("tpm2_load -C @parent.ctx -u @key.pub -r @key.priv -c @key.ctx"));
    tool(&words("tpm2_sign -c @key.ctx -g sha256 -o @sig @message"));
    let verify = |message: &str| {
        Command::new("tpm2_verifysignature")
            .args(["-c", &path("key.ctx"), "-g", "sha256", "-m", &path(message), "-s", &path("sig")])
            .env("TPM2TOOLS_TCTI", format!("mssim:host=127.0.0.1,port={}", firmware.port))
            .output()
            .expect("tpm2-tools are installed")
            .status
            .success()
    };
    assert!(verify("message"), "the firmware's signature does not verify");
    assert!(!verify("other"), "a signature verified for another message");
    let _ = std::fs::remove_dir_all(&dir);
}
