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

/// TPM_CC (Part 2 Table 12), only the commands this engine knows.
pub mod cc {
    pub const HIERARCHY_CONTROL: u32 = 0x121;
    pub const NV_UNDEFINE_SPACE: u32 = 0x122;
    pub const CLEAR: u32 = 0x126;
    pub const CLEAR_CONTROL: u32 = 0x127;
    pub const CLOCK_SET: u32 = 0x128;
    pub const HIERARCHY_CHANGE_AUTH: u32 = 0x129;
    pub const NV_DEFINE_SPACE: u32 = 0x12A;
    pub const SET_PRIMARY_POLICY: u32 = 0x12E;
    pub const CLOCK_RATE_ADJUST: u32 = 0x130;
    pub const NV_GLOBAL_WRITE_LOCK: u32 = 0x132;
    pub const NV_INCREMENT: u32 = 0x134;
    pub const NV_SET_BITS: u32 = 0x135;
    pub const NV_EXTEND: u32 = 0x136;
    pub const NV_WRITE: u32 = 0x137;
    pub const NV_WRITE_LOCK: u32 = 0x138;
    pub const DA_LOCK_RESET: u32 = 0x139;
    pub const DA_PARAMETERS: u32 = 0x13A;
    pub const PCR_EVENT: u32 = 0x13C;
    pub const PCR_RESET: u32 = 0x13D;
    pub const SEQUENCE_COMPLETE: u32 = 0x13E;
    pub const INCREMENTAL_SELF_TEST: u32 = 0x142;
    pub const SELF_TEST: u32 = 0x143;
    pub const STARTUP: u32 = 0x144;
    pub const SHUTDOWN: u32 = 0x145;
    pub const STIR_RANDOM: u32 = 0x146;
    pub const NV_READ: u32 = 0x14E;
    pub const NV_READ_LOCK: u32 = 0x14F;
    pub const SEQUENCE_UPDATE: u32 = 0x15C;
    pub const CONTEXT_LOAD: u32 = 0x161;
    pub const CONTEXT_SAVE: u32 = 0x162;
    pub const FLUSH_CONTEXT: u32 = 0x165;
    pub const NV_READ_PUBLIC: u32 = 0x169;
    pub const READ_PUBLIC: u32 = 0x173;
    pub const START_AUTH_SESSION: u32 = 0x176;
    pub const GET_CAPABILITY: u32 = 0x17A;
    pub const GET_RANDOM: u32 = 0x17B;
    pub const GET_TEST_RESULT: u32 = 0x17C;
    pub const HASH: u32 = 0x17D;
    pub const PCR_READ: u32 = 0x17E;
    pub const POLICY_AUTH_VALUE: u32 = 0x16B;
    pub const POLICY_COMMAND_CODE: u32 = 0x16C;
    pub const POLICY_LOCALITY: u32 = 0x16F;
    pub const POLICY_OR: u32 = 0x171;
    pub const POLICY_PCR: u32 = 0x17F;
    pub const POLICY_RESTART: u32 = 0x180;
    pub const READ_CLOCK: u32 = 0x181;
    pub const PCR_EXTEND: u32 = 0x182;
    pub const EVENT_SEQUENCE_COMPLETE: u32 = 0x185;
    pub const HASH_SEQUENCE_START: u32 = 0x186;
    pub const POLICY_GET_DIGEST: u32 = 0x189;
    pub const POLICY_PASSWORD: u32 = 0x18C;
    pub const POLICY_NV_WRITTEN: u32 = 0x18F;
    // Object, signing and attestation commands.
    pub const EVICT_CONTROL: u32 = 0x120;
    pub const CREATE_PRIMARY: u32 = 0x131;
    pub const CERTIFY: u32 = 0x148;
    pub const POLICY_SECRET: u32 = 0x151;
    pub const OBJECT_CHANGE_AUTH: u32 = 0x150;
    pub const CREATE: u32 = 0x153;
    pub const CREATE_LOADED: u32 = 0x191;
    pub const ECDH_ZGEN: u32 = 0x154;
    pub const HMAC: u32 = 0x155;
    pub const RSA_DECRYPT: u32 = 0x159;
    pub const ECDH_KEYGEN: u32 = 0x163;
    pub const RSA_ENCRYPT: u32 = 0x174;
    pub const GET_TIME: u32 = 0x14C;
    pub const LOAD_EXTERNAL: u32 = 0x167;
    pub const ACTIVATE_CREDENTIAL: u32 = 0x147;
    pub const MAKE_CREDENTIAL: u32 = 0x168;
    pub const IMPORT: u32 = 0x156;
    pub const CERTIFY_CREATION: u32 = 0x14A;
    pub const ENCRYPT_DECRYPT: u32 = 0x164;
    pub const ENCRYPT_DECRYPT2: u32 = 0x193;
    pub const LOAD: u32 = 0x157;
    pub const QUOTE: u32 = 0x158;
    pub const SIGN: u32 = 0x15D;
    pub const UNSEAL: u32 = 0x15E;
    pub const VERIFY_SIGNATURE: u32 = 0x177;
    // Policy commands beyond the basic assertions.
    pub const POLICY_NV: u32 = 0x149;
    pub const DUPLICATE: u32 = 0x14B;
    pub const POLICY_SIGNED: u32 = 0x160;
    pub const POLICY_AUTHORIZE: u32 = 0x16A;
    pub const POLICY_COUNTER_TIMER: u32 = 0x16D;
    pub const POLICY_CP_HASH: u32 = 0x16E;
    pub const POLICY_NAME_HASH: u32 = 0x170;
    pub const POLICY_TICKET: u32 = 0x172;
    pub const POLICY_DUPLICATION_SELECT: u32 = 0x188;
    pub const POLICY_AUTHORIZE_NV: u32 = 0x192;
}

/// TPM_ALG_ID (Part 2 Table 9).
pub mod alg {
    pub const AES: u16 = 0x0006;
    pub const SHA256: u16 = 0x000B;
    pub const SHA384: u16 = 0x000C;
    pub const NULL: u16 = 0x0010;
    pub const HMAC: u16 = 0x0005;
    pub const CFB: u16 = 0x0043;
}

/// Handles and handle types (Part 2 §7).
pub mod handle {
    pub const HT_PCR: u8 = 0x00;
    pub const HT_NV_INDEX: u8 = 0x01;
    pub const HT_HMAC_SESSION: u8 = 0x02;
    pub const HT_POLICY_SESSION: u8 = 0x03;
    pub const HT_PERMANENT: u8 = 0x40;
    pub const HT_TRANSIENT: u8 = 0x80;
    pub const HT_PERSISTENT: u8 = 0x81;

    pub const RH_OWNER: u32 = 0x4000_0001;
    pub const RH_NULL: u32 = 0x4000_0007;
    pub const RS_PW: u32 = 0x4000_0009;
    pub const RH_LOCKOUT: u32 = 0x4000_000A;
    pub const RH_ENDORSEMENT: u32 = 0x4000_000B;
    pub const RH_PLATFORM: u32 = 0x4000_000C;
    pub const RH_PLATFORM_NV: u32 = 0x4000_000D;

    pub const TRANSIENT_FIRST: u32 = 0x8000_0000;
    pub const HMAC_SESSION_FIRST: u32 = 0x0200_0000;
    pub const POLICY_SESSION_FIRST: u32 = 0x0300_0000;
    pub const NV_INDEX_FIRST: u32 = 0x0100_0000;

    /// The handle type: the top byte.
    pub const fn ht(h: u32) -> u8 {
        (h >> 24) as u8
    }
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
