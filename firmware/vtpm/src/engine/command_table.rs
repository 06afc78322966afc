//! The command table: every implemented command code, its handles, which of them need authorization,
//! and its TPMA_CC attributes (Part 2 Table 33). Metadata only: `routing` maps a code to its function.
//! GetCapability(TPM_CAP_COMMANDS) and the dispatcher both read it.

use crate::wire::command_code::CommandCode;
use HandleKind as K;

/// What a handle in the handle area may be (the TPMI_ type Part 3 gives it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// TPMI_DH_PCR+: a PCR index or TPM_RH_NULL.
    PcrOrNull,
    /// TPMI_DH_PCR: a PCR index.
    Pcr,
    /// TPMI_RH_PROVISION: owner or platform.
    Provision,
    /// TPMI_RH_NV_AUTH: owner, platform or a defined NV index.
    NvAuth,
    /// TPMI_RH_NV_INDEX: a defined NV index.
    NvIndex,
    /// TPMI_DH_OBJECT: a loaded transient object (here, a sequence object).
    Object,
    /// TPMI_DH_CONTEXT: a loaded object or session.
    Context,
    /// TPMI_RH_CLEAR: lockout or platform.
    Clear,
    /// TPMI_RH_LOCKOUT.
    Lockout,
    /// TPMI_RH_PLATFORM.
    Platform,
    /// TPMI_RH_HIERARCHY: owner, endorsement or platform.
    Hierarchy,
    /// TPMI_RH_HIERARCHY_AUTH: lockout, endorsement, owner or platform.
    HierarchyAuth,
    /// TPMI_DH_OBJECT+ (StartAuthSession tpmKey): TPM_RH_NULL or a loaded key.
    KeyOrNull,
    /// TPMI_DH_ENTITY+ (StartAuthSession bind): TPM_RH_NULL or an entity with an authValue.
    EntityOrNull,
    /// TPMI_SH_POLICY: a loaded policy session.
    PolicySession,
}

/// One implemented command.
#[derive(Debug, Clone, Copy)]
pub struct CommandDef {
    pub code: CommandCode,
    pub handles: &'static [HandleKind],
    /// How many of the leading handles carry an authorization (Part 3 "Auth Index").
    pub auth: usize,
    /// Whether the response has a handle area.
    pub rhandle: bool,
    /// TPMA_CC nv: may write NV.
    pub nv: bool,
    /// TPMA_CC flushed: flushes a context.
    pub flushed: bool,
    /// The first command parameter is a TPM2B, so a session may decrypt it.
    pub decrypt: bool,
    /// The first response parameter is a TPM2B, so a session may encrypt it.
    pub encrypt: bool,
    /// The command takes no sessions at all (TPM_RC_AUTH_CONTEXT if it gets some).
    pub no_sessions: bool,
}

const fn def(code: CommandCode, handles: &'static [HandleKind], auth: usize) -> CommandDef {
    CommandDef {
        code,
        handles,
        auth,
        rhandle: false,
        nv: false,
        flushed: false,
        decrypt: false,
        encrypt: false,
        no_sessions: false,
    }
}

const fn nv(d: CommandDef) -> CommandDef {
    CommandDef { nv: true, ..d }
}

const fn rh(d: CommandDef) -> CommandDef {
    CommandDef { rhandle: true, ..d }
}

const fn fl(d: CommandDef) -> CommandDef {
    CommandDef { flushed: true, ..d }
}

const fn ns(d: CommandDef) -> CommandDef {
    CommandDef { no_sessions: true, ..d }
}

const fn de(d: CommandDef) -> CommandDef {
    CommandDef { decrypt: true, ..d }
}

const fn en(d: CommandDef) -> CommandDef {
    CommandDef { encrypt: true, ..d }
}

