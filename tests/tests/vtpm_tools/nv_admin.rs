//! The NV commands issue 18 found missing, through tpm2-tools: NV_ChangeAuth (`tpm2_changeauth` on an
//! index, under a PolicyCommandCode session), NV_UndefineSpaceSpecial (`tpm2_nvundefine -S` of a
//! policy-delete index) and NV_Certify (`tpm2_nvcertify`, verified by OpenSSL); and the PolicyNV
//! comparisons on a 2-byte index the tool suite's policynv test makes.

use std::process::Command;

use super::harness::Server;
use super::started;

/// A trial PolicyCommandCode(`code`) digest written to `file`.
fn command_code_policy(server: &Server, code: &str, file: &str) {
    server.ok("tpm2_startauthsession", &["-S", "trial.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "trial.ctx", "-L", file, code]);
    server.ok("tpm2_flushcontext", &["trial.ctx"]);
}

/// Starts a policy session in `session.ctx` that has run PolicyCommandCode(`code`).
fn command_code_session(server: &Server, code: &str) {
    server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
    server.ok("tpm2_policycommandcode", &["-S", "session.ctx", code]);
}

#[test]
fn nv_change_auth_under_a_command_code_policy() {
    let server = started();
    command_code_policy(&server, "TPM2_CC_NV_ChangeAuth", "change.policy");
    let index = "0x1500015";
    let define =
        [index, "-C", "o", "-s", "32", "-a", "authread|authwrite", "-L", "change.policy", "-p", "old"];
    server.ok("tpm2_nvdefine", &define);
    std::fs::write(server.path("data.bin"), b"0123456789abcdef").unwrap();
    command_code_session(&server, "TPM2_CC_NV_ChangeAuth");
    server.ok("tpm2_changeauth", &["-p", "session:session.ctx", "-c", index, "new"]);
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    // The old authValue no longer writes (TPM_RC_AUTH_FAIL, session 1); the new one does.
    let stderr = server.fails("tpm2_nvwrite", &[index, "-P", "old", "-i", "data.bin"]);
    assert!(stderr.contains("0x98E"), "{stderr}");
    server.ok("tpm2_nvwrite", &[index, "-P", "new", "-i", "data.bin"]);
    server.ok("tpm2_nvread", &[index, "-P", "new", "-s", "16", "-o", "back.bin"]);
    assert_eq!(std::fs::read(server.path("back.bin")).unwrap(), b"0123456789abcdef");
}

#[test]
fn nv_undefine_space_special_removes_a_policy_delete_index() {
    let server = started();
    command_code_policy(&server, "TPM2_CC_NV_UndefineSpaceSpecial", "delete.policy");
    let attrs = "ppread|ppwrite|platformcreate|policydelete|write_stclear|read_stclear";
    server.ok("tpm2_nvdefine", &["0x1000001", "-C", "p", "-s", "32", "-a", attrs, "-L", "delete.policy"]);
    assert!(server.ok("tpm2_getcap", &["handles-nv-index"]).contains("0x1000001"));
    // A policy session for another command does not satisfy the index's policy.
    command_code_session(&server, "TPM2_CC_NV_UndefineSpace");
    server.fails("tpm2_nvundefine", &["-S", "session.ctx", "0x1000001"]);
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    assert!(server.ok("tpm2_getcap", &["handles-nv-index"]).contains("0x1000001"));
    command_code_session(&server, "TPM2_CC_NV_UndefineSpaceSpecial");
    server.ok("tpm2_nvundefine", &["-S", "session.ctx", "0x1000001"]);
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    assert!(!server.ok("tpm2_getcap", &["handles-nv-index"]).contains("0x1000001"));
}

#[test]
fn nv_certify_is_signed_over_the_index_contents() {
    let server = started();
    server.ok("tpm2_createprimary", &["-Q", "-C", "o", "-c", "primary.ctx"]);
    let key =
        ["-Q", "-C", "primary.ctx", "-G", "rsa", "-u", "signer.pub", "-r", "signer.prv", "-c", "signer.ctx"];
    server.ok("tpm2_create", &key);
    server.ok("tpm2_readpublic", &["-c", "signer.ctx", "-f", "pem", "-o", "signer.pem"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    let data: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(29) ^ 0xA5).collect();
    std::fs::write(server.path("data.bin"), &data).unwrap();
    server.ok("tpm2_nvdefine", &["-s", "32", "-a", "authread|authwrite", "1"]);
    server.ok("tpm2_nvwrite", &["1", "-i", "data.bin"]);
    let certify = ["-C", "signer.ctx", "-g", "sha256", "-f", "plain", "-o", "sig.bin"];
    server.ok(
        "tpm2_nvcertify",
        &[&certify[..], &["--attestation", "attest.bin", "--size", "32", "1"]].concat(),
    );
    let verified = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "signer.pem", "-signature", "sig.bin", "attest.bin"])
        .current_dir(&server.dir)
        .output()
        .expect("openssl is installed");
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stderr));
    // TPMS_ATTEST: magic, TPM_ST_ATTEST_NV, ..., and the index contents at the end.
    let attest = std::fs::read(server.path("attest.bin")).unwrap();
    assert_eq!(attest[..6], [0xFF, 0x54, 0x43, 0x47, 0x80, 0x14]);
    assert!(attest.ends_with(&[&[0, 0, 0, 32][..], &data].concat()), "offset 0, 32 bytes of contents");
}

