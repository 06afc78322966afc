//! `cargo xtask run` (being written).

/// Arguments.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs it.
pub fn run(_args: &Args) -> crate::Result {
    Err("run: not built yet".into())
}
