//! `cargo xtask tpm-server`: the vTPM engine over the TPM simulator (mssim) TCP protocol.

/// Serve the vTPM on a port pair.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The command port; the platform port is the next one.
    #[arg(long, default_value_t = 2321)]
    pub port: u16,
}

/// Serves until killed.
pub fn run(_args: &Args) -> crate::Result {
    Err("tpm-server: not built yet".into())
}
