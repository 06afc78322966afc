//! Algorithms and sizes tpm2-tools reaches beyond the defaults: AES keys in CFB, CBC, ECB, CTR and
//! OFB (a key created with mode NULL whose mode is chosen at each `tpm2_encryptdecrypt`), RSA-1024
//! keys made inside, loaded and imported from OpenSSL, and raw RSA (`-s null`). OpenSSL is the
//! oracle throughout.

use super::{flush, openssl, openssl_verifies, started};

const MODES: [&str; 5] = ["cfb", "cbc", "ecb", "ctr", "ofb"];

#[test]
fn aes_modes_agree_with_openssl_and_chain_through_iv_out() {
    let server = started();
    let key: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
    let iv: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(11)).collect();
    let plain: Vec<u8> = (0..64u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(server.path("key.bin"), &key).unwrap();
    std::fs::write(server.path("iv.bin"), &iv).unwrap();
    std::fs::write(server.path("pt"), &plain).unwrap();
    std::fs::write(server.path("pt.a"), &plain[..32]).unwrap();
    std::fs::write(server.path("pt.b"), &plain[32..]).unwrap();
    // A raw AES-128 key loaded from outside: its mode is NULL, chosen at each call.
    server.ok("tpm2_loadexternal", &["-C", "n", "-G", "aes", "-r", "key.bin", "-c", "k.ctx"]);
    flush(&server);
    assert!(server.ok("tpm2_readpublic", &["-c", "k.ctx"]).contains("sym-mode:\n  value: null"));
    flush(&server);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    for mode in MODES {
        let ct = format!("ct.{mode}");
        server.ok("tpm2_encryptdecrypt", &["-c", "k.ctx", "-G", mode, "-t", "iv.bin", "-o", &ct, "pt"]);
        flush(&server);
        let expect = format!("o.{mode}");
        let mut args = vec!["enc", "-nopad", &format!("-aes-128-{mode}")[..], "-K"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.push(hex(&key));
        if mode != "ecb" {
            args.extend(["-iv".to_owned(), hex(&iv)]);
        }
        args.extend(["-in", "pt", "-out", &expect].map(String::from));
        openssl(&server, &args.iter().map(String::as_str).collect::<Vec<_>>());
        let cipher = std::fs::read(server.path(&ct)).unwrap();
        assert_eq!(cipher, std::fs::read(server.path(&expect)).unwrap(), "{mode}");
        // Two calls, the second from the first's ivOut, give the same ciphertext (Part 3 §15.2).
        let iv_arg = if mode == "ecb" { "iv.bin".to_owned() } else { format!("iv.bin:iv.{mode}") };
        server.ok("tpm2_encryptdecrypt", &["-c", "k.ctx", "-G", mode, "-t", &iv_arg, "-o", "c.a", "pt.a"]);
        flush(&server);
        let next = if mode == "ecb" { "iv.bin".to_owned() } else { format!("iv.{mode}") };
        server.ok("tpm2_encryptdecrypt", &["-c", "k.ctx", "-G", mode, "-t", &next, "-o", "c.b", "pt.b"]);
        flush(&server);
        let chained =
            [std::fs::read(server.path("c.a")).unwrap(), std::fs::read(server.path("c.b")).unwrap()];
        assert_eq!(chained.concat(), cipher, "{mode} chained");
        server
            .ok("tpm2_encryptdecrypt", &["-d", "-c", "k.ctx", "-G", mode, "-t", "iv.bin", "-o", "back", &ct]);
        flush(&server);
        assert_eq!(std::fs::read(server.path("back")).unwrap(), plain, "{mode} decrypt");
    }
}

#[test]
fn aes_keys_created_without_a_mode_take_one_at_use() {
    let server = started();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "ecc256", "-c", "p.ctx"]);
    flush(&server);
    // `-G aes`: AES-128 with mode TPM_ALG_NULL (the issue's 0x2C9 before); aes256 likewise.
    for alg in ["aes", "aes256"] {
        server.ok("tpm2_create", &["-C", "p.ctx", "-G", alg, "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
        flush(&server);
        let plain: Vec<u8> = (0..48u8).collect();
        std::fs::write(server.path("pt"), &plain).unwrap();
        for mode in MODES {
            server.ok("tpm2_encryptdecrypt", &["-c", "k.ctx", "-G", mode, "-o", "ct", "pt"]);
            flush(&server);
            assert_ne!(std::fs::read(server.path("ct")).unwrap(), plain, "{alg} {mode}");
            server.ok("tpm2_encryptdecrypt", &["-d", "-c", "k.ctx", "-G", mode, "-o", "back", "ct"]);
            flush(&server);
            assert_eq!(std::fs::read(server.path("back")).unwrap(), plain, "{alg} {mode}");
        }
    }
    // A key created in CBC keeps CBC: asking for CFB is TPM_RC_MODE on the mode parameter.
    server
        .ok("tpm2_create", &["-C", "p.ctx", "-G", "aes128cbc", "-u", "c.pub", "-r", "c.priv", "-c", "c.ctx"]);
    flush(&server);
    let stderr = server.fails("tpm2_encryptdecrypt", &["-c", "c.ctx", "-G", "cfb", "-o", "ct", "pt"]);
    assert!(stderr.contains("0x3c9") || stderr.contains("0x3C9"), "{stderr}");
}

#[test]
fn rsa_1024_keys_sign_load_import_and_raw_encrypt() {
    let server = started();
    server.ok("tpm2_createprimary", &["-C", "o", "-G", "rsa1024", "-c", "p.ctx"]);
    flush(&server);
    // A TPM-made RSA-1024 signing key: OpenSSL verifies its signature.
    server.ok("tpm2_create", &["-C", "p.ctx", "-G", "rsa1024", "-u", "s.pub", "-r", "s.priv", "-c", "s.ctx"]);
    flush(&server);
    std::fs::write(server.path("msg"), b"signed by RSA-1024").unwrap();
    server.ok("tpm2_sign", &["-c", "s.ctx", "-g", "sha256", "-f", "plain", "-o", "sig", "msg"]);
    flush(&server);
    server.ok("tpm2_readpublic", &["-c", "s.ctx", "-f", "pem", "-o", "s.pem"]);
    flush(&server);
    assert!(openssl_verifies(&server, "s.pem", "sig", "msg", &[]));

    // An OpenSSL RSA-1024 key: its public half loads alone and verifies OpenSSL's signature.
    openssl(&server, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", "o.pem"]);
    openssl(&server, &["pkey", "-in", "o.pem", "-pubout", "-out", "opub.pem"]);
    openssl(&server, &["dgst", "-sha256", "-sign", "o.pem", "-out", "osig", "msg"]);
    server.ok("tpm2_loadexternal", &["-C", "o", "-G", "rsa", "-u", "opub.pem", "-c", "le.ctx"]);
    flush(&server);
    server.ok(
        "tpm2_verifysignature",
        &["-c", "le.ctx", "-g", "sha256", "-m", "msg", "-s", "osig", "-f", "rsassa"],
    );
    flush(&server);
    // Imported under the primary, it decrypts raw RSA (`-s null`) that OpenSSL made without padding.
    server.ok("tpm2_import", &["-C", "p.ctx", "-G", "rsa", "-i", "o.pem", "-u", "i.pub", "-r", "i.priv"]);
    flush(&server);
    server.ok("tpm2_load", &["-C", "p.ctx", "-u", "i.pub", "-r", "i.priv", "-c", "i.ctx"]);
    flush(&server);
    let block: Vec<u8> = (0..128u32).map(|i| if i == 0 { 0 } else { (i * 29 % 256) as u8 }).collect();
    std::fs::write(server.path("block"), &block).unwrap();
    openssl(
        &server,
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "opub.pem",
            "-pkeyopt",
            "rsa_padding_mode:none",
            "-in",
            "block",
            "-out",
            "c.raw",
        ],
    );
    server.ok("tpm2_rsadecrypt", &["-c", "i.ctx", "-s", "null", "-o", "d.raw", "c.raw"]);
    flush(&server);
    assert_eq!(std::fs::read(server.path("d.raw")).unwrap(), block);
    // And the other way: the TPM's raw encryption is what OpenSSL decrypts without padding.
    server.ok("tpm2_rsaencrypt", &["-c", "i.ctx", "-s", "null", "-o", "c2.raw", "block"]);
    flush(&server);
    openssl(
        &server,
        &[
            "pkeyutl",
            "-decrypt",
            "-inkey",
            "o.pem",
            "-pkeyopt",
            "rsa_padding_mode:none",
            "-in",
            "c2.raw",
            "-out",
            "d2.raw",
        ],
    );
    assert_eq!(std::fs::read(server.path("d2.raw")).unwrap(), block);
}

#[test]
fn xor_keyed_hash_primaries_in_every_hierarchy() {
    let server = started();
    // tpm2-tools' createprimary test: `-G xor` (keyed hash, XOR scheme, KDF1_SP800_108) with each
    // name algorithm, in the owner, endorsement and null hierarchies.
    for name_alg in ["sha256", "sha384"] {
        for hierarchy in ["o", "e", "n"] {
            server.ok("tpm2_createprimary", &["-C", hierarchy, "-g", name_alg, "-G", "xor", "-c", "x.ctx"]);
            flush(&server);
        }
    }
    let public = server.ok("tpm2_readpublic", &["-c", "x.ctx"]);
    flush(&server);
    assert!(public.contains("type:\n  value: keyedhash"), "{public}");
    assert!(public.contains("algorithm: \n  value: xor"), "{public}");
    assert!(public.contains("kdfa-alg:\n  value: kdf1_sp800_108"), "{public}");
}

#[test]
fn ecdaa_keys_commit_then_sign_once_per_commitment() {
    let server = started();
    // tpm2-tools' sign test: an ECDAA key, two commitments, signatures naming each of them.
    server.ok("tpm2_createprimary", &["-C", "o", "-g", "sha256", "-G", "rsa", "-c", "prim.ctx"]);
    flush(&server);
    server.ok(
        "tpm2_create",
        &["-C", "prim.ctx", "-g", "sha256", "-G", "ecc256:ecdaa", "-u", "k.pub", "-r", "k.priv"],
    );
    flush(&server);
    server.ok("tpm2_load", &["-C", "prim.ctx", "-u", "k.pub", "-r", "k.priv", "-c", "k.ctx"]);
    flush(&server);
    let commit_args =
        ["-c", "k.ctx", "-t", "commit.ctr", "--eccpoint-K", "K.bin", "--eccpoint-L", "L.bin", "-u", "E.bin"];
    for expected in [[0u8, 0], [0, 1]] {
        server.ok("tpm2_commit", &commit_args);
        flush(&server);
        assert_eq!(std::fs::read(server.path("commit.ctr")).unwrap(), expected);
    }
    std::fs::write(server.path("msg"), b"signed anonymously").unwrap();
    let sign = ["-c", "k.ctx", "-g", "sha256", "-o", "sig", "msg", "-s", "ecdaa"];
    server.ok("tpm2_sign", &[&sign[..], &["--commit-index", "1"]].concat());
    flush(&server);
    server.ok("tpm2_sign", &sign);
    flush(&server);
    // Commitment 0 is spent: TPM_RC_VALUE on inScheme.
    let stderr = server.fails("tpm2_sign", &sign);
    assert!(stderr.contains("0x2C4"), "{stderr}");
}
