//! Object public areas (TPMT_PUBLIC, Part 2 Table 191): parsing with the checks Part 3 §12.1 asks of
//! a template, marshalling, and Names. Sensitive areas are in `sensitive`, identifiers in
//! `identifiers`.
//!
//! The parser is strict (every algorithm must be one this engine implements), so marshalling the
//! parsed value gives back the bytes that were sent and the Name is H(those bytes).

use alloc::vec::Vec;

use crate::crypto::HashAlg;
use crate::crypto::block_modes::BlockMode;
use crate::object::attr;
use crate::object::curve;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

/// A scheme with its hash (TPMT_*_SCHEME); `hash` is TPM_ALG_NULL when the scheme has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub alg: AlgId,
    pub hash: AlgId,
}

impl Scheme {
    pub const NULL: Scheme = Scheme { alg: AlgId::NULL, hash: AlgId::NULL };
}

/// TPMT_SYM_DEF_OBJECT: AES of `bits` in `mode`, or NULL (bits 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymDef {
    pub alg: AlgId,
    pub bits: u16,
    pub mode: AlgId,
}

impl SymDef {
    pub const NULL: SymDef = SymDef { alg: AlgId::NULL, bits: 0, mode: AlgId::ERROR };
}

/// A parsed TPMT_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Public {
    pub kind: AlgId,
    pub name_alg: HashAlg,
    pub attrs: u32,
    pub policy: Vec<u8>,
    /// RSA, ECC and SYMCIPHER: the symmetric definition.
    pub sym: SymDef,
    /// RSA, ECC, KEYEDHASH: the scheme (XOR keeps its KDF in `kdf.alg`).
    pub scheme: Scheme,
    /// ECC with the ECDAA scheme: TPMS_SCHEME_ECDAA's count (Part 2 Table 155), kept as sent.
    pub ecdaa_count: u16,
    pub rsa_bits: u16,
    pub exponent: u32,
    pub curve: u16,
    /// ECC: the KDF scheme; KEYEDHASH XOR: the KDF in `alg`.
    pub kdf: Scheme,
    /// RSA modulus, ECC x, KEYEDHASH/SYMCIPHER unique digest.
    pub unique: Vec<u8>,
    /// ECC y.
    pub unique_y: Vec<u8>,
}

/// Largest RSA modulus / unique field accepted (RSA-2048; RSA-1024 is the other size).
pub const MAX_RSA_BYTES: usize = 256;

/// Largest ECC coordinate (P-384).
pub const MAX_ECC_BYTES: usize = 48;

fn read_hash(r: &mut Reader<'_>, null_ok: bool) -> TpmResult<AlgId> {
    let h = r.alg()?;
    if HashAlg::from_id(h).is_some() || (null_ok && h == AlgId::NULL) {
        Ok(h)
    } else {
        Err(ResponseCode::HASH)
    }
}

/// Reads a TPMT_SYM_DEF_OBJECT. A SYMCIPHER key (`cipher_key`) may name any mode this engine
/// implements, or TPM_ALG_NULL to choose it at each TPM2_EncryptDecrypt (Part 2 Table 140); the
/// symmetric definition of an asymmetric storage key protects its children and is CFB (Part 1 §27.2).
fn read_sym(r: &mut Reader<'_>, cipher_key: bool) -> TpmResult<SymDef> {
    match r.alg()? {
        AlgId::NULL => Ok(SymDef::NULL),
        AlgId::AES => {
            let bits = r.u16()?;
            if bits != 128 && bits != 256 {
                return Err(ResponseCode::KEY_SIZE);
            }
            let mode = r.alg()?;
            let allowed = mode == AlgId::CFB
                || cipher_key && (mode == AlgId::NULL || BlockMode::from_alg(mode).is_some());
            if !allowed {
                return Err(ResponseCode::MODE);
            }
            Ok(SymDef { alg: AlgId::AES, bits, mode })
        }
        _ => Err(ResponseCode::SYMMETRIC),
    }
}

fn write_sym(w: &mut Writer, s: SymDef) {
    w.alg(s.alg);
    if s.alg != AlgId::NULL {
        w.u16(s.bits);
        w.alg(s.mode);
    }
}

