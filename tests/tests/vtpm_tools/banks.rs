//! Issue 18's SHA-1, PCR-bank, TestParms, HMAC-sequence and GetCapability flows through tpm2-tools,
//! each checked against an oracle outside the TPM (the `sha1`, `sha2` and `hmac` crates, coreutils,
//! `tpm2_checkquote`).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use warden_mssim::Signal;

use super::harness::{Server, coreutils_digest, hex};
use super::{pcr, started, value};

#[test]
fn sha1_hash_and_a_sha1_primary() {
    let server = started();
    let data: Vec<u8> = (0..700u32).map(|i| (i * 3 % 256) as u8).collect();
    std::fs::write(server.path("data.bin"), &data).unwrap();
    server.ok("tpm2_hash", &["-g", "sha1", "-o", "digest.bin", "-t", "ticket.bin", "data.bin"]);
    let digest = std::fs::read(server.path("digest.bin")).unwrap();
    assert_eq!(hex(&digest), coreutils_digest("sha1", &server.path("data.bin")));
    // A primary whose Name algorithm is SHA-1: its Name is 0x0004 || SHA-1(public area).
    server.ok("tpm2_createprimary", &["-C", "o", "-g", "sha1", "-G", "ecc", "-c", "primary.ctx"]);
    server.ok("tpm2_readpublic", &["-c", "primary.ctx", "-o", "primary.pub", "-n", "primary.name"]);
    let public = std::fs::read(server.path("primary.pub")).unwrap();
    let name = std::fs::read(server.path("primary.name")).unwrap();
    assert_eq!(name[..2], [0x00, 0x04]);
    assert_eq!(name[2..], Sha1::digest(&public[2..])[..]);
    // A child key under it, also with a SHA-1 Name, signs.
    server
        .ok("tpm2_create", &["-C", "primary.ctx", "-g", "sha1", "-G", "ecc", "-u", "k.pub", "-r", "k.priv"]);
    server.ok("tpm2_load", &["-C", "primary.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
    server.ok("tpm2_sign", &["-c", "k.ctx", "-g", "sha1", "-o", "sig.bin", "data.bin"]);
}

#[test]
fn sha1_and_sha256_banks_extend_and_read_together() {
    let server = started();
    let zero1 = [0u8; 20];
    let read = pcr(&server, "sha1:0,1+sha256:0");
    assert_eq!(value(&read, "sha1", 0), hex(&zero1));
    assert_eq!(value(&read, "sha1", 1), hex(&zero1));
    assert_eq!(value(&read, "sha256", 0), hex(&[0u8; 32]));
    let (d1, d256) = (Sha1::digest(b"boot event"), Sha256::digest(b"boot event"));
    server.ok("tpm2_pcrextend", &[&format!("0:sha1={},sha256={}", hex(&d1), hex(&d256))]);
    let read = pcr(&server, "sha1:0,1+sha256:0");
    assert_eq!(value(&read, "sha1", 0), hex(&Sha1::new().chain_update(zero1).chain_update(d1).finalize()));
    assert_eq!(value(&read, "sha1", 1), hex(&zero1));
    assert_eq!(
        value(&read, "sha256", 0),
        hex(&Sha256::new().chain_update([0u8; 32]).chain_update(d256).finalize())
    );
}

#[test]
fn policypcr_over_the_sha1_bank() {
    let server = started();
    server.ok("tpm2_pcrextend", &[&format!("0:sha1={}", hex(&Sha1::digest(b"x")))]);
    let pcr0 = Sha1::new().chain_update([0u8; 20]).chain_update(Sha1::digest(b"x")).finalize();
    server.ok("tpm2_startauthsession", &["-S", "session.ctx"]);
    server.ok("tpm2_policypcr", &["-S", "session.ctx", "-l", "sha1:0", "-L", "policy.bin"]);
    server.ok("tpm2_flushcontext", &["session.ctx"]);
    // Part 3 §23.7: policyDigest' = H(policyDigest || TPM_CC_PolicyPCR || pcrs || H(PCR values)).
    let selection = [&1u32.to_be_bytes()[..], &[0x00, 0x04, 3, 1, 0, 0]].concat();
    let expect = Sha256::new()
        .chain_update([0u8; 32])
        .chain_update(0x17Fu32.to_be_bytes())
        .chain_update(&selection)
        .chain_update(Sha256::digest(pcr0))
        .finalize();
    assert_eq!(std::fs::read(server.path("policy.bin")).unwrap(), expect.to_vec());
}

#[test]
fn quote_over_sha1_pcrs_passes_checkquote() {
    let server = started();
    server.ok("tpm2_pcrextend", &[&format!("1:sha1={}", hex(&Sha1::digest(b"quoted")))]);
    // An attestation key: a restricted ECDSA primary (transient objects flushed after each tool: no
    // resource manager between the tools and the TPM).
    let attributes = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";
    server.ok(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc256:ecdsa-sha256:null", "-a", attributes, "-c", "ak.ctx"],
    );
    server.ok("tpm2_flushcontext", &["-t"]);
    server.ok("tpm2_readpublic", &["-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"]);
    server.ok("tpm2_flushcontext", &["-t"]);
    let selection = "sha1:0,1,2+sha256:1";
    let quote =
        ["-c", "ak.ctx", "-l", selection, "-q", "0badc0de", "-m", "q.msg", "-s", "q.sig", "-o", "q.pcrs"];
    server.ok("tpm2_quote", &[&quote[..], &["-g", "sha256"]].concat());
    server.ok("tpm2_flushcontext", &["-t"]);
    let check = ["-u", "ak.pem", "-m", "q.msg", "-s", "q.sig", "-g", "sha256", "-q", "0badc0de", "-f"];
    server.ok("tpm2_checkquote", &[&check[..], &["q.pcrs"]].concat());
    // A PCR changed after the quote: the values read now no longer match the quoted digest.
    server.ok("tpm2_pcrextend", &[&format!("1:sha1={}", hex(&Sha1::digest(b"later")))]);
    server.ok("tpm2_pcrread", &[selection, "-o", "now.pcrs"]);
    server.fails("tpm2_checkquote", &[&check[..], &["now.pcrs"]].concat());
}

/// The `tpm2_getcap pcrs` line of `bank`.
fn bank_line(server: &Server, bank: &str) -> String {
    let pcrs = server.ok("tpm2_getcap", &["pcrs"]);
    pcrs.lines()
        .find(|line| line.contains(&format!("{bank}:")))
        .unwrap_or_else(|| panic!("{pcrs}"))
        .to_owned()
}

/// POWER_OFF, POWER_ON and Startup(CLEAR): a TPM Reset.
fn power_cycle(server: &Server) {
    let mut raw = server.raw();
    raw.0.signal(Signal::POWER_OFF).unwrap();
    raw.0.signal(Signal::POWER_ON).unwrap();
    server.ok("tpm2_startup", &["-c"]);
}

#[test]
fn pcrallocate_takes_effect_after_a_restart() {
    let server = started();
    let all: Vec<String> = (0..24).map(|i| i.to_string()).collect();
    let all = format!("[ {} ]", all.join(", "));
    assert!(bank_line(&server, "sha1").contains(&all));
    server.ok("tpm2_pcrallocate", &["sha1:7,8,9,10,16,17,18,19+sha256:all"]);
    // Not before the next Startup(CLEAR).
    assert!(bank_line(&server, "sha1").contains(&all));
    power_cycle(&server);
    assert!(
        bank_line(&server, "sha1").contains("[ 7, 8, 9, 10, 16, 17, 18, 19 ]"),
        "{}",
        bank_line(&server, "sha1")
    );
    assert!(bank_line(&server, "sha256").contains(&all));
    // PCR 0 of the SHA-1 bank is gone: tpm2_pcrread returns nothing for it.
    let read = pcr(&server, "sha1:0,7");
    assert!(read.iter().all(|(bank, index, _)| bank != "sha1" || *index == 7), "{read:?}");
    server.ok("tpm2_pcrallocate", &["sha1:all+sha256:all"]);
    power_cycle(&server);
    assert!(bank_line(&server, "sha1").contains(&all));
}

#[test]
fn testparms_answers_for_what_the_engine_supports() {
    let server = started();
    for supported in
        ["rsa2048", "ecc256", "ecc384", "aes128cfb", "aes256cfb", "hmac", "rsa2048:rsassa", "ecc256:ecdsa"]
    {
        server.ok("tpm2_testparms", &[supported]);
    }
    for unsupported in ["rsa3072", "ecc521", "aes192cfb", "ecc256:ecschnorr"] {
        server.fails("tpm2_testparms", &[unsupported]);
    }
}

#[test]
fn hmac_of_a_large_file_runs_an_hmac_sequence() {
    let server = started();
    let key = b"an hmac key imported from outside";
    std::fs::write(server.path("hmac.key"), key).unwrap();
    server.ok("tpm2_createprimary", &["-C", "o", "-c", "primary.ctx"]);
    server.ok(
        "tpm2_import",
        &["-C", "primary.ctx", "-G", "hmac", "-i", "hmac.key", "-u", "hmac.pub", "-r", "hmac.priv"],
    );
    server.ok("tpm2_load", &["-C", "primary.ctx", "-u", "hmac.pub", "-r", "hmac.priv", "-c", "hmac.ctx"]);
    // More than one TPM2B_MAX_BUFFER (1024 bytes): tpm2_hmac uses HMAC_Start and SequenceUpdate.
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 13 % 256) as u8).collect();
    std::fs::write(server.path("big.bin"), &data).unwrap();
    let printed = server.ok("tpm2_hmac", &["-c", "hmac.ctx", "--hex", "big.bin"]);
    let mut oracle = Hmac::<Sha256>::new_from_slice(key).unwrap();
    oracle.update(&data);
    assert_eq!(printed.trim(), hex(&oracle.finalize().into_bytes()));
}

#[test]
fn getcap_lists_the_additions() {
    let server = started();
    let commands = server.ok("tpm2_getcap", &["commands"]);
    for command in ["HMAC_Start", "PCR_Allocate", "TestParms"] {
        assert!(commands.contains(&format!("TPM2_CC_{command}:")), "{command} not listed");
    }
    let algorithms = server.ok("tpm2_getcap", &["algorithms"]);
    assert!(algorithms.lines().any(|line| line.trim() == "sha1:"), "{algorithms}");
    for bank in ["sha1", "sha256", "sha384"] {
        assert!(bank_line(&server, bank).contains("23 ]"));
    }
    let curves = server.ok("tpm2_getcap", &["ecc-curves"]);
    let listed: Vec<&str> = curves.lines().map(|line| line.split(':').next().unwrap().trim()).collect();
    assert_eq!(listed, ["TPM2_ECC_NIST_P256", "TPM2_ECC_NIST_P384"], "{curves}");
}
