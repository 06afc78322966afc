//! One authorization session (Part 1 §19): its kind, keys, nonces and policy state, and how it is
//! saved into a context blob.

use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{Digest, HashAlg, SecretBytes};
use crate::wire::command_code::CommandCode;
use crate::wire::constants::{MAX_DIGEST, se};
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::{ResponseCode, TpmResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Hmac,
    Policy,
    Trial,
}

/// One session's state (Part 1 §19.6 and §19.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub kind: SessionKind,
    pub alg: HashAlg,
    pub nonce_tpm: Digest,
    /// sessionKey (empty for an unbound, unsalted session).
    pub key: SecretBytes,
    /// The entity the session is bound to, if any: H(Name || authValue) (`bound_entity`).
    pub bound: Option<Vec<u8>>,
    pub policy: Digest,
    pub auth_value_needed: bool,
    pub password_needed: bool,
    /// AES key size for parameter encryption (TPMT_SYM_DEF AES/CFB); 0 when the session's
    /// symmetric algorithm is TPM_ALG_NULL.
    pub aes_bits: u16,
    /// Bound to a dictionary-attack-protected entity: failures count, and lockout blocks the session.
    pub da_bound: bool,
    /// Bound to TPM_RH_LOCKOUT.
    pub lockout_bound: bool,
    /// PolicyCommandCode: the only command this policy session may authorize (0: any).
    pub command_code: CommandCode,
    /// PolicyPCR: the PCR update counter the policy saw; authorization fails if PCRs changed since.
    pub pcr_counter: Option<u32>,
    /// PolicyLocality: TPMA_LOCALITY the command must come from (0: any).
    pub locality: u8,
    /// PolicyNvWritten: the TPMA_NV_WRITTEN state the authorized index must have.
    pub nv_written: Option<bool>,
    /// PolicyCpHash / PolicySigned cpHashA: the only cpHash this policy session may authorize.
    pub cp_hash: Option<Digest>,
    /// PolicyNameHash: H(Names of the command's handles) the authorized command must have.
    pub name_hash: Option<Digest>,
    /// PolicyTemplate: H(TPMT_PUBLIC) of the only template Create, CreatePrimary or CreateLoaded
    /// may then use (ms-tpm-20-ref keeps it in the cpHash slot with `isTemplateSet`).
    pub template_hash: Option<Digest>,
    /// Time (ms since _TPM_Init) when the session started, the time base of PolicySigned and
    /// PolicySecret expirations that name the session's nonce.
    pub start_time: u64,
    /// (resetCount, restartCount) at the start: Time is only comparable within one such epoch.
    pub epoch: (u32, u32),
    /// The earliest expiration a policy set, in Time ms; 0 for none (TPM_RC_EXPIRED after it).
    pub timeout: u64,
    /// An audit session's digest (Part 3 §18.3 sessionDigest); None until the session first audits.
    pub audit_digest: Option<Digest>,
}

// The bound entity's H(Name || authValue) is wiped when the session is freed (`key` wipes itself).
impl Drop for Session {
    fn drop(&mut self) {
        self.bound.zeroize();
    }
}

impl ZeroizeOnDrop for Session {}

impl Session {
    /// PolicyRestart, and what follows each use of a policy session.
    pub fn reset_policy(&mut self) {
        self.policy = Digest::zeros(self.alg.size());
        self.auth_value_needed = false;
        self.password_needed = false;
        self.command_code = CommandCode(0);
        self.pcr_counter = None;
        self.locality = 0;
        self.nv_written = None;
        self.cp_hash = None;
        self.name_hash = None;
        self.template_hash = None;
        self.timeout = 0;
    }

