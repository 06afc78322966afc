//! Keys on the host vTPM server (`cargo xtask tpm-server`) driven by unmodified tpm2-tools:
//! primaries, child keys, signatures, quotes, EKs and PCR-sealed data. The oracles are outside the
//! engine: OpenSSL verifies signatures from the exported PEM keys, `tpm2_checkquote` checks quotes
//! in software, and sealed data must come back byte for byte. Without a resource manager nothing
//! flushes between tool runs, so every step ends with `tpm2_flushcontext -t`.
#![forbid(unsafe_code)]

#[path = "vtpm_keys/algs.rs"]
mod algs;
#[path = "vtpm_keys/attest.rs"]
mod attest;
#[path = "vtpm_keys/crypt.rs"]
mod crypt;
#[path = "vtpm_keys/duplication.rs"]
mod duplication;
#[path = "vtpm_tools/harness.rs"]
#[allow(dead_code)] // this file uses part of the shared harness
mod harness;

use std::process::Command;

use harness::Server;

fn started() -> Server {
    let server = Server::start();
    server.ok("tpm2_startup", &["-c"]);
    server
}

/// Flushes transient objects and loaded sessions the previous tool left behind.
fn flush(server: &Server) {
    server.ok("tpm2_flushcontext", &["-t"]);
    let _ = server.tool("tpm2_flushcontext", &["-s"]);
}

/// `openssl dgst -verify`: true when OpenSSL accepts `sig` over `msg` with the PEM key.
fn openssl_verifies(server: &Server, pem: &str, sig: &str, msg: &str, extra: &[&str]) -> bool {
    Command::new("openssl")
        .args(["dgst", "-sha256", "-verify", pem, "-signature", sig])
        .args(extra)
        .arg(msg)
        .current_dir(&server.dir)
        .output()
        .expect("openssl is installed")
        .status
        .success()
}

fn openssl(server: &Server, args: &[&str]) {
    let out =
        Command::new("openssl").args(args).current_dir(&server.dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The `name:` line of `tpm2_readpublic`.
fn name(server: &Server, ctx: &str) -> String {
    let out = server.ok("tpm2_readpublic", &["-c", ctx]);
    flush(server);
    out.lines().find_map(|l| l.strip_prefix("name: ")).expect("name line").to_owned()
}

#[test]
fn primaries_are_reproducible_and_export_as_pem() {
    let server = started();
    for (alg, bits) in [("ecc256", "256 bit"), ("ecc384", "384 bit"), ("rsa2048", "2048 bit")] {
        server.ok("tpm2_createprimary", &["-C", "o", "-G", alg, "-c", "a.ctx"]);
        flush(&server);
        server.ok("tpm2_createprimary", &["-C", "o", "-G", alg, "-c", "b.ctx"]);
        flush(&server);
        // The same template under the same seed is the same key.
        assert_eq!(name(&server, "a.ctx"), name(&server, "b.ctx"), "{alg}");
        server.ok("tpm2_readpublic", &["-c", "a.ctx", "-f", "pem", "-o", "a.pem"]);
        flush(&server);
        let text = Command::new("openssl")
            .args(["pkey", "-pubin", "-in", "a.pem", "-text", "-noout"])
            .current_dir(&server.dir)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains(bits), "{alg}: {text:?}");
    }
    // The endorsement hierarchy has its own seed; TPM2_Clear renews the owner's.
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "o1.ctx"]);
    flush(&server);
    server.ok("tpm2_createprimary", &["-C", "e", "-G", "ecc256", "-c", "e1.ctx"]);
    flush(&server);
    let (owner, endorsement) = (name(&server, "o1.ctx"), name(&server, "e1.ctx"));
    assert_ne!(owner, endorsement);
    server.ok("tpm2_clear", &[]);
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "o2.ctx"]);
    flush(&server);
    server.ok("tpm2_createprimary", &["-C", "e", "-G", "ecc256", "-c", "e2.ctx"]);
    flush(&server);
    assert_ne!(name(&server, "o2.ctx"), owner);
    assert_eq!(name(&server, "e2.ctx"), endorsement);
    // An unsupported curve is refused.
    let err = server.fails("tpm2_createprimary", &["-C", "o", "-G", "ecc521", "-c", "x.ctx"]);
    assert!(err.contains("0x2a6") || err.contains("0x2A6") || err.contains("curve"), "{err}");
}

