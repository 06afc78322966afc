//! EKs from the TCG templates, AKs from tpm2_createak, quotes checked by tpm2_checkquote, restricted
//! signing with tickets, and tpm2_certify.

use super::{flush, openssl_verifies, started};
use sha2::{Digest, Sha256};

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

/// The enrollment flow: tpm2_makecredential in software (`-T none`) for the AK's Name, encrypted
/// to the EK; tpm2_activatecredential with a PolicySecret(endorsement) session releases it. A
/// credential made by the TPM (MakeCredential with the EK public loaded) is released too.
#[test]
fn makecredential_activatecredential_under_rsa_and_ecc_eks() {
    let server = started();
    std::fs::write(server.path("secret.data"), b"enrollment-secret").unwrap();
    for alg in ["rsa", "ecc"] {
        server.ok("tpm2_createek", &["-G", alg, "-c", "ek.ctx", "-u", "ek.pub"]);
        flush(&server);
        server.ok(
            "tpm2_createak",
            &["-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-u", "ak.pub", "-n", "ak.name"],
        );
        flush(&server);
        let name: String =
            std::fs::read(server.path("ak.name")).unwrap().iter().map(|b| format!("{b:02x}")).collect();
        for (cred, tpm_side) in [("soft.cred", false), ("tpm.cred", true)] {
            let mut make = vec!["-u", "ek.pub", "-s", "secret.data", "-n", &name, "-o", cred];
            if !tpm_side {
                make.extend(["-T", "none"]);
            }
            server.ok("tpm2_makecredential", &make);
            flush(&server);
            server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
            server.ok("tpm2_policysecret", &["-S", "session.ctx", "-c", "e"]);
            let activate =
                ["-c", "ak.ctx", "-C", "ek.ctx", "-i", cred, "-o", "out.data", "-P", "session:session.ctx"];
            server.ok("tpm2_activatecredential", &activate);
            server.ok("tpm2_flushcontext", &["session.ctx"]);
            flush(&server);
            assert_eq!(std::fs::read(server.path("out.data")).unwrap(), b"enrollment-secret", "{alg} {cred}");
            std::fs::remove_file(server.path("out.data")).unwrap();
        }
        // A credential for another Name is not released.
        let other = format!("000b{}", "11".repeat(32));
        server.ok(
            "tpm2_makecredential",
            &["-T", "none", "-u", "ek.pub", "-s", "secret.data", "-n", &other, "-o", "x.cred"],
        );
        server.ok("tpm2_startauthsession", &["--policy-session", "-S", "session.ctx"]);
        server.ok("tpm2_policysecret", &["-S", "session.ctx", "-c", "e"]);
        let activate =
            ["-c", "ak.ctx", "-C", "ek.ctx", "-i", "x.cred", "-o", "out.data", "-P", "session:session.ctx"];
        server.fails("tpm2_activatecredential", &activate);
        let _ = server.tool("tpm2_flushcontext", &["session.ctx"]);
        flush(&server);
    }
}
