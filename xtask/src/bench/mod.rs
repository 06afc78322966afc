//! `cargo xtask bench`: each benchmark prints a table and writes JSON; every figure is a ratio against a
//! baseline measured in the same run.

mod accept;
mod boot;
mod boot_machine;
mod boot_tdx;
mod hash;
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
    /// SHA-256/384 throughput inside the booted firmware, against `openssl speed` in the same run.
    Hash(hash::Args),
    /// QEMU start to Warden's ready line, against a do-nothing image; Warden's boot phases (`--machine
    /// snp`: on the emulated SNP machine, with its PVALIDATE and page-state-change counts).
    Boot(boot::Args),
}

/// Runs the chosen benchmark.
pub fn run(args: &Args) -> crate::Result {
    match &args.bench {
        Bench::Accept(args) => accept::run(args),
        Bench::Vtpm(args) => vtpm::run(args),
        Bench::Hash(args) => hash::run(args),
        Bench::Boot(args) => boot::run(args),
    }
}
