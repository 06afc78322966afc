//! The vTPM inside the booted firmware, driven by unmodified `tpm2-tools` through the bridge:
//! tpm2-tools -> mssim -> bridge -> guest RAM + COM2 doorbell -> SVSM dispatcher -> vTPM protocol -> engine.
#![forbid(unsafe_code)]
use std::process::{Command, Stdio};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use warden_tests::{BootedFirmware, ScratchDir};

/// The release firmware booted with its bridge on `port`.
fn booted(port: u16) -> BootedFirmware {
    let firmware = BootedFirmware::spawn(port, &[], Stdio::null());
    firmware.wait_for_bridge(Duration::from_secs(60));
    firmware
}

#[test]
fn tpm2_tools_drive_the_vtpm_inside_the_firmware() {
    let firmware = booted(25321);
    firmware.tpm2_ok(&["tpm2_startup", "-c"]);

    let random = firmware.tpm2_ok(&["tpm2_getrandom", "--hex", "32"]);
    assert_eq!(random.trim().len(), 64, "32 random bytes as hex: {random:?}");

    // PCR 16 is resettable: reset, extend, and check the arithmetic against an independent SHA-256.
    firmware.tpm2_ok(&["tpm2_pcrreset", "16"]);
    let measurement = [0xA5u8; 32];
    let hex: String = measurement.iter().map(|b| format!("{b:02x}")).collect();
    firmware.tpm2_ok(&["tpm2_pcrextend", &format!("16:sha256={hex}")]);
    let mut expected = Sha256::new();
    expected.update([0u8; 32]);
    expected.update(measurement);
    let expected: String = expected.finalize().iter().map(|b| format!("{b:02X}")).collect();
    let read = firmware.tpm2_ok(&["tpm2_pcrread", "sha256:16"]);
    assert!(read.contains(&format!("0x{expected}")), "PCR 16 = {read}, expected 0x{expected}");

    // The SHA-1 bank (issue 18) inside the firmware too: PCR 16 was reset in every bank.
    let sha1 = Sha1::digest(b"firmware sha1 event");
    let sha1_hex: String = sha1.iter().map(|b| format!("{b:02x}")).collect();
    firmware.tpm2_ok(&["tpm2_pcrextend", &format!("16:sha1={sha1_hex}")]);
    let expected = Sha1::new().chain_update([0u8; 20]).chain_update(sha1).finalize();
    let expected: String = expected.iter().map(|b| format!("{b:02X}")).collect();
    let read = firmware.tpm2_ok(&["tpm2_pcrread", "sha1:16"]);
    assert!(read.contains(&format!("0x{expected}")), "sha1 PCR 16 = {read}, expected 0x{expected}");

    let fixed = firmware.tpm2_ok(&["tpm2_getcap", "properties-fixed"]);
    assert!(fixed.contains("TPM2_PT_FAMILY_INDICATOR"), "{fixed}");

    // Keys inside the firmware: an ECC P-256 storage primary and a signing child created and loaded under
    // it; the child's signature verifies, a changed message's does not. `@name` is a file in a scratch
    // directory; context files carry the keys between tool invocations (ContextSave/ContextLoad).
    let scratch = ScratchDir::new("firmware-vtpm");
    let path = |name: &str| scratch.arg(name);
    std::fs::write(path("message"), b"measured by Warden").unwrap();
    std::fs::write(path("other"), b"not what was signed").unwrap();
    let tool = |line: &str| scratch.tool(&firmware, line);
    tool("tpm2_createprimary -C o -G ecc256 -c @parent.ctx");
    tool("tpm2_create -C @parent.ctx -G ecc256 -u @key.pub -r @key.priv");
    tool("tpm2_load -C @parent.ctx -u @key.pub -r @key.priv -c @key.ctx");
    tool("tpm2_sign -c @key.ctx -g sha256 -o @sig @message");
    let verify = |message: &str| {
        Command::new("tpm2_verifysignature")
            .args(["-c", &path("key.ctx"), "-g", "sha256", "-m", &path(message), "-s", &path("sig")])
            .env("TPM2TOOLS_TCTI", format!("mssim:host=127.0.0.1,port={}", firmware.port()))
            .output()
            .expect("tpm2-tools are installed")
            .status
            .success()
    };
    assert!(verify("message"), "the firmware's signature does not verify");
    assert!(!verify("other"), "a signature verified for another message");
}

