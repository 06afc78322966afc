//! Command audit (TPM 2.0 Part 1 §33, Part 3 §21.4): which command codes are audited, the hash
//! algorithm of the audit, the audit counter and the command audit digest that each audited
//! command extends with H(digest || cpHash || rpHash).

use alloc::vec::Vec;

use crate::crypto::{Digest, HashAlg};
use crate::wire::command_code::CommandCode;

/// The command audit state: the list and algorithm are persistent (gp), the digest is reset with
/// the TPM (gr), the counter counts the digests started (Part 1 §33.3).
#[derive(Debug, Clone)]
pub struct CommandAudit {
    /// auditHashAlg.
    pub alg: HashAlg,
    /// The number of times the audit digest was started from empty.
    pub counter: u64,
    /// The audit digest; None when empty (after TPM Reset, a change of algorithm, or
    /// TPM2_GetCommandAuditDigest with a signing key).
    pub digest: Option<Digest>,
    /// The audited command codes, ascending.
    codes: Vec<CommandCode>,
}

impl Default for CommandAudit {
    /// At manufacture only TPM2_SetCommandCodeAuditStatus is audited (Part 3 §21.4: it always is).
    fn default() -> Self {
        CommandAudit {
            alg: HashAlg::Sha256,
            counter: 0,
            digest: None,
            codes: alloc::vec![CommandCode::SET_COMMAND_CODE_AUDIT_STATUS],
        }
    }
}

impl CommandAudit {
    pub fn is_audited(&self, code: CommandCode) -> bool {
        self.codes.binary_search(&code).is_ok()
    }

    /// Adds `code` to the list (the caller has checked that it is implemented).
    pub fn set(&mut self, code: CommandCode) {
        if let Err(at) = self.codes.binary_search(&code) {
            self.codes.insert(at, code);
        }
    }

    /// Removes `code` from the list; SetCommandCodeAuditStatus itself stays.
    pub fn clear(&mut self, code: CommandCode) {
        if code == CommandCode::SET_COMMAND_CODE_AUDIT_STATUS {
            return;
        }
        if let Ok(at) = self.codes.binary_search(&code) {
            self.codes.remove(at);
        }
    }

    /// The audited codes, ascending (TPM_CAP_AUDIT_COMMANDS).
    pub fn codes(&self) -> &[CommandCode] {
        &self.codes
    }

    /// Extends the digest with one audited command; an empty digest starts from zeros and counts.
    pub fn extend(&mut self, cp_hash: &[u8], rp_hash: &[u8]) {
        let old = match self.digest.take() {
            Some(d) => d,
            None => {
                self.counter = self.counter.wrapping_add(1);
                Digest::zeros(self.alg.size())
            }
        };
        self.digest = Some(self.alg.digest(&[old.as_slice(), cp_hash, rp_hash]));
    }

    /// commandDigest of TPMS_COMMAND_AUDIT_INFO: H(the audited codes as big-endian UINT32s,
    /// ascending) (Part 3 §18.5).
    pub fn command_digest(&self) -> Digest {
        let bytes: Vec<u8> = self.codes.iter().flat_map(|c| c.0.to_be_bytes()).collect();
        self.alg.digest(&[&bytes])
    }
}
