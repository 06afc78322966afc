//! TPM2_StartAuthSession (Part 3 ch. 11): unsalted or salted, bound or unbound HMAC, policy and
//! trial sessions.

use alloc::vec::Vec;

use crate::Tpm;
use crate::crypto::{Digest, HashAlg, SecretBytes, strip_trailing_zeros};
use crate::engine::command::Cmd;
use crate::engine::entity::bound_entity;
use crate::object::MAX_RSA_BYTES;
use crate::state::session::{Session, SessionKind};
use crate::wire::alg_id::AlgId;
use crate::wire::command_code::CommandCode;
use crate::wire::constants::{MAX_DIGEST, se};
use crate::wire::handle::Handle;
use crate::wire::response_code::{At, ResponseCode, TpmResult};

/// TPM2_StartAuthSession (Part 3 §11.1).
pub(crate) fn start(tpm: &mut Tpm, c: &mut Cmd<'_>) -> TpmResult<()> {
    let [tpm_key, bind, _] = c.handles;
    let nonce_caller = c.params.tpm2b(MAX_DIGEST).p(1)?;
    let salt = c.params.tpm2b(512).p(2)?;
    let kind = match c.params.u8().p(3)? {
        se::HMAC => SessionKind::Hmac,
        se::POLICY => SessionKind::Policy,
        se::TRIAL => SessionKind::Trial,
        _ => return Err(ResponseCode::VALUE.param(3)),
    };
    let aes_bits = match c.params.alg().p(4)? {
        AlgId::NULL => 0,
        AlgId::AES => {
            let bits = c.params.u16().p(4)?;
            if !matches!(bits, 128 | 192 | 256) {
                return Err(ResponseCode::VALUE.param(4));
            }
            // Part 3 §11.1: session parameter encryption is CFB only.
            if c.params.alg().p(4)? != AlgId::CFB {
                return Err(ResponseCode::MODE.param(4));
            }
            bits
        }
        // XOR obfuscation and other ciphers are not implemented.
        _ => return Err(ResponseCode::SYMMETRIC.param(4)),
    };
    let hash = HashAlg::from_id(c.params.alg().p(5)?).ok_or(ResponseCode::HASH.param(5))?;
    c.params.finish()?;
    if nonce_caller.len() < 16 {
        return Err(ResponseCode::SIZE.param(1));
    }
    let salt = crate::object::secret::session_salt(tpm, tpm_key, salt)?;
    let now = tpm.now_ms();
    let start_time = tpm.time.time(now);

    let mut nonce = [0u8; MAX_DIGEST];
    let nonce = nonce.get_mut(..hash.size()).unwrap_or_default();
    tpm.random(nonce);
    let (key, bound) = if bind == Handle::RH_NULL && salt.is_empty() {
        (SecretBytes::default(), None)
    } else {
        // Part 1 §19.6.8: sessionKey = KDFa(authHash, bind.authValue || salt, "ATH", nonceTPM,
        // nonceCaller, digest bits).
        // authValue || salt, sized once so no copy is left in a freed smaller block.
        let mut secret = SecretBytes::new(Vec::with_capacity(2 * MAX_DIGEST + MAX_RSA_BYTES));
        if bind != Handle::RH_NULL {
            let auth = tpm.entity_auth(bind).ok_or(ResponseCode::HANDLE.handle(2))?;
            secret.extend_from_slice(strip_trailing_zeros(&auth));
        }
        secret.extend_from_slice(&salt);
        let key = hash.kdfa(&secret, b"ATH", nonce, nonce_caller, hash.size() as u32 * 8)?;
        (key, (bind != Handle::RH_NULL).then(|| bound_entity(tpm, hash, bind)))
    };
    let session = Session {
        kind,
        alg: hash,
        nonce_tpm: Digest::from_slice(nonce),
        key,
        bound,
        policy: Digest::zeros(hash.size()),
        auth_value_needed: false,
        password_needed: false,
        aes_bits,
        da_bound: bind != Handle::RH_NULL && !tpm.da_exempt(bind),
        lockout_bound: bind == Handle::RH_LOCKOUT,
        command_code: CommandCode(0),
        pcr_counter: None,
        locality: 0,
        nv_written: None,
        cp_hash: None,
        name_hash: None,
        template_hash: None,
        start_time,
        epoch: (tpm.time.reset_count, tpm.time.restart_count),
        timeout: 0,
        audit_digest: None,
    };
    c.rhandle = tpm.sessions.insert(session)?;
    c.out.tpm2b(nonce);
    Ok(())
}
