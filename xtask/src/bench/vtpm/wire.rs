//! The raw TPM 2.0 commands the benchmark sends, marshalled by hand (TPM 2.0 Part 3), and the check
//! of each response's header.

/// `TPM_ST_NO_SESSIONS` / `TPM_ST_SESSIONS` (Part 2, Table 19).
const ST_NO_SESSIONS: u16 = 0x8001;
const ST_SESSIONS: u16 = 0x8002;
/// `TPM_RS_PW`: the password session, here with an empty password (Part 2, Table 28).
const RS_PW: u32 = 0x4000_0009;
const RH_OWNER: u32 = 0x4000_0001;
const RH_NULL: u32 = 0x4000_0007;
const ALG_SHA256: u16 = 0x000B;
const ALG_SHA1: u16 = 0x0004;
const ALG_HMAC: u16 = 0x0005;
const ALG_KEYEDHASH: u16 = 0x0008;

/// The PCR the benchmark extends: 16, the debug PCR, resettable and used by test suites.
pub const PCR: u32 = 16;
/// The NV index the benchmark defines, in the owner range (Part 2, Table 29: 0x01xxxxxx).
pub const NV_INDEX: u32 = 0x0150_0B00;
/// Bytes written and read per NV call, and the index's size.
pub const NV_SIZE: u16 = 32;

/// One command: a tag, a code, then handles, an optional password authorization, and parameters.
struct Command {
    code: u32,
    handles: Vec<u32>,
    password_auth: bool,
    parameters: Vec<u8>,
}

impl Command {
    fn new(code: u32) -> Self {
        Self { code, handles: Vec::new(), password_auth: false, parameters: Vec::new() }
    }
    fn handle(mut self, handle: u32) -> Self {
        self.handles.push(handle);
        self
    }
    fn password(mut self) -> Self {
        self.password_auth = true;
        self
    }
    fn u16(mut self, value: u16) -> Self {
        self.parameters.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn u32(mut self, value: u32) -> Self {
        self.parameters.extend_from_slice(&value.to_be_bytes());
        self
    }
    fn bytes(mut self, value: &[u8]) -> Self {
        self.parameters.extend_from_slice(value);
        self
    }
    /// A TPM2B: a u16 size, then the bytes.
    fn sized(self, value: &[u8]) -> Self {
        let size = u16::try_from(value.len()).expect("benchmark buffers are small");
        self.u16(size).bytes(value)
    }

    fn encode(self) -> Vec<u8> {
        let mut body = Vec::new();
        for handle in &self.handles {
            body.extend_from_slice(&handle.to_be_bytes());
        }
        if self.password_auth {
            // authorizationSize, then TPMS_AUTH_COMMAND: handle, empty nonce, attributes 0,
            // empty password (Part 1, 18.7).
            body.extend_from_slice(&9u32.to_be_bytes());
            body.extend_from_slice(&RS_PW.to_be_bytes());
            body.extend_from_slice(&[0, 0, 0, 0, 0]);
        }
        body.extend_from_slice(&self.parameters);
        let tag = if self.password_auth { ST_SESSIONS } else { ST_NO_SESSIONS };
        let size = u32::try_from(body.len() + 10).expect("benchmark commands are small");
        let mut out = Vec::with_capacity(body.len() + 10);
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&self.code.to_be_bytes());
        out.extend_from_slice(&body);
        out
    }
}

/// `TPM2_Startup(TPM_SU_CLEAR)`.
pub fn startup_clear() -> Vec<u8> {
    Command::new(0x144).u16(0).encode()
}

/// `TPM2_GetRandom(32)`.
pub fn get_random() -> Vec<u8> {
    Command::new(0x17B).u16(32).encode()
}

/// `TPM2_PCR_Extend(PCR 16, one SHA-256 digest)`.
pub fn pcr_extend() -> Vec<u8> {
    Command::new(0x182).handle(PCR).password().u32(1).u16(ALG_SHA256).bytes(&[0x5A; 32]).encode()
}