/// Issue 18's algorithms and audit inside the firmware: AES modes chosen at use, raw RSA with an
/// RSA-1024 key from OpenSSL, an XOR keyed-hash primary, ECDAA (Commit then Sign), command audit and
/// an audit session whose digest is recomputed here from the cpHash/rpHash files tpm2-tools writes.
#[test]
fn issue_18_algorithms_and_audit_inside_the_firmware() {
    let firmware = booted(25331);
    firmware.tpm2_ok(&["tpm2_startup", "-c"]);
    let scratch = ScratchDir::new("firmware-vtpm-algs");
    let path = |name: &str| scratch.arg(name);
    let tool = |line: &str| {
        let out = scratch.tool(&firmware, line);
        // No resource manager: free the transient slots each tool leaves loaded.
        firmware.tpm2_ok(&["tpm2_flushcontext", "-t"]);
        out
    };
    let read = |name: &str| scratch.read(name);

    // AES-128 with mode NULL: each mode round-trips.
    let plain: Vec<u8> = (0..48u8).collect();
    std::fs::write(path("pt"), &plain).unwrap();
    tool("tpm2_createprimary -C o -G ecc256 -c @p.ctx");
    tool("tpm2_create -C @p.ctx -G aes -u @k.pub -r @k.priv -c @k.ctx");
    for mode in ["cfb", "cbc", "ecb", "ctr", "ofb"] {
        tool(&format!("tpm2_encryptdecrypt -c @k.ctx -G {mode} -o @ct @pt"));
        tool(&format!("tpm2_encryptdecrypt -d -c @k.ctx -G {mode} -o @back @ct"));
        assert_eq!(read("back"), plain, "{mode}");
    }

    // Raw RSA with an OpenSSL RSA-1024 key loaded from outside: the TPM's encryption is OpenSSL's.
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(scratch.dir()).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "o.pem"]);
    let block: Vec<u8> = (0..128u32).map(|i| if i == 0 { 0 } else { (i * 29 % 256) as u8 }).collect();
    std::fs::write(path("block"), &block).unwrap();
    tool("tpm2_loadexternal -C n -G rsa -r @o.pem -c @r.ctx");
    tool("tpm2_rsaencrypt -c @r.ctx -s null -o @c.raw @block");
    openssl(&[
        "pkeyutl",
        "-decrypt",
        "-inkey",
        "o.pem",
        "-pkeyopt",
        "rsa_padding_mode:none",
        "-in",
        "c.raw",
        "-out",
        "d.raw",
    ]);
    assert_eq!(read("d.raw"), block);

    // An XOR keyed-hash primary, and ECDAA: two commitments, each signs once.
    tool("tpm2_createprimary -C o -G xor -c @x.ctx");
    tool("tpm2_create -C @p.ctx -G ecc256:ecdaa -u @e.pub -r @e.priv -c @e.ctx");
    tool("tpm2_commit -c @e.ctx -t @c0 --eccpoint-K @K --eccpoint-L @L -u @E");
    tool("tpm2_commit -c @e.ctx -t @c1 --eccpoint-K @K --eccpoint-L @L -u @E");
    assert_eq!((read("c0"), read("c1")), (vec![0, 0], vec![0, 1]));
    tool("tpm2_sign -c @e.ctx -g sha256 -s ecdaa --commit-index 1 -o @sig @pt");
    tool("tpm2_sign -c @e.ctx -g sha256 -s ecdaa -o @sig @pt");

    // Command audit: the list digest covers SetCommandCodeAuditStatus and GetRandom.
    tool("tpm2_create -C @p.ctx -G ecc256 -u @s.pub -r @s.priv -c @s.ctx");
    tool("tpm2_setcommandauditstatus TPM2_CC_GetRandom");
    tool("tpm2_getcommandauditdigest -g sha256 -m @att -s @att.sig -c @s.ctx");
    let att = read("att");
    let list = Sha256::digest([0x140u32.to_be_bytes(), 0x17Bu32.to_be_bytes()].concat());
    assert_eq!(&att[att.len() - 32..], &list[..]);

    // An audit session: H(zeros || cpHash || rpHash) of the one audited GetRandom.
    firmware.tpm2_ok(&["tpm2_startauthsession", "-S", &path("a.ctx"), "--audit-session"]);
    firmware.tpm2_ok(&[
        "tpm2_getrandom",
        "8",
        "-o",
        &path("r"),
        "-S",
        &path("a.ctx"),
        "--cphash",
        &path("cp"),
        "--rphash",
        &path("rp"),
    ]);
    tool("tpm2_getsessionauditdigest -c @s.ctx -m @satt -s @ssig -S @a.ctx");
    let satt = read("satt");
    let expect = Sha256::digest([vec![0u8; 32], read("cp")[2..].to_vec(), read("rp")[2..].to_vec()].concat());
    assert_eq!(&satt[satt.len() - 32..], &expect[..]);
}

