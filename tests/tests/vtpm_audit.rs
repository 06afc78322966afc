//! Audit end to end: the host vTPM server (`cargo xtask tpm-server`) driven by unmodified tpm2-tools
//! through the flows of tpm2-tools' own `commandaudit` and `sessionaudit` tests. Expected digests are
//! computed here with the `sha2` crate from the command codes and from the cpHash/rpHash files the
//! tools write, and OpenSSL verifies the signed attestations; nothing is taken from the server.
#![forbid(unsafe_code)]

#[path = "vtpm_tools/harness.rs"]
#[allow(dead_code)] // this file uses part of the shared harness
mod harness;

use std::process::Command;

use harness::Server;
use sha2::{Digest, Sha256};

fn started() -> Server {
    let server = Server::start();
    server.ok("tpm2_startup", &["-c"]);
    server
}

/// Flushes transient objects and loaded sessions the previous tool left behind.
fn flush(server: &Server) {
    server.ok("tpm2_flushcontext", &["-t"]);
}

/// A primary and an RSA signing key under it, with its public key as PEM.
fn signing_key(server: &Server) {
    server.ok("tpm2_createprimary", &["-C", "o", "-c", "prim.ctx"]);
    flush(server);
    server.ok("tpm2_create", &["-C", "prim.ctx", "-c", "sk.ctx", "-u", "sk.pub", "-r", "sk.priv"]);
    flush(server);
    server.ok("tpm2_readpublic", &["-c", "sk.ctx", "-f", "pem", "-o", "sk.pem"]);
    flush(server);
}

/// OpenSSL accepts `sig` (RSASSA-SHA256, plain) over `msg` with the signing key.
fn openssl_verifies(server: &Server, msg: &str, sig: &str) -> bool {
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", "sk.pem", "-signature", sig, msg])
        .current_dir(&server.dir)
        .output()
        .expect("openssl is installed")
        .status
        .success()
}

/// The value of a variable property line `NAME: 0x...` of `tpm2_getcap properties-variable`.
fn variable_property(server: &Server, name: &str) -> u32 {
    let yaml = server.ok("tpm2_getcap", &["properties-variable"]);
    let line = yaml.lines().find_map(|l| l.trim().strip_prefix(&format!("{name}: 0x"))).unwrap();
    u32::from_str_radix(line.trim(), 16).unwrap()
}

fn tail(server: &Server, file: &str, n: usize) -> Vec<u8> {
    let bytes = std::fs::read(server.path(file)).unwrap();
    bytes[bytes.len() - n..].to_vec()
}

/// commandDigest: H(the audited command codes as big-endian UINT32s, ascending).
fn command_digest(codes: &[u32]) -> Vec<u8> {
    Sha256::digest(codes.iter().flat_map(|c| c.to_be_bytes()).collect::<Vec<u8>>()).to_vec()
}

const SET_COMMAND_CODE_AUDIT_STATUS: u32 = 0x140;
const GET_RANDOM: u32 = 0x17B;

#[test]
fn command_audit_lists_counts_and_signs() {
    let server = started();
    server.ok("tpm2_clear", &[]);
    // The audit counter starts at zero and counts each digest started: SetCommandCodeAuditStatus
    // is always audited, so the first one starts it.
    assert_eq!(variable_property(&server, "TPM2_PT_AUDIT_COUNTER_1"), 0);
    server.ok("tpm2_setcommandauditstatus", &["-g", "sha256"]);
    assert_eq!(variable_property(&server, "TPM2_PT_AUDIT_COUNTER_1"), 1);
    signing_key(&server);
    let audit = |server: &Server| {
        server.ok(
            "tpm2_getcommandauditdigest",
            &["-g", "sha256", "-f", "plain", "-m", "att.data", "-s", "att.sig", "-c", "sk.ctx"],
        );
        flush(server);
        assert!(openssl_verifies(server, "att.data", "att.sig"));
        tail(server, "att.data", 32)
    };
    assert_eq!(audit(&server), command_digest(&[SET_COMMAND_CODE_AUDIT_STATUS]));
    server.ok("tpm2_setcommandauditstatus", &["TPM2_CC_GetRandom"]);
    assert_eq!(audit(&server), command_digest(&[SET_COMMAND_CODE_AUDIT_STATUS, GET_RANDOM]));
    server.ok("tpm2_setcommandauditstatus", &["--clear-list", "TPM2_CC_GetRandom"]);
    assert_eq!(audit(&server), command_digest(&[SET_COMMAND_CODE_AUDIT_STATUS]));
}

