//! TPMT_SENSITIVE (Part 2 Table 196): an object's authValue, seedValue and secret, as a private
//! blob or a context carries them.

use alloc::vec::Vec;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::object::MAX_RSA_BYTES;
use crate::wire::alg_id::AlgId;
use crate::wire::constants::MAX_DIGEST;
use crate::wire::marshal::{Reader, Writer};
use crate::wire::response_code::TpmResult;

/// TPMT_SENSITIVE: authValue, seedValue (obfuscation value or storage seed) and the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive {
    pub kind: AlgId,
    pub auth: Vec<u8>,
    pub seed: Vec<u8>,
    /// RSA: prime p; ECC: private scalar; KEYEDHASH: key or sealed data; SYMCIPHER: the key.
    pub secret: Vec<u8>,
}

impl core::fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print secrets.
        f.debug_struct("Sensitive").field("kind", &self.kind).finish_non_exhaustive()
    }
}

// authValue, seed and secret are wiped when the area is freed (threat model T5).
impl Drop for Sensitive {
    fn drop(&mut self) {
        self.auth.zeroize();
        self.seed.zeroize();
        self.secret.zeroize();
    }
}

impl ZeroizeOnDrop for Sensitive {}

/// Largest sealed data object (MAX_SYM_DATA, Part 2 Table 150).
pub const MAX_SYM_DATA: usize = 128;

impl Sensitive {
    /// The marshalled area, wiped when dropped: it holds every secret of the object.
    pub fn marshal(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::secret();
        w.alg(self.kind);
        w.tpm2b(&self.auth);
        w.tpm2b(&self.seed);
        w.tpm2b(&self.secret);
        w.into_secret()
    }

    pub fn parse(r: &mut Reader<'_>) -> TpmResult<Sensitive> {
        let kind = r.alg()?;
        let auth = r.tpm2b(MAX_DIGEST)?.to_vec();
        let seed = r.tpm2b(MAX_DIGEST)?.to_vec();
        let secret = r.tpm2b(MAX_RSA_BYTES)?.to_vec();
        Ok(Sensitive { kind, auth, seed, secret })
    }
}
