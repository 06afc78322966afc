//! A byte-for-byte replay of what Linux sends with `CONFIG_TCG_TPM2_HMAC` (reference notes §2.3):
//! the P-256 NULL primary and the kernel's checks on it, ContextSave/FlushContext/ContextLoad of
//! it, an ECDH-salted StartAuthSession, an encrypted GetRandom, an HMAC-protected PCR_Extend, and
//! the trusted-keys seal/unseal with command and response encryption. Every reply is checked the way
//! the kernel's `tpm_buf_check_hmac_response` does: the response HMAC recomputed, then the first
//! response parameter decrypted, all with `hmac`, `sha2`, `p256`, `aes` and `cfb-mode` here.

use crate::common::{B, R, RH_NULL, RH_OWNER, SHA256, pw, rc_s, run, started};
use crate::common::{hmac_sha256 as hmac, kdfa_sha256 as kdfa};
use cfb_mode::cipher::{AsyncStreamCipher, KeyIvInit};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use sha2::{Digest, Sha256};
use warden_vtpm::CommandCode;
use warden_vtpm::ResponseCode;
use warden_vtpm::Tpm;
use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;

/// TPMA_SESSION bits the kernel uses.
const CONTINUE: u8 = 0x01;
const DECRYPT: u8 = 0x20;
const ENCRYPT: u8 = 0x40;

/// The kernel's NULL-key attributes: fixedTPM, fixedParent, sensitiveDataOrigin, userWithAuth,
/// noDA, restricted, decrypt.
const NULL_KEY_ATTRS: u32 = 0x0003_0472;

/// KDFe with SHA-256 for one block (the kernel's `tpm2_KDFe`): H(1 || Z || "SECRET\0" || u || v).
fn kdfe(z: &[u8], u: &[u8], v: &[u8]) -> Vec<u8> {
    Sha256::new()
        .chain_update(1u32.to_be_bytes())
        .chain_update(z)
        .chain_update(b"SECRET\0")
        .chain_update(u)
        .chain_update(v)
        .finalize()
        .to_vec()
}

/// AES-128-CFB over the data of the TPM2B at the start of `params`, key and IV from
/// KDFa(sessionValue, "CFB", newer, older, 256).
fn cfb_first_tpm2b(value: &[u8], newer: &[u8], older: &[u8], params: &mut [u8], encrypt: bool) {
    let n = u16::from_be_bytes([params[0], params[1]]) as usize;
    let data = &mut params[2..2 + n];
    let m = kdfa(value, b"CFB", newer, older, 256);
    if encrypt {
        cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(&m[..16], &m[16..]).unwrap().encrypt(data);
    } else {
        cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(&m[..16], &m[16..]).unwrap().decrypt(data);
    }
}

/// The NULL primary's template, field by field as `tpm2_create_null_primary` writes it.
fn null_key_template() -> Vec<u8> {
    B::new()
        .u16(0x0023) // TPM_ALG_ECC
        .u16(SHA256)
        .u32(NULL_KEY_ATTRS)
        .tpm2b(&[]) // authPolicy
        .u16(0x0006) // AES
        .u16(128)
        .u16(0x0043) // CFB
        .u16(0x0010) // scheme NULL
        .u16(0x0003) // NIST P-256
        .u16(0x0010) // kdf NULL
        .tpm2b(&[]) // unique.x
        .tpm2b(&[]) // unique.y
        .0
}

