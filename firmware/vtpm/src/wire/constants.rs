//! TPM 2.0 constants this engine uses: structure tags, command codes, algorithms, handles, properties
//! (TPM 2.0 Part 2 §6 and §7; values cross-checked with tpm2-tss `tss2_tpm2_types.h`).

/// TPM_ST (Part 2 Table 19).
pub mod st {
    pub const NO_SESSIONS: u16 = 0x8001;
    pub const SESSIONS: u16 = 0x8002;
    pub const HASHCHECK: u16 = 0x8024;
}

/// TPM_SU (Part 2 Table 20).
pub mod su {
    pub const CLEAR: u16 = 0x0000;
    pub const STATE: u16 = 0x0001;
}

/// TPM_SE (Part 2 Table 21).
pub mod se {
    pub const HMAC: u8 = 0x00;
    pub const POLICY: u8 = 0x01;
    pub const TRIAL: u8 = 0x03;
}

/// TPM_CAP (Part 2 Table 24).
pub mod cap {
    pub const ALGS: u32 = 0;
    pub const HANDLES: u32 = 1;
    pub const COMMANDS: u32 = 2;
    pub const PP_COMMANDS: u32 = 3;
    pub const AUDIT_COMMANDS: u32 = 4;
    pub const PCRS: u32 = 5;
    pub const TPM_PROPERTIES: u32 = 6;
    pub const PCR_PROPERTIES: u32 = 7;
    pub const ECC_CURVES: u32 = 8;
    pub const AUTH_POLICIES: u32 = 9;
    pub const ACT: u32 = 10;
}

/// TPMA_SESSION bits (Part 2 Table 39).
pub mod session_attr {
    pub const CONTINUE_SESSION: u8 = 0x01;
    pub const AUDIT_EXCLUSIVE: u8 = 0x02;
    pub const AUDIT_RESET: u8 = 0x04;
    pub const RESERVED: u8 = 0x18;
    pub const DECRYPT: u8 = 0x20;
    pub const ENCRYPT: u8 = 0x40;
    pub const AUDIT: u8 = 0x80;
}

/// The value TPM-generated structures start with (`TPM_GENERATED_VALUE`, Part 2 Table 7).
pub const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;

/// `MAX_DIGEST_BUFFER`/`MAX_NV_BUFFER_SIZE`: the largest TPM2B_MAX_BUFFER and NV read/write chunk.
pub const MAX_BUFFER: usize = 1024;

/// The largest digest of an implemented hash (SHA-384): bounds TPM2B_DIGEST, TPM2B_AUTH, TPM2B_NONCE.
pub const MAX_DIGEST: usize = 48;

/// `MAX_CAP_BUFFER`: the largest TPMU_CAPABILITIES.
pub const MAX_CAP_BUFFER: usize = 1024;
