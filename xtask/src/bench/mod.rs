//! `cargo xtask bench`: each benchmark prints a table and writes JSON; every figure is a ratio against a
//! baseline measured in the same run.

mod accept;
mod vtpm;

/// Run a benchmark.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(clap::Subcommand, Debug)]
enum Bench {
    /// Instructions and exits to accept guest memory maps, against the theoretical minimum.
    Accept(accept::Args),
    /// Per-command latency of the vTPM over mssim, against swtpm (libtpms) in the same run.
    Vtpm(vtpm::Args),
}

/// Runs the chosen benchmark.
pub fn run(args: &Args) -> crate::Result {
    match &args.bench {
        Bench::Accept(args) => accept::run(args),
        Bench::Vtpm(args) => vtpm::run(args),
    }
}