/// CreatePrimary with the kernel's template under `hierarchy`, with `tpm2_parse_create_primary`'s
/// checks; returns (handle, Name, x, y).
fn create_primary(t: &mut Tpm, hierarchy: u32) -> (u32, Vec<u8>, Vec<u8>, Vec<u8>) {
    let sensitive = B::new().tpm2b(&[]).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sensitive).tpm2b(&null_key_template()).tpm2b(&[]).u32(0).0;
    let r = run(t, CommandCode::CREATE_PRIMARY, &[hierarchy], Some(&pw(b"")), &p).ok().clone();
    let mut rd = r.reader();
    let handle = rd.u32();
    let param_size = rd.u32() as usize;
    let params = rd.bytes(param_size);
    let mut rd = R(params);
    let public = rd.tpm2b().to_vec();
    // Every template field comes back unchanged, then x and y of exactly 32 bytes.
    let mut pr = R(&public);
    assert_eq!((pr.u16(), pr.u16(), pr.u32()), (0x0023, SHA256, NULL_KEY_ATTRS));
    assert_eq!(pr.tpm2b(), b"");
    assert_eq!((pr.u16(), pr.u16(), pr.u16(), pr.u16()), (0x0006, 128, 0x0043, 0x0010));
    assert_eq!((pr.u16(), pr.u16()), (0x0003, 0x0010));
    let x = pr.tpm2b().to_vec();
    let y = pr.tpm2b().to_vec();
    pr.done();
    assert_eq!((x.len(), y.len()), (32, 32));
    rd.tpm2b(); // creationData
    assert_eq!(rd.tpm2b().len(), 32, "creationHash");
    assert_eq!((rd.u16(), rd.u32()), (0x8021, hierarchy), "creation ticket");
    rd.tpm2b();
    let name = rd.tpm2b().to_vec();
    rd.done();
    // The kernel recomputes the Name: nameAlg || SHA256(publicArea).
    let expected: Vec<u8> = [&SHA256.to_be_bytes()[..], &Sha256::digest(&public)].concat();
    assert_eq!(name, expected);
    (handle, name, x, y)
}

/// The kernel's view of its HMAC session.
struct KernelSession {
    handle: u32,
    key: Vec<u8>,
    nonce_tpm: Vec<u8>,
    counter: u32,
}

/// What a successful session-protected command returned, its first parameter decrypted.
struct Reply {
    handle: Option<u32>,
    params: Vec<u8>,
}

impl KernelSession {
    /// `tpm_buf_append_hmac_session` + `tpm_buf_fill_hmac_session` + `tpm_buf_check_hmac_response`.
    /// `auth` is the authValue of the entity (empty for none), `names` the handles' Names.
    #[allow(clippy::too_many_arguments)]
    fn call(
        &mut self,
        t: &mut Tpm,
        cc: u32,
        handles: &[u32],
        names: &[&[u8]],
        auth: &[u8],
        attrs: u8,
        params: &[u8],
        returns_handle: bool,
    ) -> Reply {
        self.counter += 1;
        let nonce_caller = Sha256::digest(self.counter.to_be_bytes()).to_vec();
        let value = [self.key.as_slice(), auth].concat();
        let mut params = params.to_vec();
        if attrs & DECRYPT != 0 {
            cfb_first_tpm2b(&value, &nonce_caller, &self.nonce_tpm, &mut params, true);
        }
        let mut cp = Sha256::new().chain_update(cc.to_be_bytes());
        names.iter().for_each(|n| cp.update(n));
        let cp = cp.chain_update(&params).finalize();
        let mac = hmac(&value, &[&cp, &nonce_caller, &self.nonce_tpm, &[attrs]]);
        let area = B::new().u32(self.handle).tpm2b(&nonce_caller).u8(attrs).tpm2b(&mac).0;
        let r = run(t, CommandCode(cc), handles, Some(&area), &params).ok().clone();
        assert_eq!(r.tag, 0x8002, "TPM_ST_SESSIONS");
        let mut rd = r.reader();
        let handle = returns_handle.then(|| rd.u32());
        let n = rd.u32() as usize;
        let mut out = rd.bytes(n).to_vec();
        let nonce_tpm = rd.tpm2b().to_vec();
        assert_eq!(rd.u8(), attrs);
        let resp_mac = rd.tpm2b().to_vec();
        rd.done();
        assert_eq!((nonce_tpm.len(), resp_mac.len()), (32, 32));
        let rp = Sha256::new().chain_update(0u32.to_be_bytes()).chain_update(cc.to_be_bytes());
        let rp = rp.chain_update(&out).finalize();
        assert_eq!(resp_mac, hmac(&value, &[&rp, &nonce_tpm, &nonce_caller, &[attrs]]), "response HMAC");
        if attrs & ENCRYPT != 0 {
            cfb_first_tpm2b(&value, &nonce_tpm, &nonce_caller, &mut out, false);
        }
        self.nonce_tpm = nonce_tpm;
        Reply { handle, params: out }
    }
}

