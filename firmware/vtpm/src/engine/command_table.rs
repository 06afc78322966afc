//! The command table: every implemented command code, its handles, which of them need authorization,
//! and its TPMA_CC attributes (Part 2 Table 33). Metadata only: `routing` maps a code to its function.
//! GetCapability(TPM_CAP_COMMANDS) and the dispatcher both read it.

use HandleKind as K;

use crate::wire::constants::cc;

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
    pub code: u32,
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

const fn def(code: u32, handles: &'static [HandleKind], auth: usize) -> CommandDef {
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
    nv(def(cc::EVICT_CONTROL, &[K::Provision, K::Object], 1)),
    nv(def(cc::HIERARCHY_CONTROL, &[K::Hierarchy], 1)),
    nv(def(cc::NV_UNDEFINE_SPACE, &[K::Provision, K::NvIndex], 1)),
    nv(def(cc::CLEAR, &[K::Clear], 1)),
    nv(def(cc::CLEAR_CONTROL, &[K::Clear], 1)),
    nv(def(cc::CLOCK_SET, &[K::Provision], 1)),
    de(nv(def(cc::HIERARCHY_CHANGE_AUTH, &[K::HierarchyAuth], 1))),
    de(nv(def(cc::NV_DEFINE_SPACE, &[K::Provision], 1))),
    de(nv(def(cc::SET_PRIMARY_POLICY, &[K::HierarchyAuth], 1))),
    def(cc::CLOCK_RATE_ADJUST, &[K::Provision], 1),
    // The hierarchy (TPMI_RH_HIERARCHY+) is checked by the handler.
    de(en(rh(def(cc::CREATE_PRIMARY, &[K::EntityOrNull], 1)))),
    nv(def(cc::NV_GLOBAL_WRITE_LOCK, &[K::Provision], 1)),
    nv(def(cc::NV_INCREMENT, &[K::NvAuth, K::NvIndex], 1)),
    nv(def(cc::NV_SET_BITS, &[K::NvAuth, K::NvIndex], 1)),
    de(nv(def(cc::NV_EXTEND, &[K::NvAuth, K::NvIndex], 1))),
    de(nv(def(cc::NV_WRITE, &[K::NvAuth, K::NvIndex], 1))),
    nv(def(cc::NV_WRITE_LOCK, &[K::NvAuth, K::NvIndex], 1)),
    nv(def(cc::DA_LOCK_RESET, &[K::Lockout], 1)),
    nv(def(cc::DA_PARAMETERS, &[K::Lockout], 1)),
    de(def(cc::PCR_EVENT, &[K::PcrOrNull], 1)),
    def(cc::PCR_RESET, &[K::Pcr], 1),
    de(en(fl(def(cc::SEQUENCE_COMPLETE, &[K::Object], 1)))),
    def(cc::INCREMENTAL_SELF_TEST, &[], 0),
    def(cc::SELF_TEST, &[], 0),
    ns(nv(def(cc::STARTUP, &[], 0))),
    nv(def(cc::SHUTDOWN, &[], 0)),
    de(nv(def(cc::STIR_RANDOM, &[], 0))),
    de(en(def(cc::ACTIVATE_CREDENTIAL, &[K::Object, K::Object], 2))),
    de(en(def(cc::CERTIFY, &[K::Object, K::KeyOrNull], 2))),
    de(def(cc::POLICY_NV, &[K::NvAuth, K::NvIndex, K::PolicySession], 1)),
    de(en(def(cc::CERTIFY_CREATION, &[K::KeyOrNull, K::Object], 1))),
    de(en(def(cc::GET_TIME, &[K::Hierarchy, K::KeyOrNull], 2))),
    en(def(cc::NV_READ, &[K::NvAuth, K::NvIndex], 1)),
    def(cc::NV_READ_LOCK, &[K::NvAuth, K::NvIndex], 1),
    de(en(def(cc::OBJECT_CHANGE_AUTH, &[K::Object, K::Object], 1))),
    de(en(def(cc::POLICY_SECRET, &[K::EntityOrNull, K::PolicySession], 1))),
    de(en(def(cc::CREATE, &[K::Object], 1))),
    de(en(def(cc::ECDH_ZGEN, &[K::Object], 1))),
    de(en(def(cc::HMAC, &[K::Object], 1))),
    de(en(def(cc::IMPORT, &[K::Object], 1))),
    de(en(rh(def(cc::LOAD, &[K::Object], 1)))),
    de(en(def(cc::QUOTE, &[K::Object], 1))),
    de(en(def(cc::RSA_DECRYPT, &[K::Object], 1))),
    de(def(cc::SEQUENCE_UPDATE, &[K::Object], 1)),
    de(def(cc::SIGN, &[K::Object], 1)),
    en(def(cc::UNSEAL, &[K::Object], 1)),
    de(en(def(cc::POLICY_SIGNED, &[K::Object, K::PolicySession], 0))),
    ns(rh(def(cc::CONTEXT_LOAD, &[], 0))),
    ns(def(cc::CONTEXT_SAVE, &[K::Context], 0)),
    en(def(cc::ECDH_KEYGEN, &[K::Object], 0)),
    en(def(cc::ENCRYPT_DECRYPT, &[K::Object], 1)),
    ns(def(cc::FLUSH_CONTEXT, &[], 0)),
    de(en(rh(def(cc::LOAD_EXTERNAL, &[], 0)))),
    de(en(def(cc::MAKE_CREDENTIAL, &[K::Object], 0))),
    en(def(cc::NV_READ_PUBLIC, &[K::NvIndex], 0)),
    de(def(cc::POLICY_AUTHORIZE, &[K::PolicySession], 0)),
    def(cc::POLICY_AUTH_VALUE, &[K::PolicySession], 0),
    def(cc::POLICY_COMMAND_CODE, &[K::PolicySession], 0),
    de(def(cc::POLICY_COUNTER_TIMER, &[K::PolicySession], 0)),
    de(def(cc::POLICY_CP_HASH, &[K::PolicySession], 0)),
    def(cc::POLICY_LOCALITY, &[K::PolicySession], 0),
    de(def(cc::POLICY_NAME_HASH, &[K::PolicySession], 0)),
    def(cc::POLICY_OR, &[K::PolicySession], 0),
    de(def(cc::POLICY_TICKET, &[K::PolicySession], 0)),
    en(def(cc::READ_PUBLIC, &[K::Object], 0)),
    de(en(def(cc::RSA_ENCRYPT, &[K::Object], 0))),
    de(en(rh(def(cc::START_AUTH_SESSION, &[K::KeyOrNull, K::EntityOrNull], 0)))),
    de(def(cc::VERIFY_SIGNATURE, &[K::Object], 0)),
    def(cc::GET_CAPABILITY, &[], 0),
    en(def(cc::GET_RANDOM, &[], 0)),
    en(def(cc::GET_TEST_RESULT, &[], 0)),
    de(en(def(cc::HASH, &[], 0))),
    def(cc::PCR_READ, &[], 0),
    de(def(cc::POLICY_PCR, &[K::PolicySession], 0)),
    def(cc::POLICY_RESTART, &[K::PolicySession], 0),
    ns(def(cc::READ_CLOCK, &[], 0)),
    def(cc::PCR_EXTEND, &[K::PcrOrNull], 1),
    de(fl(def(cc::EVENT_SEQUENCE_COMPLETE, &[K::PcrOrNull, K::Object], 2))),
    de(rh(def(cc::HASH_SEQUENCE_START, &[], 0))),
    de(def(cc::POLICY_DUPLICATION_SELECT, &[K::PolicySession], 0)),
    en(def(cc::POLICY_GET_DIGEST, &[K::PolicySession], 0)),
    def(cc::POLICY_PASSWORD, &[K::PolicySession], 0),
    def(cc::POLICY_NV_WRITTEN, &[K::PolicySession], 0),
    // The parent (TPMI_DH_PARENT+: a hierarchy or a storage key) is checked by the handler.
    de(en(rh(def(cc::CREATE_LOADED, &[K::EntityOrNull], 1)))),
    def(cc::POLICY_AUTHORIZE_NV, &[K::NvAuth, K::NvIndex, K::PolicySession], 1),
    de(en(def(cc::ENCRYPT_DECRYPT2, &[K::Object], 1))),
];

/// The definition of `code`, if implemented.
pub fn lookup(code: u32) -> Option<&'static CommandDef> {
    COMMANDS.binary_search_by_key(&code, |d| d.code).ok().and_then(|i| COMMANDS.get(i))
}

/// The TPMA_CC word GetCapability reports for `d` (Part 2 Table 33).
pub fn tpma_cc(d: &CommandDef) -> u32 {
    let mut v = d.code & 0xFFFF;
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
        assert!(lookup(0x199).is_none());
    }
}