    pub fn save(&self, w: &mut Writer) {
        w.u8(match self.kind {
            SessionKind::Hmac => se::HMAC,
            SessionKind::Policy => se::POLICY,
            SessionKind::Trial => se::TRIAL,
        });
        w.alg(self.alg.id());
        w.tpm2b(self.nonce_tpm.as_slice());
        w.tpm2b(&self.key);
        w.u8(u8::from(self.bound.is_some()));
        w.tpm2b(self.bound.as_deref().unwrap_or_default());
        w.tpm2b(self.policy.as_slice());
        w.u8(u8::from(self.auth_value_needed)
            | u8::from(self.password_needed) << 1
            | u8::from(self.da_bound) << 2
            | u8::from(self.lockout_bound) << 3);
        w.u16(self.aes_bits);
        w.u32(self.command_code.0);
        w.u8(u8::from(self.pcr_counter.is_some()));
        w.u32(self.pcr_counter.unwrap_or(0));
        w.u8(self.locality);
        w.u8(match self.nv_written {
            None => 0,
            Some(false) => 1,
            Some(true) => 2,
        });
        w.u8(u8::from(self.cp_hash.is_some()));
        w.tpm2b(self.cp_hash.as_ref().map(Digest::as_slice).unwrap_or_default());
        w.u8(u8::from(self.name_hash.is_some()));
        w.tpm2b(self.name_hash.as_ref().map(Digest::as_slice).unwrap_or_default());
        w.u64(self.start_time);
        w.u32(self.epoch.0);
        w.u32(self.epoch.1);
        w.u64(self.timeout);
        // Last, and only when set, so that other sessions' contexts keep their layout (and the
        // recorded fuzz flows holding them still load): an HMAC session's single trailing field is its
        // audit digest, a policy session's its templateHash; with an audit digest a policy session
        // writes both, the templateHash empty when unset.
        match (&self.audit_digest, &self.template_hash, self.kind) {
            (None, None, _) => {}
            (Some(d), None, SessionKind::Hmac) => w.tpm2b(d.as_slice()),
            (None, Some(t), _) => w.tpm2b(t.as_slice()),
            (Some(d), t, _) => {
                w.tpm2b(d.as_slice());
                w.tpm2b(t.as_ref().map(Digest::as_slice).unwrap_or_default());
            }
        }
    }

    pub fn load(r: &mut Reader<'_>) -> TpmResult<Session> {
        let kind = match r.u8()? {
            se::HMAC => SessionKind::Hmac,
            se::POLICY => SessionKind::Policy,
            se::TRIAL => SessionKind::Trial,
            _ => return Err(ResponseCode::INTEGRITY),
        };
        let alg = HashAlg::from_id(r.alg()?).ok_or(ResponseCode::INTEGRITY)?;
        let nonce_tpm = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let key = r.tpm2b(MAX_DIGEST)?.to_vec();
        let has_bound = r.u8()? != 0;
        let bound = r.tpm2b(2 + MAX_DIGEST)?.to_vec();
        let policy = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let flags = r.u8()?;
        let aes_bits = r.u16()?;
        if !matches!(aes_bits, 0 | 128 | 192 | 256) {
            return Err(ResponseCode::INTEGRITY);
        }
        let command_code = CommandCode(r.u32()?);
        let has_pcr = r.u8()? != 0;
        let pcr_counter = r.u32()?;
        let locality = r.u8()?;
        let nv_written = match r.u8()? {
            0 => None,
            1 => Some(false),
            2 => Some(true),
            _ => return Err(ResponseCode::INTEGRITY),
        };
        let has_cp_hash = r.u8()? != 0;
        let cp_hash = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let has_name_hash = r.u8()? != 0;
        let name_hash = Digest::from_slice(r.tpm2b(MAX_DIGEST)?);
        let start_time = r.u64()?;
        let epoch = (r.u32()?, r.u32()?);
        let timeout = r.u64()?;
        // The trailing fields `save` writes (see there).
        let first = if r.remaining() > 0 { Some(Digest::from_slice(r.tpm2b(MAX_DIGEST)?)) } else { None };
        let second = if r.remaining() > 0 { Some(r.tpm2b(MAX_DIGEST)?) } else { None };
        let (audit_digest, template_hash) = match (first, second, kind) {
            (first, None, SessionKind::Hmac) => (first, None),
            (first, None, _) => (None, first),
            (first, Some(t), _) => (first, (!t.is_empty()).then(|| Digest::from_slice(t))),
        };
        Ok(Session {
            kind,
            alg,
            nonce_tpm,
            key: SecretBytes::new(key),
            bound: has_bound.then_some(bound),
            policy,
            auth_value_needed: flags & 1 != 0,
            password_needed: flags & 2 != 0,
            aes_bits,
            da_bound: flags & 4 != 0,
            lockout_bound: flags & 8 != 0,
            command_code,
            pcr_counter: has_pcr.then_some(pcr_counter),
            locality,
            nv_written,
            cp_hash: has_cp_hash.then_some(cp_hash),
            name_hash: has_name_hash.then_some(name_hash),
            template_hash,
            start_time,
            epoch,
            timeout,
            audit_digest,
        })
    }
}

