//! Identifiers objects use: the ECC curve IDs and the TPMA_OBJECT bits (TPM 2.0 Part 2 Tables 10, 31).

/// TPM_ECC_CURVE (Part 2 Table 10): the curves this engine implements.
pub mod curve {
    pub const NIST_P256: u16 = 0x0003;
    pub const NIST_P384: u16 = 0x0004;
    /// Every implemented curve, ascending: what keys may use and GetCapability(TPM_CAP_ECC_CURVES) lists.
    pub const IMPLEMENTED: [u16; 2] = [NIST_P256, NIST_P384];
}

/// TPMA_OBJECT bits (Part 2 Table 31).
pub mod attr {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const ST_CLEAR: u32 = 1 << 2;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    pub const NO_DA: u32 = 1 << 10;
    pub const ENCRYPTED_DUPLICATION: u32 = 1 << 11;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
    /// Bits Part 2 reserves (0, 3, 8, 9, 12-15, 20-31).
    pub const RESERVED: u32 = 0xFFF0_F309;
}
