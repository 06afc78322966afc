//! Encryption-side flows: RSA-OAEP and ECDH against OpenSSL, salted sessions, AES-CFB keys and
//! OpenSSL keys loaded with tpm2_loadexternal or wrapped by tpm2_import.

use super::{flush, openssl, openssl_verifies, started};
use std::process::Command;

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

/// tpm2_import wraps OpenSSL keys for a TPM parent in software; the imported keys sign what
/// OpenSSL verifies, and an imported HMAC key computes OpenSSL's HMAC.
#[test]
fn tpm2_import_of_openssl_keys_under_rsa_and_ecc_parents() {
    let server = started();
    std::fs::write(server.path("m.txt"), b"imported keys\n").unwrap();
    openssl(
        &server,
        &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ecc.key"],
    );
    openssl(&server, &["pkey", "-in", "ecc.key", "-pubout", "-out", "ecc.pem"]);
    openssl(
        &server,
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"],
    );
    openssl(&server, &["pkey", "-in", "rsa.key", "-pubout", "-out", "rsa.pem"]);
    let hmac_key: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(29) ^ 0x5C).collect();
    std::fs::write(server.path("hmac.key"), &hmac_key).unwrap();
    for parent in ["rsa2048", "ecc256"] {
        server.ok("tpm2_createprimary", &["-C", "o", "-G", parent, "-c", "p.ctx"]);
        flush(&server);
        for (alg, key, pem) in [("ecc", "ecc.key", "ecc.pem"), ("rsa", "rsa.key", "rsa.pem")] {
            server.ok("tpm2_import", &["-C", "p.ctx", "-G", alg, "-i", key, "-u", "k.pub", "-r", "k.priv"]);
            flush(&server);
            server.ok("tpm2_load", &["-C", "p.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
            flush(&server);
            server.ok("tpm2_sign", &["-c", "k.ctx", "-g", "sha256", "-f", "plain", "-o", "s.sig", "m.txt"]);
            flush(&server);
            assert!(openssl_verifies(&server, pem, "s.sig", "m.txt", &[]), "{alg} under {parent}");
        }
        server.ok(
            "tpm2_import",
            &["-C", "p.ctx", "-G", "hmac", "-i", "hmac.key", "-u", "h.pub", "-r", "h.priv"],
        );
        flush(&server);
        server.ok("tpm2_load", &["-C", "p.ctx", "-u", "h.pub", "-r", "h.priv", "-c", "h.ctx"]);
        flush(&server);
        server.ok("tpm2_hmac", &["-c", "h.ctx", "-g", "sha256", "-o", "mac.bin", "m.txt"]);
        flush(&server);
        let hex: String = hmac_key.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-mac",
                "HMAC",
                "-macopt",
                &format!("hexkey:{hex}"),
                "-binary",
                "m.txt",
            ])
            .current_dir(&server.dir)
            .output()
            .unwrap();
        assert_eq!(std::fs::read(server.path("mac.bin")).unwrap(), out.stdout, "hmac under {parent}");
    }
}
