//! TPM2_EncryptDecrypt2 in each AES mode (Part 3 §15.3, Part 2 Table 9: CFB, CBC, ECB, CTR, OFB),
//! with a key whose mode is fixed and a key created with mode TPM_ALG_NULL whose mode is chosen at
//! each call; the output is compared with the RustCrypto mode crates.

use crate::common::{B, R, RH_OWNER, params_of, pw, rc_p, run, started};
use aes::cipher::{AsyncStreamCipher, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher};
use warden_vtpm::AlgId;
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;

const KEY: [u8; 32] = *b"a thirty-two byte AES-256 key..!";
const IV: [u8; 16] = [0x5A; 16];

/// A SYMCIPHER AES-256 template in `mode`: fixedTPM|fixedParent|userWithAuth|decrypt|sign(encrypt).
fn template(mode: u16, attrs: u32) -> Vec<u8> {
    B::new().u16(0x25).u16(0x000B).u32(attrs).tpm2b(&[]).u16(0x0006).u16(256).u16(mode).tpm2b(&[]).0
}

/// CreatePrimary in the owner hierarchy with the caller's key bytes; the handle or the code.
fn primary(t: &mut Tpm, template: &[u8]) -> Result<u32, u32> {
    primary_with(t, template, &KEY)
}

fn primary_with(t: &mut Tpm, template: &[u8], key: &[u8]) -> Result<u32, u32> {
    let sens = B::new().tpm2b(&[]).tpm2b(key).0;
    let p = B::new().tpm2b(&sens).tpm2b(template).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[RH_OWNER], Some(&pw(b"")), &p);
    if r.rc != 0 {
        return Err(r.rc);
    }
    Ok(R(&r.body).u32())
}

/// EncryptDecrypt2; (rc, outData, ivOut).
fn call(t: &mut Tpm, h: u32, data: &[u8], decrypt: bool, mode: u16, iv: &[u8]) -> (u32, Vec<u8>, Vec<u8>) {
    let p = B::new().tpm2b(data).u8(u8::from(decrypt)).u16(mode).tpm2b(iv).0;
    let r = run(t, CommandCode::ENCRYPT_DECRYPT2, &[h], Some(&pw(b"")), &p);
    if r.rc != 0 {
        return (r.rc, Vec::new(), Vec::new());
    }
    let body = params_of(&r, false);
    let mut rd = R(&body);
    let out = rd.tpm2b().to_vec();
    let iv_out = rd.tpm2b().to_vec();
    rd.done();
    (0, out, iv_out)
}

/// `data` encrypted with AES-256 in `mode` by the RustCrypto crates.
fn reference(mode: AlgId, data: &[u8]) -> Vec<u8> {
    let mut buf = data.to_vec();
    match mode {
        AlgId::CFB => cfb_mode::Encryptor::<aes::Aes256>::new(&KEY.into(), &IV.into()).encrypt(&mut buf),
        AlgId::CTR => ctr::Ctr128BE::<aes::Aes256>::new(&KEY.into(), &IV.into()).apply_keystream(&mut buf),
        AlgId::OFB => ofb::Ofb::<aes::Aes256>::new(&KEY.into(), &IV.into()).apply_keystream(&mut buf),
        AlgId::CBC => {
            let mut e = cbc::Encryptor::<aes::Aes256>::new(&KEY.into(), &IV.into());
            buf.chunks_exact_mut(16).for_each(|c| e.encrypt_block_mut(c.into()));
        }
        _ => {
            let mut e = ecb::Encryptor::<aes::Aes256>::new(&KEY.into());
            buf.chunks_exact_mut(16).for_each(|c| e.encrypt_block_mut(c.into()));
        }
    }
    buf
}

const MODES: [AlgId; 5] = [AlgId::CFB, AlgId::CBC, AlgId::ECB, AlgId::CTR, AlgId::OFB];

