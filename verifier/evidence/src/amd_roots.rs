//! The roots a chain may end in: AMD's ARKs for Milan, Genoa and Turin (built in), or one root the
//! caller names (a test hierarchy; never chosen silently).
//!
//! The PEM files are AMD's published ARK certificates, as AMD's Key Distribution Service serves them
//! (`/vcek/v1/{Milan,Genoa,Turin}/cert_chain`, VCEK specification AMD 57230 §4.1). A unit test checks
//! that each is self-signed with AMD's PSS profile and names its generation.
use x509_cert::Certificate;

use crate::chain::{self, ChainError};

const MILAN_ARK: &[u8] = include_bytes!("amd_roots/milan-ark.pem");
const GENOA_ARK: &[u8] = include_bytes!("amd_roots/genoa-ark.pem");
const TURIN_ARK: &[u8] = include_bytes!("amd_roots/turin-ark.pem");

/// The ARKs a verifier trusts.
#[derive(Clone, Debug)]
pub struct TrustAnchors {
    arks: Vec<Certificate>,
    insecure: bool,
}

impl TrustAnchors {
    /// AMD's ARKs: what a relying party trusts for real hardware.
    pub fn amd() -> Self {
        let arks = [MILAN_ARK, GENOA_ARK, TURIN_ARK]
            .into_iter()
            .map(|pem| chain::parse_pem(pem).expect("AMD's ARK certificates are built in and tested"))
            .collect();
        Self { arks, insecure: false }
    }

    /// Only the given root (PEM), which must sign itself: for test hierarchies such as the emulated
    /// machine's. The verdict says so.
    pub fn only(ark_pem: &[u8]) -> Result<Self, ChainError> {
        let ark = chain::parse_pem(ark_pem)?;
        chain::verify_signed_by(&ark, &ark)?;
        let insecure = !Self::amd().arks.contains(&ark);
        Ok(Self { arks: vec![ark], insecure })
    }

    /// Whether the roots are not AMD's.
    pub fn is_custom(&self) -> bool {
        self.insecure
    }

    /// The root that signed `ask`, if any.
    pub fn root_of(&self, ask: &Certificate) -> Result<&Certificate, ChainError> {
        self.arks
            .iter()
            .find(|ark| chain::verify_signed_by(ark, ask).is_ok())
            .ok_or(ChainError::UntrustedRoot)
    }
}

#[cfg(test)]
mod tests {
    use super::{GENOA_ARK, MILAN_ARK, TURIN_ARK, TrustAnchors};
    use crate::chain;

    #[test]
    fn amd_arks_are_self_signed_and_named_for_their_generation() {
        for (pem, name) in [(MILAN_ARK, "ARK-Milan"), (GENOA_ARK, "ARK-Genoa"), (TURIN_ARK, "ARK-Turin")] {
            let ark = chain::parse_pem(pem).unwrap();
            chain::verify_signed_by(&ark, &ark).unwrap();
            assert_eq!(chain::common_name(&ark), name);
        }
        assert!(!TrustAnchors::only(GENOA_ARK).unwrap().is_custom());
    }

    #[test]
    fn an_ark_does_not_sign_another_generations_ark() {
        let milan = chain::parse_pem(MILAN_ARK).unwrap();
        let genoa = chain::parse_pem(GENOA_ARK).unwrap();
        assert!(chain::verify_signed_by(&milan, &genoa).is_err());
    }
}