/// Every implemented command, sorted by code.
pub const COMMANDS: &[CommandDef] = &[
    // Handle 1 takes the ADMIN role (a policy session), handle 2 the platform's authorization.
    nv(def(CommandCode::NV_UNDEFINE_SPACE_SPECIAL, &[K::NvIndex, K::Platform], 2)),
    nv(def(CommandCode::EVICT_CONTROL, &[K::Provision, K::Object], 1)),
    nv(def(CommandCode::HIERARCHY_CONTROL, &[K::Hierarchy], 1)),
    nv(def(CommandCode::NV_UNDEFINE_SPACE, &[K::Provision, K::NvIndex], 1)),
    nv(def(CommandCode::CHANGE_EPS, &[K::Platform], 1)),
    nv(def(CommandCode::CHANGE_PPS, &[K::Platform], 1)),
    nv(def(CommandCode::CLEAR, &[K::Clear], 1)),
    nv(def(CommandCode::CLEAR_CONTROL, &[K::Clear], 1)),
    nv(def(CommandCode::CLOCK_SET, &[K::Provision], 1)),
    de(nv(def(CommandCode::HIERARCHY_CHANGE_AUTH, &[K::HierarchyAuth], 1))),
    de(nv(def(CommandCode::NV_DEFINE_SPACE, &[K::Provision], 1))),
    nv(def(CommandCode::PCR_ALLOCATE, &[K::Platform], 1)),
    de(nv(def(CommandCode::SET_PRIMARY_POLICY, &[K::HierarchyAuth], 1))),
    def(CommandCode::CLOCK_RATE_ADJUST, &[K::Provision], 1),
    // The hierarchy (TPMI_RH_HIERARCHY+) is checked by the handler.
    de(en(rh(def(CommandCode::CREATE_PRIMARY, &[K::EntityOrNull], 1)))),
    nv(def(CommandCode::NV_GLOBAL_WRITE_LOCK, &[K::Provision], 1)),
    // The privacy administrator (TPMI_RH_ENDORSEMENT) is checked by the handler.
    de(en(nv(def(CommandCode::GET_COMMAND_AUDIT_DIGEST, &[K::Hierarchy, K::KeyOrNull], 2)))),
    nv(def(CommandCode::NV_INCREMENT, &[K::NvAuth, K::NvIndex], 1)),
    nv(def(CommandCode::NV_SET_BITS, &[K::NvAuth, K::NvIndex], 1)),
    de(nv(def(CommandCode::NV_EXTEND, &[K::NvAuth, K::NvIndex], 1))),
    de(nv(def(CommandCode::NV_WRITE, &[K::NvAuth, K::NvIndex], 1))),
    nv(def(CommandCode::NV_WRITE_LOCK, &[K::NvAuth, K::NvIndex], 1)),
    nv(def(CommandCode::DA_LOCK_RESET, &[K::Lockout], 1)),
    nv(def(CommandCode::DA_PARAMETERS, &[K::Lockout], 1)),
    // The index itself authorizes, in the ADMIN role (a policy session).
    de(nv(def(CommandCode::NV_CHANGE_AUTH, &[K::NvIndex], 1))),
    de(def(CommandCode::PCR_EVENT, &[K::PcrOrNull], 1)),
    def(CommandCode::PCR_RESET, &[K::Pcr], 1),
    de(en(fl(def(CommandCode::SEQUENCE_COMPLETE, &[K::Object], 1)))),
    nv(def(CommandCode::SET_COMMAND_CODE_AUDIT_STATUS, &[K::Provision], 1)),
    def(CommandCode::INCREMENTAL_SELF_TEST, &[], 0),
    def(CommandCode::SELF_TEST, &[], 0),
    ns(nv(def(CommandCode::STARTUP, &[], 0))),
    nv(def(CommandCode::SHUTDOWN, &[], 0)),
    de(nv(def(CommandCode::STIR_RANDOM, &[], 0))),
    de(en(def(CommandCode::ACTIVATE_CREDENTIAL, &[K::Object, K::Object], 2))),
    de(en(def(CommandCode::CERTIFY, &[K::Object, K::KeyOrNull], 2))),
    de(def(CommandCode::POLICY_NV, &[K::NvAuth, K::NvIndex, K::PolicySession], 1)),
    de(en(def(CommandCode::CERTIFY_CREATION, &[K::KeyOrNull, K::Object], 1))),
    // The object takes the DUP role (a policy session); the new parent may be TPM_RH_NULL.
    de(en(def(CommandCode::DUPLICATE, &[K::Object, K::KeyOrNull], 1))),
    de(en(def(CommandCode::GET_TIME, &[K::Hierarchy, K::KeyOrNull], 2))),
    // The session (TPMI_SH_HMAC) is checked by the handler.
    de(en(def(CommandCode::GET_SESSION_AUDIT_DIGEST, &[K::Hierarchy, K::KeyOrNull, K::Context], 2))),
    en(def(CommandCode::NV_READ, &[K::NvAuth, K::NvIndex], 1)),
    def(CommandCode::NV_READ_LOCK, &[K::NvAuth, K::NvIndex], 1),
    de(en(def(CommandCode::OBJECT_CHANGE_AUTH, &[K::Object, K::Object], 1))),
    de(en(def(CommandCode::POLICY_SECRET, &[K::EntityOrNull, K::PolicySession], 1))),
    de(en(def(CommandCode::CREATE, &[K::Object], 1))),
    de(en(def(CommandCode::ECDH_ZGEN, &[K::Object], 1))),
    de(en(def(CommandCode::HMAC, &[K::Object], 1))),
    de(en(def(CommandCode::IMPORT, &[K::Object], 1))),
    de(en(rh(def(CommandCode::LOAD, &[K::Object], 1)))),
    de(en(def(CommandCode::QUOTE, &[K::Object], 1))),
    de(en(def(CommandCode::RSA_DECRYPT, &[K::Object], 1))),
    de(rh(def(CommandCode::HMAC_START, &[K::Object], 1))),
    de(def(CommandCode::SEQUENCE_UPDATE, &[K::Object], 1)),
    de(def(CommandCode::SIGN, &[K::Object], 1)),
    en(def(CommandCode::UNSEAL, &[K::Object], 1)),
    de(en(def(CommandCode::POLICY_SIGNED, &[K::Object, K::PolicySession], 0))),
    ns(rh(def(CommandCode::CONTEXT_LOAD, &[], 0))),
    ns(def(CommandCode::CONTEXT_SAVE, &[K::Context], 0)),
    en(def(CommandCode::ECDH_KEYGEN, &[K::Object], 0)),
    en(def(CommandCode::ENCRYPT_DECRYPT, &[K::Object], 1)),
    ns(def(CommandCode::FLUSH_CONTEXT, &[], 0)),
    de(en(rh(def(CommandCode::LOAD_EXTERNAL, &[], 0)))),
    de(en(def(CommandCode::MAKE_CREDENTIAL, &[K::Object], 0))),
    en(def(CommandCode::NV_READ_PUBLIC, &[K::NvIndex], 0)),
    de(def(CommandCode::POLICY_AUTHORIZE, &[K::PolicySession], 0)),
    def(CommandCode::POLICY_AUTH_VALUE, &[K::PolicySession], 0),
    def(CommandCode::POLICY_COMMAND_CODE, &[K::PolicySession], 0),
    de(def(CommandCode::POLICY_COUNTER_TIMER, &[K::PolicySession], 0)),
    de(def(CommandCode::POLICY_CP_HASH, &[K::PolicySession], 0)),
    def(CommandCode::POLICY_LOCALITY, &[K::PolicySession], 0),
    de(def(CommandCode::POLICY_NAME_HASH, &[K::PolicySession], 0)),
    def(CommandCode::POLICY_OR, &[K::PolicySession], 0),
    de(def(CommandCode::POLICY_TICKET, &[K::PolicySession], 0)),
    en(def(CommandCode::READ_PUBLIC, &[K::Object], 0)),
    de(en(def(CommandCode::RSA_ENCRYPT, &[K::Object], 0))),
    de(en(rh(def(CommandCode::START_AUTH_SESSION, &[K::KeyOrNull, K::EntityOrNull], 0)))),
    de(def(CommandCode::VERIFY_SIGNATURE, &[K::Object], 0)),
    def(CommandCode::GET_CAPABILITY, &[], 0),
    en(def(CommandCode::GET_RANDOM, &[], 0)),
    en(def(CommandCode::GET_TEST_RESULT, &[], 0)),
    de(en(def(CommandCode::HASH, &[], 0))),
    def(CommandCode::PCR_READ, &[], 0),
    de(def(CommandCode::POLICY_PCR, &[K::PolicySession], 0)),
    def(CommandCode::POLICY_RESTART, &[K::PolicySession], 0),
    ns(def(CommandCode::READ_CLOCK, &[], 0)),
    def(CommandCode::PCR_EXTEND, &[K::PcrOrNull], 1),
    de(en(def(CommandCode::NV_CERTIFY, &[K::KeyOrNull, K::NvAuth, K::NvIndex], 2))),
    de(fl(def(CommandCode::EVENT_SEQUENCE_COMPLETE, &[K::PcrOrNull, K::Object], 2))),
    de(rh(def(CommandCode::HASH_SEQUENCE_START, &[], 0))),
    de(def(CommandCode::POLICY_DUPLICATION_SELECT, &[K::PolicySession], 0)),
    en(def(CommandCode::POLICY_GET_DIGEST, &[K::PolicySession], 0)),
    def(CommandCode::TEST_PARMS, &[], 0),
    de(en(def(CommandCode::COMMIT, &[K::Object], 1))),
    def(CommandCode::POLICY_PASSWORD, &[K::PolicySession], 0),
    en(def(CommandCode::EC_EPHEMERAL, &[], 0)),
    def(CommandCode::POLICY_NV_WRITTEN, &[K::PolicySession], 0),
    de(def(CommandCode::POLICY_TEMPLATE, &[K::PolicySession], 0)),
    // The parent (TPMI_DH_PARENT+: a hierarchy or a storage key) is checked by the handler.
    de(en(rh(def(CommandCode::CREATE_LOADED, &[K::EntityOrNull], 1)))),
    def(CommandCode::POLICY_AUTHORIZE_NV, &[K::NvAuth, K::NvIndex, K::PolicySession], 1),
    de(en(def(CommandCode::ENCRYPT_DECRYPT2, &[K::Object], 1))),
];

