//! The endorsement key's template: TCG EK Credential Profile for TPM Family 2.0 (version 2.5 and
//! later), §B.3.3 "Template L-1: RSA 2048 (Storage)", as the marshaled TPMT_PUBLIC (TPM 2.0 Library
//! Part 2, Table 191) a TPM2_CreatePrimary on TPM_RH_ENDORSEMENT takes.
//!
//! The vTPM service's entry in the SVSM services manifest (SVSM spec, AMD 58019, "Attestation
//! Protocol", manifest version 0) is the TPMT_PUBLIC the TPM answers for this template: the same bytes
//! with the 256 zero bytes of `unique` replaced by the EK's modulus. Linux (configfs-tsm `svsm`),
//! COCONUT and go-tpm-tools' `gotpm` expect exactly that. All integers big-endian (Part 1 §18).

/// TPM_ALG_RSA (Part 2 Table 9).
pub const TPM_ALG_RSA: u16 = 0x0001;
/// TPM_ALG_SHA256.
pub const TPM_ALG_SHA256: u16 = 0x000B;
/// TPM_ALG_AES.
pub const TPM_ALG_AES: u16 = 0x0006;
/// TPM_ALG_NULL.
pub const TPM_ALG_NULL: u16 = 0x0010;
/// TPM_ALG_CFB.
pub const TPM_ALG_CFB: u16 = 0x0043;
/// TPM_RH_ENDORSEMENT (Part 2 Table 28): the hierarchy the EK lives in.
pub const TPM_RH_ENDORSEMENT: u32 = 0x4000_000B;

/// TPMA_OBJECT (Part 2 Table 31) of template L-1: fixedTPM (bit 1), fixedParent (4),
/// sensitiveDataOrigin (5), adminWithPolicy (7), restricted (16), decrypt (17). No userWithAuth:
/// the EK is used only through its policy.
pub const EK_L1_ATTRIBUTES: u32 = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 16) | (1 << 17);

/// The L-1 authPolicy, PolicyA_SHA256 of the profile: the SHA-256 policy digest of
/// TPM2_PolicySecret(TPM_RH_ENDORSEMENT) with an empty policyRef (Part 3 §23.4). A test recomputes it.
pub const EK_L1_AUTH_POLICY: [u8; 32] = [
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD,
    0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
];

/// The RSA key size: 2048 bits, so `unique` and the EK's modulus are 256 bytes.
pub const EK_L1_MODULUS_SIZE: usize = 256;

/// Bytes of the TPMT_PUBLIC before `unique`'s TPM2B: type, nameAlg, objectAttributes, authPolicy (2 +
/// 32), then TPMS_RSA_PARMS: symmetric (AES, 128, CFB), scheme (NULL), keyBits, exponent.
pub const EK_L1_PARAMETERS_SIZE: usize = 2 + 2 + 4 + 2 + 32 + 6 + 2 + 2 + 4;

/// The size of the TPMT_PUBLIC of template L-1, and of the EK's public area the TPM answers with
/// (`unique` holds 256 bytes either way).
pub const EK_L1_PUBLIC_SIZE: usize = EK_L1_PARAMETERS_SIZE + 2 + EK_L1_MODULUS_SIZE;

/// Template L-1 as a marshaled TPMT_PUBLIC, `unique` = 256 zero bytes.
pub const EK_TEMPLATE_L1: [u8; EK_L1_PUBLIC_SIZE] = template_l1();

const fn put(out: &mut [u8; EK_L1_PUBLIC_SIZE], at: usize, bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        out[at + i] = bytes[i];
        i += 1;
    }
    at + bytes.len()
}

const fn template_l1() -> [u8; EK_L1_PUBLIC_SIZE] {
    let mut out = [0u8; EK_L1_PUBLIC_SIZE];
    let mut at = put(&mut out, 0, &TPM_ALG_RSA.to_be_bytes());
    at = put(&mut out, at, &TPM_ALG_SHA256.to_be_bytes());
    at = put(&mut out, at, &EK_L1_ATTRIBUTES.to_be_bytes());
    at = put(&mut out, at, &(EK_L1_AUTH_POLICY.len() as u16).to_be_bytes());
    at = put(&mut out, at, &EK_L1_AUTH_POLICY);
    // TPMT_SYM_DEF_OBJECT: AES-128 in CFB mode, for the EK's storage children.
    at = put(&mut out, at, &TPM_ALG_AES.to_be_bytes());
    at = put(&mut out, at, &128u16.to_be_bytes());
    at = put(&mut out, at, &TPM_ALG_CFB.to_be_bytes());
    // TPMT_RSA_SCHEME: NULL (a restricted decryption key has no scheme of its own).
    at = put(&mut out, at, &TPM_ALG_NULL.to_be_bytes());
    at = put(&mut out, at, &2048u16.to_be_bytes());
    // exponent 0: the default, 65537.
    at = put(&mut out, at, &0u32.to_be_bytes());
    assert!(at == EK_L1_PARAMETERS_SIZE);
    put(&mut out, at, &(EK_L1_MODULUS_SIZE as u16).to_be_bytes());
    out
}

/// Whether `public` is an EK's TPMT_PUBLIC for template L-1: the template's bytes with any modulus in
/// `unique`. (The TPM answers the template it was given with `unique` replaced by the key.)
pub fn is_l1_public(public: &[u8]) -> bool {
    public.len() == EK_L1_PUBLIC_SIZE
        && public.get(..EK_L1_PARAMETERS_SIZE + 2) == EK_TEMPLATE_L1.get(..EK_L1_PARAMETERS_SIZE + 2)
}

/// The EK's modulus in an L-1 public area, if `public` is one.
pub fn l1_modulus(public: &[u8]) -> Option<&[u8]> {
    if is_l1_public(public) { public.get(EK_L1_PARAMETERS_SIZE + 2..) } else { None }
}

#[cfg(test)]
mod tests {
    use super::{EK_L1_ATTRIBUTES, EK_L1_PUBLIC_SIZE, EK_TEMPLATE_L1, is_l1_public, l1_modulus};

    #[test]
    fn the_template_reads_back_field_by_field() {
        let t = &EK_TEMPLATE_L1;
        assert_eq!(EK_L1_PUBLIC_SIZE, 314);
        assert_eq!(EK_L1_ATTRIBUTES, 0x0003_00B2, "the profile's attribute word");
        assert_eq!(t[..8], [0x00, 0x01, 0x00, 0x0B, 0x00, 0x03, 0x00, 0xB2]);
        assert_eq!(t[8..10], [0x00, 0x20]);
        assert_eq!(t[42..56], [0x00, 0x06, 0x00, 0x80, 0x00, 0x43, 0x00, 0x10, 0x08, 0x00, 0, 0, 0, 0]);
        assert_eq!(t[56..58], [0x01, 0x00]);
        assert!(t[58..].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_public_area_matches_only_with_the_template_s_fields() {
        let mut ek = EK_TEMPLATE_L1;
        ek[58..].fill(0xA5);
        assert!(is_l1_public(&ek));
        assert_eq!(l1_modulus(&ek), Some(&[0xA5; 256][..]));
        let mut other = ek;
        other[7] |= 0x40; // userWithAuth
        assert!(!is_l1_public(&other));
        assert!(!is_l1_public(&ek[..300]));
        assert_eq!(l1_modulus(&other), None);
    }
}
