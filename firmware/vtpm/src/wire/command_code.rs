//! TPM_CC (TPM 2.0 Part 2 Table 12): the command code newtype and the commands this engine knows.

/// A TPM_CC value. Open: any u32 survives a round trip; the constants name the known commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CommandCode(pub u32);

impl CommandCode {
    /// The big-endian wire form, as it goes into cpHash, rpHash and policy digests.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    pub const HIERARCHY_CONTROL: CommandCode = CommandCode(0x121);
    pub const NV_UNDEFINE_SPACE: CommandCode = CommandCode(0x122);
    pub const CLEAR: CommandCode = CommandCode(0x126);
    pub const CLEAR_CONTROL: CommandCode = CommandCode(0x127);
    pub const CLOCK_SET: CommandCode = CommandCode(0x128);
    pub const HIERARCHY_CHANGE_AUTH: CommandCode = CommandCode(0x129);
    pub const NV_DEFINE_SPACE: CommandCode = CommandCode(0x12A);
    pub const SET_PRIMARY_POLICY: CommandCode = CommandCode(0x12E);
    pub const CLOCK_RATE_ADJUST: CommandCode = CommandCode(0x130);
    pub const NV_GLOBAL_WRITE_LOCK: CommandCode = CommandCode(0x132);
    pub const NV_INCREMENT: CommandCode = CommandCode(0x134);
    pub const NV_SET_BITS: CommandCode = CommandCode(0x135);
    pub const NV_EXTEND: CommandCode = CommandCode(0x136);
    pub const NV_WRITE: CommandCode = CommandCode(0x137);
    pub const NV_WRITE_LOCK: CommandCode = CommandCode(0x138);
    pub const DA_LOCK_RESET: CommandCode = CommandCode(0x139);
    pub const DA_PARAMETERS: CommandCode = CommandCode(0x13A);
    pub const PCR_EVENT: CommandCode = CommandCode(0x13C);
    pub const PCR_RESET: CommandCode = CommandCode(0x13D);
    pub const SEQUENCE_COMPLETE: CommandCode = CommandCode(0x13E);
    pub const INCREMENTAL_SELF_TEST: CommandCode = CommandCode(0x142);
    pub const SELF_TEST: CommandCode = CommandCode(0x143);
    pub const STARTUP: CommandCode = CommandCode(0x144);
    pub const SHUTDOWN: CommandCode = CommandCode(0x145);
    pub const STIR_RANDOM: CommandCode = CommandCode(0x146);
    pub const NV_READ: CommandCode = CommandCode(0x14E);
    pub const NV_READ_LOCK: CommandCode = CommandCode(0x14F);
    pub const SEQUENCE_UPDATE: CommandCode = CommandCode(0x15C);
    pub const CONTEXT_LOAD: CommandCode = CommandCode(0x161);
    pub const CONTEXT_SAVE: CommandCode = CommandCode(0x162);
    pub const FLUSH_CONTEXT: CommandCode = CommandCode(0x165);
    pub const NV_READ_PUBLIC: CommandCode = CommandCode(0x169);
    pub const READ_PUBLIC: CommandCode = CommandCode(0x173);
    pub const START_AUTH_SESSION: CommandCode = CommandCode(0x176);
    pub const GET_CAPABILITY: CommandCode = CommandCode(0x17A);
    pub const GET_RANDOM: CommandCode = CommandCode(0x17B);
    pub const GET_TEST_RESULT: CommandCode = CommandCode(0x17C);
    pub const HASH: CommandCode = CommandCode(0x17D);
    pub const PCR_READ: CommandCode = CommandCode(0x17E);
    pub const POLICY_AUTH_VALUE: CommandCode = CommandCode(0x16B);
    pub const POLICY_COMMAND_CODE: CommandCode = CommandCode(0x16C);
    pub const POLICY_LOCALITY: CommandCode = CommandCode(0x16F);
    pub const POLICY_OR: CommandCode = CommandCode(0x171);
    pub const POLICY_PCR: CommandCode = CommandCode(0x17F);
    pub const POLICY_RESTART: CommandCode = CommandCode(0x180);
    pub const READ_CLOCK: CommandCode = CommandCode(0x181);
    pub const PCR_EXTEND: CommandCode = CommandCode(0x182);
    pub const EVENT_SEQUENCE_COMPLETE: CommandCode = CommandCode(0x185);
    pub const HASH_SEQUENCE_START: CommandCode = CommandCode(0x186);
    pub const POLICY_GET_DIGEST: CommandCode = CommandCode(0x189);
    pub const POLICY_PASSWORD: CommandCode = CommandCode(0x18C);
    pub const POLICY_NV_WRITTEN: CommandCode = CommandCode(0x18F);
    // Object, signing and attestation commands.
    pub const EVICT_CONTROL: CommandCode = CommandCode(0x120);
    pub const CREATE_PRIMARY: CommandCode = CommandCode(0x131);
    pub const CERTIFY: CommandCode = CommandCode(0x148);
    pub const POLICY_SECRET: CommandCode = CommandCode(0x151);
    pub const OBJECT_CHANGE_AUTH: CommandCode = CommandCode(0x150);
    pub const CREATE: CommandCode = CommandCode(0x153);
    pub const CREATE_LOADED: CommandCode = CommandCode(0x191);
    pub const ECDH_ZGEN: CommandCode = CommandCode(0x154);
    pub const HMAC: CommandCode = CommandCode(0x155);
    pub const RSA_DECRYPT: CommandCode = CommandCode(0x159);
    pub const ECDH_KEYGEN: CommandCode = CommandCode(0x163);
    pub const RSA_ENCRYPT: CommandCode = CommandCode(0x174);
    pub const GET_TIME: CommandCode = CommandCode(0x14C);
    // Audit (Part 3 §18.3, §18.5, §21.4).
    pub const GET_COMMAND_AUDIT_DIGEST: CommandCode = CommandCode(0x133);
    pub const SET_COMMAND_CODE_AUDIT_STATUS: CommandCode = CommandCode(0x140);
    pub const GET_SESSION_AUDIT_DIGEST: CommandCode = CommandCode(0x14D);
    // ECDAA's first phase (Part 3 §19.2).
    pub const COMMIT: CommandCode = CommandCode(0x18B);
    pub const LOAD_EXTERNAL: CommandCode = CommandCode(0x167);
    pub const ACTIVATE_CREDENTIAL: CommandCode = CommandCode(0x147);
    pub const MAKE_CREDENTIAL: CommandCode = CommandCode(0x168);
    pub const IMPORT: CommandCode = CommandCode(0x156);
    pub const CERTIFY_CREATION: CommandCode = CommandCode(0x14A);
    pub const ENCRYPT_DECRYPT: CommandCode = CommandCode(0x164);
    pub const ENCRYPT_DECRYPT2: CommandCode = CommandCode(0x193);
    pub const LOAD: CommandCode = CommandCode(0x157);
    pub const QUOTE: CommandCode = CommandCode(0x158);
    pub const SIGN: CommandCode = CommandCode(0x15D);
    pub const UNSEAL: CommandCode = CommandCode(0x15E);
    pub const VERIFY_SIGNATURE: CommandCode = CommandCode(0x177);
    // Policy commands beyond the basic assertions.
    pub const POLICY_NV: CommandCode = CommandCode(0x149);
    pub const DUPLICATE: CommandCode = CommandCode(0x14B);
    pub const POLICY_SIGNED: CommandCode = CommandCode(0x160);
    pub const POLICY_AUTHORIZE: CommandCode = CommandCode(0x16A);
    pub const POLICY_COUNTER_TIMER: CommandCode = CommandCode(0x16D);
    pub const POLICY_CP_HASH: CommandCode = CommandCode(0x16E);
    pub const POLICY_NAME_HASH: CommandCode = CommandCode(0x170);
    pub const POLICY_TICKET: CommandCode = CommandCode(0x172);
    pub const POLICY_DUPLICATION_SELECT: CommandCode = CommandCode(0x188);
    pub const POLICY_AUTHORIZE_NV: CommandCode = CommandCode(0x192);
    // PCR banks, HMAC sequences and algorithm probing (issue 18).
    pub const PCR_ALLOCATE: CommandCode = CommandCode(0x12B);
    pub const HMAC_START: CommandCode = CommandCode(0x15B);
    pub const TEST_PARMS: CommandCode = CommandCode(0x18A);
    // Duplication, seeds, ephemeral keys and NV administration (issue 18).
    pub const NV_UNDEFINE_SPACE_SPECIAL: CommandCode = CommandCode(0x11F);
    pub const CHANGE_EPS: CommandCode = CommandCode(0x124);
    pub const CHANGE_PPS: CommandCode = CommandCode(0x125);
    pub const NV_CHANGE_AUTH: CommandCode = CommandCode(0x13B);
    pub const NV_CERTIFY: CommandCode = CommandCode(0x184);
    pub const EC_EPHEMERAL: CommandCode = CommandCode(0x18E);
    pub const POLICY_TEMPLATE: CommandCode = CommandCode(0x190);
}