/// `TPM2_PCR_Read(sha256: PCR 16)`; the select is 3 bytes, PCR 16 being bit 0 of the third.
pub fn pcr_read() -> Vec<u8> {
    Command::new(0x17E).u32(1).u16(ALG_SHA256).u16(0x0300).bytes(&[0, 1]).encode()
}

/// `TPM2_PCR_Reset(PCR 16)`: leaves the PCR as the benchmark found it.
pub fn pcr_reset() -> Vec<u8> {
    Command::new(0x13D).handle(PCR).password().encode()
}

/// `TPM2_Hash(64 bytes, SHA-256, TPM_RH_NULL)`.
pub fn hash() -> Vec<u8> {
    Command::new(0x17D).sized(&[0xA5; 64]).u16(ALG_SHA256).u32(RH_NULL).encode()
}

/// `TPM2_Hash(64 bytes, SHA-1, TPM_RH_NULL)`.
pub fn hash_sha1() -> Vec<u8> {
    Command::new(0x17D).sized(&[0xA5; 64]).u16(ALG_SHA1).u32(RH_NULL).encode()
}

/// `TPM2_CreatePrimary` of an HMAC-SHA256 key (keyed-hash, sign, TPM-generated secret) in the owner
/// hierarchy, empty auth (Part 2, 12.2.3.6 TPMS_KEYEDHASH_PARMS).
pub fn create_hmac_primary() -> Vec<u8> {
    let mut template = Vec::new();
    for field in [ALG_KEYEDHASH, ALG_SHA256] {
        template.extend_from_slice(&field.to_be_bytes());
    }
    template.extend_from_slice(&SIGNING_KEY.to_be_bytes());
    for field in [0, ALG_HMAC, ALG_SHA256, 0] {
        // authPolicy (empty), scheme HMAC with SHA-256, unique (empty)
        template.extend_from_slice(&field.to_be_bytes());
    }
    Command::new(0x131)
        .handle(RH_OWNER)
        .password()
        .sized(&[0, 0, 0, 0])
        .sized(&template)
        .sized(&[])
        .u32(0)
        .encode()
}

/// Bytes per SequenceUpdate and in the SequenceComplete of the HMAC-sequence row.
pub const SEQUENCE_CHUNK: usize = 1024;

/// `TPM2_HMAC_Start` with the key at `key`, an empty sequence auth and the key's own hash.
pub fn hmac_start(key: u32) -> Vec<u8> {
    Command::new(0x15B).handle(key).password().sized(&[]).u16(ALG_NULL).encode()
}

/// `TPM2_SequenceUpdate` of `SEQUENCE_CHUNK` bytes into the sequence at `sequence`.
pub fn sequence_update(sequence: u32) -> Vec<u8> {
    Command::new(0x15C).handle(sequence).password().sized(&[0x5A; SEQUENCE_CHUNK]).encode()
}

/// `TPM2_SequenceComplete` with a last `SEQUENCE_CHUNK` bytes, no ticket hierarchy.
pub fn sequence_complete(sequence: u32) -> Vec<u8> {
    Command::new(0x13E).handle(sequence).password().sized(&[0xC3; SEQUENCE_CHUNK]).u32(RH_NULL).encode()
}

/// `TPM2_NV_DefineSpace(owner, empty auth, ordinary index, AUTHWRITE | AUTHREAD | NO_DA)`.
pub fn nv_define() -> Vec<u8> {
    // TPMA_NV (Part 2, Table 204): AUTHWRITE bit 2, AUTHREAD bit 18, NO_DA bit 25.
    let attributes: u32 = (1 << 2) | (1 << 18) | (1 << 25);
    let mut public = Vec::new();
    public.extend_from_slice(&NV_INDEX.to_be_bytes());
    public.extend_from_slice(&ALG_SHA256.to_be_bytes());
    public.extend_from_slice(&attributes.to_be_bytes());
    public.extend_from_slice(&0u16.to_be_bytes()); // empty authPolicy
    public.extend_from_slice(&NV_SIZE.to_be_bytes());
    Command::new(0x12A).handle(RH_OWNER).password().sized(&[]).sized(&public).encode()
}