/// `tpm2_start_auth_session`: ContextLoad the saved NULL key, StartAuthSession salted by ECDH to
/// it, FlushContext; the session key is derived here from the kernel's ephemeral key `eph`.
fn start_session(t: &mut Tpm, context: &[u8], x: &[u8], y: &[u8], eph: u8) -> KernelSession {
    let r = run(t, CommandCode::CONTEXT_LOAD, &[], None, context).ok().clone();
    let null_key = r.reader().u32();
    let tpm_point = [&[4u8][..], x, y].concat();
    let tpm_key = p256::PublicKey::from_sec1_bytes(&tpm_point).unwrap();
    let eph = p256::SecretKey::from_slice(&[eph; 32]).unwrap();
    let point = eph.public_key().to_encoded_point(false);
    let (ex, ey) = (point.x().unwrap().to_vec(), point.y().unwrap().to_vec());
    let z = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), tpm_key.as_affine());
    let salt = kdfe(z.raw_secret_bytes(), &ex, x);

    let nonce_caller = [0xC5u8; 32];
    let secret = B::new().tpm2b(&ex).tpm2b(&ey).0;
    let p = B::new().tpm2b(&nonce_caller).tpm2b(&secret).u8(0).u16(0x0006).u16(128).u16(0x0043).u16(SHA256).0;
    let r = run(t, CommandCode::START_AUTH_SESSION, &[null_key, RH_NULL], None, &p).ok().clone();
    // tpm2_parse_start_auth_session: exactly a handle and a 32-byte nonce.
    assert_eq!(r.body.len(), 4 + 2 + 32);
    let mut rd = r.reader();
    let handle = rd.u32();
    let nonce_tpm = rd.tpm2b().to_vec();
    run(t, CommandCode::FLUSH_CONTEXT, &[], None, &null_key.to_be_bytes()).ok();
    let key = kdfa(&salt, b"ATH", &nonce_tpm, &nonce_caller, 256);
    KernelSession { handle, key, nonce_tpm, counter: 0 }
}

/// The kernel's boot: the NULL primary, saved and flushed (`tpm2_sessions_init`).
fn null_key_context(t: &mut Tpm) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (handle, name, x, y) = create_primary(t, RH_NULL);
    let context = run(t, CommandCode::CONTEXT_SAVE, &[handle], None, &[]).ok().body.clone();
    run(t, CommandCode::FLUSH_CONTEXT, &[], None, &handle.to_be_bytes()).ok();
    (context, name, x, y)
}

#[test]
fn kernel_salted_session_encrypted_getrandom_and_hmac_pcr_extend() {
    let mut t = started();
    let (context, name, x, y) = null_key_context(&mut t);
    // The saved key loads again with the same Name (the kernel disables the TPM otherwise).
    let r = run(&mut t, CommandCode::CONTEXT_LOAD, &[], None, &context).ok().clone();
    let h = r.reader().u32();
    let r = run(&mut t, CommandCode::READ_PUBLIC, &[h], None, &[]).ok().clone(); // ReadPublic
    let mut rd = r.reader();
    rd.tpm2b();
    assert_eq!(rd.tpm2b(), name.as_slice());
    run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &h.to_be_bytes()).ok();

    let mut s = start_session(&mut t, &context, &x, &y, 0x42);
    // tpm2_get_random: response encryption, session continued. A fork of the TPM taken now has
    // the same DRBG state and answers the same GetRandom in the clear: the decrypted bytes must
    // be those.
    let mut twin = t.insecure_fork(Box::new(InsecureTestEntropy::new(7)));
    let reply = s.call(
        &mut t,
        CommandCode::GET_RANDOM.0,
        &[],
        &[],
        b"",
        ENCRYPT | CONTINUE,
        &32u16.to_be_bytes(),
        false,
    );
    let plain = run(&mut twin, CommandCode::GET_RANDOM, &[], None, &32u16.to_be_bytes()).ok().clone();
    assert_eq!(reply.params.len(), 34);
    assert_eq!(&reply.params[..], &plain.body[..], "decrypted GetRandom");
    let mut rd = R(&reply.params);
    assert_ne!(rd.tpm2b(), [0u8; 32]);

    // tpm2_pcr_extend: HMAC only, PCR Name = its handle, session not continued.
    let digest = Sha256::digest(b"kernel measurement");
    let p = B::new().u32(1).u16(SHA256).raw(&digest).0;
    s.call(&mut t, CommandCode::PCR_EXTEND.0, &[10], &[&10u32.to_be_bytes()], b"", 0, &p, false);
    let read =
        run(&mut t, CommandCode::PCR_READ, &[], None, &B::new().u32(1).u16(SHA256).u8(3).raw(&[0, 4, 0]).0);
    let expected = Sha256::new().chain_update([0u8; 32]).chain_update(digest).finalize();
    assert!(read.ok().body.ends_with(&expected));
    // continueSession clear: the session is gone after the command.
    assert_ne!(run(&mut t, CommandCode::FLUSH_CONTEXT, &[], None, &s.handle.to_be_bytes()).rc, 0);

    // The next command's session uses a fresh salt and works the same way.
    let mut s = start_session(&mut t, &context, &x, &y, 0x43);
    s.call(&mut t, CommandCode::GET_RANDOM.0, &[], &[], b"", ENCRYPT | CONTINUE, &16u16.to_be_bytes(), false);
    // An HMAC under a key from another salt: TPM_RC_BAD_AUTH on session 1 (PCRs are DA-exempt).
    let wrong = kdfa(&[0u8; 32], b"ATH", &s.nonce_tpm, &[0xC5; 32], 256);
    let caller = [1u8; 32];
    let cp =
        Sha256::new().chain_update(CommandCode::PCR_EXTEND.to_be_bytes()).chain_update(10u32.to_be_bytes());
    let cp = cp.chain_update(&p).finalize();
    let mac = hmac(&wrong, &[&cp, &caller, &s.nonce_tpm, &[0]]);
    let area = B::new().u32(s.handle).tpm2b(&caller).u8(0).tpm2b(&mac).0;
    assert_eq!(
        run(&mut t, CommandCode::PCR_EXTEND, &[10], Some(&area), &p).rc,
        rc_s(ResponseCode::BAD_AUTH, 1)
    );
}