impl Public {
    /// Parses a TPMT_PUBLIC. Errors carry no position; callers add the parameter number.
    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Public> {
        let kind = r.alg()?;
        let name_alg = HashAlg::from_id(r.alg()?).ok_or(ResponseCode::HASH)?;
        let attrs = r.u32()?;
        if attrs & attr::RESERVED != 0 {
            return Err(ResponseCode::RESERVED_BITS);
        }
        let policy = r.tpm2b(MAX_DIGEST)?.to_vec();
        let mut p = Public::empty(kind, name_alg, attrs, policy);
        p.read_parms(r)?;
        match kind {
            AlgId::KEYEDHASH | AlgId::SYMCIPHER => p.unique = r.tpm2b(MAX_DIGEST)?.to_vec(),
            AlgId::RSA => p.unique = r.tpm2b(MAX_RSA_BYTES)?.to_vec(),
            _ => {
                p.unique = r.tpm2b(MAX_ECC_BYTES)?.to_vec();
                p.unique_y = r.tpm2b(MAX_ECC_BYTES)?.to_vec();
            }
        }
        Ok(p)
    }

    /// Parses a TPMT_PUBLIC_PARMS (Part 2 Table 225: the type and its parameters, what TPM2_TestParms
    /// takes) into an otherwise empty public area, and checks that this TPM implements what it names:
    /// the same parsing and the same algorithm checks as a key's public area gets.
    pub fn parse_parms(r: &mut Reader<'_>) -> TpmResult<Public> {
        let kind = r.alg()?;
        let mut p = Public::empty(kind, HashAlg::Sha256, 0, Vec::new());
        p.read_parms(r)?;
        p.check_algorithms()?;
        Ok(p)
    }

    fn empty(kind: AlgId, name_alg: HashAlg, attrs: u32, policy: Vec<u8>) -> Public {
        Public {
            kind,
            name_alg,
            attrs,
            policy,
            sym: SymDef::NULL,
            scheme: Scheme::NULL,
            ecdaa_count: 0,
            rsa_bits: 0,
            exponent: 0,
            curve: 0,
            kdf: Scheme::NULL,
            unique: Vec::new(),
            unique_y: Vec::new(),
        }
    }

    /// Reads the TPMU_PUBLIC_PARMS of `self.kind` (Part 2 Table 224), without the unique field.
    fn read_parms(&mut self, r: &mut Reader<'_>) -> TpmResult<()> {
        let p = self;
        match p.kind {
            AlgId::KEYEDHASH => {
                p.scheme.alg = r.alg()?;
                match p.scheme.alg {
                    AlgId::NULL => {}
                    AlgId::HMAC => p.scheme.hash = read_hash(r, false)?,
                    AlgId::XOR => {
                        p.scheme.hash = read_hash(r, false)?;
                        // TPMS_SCHEME_XOR's KDF (Part 2 Table 149): KDFa is the one implemented.
                        p.kdf.alg = r.alg()?;
                        if p.kdf.alg != AlgId::KDF1_SP800_108 {
                            return Err(ResponseCode::KDF);
                        }
                    }
                    _ => return Err(ResponseCode::SCHEME),
                }
            }
            AlgId::SYMCIPHER => {
                p.sym = read_sym(r, true)?;
                if p.sym.alg == AlgId::NULL {
                    return Err(ResponseCode::SYMMETRIC);
                }
            }
            AlgId::RSA => {
                p.sym = read_sym(r, false)?;
                p.scheme.alg = r.alg()?;
                match p.scheme.alg {
                    AlgId::NULL | AlgId::RSAES => {}
                    AlgId::RSASSA | AlgId::RSAPSS | AlgId::OAEP => p.scheme.hash = read_hash(r, false)?,
                    _ => return Err(ResponseCode::SCHEME),
                }
                p.rsa_bits = r.u16()?;
                p.exponent = r.u32()?;
            }
            AlgId::ECC => {
                p.sym = read_sym(r, false)?;
                p.scheme.alg = r.alg()?;
                match p.scheme.alg {
                    AlgId::NULL => {}
                    AlgId::ECDSA | AlgId::ECDH => p.scheme.hash = read_hash(r, false)?,
                    AlgId::ECDAA => {
                        p.scheme.hash = read_hash(r, false)?;
                        p.ecdaa_count = r.u16()?;
                    }
                    _ => return Err(ResponseCode::SCHEME),
                }
                p.curve = r.u16()?;
                p.kdf.alg = r.alg()?;
                if p.kdf.alg != AlgId::NULL {
                    return Err(ResponseCode::KDF);
                }
            }
            _ => return Err(ResponseCode::TYPE),
        }
        Ok(())
    }