/// `TPM2_NV_Write(index authorizes itself, 32 bytes at offset 0)`.
pub fn nv_write() -> Vec<u8> {
    let data = [0x3C; NV_SIZE as usize];
    Command::new(0x137).handle(NV_INDEX).handle(NV_INDEX).password().sized(&data).u16(0).encode()
}

/// `TPM2_NV_Read(index authorizes itself, 32 bytes at offset 0)`.
pub fn nv_read() -> Vec<u8> {
    Command::new(0x14E).handle(NV_INDEX).handle(NV_INDEX).password().u16(NV_SIZE).u16(0).encode()
}

/// `TPM2_NV_UndefineSpace(owner, index)`.
pub fn nv_undefine() -> Vec<u8> {
    Command::new(0x122).handle(RH_OWNER).handle(NV_INDEX).password().encode()
}

/// The key types `CreatePrimary` is measured for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// ECDSA on NIST P-256 with SHA-256.
    EccP256,
    /// ECDSA on NIST P-384 with SHA-384.
    EccP384,
    /// RSA-2048 (scheme chosen at signing time).
    Rsa2048,
}

const ALG_SHA384: u16 = 0x000C;
const ALG_RSA: u16 = 0x0001;
const ALG_ECC: u16 = 0x0023;
const ALG_ECDSA: u16 = 0x0018;
const ALG_NULL: u16 = 0x0010;
/// fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign (Part 2, TPMA_OBJECT).
const SIGNING_KEY: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18);

/// A signing key's TPMT_PUBLIC template (Part 2, 12.2.4): empty unique, no policy.
pub fn signing_template(key: KeyType) -> Vec<u8> {
    let mut t = Vec::new();
    let push16 = |t: &mut Vec<u8>, v: u16| t.extend_from_slice(&v.to_be_bytes());
    match key {
        KeyType::EccP256 | KeyType::EccP384 => {
            let (curve, hash) =
                if key == KeyType::EccP256 { (0x0003, ALG_SHA256) } else { (0x0004, ALG_SHA384) };
            push16(&mut t, ALG_ECC);
            push16(&mut t, ALG_SHA256);
            t.extend_from_slice(&SIGNING_KEY.to_be_bytes());
            push16(&mut t, 0); // authPolicy
            push16(&mut t, ALG_NULL); // symmetric
            push16(&mut t, ALG_ECDSA); // scheme
            push16(&mut t, hash);
            push16(&mut t, curve);
            push16(&mut t, ALG_NULL); // kdf
            push16(&mut t, 0); // unique.x
            push16(&mut t, 0); // unique.y
        }
        KeyType::Rsa2048 => {
            push16(&mut t, ALG_RSA);
            push16(&mut t, ALG_SHA256);
            t.extend_from_slice(&SIGNING_KEY.to_be_bytes());
            push16(&mut t, 0); // authPolicy
            push16(&mut t, ALG_NULL); // symmetric
            push16(&mut t, ALG_NULL); // scheme
            push16(&mut t, 2048); // keyBits
            t.extend_from_slice(&0u32.to_be_bytes()); // exponent (default)
            push16(&mut t, 0); // unique
        }
    }
    t
}

/// `TPM2_CreatePrimary` of a signing key of `key`'s type in the owner hierarchy (empty auth).
pub fn create_primary(key: KeyType) -> Vec<u8> {
    Command::new(0x131)
        .handle(RH_OWNER)
        .password()
        .sized(&[0, 0, 0, 0]) // inSensitive: empty userAuth, empty data
        .sized(&signing_template(key))
        .sized(&[]) // outsideInfo
        .u32(0) // creationPCR: none
        .encode()
}

/// The object handle a successful `CreatePrimary` returned.
pub fn created_handle(response: &[u8]) -> Result<u32, String> {
    response
        .get(10..14)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "CreatePrimary response has no handle".to_owned())
}

