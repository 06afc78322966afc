//! Sessions end to end: the host vTPM server (`cargo xtask tpm-server`) driven by unmodified
//! tpm2-tools through flows that need HMAC sessions on sequence objects, salted sessions and
//! parameter encryption. Expected values come from the `sha2` crate or coreutils, never the server.
#![forbid(unsafe_code)]

#[path = "vtpm_tools/harness.rs"]
#[allow(dead_code)] // this file uses part of the shared harness
mod harness;

use harness::{Server, coreutils_digest, hex, parse_pcrread};
use sha2::{Digest, Sha256, Sha384};

fn started() -> Server {
    let server = Server::start();
    server.ok("tpm2_startup", &["-c"]);
    server
}

fn pcr_value(server: &Server, bank: &str, index: u32) -> String {
    let read = parse_pcrread(&server.ok("tpm2_pcrread", &[&format!("{bank}:{index}")]));
    let found = read.iter().find(|(b, i, _)| b == bank && *i == index);
    found.unwrap_or_else(|| panic!("{bank}:{index} not read")).2.clone()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn pcrevent_of_a_large_file_uses_a_sequence() {
    let server = started();
    // Over 1024 bytes tpm2_pcrevent uses HashSequenceStart(event) / SequenceUpdate /
    // EventSequenceComplete, the sequence authorized by an HMAC session whose cpHash carries the
    // sequence object's (empty) Name.
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 253) as u8).collect();
    let file = server.path("large.bin");
    std::fs::write(&file, &data).unwrap();
    let printed = server.ok("tpm2_pcrevent", &["16", "large.bin"]);
    let event256 = Sha256::digest(&data);
    assert_eq!(coreutils_digest("sha256", &file), hex(&event256));
    let line = printed.lines().find_map(|line| line.trim().strip_prefix("sha256: "));
    assert_eq!(line, Some(hex(&event256).as_str()), "{printed}");
    let expected256 = Sha256::new().chain_update([0u8; 32]).chain_update(event256).finalize();
    assert_eq!(pcr_value(&server, "sha256", 16), hex(&expected256));
    let event384 = unhex(&coreutils_digest("sha384", &file));
    let expected384 = Sha384::new().chain_update([0u8; 48]).chain_update(&event384).finalize();
    assert_eq!(pcr_value(&server, "sha384", 16), hex(&expected384));
}

/// Starts a salted HMAC session to the key in `key_ctx` (and bound to `bind`, if given), flushes
/// the transient objects the tools leave, and sets the session's attributes.
fn salted_session(server: &Server, key_ctx: &str, bind: Option<(&str, &str)>, file: &str, config: &str) {
    let mut args = vec!["--hmac-session", "--tpmkey-context", key_ctx, "-S", file];
    if let Some((entity, auth)) = bind {
        args.extend(["--bind-context", entity, "--bind-auth", auth]);
    }
    server.ok("tpm2_startauthsession", &args);
    server.ok("tpm2_flushcontext", &["-t"]);
    server.ok("tpm2_sessionconfig", &[file, config]);
}

#[test]
fn salted_sessions_to_ecc_and_rsa_keys_encrypt_getrandom() {
    let server = started();
    for (alg, ctx) in [("ecc", "ecc.ctx"), ("rsa", "rsa.ctx")] {
        server.ok("tpm2_createprimary", &["-C", "o", "-G", alg, "-c", ctx]);
        server.ok("tpm2_flushcontext", &["-t"]);
        // The tools check the response HMAC (its key is KDFa of the salt the TPM decrypted) and
        // decrypt the response parameter with keys derived from the same session key.
        salted_session(&server, ctx, None, "s.ctx", "--enable-encrypt");
        let printed = server.ok("tpm2_getrandom", &["-S", "s.ctx", "--hex", "16"]);
        assert_eq!(printed.trim().len(), 32, "{alg}: {printed}");
        assert!(printed.trim().chars().all(|c| c.is_ascii_hexdigit()), "{alg}: {printed}");
        server.ok("tpm2_flushcontext", &["s.ctx"]);
    }
}