    /// Parses a TPM2B_PUBLIC whose content must be exactly one TPMT_PUBLIC.
    pub fn parse_2b(r: &mut Reader<'_>) -> TpmResult<Public> {
        let body = r.tpm2b(1024)?;
        if body.is_empty() {
            return Err(ResponseCode::SIZE);
        }
        let mut inner = Reader::new(body);
        let p = Public::parse(&mut inner)?;
        inner.finish()?;
        Ok(p)
    }

    pub fn marshal(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.alg(self.kind);
        w.alg(self.name_alg.id());
        w.u32(self.attrs);
        w.tpm2b(&self.policy);
        match self.kind {
            AlgId::KEYEDHASH => {
                w.alg(self.scheme.alg);
                if self.scheme.alg != AlgId::NULL {
                    w.alg(self.scheme.hash);
                }
                if self.scheme.alg == AlgId::XOR {
                    w.alg(self.kdf.alg);
                }
                w.tpm2b(&self.unique);
            }
            AlgId::SYMCIPHER => {
                write_sym(&mut w, self.sym);
                w.tpm2b(&self.unique);
            }
            AlgId::RSA => {
                write_sym(&mut w, self.sym);
                w.alg(self.scheme.alg);
                if !matches!(self.scheme.alg, AlgId::NULL | AlgId::RSAES) {
                    w.alg(self.scheme.hash);
                }
                w.u16(self.rsa_bits);
                w.u32(self.exponent);
                w.tpm2b(&self.unique);
            }
            _ => {
                write_sym(&mut w, self.sym);
                w.alg(self.scheme.alg);
                if self.scheme.alg != AlgId::NULL {
                    w.alg(self.scheme.hash);
                }
                if self.scheme.alg == AlgId::ECDAA {
                    w.u16(self.ecdaa_count);
                }
                w.u16(self.curve);
                w.alg(self.kdf.alg);
                w.tpm2b(&self.unique);
                w.tpm2b(&self.unique_y);
            }
        }
        w.buf
    }

    /// The Name: nameAlg || H_nameAlg(TPMT_PUBLIC) (Part 1 §16).
    pub fn name(&self) -> Vec<u8> {
        let mut n = self.name_alg.id().to_be_bytes().to_vec();
        n.extend_from_slice(self.name_alg.digest(&[&self.marshal()]).as_slice());
        n
    }

    pub fn has(&self, bits: u32) -> bool {
        self.attrs & bits == bits
    }

    /// A storage parent: restricted decryption key with a symmetric definition.
    pub fn is_storage(&self) -> bool {
        self.has(attr::RESTRICTED | attr::DECRYPT) && !self.has(attr::SIGN) && self.sym.alg != AlgId::NULL
    }

    /// The attribute and scheme checks of Part 1 §27.2 / ms-tpm-20-ref PublicAttributesValidation
    /// and SchemeChecks that do not depend on the parent. `primary` is true for CreatePrimary.
    pub fn validate(&self, primary: bool) -> TpmResult<()> {
        let a = self.attrs;
        let has = |b: u32| a & b != 0;
        // fixedTPM implies fixedParent; a primary's parent is the TPM itself, so it is fixed too.
        if has(attr::FIXED_TPM) && !has(attr::FIXED_PARENT)
            || primary && has(attr::FIXED_PARENT) != has(attr::FIXED_TPM)
        {
            return Err(ResponseCode::ATTRIBUTES);
        }
        if has(attr::RESTRICTED) && has(attr::SIGN) && has(attr::DECRYPT) {
            return Err(ResponseCode::ATTRIBUTES);
        }
        if !self.policy.is_empty() && self.policy.len() != self.name_alg.size() {
            return Err(ResponseCode::SIZE);
        }
        if !self.unique_y.is_empty() && self.kind != AlgId::ECC {
            return Err(ResponseCode::SIZE);
        }
        // A sym definition belongs to restricted decryption keys only; they must have one.
        let storage = has(attr::RESTRICTED) && has(attr::DECRYPT);
        match self.kind {
            AlgId::RSA | AlgId::ECC => {
                if storage != (self.sym.alg != AlgId::NULL) {
                    return Err(ResponseCode::SYMMETRIC);
                }
                if storage && self.scheme.alg != AlgId::NULL {
                    return Err(ResponseCode::SCHEME);
                }
                if has(attr::RESTRICTED) && has(attr::SIGN) && self.scheme.alg == AlgId::NULL {
                    return Err(ResponseCode::SCHEME);
                }
                let sig_scheme =
                    matches!(self.scheme.alg, AlgId::RSASSA | AlgId::RSAPSS | AlgId::ECDSA | AlgId::ECDAA);
                if sig_scheme && !has(attr::SIGN)
                    || !sig_scheme && self.scheme.alg != AlgId::NULL && !has(attr::DECRYPT)
                {
                    return Err(ResponseCode::SCHEME);
                }
            }
            AlgId::KEYEDHASH => {
                // The XOR scheme belongs to decryption keys only (restricted: a derivation parent,
                // as tpm2-tools' `-G xor` primaries are); other restricted decryption keyed-hash
                // objects are not defined.
                let xor = self.scheme.alg == AlgId::XOR;
                if has(attr::RESTRICTED) && has(attr::DECRYPT) && !xor {
                    return Err(ResponseCode::ATTRIBUTES);
                }
                if xor && (has(attr::SIGN) || !has(attr::DECRYPT)) {
                    return Err(ResponseCode::SCHEME);
                }
                let sealed = !has(attr::SIGN) && !has(attr::DECRYPT);
                if sealed && self.scheme.alg != AlgId::NULL {
                    return Err(ResponseCode::SCHEME);
                }
                if has(attr::SIGN) && has(attr::DECRYPT) && self.scheme.alg != AlgId::NULL {
                    return Err(ResponseCode::SCHEME);
                }
            }
            _ => {
                // SYMCIPHER: the sign bit means "encrypt"; a restricted key only decrypts (a
                // symmetric storage parent), and protects its children with CFB.
                if has(attr::RESTRICTED) && has(attr::SIGN) {
                    return Err(ResponseCode::ATTRIBUTES);
                }
                if has(attr::RESTRICTED) && self.sym.mode != AlgId::CFB {
                    return Err(ResponseCode::MODE);
                }
            }
        }
        self.check_algorithms()
    }