/// Reads the 32 digest bytes after the 2-byte algorithm of a `--cphash`/`--rphash` file.
fn hash_file(server: &Server, file: &str) -> Vec<u8> {
    let bytes = std::fs::read(server.path(file)).unwrap();
    assert_eq!(bytes.len(), 34, "{file}");
    bytes[2..].to_vec()
}

/// TPM2_GetSessionAuditDigest of `audit.ctx`, signed by `sk.ctx` into `att.data`/`att.sig`.
fn session_audit_digest(server: &Server) {
    let args = ["-f", "plain", "-g", "sha256", "-c", "sk.ctx", "-m", "att.data", "-s", "att.sig"];
    server.ok("tpm2_getsessionauditdigest", &[&args[..], &["-S", "audit.ctx"]].concat());
    flush(server);
}

#[test]
fn an_audit_session_digest_is_the_chain_of_cp_and_rp_hashes() {
    let server = started();
    server.ok("tpm2_clear", &[]);
    signing_key(&server);
    // GetRandom in an audit session: sessionDigest = H(zeros || cpHash || rpHash).
    server.ok("tpm2_startauthsession", &["-S", "audit.ctx", "--audit-session"]);
    server.ok(
        "tpm2_getrandom",
        &["8", "-o", "rand.bin", "-S", "audit.ctx", "--cphash", "cp.hash", "--rphash", "rp.hash"],
    );
    session_audit_digest(&server);
    assert!(openssl_verifies(&server, "att.data", "att.sig"));
    let first =
        Sha256::digest([vec![0; 32], hash_file(&server, "cp.hash"), hash_file(&server, "rp.hash")].concat());
    assert_eq!(tail(&server, "att.data", 32), first.to_vec());
    // A second audited command (NV_DefineSpace, with authorization) extends the same digest.
    server.ok(
        "tpm2_nvdefine",
        &[
            "0x1500016",
            "-C",
            "o",
            "-s",
            "32",
            "-a",
            "ownerread|ownerwrite",
            "--cphash",
            "cp2.hash",
            "--rphash",
            "rp2.hash",
            "-S",
            "audit.ctx",
        ],
    );
    session_audit_digest(&server);
    let second = Sha256::digest(
        [first.to_vec(), hash_file(&server, "cp2.hash"), hash_file(&server, "rp2.hash")].concat(),
    );
    assert_eq!(tail(&server, "att.data", 32), second.to_vec());
    server.ok("tpm2_flushcontext", &["audit.ctx"]);
}

#[test]
fn an_audit_session_rides_along_an_encrypt_session() {
    let server = started();
    signing_key(&server);
    // `tpm2_getrandom -S enc -S audit`: a salted session encrypts the response, another audits it.
    server.ok("tpm2_startauthsession", &["-S", "enc.ctx", "--hmac-session", "-c", "prim.ctx"]);
    server.ok("tpm2_startauthsession", &["-S", "audit.ctx", "--audit-session"]);
    let random = server.ok("tpm2_getrandom", &["8", "--hex", "-S", "enc.ctx", "-S", "audit.ctx"]);
    assert_eq!(random.trim().len(), 16, "{random}");
    session_audit_digest(&server);
    assert!(openssl_verifies(&server, "att.data", "att.sig"));
    // The session digest is not the zero start: the command was audited.
    assert_ne!(tail(&server, "att.data", 32), vec![0; 32]);
}