#[test]
fn a_salted_session_decrypts_an_index_auth_and_a_bound_one_authorizes_its_entity() {
    let server = started();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc", "-c", "primary.ctx"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    server.ok("tpm2_changeauth", &["-c", "o", "ownerpw"]);
    // NV_DefineSpace's first parameter (the index authValue) travels AES-CFB encrypted under the
    // key of a second session, salted to the primary (the owner authorizes by password).
    salted_session(&server, "primary.ctx", None, "s.ctx", "--enable-decrypt");
    let define = ["-C", "o", "-P", "ownerpw", "-S", "s.ctx", "-s", "32", "-p", "indexpw", "0x1500016"];
    server.ok("tpm2_nvdefine", &define);
    server.ok("tpm2_flushcontext", &["s.ctx"]);
    // The index's authValue is the plaintext: it authorizes a write, and a wrong one does not.
    std::fs::write(server.path("data.bin"), [0x5Au8; 32]).unwrap();
    server.fails("tpm2_nvwrite", &["-C", "0x1500016", "-P", "wrong", "-i", "data.bin", "0x1500016"]);
    server.ok("tpm2_nvwrite", &["-C", "0x1500016", "-P", "indexpw", "-i", "data.bin", "0x1500016"]);
    let read = server.ok("tpm2_nvread", &["-C", "0x1500016", "-P", "indexpw", "-s", "32", "0x1500016"]);
    assert_eq!(read.as_bytes(), [0x5Au8; 32]);
    // A session salted and bound to the owner: the owner's authValue is in the session key, not
    // the HMAC key, so a session bound with the wrong value fails and the right one authorizes.
    salted_session(&server, "primary.ctx", Some(("o", "wrong")), "w.ctx", "--enable-continuesession");
    let error = server.fails("tpm2_nvundefine", &["-C", "o", "-P", "session:w.ctx", "0x1500016"]);
    assert!(error.contains("0x9A2") || error.contains("0x9a2"), "{error}");
    salted_session(&server, "primary.ctx", Some(("o", "ownerpw")), "b.ctx", "--enable-continuesession");
    server.ok("tpm2_nvundefine", &["-C", "o", "-P", "session:b.ctx", "0x1500016"]);
    server.fails("tpm2_nvreadpublic", &["0x1500016"]);
}

fn sha256(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = Sha256::new();
    parts.iter().for_each(|p| d.update(p));
    d.finalize().to_vec()
}