    /// Whether this TPM implements the key size, exponent, curve and scheme the parameters name, beyond
    /// what parsing checks (shared by key creation and TPM2_TestParms so the two cannot disagree).
    fn check_algorithms(&self) -> TpmResult<()> {
        match self.kind {
            // RSA-1024 and RSA-2048 (the PC Client PTP's required sizes).
            AlgId::RSA if !matches!(self.rsa_bits, 1024 | 2048) => Err(ResponseCode::KEY_SIZE),
            AlgId::RSA if self.exponent != 0 && self.exponent != 65537 => Err(ResponseCode::VALUE),
            AlgId::ECC if !curve::IMPLEMENTED.contains(&self.curve) => Err(ResponseCode::CURVE),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Public, attr};
    use crate::wire::alg_id::AlgId;
    use crate::wire::marshal::Reader;

    /// The kernel's NULL primary template (tpm.md §2.3): ECC P-256, AES-128-CFB, attrs 0x00030472.
    fn kernel_template() -> alloc::vec::Vec<u8> {
        let mut t = alloc::vec![0x00, 0x23, 0x00, 0x0B, 0x00, 0x03, 0x04, 0x72, 0x00, 0x00];
        t.extend_from_slice(&[0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10, 0x00, 0x03, 0x00, 0x10]);
        t.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]);
        t
    }

    #[test]
    fn parse_then_marshal_is_identity() {
        let t = kernel_template();
        let p = Public::parse(&mut Reader::new(&t)).unwrap();
        assert_eq!(p.kind, AlgId::ECC);
        assert!(p.is_storage());
        assert_eq!(p.validate(true), Ok(()));
        assert_eq!(p.marshal(), t);
        assert_eq!(p.sym.bits, 128);
        assert_eq!(p.kdf.alg, AlgId::NULL);
    }

    #[test]
    fn reserved_bits_and_bad_curves_are_refused() {
        let mut t = kernel_template();
        t[7] |= 1; // bit 0 is reserved
        assert_eq!(
            Public::parse(&mut Reader::new(&t)),
            Err(crate::wire::response_code::ResponseCode::RESERVED_BITS)
        );
        let mut t = kernel_template();
        t[19] = 0x05; // NIST P-521: not implemented
        let p = Public::parse(&mut Reader::new(&t)).unwrap();
        assert_eq!(p.validate(true), Err(super::ResponseCode::CURVE));
        let mut p = Public::parse(&mut Reader::new(&kernel_template())).unwrap();
        p.attrs &= !attr::FIXED_PARENT;
        assert_eq!(p.validate(true), Err(crate::wire::response_code::ResponseCode::ATTRIBUTES));
    }
}
