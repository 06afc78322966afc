//! The vTPM inside the booted firmware, driven by unmodified `tpm2-tools` through the bridge:
//! tpm2-tools -> mssim -> bridge -> COM2 transport frame -> SVSM dispatcher -> vTPM protocol -> engine.
#![forbid(unsafe_code)]
use std::io::Write;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// The commands issue 18 added, inside the firmware: EC_Ephemeral, NV_Certify, and a key duplicated
/// under a PolicyCommandCode(Duplicate) session to the endorsement primary, imported there and signing.
#[test]
fn issue_18_commands_run_inside_the_firmware() {
    let firmware = Firmware::boot(25341);
    firmware.tool(&["tpm2_startup", "-c"]);
    let dir = std::env::temp_dir().join(format!("warden-firmware-vtpm-18-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let tool = |line: &str| {
        // `@name` (also after a prefix, as in `session:@name`) is a file in the scratch directory.
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                w.split_once('@').map_or(w.to_owned(), |(prefix, name)| format!("{prefix}{}", path(name)))
            })
            .collect();
        firmware.tool(&words.iter().map(String::as_str).collect::<Vec<_>>())
    };

    tool("tpm2_ecephemeral -u @q.bin -t @counter.bin ecc256");
    assert_eq!(std::fs::read(path("counter.bin")).unwrap(), [0, 1]);
    assert_eq!(std::fs::read(path("q.bin")).unwrap().len(), 2 + 2 * (2 + 32));

    tool(
        "tpm2_createprimary -C o -G ecc256 -a fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign -c @signer.ctx",
    );
    tool("tpm2_nvdefine 0x1500018 -C o -s 8 -a authread|authwrite");
    std::fs::write(path("nv.bin"), b"warden18").unwrap();
    tool("tpm2_nvwrite 0x1500018 -i @nv.bin");
    tool("tpm2_nvcertify -C @signer.ctx -g sha256 -o @nv.sig --attestation @nv.attest --size 8 0x1500018");
    assert!(std::fs::read(path("nv.attest")).unwrap().ends_with(b"warden18"));
    tool("tpm2_flushcontext -t");

    // PolicyCommandCode(Duplicate), computed here: H(0...0 || TPM_CC_PolicyCommandCode || TPM_CC_Duplicate).
    let policy = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(0x16Cu32.to_be_bytes())
        .chain_update(0x14Bu32.to_be_bytes());
    std::fs::write(path("dup.policy"), policy.finalize()).unwrap();
    tool("tpm2_createprimary -C o -G ecc256 -c @owner.ctx");
    tool(
        "tpm2_create -C @owner.ctx -G ecc256 -L @dup.policy -a sensitivedataorigin|sign|userwithauth -u @key.pub -r @key.priv",
    );
    tool("tpm2_load -C @owner.ctx -u @key.pub -r @key.priv -c @key.ctx");
    tool("tpm2_createprimary -C e -G ecc256 -c @endorsement.ctx");
    tool("tpm2_startauthsession --policy-session -S @session.ctx");
    tool("tpm2_policycommandcode -S @session.ctx TPM2_CC_Duplicate");
    tool(
        "tpm2_duplicate -C @endorsement.ctx -c @key.ctx -G null -r @dup.priv -s @dup.seed -p session:@session.ctx",
    );
    tool("tpm2_flushcontext @session.ctx");
    tool("tpm2_import -C @endorsement.ctx -u @key.pub -i @dup.priv -r @moved.priv -s @dup.seed");
    tool("tpm2_flushcontext -t");
    tool("tpm2_load -C @endorsement.ctx -u @key.pub -r @moved.priv -c @moved.ctx");
    std::fs::write(path("message"), b"moved by Duplicate").unwrap();
    tool("tpm2_sign -c @moved.ctx -g sha256 -o @sig @message");
    tool("tpm2_verifysignature -c @moved.ctx -g sha256 -m @message -s @sig");
    let _ = std::fs::remove_dir_all(&dir);
}