fn openssl(server: &Server, args: &[&str]) {
    let output = std::process::Command::new("openssl").args(args).current_dir(&server.dir).output();
    let output = output.expect("openssl not installed");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// An OpenSSL RSA key loaded as an external public key in the owner hierarchy: its Name.
fn external_signer(server: &Server) -> Vec<u8> {
    openssl(server, &["genrsa", "-out", "priv.pem", "2048"]);
    openssl(server, &["rsa", "-in", "priv.pem", "-out", "pub.pem", "-pubout"]);
    let args = ["-G", "rsa", "-C", "o", "-u", "pub.pem", "-c", "signer.ctx", "-n", "signer.name"];
    server.ok("tpm2_loadexternal", &args);
    server.ok("tpm2_flushcontext", &["-t"]);
    std::fs::read(server.path("signer.name")).unwrap()
}

/// A storage primary and, under it, `secret` sealed to `policy_file`; leaves `seal.ctx`.
fn seal(server: &Server, policy_file: &str, secret: &str) {
    server.ok("tpm2_createprimary", &["-C", "o", "-g", "sha256", "-G", "ecc", "-c", "prim.ctx"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    std::fs::write(server.path("secret.bin"), secret).unwrap();
    let args = ["-C", "prim.ctx", "-u", "seal.pub", "-r", "seal.priv", "-i", "secret.bin", "-L", policy_file];
    server.ok("tpm2_create", &args);
    server.ok("tpm2_flushcontext", &["-t"]);
    server.ok("tpm2_load", &["-C", "prim.ctx", "-u", "seal.pub", "-r", "seal.priv", "-c", "seal.ctx"]);
    server.ok("tpm2_flushcontext", &["-t"]);
}

#[test]
fn policy_authorize_unseals_with_a_pcr_policy_signed_by_openssl() {
    let server = started();
    let name = external_signer(&server);
    // The approved policy: PolicyPCR over sha256:0 (all zeros now), Part 3 §23.7.
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policypcr", &["-S", "trial.ctx", "-l", "sha256:0", "-L", "pcr.policy"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let selection = [0, 0, 0, 1, 0x00, 0x0B, 3, 1, 0, 0];
    let pcr_policy = sha256(&[&[0; 32], &0x17Fu32.to_be_bytes(), &selection, &sha256(&[&[0; 32]])]);
    assert_eq!(std::fs::read(server.path("pcr.policy")).unwrap(), pcr_policy);
    // The sealed object's policy: PolicyAuthorize(signer), H(H(0 || CC || Name) || policyRef="").
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    let args = ["-S", "trial.ctx", "-L", "authorized.policy", "-n", "signer.name", "-i", "pcr.policy"];
    server.ok("tpm2_policyauthorize", &args);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let authorized = sha256(&[&sha256(&[&[0; 32], &0x16Au32.to_be_bytes(), &name]), b""]);
    assert_eq!(std::fs::read(server.path("authorized.policy")).unwrap(), authorized);
    seal(&server, "authorized.policy", "sealed secret");

    // The authority signs the PCR policy with OpenSSL; the TPM checks it and issues a ticket.
    openssl(&server, &["dgst", "-sha256", "-sign", "priv.pem", "-out", "pcr.sig", "pcr.policy"]);
    let verify = [
        "-c",
        "signer.ctx",
        "-g",
        "sha256",
        "-m",
        "pcr.policy",
        "-s",
        "pcr.sig",
        "-t",
        "ok.tkt",
        "-f",
        "rsassa",
    ];
    server.ok("tpm2_verifysignature", &verify);
    server.ok("tpm2_flushcontext", &["-t"]);
    let satisfy = |server: &Server| {
        server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
        server.ok("tpm2_policypcr", &["-S", "p.ctx", "-l", "sha256:0"]);
        let args = ["-S", "p.ctx", "-i", "pcr.policy", "-n", "signer.name", "-t", "ok.tkt"];
        server.tool("tpm2_policyauthorize", &args)
    };
    assert!(satisfy(&server).status.success());
    assert_eq!(server.ok("tpm2_unseal", &["-p", "session:p.ctx", "-c", "seal.ctx"]), "sealed secret");
    server.ok("tpm2_flushcontext", &["-t"]);
    // After PCR 0 changes, the current policy is no longer the approved one.
    server.ok("tpm2_pcrextend", &[&format!("0:sha256={}", "11".repeat(32))]);
    assert!(!satisfy(&server).status.success());
    server.ok("tpm2_flushcontext", &["p.ctx"]);
    server.fails("tpm2_unseal", &["-p", "session:p.ctx", "-c", "seal.ctx"]);
}

#[test]
fn policy_signed_unseals_with_a_fresh_openssl_signature_over_the_nonce() {
    let server = started();
    let name = external_signer(&server);
    std::fs::write(server.path("any.bin"), b"anything").unwrap();
    openssl(&server, &["dgst", "-sha256", "-sign", "priv.pem", "-out", "any.sig", "any.bin"]);
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    let args = [
        "-S",
        "trial.ctx",
        "-c",
        "signer.ctx",
        "-g",
        "sha256",
        "-s",
        "any.sig",
        "-f",
        "rsassa",
        "-L",
        "signed.policy",
    ];
    server.ok("tpm2_policysigned", &args);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    let policy = sha256(&[&sha256(&[&[0; 32], &0x160u32.to_be_bytes(), &name]), b""]);
    assert_eq!(std::fs::read(server.path("signed.policy")).unwrap(), policy);
    seal(&server, "signed.policy", "signed secret");

    // aHash covers nonceTPM || expiration: the tools hand out those bytes, OpenSSL signs them.
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    server.ok("tpm2_policysigned", &["-S", "p.ctx", "-c", "signer.ctx", "-x", "--raw-data", "to_sign.bin"]);
    let to_sign = std::fs::read(server.path("to_sign.bin")).unwrap();
    assert_eq!((to_sign.len(), &to_sign[32..]), (36, &[0u8; 4][..]));
    // A signature over other bytes (a stale nonce) is refused.
    let args = ["-S", "p.ctx", "-g", "sha256", "-s", "any.sig", "-f", "rsassa", "-c", "signer.ctx", "-x"];
    server.fails("tpm2_policysigned", &args);
    openssl(&server, &["dgst", "-sha256", "-sign", "priv.pem", "-out", "nonce.sig", "to_sign.bin"]);
    let args = ["-S", "p.ctx", "-g", "sha256", "-s", "nonce.sig", "-f", "rsassa", "-c", "signer.ctx", "-x"];
    server.ok("tpm2_policysigned", &args);
    assert_eq!(server.ok("tpm2_unseal", &["-p", "session:p.ctx", "-c", "seal.ctx"]), "signed secret");
}

/// The Name of an ordinary SHA-256 NV index: 0x000B || SHA256(TPMS_NV_PUBLIC).
fn nv_name(index: u32, attrs: u32, size: u16) -> Vec<u8> {
    let public =
        [&index.to_be_bytes()[..], &[0, 0x0B], &attrs.to_be_bytes(), &[0, 0], &size.to_be_bytes()].concat();
    [&[0, 0x0B][..], &sha256(&[&public])].concat()
}

/// ownerwrite | authwrite | ownerread | authread, as `tpm2_nvdefine -a` spells them; and WRITTEN.
const NV_ATTRS: u32 = 1 << 1 | 1 << 2 | 1 << 17 | 1 << 18;
const NV_WRITTEN: u32 = 1 << 29;

#[test]
fn policy_nv_compares_an_index_with_the_tools_operands() {
    let server = started();
    let attrs = "ownerread|ownerwrite|authread|authwrite";
    server.ok("tpm2_nvdefine", &["-C", "o", "-s", "1", "-a", attrs, "0x1500001"]);
    std::fs::write(server.path("value.bin"), [0x81]).unwrap();
    server.ok("tpm2_nvwrite", &["-C", "o", "-i", "value.bin", "0x1500001"]);
    std::fs::write(server.path("operand.bin"), [0x80]).unwrap();
    let nv = |session: &str, op: &str| {
        server.tool("tpm2_policynv", &["-S", session, "-i", "operand.bin", "0x1500001", op, "-C", "o"])
    };
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok(
        "tpm2_policynv",
        &["-S", "trial.ctx", "-i", "operand.bin", "0x1500001", "ugt", "-C", "o", "-L", "nv.policy"],
    );
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    // H(0 || TPM_CC_PolicyNV || H(operandB || offset || TPM_EO_UNSIGNED_GT) || Name).
    let args = sha256(&[&[0x80], &[0, 0], &[0, 3]]);
    let name = nv_name(0x0150_0001, NV_ATTRS | NV_WRITTEN, 1);
    let expected = sha256(&[&[0; 32], &0x149u32.to_be_bytes(), &args, &name]);
    assert_eq!(std::fs::read(server.path("nv.policy")).unwrap(), expected);
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    // 0x81 > 0x80 unsigned, and -127 > -128 signed; -127 < -128 does not hold.
    assert!(nv("p.ctx", "ugt").status.success());
    assert!(nv("p.ctx", "sgt").status.success());
    let failed = nv("p.ctx", "slt");
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("0x126"), "TPM_RC_POLICY");
    server.ok("tpm2_flushcontext", &["p.ctx"]);
}

#[test]
fn policy_authorize_nv_unseals_with_the_policy_held_in_an_index() {
    let server = started();
    // The index holds a TPMT_HA: sha256 || PolicyCommandCode(TPM2_CC_Unseal).
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "trial.ctx", "-L", "cc.policy", "TPM2_CC_Unseal"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let cc_policy = sha256(&[&[0; 32], &0x16Cu32.to_be_bytes(), &0x15Eu32.to_be_bytes()]);
    assert_eq!(std::fs::read(server.path("cc.policy")).unwrap(), cc_policy);
    let attrs = "ownerread|ownerwrite|authread|authwrite";
    server.ok("tpm2_nvdefine", &["-C", "o", "-s", "34", "-a", attrs, "0x1500002"]);
    std::fs::write(server.path("ha.bin"), [&[0, 0x0B][..], &cc_policy].concat()).unwrap();
    server.ok("tpm2_nvwrite", &["-C", "o", "-i", "ha.bin", "0x1500002"]);
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policyauthorizenv", &["-S", "trial.ctx", "-C", "o", "-L", "anv.policy", "0x1500002"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let name = nv_name(0x0150_0002, NV_ATTRS | NV_WRITTEN, 34);
    let expected = sha256(&[&[0; 32], &0x192u32.to_be_bytes(), &name]);
    assert_eq!(std::fs::read(server.path("anv.policy")).unwrap(), expected);
    seal(&server, "anv.policy", "nv-authorized secret");

    let satisfy = |server: &Server| {
        server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
        server.ok("tpm2_policycommandcode", &["-S", "p.ctx", "TPM2_CC_Unseal"]);
        server.tool("tpm2_policyauthorizenv", &["-S", "p.ctx", "-C", "o", "0x1500002"])
    };
    assert!(satisfy(&server).status.success());
    assert_eq!(server.ok("tpm2_unseal", &["-p", "session:p.ctx", "-c", "seal.ctx"]), "nv-authorized secret");
    server.ok("tpm2_flushcontext", &["-t"]);
    // The owner replaces the approved policy: the old one no longer passes.
    std::fs::write(server.path("ha.bin"), [&[0, 0x0B][..], &[0x55; 32]].concat()).unwrap();
    server.ok("tpm2_nvwrite", &["-C", "o", "-i", "ha.bin", "0x1500002"]);
    assert!(!satisfy(&server).status.success());
    server.ok("tpm2_flushcontext", &["p.ctx"]);
}

#[test]
fn policy_cp_hash_on_the_owner_allows_one_exact_nv_define() {
    let server = started();
    // `--cphash` makes the tools print the cpHash instead of sending the command.
    let define = |session: &str, attrs: &str| {
        server.tool("tpm2_nvdefine", &["-C", "o", "-P", session, "-s", "8", "-a", attrs, "0x1500003"])
    };
    server.ok(
        "tpm2_nvdefine",
        &["-C", "o", "-s", "8", "-a", "ownerread|ownerwrite", "0x1500003", "--cphash", "cp.bin"],
    );
    server.fails("tpm2_nvreadpublic", &["0x1500003"]);
    // cpHash = H(TPM_CC_NV_DefineSpace || Name(owner) || auth="" || TPM2B_NV_PUBLIC).
    let public = [
        &0x0150_0003u32.to_be_bytes()[..],
        &[0, 0x0B],
        &(1u32 << 17 | 1 << 1).to_be_bytes(),
        &[0, 0],
        &[0, 8],
    ]
    .concat();
    let params = [&[0u8, 0][..], &(public.len() as u16).to_be_bytes(), &public].concat();
    let cp = sha256(&[&0x12Au32.to_be_bytes(), &0x4000_0001u32.to_be_bytes(), &params]);
    assert_eq!(std::fs::read(server.path("cp.bin")).unwrap(), [&[0, 32][..], &cp].concat());
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policycphash", &["-S", "trial.ctx", "--cphash-input", "cp.bin", "-L", "cp.policy"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    let policy = sha256(&[&[0; 32], &0x16Eu32.to_be_bytes(), &cp]);
    assert_eq!(std::fs::read(server.path("cp.policy")).unwrap(), policy);
    server.ok("tpm2_setprimarypolicy", &["-C", "o", "-L", "cp.policy", "-g", "sha256"]);

    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    server.ok("tpm2_policycphash", &["-S", "p.ctx", "--cphash-input", "cp.bin"]);
    // Other attributes: TPM_RC_POLICY_FAIL on session 1; the exact command succeeds.
    let other = define("session:p.ctx", "ownerread|ownerwrite|authread");
    assert!(String::from_utf8_lossy(&other.stderr).contains("0x99D"), "{other:?}");
    assert!(define("session:p.ctx", "ownerread|ownerwrite").status.success());
    server.ok("tpm2_nvreadpublic", &["0x1500003"]);
}

#[test]
fn policy_counter_timer_checks_the_clock_info_the_tools_name() {
    let server = started();
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policycountertimer", &["-S", "trial.ctx", "-L", "safe.policy", "safe"]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
    // `safe` is TPMS_TIME_INFO.clockInfo.safe (offset 24) EQ 1.
    let args = sha256(&[&[1], &24u16.to_be_bytes(), &0u16.to_be_bytes()]);
    let expected = sha256(&[&[0; 32], &0x16Du32.to_be_bytes(), &args]);
    assert_eq!(std::fs::read(server.path("safe.policy")).unwrap(), expected);
    let clock = server.ok("tpm2_readclock", &[]);
    let resets = clock.lines().find_map(|l| l.trim().strip_prefix("reset_count: ")).unwrap().to_owned();
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    server.ok("tpm2_policycountertimer", &["-S", "p.ctx", "safe"]);
    server.ok("tpm2_policycountertimer", &["-S", "p.ctx", "--eq", &format!("resets={resets}")]);
    let other = format!("resets={}", resets.parse::<u32>().unwrap() + 5);
    let error = server.fails("tpm2_policycountertimer", &["-S", "p.ctx", "--eq", &other]);
    assert!(error.contains("0x126"), "{error}");
    server.ok("tpm2_flushcontext", &["p.ctx"]);
}

#[test]
fn policy_signed_with_an_expiration_unseals_within_it() {
    let server = started();
    let name = external_signer(&server);
    let policy = sha256(&[&sha256(&[&[0; 32], &0x160u32.to_be_bytes(), &name]), b""]);
    std::fs::write(server.path("signed.policy"), &policy).unwrap();
    seal(&server, "signed.policy", "time-limited secret");
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    // The expiration (60 s after the session start) is part of the signed bytes.
    let raw = ["-S", "p.ctx", "-c", "signer.ctx", "-x", "-t", "60", "--raw-data", "to_sign.bin"];
    server.ok("tpm2_policysigned", &raw);
    let to_sign = std::fs::read(server.path("to_sign.bin")).unwrap();
    assert_eq!((to_sign.len(), &to_sign[32..]), (36, &60u32.to_be_bytes()[..]));
    openssl(&server, &["dgst", "-sha256", "-sign", "priv.pem", "-out", "nonce.sig", "to_sign.bin"]);
    // Presented with another expiration, the same signature does not verify.
    let with_signature = |expiration: &'static str| {
        [
            "-S",
            "p.ctx",
            "-g",
            "sha256",
            "-s",
            "nonce.sig",
            "-f",
            "rsassa",
            "-c",
            "signer.ctx",
            "-x",
            "-t",
            expiration,
        ]
    };
    server.fails("tpm2_policysigned", &with_signature("61"));
    server.ok("tpm2_policysigned", &with_signature("60"));
    assert_eq!(server.ok("tpm2_unseal", &["-p", "session:p.ctx", "-c", "seal.ctx"]), "time-limited secret");
}

#[test]
fn policy_ticket_replays_a_policy_secret_in_a_later_session() {
    let server = started();
    // PolicySecret(owner): H(H(0 || TPM_CC_PolicySecret || Name(owner)) || policyRef="").
    let owner = 0x4000_0001u32.to_be_bytes();
    let policy = sha256(&[&sha256(&[&[0; 32], &0x151u32.to_be_bytes(), &owner]), b""]);
    std::fs::write(server.path("secret.policy"), &policy).unwrap();
    std::fs::write(server.path("owner.name"), owner).unwrap();
    seal(&server, "secret.policy", "ticketed secret");
    // A negative expiration asks for a ticket (and an 8-byte timeout) good for 60 s.
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p.ctx"]);
    let args = ["-S", "p.ctx", "-c", "o", "-t", "-60", "--ticket", "t.bin", "--timeout", "to.bin"];
    server.ok("tpm2_policysecret", &args);
    server.ok("tpm2_flushcontext", &["p.ctx"]);
    let ticket = std::fs::read(server.path("t.bin")).unwrap();
    assert_eq!(&ticket[..6], &[0x80, 0x23, 0x40, 0, 0, 1], "TPMT_TK_AUTH, AUTH_SECRET, owner");
    assert_eq!(std::fs::read(server.path("to.bin")).unwrap().len(), 8);
    // A later session replays the ticket without the owner's authorization and unseals.
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "p2.ctx"]);
    let replay = ["-S", "p2.ctx", "-n", "owner.name", "--ticket", "t.bin", "--timeout", "to.bin"];
    // A ticket with one bit changed is refused.
    let mut forged = ticket.clone();
    *forged.last_mut().unwrap() ^= 1;
    std::fs::write(server.path("t.bin"), &forged).unwrap();
    server.fails("tpm2_policyticket", &replay);
    std::fs::write(server.path("t.bin"), &ticket).unwrap();
    server.ok("tpm2_policyticket", &replay);
    assert_eq!(server.ok("tpm2_unseal", &["-p", "session:p2.ctx", "-c", "seal.ctx"]), "ticketed secret");
}
