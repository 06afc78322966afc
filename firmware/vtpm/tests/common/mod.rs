//! Helpers for the engine's integration tests: building commands byte by byte and reading responses.
#![allow(dead_code)] // each test file uses a different subset of these helpers

use warden_vtpm::insecure_test_entropy::InsecureTestEntropy;
use warden_vtpm::{AlgId, CommandCode, Handle, ResponseCode};
use warden_vtpm::{MAX_RESPONSE_SIZE, Tpm};

pub const NO_SESSIONS: u16 = warden_vtpm::wire::constants::st::NO_SESSIONS;
pub const SESSIONS: u16 = warden_vtpm::wire::constants::st::SESSIONS;
pub const RS_PW: u32 = Handle::RS_PW.0;
pub const RH_OWNER: u32 = Handle::RH_OWNER.0;
pub const RH_NULL: u32 = Handle::RH_NULL.0;
pub const RH_LOCKOUT: u32 = Handle::RH_LOCKOUT.0;
pub const RH_ENDORSEMENT: u32 = Handle::RH_ENDORSEMENT.0;
pub const RH_PLATFORM: u32 = Handle::RH_PLATFORM.0;
pub const SHA1: u16 = AlgId::SHA1.0;
pub const SHA256: u16 = AlgId::SHA256.0;
/// TPM_ALG_SM3_256: a hash Part 2 names that this TPM does not implement.
pub const SM3_256: u16 = 0x0012;
pub const SHA384: u16 = AlgId::SHA384.0;

/// A parsed response; `execute` checks the header's size field against the length on every call.
#[derive(Debug, Clone)]
pub struct Resp {
    pub tag: u16,
    pub rc: u32,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.rc, 0, "expected success, got rc {:#x}", self.rc);
        self
    }
    pub fn reader(&self) -> R<'_> {
        R(&self.body)
    }
}

/// A cursor over response bytes; panics (test failure) on truncation.
#[derive(Debug)]
pub struct R<'a>(pub &'a [u8]);

impl<'a> R<'a> {
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    pub fn u8(&mut self) -> u8 {
        self.bytes(1)[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.bytes(2).try_into().unwrap())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.bytes(4).try_into().unwrap())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.bytes(8).try_into().unwrap())
    }
    pub fn tpm2b(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.bytes(n)
    }
    pub fn done(&self) {
        assert!(self.0.is_empty(), "{} bytes left over", self.0.len());
    }
}

/// A command under construction.
#[derive(Debug, Clone, Default)]
pub struct B(pub Vec<u8>);

impl B {
    pub fn new() -> Self {
        B(Vec::new())
    }
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    pub fn tpm2b(self, b: &[u8]) -> Self {
        self.u16(b.len() as u16).raw(b)
    }
}

/// A full command: header, handles, optional authorization area, parameters.
pub fn command(cc: CommandCode, handles: &[u32], auth: Option<&[u8]>, params: &[u8]) -> Vec<u8> {
    let mut body = B::new();
    for &h in handles {
        body = body.u32(h);
    }
    if let Some(a) = auth {
        body = body.u32(a.len() as u32).raw(a);
    }
    body = body.raw(params);
    let tag = if auth.is_some() { SESSIONS } else { NO_SESSIONS };
    B::new().u16(tag).u32(10 + body.0.len() as u32).u32(cc.0).raw(&body.0).0
}

/// A password session (TPMS_AUTH_COMMAND with TPM_RS_PW).
pub fn pw(password: &[u8]) -> Vec<u8> {
    B::new().u32(RS_PW).u16(0).u8(1).tpm2b(password).0
}

pub fn parse(resp: &[u8]) -> Resp {
    assert!(resp.len() >= 10, "response shorter than a header");
    assert!(resp.len() <= MAX_RESPONSE_SIZE);
    let size = u32::from_be_bytes(resp[2..6].try_into().unwrap()) as usize;
    assert_eq!(size, resp.len(), "size field disagrees with the response length");
    let tag = u16::from_be_bytes(resp[0..2].try_into().unwrap());
    let rc = u32::from_be_bytes(resp[6..10].try_into().unwrap());
    if rc != 0 {
        assert_eq!(resp.len(), 10, "an error response is a bare header");
        assert_eq!(tag, NO_SESSIONS);
    }
    Resp { tag, rc, body: resp[10..].to_vec() }
}

pub fn exec(tpm: &mut Tpm, cmd: &[u8]) -> Resp {
    parse(&tpm.execute(cmd))
}

pub fn run(tpm: &mut Tpm, cc: CommandCode, handles: &[u32], auth: Option<&[u8]>, params: &[u8]) -> Resp {
    exec(tpm, &command(cc, handles, auth, params))
}

/// A powered TPM without Startup.
pub fn powered() -> Tpm {
    let mut t = Tpm::new(Box::new(InsecureTestEntropy::new(42)));
    t.power_on();
    t
}

/// A TPM after Startup(CLEAR).
pub fn started() -> Tpm {
    let mut t = powered();
    run(&mut t, CommandCode::STARTUP, &[], None, &[0, 0]).ok();
    t
}

/// The parameter area of a response to a command sent with sessions (skips parameterSize).
pub fn params_of(r: &Resp, has_handle: bool) -> Vec<u8> {
    let mut rd = r.reader();
    if has_handle {
        rd.u32();
    }
    let n = rd.u32() as usize;
    rd.bytes(n).to_vec()
}

/// TPM_RC helpers mirroring Part 2's numbering (handle, parameter, session positions), written out
/// independently of the engine's `ResponseCode::{handle, param, session}`.
pub fn rc_p(base: ResponseCode, n: u32) -> u32 {
    base.0 | 0x040 | (n << 8)
}
pub fn rc_h(base: ResponseCode, n: u32) -> u32 {
    base.0 | (n << 8)
}
pub fn rc_s(base: ResponseCode, n: u32) -> u32 {
    base.0 | 0x800 | (n << 8)
}

/// HMAC-SHA256 over the concatenated `parts`, by the `hmac` crate: the tests' independent oracle for the
/// engine's session HMACs.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    parts.iter().for_each(|p| m.update(p));
    m.finalize().into_bytes().to_vec()
}

/// KDFa with SHA-256 (Part 1 §11.4.10.2), written from the spec as an oracle: counter || label || 0 || u ||
/// v || bits, one HMAC per 256-bit block, truncated to `bits`.
pub fn kdfa_sha256(key: &[u8], label: &[u8], u: &[u8], v: &[u8], bits: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 1u32;
    while out.len() * 8 < bits as usize {
        out.extend(hmac_sha256(key, &[&i.to_be_bytes(), label, &[0], u, v, &bits.to_be_bytes()]));
        i += 1;
    }
    out.truncate(bits as usize / 8);
    out
}

/// A deterministic RNG (SHA-256 of a counter) for the tests' own keys, OAEP seeds and paddings: the
/// oracles' randomness, never the TPM's.
pub struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        use sha2::Digest;
        self.0 += 1;
        u64::from_le_bytes(sha2::Sha256::digest(self.0.to_le_bytes())[..8].try_into().unwrap())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.iter_mut().for_each(|b| *b = self.next_u64() as u8);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for TestRng {}