/// `TPM2_FlushContext(handle)`.
pub fn flush(handle: u32) -> Vec<u8> {
    Command::new(0x165).u32(handle).encode()
}

/// `TPM2_Sign` of a SHA-256 digest with the ECDSA P-256 key at `key` (null hash-check ticket: the key is
/// not restricted).
pub fn sign(key: u32) -> Vec<u8> {
    Command::new(0x15D)
        .handle(key)
        .password()
        .sized(&[0xA5; 32])
        .u16(ALG_ECDSA)
        .u16(ALG_SHA256)
        .u16(0x8024) // TPM_ST_HASHCHECK
        .u32(RH_NULL)
        .sized(&[])
        .encode()
}

/// `TPM2_Quote` of PCR 0 (sha256) with the ECDSA P-256 key at `key`.
pub fn quote(key: u32) -> Vec<u8> {
    Command::new(0x158)
        .handle(key)
        .password()
        .sized(&[0x3C; 16]) // qualifyingData (a nonce)
        .u16(ALG_ECDSA)
        .u16(ALG_SHA256)
        .u32(1)
        .u16(ALG_SHA256)
        .u16(0x0301) // sizeofSelect 3, PCR 0
        .bytes(&[0, 0])
        .encode()
}

/// restricted | decrypt with the signing key's other attributes, minus sign: a storage parent.
const STORAGE_KEY: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 16) | (1 << 17);
const ALG_AES: u16 = 0x0006;
const ALG_CFB: u16 = 0x0043;

/// An ECC P-256 storage parent's TPMT_PUBLIC template (AES-128-CFB for its children).
pub fn storage_template() -> Vec<u8> {
    let mut t = Vec::new();
    for v in [ALG_ECC, ALG_SHA256] {
        t.extend_from_slice(&v.to_be_bytes());
    }
    t.extend_from_slice(&STORAGE_KEY.to_be_bytes());
    for v in [0, ALG_AES, 128, ALG_CFB, ALG_NULL, 0x0003, ALG_NULL, 0, 0] {
        t.extend_from_slice(&u16::to_be_bytes(v));
    }
    t
}

/// `TPM2_CreatePrimary` of an ECC P-256 storage parent in the owner hierarchy.
pub fn create_storage_primary() -> Vec<u8> {
    Command::new(0x131)
        .handle(RH_OWNER)
        .password()
        .sized(&[0, 0, 0, 0])
        .sized(&storage_template())
        .sized(&[])
        .u32(0)
        .encode()
}

/// `TPM2_Create` of an ECC P-256 signing key under the storage parent at `parent`.
pub fn create_child(parent: u32) -> Vec<u8> {
    Command::new(0x153)
        .handle(parent)
        .password()
        .sized(&[0, 0, 0, 0])
        .sized(&signing_template(KeyType::EccP256))
        .sized(&[])
        .u32(0)
        .encode()
}

/// The NIST P-256 base point: a valid ephemeral public key for an ECDH salt. The TPM derives the salt
/// from it as from any other point; the bench needs a session, not a secret.
const P256_G_X: [u8; 32] = [
    0x6B, 0x17, 0xD1, 0xF2, 0xE1, 0x2C, 0x42, 0x47, 0xF8, 0xBC, 0xE6, 0xE5, 0x63, 0xA4, 0x40, 0xF2, 0x77,
    0x03, 0x7D, 0x81, 0x2D, 0xEB, 0x33, 0xA0, 0xF4, 0xA1, 0x39, 0x45, 0xD8, 0x98, 0xC2, 0x96,
];
const P256_G_Y: [u8; 32] = [
    0x4F, 0xE3, 0x42, 0xE2, 0xFE, 0x1A, 0x7F, 0x9B, 0x8E, 0xE7, 0xEB, 0x4A, 0x7C, 0x0F, 0x9E, 0x16, 0x2B,
    0xCE, 0x33, 0x57, 0x6B, 0x31, 0x5E, 0xCE, 0xCB, 0xB6, 0x40, 0x68, 0x37, 0xBF, 0x51, 0xF5,
];