/// Whether a TPM offers `d`: every command of the table, except TPM2_ChangeEPS where the firmware
/// gave the EPS (`platform_eps`): TPM 2.0 Library Part 1 §14.3.2 makes ChangeEPS the only way an EPS
/// changes, and this one is derived from the platform at every boot (the attested EK), so a changed one
/// would not survive the boot, nor may a stored state carry one (`persistence::format`).
pub fn offered(d: &CommandDef, platform_eps: bool) -> bool {
    !(platform_eps && d.code == CommandCode::CHANGE_EPS)
}

/// The definition of `code`, if implemented.
pub fn lookup(code: CommandCode) -> Option<&'static CommandDef> {
    COMMANDS.binary_search_by_key(&code, |d| d.code).ok().and_then(|i| COMMANDS.get(i))
}

/// The TPMA_CC word GetCapability reports for `d` (Part 2 Table 33).
pub fn tpma_cc(d: &CommandDef) -> u32 {
    let mut v = d.code.0 & 0xFFFF;
    if d.nv {
        v |= 1 << 22;
    }
    if d.flushed {
        v |= 1 << 24;
    }
    v |= (d.handles.len() as u32 & 7) << 25;
    if d.rhandle {
        v |= 1 << 28;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::{COMMANDS, lookup};

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(COMMANDS.windows(2).all(|w| w[0].code < w[1].code));
        assert!(COMMANDS.iter().all(|d| lookup(d.code).map(|x| x.code) == Some(d.code)));
        assert!(lookup(crate::wire::command_code::CommandCode(0x199)).is_none());
    }
}