#[test]
fn a_null_mode_key_runs_every_mode_chosen_at_use() {
    let mut t = started();
    let h = primary(&mut t, &template(AlgId::NULL.0, 0x0006_0052)).unwrap();
    let data: Vec<u8> = (0..64u8).collect();
    for mode in MODES {
        let iv: &[u8] = if mode == AlgId::ECB { &[] } else { &IV };
        let (rc, cipher, _) = call(&mut t, h, &data, false, mode.0, iv);
        assert_eq!(rc, 0, "{mode:?}");
        assert_eq!(cipher, reference(mode, &data), "{mode:?}");
        let (rc, plain, _) = call(&mut t, h, &cipher, true, mode.0, iv);
        assert_eq!((rc, plain), (0, data.clone()), "{mode:?} decrypt");
        // Two calls chained through ivOut give the one-call ciphertext (Part 3 §15.2 ivOut).
        let (_, first, next) = call(&mut t, h, &data[..32], false, mode.0, iv);
        let (_, second, _) = call(&mut t, h, &data[32..], false, mode.0, &next);
        assert_eq!([first, second].concat(), cipher, "{mode:?} chained");
        assert_eq!(next.len(), if mode == AlgId::ECB { 0 } else { 16 }, "{mode:?} ivOut");
    }
    // Without a mode on either side there is nothing to run.
    assert_eq!(call(&mut t, h, &data, false, AlgId::NULL.0, &IV).0, rc_p(ResponseCode::MODE, 3));
    assert_eq!(call(&mut t, h, &data, false, 0x0099, &IV).0, rc_p(ResponseCode::MODE, 3));
}

#[test]
fn a_fixed_mode_key_keeps_its_mode() {
    let mut t = started();
    let h = primary(&mut t, &template(AlgId::CBC.0, 0x0006_0052)).unwrap();
    let data = [7u8; 48];
    let (rc, cipher, iv_out) = call(&mut t, h, &data, false, AlgId::NULL.0, &IV);
    assert_eq!((rc, cipher.clone()), (0, reference(AlgId::CBC, &data)));
    assert_eq!(iv_out, cipher[32..], "CBC ivOut is the last ciphertext block");
    assert_eq!(call(&mut t, h, &data, false, AlgId::CBC.0, &IV).1, cipher);
    assert_eq!(call(&mut t, h, &data, false, AlgId::CFB.0, &IV).0, rc_p(ResponseCode::MODE, 3));
    // CBC and ECB take whole blocks; ECB takes no IV, the others one block.
    assert_eq!(call(&mut t, h, &data[..17], false, AlgId::NULL.0, &IV).0, rc_p(ResponseCode::SIZE, 1));
    let e = primary(&mut t, &template(AlgId::ECB.0, 0x0006_0052)).unwrap();
    assert_eq!(call(&mut t, e, &data, false, AlgId::NULL.0, &IV).0, rc_p(ResponseCode::SIZE, 4));
    assert_eq!(call(&mut t, e, &data, false, AlgId::NULL.0, &[]).0, 0);
    let c = primary(&mut t, &template(AlgId::CTR.0, 0x0006_0052)).unwrap();
    assert_eq!(call(&mut t, c, &data, false, AlgId::NULL.0, &[]).0, rc_p(ResponseCode::SIZE, 4));
    // The deprecated TPM2_EncryptDecrypt takes the same parameters in another order.
    let p = B::new().u8(0).u16(AlgId::NULL.0).tpm2b(&IV).tpm2b(&data).0;
    let r = run(&mut t, CommandCode::ENCRYPT_DECRYPT, &[h], Some(&pw(b"")), &p);
    assert_eq!(R(&params_of(&r, false)).tpm2b(), &cipher[..]);
}

#[test]
fn storage_keys_protect_children_with_cfb_only() {
    let mut t = started();
    // A restricted SYMCIPHER parent: fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth|
    // restricted|decrypt. Its key protects children, in CFB (Part 1 §27.2).
    let attrs = 0x0003_0072;
    assert!(primary_with(&mut t, &template(AlgId::CFB.0, attrs), &[]).is_ok());
    for mode in [AlgId::CBC, AlgId::ECB, AlgId::CTR, AlgId::OFB, AlgId::NULL] {
        assert_eq!(primary_with(&mut t, &template(mode.0, attrs), &[]), Err(rc_p(ResponseCode::MODE, 2)));
    }
}