/// `TPM2_StartAuthSession`: an HMAC session salted to the ECC key at `tpm_key` (ECDH, KDFe), unbound,
/// AES-128-CFB parameter encryption, SHA-256.
pub fn start_salted_session(tpm_key: u32) -> Vec<u8> {
    let mut point = Vec::new();
    for coordinate in [&P256_G_X, &P256_G_Y] {
        point.extend_from_slice(&32u16.to_be_bytes());
        point.extend_from_slice(coordinate);
    }
    Command::new(0x176)
        .handle(tpm_key)
        .handle(RH_NULL)
        .sized(&[0x42; 16]) // nonceCaller
        .sized(&point) // encryptedSalt: the ephemeral point
        .bytes(&[0x00]) // TPM_SE_HMAC
        .u16(ALG_AES)
        .u16(128)
        .u16(ALG_CFB)
        .u16(ALG_SHA256)
        .encode()
}

/// Checks a response's header: consistent size, and the response code it carries.
pub fn response_code(response: &[u8]) -> Result<u32, String> {
    let field = |range: std::ops::Range<usize>| {
        response.get(range).map(|b| b.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
    };
    let (Some(size), Some(code)) = (field(2..6), field(6..10)) else {
        return Err(format!("response of {} bytes has no header", response.len()));
    };
    if usize::try_from(size).ok() != Some(response.len()) {
        return Err(format!("response size field {size} but {} bytes", response.len()));
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_commands_are_well_formed() {
        for key in [KeyType::EccP256, KeyType::EccP384, KeyType::Rsa2048] {
            let command = create_primary(key);
            assert_eq!(u32::from_be_bytes(command[2..6].try_into().unwrap()) as usize, command.len());
            // The TPM2B_PUBLIC size field covers exactly the template.
            let template = signing_template(key);
            let at = 10 + 4 + 4 + 9 + 2 + 4;
            assert_eq!(u16::from_be_bytes(command[at..at + 2].try_into().unwrap()) as usize, template.len());
            assert_eq!(&command[at + 2..at + 2 + template.len()], template.as_slice());
        }
        let response = [0x80, 0x02, 0, 0, 0, 14, 0, 0, 0, 0, 0x80, 0, 0, 1];
        assert_eq!(created_handle(&response), Ok(0x8000_0001));
        assert_eq!(flush(0x8000_0001), [0x80, 0x01, 0, 0, 0, 14, 0, 0, 0x01, 0x65, 0x80, 0, 0, 1]);
    }

    #[test]
    fn size_fields_match_lengths_and_auth_is_the_empty_password() {
        for command in [
            get_random(),
            pcr_extend(),
            pcr_read(),
            hash(),
            hash_sha1(),
            nv_define(),
            nv_write(),
            nv_read(),
            create_hmac_primary(),
            hmac_start(0x8000_0000),
            sequence_update(0x8000_0001),
            sequence_complete(0x8000_0001),
        ] {
            assert_eq!(response_code(&command).map(|_| ()), Ok(()), "{command:02x?}");
        }
        // PCR_Extend: header, handle 16, authSize 9, RS_PW, nonce 0, attrs 0, hmac 0, count 1.
        let extend = pcr_extend();
        assert_eq!(&extend[..10], &[0x80, 0x02, 0, 0, 0, 10 + 4 + 4 + 9 + 4 + 2 + 32, 0, 0, 1, 0x82]);
        assert_eq!(&extend[10..27], &[0, 0, 0, 16, 0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0]);
        assert_eq!(&pcr_read()[10..], &[0, 0, 0, 1, 0, 0x0B, 3, 0, 0, 1]);
    }

    #[test]
    fn response_code_rejects_inconsistent_headers() {
        assert_eq!(response_code(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01]), Ok(0x101));
        assert!(response_code(&[0x80, 0x01, 0, 0, 0, 11, 0, 0, 0, 0]).is_err());
        assert!(response_code(&[0x80, 0x01, 0, 0]).is_err());
    }
}