#[test]
fn kernel_trusted_key_seal_and_unseal_encrypt_both_ways() {
    let mut t = started();
    let (context, _, x, y) = null_key_context(&mut t);
    let (parent, parent_name, _, _) = create_primary(&mut t, RH_OWNER);
    let (blobauth, payload) = (b"blob-auth".to_vec(), b"a 32-byte trusted key payload!!!".to_vec());

    // tpm2_seal_trusted: Create with TPM2_SA_DECRYPT; the TPM2B_SENSITIVE_CREATE (blob auth and
    // payload) travels encrypted.
    let mut s = start_session(&mut t, &context, &x, &y, 0x51);
    let sensitive = B::new().tpm2b(&blobauth).tpm2b(&payload).0;
    // KEYEDHASH, SHA256, fixedTPM|fixedParent|userWithAuth, no policy, scheme NULL.
    let template = B::new().u16(0x0008).u16(SHA256).u32(0x52).tpm2b(&[]).u16(0x0010).tpm2b(&[]).0;
    let p = B::new().tpm2b(&sensitive).tpm2b(&template).tpm2b(&[]).u32(0).0;
    let reply = s.call(&mut t, CommandCode::CREATE.0, &[parent], &[&parent_name], b"", DECRYPT, &p, false);
    let mut rd = R(&reply.params);
    let private = rd.tpm2b().to_vec();
    let public = rd.tpm2b().to_vec();
    let blob_name: Vec<u8> = [&SHA256.to_be_bytes()[..], &Sha256::digest(&public)].concat();

    // tpm2_load_cmd: Load under an HMAC session; the Name the TPM returns is the one computed here.
    let mut s = start_session(&mut t, &context, &x, &y, 0x52);
    let p = B::new().tpm2b(&private).tpm2b(&public).0;
    let reply = s.call(&mut t, CommandCode::LOAD.0, &[parent], &[&parent_name], b"", 0, &p, true);
    let blob = reply.handle.unwrap();
    assert_eq!(R(&reply.params).tpm2b(), blob_name.as_slice());

    // tpm2_unseal_cmd: TPM2_SA_ENCRYPT, authorized by the blob auth; the payload comes back
    // encrypted and decrypts to what was sealed.
    let mut s = start_session(&mut t, &context, &x, &y, 0x53);
    let reply = s.call(&mut t, CommandCode::UNSEAL.0, &[blob], &[&blob_name], &blobauth, ENCRYPT, &[], false);
    assert_eq!(R(&reply.params).tpm2b(), payload.as_slice());
}