#[test]
fn child_keys_sign_and_openssl_verifies() {
    let server = started();
    std::fs::write(server.path("msg.txt"), b"message to sign\n").unwrap();
    std::fs::write(server.path("other.txt"), b"another message\n").unwrap();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    for alg in ["ecc256", "rsa2048"] {
        server.ok("tpm2_create", &["-C", "p.ctx", "-G", alg, "-u", "k.pub", "-r", "k.priv"]);
        flush(&server);
        server.ok("tpm2_load", &["-C", "p.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
        flush(&server);
        server.ok("tpm2_sign", &["-c", "k.ctx", "-g", "sha256", "-o", "sig.tss", "msg.txt"]);
        flush(&server);
        server.ok("tpm2_verifysignature", &["-c", "k.ctx", "-g", "sha256", "-m", "msg.txt", "-s", "sig.tss"]);
        flush(&server);
        server.fails(
            "tpm2_verifysignature",
            &["-c", "k.ctx", "-g", "sha256", "-m", "other.txt", "-s", "sig.tss"],
        );
        flush(&server);
        server.ok("tpm2_sign", &["-c", "k.ctx", "-g", "sha256", "-f", "plain", "-o", "sig.plain", "msg.txt"]);
        flush(&server);
        server.ok("tpm2_readpublic", &["-c", "k.ctx", "-f", "pem", "-o", "k.pem"]);
        flush(&server);
        assert!(openssl_verifies(&server, "k.pem", "sig.plain", "msg.txt", &[]), "{alg}");
        assert!(!openssl_verifies(&server, "k.pem", "sig.plain", "other.txt", &[]), "{alg}");
    }
    // RSA-PSS on the RSA child (still loaded from k.ctx).
    server.ok(
        "tpm2_sign",
        &["-c", "k.ctx", "-g", "sha256", "-s", "rsapss", "-f", "plain", "-o", "pss.sig", "msg.txt"],
    );
    flush(&server);
    let pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"];
    assert!(openssl_verifies(&server, "k.pem", "pss.sig", "msg.txt", &pss));
    assert!(!openssl_verifies(&server, "k.pem", "pss.sig", "other.txt", &pss));
}

#[test]
fn persistent_parent_and_changeauth() {
    let server = started();
    std::fs::write(server.path("m.txt"), b"persistent\n").unwrap();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    server.ok("tpm2_evictcontrol", &["-C", "o", "-c", "p.ctx", "0x81000001"]);
    flush(&server);
    assert!(server.ok("tpm2_getcap", &["handles-persistent"]).contains("0x81000001"));
    // A child under the persistent parent, then a new password for it.
    server.ok(
        "tpm2_create",
        &["-C", "0x81000001", "-G", "ecc256", "-p", "oldpw", "-u", "k.pub", "-r", "k.priv"],
    );
    flush(&server);
    server.ok("tpm2_load", &["-C", "0x81000001", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
    flush(&server);
    server
        .ok("tpm2_changeauth", &["-c", "k.ctx", "-C", "0x81000001", "-p", "oldpw", "-r", "k2.priv", "newpw"]);
    flush(&server);
    server.ok("tpm2_load", &["-C", "0x81000001", "-u", "k.pub", "-r", "k2.priv", "-c", "k2.ctx"]);
    flush(&server);
    server.ok("tpm2_sign", &["-c", "k2.ctx", "-p", "newpw", "-g", "sha256", "-o", "s.sig", "m.txt"]);
    flush(&server);
    server.fails("tpm2_sign", &["-c", "k2.ctx", "-p", "oldpw", "-g", "sha256", "-o", "s.sig", "m.txt"]);
    flush(&server);
    // Evicted: gone from the handle list, and the child can no longer be loaded under it.
    server.ok("tpm2_evictcontrol", &["-C", "o", "-c", "0x81000001"]);
    assert!(!server.ok("tpm2_getcap", &["handles-persistent"]).contains("0x81000001"));
    server.fails("tpm2_load", &["-C", "0x81000001", "-u", "k.pub", "-r", "k2.priv", "-c", "k3.ctx"]);
}

#[test]
fn sealed_data_follows_its_pcr_policy() {
    let server = started();
    std::fs::write(server.path("secret.dat"), b"the sealed secret").unwrap();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    server.ok("tpm2_pcrread", &["-o", "pcr.bin", "sha256:0,1"]);
    server
        .ok("tpm2_createpolicy", &["--policy-pcr", "-l", "sha256:0,1", "-f", "pcr.bin", "-L", "policy.dat"]);
    flush(&server);
    server.ok(
        "tpm2_create",
        &["-C", "p.ctx", "-i", "secret.dat", "-L", "policy.dat", "-u", "s.pub", "-r", "s.priv"],
    );
    flush(&server);
    server.ok("tpm2_load", &["-C", "p.ctx", "-u", "s.pub", "-r", "s.priv", "-c", "s.ctx"]);
    flush(&server);
    server.ok("tpm2_unseal", &["-c", "s.ctx", "-p", "pcr:sha256:0,1", "-o", "out.dat"]);
    flush(&server);
    assert_eq!(std::fs::read(server.path("out.dat")).unwrap(), b"the sealed secret");
    // No password route (userWithAuth is clear with a policy), and none after PCR 0 moves.
    server.fails("tpm2_unseal", &["-c", "s.ctx"]);
    flush(&server);
    server.ok("tpm2_pcrextend", &[&format!("0:sha256={}", "cd".repeat(32))]);
    let err = server.fails("tpm2_unseal", &["-c", "s.ctx", "-p", "pcr:sha256:0,1"]);
    assert!(err.contains("0x99D") || err.contains("policy check failed"), "{err}");
}
