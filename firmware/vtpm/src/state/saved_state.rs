//! The state TPM2_Shutdown(STATE) saves for the next TPM2_Startup(STATE).

use crate::state::pcr::Pcrs;

/// What an orderly TPM2_Shutdown left for the next Startup.
#[derive(Debug, Clone)]
pub struct SavedState {
    pub kind: u16,
    pub pcrs: Pcrs,
}
