//! The vTPM inside the booted firmware, driven by unmodified `tpm2-tools` through the bridge:
//! tpm2-tools -> mssim -> bridge -> COM2 transport frame -> SVSM dispatcher -> vTPM protocol -> engine.
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

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
            let _ = platform.write_all(&21u32.to_be_bytes());
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

    let fixed = firmware.tool(&["tpm2_getcap", "properties-fixed"]);
    assert!(fixed.contains("TPM2_PT_FAMILY_INDICATOR"), "{fixed}");
}