/// The commands issue 18 added, inside the firmware: EC_Ephemeral, NV_Certify, and a key duplicated
/// under a PolicyCommandCode(Duplicate) session to the endorsement primary, imported there and signing.
#[test]
fn issue_18_commands_run_inside_the_firmware() {
    let firmware = booted(25341);
    firmware.tpm2_ok(&["tpm2_startup", "-c"]);
    let scratch = ScratchDir::new("firmware-vtpm-18");
    let path = |name: &str| scratch.arg(name);
    let tool = |line: &str| scratch.tool(&firmware, line);

    tool("tpm2_ecephemeral -u @q.bin -t @counter.bin ecc256");
    assert_eq!(std::fs::read(path("counter.bin")).unwrap(), [0, 0]);
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
}

/// The rest of issue 18 inside the firmware: SHA-1 hashing, PolicyPCR over the SHA-1 bank, TestParms,
/// an HMAC sequence, PCR_Allocate, GetCapability's additions, ChangePPS (ChangeEPS refused: the EPS is the platform's), PolicyTemplate,
/// NV_ChangeAuth and NV_UndefineSpaceSpecial, each through tpm2-tools with an observable effect.
#[test]
fn issue_18_banks_and_administration_inside_the_firmware() {
    let firmware = booted(25351);
    firmware.tpm2_ok(&["tpm2_startup", "-c"]);
    let scratch = ScratchDir::new("firmware-vtpm-admin");
    let path = |name: &str| scratch.arg(name);
    let tool = |line: &str| scratch.tool(&firmware, line);
    let read = |name: &str| scratch.read(name);

    // SHA-1: TPM2_Hash against the sha1 crate, and a policy over the SHA-1 bank.
    std::fs::write(path("data"), b"warden issue 18").unwrap();
    tool("tpm2_hash -g sha1 -o @digest -t @ticket @data");
    assert_eq!(read("digest"), Sha1::digest(b"warden issue 18").to_vec());
    tool("tpm2_startauthsession -S @trial.ctx");
    tool("tpm2_policypcr -S @trial.ctx -l sha1:0 -L @pcr.policy");
    tool("tpm2_flushcontext @trial.ctx");
    assert_eq!(read("pcr.policy").len(), 32);

    // TestParms for what the engine implements; an HMAC sequence over more than one buffer.
    for parameters in ["rsa2048", "ecc256", "ecc384", "aes128cfb", "aes256cfb", "hmac", "ecc256:ecdsa"] {
        tool(&format!("tpm2_testparms {parameters}"));
    }
    let key = b"an hmac key imported from outside";
    std::fs::write(path("h.key"), key).unwrap();
    tool("tpm2_createprimary -C o -c @p.ctx");
    tool("tpm2_import -C @p.ctx -G hmac -i @h.key -u @h.pub -r @h.priv");
    tool("tpm2_load -C @p.ctx -u @h.pub -r @h.priv -c @h.ctx");
    // More than one TPM2B_MAX_BUFFER: tpm2_hmac runs HMAC_Start and SequenceUpdate.
    let data: Vec<u8> = (0..3000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(path("big"), &data).unwrap();
    let mac = tool("tpm2_hmac -c @h.ctx --hex @big");
    let mut oracle = Hmac::<Sha256>::new_from_slice(key).unwrap();
    oracle.update(&data);
    let expected: String = oracle.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(mac.trim(), expected);
    tool("tpm2_flushcontext -t");

    // PCR_Allocate answers (the change itself waits for a TPM Reset, which the bridge cannot cause).
    tool("tpm2_pcrallocate sha1:all+sha256:all");
    let commands = tool("tpm2_getcap commands");
    for name in ["PCR_Allocate", "HMAC_Start", "TestParms", "PolicyTemplate", "NV_ChangeAuth", "Commit"] {
        assert!(commands.contains(name), "getcap commands lacks {name}");
    }
    assert!(tool("tpm2_getcap algorithms").contains("sha1"));

    // ChangePPS gives the platform hierarchy new primaries. The firmware's EPS is the platform's (on
    // native the fixed INSECURE seed, on SNP the PSP-derived one), so ChangeEPS is not offered
    // (TPM 2.0 Library Part 1 §14.3.2; TPM_RC_COMMAND_CODE = 0x143) and the EK stays.
    let name = |hierarchy: &str| {
        tool(&format!("tpm2_createprimary -Q -C {hierarchy} -G ecc -c @n.ctx"));
        tool("tpm2_readpublic -c @n.ctx -n @n.name");
        tool("tpm2_flushcontext -t");
        read("n.name")
    };
    let (e, p) = (name("e"), name("p"));
    let refused = firmware.tpm2(&["tpm2_changeeps"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("0x143"), "ChangeEPS was not refused: {stderr}");
    tool("tpm2_changepps");
    assert_eq!(name("e"), e);
    assert_ne!(name("p"), p);

    // PolicyTemplate: a trial session's digest over the template's hash.
    tool("tpm2_createprimary -Q -C o -c @t.ctx --template-data @template.data");
    tool("tpm2_flushcontext -t");
    let hash = Sha256::digest(read("template.data"));
    std::fs::write(path("template.hash"), hash).unwrap();
    tool("tpm2_startauthsession -S @trial.ctx");
    tool("tpm2_policytemplate -S @trial.ctx -L @template.policy --template-hash @template.hash");
    tool("tpm2_flushcontext @trial.ctx");
    // H(0...0 || TPM_CC_PolicyTemplate || templateHash), computed here.
    let expected =
        Sha256::new().chain_update([0u8; 32]).chain_update(0x190u32.to_be_bytes()).chain_update(hash);
    assert_eq!(read("template.policy"), expected.finalize().to_vec());

    // NV_ChangeAuth under PolicyCommandCode(NV_ChangeAuth): the new authValue writes.
    let command_code_policy = |code: &str, file: &str| {
        tool("tpm2_startauthsession -S @trial.ctx");
        tool(&format!("tpm2_policycommandcode -S @trial.ctx -L @{file} {code}"));
        tool("tpm2_flushcontext @trial.ctx");
    };
    let command_code_session = |code: &str| {
        tool("tpm2_startauthsession --policy-session -S @session.ctx");
        tool(&format!("tpm2_policycommandcode -S @session.ctx {code}"));
    };
    command_code_policy("TPM2_CC_NV_ChangeAuth", "change.policy");
    tool("tpm2_nvdefine 0x1500015 -C o -s 16 -a authread|authwrite -L @change.policy -p old");
    command_code_session("TPM2_CC_NV_ChangeAuth");
    tool("tpm2_changeauth -p session:@session.ctx -c 0x1500015 new");
    tool("tpm2_flushcontext @session.ctx");
    std::fs::write(path("nv"), b"0123456789abcdef").unwrap();
    tool("tpm2_nvwrite 0x1500015 -P new -i @nv");

    // NV_UndefineSpaceSpecial of a policy-delete platform index.
    command_code_policy("TPM2_CC_NV_UndefineSpaceSpecial", "delete.policy");
    tool(
        "tpm2_nvdefine 0x1000001 -C p -s 32 -a ppread|ppwrite|platformcreate|policydelete|write_stclear|read_stclear -L @delete.policy",
    );
    assert!(tool("tpm2_getcap handles-nv-index").contains("0x1000001"));
    command_code_session("TPM2_CC_NV_UndefineSpaceSpecial");
    tool("tpm2_nvundefine -S @session.ctx 0x1000001");
    tool("tpm2_flushcontext @session.ctx");
    assert!(!tool("tpm2_getcap handles-nv-index").contains("0x1000001"));
}

/// The EK the native firmware's vTPM has, computed on the host the way an SNP boot computes the
/// manifest's vTPM entry (`warden_svsm::vtpm_manifest`), from the native platform's INSECURE fixed seed.
fn native_ek_oracle() -> Vec<u8> {
    struct Engine(warden_vtpm::Tpm);
    impl warden_svsm::vtpm_protocol::TpmEngine for Engine {
        fn execute(&mut self, command: &[u8]) -> Vec<u8> {
            self.0.execute(command)
        }
    }
    let tpm = warden_vtpm::Tpm::firmware(
        Box::new(warden_vtpm::insecure_test_entropy::InsecureTestEntropy::new(77)),
        Box::new(warden_vtpm::insecure_test_entropy::InsecureTestClock::default()),
        &warden_vtpm::FirmwareConfig::FIRMWARE,
        &warden_vtpm::EndorsementSeed::insecure_fixed(),
    );
    warden_svsm::vtpm_manifest::endorsement_key_public(&mut Engine(tpm)).expect("the EK is created")
}

/// Issue 13: the EK read through tpm2-tools from the booted image (native: its fixed INSECURE seed, and
/// no attestation protocol, so the oracle is the manifest entry the boot would compute) is the vTPM's
/// stable L-1 EK, the same at every boot.
#[test]
fn tpm2_createek_reads_the_stable_l1_ek_from_the_booted_firmware() {
    let oracle = native_ek_oracle();
    assert!(warden_defs::ek_template::is_l1_public(&oracle));
    for (boot, port) in [(1, 25361u16), (2, 25371)] {
        let firmware = booted(port);
        let scratch = ScratchDir::new(&format!("firmware-vtpm-ek{boot}"));
        scratch.tool(&firmware, "tpm2_startup -c");
        scratch.tool(&firmware, "tpm2_createek -G rsa -c @ek.ctx -u @ek.pub");
        // `-u` writes a TPM2B_PUBLIC: the size, then the TPMT_PUBLIC the manifest carries.
        let public = scratch.read("ek.pub");
        assert_eq!(&public[2..], &oracle[..], "boot {boot}: the EK tpm2-tools read is the vTPM's L-1 EK");
        let shown = scratch.tool(&firmware, "tpm2_readpublic -c @ek.ctx");
        assert!(shown.contains("rsa") && shown.contains("restricted"), "{shown}");
    }
}
