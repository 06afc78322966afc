//! `cargo xtask test` (being written).

/// Arguments.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs it.
pub fn run(_args: &Args) -> crate::Result {
    Err("test: not built yet".into())
}
