//! Keys on the host vTPM server (`cargo xtask tpm-server`) driven by unmodified tpm2-tools:
//! primaries, child keys, signatures, quotes, EKs and PCR-sealed data. The oracles are outside the
//! engine: OpenSSL verifies signatures from the exported PEM keys, `tpm2_checkquote` checks quotes
//! in software, and sealed data must come back byte for byte. Without a resource manager nothing
//! flushes between tool runs, so every step ends with `tpm2_flushcontext -t`.

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
fn ek_templates_and_quotes() {
    let server = started();
    for alg in ["ecc", "rsa"] {
        server.ok("tpm2_createek", &["-G", alg, "-c", "ek.ctx", "-u", "ek.pub"]);
        flush(&server);
        let public = server.ok("tpm2_readpublic", &["-c", "ek.ctx"]);
        flush(&server);
        // The profile's attributes: fixedTPM, fixedParent, sensitiveDataOrigin, adminWithPolicy,
        // restricted, decrypt (0x000300B2), and the PolicyA digest.
        assert!(public.contains("raw: 0x300b2"), "{public}");
        assert!(
            public.contains("837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"),
            "{public}"
        );
    }
    // An attestation key made directly: a restricted ECDSA primary.
    let attrs = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";
    server.ok(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc256:ecdsa-sha256:null", "-a", attrs, "-c", "ak.ctx"],
    );
    flush(&server);
    server.ok("tpm2_readpublic", &["-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"]);
    flush(&server);
    server.ok("tpm2_pcrextend", &[&format!("1:sha256={}", "ab".repeat(32))]);
    let quote = [
        "-c",
        "ak.ctx",
        "-l",
        "sha256:0,1,2",
        "-q",
        "c0ffee",
        "-m",
        "q.msg",
        "-s",
        "q.sig",
        "-o",
        "q.pcrs",
        "-g",
        "sha256",
    ];
    server.ok("tpm2_quote", &quote);
    flush(&server);
    let check = ["-u", "ak.pem", "-m", "q.msg", "-s", "q.sig", "-f", "q.pcrs", "-g", "sha256"];
    server.ok("tpm2_checkquote", &[&check[..], &["-q", "c0ffee"]].concat());
    // Another nonce, or PCR values that are not the quoted ones, fail the software check.
    server.fails("tpm2_checkquote", &[&check[..], &["-q", "c0ffef"]].concat());
    // Flip one bit of PCR 1's value, SHA256(zeros || 0xAB * 32), where it sits in the file.
    let mut pcrs = std::fs::read(server.path("q.pcrs")).unwrap();
    let pcr1 = Sha256::new().chain_update([0u8; 32]).chain_update([0xABu8; 32]).finalize();
    let at = pcrs.windows(32).position(|w| w == &pcr1[..]).expect("PCR 1 in the pcrs file");
    pcrs[at + 5] ^= 1;
    std::fs::write(server.path("bad.pcrs"), pcrs).unwrap();
    let bad =
        ["-u", "ak.pem", "-m", "q.msg", "-s", "q.sig", "-f", "bad.pcrs", "-g", "sha256", "-q", "c0ffee"];
    server.fails("tpm2_checkquote", &bad);
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

#[test]
fn createak_under_the_ek_quotes() {
    let server = started();
    for (alg, scheme) in [("ecc", "ecdsa"), ("rsa", "rsassa")] {
        server.ok("tpm2_createek", &["-G", alg, "-c", "ek.ctx", "-u", "ek.pub"]);
        flush(&server);
        // createak authorizes the EK with a policy session running PolicySecret(endorsement).
        let ak = [
            "-C", "ek.ctx", "-c", "ak.ctx", "-G", alg, "-g", "sha256", "-s", scheme, "-u", "ak.pem", "-f",
            "pem",
        ];
        server.ok("tpm2_createak", &[&ak[..], &["-n", "ak.name"]].concat());
        flush(&server);
        let quote =
            ["-c", "ak.ctx", "-l", "sha256:0,7", "-q", "5eed", "-m", "q.msg", "-s", "q.sig", "-o", "q.pcrs"];
        server.ok("tpm2_quote", &[&quote[..], &["-g", "sha256"]].concat());
        flush(&server);
        let check = ["-u", "ak.pem", "-m", "q.msg", "-s", "q.sig", "-f", "q.pcrs", "-g", "sha256"];
        server.ok("tpm2_checkquote", &[&check[..], &["-q", "5eed"]].concat());
        server.fails("tpm2_checkquote", &[&check[..], &["-q", "5eee"]].concat());
    }
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

fn openssl(server: &Server, args: &[&str]) {
    let out =
        Command::new("openssl").args(args).current_dir(&server.dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn rsa_decrypt_and_ecdh_agree_with_openssl() {
    let server = started();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    // RSA-OAEP: OpenSSL encrypts to the exported key, the TPM decrypts; and a TPM round trip.
    let attrs = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|decrypt";
    server.ok(
        "tpm2_create",
        &["-C", "p.ctx", "-G", "rsa2048:oaep", "-a", attrs, "-u", "r.pub", "-r", "r.priv"],
    );
    flush(&server);
    server.ok("tpm2_load", &["-C", "p.ctx", "-u", "r.pub", "-r", "r.priv", "-c", "r.ctx"]);
    flush(&server);
    server.ok("tpm2_readpublic", &["-c", "r.ctx", "-f", "pem", "-o", "r.pem"]);
    flush(&server);
    std::fs::write(server.path("pt"), b"for the TPM only").unwrap();
    let oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256"];
    openssl(
        &server,
        &[&["pkeyutl", "-encrypt", "-pubin", "-inkey", "r.pem", "-in", "pt", "-out", "ct"][..], &oaep]
            .concat(),
    );
    server.ok("tpm2_rsadecrypt", &["-c", "r.ctx", "-s", "oaep", "-o", "pt2", "ct"]);
    flush(&server);
    assert_eq!(std::fs::read(server.path("pt2")).unwrap(), b"for the TPM only");
    server.ok("tpm2_rsaencrypt", &["-c", "r.ctx", "-s", "oaep", "-o", "ct3", "pt"]);
    flush(&server);
    server.ok("tpm2_rsadecrypt", &["-c", "r.ctx", "-s", "oaep", "-o", "pt3", "ct3"]);
    flush(&server);
    assert_eq!(std::fs::read(server.path("pt3")).unwrap(), b"for the TPM only");

    // ECDH: ZGen with an OpenSSL key's public point gives the x OpenSSL derives.
    server
        .ok("tpm2_create", &["-C", "p.ctx", "-G", "ecc256:ecdh", "-a", attrs, "-u", "e.pub", "-r", "e.priv"]);
    flush(&server);
    server.ok("tpm2_load", &["-C", "p.ctx", "-u", "e.pub", "-r", "e.priv", "-c", "e.ctx"]);
    flush(&server);
    server.ok("tpm2_readpublic", &["-c", "e.ctx", "-f", "pem", "-o", "e.pem"]);
    flush(&server);
    openssl(
        &server,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "o.key"],
    );
    openssl(&server, &["pkeyutl", "-derive", "-inkey", "o.key", "-peerkey", "e.pem", "-out", "z.openssl"]);
    openssl(&server, &["pkey", "-in", "o.key", "-pubout", "-outform", "DER", "-out", "o.der"]);
    // The uncompressed point ends the DER SubjectPublicKeyInfo: 0x04 || x || y.
    let der = std::fs::read(server.path("o.der")).unwrap();
    let point = &der[der.len() - 64..];
    let mut tpm2b = vec![0, 68, 0, 32];
    tpm2b.extend_from_slice(&point[..32]);
    tpm2b.extend_from_slice(&[0, 32]);
    tpm2b.extend_from_slice(&point[32..]);
    std::fs::write(server.path("o.point"), tpm2b).unwrap();
    server.ok("tpm2_ecdhzgen", &["-c", "e.ctx", "-u", "o.point", "-o", "z.tpm"]);
    flush(&server);
    let z = std::fs::read(server.path("z.tpm")).unwrap();
    assert_eq!(&z[4..36], &std::fs::read(server.path("z.openssl")).unwrap()[..]);
    // KeyGen's shared point is what ZGen computes from KeyGen's public point.
    server.ok("tpm2_ecdhkeygen", &["-c", "e.ctx", "-u", "eph.point", "-o", "z1"]);
    flush(&server);
    server.ok("tpm2_ecdhzgen", &["-c", "e.ctx", "-u", "eph.point", "-o", "z2"]);
    assert_eq!(std::fs::read(server.path("z1")).unwrap(), std::fs::read(server.path("z2")).unwrap());
}

/// Sessions salted to an ECC and an RSA primary: ESYS derives the session key from the salt it
/// encrypted and checks every response HMAC with it, so a wrong salt recovery fails the tool.
#[test]
fn salted_sessions_authorize_and_encrypt() {
    let server = started();
    for (alg, n) in [("ecc256", 0), ("rsa2048", 1)] {
        let (ctx, session) = (format!("p{n}.ctx"), format!("s{n}.ctx"));
        server.ok("tpm2_createprimary", &["-C", "o", "-G", alg, "-c", &ctx]);
        flush(&server);
        server.ok("tpm2_startauthsession", &["-S", &session, "--hmac-session", "-c", &ctx]);
        server.ok("tpm2_flushcontext", &["-t"]);
        let random = server.ok("tpm2_getrandom", &["-S", &session, "--hex", "16"]);
        assert_eq!(random.trim().len(), 32, "{random}");
        server.ok("tpm2_sessionconfig", &[&session, "--enable-encrypt", "--enable-decrypt"]);
        let index = format!("0x15000{n}0");
        server.ok("tpm2_nvdefine", &["-C", "o", "-s", "16", "-a", "ownerread|ownerwrite", &index]);
        std::fs::write(server.path("nv.dat"), b"0123456789abcdef").unwrap();
        let auth = format!("session:{session}");
        server.ok("tpm2_nvwrite", &["-C", "o", "-i", "nv.dat", &index, "-P", &auth]);
        server.ok("tpm2_nvread", &["-C", "o", "-o", "nv.out", &index, "-P", &auth]);
        assert_eq!(std::fs::read(server.path("nv.out")).unwrap(), b"0123456789abcdef");
        server.ok("tpm2_flushcontext", &[&session]);
    }
}

#[test]
fn symmetric_keys_encrypt_in_chained_pieces() {
    let server = started();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    server.ok("tpm2_create", &["-C", "p.ctx", "-G", "aes128cfb", "-u", "a.pub", "-r", "a.priv"]);
    flush(&server);
    server.ok("tpm2_load", &["-C", "p.ctx", "-u", "a.pub", "-r", "a.priv", "-c", "a.ctx"]);
    flush(&server);
    let plain: Vec<u8> = (0..100u8).map(|i| i.wrapping_mul(37)).collect();
    std::fs::write(server.path("plain"), &plain).unwrap();
    std::fs::write(server.path("p1"), &plain[..48]).unwrap();
    std::fs::write(server.path("p2"), &plain[48..]).unwrap();
    std::fs::write(server.path("iv"), b"0123456789abcdef").unwrap();
    server.ok("tpm2_encryptdecrypt", &["-c", "a.ctx", "-t", "iv", "-o", "ct", "plain"]);
    flush(&server);
    let ct = std::fs::read(server.path("ct")).unwrap();
    assert_eq!(ct.len(), 100);
    assert_ne!(ct, plain);
    // The same message in two pieces, the second from the first's output IV.
    server.ok("tpm2_encryptdecrypt", &["-c", "a.ctx", "--iv", "iv:iv2", "-o", "c1", "p1"]);
    flush(&server);
    server.ok("tpm2_encryptdecrypt", &["-c", "a.ctx", "-t", "iv2", "-o", "c2", "p2"]);
    flush(&server);
    let pieces =
        [std::fs::read(server.path("c1")).unwrap(), std::fs::read(server.path("c2")).unwrap()].concat();
    assert_eq!(pieces, ct);
    server.ok("tpm2_encryptdecrypt", &["-d", "-c", "a.ctx", "-t", "iv", "-o", "back", "ct"]);
    assert_eq!(std::fs::read(server.path("back")).unwrap(), plain);
}

#[test]
fn restricted_keys_sign_with_tickets_and_certify() {
    let server = started();
    std::fs::write(server.path("m.txt"), b"to be hashed by the TPM\n").unwrap();
    let attrs = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign";
    server.ok(
        "tpm2_createprimary",
        &["-C", "o", "-G", "ecc256:ecdsa-sha256:null", "-a", attrs, "-c", "ak.ctx"],
    );
    flush(&server);
    server.ok("tpm2_readpublic", &["-c", "ak.ctx", "-f", "pem", "-o", "ak.pem"]);
    flush(&server);
    // A digest the TPM made (with its hash-check ticket) may be signed; a bare digest may not.
    server.ok("tpm2_hash", &["-C", "o", "-g", "sha256", "-t", "tk.bin", "-o", "h.bin", "m.txt"]);
    server.ok(
        "tpm2_sign",
        &["-c", "ak.ctx", "-g", "sha256", "-d", "-t", "tk.bin", "-f", "plain", "-o", "s.sig", "h.bin"],
    );
    flush(&server);
    assert!(openssl_verifies(&server, "ak.pem", "s.sig", "m.txt", &[]));
    let err = server.fails("tpm2_sign", &["-c", "ak.ctx", "-g", "sha256", "-d", "-o", "s2.sig", "h.bin"]);
    assert!(err.to_lowercase().contains("ticket"), "{err}");
    flush(&server);
    // Certify a storage primary with the restricted key; OpenSSL checks the signature.
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    server.ok(
        "tpm2_certify",
        &["-c", "p.ctx", "-C", "ak.ctx", "-g", "sha256", "-o", "att.bin", "-s", "att.sig", "-f", "plain"],
    );
    flush(&server);
    assert!(openssl_verifies(&server, "ak.pem", "att.sig", "att.bin", &[]));
    let att = std::fs::read(server.path("att.bin")).unwrap();
    assert_eq!(&att[..6], &[0xFF, 0x54, 0x43, 0x47, 0x80, 0x17]);
}

#[test]
fn loadexternal_keys_from_openssl() {
    let server = started();
    std::fs::write(server.path("m.txt"), b"signed by OpenSSL\n").unwrap();
    std::fs::write(server.path("other.txt"), b"not signed\n").unwrap();
    // An OpenSSL P-256 public key verifies OpenSSL's signature inside the TPM.
    openssl(
        &server,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "e.key"],
    );
    openssl(&server, &["pkey", "-in", "e.key", "-pubout", "-out", "e.pub"]);
    openssl(&server, &["dgst", "-sha256", "-sign", "e.key", "-out", "e.sig", "m.txt"]);
    server.ok("tpm2_loadexternal", &["-C", "o", "-G", "ecc", "-u", "e.pub", "-c", "e.ctx"]);
    flush(&server);
    server.ok(
        "tpm2_verifysignature",
        &["-c", "e.ctx", "-g", "sha256", "-m", "m.txt", "-s", "e.sig", "-f", "ecdsa"],
    );
    flush(&server);
    server.fails(
        "tpm2_verifysignature",
        &["-c", "e.ctx", "-g", "sha256", "-m", "other.txt", "-s", "e.sig", "-f", "ecdsa"],
    );
    flush(&server);
    // An OpenSSL RSA private key in the NULL hierarchy signs; OpenSSL verifies.
    openssl(&server, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "r.key"]);
    openssl(&server, &["pkey", "-in", "r.key", "-pubout", "-out", "r.pub"]);
    server.ok("tpm2_loadexternal", &["-C", "n", "-G", "rsa", "-r", "r.key", "-c", "r.ctx"]);
    flush(&server);
    server.ok("tpm2_sign", &["-c", "r.ctx", "-g", "sha256", "-f", "plain", "-o", "r.sig", "m.txt"]);
    flush(&server);
    assert!(openssl_verifies(&server, "r.pub", "r.sig", "m.txt", &[]));
    // Not into the owner hierarchy with its private part.
    server.fails("tpm2_loadexternal", &["-C", "o", "-G", "rsa", "-r", "r.key", "-c", "x.ctx"]);
}
