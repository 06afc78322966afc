//! `cargo xtask measure`: the expected launch measurements of the built image.

/// Measure the built image.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// How many vCPUs the launch will have.
    #[arg(long, default_value_t = 1)]
    pub vcpus: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the measurements.
pub fn run(_args: &Args) -> crate::Result {
    Err("measure: not built yet".into())
}
