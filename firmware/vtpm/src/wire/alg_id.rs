//! TPM_ALG_ID (TPM 2.0 Part 2 Table 9): the algorithm identifier newtype and the algorithms this
//! engine names.

/// A TPM_ALG_ID value. Open: any u16 survives a round trip; the constants name the known algorithms.
/// `Default` is TPM_ALG_ERROR (0), what an area that names no algorithm holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct AlgId(pub u16);

impl AlgId {
    /// The big-endian wire form, as it goes into Names and templates.
    pub const fn to_be_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    pub const ERROR: AlgId = AlgId(0x0000);
    pub const RSA: AlgId = AlgId(0x0001);
    pub const SHA1: AlgId = AlgId(0x0004);
    pub const HMAC: AlgId = AlgId(0x0005);
    pub const AES: AlgId = AlgId(0x0006);
    pub const KEYEDHASH: AlgId = AlgId(0x0008);
    pub const XOR: AlgId = AlgId(0x000A);
    pub const SHA256: AlgId = AlgId(0x000B);
    pub const SHA384: AlgId = AlgId(0x000C);
    pub const NULL: AlgId = AlgId(0x0010);
    pub const RSASSA: AlgId = AlgId(0x0014);
    pub const RSAES: AlgId = AlgId(0x0015);
    pub const RSAPSS: AlgId = AlgId(0x0016);
    pub const OAEP: AlgId = AlgId(0x0017);
    pub const ECDSA: AlgId = AlgId(0x0018);
    pub const ECDH: AlgId = AlgId(0x0019);
    pub const ECDAA: AlgId = AlgId(0x001A);
    pub const SM2: AlgId = AlgId(0x001B);
    pub const ECSCHNORR: AlgId = AlgId(0x001C);
    /// KDFa, which session keys and context protection use.
    pub const KDF1_SP800_108: AlgId = AlgId(0x0022);
    pub const ECC: AlgId = AlgId(0x0023);
    pub const SYMCIPHER: AlgId = AlgId(0x0025);
    pub const CTR: AlgId = AlgId(0x0040);
    pub const OFB: AlgId = AlgId(0x0041);
    pub const CBC: AlgId = AlgId(0x0042);
    pub const CFB: AlgId = AlgId(0x0043);
    pub const ECB: AlgId = AlgId(0x0044);
}
