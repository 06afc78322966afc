//! State that survives a reboot: the NV-resident state of TPM 2.0 Library Part 1 §37 as bytes
//! (`format`), sealed for one image under one key (`seal`), loaded at _TPM_Init and saved after every
//! change by a [`keeper::StateKeeper`] over storage the host provides.
//!
//! The host keeps the blob, so it can always withhold it or hand back an older one. What the keeper
//! refuses: a blob whose tag fails, one sealed for another image, and one older than a state already
//! read or written during this boot. What it cannot refuse: the previous boot's older state at the
//! first load of a boot (no trusted monotonic counter survives the reboot to compare with).

pub mod format;
pub mod keeper;
pub mod seal;

use alloc::vec::Vec;

use zeroize::Zeroizing;

use crate::Tpm;
use crate::wire::marshal::Writer;

impl Tpm {
    /// The NV-resident state as bytes, Clock as of now (`format`). Secret: seeds, authValues, keys.
    pub fn nv_state(&mut self) -> Zeroizing<Vec<u8>> {
        let now = self.now_ms();
        let clock = self.time.clock(now);
        let mut w = Writer::secret();
        format::write(self, clock, &mut w);
        w.into_secret()
    }

    /// A SHA-256 of the NV-resident state without Clock: it changes exactly when something the
    /// specification makes durable changed (Clock advancing alone is saved with the next change).
    pub fn nv_state_digest(&self) -> [u8; 32] {
        let mut w = Writer::secret();
        format::write(self, 0, &mut w);
        let bytes = w.into_secret();
        let mut out = [0u8; 32];
        out.copy_from_slice(crate::crypto::HashAlg::Sha256.digest(&[&bytes]).as_slice());
        out
    }

    /// Replaces the NV-resident state with `body` (as `nv_state` wrote it), all or nothing. Loaded
    /// objects are flushed: their parents' seeds may have changed.
    pub fn restore_nv_state(&mut self, body: &[u8]) -> Result<(), format::FormatError> {
        let stored = format::parse(body)?;
        let now = self.now_ms();
        format::apply(self, stored, now)
    }

    /// Manufactures this TPM anew from its own DRBG: new seeds and proofs, empty authValues, no NV
    /// indices or persistent objects, the manufactured dictionary-attack parameters; then _TPM_Init.
    /// What a refused stored state leaves behind (`keeper`). The platform's EPS, if the firmware gave
    /// one, is kept: it is the platform's, not the stored state's (the EK stays the attested one).
    pub fn manufacture_anew(&mut self) {
        let platform_eps = self.keys.platform_endorsement_seed().map(|seed| Zeroizing::new(*seed));
        let e = self.entropy.as_mut();
        self.hier = crate::state::hierarchy::Hierarchies::manufacture(&mut self.drbg, e);
        self.contexts = crate::state::context_keys::ContextKeys::new(&mut self.drbg, e);
        self.keys = crate::state::key_store::KeyStore::manufacture(&mut self.drbg, e);
        if let Some(seed) = platform_eps {
            self.keys.set_endorsement_seed(&seed);
        }
        self.objects.clear();
        self.nv = crate::state::nv::NvStore::default();
        self.da.clear();
        self.pcrs = crate::state::pcr::Pcrs::new();
        self.sessions = crate::state::sessions::Sessions::default();
        self.audit = crate::state::command_audit::CommandAudit::default();
        self.commit = crate::state::commit::CommitState::default();
        self.shutdown = None;
        let now = self.now_ms();
        self.time.clear(now);
        self.power_on();
    }
}