/// The tool suite's policynv test: a 2-byte index holding 0x81 at offset 0, compared with 1-byte
/// operands. Issue 18 reported `eq 0x81` failing with TPM_RC_POLICY; `eq` holds. The 0x126 answers
/// that suite (release 5.4) gets are its signed cases, which expect the reference code's old
/// comparison (for two negatives, the unsigned order reversed: sgt(0x81, 0x82) true). The operands
/// are two's complement (TCG Errata for TPM Library 1.59 v1.4 §2.5), so 0x81 = -127 is not greater
/// than 0x82 = -126; later releases of the suite test -2 against -3 and -1 instead, as below.
#[test]
fn policy_nv_compares_one_byte_of_a_two_byte_index() {
    let server = started();
    let index = "0x1500001";
    server.ok("tpm2_nvdefine", &["-C", "o", "-p", "nvpass", index, "-a", "authread|authwrite", "-s", "2"]);
    let compare = |value: u8, cases: &[(u8, &str, bool)]| {
        std::fs::write(server.path("a.bin"), [value]).unwrap();
        server.ok("tpm2_nvwrite", &["-P", "nvpass", "-i", "a.bin", index]);
        for &(operand, operation, holds) in cases {
            std::fs::write(server.path("b.bin"), [operand]).unwrap();
            server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
            let args = ["-S", "session.ctx", "-i", "b.bin", "-P", "nvpass", index, operation];
            let result = server.tool("tpm2_policynv", &args);
            let stderr = String::from_utf8_lossy(&result.stderr);
            assert_eq!(result.status.success(), holds, "{value:#x} {operation} {operand:#x}: {stderr}");
            if !holds {
                assert!(stderr.contains("0x126") || stderr.contains("0x00000126"), "TPM_RC_POLICY: {stderr}");
            }
            server.ok("tpm2_flushcontext", &["session.ctx"]);
        }
    };
    compare(
        0x81,
        &[
            (0x81, "eq", true),
            (0x80, "eq", false),
            (0x80, "neq", true),
            (0x80, "ugt", true),
            (0x82, "ult", true),
            (0x80, "uge", true),
            (0x81, "uge", true),
            (0x82, "ule", true),
            (0x81, "ule", true),
            (0x81, "bs", true),
            (0x7E, "bc", true),
            (0x01, "bc", false),
            // Two's complement: -127 against -126 and -128.
            (0x82, "sgt", false),
            (0x80, "sgt", true),
            (0x80, "slt", false),
            (0x82, "slt", true),
            (0x82, "sge", false),
            (0x81, "sge", true),
            (0x80, "sle", false),
            (0x81, "sle", true),
        ],
    );
    // The later suite's signed cases: -2 against -3 and -1.
    compare(
        0xFE,
        &[
            (0xFD, "sgt", true),
            (0xFF, "slt", true),
            (0xFF, "sle", true),
            (0xFE, "sle", true),
            (0xFD, "sge", true),
            (0xFE, "sge", true),
        ],
    );
}