/// Whether a command from `locality` satisfies a session's PolicyLocality setting.
pub(crate) fn locality_allowed(setting: u8, locality: u8) -> bool {
    match (setting, locality) {
        (0, _) => true,
        (s, l) if s < 32 => l < 5 && s & (1 << l) != 0,
        (s, l) => s == l,
    }
}

#[cfg(test)]
mod tests {
    use super::{Session, SessionKind};
    use crate::crypto::{Digest, HashAlg};
    use crate::wire::marshal::{Reader, Writer};

    #[test]
    fn every_field_survives_a_context_round_trip() {
        let s = Session {
            kind: SessionKind::Policy,
            alg: HashAlg::Sha384,
            nonce_tpm: Digest::from_slice(&[1; 48]),
            key: crate::crypto::SecretBytes::new(alloc::vec![2; 48]),
            bound: Some(alloc::vec![3; 34]),
            policy: Digest::from_slice(&[4; 48]),
            auth_value_needed: true,
            password_needed: true,
            aes_bits: 192,
            da_bound: true,
            lockout_bound: true,
            command_code: crate::wire::command_code::CommandCode::NV_WRITE,
            pcr_counter: Some(7),
            locality: 0x21,
            nv_written: Some(false),
            cp_hash: Some(Digest::from_slice(&[5; 48])),
            name_hash: Some(Digest::from_slice(&[6; 48])),
            template_hash: Some(Digest::from_slice(&[7; 48])),
            start_time: 0x0102_0304_0506_0708,
            epoch: (9, 10),
            timeout: 0x1112_1314_1516_1718,
            audit_digest: Some(Digest::from_slice(&[7; 48])),
        };
        let mut w = Writer::new();
        s.save(&mut w);
        let mut r = Reader::new(&w.buf);
        assert_eq!(Session::load(&mut r), Ok(s.clone()));
        assert_eq!(r.remaining(), 0);
        // The trailing fields keep the layouts saved before audit sessions and PolicyTemplate existed:
        // none without either; a policy session's single field is its templateHash, an HMAC session's
        // its audit digest; a policy session with an audit digest writes both (the template empty).
        let round_trip = |session: &Session| {
            let mut w = Writer::new();
            session.save(&mut w);
            assert_eq!(Session::load(&mut Reader::new(&w.buf)), Ok(session.clone()));
            w.buf.len()
        };
        let mut neither = s.clone();
        neither.template_hash = None;
        neither.audit_digest = None;
        let base = round_trip(&neither);
        assert_eq!(base + 2 * (2 + 48), w.buf.len());
        let mut template_only = neither.clone();
        template_only.template_hash = s.template_hash;
        assert_eq!(round_trip(&template_only), base + 2 + 48);
        let mut audit_only = neither.clone();
        audit_only.audit_digest = s.audit_digest;
        assert_eq!(round_trip(&audit_only), base + 2 + 48 + 2);
        let mut hmac_audit = audit_only.clone();
        hmac_audit.kind = SessionKind::Hmac;
        assert_eq!(round_trip(&hmac_audit), base + 2 + 48);
    }
}
