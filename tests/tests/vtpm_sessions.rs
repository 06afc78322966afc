//! Sessions end to end: the host vTPM server (`cargo xtask tpm-server`) driven by unmodified
//! tpm2-tools through flows that need HMAC sessions on sequence objects, salted sessions and
//! parameter encryption. Expected values come from the `sha2` crate or coreutils, never the server.

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
